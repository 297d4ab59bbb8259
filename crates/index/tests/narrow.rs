//! `Narrow::from_expr`: which tcpdump expressions narrow to which index terms, and which must
//! narrow nothing (libpcap could match in any block).
use mirrorcap_index::Narrow;
use mirrorcap_index::Narrow::{All, And, Or};

fn t(x: mirrorcap_index::Term) -> Narrow {
    Narrow::Term(x)
}

#[test]
fn narrows_the_documented_primitives() {
    let h = |s: &str| t(mirrorcap_index::Term::Host(s.parse().unwrap()));
    assert_eq!(Narrow::from_expr("host 10.0.0.1"), h("10.0.0.1"));
    assert_eq!(Narrow::from_expr("src host 10.0.0.1"), h("10.0.0.1"));
    assert_eq!(
        Narrow::from_expr("ip6 dst host ::1"),
        And(vec![t(mirrorcap_index::Term::EtherType(0x86dd)), h("::1")])
    );
    assert_eq!(
        Narrow::from_expr("net 10.1"),
        t(mirrorcap_index::Term::Net("10.1.0.0".parse().unwrap(), 16))
    );
    assert_eq!(
        Narrow::from_expr("net 10.0.0.0 mask 255.0.0.0"),
        t(mirrorcap_index::Term::Net("10.0.0.0".parse().unwrap(), 8))
    );
    assert_eq!(
        Narrow::from_expr("tcp dst port 80 or udp"),
        Or(vec![
            And(vec![
                t(mirrorcap_index::Term::Proto(6)),
                t(mirrorcap_index::Term::Port(80))
            ]),
            t(mirrorcap_index::Term::Proto(17))
        ])
    );
    assert_eq!(
        Narrow::from_expr("portrange 2000-1000"),
        t(mirrorcap_index::Term::PortRange(1000, 2000))
    );
    assert_eq!(
        Narrow::from_expr("ip proto 47"),
        t(mirrorcap_index::Term::Proto(47))
    );
    assert_eq!(
        Narrow::from_expr("src or dst port 53"),
        t(mirrorcap_index::Term::Port(53))
    );
    assert_eq!(
        Narrow::from_expr("vlan 7 and host 10.0.0.1"),
        And(vec![t(mirrorcap_index::Term::Vlan(7)), h("10.0.0.1")])
    );
}

#[test]
fn never_narrows_what_it_cannot_follow() {
    for e in [
        "not host 10.0.0.1",
        "! port 53",
        "host 10.0.0.1 or tcp[13] & 2 != 0",
        "port http",
        "ether host 1:2:3:4:5:6",
        "host 10.0.0.1 or 10.0.0.2",
        "len > 100 or port 1",
        "(tcp[13] & 2) != 0",
        "vlan or host 10.0.0.1",
        "vlan and vlan and vlan and host 10.0.0.1",
        "mpls and host 10.0.0.1",
        "port 010",
        "ip multicast or port 1",
    ] {
        assert_eq!(Narrow::from_expr(e), All, "{e}");
    }
    // An offset relation narrows nothing itself, and leaves the rest narrowing.
    assert_eq!(
        Narrow::from_expr("tcp[13] & 2 != 0 and port 80"),
        t(mirrorcap_index::Term::Port(80))
    );
    assert_eq!(
        Narrow::from_expr("not udp and port 80"),
        t(mirrorcap_index::Term::Port(80))
    );
}

/// Ethernet with `tags` 802.1Q tags (VLAN 100, 200, 300), then IPv4/UDP 10.0.0.1:1000 ->
/// 10.0.0.2:53, IPv6/TCP 2001:db8::1:80 -> 2001:db8::2:8080, or ARP 10.0.0.1 -> 10.0.0.2.
fn frame(tags: usize, kind: u8) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    for vid in [100u16, 200, 300].iter().take(tags) {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&vid.to_be_bytes());
    }
    match kind {
        0 => {
            f.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0]);
            f.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2, 0x03, 0xe8, 0, 53, 0, 8, 0, 0]);
        }
        1 => {
            f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, 20, 6, 64]);
            let a: std::net::Ipv6Addr = "2001:db8::1".parse().unwrap();
            let b: std::net::Ipv6Addr = "2001:db8::2".parse().unwrap();
            f.extend_from_slice(&a.octets());
            f.extend_from_slice(&b.octets());
            f.extend_from_slice(&[
                0, 80, 0x1f, 0x90, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 2, 0xff, 0xff,
            ]);
            f.extend_from_slice(&[0, 0, 0, 0]);
        }
        _ => {
            f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1]);
            f.extend_from_slice(&[10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
        }
    }
    f
}

/// libpcap as the oracle: for every frame (0-3 VLAN tags, IPv4, IPv6, ARP, cut at every
/// length) that an expression matches, the expression's narrowing over a one-frame index
/// keeps the frame's block. The expressions lean on what is easy to get wrong: `vlan`'s offset
/// shift across `or` and parentheses, a third tag, negations, qualifier carry-over.
#[test]
fn never_excludes_a_block_libpcap_matches_in() {
    use mirrorcap_filter::{LinkType, PcapFilter};
    use mirrorcap_index::{FlowIndex, IndexBuilder};
    let exprs = [
        "host 10.0.0.1",
        "src host 10.0.0.2 or dst port 53",
        "vlan 100 and host 10.0.0.1",
        "vlan or host 10.0.0.1",
        "(vlan 100 or vlan 200) and port 53",
        "vlan 100 and vlan 200 and host 10.0.0.1",
        "vlan and vlan and vlan and host 10.0.0.1",
        "vlan and vlan and vlan and arp",
        "not vlan 100 and host 10.0.0.1",
        "host 10.0.0.1 or vlan 100 and udp",
        "arp host 10.0.0.2",
        "ip6 and tcp port 8080",
        "net 2001:db8::/32 and tcp",
        "portrange 50-60",
        "udp port 53 or 80",
        "tcp[13] & 2 != 0 and port 80",
        "ether proto 0x8100 and vlan 100 and ip",
        "icmp or udp",
        "ip proto 17 and not port 54",
        "vlan 100 and (host 10.0.0.9 or ip6)",
        "mpls or host 10.0.0.1",
        "ip6 net 2001::/16 or net 10.0.0.0/8",
        "src port 1000",
        "ip6 src host 2001:db8::1",
        "vlan 100 and net 2001:db8::/64",
    ];
    for e in exprs {
        let pcap = PcapFilter::new(e, LinkType::Ethernet).unwrap_or_else(|m| panic!("{e}: {m}"));
        let narrow = Narrow::from_expr(e);
        for tags in 0..=3 {
            for kind in 0..3 {
                let full = frame(tags, kind);
                for len in 0..=full.len() {
                    let f = &full[..len];
                    if !pcap.matches(f) {
                        continue;
                    }
                    let mut b = IndexBuilder::new();
                    b.push(0, f, 42);
                    let idx = FlowIndex::parse(&b.finish()).unwrap();
                    assert!(
                        narrow.blocks(&idx).contains(0),
                        "{e:?} ({narrow:?}) excludes a frame libpcap matches: {tags} tag(s), kind {kind}, {len} of {} bytes",
                        full.len()
                    );
                }
            }
        }
    }
}

/// Deeply nested or very long expressions narrow or not without exhausting the stack (20 000
/// parentheses overflowed a test thread's 2 MiB stack); a long list stays narrowable.
#[test]
fn deep_and_long_expressions_do_not_exhaust_the_stack() {
    let deep = format!("{}host 10.0.0.1{}", "(".repeat(20_000), ")".repeat(20_000));
    let _ = Narrow::from_expr(&deep);
    let nots = format!("{}host 10.0.0.1", "not ".repeat(20_000));
    assert_eq!(Narrow::from_expr(&nots), Narrow::All);
    let long = vec!["host 10.0.0.1"; 30_000].join(" or ");
    assert!(
        Narrow::from_expr(&long).narrows(),
        "a long list of hosts still narrows"
    );
    let long_and = vec!["port 1"; 30_000].join(" and ");
    let _ = Narrow::from_expr(&long_and);
}
