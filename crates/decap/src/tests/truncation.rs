//! Truncated mirror copies (the inner IP header keeps the original length; measured in
//! `truncated_by`, never dropped), and truncated received frames (every cut of every header
//! is a drop, never a panic).

use super::{drop_of, ok};
use crate::*;
use mirrorcap_wire::test_encap::{
    ip_packet, mirrored_frame, Encap, GeneveOpt, GeneveSpec, InnerL3, InnerSpec, Ipv4Spec,
    Ipv6Spec, Tag,
};

fn tags(n: usize) -> Vec<Tag> {
    [
        Tag {
            tpid: 0x88A8,
            tci: 3,
        },
        Tag {
            tpid: 0x8100,
            tci: 4,
        },
        Tag {
            tpid: 0x9100,
            tci: 5,
        },
    ][..n]
        .to_vec()
}

fn vxlan_v4(inner: Vec<u8>) -> Encap {
    Encap::frame(inner)
        .vxlan(1)
        .udp(1, 4789)
        .ipv4(&Ipv4Spec::default())
        .eth(&[], 0)
}

#[test]
fn truncated_ipv4_and_ipv6_inner_frames_with_vlan_tags() {
    for n_tags in 0..=2 {
        let l2 = 14 + 4 * n_tags;
        for len in [l2 + 40, 200, 1500, 8500] {
            let ip_present = len - l2;
            for extra in [0u16, 1, 54, 1000] {
                let claimed = u16::try_from(ip_present).expect("fits") + extra;
                for l3 in [
                    InnerL3::Ipv4 {
                        claimed: Some(claimed),
                    },
                    InnerL3::Ipv6 {
                        claimed: Some(claimed - 40),
                    },
                ] {
                    let inner = mirrored_frame(&InnerSpec {
                        tags: tags(n_tags),
                        l3,
                        len,
                    });
                    let e = vxlan_v4(inner.clone());
                    let d = ok(&e.bytes, &DecapConfig::default());
                    assert_eq!(d.inner(&e.bytes), &inner[..], "never fixed");
                    assert_eq!(
                        d.meta.truncated_by,
                        u32::from(extra),
                        "{l3:?} tags {n_tags} len {len}"
                    );
                }
            }
        }
    }
}

#[test]
fn longer_frames_than_claimed_are_not_truncated() {
    // Inner Ethernet padding (a 60-byte minimum frame carrying a 28-byte IPv4 packet).
    let inner = mirrored_frame(&InnerSpec {
        tags: tags(1),
        l3: InnerL3::Ipv4 { claimed: Some(28) },
        len: 64,
    });
    let e = vxlan_v4(inner);
    assert_eq!(ok(&e.bytes, &DecapConfig::default()).meta.truncated_by, 0);
}

#[test]
fn frames_without_a_complete_ip_header_are_not_measured() {
    let cases = [
        // IP header cut by the copy itself: nothing to read the length from.
        (
            tags(0),
            InnerL3::Ipv4 {
                claimed: Some(1500),
            },
            14 + 19,
        ),
        (
            tags(2),
            InnerL3::Ipv6 {
                claimed: Some(1500),
            },
            22 + 39,
        ),
        // Three tags: beyond what the check parses.
        (
            tags(3),
            InnerL3::Ipv4 {
                claimed: Some(1500),
            },
            200,
        ),
        // Not IP.
        (tags(1), InnerL3::Other(0x0806), 200),
    ];
    for (t, l3, len) in cases {
        let inner = mirrored_frame(&InnerSpec { tags: t, l3, len });
        let e = vxlan_v4(inner);
        assert_eq!(
            ok(&e.bytes, &DecapConfig::default()).meta.truncated_by,
            0,
            "{l3:?} {len}"
        );
    }
}

#[test]
fn truncated_bare_ip_inner() {
    for (l3, v6, extra) in [
        (
            InnerL3::Ipv4 {
                claimed: Some(9001),
            },
            false,
            9001 - 1000,
        ),
        (
            InnerL3::Ipv6 {
                claimed: Some(8961),
            },
            true,
            9001 - 1000,
        ),
        (
            InnerL3::Ipv4 {
                claimed: Some(1000),
            },
            false,
            0,
        ),
    ] {
        let packet = ip_packet(l3, 1000);
        let e = Encap::bare_ip(packet.clone(), v6)
            .geneve(&GeneveSpec::default())
            .udp(1, 6081)
            .ipv4(&Ipv4Spec::default())
            .eth(&[], 0);
        let d = ok(&e.bytes, &DecapConfig::default());
        assert_eq!(d.inner(&e.bytes), &packet[..]);
        assert_eq!(d.meta.truncated_by, extra, "{l3:?}");
    }
}

/// Every stack whose headers get cut below: (name, encapsulation).
fn stacks() -> Vec<(&'static str, Encap)> {
    let inner = || {
        mirrored_frame(&InnerSpec {
            tags: tags(1),
            l3: InnerL3::Ipv4 { claimed: None },
            len: 90,
        })
    };
    let opts = vec![
        GeneveOpt::new(0x0108, 1, &[1; 8]),
        GeneveOpt::new(0x0132, 2, &[2; 12]),
    ];
    let v6 = Ipv6Spec {
        ext: vec![(0, 0), (43, 1), (60, 0)],
        ..Ipv6Spec::default()
    };
    let v4opts = Ipv4Spec {
        ihl: 8,
        ..Ipv4Spec::default()
    };
    let g = GeneveSpec {
        options: opts,
        ..GeneveSpec::default()
    };
    vec![
        ("vxlan/ipv4", vxlan_v4(inner())),
        (
            "vxlan/ipv4 options/2 vlans",
            Encap::frame(inner())
                .vxlan(1)
                .udp(1, 4789)
                .ipv4(&v4opts)
                .eth(&tags(2), 0),
        ),
        (
            "vxlan/ipv6 ext/vlan",
            Encap::frame(inner())
                .vxlan(1)
                .udp(1, 4789)
                .ipv6(&v6)
                .eth(&tags(1), 0),
        ),
        (
            "geneve(eth)/ipv4",
            Encap::frame(inner())
                .geneve(&g)
                .udp(1, 6081)
                .ipv4(&Ipv4Spec::default())
                .eth(&[], 0),
        ),
        (
            "geneve(ipv6)/ipv6",
            Encap::bare_ip(ip_packet(InnerL3::Ipv6 { claimed: None }, 60), true)
                .geneve(&g)
                .udp(1, 6081)
                .ipv6(&v6)
                .eth(&[], 0),
        ),
        (
            "geneve(ipv4)/vxlan",
            Encap::frame(inner())
                .vxlan(1)
                .udp(1, 4789)
                .ipv4(&v4opts)
                .geneve(&g)
                .udp(1, 6081)
                .ipv4(&Ipv4Spec::default())
                .eth(&tags(2), 0),
        ),
    ]
}

/// Byte offset of the outer IP header and whether it is IPv6.
fn outer_ip(bytes: &[u8]) -> (usize, bool) {
    let mut at = 12;
    while matches!(
        u16::from_be_bytes([bytes[at], bytes[at + 1]]),
        0x8100 | 0x88A8 | 0x9100
    ) {
        at += 4;
    }
    (at + 2, bytes[at] == 0x86)
}

/// Bytes of the mirrored frame's first header, which must be present: Ethernet, or the bare IP
/// header a Geneve payload starts with.
fn first_header(inner: InnerKind) -> usize {
    match inner {
        InnerKind::Ethernet => 14,
        InnerKind::Ipv4 => 20,
        InnerKind::Ipv6 => 40,
    }
}

#[test]
fn every_raw_cut_before_the_mirrored_frame_is_a_drop() {
    for (name, e) in stacks() {
        let whole = super::run(&e.bytes).unwrap_or_else(|r| panic!("{name} whole: {r:?}"));
        let (ip, _) = outer_ip(&e.bytes);
        // For the nested stack, a cut inside the Geneve payload's IPv4 options (20..32) or UDP
        // header (32..40) leaves a Geneve payload that is no tunnel datagram: it is captured as
        // the mirrored frame (see `every_consistent_cut_of_every_header_is_truncated`). Once
        // the UDP header is whole, a cut VXLAN header or inner Ethernet header is a drop again.
        let geneve_payload = name.ends_with("/vxlan").then(|| e.inner_offset - 48);
        for cut in 0..e.inner_offset + first_header(whole.meta.inner) {
            let r = super::run(&e.bytes[..cut]);
            if let Some(gp) = geneve_payload.filter(|&gp| (gp + 20..gp + 40).contains(&cut)) {
                let d = r.unwrap_or_else(|r| panic!("{name} cut {cut}: {r:?}"));
                assert_eq!((d.meta.inner, d.meta.depth), (InnerKind::Ipv4, 1));
                assert_eq!(d.inner(&e.bytes[..cut]), &e.bytes[gp..cut], "cut {cut}");
                continue;
            }
            let expected = if cut < ip + 20 {
                Some(DropReason::TruncatedHeader)
            } else {
                None
            };
            match (r, expected) {
                (Err(got), Some(want)) => assert_eq!(got, want, "{name} cut {cut}"),
                (Err(_), None) => {}
                (Ok(d), _) => panic!("{name} cut {cut} decapsulated: {d:?}"),
            }
        }
    }
}

#[test]
fn every_raw_cut_inside_the_mirrored_frame_keeps_the_bytes_and_the_original_length() {
    // A capture taken with a snaplen, replayed: the outer IP and UDP lengths still say how long
    // the mirrored frame was.
    for (name, e) in stacks() {
        let whole = super::run(&e.bytes).unwrap_or_else(|r| panic!("{name} whole: {r:?}"));
        let first = e.inner_offset + first_header(whole.meta.inner);
        for cut in first..=e.bytes.len() {
            let b = &e.bytes[..cut];
            let d = super::run(b).unwrap_or_else(|r| panic!("{name} cut {cut}: {r:?}"));
            assert_eq!(
                d.inner(b),
                &e.inner()[..cut - e.inner_offset],
                "{name} cut {cut}"
            );
            let orig = d.inner_len + d.meta.truncated_by as usize;
            assert_eq!(orig, e.inner_len, "{name} cut {cut}: original length");
            assert_eq!(
                TunnelMeta {
                    truncated_by: 0,
                    ..d.meta
                },
                whole.meta,
                "{name} cut {cut}: the rest of the metadata"
            );
        }
    }
}

#[test]
fn a_cut_and_an_aws_truncation_give_the_longer_original_length() {
    // AWS cut a 1500-byte frame to 300 bytes; the copy was then captured with a snaplen.
    let inner = mirrored_frame(&InnerSpec {
        tags: vec![],
        l3: InnerL3::Ipv4 {
            claimed: Some(1500 - 14),
        },
        len: 300,
    });
    let e = vxlan_v4(inner.clone());
    // From the cut that leaves the inner IP header whole; before it only the UDP length is
    // known, and it says 300.
    for cut in [e.inner_offset + 34, e.inner_offset + 100, e.bytes.len()] {
        let b = &e.bytes[..cut];
        let d = ok(b, &DecapConfig::default());
        assert_eq!(d.inner(b), &inner[..cut - e.inner_offset]);
        assert_eq!(
            d.inner_len + d.meta.truncated_by as usize,
            1500,
            "cut {cut}"
        );
    }
    // The other way round: a short IP packet in a padded frame, cut inside the padding; the
    // UDP length gives the longer (padded) original.
    let inner = mirrored_frame(&InnerSpec {
        tags: vec![],
        l3: InnerL3::Ipv4 { claimed: Some(28) },
        len: 60,
    });
    let e = vxlan_v4(inner);
    let b = &e.bytes[..e.inner_offset + 50];
    let d = ok(b, &DecapConfig::default());
    assert_eq!((d.inner_len, d.meta.truncated_by), (50, 10));
}

#[test]
fn inconsistent_lengths_in_a_cut_frame_stay_drops() {
    // Not IP inside, so only the outer lengths speak.
    let e = vxlan_v4(mirrored_frame(&InnerSpec {
        tags: vec![],
        l3: InnerL3::Other(0x0806),
        len: 500,
    }));
    let cut = e.inner_offset + 100;
    let ip = 14;
    let udp_at = ip + 20;
    let set = |at: usize, v: u16| {
        let mut b = e.bytes[..cut].to_vec();
        b[at..at + 2].copy_from_slice(&v.to_be_bytes());
        b
    };
    // IPv4 total length shorter than its header.
    assert_eq!(drop_of(&set(ip + 2, 19)), DropReason::BadIpHeader);
    // UDP length below 8, or beyond what the IP length claims.
    assert_eq!(drop_of(&set(udp_at + 4, 7)), DropReason::BadUdpLength);
    let ip_claims = e.bytes.len() - ip - 20;
    let beyond = u16::try_from(ip_claims + 1).expect("fits");
    assert_eq!(drop_of(&set(udp_at + 4, beyond)), DropReason::BadUdpLength);
    // UDP length shorter than the bytes present: bounded by it, nothing missing.
    let short = u16::try_from(cut - udp_at - 10).expect("fits");
    let d = ok(&set(udp_at + 4, short), &DecapConfig::default());
    assert_eq!((d.inner_len, d.meta.truncated_by), (100 - 10, 0));
}

/// Cuts `bytes` at `cut` and rewrites the outer IP and UDP lengths to match, so only the header
/// lying across the cut is short.
fn consistent_cut(bytes: &[u8], cut: usize) -> Vec<u8> {
    let mut b = bytes[..cut].to_vec();
    let (ip, v6) = outer_ip(bytes);
    let hlen = if v6 {
        // Walk the extension headers of the uncut packet to find UDP.
        let mut at = ip + 40;
        let mut next = bytes[ip + 6];
        while next != 17 {
            next = bytes[at];
            at += (usize::from(bytes[at + 1]) + 1) * 8;
        }
        at - ip
    } else {
        usize::from(bytes[ip] & 0x0F) * 4
    };
    let set = |b: &mut Vec<u8>, at: usize, v: usize| {
        if b.len() >= at + 2 {
            let v = u16::try_from(v).expect("fits");
            b[at..at + 2].copy_from_slice(&v.to_be_bytes());
        }
    };
    let ip_len = cut.saturating_sub(ip);
    if v6 {
        set(&mut b, ip + 4, ip_len.saturating_sub(40));
    } else {
        set(&mut b, ip + 2, ip_len);
    }
    set(&mut b, ip + hlen + 4, ip_len.saturating_sub(hlen));
    b
}

#[test]
fn every_consistent_cut_of_every_header_is_truncated() {
    for (name, e) in stacks() {
        let (ip, v6) = outer_ip(&e.bytes);
        let nested = name.ends_with("/vxlan");
        // For the nested stack, stop at the Geneve payload: past it, a cut inner IP packet is a
        // malformed customer packet, captured as the mirrored frame (see `nesting`).
        // Inner IPv4 with options (32), UDP (8) and VXLAN (8) precede the mirrored frame.
        let geneve_payload = e.inner_offset - 48;
        let end = if nested {
            geneve_payload + 20
        } else {
            e.inner_offset + 14
        };
        for cut in 0..end {
            let b = consistent_cut(&e.bytes, cut);
            if v6 && cut == ip + 40 {
                // Payload length 0 is a jumbogram, not a short header.
                assert_eq!(drop_of(&b), DropReason::BadIpHeader, "{name}");
                continue;
            }
            assert_eq!(drop_of(&b), DropReason::TruncatedHeader, "{name} cut {cut}");
        }
        if nested {
            for cut in end..e.inner_offset + 14 {
                let b = consistent_cut(&e.bytes, cut);
                let d = ok(&b, &DecapConfig::default());
                assert_eq!(
                    (d.meta.inner, d.meta.depth),
                    (InnerKind::Ipv4, 1),
                    "cut {cut}"
                );
                assert_eq!(d.inner(&b), &b[geneve_payload..], "cut {cut}");
            }
        }
    }
}
