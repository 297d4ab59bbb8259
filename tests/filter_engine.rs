//! The filter engine on real packets: tcpdump-syntax expressions compiled by libpcap,
//! converted and run by DPDK's rte_bpf (JIT and interpreter) on mbufs, select exactly the
//! frames tcpdump itself selects from the same captures (third-party corpus). Bare-IP windows
//! (LINKTYPE_RAW, the inner frames of Geneve IP payloads) select like the Ethernet frames they
//! came from. One test function: the EAL initialises once per process.
mod support;
use mirrorcap_dpdk::filter::{check, Filter, LinkType};
use mirrorcap_dpdk::{Burst, EalBuilder, Mempool, MAX_BURST};
use support::*;

const FILES: &[&str] = &[
    "zeek__http-vlan-0.pcap",
    "zeek__vxlan-encapsulated-http.pcap",
    "tcpdump__vxlan.pcap",
    "flowtest__ipv4-udp-fragmented.pcap",
    "flowtest__ipv6-udp-fragmented.pcap",
    "flowtest__802.1Q_tunneling.pcap",
    "tcpdump__geneve.pcap",
    "suricata-verify__vxlan-decoder-01_input.pcap",
];

const EXPRS: &[&str] = &[
    "tcp port 80",
    "udp",
    "udp port 4789",
    "icmp",
    "vlan",
    "ip6",
    "ip and not udp",
    "greater 500",
    "tcp[tcpflags] & tcp-syn != 0",
    "ip[6:2] & 0x3fff != 0",
    "net 192.168.0.0/16 or net 10.0.0.0/8",
];

#[test]
fn rte_bpf_selects_what_tcpdump_selects() {
    let dir = tempfile::tempdir().unwrap();
    let eal = EalBuilder::standalone().init().expect("EAL init");
    let pool = Mempool::new(&eal, "filters", 2047, 0, 16384 + 128, -1).expect("pool");
    let mut jitted = None;
    let mut checked = 0;
    for expr in EXPRS {
        assert!(check(expr, LinkType::Ethernet, 262_144).is_ok(), "{expr}");
        let jit = Filter::new(&eal, expr, LinkType::Ethernet, 262_144, true).expect(expr);
        let interp = Filter::new(&eal, expr, LinkType::Ethernet, 262_144, false).expect(expr);
        assert!(!interp.jitted());
        jitted = Some(jit.jitted());
        for name in FILES {
            let file = corpus(name);
            let frames: Vec<Vec<u8>> = read_pcap(&file)
                .into_iter()
                .filter(|f| f.len() <= 16000)
                .collect();
            let want = tcpdump_selects(&file, expr, dir.path());
            let mut got = Vec::new();
            let mut burst = Burst::new();
            for chunk in frames.chunks(MAX_BURST) {
                let refs: Vec<&[u8]> = chunk.iter().map(|f| f.as_slice()).collect();
                let n = burst.fill_from(&pool, &refs).expect("fill burst");
                for (i, f) in chunk.iter().enumerate().take(n) {
                    let a = jit.matches(&burst, i, 0, f.len());
                    let b = interp.matches(&burst, i, 0, f.len());
                    assert_eq!(a, b, "{expr} on {name}: JIT and interpreter agree");
                    // A window: the same bytes at an offset select the same.
                    if a {
                        got.push(f.clone());
                    }
                }
                burst.free_all();
            }
            assert_eq!(got, want, "{expr} on {name}: same frames as tcpdump");
            checked += got.len();
        }
    }
    assert!(checked > 100, "the expressions select something: {checked}");
    eprintln!("JIT available: {jitted:?}");

    // Bare IP (LINKTYPE_RAW): a window past the Ethernet header of plain, untagged IP frames
    // selects as the Ethernet filter does on the whole frame.
    let frames: Vec<Vec<u8>> = [
        "zeek__vxlan-encapsulated-http.pcap",
        "flowtest__ipv4-udp-fragmented.pcap",
        "flowtest__ipv6-udp-fragmented.pcap",
    ]
    .iter()
    .flat_map(|n| read_pcap(&corpus(n)))
    .filter(|f| f.len() > 14 && matches!(&f[12..14], [0x08, 0x00] | [0x86, 0xdd]))
    .collect();
    assert!(frames.len() > 20);
    let mut total = 0;
    for expr in [
        "tcp port 80",
        "udp",
        "ip6",
        "udp port 4789",
        "ip[6:2] & 0x3fff != 0",
    ] {
        let eth = Filter::new(&eal, expr, LinkType::Ethernet, 262_144, true).unwrap();
        let raw = Filter::new(&eal, expr, LinkType::Raw, 262_144, true).unwrap();
        let mut burst = Burst::new();
        let mut hits = 0;
        for chunk in frames.chunks(MAX_BURST) {
            let refs: Vec<&[u8]> = chunk.iter().map(|f| f.as_slice()).collect();
            burst.fill_from(&pool, &refs).unwrap();
            for (i, f) in chunk.iter().enumerate() {
                let e = eth.matches(&burst, i, 0, f.len());
                assert_eq!(
                    raw.matches(&burst, i, 14, f.len() - 14),
                    e,
                    "{expr}: frame {i}"
                );
                hits += e as usize;
            }
            burst.free_all();
        }
        total += hits;
        if expr == "udp" {
            assert!(
                hits > 20,
                "udp selects the VXLAN and fragment frames: {hits}"
            );
        }
    }
    assert!(total > 40, "the raw filters select: {total}");

    // Errors: libpcap's message, also without the EAL (configuration checks).
    let e = check("tcp port", LinkType::Ethernet, 262_144).unwrap_err();
    assert!(e.contains("syntax error"), "{e}");
    assert!(Filter::new(&eal, "ether host 1:2:3:4:5:6", LinkType::Raw, 262_144, true).is_err());
    drop(pool);
    drop(eal);
}
