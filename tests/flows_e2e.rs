//! Flow records end to end, without DPDK: a real ring (`RingWriter`, 4 segments of 1 MiB) and
//! its store (`Spooler`, flow records on) hold generated inner frames whose flows the test
//! knows (IPv4/IPv6, TCP/UDP, VLAN-tagged, cut copies, three VNIs). The oracle is what the test
//! wrote, counted per flow as it wrote it:
//! * DuckDB (the Python package, as a user would run it) reads the store's
//!   `*.flows.parquet` and its sums of packets and bytes per flow equal the oracle's;
//! * `mirrorcap flows RING STORE --json` equals the oracle over everything, over a time range
//!   that cuts store files, and with an expression (then its packets are `query`'s);
//! * without the Parquet files, or with one damaged, `flows` gives the same rows (from the
//!   packets), the damage said on stderr: flow records never hide a packet.
mod support;

use mirrorcap_ring::{Geometry, RecordMeta, RingWriter};
use mirrorcap_store::storedir::list;
use mirrorcap_store::{Compression, SpoolOptions, Spooler, StoreOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

const BASE_TS: u64 = 1_795_599_000_000_000_000;
const FLOWS: u64 = 300;
/// The DuckDB venv scripts/setup.sh makes.
const DUCKDB_PYTHON: &str = "/opt/duckdb/bin/python3";

/// A flow as the rows name it: VNI, protocol, source, destination (address:port).
type Key = (Option<u32>, u8, String, String);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Sums {
    packets: u64,
    bytes: u64,
    captured: u64,
    truncated: u64,
    flags: u8,
}

struct Fixture {
    ring: PathBuf,
    store: PathBuf,
    /// (timestamp, key, wire length, kept length, TCP flags) of every record written.
    written: Vec<(u64, Key, u64, u64, u8)>,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

/// Flow `i`'s frame number `n` (of that flow): its bytes, key and TCP flags.
fn frame(i: u64, n: u64) -> (Vec<u8>, Key, u8) {
    let v6 = i % 8 >= 5;
    let tcp = i.is_multiple_of(2);
    let vlan = i.is_multiple_of(5);
    let vni = [100u32, 200, 300][(i % 3) as usize];
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    if vlan {
        f.extend_from_slice(&[0x81, 0x00, 0x00, 42]);
    }
    let (sport, dport) = (1000 + i as u16, if tcp { 443 } else { 53 });
    let proto = if tcp { 6 } else { 17 };
    let (src, dst) = if v6 {
        let s = format!("2001:db8::{:x}", i + 1);
        let d = "2001:db8:ffff::1".to_string();
        f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, 0, proto, 64]);
        f.extend_from_slice(&s.parse::<std::net::Ipv6Addr>().unwrap().octets());
        f.extend_from_slice(&d.parse::<std::net::Ipv6Addr>().unwrap().octets());
        (format!("[{s}]"), format!("[{d}]"))
    } else {
        let s = [10, 1, (i / 250) as u8, (i % 250) as u8 + 1];
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0]);
        f.extend_from_slice(&s);
        f.extend_from_slice(&[10, 9, 9, 9]);
        (
            format!("{}.{}.{}.{}", s[0], s[1], s[2], s[3]),
            "10.9.9.9".to_string(),
        )
    };
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&u16::to_be_bytes(dport));
    let flags = if !tcp {
        0
    } else if n == 0 {
        0x02
    } else {
        0x18
    };
    if tcp {
        f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0, 64, 0, 0, 0, 0]);
    } else {
        f.extend_from_slice(&[0, 8, 0, 0]);
    }
    f.resize(f.len() + ((i * 31 + n * 17) % 900) as usize, 0xab);
    let key = (
        Some(vni),
        proto,
        format!("{src}:{sport}"),
        format!("{dst}:{dport}"),
    );
    (f, key, flags)
}

fn fixture() -> Fixture {
    let ring_dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let store = tempfile::tempdir_in("/var/tmp").unwrap();
    let g = Geometry {
        segments: 4,
        segment_size: 1 << 20,
    };
    let (mut w, _) = RingWriter::open(ring_dir.path(), 0, g).unwrap();
    let opts = SpoolOptions {
        store: StoreOptions {
            compression: Compression::DEFAULT_ZSTD,
            block_size: 64 << 10,
        },
        ..SpoolOptions::default()
    };
    assert!(opts.flow_records, "flow records are on by default");
    let mut sp = Spooler::open(ring_dir.path(), 0, store.path(), opts).unwrap();
    let mut written = Vec::new();
    let mut per_flow = vec![0u64; FLOWS as usize];
    for k in 0..9000u64 {
        // Flows in trains of 3 packets, as traffic comes.
        let i = (k / 3) * 7 % FLOWS;
        let (f, key, flags) = frame(i, per_flow[i as usize]);
        per_flow[i as usize] += 1;
        let vni = key.0.unwrap();
        let orig = f.len() as u64 + if k % 29 == 0 { 300 } else { 0 };
        let ts = BASE_TS + k * 100_000;
        let meta = RecordMeta::tunnel(vni, 0);
        assert!(w.write_record(ts, meta, &[], &f, orig as u32));
        written.push((ts, key, orig, f.len() as u64, flags));
        if k % 16 == 15 {
            w.commit();
        }
        if k % 2000 == 1999 {
            sp.poll().unwrap();
        }
    }
    w.commit();
    sp.poll().unwrap();
    Fixture {
        ring: ring_dir.path().to_path_buf(),
        store: store.path().to_path_buf(),
        written,
        _dirs: (ring_dir, store),
    }
}

impl Fixture {
    /// The oracle: per flow, the records written in `[from, to]` whose key `keep` accepts.
    fn sums(&self, from: u64, to: u64, keep: impl Fn(&Key) -> bool) -> BTreeMap<Key, Sums> {
        let mut m: BTreeMap<Key, Sums> = BTreeMap::new();
        for (ts, key, orig, kept, flags) in &self.written {
            if *ts < from || *ts > to || !keep(key) {
                continue;
            }
            let s = m.entry(key.clone()).or_default();
            s.packets += 1;
            s.bytes += orig;
            s.captured += kept;
            s.truncated += u64::from(kept < orig);
            s.flags |= flags;
        }
        m
    }

    fn parquet_files(&self) -> Vec<PathBuf> {
        list(&self.store.join("worker-00"))
            .unwrap()
            .iter()
            .map(|f| mirrorcap_flows::flows_path(&f.index))
            .collect()
    }

    /// `mirrorcap flows RING STORE ARGS... --json`: rows by key, and stderr.
    fn flows(&self, args: &[&str]) -> (BTreeMap<Key, Sums>, String) {
        let out = Command::new(bin())
            .arg("flows")
            .arg(&self.ring)
            .arg(&self.store)
            .args(args)
            .arg("--json")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "flows {args:?}: {err}");
        let mut m = BTreeMap::new();
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            let r: serde_json::Value = serde_json::from_str(line).unwrap();
            let ep = |a: &str, p: &str| {
                let addr = r[a].as_str().unwrap();
                let addr = if addr.contains(':') {
                    format!("[{addr}]")
                } else {
                    addr.to_string()
                };
                format!("{addr}:{}", r[p])
            };
            let key = (
                r["vni"].as_u64().map(|v| v as u32),
                r["protocol"].as_u64().unwrap() as u8,
                ep("src_addr", "src_port"),
                ep("dst_addr", "dst_port"),
            );
            let s = Sums {
                packets: r["packets"].as_u64().unwrap(),
                bytes: r["bytes"].as_u64().unwrap(),
                captured: r["captured_bytes"].as_u64().unwrap(),
                truncated: r["truncated"].as_u64().unwrap(),
                flags: r["tcp_flags"].as_u64().unwrap() as u8,
            };
            assert!(m.insert(key.clone(), s).is_none(), "{key:?} twice");
        }
        (m, err)
    }
}

#[test]
fn duckdb_reads_the_flow_records_and_their_sums_equal_the_capture() {
    if !Path::new(DUCKDB_PYTHON).exists() {
        skip_or_fail(&format!(
            "{DUCKDB_PYTHON} (DuckDB's Python package) is not installed (scripts/setup.sh installs it)"
        ));
        return;
    }
    let fx = fixture();
    let files = fx.parquet_files();
    assert!(files.len() >= 3, "{} store files", files.len());
    // What the store holds (the ring's newest records are only in the ring): the time range
    // of its indexes, every record of which it holds.
    let (mut lo, mut hi) = (u64::MAX, 0);
    for f in list(&fx.store.join("worker-00")).unwrap() {
        for b in mirrorcap_store::StoreIndex::read(&f.index).unwrap().blocks {
            if b.records > 0 {
                (lo, hi) = (lo.min(b.min_ts_ns), hi.max(b.max_ts_ns));
            }
        }
    }
    let want = fx.sums(lo, hi, |_| true);
    let glob = fx.store.join("worker-*").join("*.flows.parquet");
    let script = format!(
        "import duckdb\n\
         rows = duckdb.sql(\"\"\"SELECT vni, protocol, src_addr, src_port, dst_addr, dst_port,\n\
             sum(packets), sum(bytes), sum(captured_bytes), sum(truncated), bit_or(tcp_flags),\n\
             min(first_ts), max(last_ts)\n\
           FROM read_parquet('{}') GROUP BY ALL\"\"\").fetchall()\n\
         for r in rows:\n    print('|'.join('' if v is None else str(v) for v in r))\n",
        glob.display()
    );
    let out = Command::new(DUCKDB_PYTHON)
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "duckdb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let c: Vec<&str> = line.split('|').collect();
        assert_eq!(c.len(), 13, "{line}");
        let ep = |a: &str, p: &str| {
            if a.contains(':') {
                format!("[{a}]:{p}")
            } else {
                format!("{a}:{p}")
            }
        };
        let key = (
            c[0].parse().ok(),
            c[1].parse().unwrap(),
            ep(c[2], c[3]),
            ep(c[4], c[5]),
        );
        let s = Sums {
            packets: c[6].parse().unwrap(),
            bytes: c[7].parse().unwrap(),
            captured: c[8].parse().unwrap(),
            truncated: c[9].parse().unwrap(),
            flags: c[10].parse().unwrap(),
        };
        // Timestamps read as timestamps (DuckDB prints them with a date).
        assert!(c[11].starts_with("2026-11-25") && c[12] >= c[11], "{line}");
        got.insert(key, s);
    }
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want);
}

#[test]
fn flows_equals_what_was_written_over_ring_and_store_a_cut_range_and_an_expression() {
    let fx = fixture();
    let all = fx.sums(0, u64::MAX, |_| true);
    let (got, err) = fx.flows(&[]);
    assert!(
        err.contains("store file(s) answered by their flow records"),
        "{err}"
    );
    assert_eq!(got, all);
    // A range that cuts store files: those are read from their packets.
    let (from, to) = (BASE_TS + 1234 * 100_000, BASE_TS + 7777 * 100_000);
    let secs = |t: u64| format!("@{}.{:09}", t / 1_000_000_000, t % 1_000_000_000);
    let (got, _) = fx.flows(&["--from", &secs(from), "--to", &secs(to)]);
    assert_eq!(got, fx.sums(from, to, |_| true));
    // An expression: the flows of what query selects.
    let (got, err) = fx.flows(&["tcp and ip6"]);
    assert!(err.contains("packet(s) matched"), "{err}");
    // libpcap's `ip6` is of untagged frames (flow i is VLAN-tagged when i % 5 == 0).
    let untagged = |k: &Key| {
        let port: u64 = k.2.rsplit(':').next().unwrap().parse().unwrap();
        !(port - 1000).is_multiple_of(5)
    };
    let want = fx.sums(0, u64::MAX, |k| {
        k.1 == 6 && k.2.starts_with('[') && untagged(k)
    });
    assert!(!want.is_empty());
    assert_eq!(got, want);
    let (got, _) = fx.flows(&["--vni", "200"]);
    assert_eq!(got, fx.sums(0, u64::MAX, |k| k.0 == Some(200)));
}

#[test]
fn missing_or_damaged_flow_records_give_the_same_rows_from_the_packets() {
    let fx = fixture();
    let all = fx.sums(0, u64::MAX, |_| true);
    let files = fx.parquet_files();
    // One damaged (its footer cut), one with another file's rows (the counts disagree).
    let damaged = &files[0];
    let bytes = std::fs::read(damaged).unwrap();
    std::fs::write(damaged, &bytes[..bytes.len() / 2]).unwrap();
    std::fs::copy(&files[2], &files[1]).unwrap();
    let (got, err) = fx.flows(&[]);
    assert!(
        err.contains("2 damaged flow records file(s) ignored"),
        "{err}"
    );
    assert_eq!(got, all);
    for f in &files {
        std::fs::remove_file(f).unwrap();
    }
    let (got, err) = fx.flows(&[]);
    assert!(err.contains("0 store file(s) answered"), "{err}");
    assert_eq!(got, all);
}

#[test]
fn an_empty_range_is_one_line_and_exit_2() {
    let fx = fixture();
    let out = Command::new(bin())
        .arg("flows")
        .arg(&fx.store)
        .args(["--from", "@100", "--to", "@200"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no packet in the time range"), "{err}");
}
