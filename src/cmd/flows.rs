//! `mirrorcap flows DIR... [EXPR]`: one row per inner flow of rings and stores, over a time
//! range and sessions, as a table or JSON lines (`docs/flows.md`).
//!
//! Without an expression, a store file whose every block lies in the range is answered by its
//! flow records (`NAME.flows.parquet`), checked against its index's record count; any other
//! (partly in range, without flow records, or with damaged ones) and the ring's segments are
//! aggregated from their packets. With one, the packets `query` selects (flow index narrowing,
//! libpcap deciding each) are aggregated, so `flows EXPR` counts exactly the packets `query
//! EXPR` writes. Rows of one flow from several files come out as one.

use super::query::Query;
use mirrorcap::cli::{ExportArgs, FlowsArgs};
use mirrorcap_flows::{flows_path, FlowRecord, FlowTable};
use mirrorcap_ring::reader::Record;
use mirrorcap_ring::{ExportFilter, RecordMeta};
use mirrorcap_store::storedir::StoredFile;
use mirrorcap_store::timeline::{export_sources, Select, TimelineStats};
use mirrorcap_store::StoreIndex;
use std::io::Write;
use std::time::{Duration, Instant};

/// How often a long `flows` says how far it is.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

pub fn flows(f: &FlowsArgs) -> anyhow::Result<()> {
    let (dirs, expr) = match f.args.as_slice() {
        [dirs @ .., last] if !dirs.is_empty() && !super::sources::is_source(last) => {
            (dirs.to_vec(), Some(last.to_string_lossy().into_owned()))
        }
        all => (all.to_vec(), None),
    };
    let a = ExportArgs {
        dirs,
        out: "-".into(),
        from: f.from.clone(),
        to: f.to.clone(),
        vnis: f.vnis.clone(),
        format: "pcap".into(),
    };
    let mut sink = mirrorcap_ring::Sink::new(mirrorcap_ring::Format::Pcap);
    let mut nowhere = std::io::sink();
    let rows = match &expr {
        Some(expr) => {
            let mut q = Query::new(&a, expr, "flows")?;
            q.flows = Some(FlowTable::new());
            let filter = q.filter.clone();
            let mut src = super::sources::Sources::open(&a.dirs, &filter, "flows")?;
            let remote = src.take_remote();
            let t = export_sources(&src.dirs, remote, &mut nowhere, &filter, &mut sink, &mut q)?;
            src.report("flows", 0);
            q.summary(&a, &t, expr)?;
            q.flows.take().map(|mut t| t.take()).unwrap_or_default()
        }
        None => {
            let filter = super::export::export_filter(&a)?;
            let mut s = AllFlows::new(&filter);
            let mut src = super::sources::Sources::open(&a.dirs, &filter, "flows")?;
            let remote = src.take_remote();
            let t = export_sources(&src.dirs, remote, &mut nowhere, &filter, &mut sink, &mut s)?;
            src.report("flows", 0);
            if s.bad_files > 0 {
                eprintln!(
                    "mirrorcap: flows: warning: {} damaged flow records file(s) ignored, their \
                     packets read instead (first: {})",
                    s.bad_files,
                    s.first_bad.as_deref().unwrap_or("?")
                );
            }
            eprintln!(
                "mirrorcap: flows: {} packet(s) in range: {} store file(s) answered by their flow \
                 records, {} store block(s) and {} ring segment(s) read ({} file(s) without flow \
                 records)",
                s.packets,
                s.files_from_records,
                t.store_blocks_read,
                t.export.read.segments,
                s.missing_files
            );
            let whole = filter.from_ns.is_none() && filter.to_ns.is_none() && a.vnis.is_empty();
            if s.packets == 0 && !whole {
                return Err(super::query::no_packet(&a, ""));
            }
            s.table.take()
        }
    };
    print(rows, f)
}

/// `flows` without an expression: flow records where a whole store file is in range, packets
/// elsewhere.
struct AllFlows<'a> {
    filter: &'a ExportFilter,
    table: FlowTable,
    /// Packets counted, from flow records and records read.
    packets: u64,
    files_from_records: u64,
    missing_files: u64,
    bad_files: u64,
    first_bad: Option<String>,
    start: Instant,
    next_progress: Duration,
}

impl<'a> AllFlows<'a> {
    fn new(filter: &'a ExportFilter) -> Self {
        AllFlows {
            filter,
            table: FlowTable::new(),
            packets: 0,
            files_from_records: 0,
            missing_files: 0,
            bad_files: 0,
            first_bad: None,
            start: Instant::now(),
            next_progress: PROGRESS_EVERY,
        }
    }

    /// The rows of `file`'s flow records, if they stand for all its records.
    fn rows(&mut self, file: &StoredFile, index: &StoreIndex) -> Option<Vec<FlowRecord>> {
        let path = flows_path(&file.index);
        let suffix = mirrorcap_flows::FLOWS_SUFFIX;
        let rows = match mirrorcap_store::remote::read_sidecar(file, &path, suffix) {
            Ok(Some(bytes)) => match mirrorcap_flows::decode(bytes) {
                Ok(rows) => rows,
                Err(e) => {
                    self.bad(format!("{}: {e}", path.display()));
                    return None;
                }
            },
            Ok(None) => {
                self.missing_files += 1;
                return None;
            }
            Err(e) => {
                self.bad(format!("{}: {e}", path.display()));
                return None;
            }
        };
        let records: u64 = index.blocks.iter().map(|b| u64::from(b.records)).sum();
        let packets: u64 = rows.iter().map(|r| r.packets).sum();
        if packets != records {
            self.bad(format!(
                "{}: {packets} packet(s), its index has {records} record(s)",
                path.display()
            ));
            return None;
        }
        Some(rows)
    }

    fn bad(&mut self, why: String) {
        self.bad_files += 1;
        self.first_bad.get_or_insert(why);
    }
}

impl Select for AllFlows<'_> {
    fn blocks(&mut self, file: &StoredFile, index: &StoreIndex, blocks: Vec<usize>) -> Vec<usize> {
        let f = self.filter;
        let with_records = index.blocks.iter().filter(|b| b.records > 0);
        let whole = with_records.clone().count() == blocks.len()
            && with_records.clone().all(|b| {
                f.from_ns.is_none_or(|t| b.min_ts_ns >= t)
                    && f.to_ns.is_none_or(|t| b.max_ts_ns <= t)
            });
        if !whole || blocks.is_empty() {
            return blocks;
        }
        let Some(rows) = self.rows(file, index) else {
            return blocks;
        };
        self.files_from_records += 1;
        for r in &rows {
            if f.sessions.keeps(RecordMeta(r.meta())) {
                self.packets += r.packets;
                self.table.merge(r);
            }
        }
        Vec::new()
    }

    fn keeps(&mut self, r: &Record) -> bool {
        self.packets += 1;
        self.table.push(r.ts_ns, &r.data, r.orig_len, r.meta.0);
        false
    }

    fn progress(&mut self, s: &TimelineStats) {
        let t = self.start.elapsed();
        if t < self.next_progress {
            return;
        }
        self.next_progress = t + PROGRESS_EVERY;
        eprintln!(
            "mirrorcap: flows: {:.0}s: {} packet(s), {} flow(s) so far; {} store file(s) from flow \
             records, {} store block(s) and {} ring segment(s) read",
            t.as_secs_f64(),
            self.packets,
            self.table.len(),
            self.files_from_records,
            s.store_blocks_read,
            s.export.read.segments
        );
    }
}

/// The rows as asked: by first time, or the `--top` by bytes; a table or JSON lines.
fn print(mut rows: Vec<FlowRecord>, f: &FlowsArgs) -> anyhow::Result<()> {
    if let Some(n) = f.top {
        rows.sort_by(|a, b| {
            b.bytes
                .cmp(&a.bytes)
                .then(a.first_ts_ns.cmp(&b.first_ts_ns))
        });
        rows.truncate(n);
    } else {
        rows.sort_by_key(|r| r.first_ts_ns);
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = if f.json {
        rows.iter()
            .try_for_each(|r| {
                serde_json::to_writer(&mut out, r)?;
                writeln!(out).map_err(serde_json::Error::io)
            })
            .map_err(std::io::Error::from)
    } else {
        table(&mut out, &rows)
    };
    match written.and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

fn table(out: &mut dyn Write, rows: &[FlowRecord]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<27} {:<27} {:>8} {:<6} {:<41} {:<41} {:>10} {:>14} {:<6} {:>6}",
        "FIRST",
        "LAST",
        "VNI",
        "PROTO",
        "SOURCE",
        "DESTINATION",
        "PACKETS",
        "BYTES",
        "FLAGS",
        "TRUNC"
    )?;
    for r in rows {
        writeln!(
            out,
            "{:<27} {:<27} {:>8} {:<6} {:<41} {:<41} {:>10} {:>14} {:<6} {:>6}",
            utc(r.first_ts_ns),
            utc(r.last_ts_ns),
            r.vni.map_or("-".to_string(), |v| v.to_string()),
            proto(r),
            endpoint(r.src_addr, r.src_port),
            endpoint(r.dst_addr, r.dst_port),
            r.packets,
            r.bytes,
            flags(r.tcp_flags),
            r.truncated
        )?;
    }
    Ok(())
}

fn proto(r: &FlowRecord) -> String {
    match (r.ip_version, r.protocol) {
        (None, _) => match r.ether_type {
            0x0806 => "arp".into(),
            e => format!("0x{e:04x}"),
        },
        (_, Some(6)) => "tcp".into(),
        (_, Some(17)) => "udp".into(),
        (_, Some(132)) => "sctp".into(),
        (Some(4), Some(1)) => "icmp".into(),
        (Some(6), Some(58)) => "icmp6".into(),
        (_, Some(p)) => p.to_string(),
        (Some(v), None) => format!("ip{v}"),
    }
}

fn endpoint(addr: Option<std::net::IpAddr>, port: Option<u16>) -> String {
    match (addr, port) {
        (None, _) => "-".into(),
        (Some(a), None) => a.to_string(),
        (Some(std::net::IpAddr::V6(a)), Some(p)) => format!("[{a}]:{p}"),
        (Some(a), Some(p)) => format!("{a}:{p}"),
    }
}

/// TCP flags as tcpdump names them (F S R P . U E W), "-" for none.
fn flags(f: u8) -> String {
    let names = [
        (1, 'F'),
        (2, 'S'),
        (4, 'R'),
        (8, 'P'),
        (16, '.'),
        (32, 'U'),
        (64, 'E'),
        (128, 'W'),
    ];
    let s: String = names
        .iter()
        .filter(|(b, _)| f & b != 0)
        .map(|(_, c)| *c)
        .collect();
    if s.is_empty() {
        "-".into()
    } else {
        s
    }
}

/// Unix ns as RFC 3339 UTC with microseconds (what the flow records keep).
fn utc(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let (y, m, d) = mirrorcap_archive::location::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ns % 1_000_000_000 / 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_rfc3339_utc() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            utc(1_795_599_000_123_456_789),
            "2026-11-25T09:30:00.123456Z"
        );
        assert_eq!(utc(951_782_400_000_000_000), "2000-02-29T00:00:00.000000Z");
    }

    #[test]
    fn flags_and_endpoints_read_as_tcpdump_writes_them() {
        assert_eq!(flags(0x12), "S.");
        assert_eq!(flags(0), "-");
        assert_eq!(
            endpoint(Some("2001:db8::1".parse().unwrap()), Some(443)),
            "[2001:db8::1]:443"
        );
        assert_eq!(
            endpoint(Some("10.0.0.1".parse().unwrap()), None),
            "10.0.0.1"
        );
    }
}
