//! Conformance of the real binary with an independent oracle, on every file of the shared
//! third-party corpus (`../shared/testdata/pcaps/`, pcap and pcapng).
//!
//! Per file (one `#[test]` each): `mirrorcap run` replays the file on a `net_pcap` vdev (libpcap's
//! `pcap_open_offline`, which reads pcapng too), /metrics is scraped while it runs, and
//! `mirrorcap export` writes what it captured. The oracle is tshark's dissection of the input
//! (`-T pdml`: every layer with its byte position, size and fields) walked with the rules of
//! DESIGN.md §1 and `src/decap`, written down again below from tshark's field values, never from
//! mirrorcap's parsers. Per input packet it decides: captured (which bytes, tunnel, VNI, depth,
//! truncation, reserved VXLAN bits) or dropped (which reason). Then it asserts:
//! - per packet, `mirrorcap_decap::decap` (the library) returns exactly the oracle's decision:
//!   the frame's range and every `TunnelMeta` field, or the drop reason;
//! - per run, the metrics: received packets and bytes, captured packets and bytes, every drop
//!   reason's count, truncated frames, reserved-bit frames, frames and truncated frames per VNI;
//! - per captured packet, in order, the exported record: its bytes (the input's bytes at the
//!   oracle's offset, behind the synthetic Ethernet header for a bare IP payload), its orig_len
//!   (plus what the inner IP header, or for a frame cut after its outer headers the innermost
//!   UDP length, claims beyond the bytes present), and tshark's dissection of
//!   it (Ethernet addresses and type, first IP addresses) against tshark's dissection of the
//!   input's mirrored frame;
//! - hand-checked expectations per file, read off tshark's output and MANIFEST.md by a person.
//!
//! Four more rows feed captures written by `mirrorcap gen` at test time, for what the corpus
//! lacks (AWS truncation, GWLB nesting with AWS options, outer QinQ plus an inner VLAN, a capture
//! taken with a snaplen, the depth limit); tshark is their oracle all the same.
//!
//! Where tshark and mirrorcap differ by design, the oracle follows the design and says so where
//! the rule is encoded (look for "Design:"). Every mismatch is collected and reported together.
//!
//! `cargo nextest run --test conformance`; the table in docs/conformance.md comes from
//! `cargo nextest run --test conformance --run-ignored ignored-only --no-capture conformance_table`.
mod common;
use common::*;
use mirrorcap::pipeline::{drop_reason_label, DROP_REASONS};
use mirrorcap_decap::{decap, DecapConfig, GeneveAws, InnerKind, TunnelKind};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

// ------------------------------------------------------------------------------------------
// The table: one row per corpus file (and run flags) or generated capture, with a person's
// expectations.
// ------------------------------------------------------------------------------------------

/// What a person expects from a file, read off `tshark -r FILE` and MANIFEST.md.
struct Hand {
    captured: u64,
    drops: &'static [(&'static str, u64)],
    /// None where a person cannot tell (random inner sizes).
    truncated: Option<u64>,
    /// VNI and frames captured with it.
    vnis: &'static [(u32, u64)],
    /// Captured frames whose VXLAN header has reserved bits set.
    reserved_bits: u64,
}

struct Row {
    /// A corpus file, or the name given to a generated capture.
    file: &'static str,
    /// If not empty, the input is not from the corpus but written by `mirrorcap gen -w FILE
    /// GEN...` (the project's generator covers what the corpus lacks: AWS truncation, GWLB
    /// nesting with AWS options, outer QinQ with an inner VLAN); the oracle is tshark all the same.
    /// A trailing [`SNAPLEN`] `N` is the test's, not gen's: the written file is then cut to `N`
    /// bytes a record, as a capture taken with `tcpdump -s N` holds it.
    gen: &'static [&'static str],
    /// Flags added to `mirrorcap run` (the oracle reads the same ones).
    args: &'static [&'static str],
    hand: Hand,
    /// Why the file yields what it yields (the table's note).
    note: &'static str,
}

/// See [`Row::gen`].
const SNAPLEN: &str = "(snaplen)";

const fn captured(n: u64, vnis: &'static [(u32, u64)]) -> Hand {
    Hand {
        captured: n,
        drops: &[],
        truncated: Some(0),
        vnis,
        reserved_bits: 0,
    }
}

const fn dropped(drops: &'static [(&'static str, u64)]) -> Hand {
    Hand {
        captured: 0,
        drops,
        truncated: Some(0),
        vnis: &[],
        reserved_bits: 0,
    }
}

const ROWS: &[Row] = &[
    Row {
        file: "arkime__gre-erspan-vxlan.pcap",
        gen: &[],
        args: &[],
        hand: dropped(&[("not_mirror", 7)]),
        note: "outer IPv4 carries GRE/ERSPAN (protocol 47), not UDP; the VXLAN inside is on 4790 anyway",
    },
    Row {
        file: "flowtest__802.1Q_tunneling.pcap",
        gen: &[],
        args: &[],
        hand: dropped(&[("not_mirror", 10)]),
        note: "two 802.1Q tags are accepted, but the IPv4 payload is ICMP, not UDP",
    },
    Row {
        file: "flowtest__ipv4-udp-fragmented.pcap",
        gen: &[],
        args: &[],
        hand: dropped(&[("not_mirror", 4), ("outer_fragment", 4)]),
        note: "4 IPv4 fragments (MF or offset set); the 4 whole datagrams go to UDP 6363",
    },
    Row {
        file: "flowtest__ipv6-udp-fragmented.pcap",
        gen: &[],
        args: &[],
        hand: dropped(&[("not_mirror", 2), ("outer_fragment", 4)]),
        note: "4 packets carry an IPv6 fragment header; the 2 others go to UDP 6363",
    },
    Row {
        file: "suricata-verify__vxlan-decoder-01_input.pcap",
        gen: &[],
        args: &[],
        hand: Hand {
            drops: &[("not_mirror", 2)],
            ..captured(1, &[(37, 1)])
        },
        note: "1 VXLAN VNI 37 (inner frame bounded by the UDP length, not the Ethernet padding); 2 plain UDP to 12345/32021",
    },
    Row {
        file: "suricata-verify__vxlan-non-zero-reserved-fields_input.pcap",
        gen: &[],
        args: &[],
        hand: Hand {
            reserved_bits: 10,
            ..captured(10, &[(11, 10)])
        },
        note: "VXLAN flags 0xff01 (I set, GBP and reserved bits too): tolerated and counted",
    },
    Row {
        file: "tcpdump__802.1ad_QinQ.pcap",
        gen: &[],
        args: &[],
        hand: dropped(&[("not_mirror", 2)]),
        note: "802.1ad + 802.1Q tags are accepted, but the payload is ARP",
    },
    Row {
        file: "tcpdump__bigtcp-ipv4-vxlan-ipv4.pcap",
        gen: &[],
        args: &[],
        hand: dropped(&[("oversize_frame", 1)]),
        note: "80 KB BIG TCP frame: more than one mbuf, dropped before decap (decap alone says bad_ip_header: total length 0)",
    },
    Row {
        file: "tcpdump__bigtcp-ipv6-vxlan-ipv6.pcap",
        gen: &[],
        args: &[],
        hand: dropped(&[("oversize_frame", 1)]),
        note: "80 KB BIG TCP frame: more than one mbuf, dropped before decap (decap alone says bad_ip_header: payload length 0)",
    },
    Row {
        file: "tcpdump__geneve-gcp.pcap",
        gen: &[],
        args: &[],
        hand: captured(1, &[(0, 1)]),
        note: "Geneve with GCP (0x0132) options carrying bare IPv4/TCP: synthetic Ethernet header added",
    },
    Row {
        file: "tcpdump__geneve.pcap",
        gen: &[],
        args: &[],
        hand: captured(39, &[(10, 19), (11, 20)]),
        note: "OVS Geneve carrying Ethernet; the C bit and critical options are ignored (we capture, not forward)",
    },
    Row {
        file: "tcpdump__gso-ipv4-vxlan-ipv6.pcap",
        gen: &[],
        args: &[],
        hand: captured(1, &[(5001, 1)]),
        note: "4.2 KB VXLAN frame, IPv4 outer, IPv6 inner: fits one mbuf",
    },
    Row {
        file: "tcpdump__gso-ipv6-geneve-ipv6.pcap",
        gen: &[],
        args: &[],
        hand: captured(1, &[(5001, 1)]),
        note: "7 KB Geneve over IPv6 carrying Ethernet/IPv6/TCP",
    },
    Row {
        file: "tcpdump__gso-ipv6-vxlan-ipv4.pcap",
        gen: &[],
        args: &[],
        hand: captured(1, &[(5001, 1)]),
        note: "7 KB VXLAN frame, IPv6 outer, IPv4 inner",
    },
    Row {
        file: "tcpdump__gso-ipv6-vxlan-ipv6.pcap",
        gen: &[],
        args: &[],
        hand: captured(1, &[(5001, 1)]),
        note: "4.2 KB VXLAN frame, IPv6 outer and inner",
    },
    Row {
        file: "tcpdump__nsh-over-vxlan-gpe.pcap",
        gen: &[],
        args: &[],
        hand: dropped(&[("not_mirror", 1)]),
        note: "VXLAN-GPE/NSH on UDP 4790, not a configured port",
    },
    Row {
        file: "tcpdump__vxlan.pcap",
        gen: &[],
        args: &[],
        hand: captured(10, &[(100, 10)]),
        note: "canonical VXLAN VNI 100: 8 ICMP and 2 ARP frames",
    },
    Row {
        file: "tcpdump__vxlan_port_8472.pcap",
        gen: &[],
        args: &[],
        hand: dropped(&[("not_mirror", 10)]),
        note: "VXLAN on UDP 8472, not the default port 4789",
    },
    Row {
        file: "tcpdump__vxlan_port_8472.pcap",
        gen: &[],
        args: &["--vxlan-port", "8472"],
        hand: captured(10, &[(100, 10)]),
        note: "the same with --vxlan-port 8472 (the oracle has tshark decode 8472 as VXLAN)",
    },
    Row {
        file: "zeek__geneve-ipv6.pcap",
        gen: &[],
        args: &[],
        hand: captured(2, &[(0x12_3456, 2)]),
        note: "Geneve protocol 0x86DD: bare IPv6/UDP to 40000/40001 (not a tunnel port), synthetic Ethernet header added",
    },
    Row {
        file: "zeek__geneve-many-options.pcap",
        gen: &[],
        args: &[],
        hand: captured(10, &[(0x0c_012e, 10)]),
        note: "Geneve with 76 bytes of Linux-class options, Ethernet payload",
    },
    Row {
        file: "zeek__geneve-truncated.pcapng",
        gen: &[],
        args: &[],
        hand: dropped(&[("truncated_header", 1)]),
        note: "pcapng; Geneve header and options but no payload (UDP length 24)",
    },
    Row {
        file: "zeek__http-vlan-0.pcap",
        gen: &[],
        args: &[],
        hand: dropped(&[("not_mirror", 14)]),
        note: "VLAN-0 priority tag accepted, but the payload is TCP",
    },
    Row {
        file: "zeek__vxlan-encapsulated-http.pcap",
        gen: &[],
        args: &[],
        hand: captured(12, &[(1, 12)]),
        note: "VXLAN VNI 1, an HTTP session; one 9100-byte frame (still one mbuf)",
    },
    Row {
        file: "zeek__vxlan-triple-v2.pcap",
        gen: &[],
        args: &[],
        hand: Hand {
            reserved_bits: 1,
            ..captured(1, &[(1, 1)])
        },
        note: "VXLAN in VXLAN in VXLAN: the walk stops at the first (VNI 1, flags 0x0c: reserved bit)",
    },
    // Generated inputs (not corpus files), for what the corpus lacks. Noise: one frame after
    // every N mirrored ones, cycling plain UDP, ARP, IPv6 UDP, VXLAN without the I flag, VXLAN
    // cut short, IPv4 fragment, IPv6 fragment.
    Row {
        file: "gen-gwlb-truncated.pcap",
        gen: &[
            "--encap", "gwlb", "--count", "60", "--inner-size", "1000", "--truncate", "200",
            "--noise-every", "4", "--seed", "7",
        ],
        args: &[],
        hand: Hand {
            drops: &[
                ("not_mirror", 7),
                ("bad_vxlan_flags", 2),
                ("truncated_header", 2),
                ("outer_fragment", 4),
            ],
            truncated: Some(60),
            ..captured(60, &[(100, 20), (200, 20), (300, 20)])
        },
        note: "generated: GWLB Geneve (AWS options) → IPv4 → VXLAN, depth 2; 1000-byte frames cut to 200 (truncated); 15 noise frames",
    },
    Row {
        file: "gen-vxlan6-qinq-truncated.pcap",
        gen: &[
            "--encap", "vxlan6", "--count", "40", "--outer-vlans", "2", "--inner-vlan", "7",
            "--inner-size", "60-1500", "--truncate", "300", "--noise-every", "3", "--seed", "3",
        ],
        args: &[],
        hand: Hand {
            drops: &[
                ("not_mirror", 6),
                ("bad_vxlan_flags", 2),
                ("truncated_header", 2),
                ("outer_fragment", 3),
            ],
            truncated: None,
            ..captured(40, &[(100, 14), (200, 13), (300, 13)])
        },
        note: "generated: VXLAN over IPv6 behind 802.1ad+802.1Q, inner 802.1Q tag, random sizes cut to 300; 13 noise frames",
    },
    Row {
        file: "gen-vxlan-snaplen-200.pcap",
        gen: &[
            "--encap", "vxlan", "--count", "40", "--vni", "100", "--inner-size", "60-3000",
            "--noise-every", "5", "--seed", "11", SNAPLEN, "200",
        ],
        args: &[],
        hand: Hand {
            drops: &[
                ("not_mirror", 4),
                ("bad_vxlan_flags", 1),
                ("truncated_header", 1),
                ("outer_fragment", 2),
            ],
            truncated: None,
            ..captured(40, &[(100, 40)])
        },
        note: "generated, then cut to 200 bytes a record (a `tcpdump -s 200` capture, replayed): every mirrored frame captured with the bytes present and the outer UDP length's original length; 8 noise frames",
    },
    Row {
        file: "gen-gwlb-depth-1.pcap",
        gen: &["--encap", "gwlb", "--count", "10", "--seed", "5"],
        args: &["--max-depth", "1"],
        hand: dropped(&[("tunnel_too_deep", 10)]),
        note: "generated: GWLB Geneve → VXLAN with --max-depth 1",
    },
];

#[test]
fn arkime_gre_erspan_vxlan() {
    check("arkime__gre-erspan-vxlan.pcap", &[]);
}
#[test]
fn flowtest_802_1q_tunneling() {
    check("flowtest__802.1Q_tunneling.pcap", &[]);
}
#[test]
fn flowtest_ipv4_udp_fragmented() {
    check("flowtest__ipv4-udp-fragmented.pcap", &[]);
}
#[test]
fn flowtest_ipv6_udp_fragmented() {
    check("flowtest__ipv6-udp-fragmented.pcap", &[]);
}
#[test]
fn suricata_vxlan_decoder_01() {
    check("suricata-verify__vxlan-decoder-01_input.pcap", &[]);
}
#[test]
fn suricata_vxlan_non_zero_reserved_fields() {
    check(
        "suricata-verify__vxlan-non-zero-reserved-fields_input.pcap",
        &[],
    );
}
#[test]
fn tcpdump_802_1ad_qinq() {
    check("tcpdump__802.1ad_QinQ.pcap", &[]);
}
#[test]
fn tcpdump_bigtcp_ipv4_vxlan_ipv4() {
    check("tcpdump__bigtcp-ipv4-vxlan-ipv4.pcap", &[]);
}
#[test]
fn tcpdump_bigtcp_ipv6_vxlan_ipv6() {
    check("tcpdump__bigtcp-ipv6-vxlan-ipv6.pcap", &[]);
}
#[test]
fn tcpdump_geneve_gcp() {
    check("tcpdump__geneve-gcp.pcap", &[]);
}
#[test]
fn tcpdump_geneve() {
    check("tcpdump__geneve.pcap", &[]);
}
#[test]
fn tcpdump_gso_ipv4_vxlan_ipv6() {
    check("tcpdump__gso-ipv4-vxlan-ipv6.pcap", &[]);
}
#[test]
fn tcpdump_gso_ipv6_geneve_ipv6() {
    check("tcpdump__gso-ipv6-geneve-ipv6.pcap", &[]);
}
#[test]
fn tcpdump_gso_ipv6_vxlan_ipv4() {
    check("tcpdump__gso-ipv6-vxlan-ipv4.pcap", &[]);
}
#[test]
fn tcpdump_gso_ipv6_vxlan_ipv6() {
    check("tcpdump__gso-ipv6-vxlan-ipv6.pcap", &[]);
}
#[test]
fn tcpdump_nsh_over_vxlan_gpe() {
    check("tcpdump__nsh-over-vxlan-gpe.pcap", &[]);
}
#[test]
fn tcpdump_vxlan() {
    check("tcpdump__vxlan.pcap", &[]);
}
#[test]
fn tcpdump_vxlan_port_8472() {
    check("tcpdump__vxlan_port_8472.pcap", &[]);
}
#[test]
fn tcpdump_vxlan_port_8472_configured() {
    check("tcpdump__vxlan_port_8472.pcap", &["--vxlan-port", "8472"]);
}
#[test]
fn zeek_geneve_ipv6() {
    check("zeek__geneve-ipv6.pcap", &[]);
}
#[test]
fn zeek_geneve_many_options() {
    check("zeek__geneve-many-options.pcap", &[]);
}
#[test]
fn zeek_geneve_truncated_pcapng() {
    check("zeek__geneve-truncated.pcapng", &[]);
}
#[test]
fn zeek_http_vlan_0() {
    check("zeek__http-vlan-0.pcap", &[]);
}
#[test]
fn zeek_vxlan_encapsulated_http() {
    check("zeek__vxlan-encapsulated-http.pcap", &[]);
}
#[test]
fn zeek_vxlan_triple_v2() {
    check("zeek__vxlan-triple-v2.pcap", &[]);
}
#[test]
fn generated_gwlb_truncated() {
    check("gen-gwlb-truncated.pcap", &[]);
}
#[test]
fn generated_vxlan6_qinq_truncated() {
    check("gen-vxlan6-qinq-truncated.pcap", &[]);
}
#[test]
fn generated_vxlan_snaplen_200() {
    check("gen-vxlan-snaplen-200.pcap", &[]);
}
#[test]
fn generated_gwlb_depth_1() {
    check("gen-gwlb-depth-1.pcap", &["--max-depth", "1"]);
}

/// Every capture in the corpus has a row and a test, and every row names a file that exists.
#[test]
fn every_corpus_file_has_a_row_and_a_test() {
    let dir = corpus("");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no captures in {}", dir.display());
    let me: String = include_str!("conformance.rs")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    for f in &files {
        assert!(
            ROWS.iter().any(|r| r.file == f && r.gen.is_empty()),
            "{f} is in the corpus but has no row in ROWS"
        );
    }
    for r in ROWS {
        assert_eq!(
            files.iter().any(|f| f == r.file),
            r.gen.is_empty(),
            "{}: a corpus row must name a corpus file, a generated one must not",
            r.file
        );
        let call: String = format!("check(\"{}\",&{:?}", r.file, r.args)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        assert!(
            me.contains(&call),
            "no #[test] runs {} with {:?}",
            r.file,
            r.args
        );
    }
}

/// Runs every row and prints the markdown table of docs/conformance.md (then fails if any row
/// did not conform, so a pasted table always comes from a conforming run, or says it did not).
#[test]
#[ignore = "slow: runs the whole corpus in one test to print docs/conformance.md's table"]
fn conformance_table() {
    let mut out = String::from(
        "| file | run flags | packets | captured | dropped (reason=count) | truncated | VNIs (vni×frames) | reserved bits | conforms | note |\n\
         |------|-----------|--------:|---------:|------------------------|----------:|-------------------|--------------:|----------|------|\n",
    );
    let mut bad = Vec::new();
    for row in ROWS {
        let rep = run_row(row);
        let s = &rep.observed;
        let drops = if s.drops.is_empty() {
            "—".to_string()
        } else {
            join(s.drops.iter().map(|(k, v)| format!("`{k}`={v}")))
        };
        let vnis = if s.vnis.is_empty() {
            "—".to_string()
        } else {
            join(s.vnis.iter().map(|(k, v)| format!("{k}×{}", v.0)))
        };
        let flags = if row.args.is_empty() {
            "—".to_string()
        } else {
            format!("`{}`", row.args.join(" "))
        };
        let ok = if rep.failures.is_empty() {
            "yes".to_string()
        } else {
            bad.push(format!(
                "{} {:?}:\n  {}",
                row.file,
                row.args,
                rep.failures.join("\n  ")
            ));
            format!("**NO** ({} mismatches)", rep.failures.len())
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            row.file,
            flags,
            s.rx_packets,
            s.captured,
            drops,
            s.truncated,
            vnis,
            s.reserved_bits,
            ok,
            row.note
        ));
    }
    println!("{out}");
    assert!(
        bad.is_empty(),
        "rows that do not conform:\n{}",
        bad.join("\n")
    );
}

fn join(it: impl Iterator<Item = String>) -> String {
    it.collect::<Vec<_>>().join(", ")
}

/// The test of one row: every mismatch at once.
fn check(file: &str, args: &[&str]) {
    let row = ROWS
        .iter()
        .find(|r| r.file == file && r.args == args)
        .unwrap_or_else(|| panic!("no row for {file} {args:?}"));
    let rep = run_row(row);
    assert!(
        rep.failures.is_empty(),
        "{file} {args:?}: {} mismatch(es):\n  {}",
        rep.failures.len(),
        rep.failures.join("\n  ")
    );
}

// ------------------------------------------------------------------------------------------
// Running one row: oracle, library, binary, export.
// ------------------------------------------------------------------------------------------

/// Run-level counts, as the oracle predicts them or as /metrics shows them.
#[derive(Clone, Debug, Default, PartialEq)]
struct Summary {
    rx_packets: u64,
    rx_bytes: u64,
    captured: u64,
    captured_bytes: u64,
    /// Non-zero drop counters by reason label.
    drops: BTreeMap<String, u64>,
    truncated: u64,
    reserved_bits: u64,
    /// VNI → (captured frames, truncated frames).
    vnis: BTreeMap<u32, (u64, u64)>,
}

struct Report {
    observed: Summary,
    failures: Vec<String>,
}

/// Records `what` as a failure unless `got == want`.
fn expect_eq<T: PartialEq + Debug>(f: &mut Vec<String>, what: impl AsRef<str>, got: T, want: T) {
    if got != want {
        f.push(format!(
            "{}: mirrorcap {got:?}, expected {want:?}",
            what.as_ref()
        ));
    }
}

fn run_row(row: &Row) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let input = if row.gen.is_empty() {
        corpus(row.file)
    } else {
        let p = dir.path().join(row.file);
        let (gen, snaplen) = match row.gen {
            [g @ .., s, n] if *s == SNAPLEN => (g, Some(n.parse::<usize>().unwrap())),
            g => (g, None),
        };
        let mut a = vec!["gen", "-w", p.to_str().unwrap()];
        a.extend_from_slice(gen);
        let (st, err) = mirrorcap(&a);
        assert!(st.success(), "mirrorcap {a:?}: {err}");
        if let Some(n) = snaplen {
            cut_records(&p, n);
        }
        p
    };
    assert!(input.exists(), "{} is missing", input.display());
    let cfg = Config::from_args(row.args);
    let mut f = Vec::new();

    // 1. The oracle's decision for every packet.
    let packets = read_capture(&input);
    let dissections = pdml(&input, &cfg.decode_as());
    assert_eq!(
        dissections.len(),
        packets.len(),
        "{}: tshark and pcap-file disagree on the packet count",
        row.file
    );
    let mut decisions = Vec::new();
    for (i, (d, bytes)) in dissections.iter().zip(&packets).enumerate() {
        assert_eq!(
            d.cap_len,
            bytes.data.len(),
            "{} #{}: captured length",
            row.file,
            i + 1
        );
        let o = Oracle {
            d,
            cfg: &cfg,
            ctx: format!("{} packet #{}", row.file, i + 1),
        };
        let decided = o.decap();
        // 2. The library's decap agrees packet by packet (metrics only give counts).
        check_library(&mut f, &o.ctx, &bytes.data, &cfg, &decided);
        decisions.push((o.pipeline(decided.clone()), decided));
    }
    let expected = expected_summary(&packets, &decisions);

    // 3. The real binary on a net_pcap vdev, scraped while it runs.
    let ring = dir.path().join("ring");
    let out = dir.path().join("out.pcap");
    let mut run_args = vec!["--exit-when-idle", "1s"];
    run_args.extend_from_slice(row.args);
    let app = Appliance::on_pcap(&input, &ring, false, 2, &run_args);
    let n = packets.len() as u64;
    let scrape = scrape_settled(&app, n, Duration::from_secs(30));
    let observed = observed_summary(&scrape);
    let (st, stderr) = app.wait(Duration::from_secs(30));
    assert!(
        st.success(),
        "{}: mirrorcap run failed:\n{stderr}",
        row.file
    );
    if observed.rx_packets != n {
        f.push(format!(
            "scrape never showed all {n} packets received and decided; last scrape: rx {} captured {} drops {:?}; stderr:\n{stderr}",
            observed.rx_packets, observed.captured, observed.drops
        ));
    }
    let summary_line = format!(
        "received {} packets, captured {} (",
        observed.rx_packets, observed.captured
    );
    if !stderr.contains(&summary_line) {
        f.push(format!(
            "the exit summary does not match the last scrape ({summary_line}...):\n{stderr}"
        ));
    }
    compare_summaries(&mut f, &observed, &expected);
    check_hand(&mut f, &observed, &row.hand);

    // 4. The exported frames, one by one, against the oracle and tshark.
    export_ring(&ring, &out, &[]);
    assert_readable_by_tools(&out);
    let exported = read_capture(&out);
    let exported_dissections = pdml(&out, &[]);
    assert_eq!(exported.len(), exported_dissections.len());
    let captured: Vec<(usize, &Frame)> = decisions
        .iter()
        .enumerate()
        .filter_map(|(i, (p, _))| p.as_ref().ok().map(|fr| (i, fr)))
        .collect();
    expect_eq(&mut f, "exported records", exported.len(), captured.len());
    for ((i, fr), (rec, out_d)) in captured
        .iter()
        .zip(exported.iter().zip(&exported_dissections))
    {
        let ctx = format!("packet #{} (exported #{})", i + 1, out_d.number);
        check_exported(
            &mut f,
            &ctx,
            fr,
            &packets[*i].data,
            &dissections[*i],
            rec,
            out_d,
        );
    }
    Report {
        observed,
        failures: f,
    }
}

/// Polls /metrics until every packet is received and decided (captured or dropped), keeping the
/// last answered scrape (the process stops itself 1 s after the last packet).
fn scrape_settled(app: &Appliance, n: u64, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    loop {
        let (code, body) = app.get("/metrics");
        if code == 200 {
            let s = observed_summary(&body);
            let decided = s.captured + s.drops.values().sum::<u64>();
            last = body;
            if s.rx_packets == n && decided == n {
                return last;
            }
        }
        if Instant::now() > deadline {
            return last;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn m(text: &str, name: &str, labels: &[(&str, &str)]) -> u64 {
    metric(text, name, labels).unwrap_or(0.0) as u64
}

/// Every sample of `name` by the value of `label` (summed over the other labels).
fn by_label(text: &str, name: &str, label: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let key = format!("{label}=\"");
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Some((n, labels)) = series.split_once('{') else {
            continue;
        };
        if n != name {
            continue;
        }
        let Some(start) = labels.find(&key) else {
            continue;
        };
        let v = &labels[start + key.len()..];
        let v = &v[..v.find('"').unwrap_or(v.len())];
        *out.entry(v.to_string()).or_insert(0) += value.parse::<f64>().unwrap_or(0.0) as u64;
    }
    out
}

fn observed_summary(text: &str) -> Summary {
    let mut drops = BTreeMap::new();
    for r in 0..DROP_REASONS {
        let l = drop_reason_label(r);
        let v = m(text, "mirrorcap_dropped_packets_total", &[("reason", l)]);
        if v > 0 {
            drops.insert(l.to_string(), v);
        }
    }
    let trunc = by_label(text, "mirrorcap_vni_truncated_packets_total", "vni");
    let vnis = by_label(text, "mirrorcap_vni_captured_packets_total", "vni")
        .into_iter()
        .filter(|(_, v)| *v > 0)
        .map(|(k, v)| {
            let t = trunc.get(&k).copied().unwrap_or(0);
            (k.parse::<u32>().unwrap_or(u32::MAX), (v, t))
        })
        .collect();
    Summary {
        rx_packets: m(text, "mirrorcap_rx_packets_total", &[]),
        rx_bytes: m(text, "mirrorcap_rx_bytes_total", &[]),
        captured: m(text, "mirrorcap_captured_packets_total", &[]),
        captured_bytes: m(text, "mirrorcap_captured_bytes_total", &[]),
        drops,
        truncated: m(text, "mirrorcap_truncated_packets_total", &[]),
        reserved_bits: m(text, "mirrorcap_vxlan_reserved_nonzero_packets_total", &[]),
        vnis,
    }
}

fn expected_summary(packets: &[Record], decisions: &[(Decision, Decision)]) -> Summary {
    let mut s = Summary {
        rx_packets: packets.len() as u64,
        rx_bytes: packets.iter().map(|p| p.data.len() as u64).sum(),
        ..Summary::default()
    };
    for (p, _) in decisions {
        match p {
            Ok(fr) => {
                s.captured += 1;
                s.captured_bytes += fr.exported_len() as u64;
                let t = (fr.truncated_by > 0) as u64;
                s.truncated += t;
                s.reserved_bits += fr.reserved_bits as u64;
                let e = s.vnis.entry(fr.vni).or_default();
                e.0 += 1;
                e.1 += t;
            }
            Err(d) => *s.drops.entry(d.reason.to_string()).or_default() += 1,
        }
    }
    s
}

fn compare_summaries(f: &mut Vec<String>, got: &Summary, want: &Summary) {
    let known: Vec<&str> = (0..DROP_REASONS).map(drop_reason_label).collect();
    for r in want.drops.keys() {
        if !known.contains(&r.as_str()) {
            f.push(format!(
                "oracle reason {r} is not a mirrorcap drop reason {known:?}"
            ));
        }
    }
    expect_eq(f, "rx packets", got.rx_packets, want.rx_packets);
    expect_eq(f, "rx bytes", got.rx_bytes, want.rx_bytes);
    expect_eq(f, "captured packets", got.captured, want.captured);
    expect_eq(f, "captured bytes", got.captured_bytes, want.captured_bytes);
    expect_eq(f, "drops by reason", &got.drops, &want.drops);
    expect_eq(
        f,
        "truncated packets (inner IP or innermost UDP length beyond the bytes present)",
        got.truncated,
        want.truncated,
    );
    expect_eq(
        f,
        "VXLAN reserved-bit packets",
        got.reserved_bits,
        want.reserved_bits,
    );
    expect_eq(f, "per-VNI (captured, truncated)", &got.vnis, &want.vnis);
}

fn check_hand(f: &mut Vec<String>, got: &Summary, hand: &Hand) {
    let drops: BTreeMap<String, u64> = hand
        .drops
        .iter()
        .map(|(r, n)| (r.to_string(), *n))
        .collect();
    let vnis: BTreeMap<u32, u64> = hand.vnis.iter().copied().collect();
    let got_vnis: BTreeMap<u32, u64> = got.vnis.iter().map(|(k, v)| (*k, v.0)).collect();
    expect_eq(f, "hand-checked: captured", got.captured, hand.captured);
    expect_eq(f, "hand-checked: drops", &got.drops, &drops);
    if let Some(t) = hand.truncated {
        expect_eq(f, "hand-checked: truncated", got.truncated, t);
    }
    expect_eq(f, "hand-checked: VNIs", &got_vnis, &vnis);
    expect_eq(
        f,
        "hand-checked: reserved bits",
        got.reserved_bits,
        hand.reserved_bits,
    );
}

/// `mirrorcap_decap::decap` on the packet's bytes returns the oracle's decap decision.
fn check_library(f: &mut Vec<String>, ctx: &str, bytes: &[u8], cfg: &Config, want: &Decision) {
    let dc = DecapConfig {
        vxlan_ports: cfg.vxlan.clone(),
        geneve_ports: cfg.geneve.clone(),
        max_depth: cfg.max_depth,
    };
    match (decap(bytes, &dc), want) {
        (Err(r), Err(d)) => expect_eq(
            f,
            format!("{ctx}: decap drop reason ({})", d.why),
            r.as_str(),
            d.reason,
        ),
        (Ok(got), Ok(w)) => {
            let m = &got.meta;
            let kind = match w.tunnel {
                Tunnel::Vxlan => TunnelKind::Vxlan,
                Tunnel::Geneve => TunnelKind::Geneve,
            };
            let inner = match w.inner {
                Inner::Eth => InnerKind::Ethernet,
                Inner::V4 => InnerKind::Ipv4,
                Inner::V6 => InnerKind::Ipv6,
            };
            let c = |what: &str| format!("{ctx}: decap {what}");
            expect_eq(f, c("inner_offset"), got.inner_offset, w.offset);
            expect_eq(f, c("inner_len"), got.inner_len, w.len);
            expect_eq(f, c("kind"), m.kind, kind);
            expect_eq(f, c("inner"), m.inner, inner);
            expect_eq(f, c("vni"), m.vni, w.vni);
            expect_eq(f, c("geneve_vni"), m.geneve_vni, w.geneve_vni);
            expect_eq(f, c("depth"), m.depth, w.depth);
            expect_eq(f, c("outer_src"), m.outer_src, w.outer_src);
            expect_eq(f, c("outer_dst"), m.outer_dst, w.outer_dst);
            expect_eq(f, c("outer_src_port"), m.outer_src_port, w.outer_src_port);
            expect_eq(f, c("outer_vlans"), m.outer_vlans, w.outer_vlans);
            expect_eq(
                f,
                c("vxlan_reserved_bits"),
                m.vxlan_reserved_bits,
                w.reserved_bits,
            );
            expect_eq(f, c("geneve_options"), m.geneve_options, w.geneve_options);
            expect_eq(f, c("aws"), m.aws, w.aws);
            expect_eq(f, c("truncated_by"), m.truncated_by, w.truncated_by);
        }
        (Ok(got), Err(d)) => f.push(format!(
            "{ctx}: decap returned a frame at {}+{}, expected drop {} ({})",
            got.inner_offset, got.inner_len, d.reason, d.why
        )),
        (Err(r), Ok(w)) => f.push(format!(
            "{ctx}: decap dropped it ({r}), expected the frame at {}+{} (VNI {})",
            w.offset, w.len, w.vni
        )),
    }
}

/// Design (src/pipeline): a bare IP payload is written behind this 14-byte Ethernet header,
/// destination 02:6d:63:00:00:02, source 02:6d:63:00:00:01, EtherType of the packet.
const SYNTH_DST: &str = "02:6d:63:00:00:02";
const SYNTH_SRC: &str = "02:6d:63:00:00:01";

fn synthetic_header(inner: Inner) -> Vec<u8> {
    let mut h = vec![2, 0x6d, 0x63, 0, 0, 2, 2, 0x6d, 0x63, 0, 0, 1];
    match inner {
        Inner::Eth => return Vec::new(),
        Inner::V4 => h.extend([0x08, 0x00]),
        Inner::V6 => h.extend([0x86, 0xdd]),
    }
    h
}

/// One exported record against the oracle's frame and tshark's view of the input.
fn check_exported(
    f: &mut Vec<String>,
    ctx: &str,
    fr: &Frame,
    input: &[u8],
    in_d: &Dissection,
    rec: &Record,
    out_d: &Dissection,
) {
    let mut want = synthetic_header(fr.inner);
    want.extend_from_slice(&input[fr.offset..fr.offset + fr.len]);
    expect_eq(
        f,
        format!("{ctx}: exported length"),
        rec.data.len(),
        want.len(),
    );
    if rec.data != want {
        let at = rec
            .data
            .iter()
            .zip(&want)
            .position(|(a, b)| a != b)
            .unwrap_or(rec.data.len().min(want.len()));
        f.push(format!(
            "{ctx}: exported bytes differ from the input's bytes {}..{} (first difference at {at})",
            fr.offset,
            fr.offset + fr.len
        ));
    }
    let orig = want.len() + fr.truncated_by as usize;
    expect_eq(f, format!("{ctx}: orig_len"), rec.orig_len as usize, orig);
    expect_eq(f, format!("{ctx}: tshark frame.len"), out_d.len, orig);
    expect_eq(
        f,
        format!("{ctx}: tshark frame.cap_len"),
        out_d.cap_len,
        want.len(),
    );

    // Ethernet header: the input's mirrored frame as tshark dissects it, or the synthetic one.
    let end = fr.offset + fr.len;
    let (src, dst, ty) = match fr.inner {
        Inner::Eth => {
            let e = in_d.proto_at(&["eth"], fr.offset);
            (
                e.and_then(|e| e.show("eth.src")),
                e.and_then(|e| e.show("eth.dst")),
                e.and_then(|e| e.show("eth.type")),
            )
        }
        Inner::V4 => (
            Some(SYNTH_SRC.into()),
            Some(SYNTH_DST.into()),
            Some("0x0800".into()),
        ),
        Inner::V6 => (
            Some(SYNTH_SRC.into()),
            Some(SYNTH_DST.into()),
            Some("0x86dd".into()),
        ),
    };
    let oe = out_d.protos.iter().find(|p| p.name == "eth");
    expect_eq(
        f,
        format!("{ctx}: eth.src"),
        oe.and_then(|e| e.show("eth.src")),
        src,
    );
    expect_eq(
        f,
        format!("{ctx}: eth.dst"),
        oe.and_then(|e| e.show("eth.dst")),
        dst,
    );
    expect_eq(
        f,
        format!("{ctx}: eth.type"),
        oe.and_then(|e| e.show("eth.type")),
        ty,
    );

    // The first IP header of the mirrored frame (none for ARP).
    let addrs = |p: &Proto| {
        let v = if p.name == "ip" { "ip" } else { "ipv6" };
        (p.show(&format!("{v}.src")), p.show(&format!("{v}.dst")))
    };
    let in_ip = in_d
        .protos
        .iter()
        .find(|p| (p.name == "ip" || p.name == "ipv6") && p.pos >= fr.offset && p.pos < end)
        .map(addrs);
    let out_ip = out_d
        .protos
        .iter()
        .find(|p| p.name == "ip" || p.name == "ipv6")
        .map(addrs);
    expect_eq(f, format!("{ctx}: inner IP src/dst"), out_ip, in_ip);
}

// ------------------------------------------------------------------------------------------
// The oracle: the decap rules of DESIGN.md §1 / src/decap over tshark's dissection.
// ------------------------------------------------------------------------------------------

const NOT_MIRROR: &str = "not_mirror";
const TRUNCATED_HEADER: &str = "truncated_header";
const BAD_IP_HEADER: &str = "bad_ip_header";
const OUTER_FRAGMENT: &str = "outer_fragment";
const BAD_UDP_LENGTH: &str = "bad_udp_length";
const BAD_VXLAN_FLAGS: &str = "bad_vxlan_flags";
const BAD_GENEVE_HEADER: &str = "bad_geneve_header";
const UNSUPPORTED_PAYLOAD: &str = "unsupported_payload";
const TUNNEL_TOO_DEEP: &str = "tunnel_too_deep";
const OVERSIZE_FRAME: &str = "oversize_frame";

/// The largest frame one mbuf holds: run.rs sizes the pools' data room as MAX_FRAME plus
/// headroom, and net_pcap chains mbufs for a larger record.
const ONE_MBUF: usize = mirrorcap::run::MAX_FRAME as usize;

/// The ports and depth `mirrorcap run` uses, from the same flags (CLI defaults otherwise).
#[derive(Clone, Debug)]
struct Config {
    vxlan: Vec<u16>,
    geneve: Vec<u16>,
    max_depth: u8,
}

impl Config {
    fn from_args(args: &[&str]) -> Config {
        let (mut vxlan, mut geneve, mut max_depth) = (Vec::new(), Vec::new(), 3);
        for w in args.windows(2) {
            match w[0] {
                "--vxlan-port" => vxlan.push(w[1].parse().unwrap()),
                "--geneve-port" => geneve.push(w[1].parse().unwrap()),
                "--max-depth" => max_depth = w[1].parse().unwrap(),
                _ => {}
            }
        }
        // A flag given replaces the default list (clap's default_values).
        if vxlan.is_empty() {
            vxlan.push(4789);
        }
        if geneve.is_empty() {
            geneve.push(6081);
        }
        Config {
            vxlan,
            geneve,
            max_depth,
        }
    }

    /// tshark decodes 4789 as VXLAN and 6081 as Geneve; other configured ports are told.
    fn decode_as(&self) -> Vec<String> {
        let mut v = Vec::new();
        for p in self.vxlan.iter().filter(|&&p| p != 4789) {
            v.push(format!("udp.port=={p},vxlan"));
        }
        for p in self.geneve.iter().filter(|&&p| p != 6081) {
            v.push(format!("udp.port=={p},geneve"));
        }
        v
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Inner {
    Eth,
    V4,
    V6,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tunnel {
    Vxlan,
    Geneve,
}

/// A captured frame as the oracle predicts it.
#[derive(Clone, Debug)]
struct Frame {
    offset: usize,
    len: usize,
    inner: Inner,
    tunnel: Tunnel,
    vni: u32,
    geneve_vni: Option<u32>,
    depth: u8,
    reserved_bits: bool,
    truncated_by: u32,
    outer_src: IpAddr,
    outer_dst: IpAddr,
    outer_src_port: u16,
    outer_vlans: u8,
    geneve_options: u8,
    aws: GeneveAws,
}

impl Frame {
    fn exported_len(&self) -> usize {
        self.len + if self.inner == Inner::Eth { 0 } else { 14 }
    }
}

#[derive(Clone, Debug)]
struct Dropped {
    reason: &'static str,
    why: String,
}

type Decision = Result<Frame, Dropped>;

fn reject<T>(reason: &'static str, why: impl Into<String>) -> Result<T, Dropped> {
    Err(Dropped {
        reason,
        why: why.into(),
    })
}

struct L2 {
    ethertype: u64,
    tags: u8,
    end: usize,
}

struct L3 {
    src: IpAddr,
    dst: IpAddr,
    udp: usize,
    /// The end of the IP packet's bytes present.
    end: usize,
    /// Where the IP length says the packet ends (beyond `end` when the frame was cut).
    claimed_end: usize,
}

#[derive(Clone, Copy)]
struct Udp {
    src_port: u16,
    tunnel: Tunnel,
    payload: usize,
    /// The end of the datagram's bytes present.
    end: usize,
    /// Where the UDP length says the datagram ends (beyond `end` when the frame was cut).
    claimed_end: usize,
}

struct Geneve {
    vni: u32,
    options: u8,
    aws: GeneveAws,
    inner: Inner,
    payload: usize,
}

struct Oracle<'a> {
    d: &'a Dissection,
    cfg: &'a Config,
    ctx: String,
}

/// VLAN TPIDs accepted on the outer frame (802.1Q, 802.1ad, the old QinQ 0x9100).
const TPIDS: [u64; 3] = [0x8100, 0x88a8, 0x9100];

impl Oracle<'_> {
    /// tshark did not dissect something the rules need: the oracle cannot decide.
    fn gap(&self, what: String) -> ! {
        panic!(
            "oracle: {}: tshark's dissection lacks {what}; extend the oracle",
            self.ctx
        )
    }

    fn proto(&self, names: &[&str], pos: usize) -> &Proto {
        self.d
            .proto_at(names, pos)
            .unwrap_or_else(|| self.gap(format!("a {names:?} layer at byte {pos}")))
    }

    fn num(&self, p: &Proto, names: &[&str]) -> u64 {
        names
            .iter()
            .find_map(|n| p.num(n))
            .unwrap_or_else(|| self.gap(format!("{names:?} in {} at {}", p.name, p.pos)))
    }

    /// A field as sent on the wire (its raw bytes), where tshark's shown value is interpreted.
    fn raw(&self, p: &Proto, name: &str) -> u64 {
        p.field(name)
            .map(|f| hex_bytes(&f.value))
            .filter(|b| !b.is_empty() && b.len() <= 8)
            .map(|b| b.iter().fold(0u64, |a, &x| a << 8 | u64::from(x)))
            .unwrap_or_else(|| self.gap(format!("the raw value of {name} at {}", p.pos)))
    }

    fn addr(&self, p: &Proto, name: &str) -> IpAddr {
        p.show(name)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| self.gap(format!("{name} at {}", p.pos)))
    }

    /// The pipeline's decision: a frame that does not fit one mbuf never reaches decap.
    fn pipeline(&self, decap: Decision) -> Decision {
        // Design: tshark has no notion of mbufs; mirrorcap drops a multi-segment packet as
        // oversize_frame before decap (a 9001-MTU ENI never delivers one).
        if self.d.cap_len > ONE_MBUF {
            return reject(
                OVERSIZE_FRAME,
                format!("{} bytes > one mbuf ({ONE_MBUF})", self.d.cap_len),
            );
        }
        decap
    }

    /// The decap decision for the whole received frame.
    fn decap(&self) -> Decision {
        let cap = self.d.cap_len;
        let l2 = self.l2(0, cap)?;
        // Nothing encloses the received frame: any IP length beyond it is a cut.
        let l3 = self.l3(l2.ethertype, l2.end, cap, usize::MAX)?;
        let mut udp = self.udp(l3.udp, l3.end, l3.claimed_end)?;
        let outer_src_port = udp.src_port;
        let mut depth = 0u8;
        let mut outer_geneve: Option<(u32, u8, GeneveAws)> = None;
        loop {
            if depth >= self.cfg.max_depth {
                return reject(
                    TUNNEL_TOO_DEEP,
                    format!("more than {} tunnel headers", self.cfg.max_depth),
                );
            }
            depth += 1;
            let (offset, inner, tunnel, vni, reserved_bits) = match udp.tunnel {
                // Design: VXLAN ends the walk; its payload is the mirrored frame even when
                // that frame is itself VXLAN (tshark goes on decoding VXLAN in VXLAN).
                Tunnel::Vxlan => {
                    let (vni, reserved) = self.vxlan(udp.payload, udp.end)?;
                    (udp.payload + 8, Inner::Eth, Tunnel::Vxlan, vni, reserved)
                }
                Tunnel::Geneve => {
                    let g = self.geneve(udp.payload, udp.end)?;
                    outer_geneve.get_or_insert((g.vni, g.options, g.aws));
                    // Design: a Geneve payload that is an IP/UDP datagram to a tunnel port (GWLB:
                    // Geneve → IPv4 → UDP 4789 → VXLAN) is decapsulated further.
                    if let Some(next) = self.nested(g.inner, g.payload, udp.end, udp.claimed_end) {
                        udp = next;
                        continue;
                    }
                    (g.payload, g.inner, Tunnel::Geneve, g.vni, false)
                }
            };
            let (geneve_vni, geneve_options, aws) = match outer_geneve {
                Some((v, o, a)) => (Some(v), o, a),
                None => (None, 0, GeneveAws::default()),
            };
            return Ok(Frame {
                offset,
                len: udp.end - offset,
                inner,
                tunnel,
                vni,
                geneve_vni,
                depth,
                reserved_bits,
                // Design: a frame cut after its headers (a snaplen capture) lacks what the
                // innermost UDP length claims beyond the bytes present; AWS truncation shows in
                // the mirrored frame's own IP length; the larger shortfall is the truncation.
                truncated_by: ((udp.claimed_end - udp.end) as u32)
                    .max(self.truncated_by(inner, offset, udp.end)),
                outer_src: l3.src,
                outer_dst: l3.dst,
                outer_src_port,
                outer_vlans: l2.tags,
                geneve_options,
                aws,
            });
        }
    }

    /// Ethernet and up to two VLAN tags at `off`, within `end`.
    fn l2(&self, off: usize, end: usize) -> Result<L2, Dropped> {
        if end < off + 14 {
            return reject(TRUNCATED_HEADER, "Ethernet header cut short");
        }
        let eth = self.proto(&["eth"], off);
        let mut ethertype = self.num(eth, &["eth.type", "eth.len"]);
        let mut cur = off + 14;
        let mut tags = 0u8;
        while TPIDS.contains(&ethertype) {
            if tags == 2 {
                return reject(NOT_MIRROR, "a third VLAN tag");
            }
            if end < cur + 4 {
                return reject(TRUNCATED_HEADER, "VLAN tag cut short");
            }
            let tag = self.proto(&["vlan", "ieee8021ad"], cur);
            ethertype = self.num(tag, &["vlan.etype", "vlan.len", "ieee8021ah.etype"]);
            tags += 1;
            cur += 4;
        }
        Ok(L2 {
            ethertype,
            tags,
            end: cur,
        })
    }

    /// An IPv4/IPv6 header at `off` that must carry an unfragmented UDP datagram, with bytes
    /// present up to `end` and an enclosing length that allows up to `bound`.
    fn l3(&self, ethertype: u64, off: usize, end: usize, bound: usize) -> Result<L3, Dropped> {
        let present = end - off;
        match ethertype {
            0x0800 => {
                if present < 20 {
                    return reject(TRUNCATED_HEADER, "IPv4 header cut short");
                }
                let ip = self.proto(&["ip"], off);
                let version = self.num(ip, &["ip.version"]);
                let hl = self.num(ip, &["ip.hdr_len"]) as usize;
                if version != 4 || hl < 20 {
                    return reject(BAD_IP_HEADER, format!("IPv4 version {version} IHL {hl}"));
                }
                if present < hl {
                    return reject(TRUNCATED_HEADER, "IPv4 options cut short");
                }
                // Design: the total length as sent; tshark shows the captured length instead of
                // a 0 ("presumed TSO"), mirrorcap takes 0 for what it is: below IHL, a bad header.
                let tl = self.raw(ip, "ip.len") as usize;
                // Design: a total length beyond the bytes present is a frame cut after its
                // headers (a snaplen capture, replayed): decap goes on with the bytes present.
                // Beyond what the enclosing length allows, it is a bad header.
                if tl < hl || off.saturating_add(tl) > bound {
                    return reject(
                        BAD_IP_HEADER,
                        format!("IPv4 total length {tl} with {present} bytes present"),
                    );
                }
                if self.num(ip, &["ip.flags.mf"]) != 0 || self.num(ip, &["ip.frag_offset"]) != 0 {
                    return reject(OUTER_FRAGMENT, "IPv4 fragment");
                }
                let proto = self.num(ip, &["ip.proto"]);
                if proto != 17 {
                    return reject(NOT_MIRROR, format!("IPv4 protocol {proto}, not UDP"));
                }
                Ok(L3 {
                    src: self.addr(ip, "ip.src"),
                    dst: self.addr(ip, "ip.dst"),
                    udp: off + hl,
                    end: (off + tl).min(end),
                    claimed_end: off + tl,
                })
            }
            0x86dd => {
                if present < 40 {
                    return reject(TRUNCATED_HEADER, "IPv6 header cut short");
                }
                let ip = self.proto(&["ipv6"], off);
                let version = self.num(ip, &["ipv6.version"]);
                let plen = self.raw(ip, "ipv6.plen") as usize;
                // Design: as for IPv4, a payload length beyond the bytes present is a cut.
                if version != 6 || (off + 40).saturating_add(plen) > bound {
                    return reject(
                        BAD_IP_HEADER,
                        format!("IPv6 version {version}, payload length {plen} with {present} bytes present"),
                    );
                }
                // Design: payload length 0 (jumbogram, or BIG TCP/GSO captured before
                // segmentation) is a bad header; tshark assumes TSO and dissects on.
                if plen == 0 {
                    return reject(BAD_IP_HEADER, "IPv6 payload length 0");
                }
                let claimed_end = off + 40 + plen;
                let ip_end = claimed_end.min(end);
                let mut next = self.num(ip, &["ipv6.nxt"]);
                let mut cur = off + 40;
                let mut walked = 0;
                loop {
                    match next {
                        17 => {
                            return Ok(L3 {
                                src: self.addr(ip, "ipv6.src"),
                                dst: self.addr(ip, "ipv6.dst"),
                                udp: cur,
                                end: ip_end,
                                claimed_end,
                            })
                        }
                        44 => return reject(OUTER_FRAGMENT, "IPv6 fragment header"),
                        0 | 43 | 60 => {
                            if walked == 8 {
                                return reject(NOT_MIRROR, "more than 8 IPv6 extension headers");
                            }
                            walked += 1;
                            if ip_end < cur + 8 {
                                return reject(TRUNCATED_HEADER, "IPv6 extension header cut short");
                            }
                            let ext =
                                self.proto(&["ipv6.hopopts", "ipv6.routing", "ipv6.dstopts"], cur);
                            let len = self.num(ext, &[&format!("{}.len_oct", ext.name)]) as usize;
                            if ip_end < cur + len {
                                return reject(TRUNCATED_HEADER, "IPv6 extension header cut short");
                            }
                            next = self.num(ext, &[&format!("{}.nxt", ext.name)]);
                            cur += len;
                        }
                        n => return reject(NOT_MIRROR, format!("IPv6 next header {n}, not UDP")),
                    }
                }
            }
            t => reject(NOT_MIRROR, format!("EtherType {t:#06x}, not IP")),
        }
    }

    /// A UDP header at `off` in an IP payload whose bytes present end at `end` and whose IP
    /// length says it ends at `claimed_end`.
    fn udp(&self, off: usize, end: usize, claimed_end: usize) -> Result<Udp, Dropped> {
        if end < off + 8 {
            return reject(TRUNCATED_HEADER, "UDP header cut short");
        }
        let u = self.proto(&["udp"], off);
        // Design: only the destination port selects the tunnel (tshark also tries the source
        // port and heuristics).
        let port = self.num(u, &["udp.dstport"]) as u16;
        let tunnel = if self.cfg.vxlan.contains(&port) {
            Tunnel::Vxlan
        } else if self.cfg.geneve.contains(&port) {
            Tunnel::Geneve
        } else {
            return reject(NOT_MIRROR, format!("UDP to port {port}"));
        };
        let len = self.num(u, &["udp.length"]) as usize;
        if len < 8 || off + len > claimed_end {
            return reject(
                BAD_UDP_LENGTH,
                format!(
                    "UDP length {len} with {} bytes in the IP payload",
                    end - off
                ),
            );
        }
        Ok(Udp {
            src_port: self.num(u, &["udp.srcport"]) as u16,
            tunnel,
            payload: off + 8,
            end: (off + len).min(end),
            claimed_end: off + len,
        })
    }

    /// A VXLAN header at `p` in a UDP payload ending at `end`: (VNI, reserved bits set).
    fn vxlan(&self, p: usize, end: usize) -> Result<(u32, bool), Dropped> {
        if end < p + 8 {
            return reject(TRUNCATED_HEADER, "VXLAN header cut short");
        }
        let vx = self.proto(&["vxlan"], p);
        if self.num(vx, &["vxlan.flag_i", "vxlan.i_bit"]) == 0 {
            return reject(BAD_VXLAN_FLAGS, "VXLAN I flag clear");
        }
        if end - (p + 8) < 14 {
            return reject(
                TRUNCATED_HEADER,
                "mirrored frame shorter than an Ethernet header",
            );
        }
        // Every bit but the I flag and the VNI: the 16 flag bits, the 16 bits after them
        // (tshark: GBP group or reserved), the last reserved byte.
        let flags = self.num(vx, &["vxlan.flags"]);
        let middle = self.num(vx, &["vxlan.gbp", "vxlan.reserved_16"]);
        let last = self.num(vx, &["vxlan.reserved8"]);
        let reserved = flags & !0x0800 != 0 || middle != 0 || last != 0;
        Ok((self.num(vx, &["vxlan.vni"]) as u32, reserved))
    }

    /// A Geneve header at `p` in a UDP payload ending at `end`.
    fn geneve(&self, p: usize, end: usize) -> Result<Geneve, Dropped> {
        if end < p + 8 {
            return reject(TRUNCATED_HEADER, "Geneve header cut short");
        }
        let g = self.proto(&["geneve"], p);
        let version = self.num(g, &["geneve.version"]);
        if version != 0 {
            return reject(BAD_GENEVE_HEADER, format!("Geneve version {version}"));
        }
        // The header's own "Length" field (tshark names it like the options' length).
        let opt_len = g
            .fields
            .iter()
            .find(|f| f.name == "geneve.option.length" && f.pos == p)
            .and_then(Field::num)
            .unwrap_or_else(|| self.gap(format!("the Geneve option length at {p}")))
            as usize;
        let area_end = p + 8 + opt_len;
        if end < area_end {
            return reject(TRUNCATED_HEADER, "Geneve option area cut short");
        }
        if self.num(g, &["geneve.flags.oam"]) != 0 {
            return reject(NOT_MIRROR, "Geneve OAM frame");
        }
        // The options must tile the option area exactly.
        let mut at = p + 8;
        let mut options = 0u8;
        let mut aws = GeneveAws::default();
        for opt in g.fields.iter().filter(|f| f.name == "geneve.option") {
            if opt.pos != at || opt.pos + opt.size > area_end {
                return reject(BAD_GENEVE_HEADER, "Geneve option overruns the option area");
            }
            at += opt.size;
            options = options.saturating_add(1);
            // AWS GWLB options, class 0x0108, type byte 1/2/3 (as sent); first valid one wins.
            let raw = hex_bytes(&opt.value);
            if raw.len() >= 4 && raw[0..2] == [0x01, 0x08] {
                let data = &raw[4..];
                match raw[2] {
                    1 if aws.endpoint_id.is_none() => {
                        aws.endpoint_id = data.try_into().ok().map(u64::from_be_bytes)
                    }
                    2 if aws.attachment_id.is_none() => {
                        aws.attachment_id = data.try_into().ok().map(u64::from_be_bytes)
                    }
                    3 if aws.flow_cookie.is_none() => {
                        aws.flow_cookie = data.try_into().ok().map(u32::from_be_bytes)
                    }
                    _ => {}
                }
            }
        }
        if at != area_end {
            return reject(
                BAD_GENEVE_HEADER,
                "Geneve options do not fill the option area",
            );
        }
        let pt = self.num(g, &["geneve.proto_type"]);
        let (inner, min) = match pt {
            0x6558 => (Inner::Eth, 14),
            0x0800 => (Inner::V4, 20),
            0x86dd => (Inner::V6, 40),
            _ => return reject(UNSUPPORTED_PAYLOAD, format!("Geneve protocol {pt:#06x}")),
        };
        if end - area_end < min {
            return reject(
                TRUNCATED_HEADER,
                format!("Geneve payload of {} bytes", end - area_end),
            );
        }
        Ok(Geneve {
            vni: self.num(g, &["geneve.vni"]) as u32,
            options,
            aws,
            inner,
            payload: area_end,
        })
    }

    /// The UDP datagram to a tunnel port that a Geneve payload carries, if it is one (any
    /// failure means the payload is the customer's packet, captured as it is). The payload's
    /// bytes present end at `end`; the Geneve packet's UDP length allows up to `bound`.
    fn nested(&self, inner: Inner, q: usize, end: usize, bound: usize) -> Option<Udp> {
        let (ethertype, ip) = match inner {
            Inner::Eth => {
                let l2 = self.l2(q, end).ok()?;
                (l2.ethertype, l2.end)
            }
            Inner::V4 => (0x0800, q),
            Inner::V6 => (0x86dd, q),
        };
        let l3 = self.l3(ethertype, ip, end, bound).ok()?;
        self.udp(l3.udp, l3.end, l3.claimed_end).ok()
    }

    /// Bytes the mirrored frame's IP header claims beyond those present (0 when not IP).
    fn truncated_by(&self, inner: Inner, off: usize, end: usize) -> u32 {
        let (ethertype, ip) = match inner {
            Inner::Eth => match self.l2(off, end) {
                Ok(l2) => (l2.ethertype, l2.end),
                Err(_) => return 0,
            },
            Inner::V4 => (0x0800, off),
            Inner::V6 => (0x86dd, off),
        };
        let present = end - ip;
        let claimed = match ethertype {
            0x0800 if present >= 20 => {
                let p = self.proto(&["ip"], ip);
                (self.num(p, &["ip.version"]) == 4).then(|| self.raw(p, "ip.len"))
            }
            0x86dd if present >= 40 => {
                let p = self.proto(&["ipv6"], ip);
                (self.num(p, &["ipv6.version"]) == 6).then(|| 40 + self.raw(p, "ipv6.plen"))
            }
            _ => None,
        };
        claimed.map_or(0, |c| c.saturating_sub(present as u64) as u32)
    }
}

// ------------------------------------------------------------------------------------------
// tshark's PDML, and the captures' bytes.
// ------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Field {
    name: String,
    show: String,
    value: String,
    pos: usize,
    size: usize,
}

impl Field {
    fn num(&self) -> Option<u64> {
        let s = self.show.as_str();
        match s {
            "True" => Some(1),
            "False" => Some(0),
            _ => match s.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).ok(),
                None => s.parse().ok(),
            },
        }
    }
}

#[derive(Debug)]
struct Proto {
    name: String,
    pos: usize,
    fields: Vec<Field>,
}

impl Proto {
    fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
    fn num(&self, name: &str) -> Option<u64> {
        self.field(name).and_then(Field::num)
    }
    fn show(&self, name: &str) -> Option<String> {
        self.field(name).map(|f| f.show.clone())
    }
}

/// One packet as tshark dissects it: its layers in document order, each with its own fields.
#[derive(Debug)]
struct Dissection {
    number: usize,
    cap_len: usize,
    len: usize,
    protos: Vec<Proto>,
}

impl Dissection {
    fn proto_at(&self, names: &[&str], pos: usize) -> Option<&Proto> {
        self.protos
            .iter()
            .find(|p| p.pos == pos && names.contains(&p.name.as_str()))
    }
}

fn attr<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!(" {key}=\"");
    let start = line.find(&pat)? + pat.len();
    let rest = &line[start..];
    Some(&rest[..rest.find('"')?])
}

fn hex_bytes(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
        .collect()
}

/// `tshark -T pdml` of `path`, parsed line by line (tshark writes one element per line).
fn pdml(path: &Path, decode_as: &[String]) -> Vec<Dissection> {
    let mut args = vec!["-n", "-r", path.to_str().unwrap(), "-T", "pdml"];
    for d in decode_as {
        args.extend(["-d", d.as_str()]);
    }
    let (ok, out, err) = tool("tshark", &args);
    assert!(ok, "tshark {args:?}: {err}");
    let mut packets: Vec<Dissection> = Vec::new();
    // Indices of the open <proto> elements of the current packet.
    let mut open: Vec<usize> = Vec::new();
    for line in out.lines().map(str::trim_start) {
        if line.starts_with("<packet") {
            packets.push(Dissection {
                number: packets.len() + 1,
                cap_len: 0,
                len: 0,
                protos: Vec::new(),
            });
            open.clear();
        } else if line.starts_with("</proto>") {
            open.pop();
        } else if line.starts_with("<proto ") {
            let pkt = packets.last_mut().expect("<proto> inside <packet>");
            pkt.protos.push(Proto {
                name: attr(line, "name").unwrap_or("").to_string(),
                pos: attr(line, "pos").and_then(|v| v.parse().ok()).unwrap_or(0),
                fields: Vec::new(),
            });
            if !line.ends_with("/>") {
                open.push(pkt.protos.len() - 1);
            }
        } else if line.starts_with("<field ") {
            let pkt = packets.last_mut().expect("<field> inside <packet>");
            let fld = Field {
                name: attr(line, "name").unwrap_or("").to_string(),
                show: attr(line, "show").unwrap_or("").to_string(),
                value: attr(line, "value").unwrap_or("").to_string(),
                pos: attr(line, "pos").and_then(|v| v.parse().ok()).unwrap_or(0),
                size: attr(line, "size").and_then(|v| v.parse().ok()).unwrap_or(0),
            };
            match fld.name.as_str() {
                "frame.len" => pkt.len = fld.num().unwrap_or(0) as usize,
                "frame.cap_len" => pkt.cap_len = fld.num().unwrap_or(0) as usize,
                _ => {}
            }
            if let Some(&i) = open.last() {
                pkt.protos[i].fields.push(fld);
            }
        }
    }
    packets
}

/// A record of a capture file.
struct Record {
    data: Vec<u8>,
    orig_len: u32,
}

/// Every packet of a pcap or pcapng file, read with the `pcap-file` crate.
/// Cuts every record of the pcap at `path` to `snaplen` bytes, keeping its original length.
fn cut_records(path: &Path, snaplen: usize) {
    use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
    let bytes = std::fs::read(path).unwrap();
    let mut r = PcapReader::new(&bytes[..]).expect("pcap header");
    let mut w = PcapWriter::new(std::fs::File::create(path).unwrap()).unwrap();
    while let Some(p) = r.next_packet() {
        let p = p.expect("pcap record");
        let keep = p.data.len().min(snaplen);
        w.write_packet(&PcapPacket::new(p.timestamp, p.orig_len, &p.data[..keep]))
            .unwrap();
    }
}

fn read_capture(path: &Path) -> Vec<Record> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    if bytes.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        use pcap_file::pcapng::{Block, PcapNgReader};
        let mut r = PcapNgReader::new(&bytes[..]).expect("pcapng header");
        while let Some(b) = r.next_block() {
            match b.expect("pcapng block") {
                Block::EnhancedPacket(p) => out.push(Record {
                    orig_len: p.original_len,
                    data: p.data.into_owned(),
                }),
                Block::SimplePacket(p) => out.push(Record {
                    orig_len: p.original_len,
                    data: p.data.into_owned(),
                }),
                Block::Packet(_) => panic!("{}: obsolete pcapng Packet block", path.display()),
                _ => {}
            }
        }
    } else {
        let mut r = pcap_file::pcap::PcapReader::new(&bytes[..]).expect("pcap header");
        while let Some(p) = r.next_packet() {
            let p = p.expect("pcap record");
            out.push(Record {
                orig_len: p.orig_len,
                data: p.data.into_owned(),
            });
        }
    }
    out
}
