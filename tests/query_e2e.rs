//! `mirrorcap query` (and `export EXPR`) end to end, without DPDK: a real ring
//! (`RingWriter`, 4 segments of 1 MiB) and its store (`Spooler`, 64 KiB zstd blocks) hold
//! generated inner frames (IPv4/IPv6, TCP/UDP/ICMP, ARP, VLAN-tagged once and twice, a few
//! cut copies, several VNIs, a rare "needle" flow) and the third-party corpus's plain frames,
//! with a seam (segments in both ring and store, the oldest only in the store). For each of
//! the expressions below the query's output must be byte for byte what
//! `tcpdump -r FULL_EXPORT -w - EXPR` writes from a full `export` of the same directories,
//! with every store file's `.fidx` present, with one of them damaged, and with none. A
//! one-flow query reads a small share of the store's blocks; malformed expressions and an
//! empty time range are one line and exit code 2.
mod support;

use mirrorcap_ring::{Geometry, RecordMeta, RingWriter};
use mirrorcap_store::flowidx::{build_for_file, fidx_path, write_fidx};
use mirrorcap_store::storedir::list;
use mirrorcap_store::{Compression, SpoolOptions, Spooler, StoreFile, StoreOptions};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

const EXPRS: &[&str] = &[
    "host 10.9.9.9",
    "host 10.9.9.9 and port 4444",
    "net 10.1.0.0/16",
    "port 53",
    "tcp and (port 80 or port 8080)",
    "udp or icmp",
    "not host 10.9.9.9 and tcp",
    "vlan 100 and host 10.2.0.6",
    "vlan 100 and vlan 200",
    "ip6 and tcp",
    "host 2001:db8::9",
    "tcp[13] & 2 != 0",
    "arp",
    "src host 192.0.2.1 or dst port 443",
    "portrange 1000-1010",
    "ip proto 17 and net 10.3",
    "ether proto 0x0806 or host 203.0.113.7",
    "icmp6 or (ip and not udp)",
];

const BASE_TS: u64 = 1_795_599_000_000_000_000;

/// Ethernet header, `tags` 802.1Q tags (VLAN 100, then 200), EtherType.
fn eth(tags: usize, ethertype: u16) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    for vid in [100u16, 200].iter().take(tags) {
        f.extend_from_slice(&0x8100u16.to_be_bytes());
        f.extend_from_slice(&vid.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

/// Transport header: TCP (20 B, SYN when `syn`), UDP (8 B) or ICMP (8 B).
fn l4(proto: u8, sport: u16, dport: u16, syn: bool) -> Vec<u8> {
    let mut h = Vec::new();
    match proto {
        6 => {
            h.extend_from_slice(&sport.to_be_bytes());
            h.extend_from_slice(&dport.to_be_bytes());
            h.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, if syn { 0x02 } else { 0x18 }]);
            h.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
        }
        17 => {
            h.extend_from_slice(&sport.to_be_bytes());
            h.extend_from_slice(&dport.to_be_bytes());
            h.extend_from_slice(&[0, 8, 0, 0]);
        }
        _ => h.extend_from_slice(&[8, 0, 0, 0, 0, 1, 0, 1]),
    }
    h
}

/// One inner frame of flow `n` (a deterministic mix), padded with payload to `size`.
fn frame(n: u64, size: usize) -> Vec<u8> {
    let kind = n % 23;
    let tags = match n % 11 {
        0 => 1,
        5 => 2,
        _ => 0,
    };
    let (proto, sport, dport) = match n % 7 {
        0 => (17, 1000 + (n % 20) as u16, 53),
        1 => (6, 30000 + (n % 500) as u16, 80),
        2 => (6, 30000 + (n % 500) as u16, 8080),
        3 => (1, 0, 0),
        4 => (6, 40000, 443),
        5 => (17, 123, 1000 + (n % 15) as u16),
        _ => (6, 50000 + (n % 97) as u16, 22),
    };
    let mut f = if kind == 3 {
        // ARP request 10.1.0.1 -> 10.1.0.(n % 200)
        let mut f = eth(tags, 0x0806);
        f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 1, 0, 1]);
        f.extend_from_slice(&[0, 0, 0, 0, 0, 0, 10, 1, 0, (n % 200) as u8]);
        f
    } else if kind == 7 || kind == 15 {
        let mut f = eth(tags, 0x86dd);
        let nh = if proto == 1 { 58 } else { proto };
        let body = l4(proto, sport, dport, n.is_multiple_of(13));
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f.extend_from_slice(&(body.len() as u16).to_be_bytes());
        f.extend_from_slice(&[nh, 64]);
        let src: std::net::Ipv6Addr = format!("2001:db8::{:x}", n % 50).parse().unwrap();
        f.extend_from_slice(&src.octets());
        f.extend_from_slice(
            &"2001:db8:1::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        f.extend_from_slice(&body);
        f
    } else {
        let mut f = eth(tags, 0x0800);
        let body = l4(proto, sport, dport, n.is_multiple_of(13));
        let src = [10, (n % 4) as u8, 0, (n % 250) as u8];
        let dst = if n.is_multiple_of(17) {
            [203, 0, 113, 7]
        } else {
            [192, 0, 2, (n % 3) as u8]
        };
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&((20 + body.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 0, 64, proto, 0, 0]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend_from_slice(&body);
        f
    };
    f.resize(size.max(f.len()), 0xa5);
    f
}

/// The needle: 10.9.9.9:4444 -> 198.51.100.1:443 over TCP, VNI 300.
fn needle() -> Vec<u8> {
    let mut f = eth(0, 0x0800);
    let body = l4(6, 4444, 443, false);
    f.extend_from_slice(&[
        0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 9, 9, 9, 198, 51, 100, 1,
    ]);
    f.extend_from_slice(&body);
    f.resize(200, 0x5a);
    f
}

/// The corpus's plain (not tunnelled) captures' frames, as inner frames.
fn corpus_frames() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for name in [
        "flowtest__ipv4-udp-fragmented.pcap",
        "flowtest__ipv6-udp-fragmented.pcap",
        "flowtest__802.1Q_tunneling.pcap",
        "tcpdump__802.1ad_QinQ.pcap",
        "zeek__http-vlan-0.pcap",
    ] {
        let Some(p) = corpus_or_skip(name) else {
            continue;
        };
        let r = pcap_file::pcap::PcapReader::new(std::fs::File::open(&p).unwrap()).unwrap();
        let mut r = r;
        while let Some(pkt) = r.next_packet() {
            out.push(pkt.unwrap().data.into_owned());
        }
    }
    out
}

struct Fixture {
    ring: PathBuf,
    store: PathBuf,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    work: tempfile::TempDir,
}

/// Writes about 5.5 MiB of records into a 4 x 1 MiB ring, stored as they seal (the first
/// segment overwritten in the ring, later ones in both), and a `.fidx` for every store file.
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
    let mut sp = Spooler::open(ring_dir.path(), 0, store.path(), opts).unwrap();
    let corpus = corpus_frames();
    let mut bytes = 0usize;
    let mut n = 0u64;
    while bytes < 5 << 20 {
        let vni = [100u32, 200, 300][(n % 3) as usize];
        let (f, meta) = if n % 4001 == 2000 {
            (needle(), RecordMeta::tunnel(300, 0))
        } else if n % 97 == 50 && !corpus.is_empty() {
            (
                corpus[(n / 97) as usize % corpus.len()].clone(),
                RecordMeta::UNTAGGED,
            )
        } else {
            (
                frame(n, 60 + (n * 37 % 1200) as usize),
                RecordMeta::tunnel(vni, 0),
            )
        };
        // Every 29th a cut copy (as AWS truncates): the original was 300 bytes longer.
        let orig = f.len() as u32 + if n.is_multiple_of(29) { 300 } else { 0 };
        assert!(w.write_record(BASE_TS + n * 100_000, meta, &[], &f, orig));
        bytes += f.len() + 16;
        n += 1;
        if n.is_multiple_of(16) {
            w.commit();
        }
        if n.is_multiple_of(3000) {
            sp.poll().unwrap();
        }
    }
    w.close().unwrap();
    sp.poll().unwrap();
    let wdir = store.path().join("worker-00");
    for f in list(&wdir).unwrap() {
        let mut sf = StoreFile::open(&f.data, &f.index).unwrap();
        write_fidx(&f.index, &build_for_file(&mut sf).unwrap()).unwrap();
    }
    Fixture {
        ring: ring_dir.path().to_path_buf(),
        store: store.path().to_path_buf(),
        _dirs: (ring_dir, store),
        work: tempfile::tempdir().unwrap(),
    }
}

fn run(args: &[&str]) -> (std::process::ExitStatus, String) {
    let out = Command::new(bin()).args(args).output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

impl Fixture {
    fn dirs(&self) -> [&str; 2] {
        [self.ring.to_str().unwrap(), self.store.to_str().unwrap()]
    }

    /// `query` of `expr` over ring and store: the output's bytes and stderr.
    fn query(&self, expr: &str) -> (Vec<u8>, String) {
        let out = self.work.path().join("q.pcap");
        let [r, s] = self.dirs();
        let (st, err) = run(&["query", r, s, expr, "-w", out.to_str().unwrap()]);
        assert!(st.success(), "query {expr:?}: {st} {err}");
        (std::fs::read(&out).unwrap(), err)
    }

    /// What tcpdump selects with `expr` from the full export.
    fn tcpdump(&self, full: &Path, expr: &str) -> Vec<u8> {
        let out = self.work.path().join("t.pcap");
        let st = Command::new("tcpdump")
            .args(["--time-stamp-precision=nano", "-r"])
            .arg(full)
            .arg("-w")
            .arg(&out)
            .arg(expr)
            .output()
            .unwrap();
        assert!(st.status.success(), "tcpdump {expr:?}: {st:?}");
        std::fs::read(&out).unwrap()
    }

    fn full_export(&self) -> PathBuf {
        let full = self.work.path().join("full.pcap");
        let [r, s] = self.dirs();
        let (st, err) = run(&["export", r, s, "-w", full.to_str().unwrap()]);
        assert!(st.success(), "export: {err}");
        full
    }

    fn fidx_files(&self) -> Vec<PathBuf> {
        list(&self.store.join("worker-00"))
            .unwrap()
            .into_iter()
            .map(|f| fidx_path(&f.index))
            .collect()
    }
}

/// "read K of N store block(s)" from the query's summary line.
fn blocks_read(stderr: &str) -> (u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.contains(" store block(s) of the time range"))
        .unwrap_or_else(|| panic!("no summary in {stderr}"));
    let after = &line[line.find("; read ").unwrap() + 7..];
    let mut w = after.split(' ');
    let k = w.next().unwrap().parse().unwrap();
    assert_eq!(w.next(), Some("of"));
    (k, w.next().unwrap().parse().unwrap())
}

fn check_all(fx: &Fixture, full: &Path, what: &str) {
    for e in EXPRS {
        let want = fx.tcpdump(full, e);
        let (got, err) = fx.query(e);
        assert!(
            want.len() > 24,
            "{e}: tcpdump selected nothing: a useless case"
        );
        assert!(
            got == want,
            "{what}: query {e:?} differs from tcpdump's selection ({} vs {} bytes)\n{err}",
            got.len(),
            want.len()
        );
    }
}

#[test]
fn query_equals_tcpdump_over_a_full_export_with_and_without_flow_indexes() {
    let Some(_) = require_tool("tcpdump") else {
        return;
    };
    let fx = fixture();
    let full = fx.full_export();
    let fidx = fx.fidx_files();
    assert!(fidx.len() >= 4, "store files: {}", fidx.len());
    check_all(&fx, &full, "every .fidx present");

    // A ring alone: `export RING` takes the ring's own export, `query RING` the timeline; the
    // selection is still tcpdump's.
    let ring_full = fx.work.path().join("ring-full.pcap");
    let [r, _] = fx.dirs();
    let (st, err) = run(&["export", r, "-w", ring_full.to_str().unwrap()]);
    assert!(st.success(), "{err}");
    for e in ["host 10.9.9.9", "vlan 100 and vlan 200", "not tcp"] {
        let out = fx.work.path().join("r.pcap");
        let (st, err) = run(&["query", r, e, "-w", out.to_str().unwrap()]);
        assert!(st.success(), "{err}");
        assert!(
            std::fs::read(&out).unwrap() == fx.tcpdump(&ring_full, e),
            "ring alone: {e}"
        );
    }

    // `export DIRS EXPR` is the same query.
    let out = fx.work.path().join("e.pcap");
    let [r, s] = fx.dirs();
    let (st, err) = run(&["export", r, s, "port 53", "-w", out.to_str().unwrap()]);
    assert!(st.success(), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), fx.tcpdump(&full, "port 53"));

    // One damaged index: said once, its file read in full, the answer unchanged.
    let mut bytes = std::fs::read(&fidx[1]).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&fidx[1], &bytes).unwrap();
    let (_, err) = fx.query("host 10.9.9.9");
    assert_eq!(
        err.matches("damaged flow index").count(),
        1,
        "one warning for the damaged .fidx: {err}"
    );
    check_all(&fx, &full, "one .fidx damaged");

    for f in &fidx {
        std::fs::remove_file(f).unwrap();
    }
    let (_, err) = fx.query("host 10.9.9.9");
    let (k, n) = blocks_read(&err);
    assert_eq!(
        k, n,
        "without .fidx every block of the range is read: {err}"
    );
    check_all(&fx, &full, "no .fidx");
}

#[test]
fn the_flow_index_narrows_a_one_flow_query() {
    let fx = fixture();
    let (_, all) = fx.query("host 10.9.9.9 or not host 10.9.9.9");
    assert!(
        all.contains("cannot narrow"),
        "a negation falls back to a scan, said on stderr: {all}"
    );
    let (k_all, n) = blocks_read(&all);
    assert_eq!(k_all, n);
    let (_, one) = fx.query("host 10.9.9.9 and port 4444");
    let (k, n1) = blocks_read(&one);
    assert_eq!(n1, n);
    assert!(
        k > 0 && k * 5 <= n,
        "one flow read {k} of {n} blocks: {one}"
    );
    // A VNI no record has: no store block read, and not an empty time range either (the
    // store has blocks in it), whether or not a .fidx says so.
    let out = fx.work.path().join("v.pcap");
    let [r, s] = fx.dirs();
    let (st, err) = run(&[
        "query",
        r,
        s,
        "host 10.9.9.9",
        "--vni",
        "999",
        "-w",
        out.to_str().unwrap(),
    ]);
    assert!(st.success(), "{err}");
    assert_eq!(blocks_read(&err).0, 0, "{err}");
}

#[test]
fn bad_expressions_and_empty_ranges_are_one_line_and_exit_2() {
    let fx = fixture();
    let [r, s] = fx.dirs();
    let out = fx.work.path().join("x.pcap");
    let out = out.to_str().unwrap();
    for e in ["host and", "port 99999", "tcp[", "tcp and or udp"] {
        let (st, err) = run(&["query", r, s, e, "-w", out]);
        assert_eq!(st.code(), Some(2), "{e}: {err}");
        assert_eq!(err.lines().count(), 1, "{e}: one line: {err}");
        assert!(err.contains("bad expression"), "{e}: {err}");
    }
    // A mistyped directory last is taken for an expression: the message says both.
    let (st, err) = run(&["export", r, "/var/tmp/no-such-store", "-w", out]);
    assert_eq!(st.code(), Some(2), "{err}");
    assert!(err.contains("nor an existing directory"), "{err}");
    let (st, err) = run(&[
        "query", r, s, "tcp", "--from", "@1000", "--to", "@2000", "-w", out,
    ]);
    assert_eq!(st.code(), Some(2), "{err}");
    assert!(
        err.lines()
            .last()
            .unwrap()
            .contains("no packet in the time range"),
        "{err}"
    );
}
