//! Outer VLAN tags and outer IPv6 (with and without extension headers) in front of VXLAN, and
//! VLAN tags inside the mirrored frame, which stay untouched.

use super::{drop_of, ok, oracle_vxlan_inner, run, v4, v6, vxlan_meta};
use crate::*;
use mirrorcap_wire::ipv6::{NH_DEST_OPTS, NH_FRAGMENT, NH_HOP_BY_HOP, NH_ROUTING};
use mirrorcap_wire::test_encap::{
    ethernet, ipv6, mirrored_frame, udp, vxlan, Encap, InnerL3, InnerSpec, Ipv4Spec, Ipv6Spec, Tag,
    PAD,
};

const Q: u16 = 0x8100;
const AD: u16 = 0x88A8;
const OLD_QINQ: u16 = 0x9100;

fn tag(tpid: u16, vid: u16) -> Tag {
    Tag { tpid, tci: vid }
}

fn inner(len: usize) -> Vec<u8> {
    mirrored_frame(&InnerSpec {
        tags: vec![],
        l3: InnerL3::Ipv4 { claimed: None },
        len,
    })
}

fn v4_stack(tags: &[Tag], padding: usize) -> Encap {
    Encap::frame(inner(98))
        .vxlan(0x00AB_CDEF)
        .udp(40_123, 4789)
        .ipv4(&Ipv4Spec::default())
        .eth(tags, padding)
}

fn v6_stack(ext: Vec<(u8, u8)>, tags: &[Tag], padding: usize) -> Encap {
    Encap::frame(inner(98))
        .vxlan(0x00AB_CDEF)
        .udp(40_123, 4789)
        .ipv6(&Ipv6Spec {
            ext,
            ..Ipv6Spec::default()
        })
        .eth(tags, padding)
}

/// Asserts `e` decapsulates to exactly its inner frame, agreeing with etherparse.
fn assert_exact(e: &Encap) -> Decapped {
    let d = ok(&e.bytes, &DecapConfig::default());
    assert_eq!(d.inner_offset, e.inner_offset);
    assert_eq!(d.inner_len, e.inner_len);
    assert_eq!(d.inner(&e.bytes), e.inner());
    assert_eq!(d.inner(&e.bytes), &oracle_vxlan_inner(&e.bytes)[..]);
    d
}

#[test]
fn one_and_two_outer_vlan_tags() {
    let sets: [&[Tag]; 8] = [
        &[tag(Q, 100)],
        &[tag(AD, 4095)],
        &[tag(OLD_QINQ, 7)],
        &[tag(AD, 10), tag(Q, 20)],
        &[tag(Q, 10), tag(Q, 20)],
        &[tag(OLD_QINQ, 10), tag(Q, 0)],
        &[tag(AD, 10), tag(AD, 20)],
        &[tag(Q, 0xE000 | 5), tag(OLD_QINQ, 0x1000)],
    ];
    for tags in sets {
        for padding in [0, 9] {
            let e = v4_stack(tags, padding);
            let d = assert_exact(&e);
            assert_eq!(
                d.meta,
                TunnelMeta {
                    outer_vlans: tags.len() as u8,
                    ..vxlan_meta(0x00AB_CDEF, v4([10, 0, 1, 23]), v4([10, 0, 2, 200]), 40_123)
                },
                "{tags:?}"
            );
            assert_eq!(d.inner_offset, 14 + 4 * tags.len() + 20 + 16);
            let e6 = v6_stack(vec![], tags, padding);
            let d6 = assert_exact(&e6);
            assert_eq!(d6.meta.outer_vlans, tags.len() as u8);
        }
    }
}

#[test]
fn three_outer_tags_are_not_mirror_traffic() {
    for tags in [
        [tag(AD, 1), tag(Q, 2), tag(Q, 3)],
        [tag(Q, 1), tag(Q, 2), tag(OLD_QINQ, 3)],
    ] {
        let e = v4_stack(&tags, 0);
        assert_eq!(drop_of(&e.bytes), DropReason::NotMirror, "{tags:?}");
        // Decided at the third TPID, before its bytes are needed.
        assert_eq!(drop_of(&e.bytes[..14 + 8]), DropReason::NotMirror);
    }
}

#[test]
fn cut_vlan_tags_are_truncated() {
    let e = v4_stack(&[tag(AD, 1), tag(Q, 2)], 0);
    for len in 0..14 + 8 {
        assert_eq!(
            drop_of(&e.bytes[..len]),
            DropReason::TruncatedHeader,
            "len {len}"
        );
    }
}

#[test]
fn non_ip_after_tags_is_not_mirror_traffic() {
    // An ARP frame with a QinQ tag pair (as in tcpdump's 802.1ad capture).
    let frame = ethernet(&[tag(AD, 1), tag(Q, 2)], 0x0806, &[0; 28]);
    assert_eq!(drop_of(&frame), DropReason::NotMirror);
    // An IPv4 packet announced as IPv6 is an IPv6 header with the wrong version.
    let e = v4_stack(&[], 0);
    let mut frame = e.bytes.clone();
    frame[12..14].copy_from_slice(&0x86DDu16.to_be_bytes());
    assert_eq!(drop_of(&frame), DropReason::BadIpHeader);
}

#[test]
fn inner_vlan_tags_stay_in_the_mirrored_frame() {
    for tags in [
        vec![tag(Q, 100)],
        vec![tag(AD, 200), tag(Q, 300)],
        vec![tag(AD, 1), tag(Q, 2), tag(Q, 3)],
    ] {
        let frame = mirrored_frame(&InnerSpec {
            tags: tags.clone(),
            l3: InnerL3::Ipv4 { claimed: None },
            len: 300,
        });
        let e = Encap::frame(frame.clone())
            .vxlan(9)
            .udp(1, 4789)
            .ipv4(&Ipv4Spec::default())
            .eth(&[tag(Q, 55)], 0);
        let d = assert_exact(&e);
        assert_eq!(d.inner(&e.bytes), &frame[..]);
        assert_eq!(d.inner(&e.bytes)[12..14], tags[0].tpid.to_be_bytes());
        assert_eq!(d.meta.outer_vlans, 1);
        assert_eq!(d.meta.truncated_by, 0);
    }
}

#[test]
fn ipv6_outer_vxlan() {
    let spec = Ipv6Spec::default();
    let e = v6_stack(vec![], &[], 0);
    let d = assert_exact(&e);
    assert_eq!(
        d.meta,
        vxlan_meta(0x00AB_CDEF, v6(spec.src), v6(spec.dst), 40_123)
    );
    assert_eq!(d.inner_offset, 14 + 40 + 8 + 8);
}

#[test]
fn ipv6_extension_headers_are_skipped() {
    let chains: [Vec<(u8, u8)>; 6] = [
        vec![(NH_HOP_BY_HOP, 0)],
        vec![(NH_ROUTING, 2)],
        vec![(NH_DEST_OPTS, 255)],
        vec![
            (NH_HOP_BY_HOP, 0),
            (NH_DEST_OPTS, 1),
            (NH_ROUTING, 0),
            (NH_DEST_OPTS, 3),
        ],
        vec![(NH_DEST_OPTS, 0); 8],
        // Hop-by-hop first (etherparse, the oracle, insists), then seven more.
        [(NH_HOP_BY_HOP, 1)]
            .into_iter()
            .chain([(NH_ROUTING, 1); 7])
            .collect(),
    ];
    for ext in chains {
        let ext_len: usize = ext.iter().map(|e| (usize::from(e.1) + 1) * 8).sum();
        for padding in [0, 5] {
            let e = v6_stack(ext.clone(), &[tag(Q, 3)], padding);
            let d = assert_exact(&e);
            assert_eq!(d.inner_offset, 18 + 40 + ext_len + 16, "{ext:?}");
        }
    }
}

#[test]
fn too_many_or_unknown_extension_headers_are_not_mirror_traffic() {
    let e = v6_stack(vec![(NH_DEST_OPTS, 0); 9], &[], 0);
    assert_eq!(drop_of(&e.bytes), DropReason::NotMirror);
    // TCP, AH, ESP, no-next-header, ICMPv6 where UDP should be.
    for upper in [6u8, 51, 50, 59, 58] {
        let frame = ethernet(&[], 0x86DD, &ipv6(&Ipv6Spec::default(), upper, &[0; 40]));
        assert_eq!(
            drop_of(&frame),
            DropReason::NotMirror,
            "next header {upper}"
        );
        let spec = Ipv6Spec {
            ext: vec![(NH_HOP_BY_HOP, 0)],
            ..Ipv6Spec::default()
        };
        let frame = ethernet(&[], 0x86DD, &ipv6(&spec, upper, &[0; 40]));
        assert_eq!(drop_of(&frame), DropReason::NotMirror, "after HBH: {upper}");
    }
}

#[test]
fn ipv6_fragment_header_is_an_outer_fragment() {
    for ext in [
        vec![(NH_FRAGMENT, 0)],
        vec![(NH_HOP_BY_HOP, 0), (NH_FRAGMENT, 0)],
        vec![
            (NH_DEST_OPTS, 0),
            (NH_ROUTING, 1),
            (NH_FRAGMENT, 0),
            (NH_DEST_OPTS, 0),
        ],
    ] {
        let e = v6_stack(ext.clone(), &[], 0);
        assert_eq!(drop_of(&e.bytes), DropReason::OuterFragment, "{ext:?}");
    }
}

#[test]
fn ipv6_payload_length_rules() {
    let e = v6_stack(vec![], &[], 0);
    let full = e.bytes.len() - 14 - 40;
    let set_plen = |plen: u16| {
        let mut b = e.bytes.clone();
        b[18..20].copy_from_slice(&plen.to_be_bytes());
        b
    };
    // 0: a jumbogram or a BIG TCP capture.
    assert_eq!(drop_of(&set_plen(0)), DropReason::BadIpHeader);
    // Beyond the bytes present, padding or not: cut after the UDP datagram, which is whole.
    for plen in [full + 1, full + 100, 65_535] {
        let plen = u16::try_from(plen).expect("fits");
        let mut padded = set_plen(plen);
        padded.push(PAD);
        for b in [set_plen(plen), padded] {
            let d = ok(&b, &DecapConfig::default());
            assert_eq!(d.inner(&b), e.inner(), "{plen}");
            assert_eq!(d.meta.truncated_by, 0, "{plen}");
        }
    }
    // Shorter than the UDP datagram: the UDP length no longer fits.
    let short = u16::try_from(full - 1).expect("fits");
    assert_eq!(drop_of(&set_plen(short)), DropReason::BadUdpLength);
    // Padding after the payload length is ignored.
    for padding in [1, 4, 46] {
        assert_exact(&v6_stack(vec![(NH_HOP_BY_HOP, 0)], &[], padding));
    }
    // Wrong version.
    let mut b = e.bytes.clone();
    b[14] = 0x40 | (b[14] & 0x0F);
    assert_eq!(drop_of(&b), DropReason::BadIpHeader);
}

#[test]
fn every_cut_of_ipv6_and_extension_headers_drops_then_counts_the_missing_bytes() {
    let e = v6_stack(vec![(NH_HOP_BY_HOP, 0), (NH_ROUTING, 2)], &[tag(AD, 1)], 0);
    let ip = 18;
    let udp_at = ip + 40 + 8 + 24;
    // Raw cuts: the payload length still claims the whole packet, so a cut before the mirrored
    // frame's Ethernet header leaves a header short, and a later one is a snaplen cut.
    for len in 0..=e.bytes.len() {
        let b = &e.bytes[..len];
        if len < e.inner_offset + 14 {
            assert_eq!(drop_of(b), DropReason::TruncatedHeader, "len {len}");
        } else {
            let d = ok(b, &DecapConfig::default());
            assert_eq!(d.inner(b), &e.inner()[..len - e.inner_offset], "len {len}");
            assert_eq!(
                d.meta.truncated_by as usize,
                e.bytes.len() - len,
                "len {len}"
            );
        }
    }
    // With the payload length rewritten to match the cut, only the header itself is short.
    for cut in ip + 41..udp_at + 16 + 14 {
        let mut b = e.bytes[..cut].to_vec();
        let plen = u16::try_from(cut - ip - 40).expect("fits");
        b[ip + 4..ip + 6].copy_from_slice(&plen.to_be_bytes());
        if cut >= udp_at + 6 {
            let ulen = u16::try_from(cut - udp_at).expect("fits");
            b[udp_at + 4..udp_at + 6].copy_from_slice(&ulen.to_be_bytes());
        }
        assert_eq!(drop_of(&b), DropReason::TruncatedHeader, "cut {cut}");
    }
}

#[test]
fn ipv6_udp_to_another_port_or_bad_length() {
    let other = ethernet(
        &[],
        0x86DD,
        &ipv6(&Ipv6Spec::default(), 17, &udp(1, 53, &[0; 20])),
    );
    assert_eq!(drop_of(&other), DropReason::NotMirror);
    let mut dgram = udp(1, 4789, &vxlan(0x08, 1, 0, &inner(60)));
    dgram[4..6].copy_from_slice(&7u16.to_be_bytes());
    let bad = ethernet(&[], 0x86DD, &ipv6(&Ipv6Spec::default(), 17, &dgram));
    assert_eq!(drop_of(&bad), DropReason::BadUdpLength);
    assert!(run(&ethernet(
        &[],
        0x86DD,
        &ipv6(
            &Ipv6Spec::default(),
            17,
            &udp(1, 4789, &vxlan(0x08, 1, 0, &inner(60)))
        )
    ))
    .is_ok());
}
