//! Flow key extraction over frames built byte by byte by `mirrorcap-wire`'s test builders.

use mirrorcap_index::{FlowKey, Term};
use mirrorcap_wire::test_encap::{ethernet, ipv4, ipv6, udp, Ipv4Spec, Ipv6Spec, Tag};
use std::net::IpAddr;

const VNI: u32 = 0x00_1234;
const META: u32 = VNI | 3 << 24;
const UNTAGGED: u32 = 255 << 24;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// TCP header (20 bytes, ports and a data offset of 5) then `payload`.
fn tcp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

fn v4(src: [u8; 4], dst: [u8; 4]) -> Ipv4Spec {
    Ipv4Spec {
        src,
        dst,
        ..Ipv4Spec::default()
    }
}

fn v6(src: &str, dst: &str, ext: Vec<(u8, u8)>) -> Ipv6Spec {
    let a = |s: &str| match ip(s) {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(_) => unreachable!(),
    };
    Ipv6Spec {
        src: a(src),
        dst: a(dst),
        ext,
        ..Ipv6Spec::default()
    }
}

fn sorted(mut t: Vec<Term>) -> Vec<Term> {
    t.sort();
    t.dedup();
    t
}

fn terms(frame: &[u8], meta: u32) -> Vec<Term> {
    sorted(FlowKey::extract(frame, meta).terms())
}

#[test]
fn ipv4_udp_gives_every_field_and_both_directions_one_key() {
    let f = ethernet(
        &[],
        0x0800,
        &ipv4(&v4([10, 0, 0, 1], [10, 0, 0, 2]), 17, &udp(40000, 53, b"q")),
    );
    let r = ethernet(
        &[],
        0x0800,
        &ipv4(&v4([10, 0, 0, 2], [10, 0, 0, 1]), 17, &udp(53, 40000, b"a")),
    );
    assert_eq!(
        terms(&f, META),
        sorted(vec![
            Term::Vni(VNI),
            Term::EtherType(0x0800),
            Term::Proto(17),
            Term::Host(ip("10.0.0.1")),
            Term::Host(ip("10.0.0.2")),
            Term::Port(40000),
            Term::Port(53),
        ])
    );
    let (kf, kr) = (FlowKey::extract(&f, META), FlowKey::extract(&r, META));
    assert_eq!(kf, kr, "direction-independent");
    let e = kf.endpoints();
    assert_eq!(e[0], (Some(ip("10.0.0.1")), Some(40000)));
    assert_eq!(e[1], (Some(ip("10.0.0.2")), Some(53)));
    assert_ne!(FlowKey::extract(&f, META), FlowKey::extract(&f, UNTAGGED));
    assert!(terms(&f, UNTAGGED).contains(&Term::Untagged));
    assert!(!terms(&f, UNTAGGED)
        .iter()
        .any(|t| matches!(t, Term::Vni(_))));
}

#[test]
fn tcp_with_options_reads_ports_after_the_options() {
    let spec = Ipv4Spec {
        ihl: 7,
        ..v4([192, 0, 2, 1], [198, 51, 100, 7])
    };
    let f = ethernet(&[], 0x0800, &ipv4(&spec, 6, &tcp(443, 51000, &[0; 40])));
    let t = terms(&f, META);
    assert!(
        t.contains(&Term::Port(443)) && t.contains(&Term::Port(51000)),
        "{t:?}"
    );
    assert!(t.contains(&Term::Proto(6)));
}

#[test]
fn vlan_tags_give_ids_and_every_ethertype() {
    let tags = [
        Tag {
            tpid: 0x88A8,
            tci: 0x0064,
        },
        Tag {
            tpid: 0x8100,
            tci: 0x2000 | 200,
        },
    ];
    let f = ethernet(
        &tags,
        0x0800,
        &ipv4(&v4([10, 1, 0, 1], [10, 1, 0, 2]), 17, &udp(1, 2, &[])),
    );
    let t = terms(&f, META);
    for want in [
        Term::Vlan(100),
        Term::Vlan(200),
        Term::EtherType(0x88A8),
        Term::EtherType(0x8100),
        Term::EtherType(0x0800),
        Term::Host(ip("10.1.0.1")),
        Term::Port(2),
    ] {
        assert!(t.contains(&want), "{want:?} in {t:?}");
    }
    // A third tag: only the tags read and the TPID after them.
    let three = [
        tags[0],
        tags[1],
        Tag {
            tpid: 0x8100,
            tci: 300,
        },
    ];
    let f = ethernet(
        &three,
        0x0800,
        &ipv4(&v4([10, 1, 0, 1], [10, 1, 0, 2]), 17, &udp(1, 2, &[])),
    );
    assert_eq!(
        terms(&f, META),
        sorted(vec![
            Term::Vni(VNI),
            Term::EtherType(0x88A8),
            Term::EtherType(0x8100),
            Term::Vlan(100),
            Term::Vlan(200),
        ])
    );
}

#[test]
fn ipv6_extension_headers_are_walked_and_each_next_header_kept() {
    // hop-by-hop, destination options (16 bytes), then TCP.
    let spec = v6("fd00::1", "fd00::2", vec![(0, 0), (60, 1)]);
    let f = ethernet(&[], 0x86DD, &ipv6(&spec, 6, &tcp(22, 60000, b"ssh")));
    let t = terms(&f, META);
    for want in [
        Term::EtherType(0x86DD),
        Term::Proto(0),
        Term::Proto(60),
        Term::Proto(6),
        Term::Host(ip("fd00::1")),
        Term::Host(ip("fd00::2")),
        Term::Port(22),
        Term::Port(60000),
    ] {
        assert!(t.contains(&want), "{want:?} in {t:?}");
    }
    // ICMPv6: no ports.
    let f = ethernet(
        &[],
        0x86DD,
        &ipv6(
            &v6("fd00::1", "fd00::2", vec![]),
            58,
            &[128, 0, 0, 0, 0, 1, 0, 1],
        ),
    );
    let t = terms(&f, META);
    assert!(t.contains(&Term::Proto(58)));
    assert!(!t.iter().any(|t| matches!(t, Term::Port(_))), "{t:?}");
}

#[test]
fn ipv6_ah_is_skipped_by_its_own_length_unit() {
    // AH: next header, payload length 4 (= (4 + 2) * 4 = 24 bytes), then UDP.
    let mut ah = vec![17, 4, 0, 0];
    ah.resize(24, 0xAA);
    ah.extend_from_slice(&udp(5000, 6000, b"x"));
    let f = ethernet(
        &[],
        0x86DD,
        &ipv6(&v6("fd00::1", "fd00::2", vec![]), 51, &ah),
    );
    let t = terms(&f, META);
    assert!(
        t.contains(&Term::Proto(51)) && t.contains(&Term::Proto(17)),
        "{t:?}"
    );
    assert!(
        t.contains(&Term::Port(5000)) && t.contains(&Term::Port(6000)),
        "{t:?}"
    );
}

#[test]
fn fragments_have_ports_only_when_first() {
    for (ff, ports) in [
        (0x2000u16, true),
        (0x0010, false),
        (0x2010, false),
        (0x4000, true),
    ] {
        let spec = Ipv4Spec {
            flags_frag: ff,
            ..v4([10, 0, 0, 1], [10, 0, 0, 2])
        };
        let f = ethernet(&[], 0x0800, &ipv4(&spec, 17, &udp(7000, 8000, &[1; 16])));
        let t = terms(&f, META);
        assert_eq!(t.contains(&Term::Port(7000)), ports, "flags {ff:#x}: {t:?}");
        assert!(t.contains(&Term::Proto(17)) && t.contains(&Term::Host(ip("10.0.0.2"))));
    }
    // IPv6: the builder's fragment header has offset 0 (a first fragment); a later one by hand.
    let spec = v6("fd00::1", "fd00::2", vec![(44, 0)]);
    let f = ethernet(&[], 0x86DD, &ipv6(&spec, 17, &udp(7000, 8000, &[1; 16])));
    assert!(terms(&f, META).contains(&Term::Port(8000)));
    let mut later = vec![17, 0, 0x05, 0x01, 0, 0, 0, 9]; // offset 160, M flag
    later.extend_from_slice(&udp(7000, 8000, &[1; 16]));
    let later = ethernet(
        &[],
        0x86DD,
        &ipv6(&v6("fd00::1", "fd00::2", vec![]), 44, &later),
    );
    let t = terms(&later, META);
    assert!(
        t.contains(&Term::Proto(44)) && t.contains(&Term::Proto(17)),
        "{t:?}"
    );
    assert!(!t.contains(&Term::Port(7000)), "{t:?}");
    let mut first = vec![17, 0, 0x00, 0x01, 0, 0, 0, 9]; // offset 0, M flag
    first.extend_from_slice(&udp(7000, 8000, &[1; 16]));
    let first = ethernet(
        &[],
        0x86DD,
        &ipv6(&v6("fd00::1", "fd00::2", vec![]), 44, &first),
    );
    let t = terms(&first, META);
    assert!(
        t.contains(&Term::Port(7000)) && t.contains(&Term::Port(8000)),
        "{t:?}"
    );
}

#[test]
fn icmp_sctp_other_protocols_and_arp() {
    let icmp = ethernet(
        &[],
        0x0800,
        &ipv4(
            &v4([10, 0, 0, 1], [10, 0, 0, 2]),
            1,
            &[8, 0, 0, 0, 0, 1, 0, 1],
        ),
    );
    let t = terms(&icmp, META);
    assert!(t.contains(&Term::Proto(1)));
    assert!(!t.iter().any(|t| matches!(t, Term::Port(_))));
    let sctp = ethernet(
        &[],
        0x0800,
        &ipv4(
            &v4([10, 0, 0, 1], [10, 0, 0, 2]),
            132,
            &udp(2905, 2906, &[]),
        ),
    );
    assert!(terms(&sctp, META).contains(&Term::Port(2905)));
    let gre = ethernet(
        &[],
        0x0800,
        &ipv4(&v4([10, 0, 0, 1], [10, 0, 0, 2]), 47, &udp(1, 2, &[])),
    );
    let t = terms(&gre, META);
    assert!(t.contains(&Term::Proto(47)) && !t.contains(&Term::Port(1)));
    // ARP request 10.0.0.1 -> who has 10.0.0.9.
    let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 1];
    arp.extend_from_slice(&[2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 9]);
    let t = terms(&ethernet(&[], 0x0806, &arp), UNTAGGED);
    assert_eq!(
        t,
        sorted(vec![
            Term::Untagged,
            Term::EtherType(0x0806),
            Term::Host(ip("10.0.0.1")),
            Term::Host(ip("10.0.0.9")),
        ])
    );
    // LLDP: the EtherType alone.
    let t = terms(&ethernet(&[], 0x88CC, &[0; 40]), META);
    assert_eq!(t, sorted(vec![Term::Vni(VNI), Term::EtherType(0x88CC)]));
}

#[test]
fn cut_and_malformed_frames_give_what_is_present_and_never_panic() {
    let spec = v6("fd00::1", "fd00::2", vec![(0, 1), (43, 0)]);
    let frames = [
        ethernet(
            &[Tag {
                tpid: 0x8100,
                tci: 5,
            }],
            0x0800,
            &ipv4(
                &Ipv4Spec {
                    ihl: 6,
                    ..v4([10, 0, 0, 1], [10, 0, 0, 2])
                },
                6,
                &tcp(1, 2, &[]),
            ),
        ),
        ethernet(&[], 0x86DD, &ipv6(&spec, 17, &udp(3, 4, &[]))),
    ];
    for f in &frames {
        let full = terms(f, META);
        for len in 0..f.len() {
            let t = terms(&f[..len], META);
            assert!(
                t.iter().all(|x| full.contains(x)),
                "len {len}: {t:?} not within {full:?}"
            );
            assert!(t.contains(&Term::Vni(VNI)));
        }
    }
    // libpcap reads IPv4 fields whatever the version nibble and total length say.
    let mut bad = ethernet(
        &[],
        0x0800,
        &ipv4(&v4([10, 0, 0, 1], [10, 0, 0, 2]), 17, &udp(9, 10, &[])),
    );
    bad[14] = 0x55; // version 5, IHL 5
    bad[16..18].copy_from_slice(&[0, 1]); // total length 1
    let t = terms(&bad, META);
    assert!(
        t.contains(&Term::Host(ip("10.0.0.2"))) && t.contains(&Term::Port(10)),
        "{t:?}"
    );
}
