//! `mirrorcap query DIR... EXPR` (and `export DIR... EXPR`): the records of rings and stores
//! that a tcpdump expression matches on the inner frame, merged by time as `export` merges
//! them. The flow index (`NAME.fidx` beside a store file) narrows which store blocks are read;
//! libpcap (`pcap_offline_filter`) then decides every packet of what is read, so the output is
//! exactly what `tcpdump -r FULL_EXPORT -w - EXPR` selects from `export` of the same range and
//! sessions. Ring segments have no flow index: they are scanned.
//!
//! Exit codes: 2 for a malformed expression (libpcap's message), and for a time range (and
//! sessions) that holds no packet at all, which is a mistake in the question rather than an
//! empty answer; an expression that matches nothing in data that exists exits 0.
use super::output::create_out;
use mirrorcap::cli::ExportArgs;
use mirrorcap_filter::{LinkType, PcapFilter};
use mirrorcap_index::{Narrow, Term};
use mirrorcap_ring::reader::Record;
use mirrorcap_store::flowidx::Narrowing;
use mirrorcap_store::storedir::StoredFile;
use mirrorcap_store::timeline::{export_sources, Select, TimelineStats};
use mirrorcap_store::StoreIndex;
use std::time::{Duration, Instant};

/// How often a long query says how far it is.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// The query's side of the timeline: narrowing per store file, libpcap per record, progress;
/// for `flows`, matched records go to a flow table instead of the output.
pub(super) struct Query {
    /// The command, for its messages.
    what: &'static str,
    pcap: PcapFilter,
    /// Whether `pcap` loads the wire length, which it cannot see for cut copies.
    reads_len: bool,
    narrowing: Narrowing,
    /// The time range and sessions.
    pub(super) filter: mirrorcap_ring::ExportFilter,
    /// Records of the time range and sessions tested, and matched.
    in_range: u64,
    matched: u64,
    matched_bytes: u64,
    /// Cut records tested by an expression that reads the wire length.
    len_unsure: u64,
    start: Instant,
    next_progress: Duration,
    /// `flows EXPR`: the matched records' flows; nothing is written.
    pub(super) flows: Option<mirrorcap_flows::FlowTable>,
}

impl Select for Query {
    fn blocks(&mut self, file: &StoredFile, index: &StoreIndex, blocks: Vec<usize>) -> Vec<usize> {
        self.narrowing.blocks(file, index, blocks)
    }

    #[inline]
    fn keeps(&mut self, r: &Record) -> bool {
        self.in_range += 1;
        if self.reads_len && r.orig_len as usize != r.data.len() {
            self.len_unsure += 1;
        }
        let m = self.pcap.matches(&r.data);
        self.matched += u64::from(m);
        if m {
            self.matched_bytes += r.data.len() as u64;
            if let Some(t) = &mut self.flows {
                t.push(r.ts_ns, &r.data, r.orig_len, r.meta.0);
                return false;
            }
        }
        m
    }

    fn progress(&mut self, s: &TimelineStats) {
        let t = self.start.elapsed();
        if t < self.next_progress {
            return;
        }
        self.next_progress = t + PROGRESS_EVERY;
        let total = self.narrowing.blocks_in_range - s.store_blocks_excluded;
        eprintln!(
            "mirrorcap: {}: {:.0}s: {} of {} store block(s) read, {} of {} packet(s) matched",
            self.what,
            t.as_secs_f64(),
            s.store_blocks_read,
            total,
            self.matched,
            self.in_range
        );
    }
}

pub fn query(a: &ExportArgs, expr: &str) -> anyhow::Result<()> {
    let mut q = Query::new(a, expr, "query")?;
    let format: mirrorcap_ring::Format = a.format.parse().map_err(anyhow::Error::msg)?;
    use mirrorcap_store::timeline::{dir_kind, DirKind};
    let ring = a
        .dirs
        .iter()
        .find(|d| matches!(dir_kind(d), Ok(DirKind::Ring)))
        .map(|d| mirrorcap_ring::session_names::SessionNames::read(d));
    let names = |slot: u8| ring.as_ref()?.name(slot).map(str::to_string);
    let mut sink = mirrorcap_ring::Sink::new(format).with_names(&names);
    let filter = q.filter.clone();
    let mut src = super::sources::Sources::open(&a.dirs, &filter, "query")?;
    let mut out = create_out(&a.out)?;
    let remote = src.take_remote();
    let t = match export_sources(&src.dirs, remote, &mut out, &filter, &mut sink, &mut q) {
        Err(mirrorcap_store::StoreError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            return Ok(());
        }
        r => r?,
    };
    src.report("query", t.store_bytes_matching);
    q.summary(a, &t, expr)
}

/// `export` with an archive among its sources: every record of the time range and
/// sessions, through the store timeline.
pub fn export_all(a: &ExportArgs) -> anyhow::Result<()> {
    let format: mirrorcap_ring::Format = a.format.parse().map_err(anyhow::Error::msg)?;
    let filter = super::export::export_filter(a)?;
    let mut src = super::sources::Sources::open(&a.dirs, &filter, "export")?;
    let mut sink = mirrorcap_ring::Sink::new(format);
    let mut out = create_out(&a.out)?;
    let remote = src.take_remote();
    let t = match export_sources(
        &src.dirs,
        remote,
        &mut out,
        &filter,
        &mut sink,
        &mut mirrorcap_store::timeline::SelectAll,
    ) {
        Err(mirrorcap_store::StoreError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            return Ok(());
        }
        r => r?,
    };
    eprintln!(
        "mirrorcap: exported {} packets ({} bytes) from {} worker(s): {} store file(s), {} block(s) read",
        t.export.packets, t.export.bytes, t.export.workers, t.store_files, t.store_blocks_read
    );
    src.report("export", 0);
    Ok(())
}

/// The error of a time range (and VNIs) of `a` that holds no packet at all (exit 2).
pub(super) fn no_packet(a: &ExportArgs, what_was_written: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "no packet in the time range{} of {}{what_was_written}",
        if a.vnis.is_empty() { "" } else { " and VNIs" },
        a.dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

impl Query {
    /// The query of `expr` over the time range and sessions of `a`, for command `what`.
    pub(super) fn new(a: &ExportArgs, expr: &str, what: &'static str) -> anyhow::Result<Query> {
        // Frames are stored as Ethernet (the ring's pcaps are LINKTYPE_ETHERNET), so the
        // expression is compiled for Ethernet, as tcpdump reading an export compiles it.
        let pcap = PcapFilter::new(expr, LinkType::Ethernet).map_err(|e| {
            // `export RING /mistyped/store`: the last argument was taken for an expression.
            let hint = if expr.contains('/') && !expr.contains(char::is_whitespace) {
                " (nor an existing directory)"
            } else {
                ""
            };
            anyhow::anyhow!("bad expression {expr:?}{hint}: {e}")
        })?;
        let filter = super::export::export_filter(a)?;
        let mut narrow = Narrow::from_expr(expr);
        let expr_narrows = narrow.narrows();
        if !a.vnis.is_empty() {
            let vnis = a.vnis.iter().map(|&v| Narrow::Term(Term::Vni(v))).collect();
            narrow = Narrow::and(Narrow::Or(vnis).simplify(), narrow);
        }
        if !expr_narrows {
            eprintln!(
            "mirrorcap: {what}: the flow index cannot narrow {expr:?} (a negation, byte offsets, \
             lengths, names or MAC addresses): scanning every block of the time range{}",
            if a.vnis.is_empty() {
                ""
            } else {
                " of the VNIs asked for"
            }
        );
        }
        Ok(Query {
            what,
            filter,
            reads_len: pcap.reads_wire_length(),
            pcap,
            narrowing: Narrowing::new(narrow),
            in_range: 0,
            matched: 0,
            matched_bytes: 0,
            len_unsure: 0,
            start: Instant::now(),
            next_progress: PROGRESS_EVERY,
            flows: None,
        })
    }

    /// What the query did, on stderr; an error (exit 2) for a time range with no packet, or
    /// an expression on lengths over cut copies.
    pub(super) fn summary(
        &self,
        a: &ExportArgs,
        t: &TimelineStats,
        expr: &str,
    ) -> anyhow::Result<()> {
        let (q, what) = (self, self.what);
        let n = &q.narrowing;
        if n.files_corrupt > 0 {
            eprintln!(
            "mirrorcap: {what}: warning: {} damaged flow index(es) ignored, their files read in \
             full (first: {})",
            n.files_corrupt,
            n.first_corrupt.as_deref().unwrap_or("?")
        );
        }
        eprintln!(
        "mirrorcap: {what}: {} of {} packet(s) matched ({} bytes) in {:.2}s; read {} of {} store \
         block(s) of the time range ({} excluded by the flow index; {} file(s) indexed, {} \
         without .fidx, {} with a damaged one), {} ring segment(s) scanned ({} not read: the store \
         holds them)",
        q.matched,
        q.in_range,
        q.matched_bytes,
        q.start.elapsed().as_secs_f64(),
        t.store_blocks_read,
        n.blocks_in_range,
        t.store_blocks_excluded,
        n.files_indexed,
        n.files_missing,
        n.files_corrupt,
        t.export.read.segments,
        t.ring_segments_in_store
    );
        // No store block overlaps the range and no ring record is in it: the range holds no
        // packet. Counted before the flow index, so the answer does not depend on a `.fidx`.
        if q.in_range == 0 && n.blocks_in_range == 0 {
            let wrote = if what == "query" {
                " (an empty pcap was written)"
            } else {
                ""
            };
            return Err(no_packet(a, wrote));
        }
        if q.len_unsure > 0 {
            anyhow::bail!(
                "{expr:?} reads the packet length (len, greater, less), and {} cut record(s) were \
             tested with their stored length where tcpdump uses the original: the output may \
             differ from tcpdump's for them; use export | tcpdump -r - for this expression",
                q.len_unsure
            );
        }
        Ok(())
    }
}
