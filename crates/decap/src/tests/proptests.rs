//! Property tests: no input panics, random mirrored frames in random encapsulation stacks come
//! back byte for byte with the expected session identity, and cut by a snaplen they keep the
//! bytes present and the original length.

use super::check_ok_invariants;
use crate::*;
use mirrorcap_wire::test_encap::{
    mirrored_frame, Encap, GeneveOpt, GeneveSpec, InnerL3, InnerSpec, Ipv4Spec, Ipv6Spec, Tag,
};
use mirrorcap_wire::test_frames::FrameSpec;
use proptest::prelude::*;

fn tag() -> impl Strategy<Value = Tag> {
    (
        prop::sample::select(vec![0x8100u16, 0x88A8, 0x9100]),
        any::<u16>(),
    )
        .prop_map(|(tpid, tci)| Tag { tpid, tci })
}

fn tags(max: usize) -> impl Strategy<Value = Vec<Tag>> {
    prop::collection::vec(tag(), 0..=max)
}

/// A random mirrored frame and the truncation it claims (0 when its IP header is cut).
fn inner() -> impl Strategy<Value = (Vec<u8>, u32)> {
    (tags(2), 0u8..3, 14usize..9000, 0u16..2000).prop_map(|(tags, l3, len, extra)| {
        let l2 = 14 + 4 * tags.len();
        let ip = len.saturating_sub(l2);
        let claim = u16::try_from(ip).expect("fits") + extra;
        // The IP header must be whole for its length to be read.
        let (l3, truncated) = match l3 {
            0 => (
                InnerL3::Ipv4 {
                    claimed: Some(claim),
                },
                ip >= 20,
            ),
            1 => (
                InnerL3::Ipv6 {
                    claimed: Some(claim.saturating_sub(40)),
                },
                ip >= 40,
            ),
            _ => (InnerL3::Other(0x0806), false),
        };
        let truncated = if truncated { u32::from(extra) } else { 0 };
        (mirrored_frame(&InnerSpec { tags, l3, len }), truncated)
    })
}

/// Random outer IP: IPv4 with options, or IPv6 with skippable extension headers.
#[derive(Clone, Debug)]
enum OuterIp {
    V4(Ipv4Spec),
    V6(Ipv6Spec),
}

fn outer_ip() -> impl Strategy<Value = OuterIp> {
    let ext = prop::collection::vec((prop::sample::select(vec![0u8, 43, 60]), 0u8..4), 0..=8);
    prop_oneof![
        (any::<[u8; 4]>(), any::<[u8; 4]>(), 5u8..=15).prop_map(|(src, dst, ihl)| OuterIp::V4(
            Ipv4Spec {
                src,
                dst,
                ihl,
                ..Ipv4Spec::default()
            }
        )),
        (any::<[u8; 16]>(), any::<[u8; 16]>(), ext).prop_map(|(src, dst, ext)| OuterIp::V6(
            Ipv6Spec {
                src,
                dst,
                ext,
                ..Ipv6Spec::default()
            }
        )),
    ]
}

fn geneve_spec() -> impl Strategy<Value = GeneveSpec> {
    let opt = (any::<u16>(), any::<u8>(), 0usize..8)
        .prop_map(|(class, typ, words)| GeneveOpt::new(class, typ, &vec![0xA5; words * 4]));
    let flags = any::<u8>().prop_map(|f| f & !0x80);
    (0..=0x00FF_FFFFu32, prop::collection::vec(opt, 0..6), flags).prop_map(
        |(vni, options, flags)| GeneveSpec {
            vni,
            options,
            // C bit and reserved bits, never O.
            flags,
            ..GeneveSpec::default()
        },
    )
}

/// The random stacks of the issue.
#[derive(Clone, Copy, Debug)]
enum Stack {
    /// VXLAN over the outer IP (v4 or v6).
    Vxlan,
    /// Geneve carrying the Ethernet frame.
    GeneveEth,
    /// Geneve carrying bare IPv4 → UDP 4789 → VXLAN → frame (GWLB).
    GeneveThenVxlan,
}

fn wrap_ip(e: Encap, ip: &OuterIp) -> Encap {
    match ip {
        OuterIp::V4(s) => e.ipv4(s),
        OuterIp::V6(s) => e.ipv6(s),
    }
}

proptest! {
    #[test]
    fn prop_never_panics_on_arbitrary_bytes(
        frame in prop::collection::vec(any::<u8>(), 0..600),
        depth in 0u8..6,
    ) {
        let cfg = DecapConfig { max_depth: depth, ..DecapConfig::default() };
        if let Ok(d) = decap(&frame, &cfg) {
            check_ok_invariants(&frame, &d, &cfg);
        }
    }

    #[test]
    fn prop_never_panics_on_plausible_prefixes(
        tags in tags(3),
        ethertype in prop::sample::select(vec![0x0800u16, 0x86DD]),
        first in any::<u8>(),
        tail in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        // Outer Ethernet, tags, an IP EtherType and a random first byte, so random bytes reach
        // the deeper layers far more often than fully random input.
        let mut frame = mirrorcap_wire::test_encap::ethernet(&tags, ethertype, &[first]);
        frame.extend_from_slice(&tail);
        let cfg = DecapConfig::default();
        if let Ok(d) = decap(&frame, &cfg) {
            check_ok_invariants(&frame, &d, &cfg);
        }
    }

    #[test]
    fn prop_random_tunnel_payloads_never_panic(
        port in prop::sample::select(vec![4789u16, 6081]),
        payload in prop::collection::vec(any::<u8>(), 0..400),
        ip in outer_ip(),
    ) {
        // Well-formed outer headers around random tunnel bytes: Geneve options, nested IP/UDP.
        let e = wrap_ip(Encap::frame(payload).udp(1, port), &ip).eth(&[], 0);
        let cfg = DecapConfig { max_depth: 8, ..DecapConfig::default() };
        if let Ok(d) = decap(&e.bytes, &cfg) {
            check_ok_invariants(&e.bytes, &d, &cfg);
        }
    }

    #[test]
    fn prop_mutated_valid_frames_never_panic(
        (frame, _) in inner(),
        ip in outer_ip(),
        g in geneve_spec(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mid = Encap::frame(frame).vxlan(7).udp(1, 4789).ipv4(&Ipv4Spec::default());
        let mut bytes = wrap_ip(mid.geneve(&g).udp(2, 6081), &ip).eth(&[], 0).bytes;
        // Mutate the headers, where decisions are made.
        let span = bytes.len().min(400);
        for (at, value) in edits {
            bytes[at.index(span)] = value;
        }
        let frame = &bytes[..cut.index(bytes.len() + 1)];
        let cfg = DecapConfig::default();
        if let Ok(d) = decap(frame, &cfg) {
            check_ok_invariants(frame, &d, &cfg);
        }
    }

    #[test]
    fn prop_random_stacks_give_back_the_mirrored_frame(
        (frame, truncated) in inner(),
        stack in prop::sample::select(vec![Stack::Vxlan, Stack::GeneveEth, Stack::GeneveThenVxlan]),
        ip in outer_ip(),
        outer_tags in tags(2),
        padding in prop_oneof![Just(0usize), 1usize..64],
        vni in 0..=0x00FF_FFFFu32,
        g in geneve_spec(),
        src_port in any::<u16>(),
    ) {
        let base = Encap::frame(frame.clone());
        let (tunnelled, kind, depth, want_vni, geneve_vni) = match stack {
            Stack::Vxlan => (base.vxlan(vni), TunnelKind::Vxlan, 1, vni, None),
            Stack::GeneveEth => (base.geneve(&g), TunnelKind::Geneve, 1, g.vni, Some(g.vni)),
            Stack::GeneveThenVxlan => (
                base.vxlan(vni).udp(4321, 4789).ipv4(&Ipv4Spec::default()).geneve(&g),
                TunnelKind::Vxlan,
                2,
                vni,
                Some(g.vni),
            ),
        };
        let port = if geneve_vni.is_some() { 6081 } else { 4789 };
        let e = wrap_ip(tunnelled.udp(src_port, port), &ip).eth(&outer_tags, padding);
        let d = decap(&e.bytes, &DecapConfig::default())
            .map_err(|r| TestCaseError::fail(format!("dropped as {r:?}")))?;
        prop_assert_eq!(d.inner(&e.bytes), &frame[..]);
        prop_assert_eq!((d.inner_offset, d.inner_len), (e.inner_offset, e.inner_len));
        let (src, dst) = match &ip {
            OuterIp::V4(s) => (std::net::IpAddr::from(s.src), std::net::IpAddr::from(s.dst)),
            OuterIp::V6(s) => (std::net::IpAddr::from(s.src), std::net::IpAddr::from(s.dst)),
        };
        prop_assert_eq!(d.meta.kind, kind);
        prop_assert_eq!(d.meta.depth, depth);
        prop_assert_eq!(d.meta.vni, want_vni);
        prop_assert_eq!(d.meta.geneve_vni, geneve_vni);
        prop_assert_eq!((d.meta.outer_src, d.meta.outer_dst), (src, dst));
        prop_assert_eq!(d.meta.outer_src_port, src_port);
        prop_assert_eq!(usize::from(d.meta.outer_vlans), outer_tags.len());
        prop_assert_eq!(d.meta.inner, InnerKind::Ethernet);
        prop_assert_eq!(d.meta.truncated_by, truncated);
        if geneve_vni.is_some() {
            prop_assert_eq!(usize::from(d.meta.geneve_options), g.options.len());
        }
    }

    #[test]
    fn prop_snaplen_cuts_keep_the_bytes_and_the_original_length(
        (frame, _) in inner(),
        stack in prop::sample::select(vec![Stack::Vxlan, Stack::GeneveEth, Stack::GeneveThenVxlan]),
        ip in outer_ip(),
        outer_tags in tags(2),
        g in geneve_spec(),
        cut in any::<prop::sample::Index>(),
    ) {
        // A capture taken with a snaplen and replayed: cut anywhere in the mirrored frame past
        // its Ethernet header, the outer lengths still give the original length.
        let base = Encap::frame(frame.clone());
        let tunnelled = match stack {
            Stack::Vxlan => base.vxlan(1),
            Stack::GeneveEth => base.geneve(&g),
            Stack::GeneveThenVxlan => {
                base.vxlan(1).udp(4321, 4789).ipv4(&Ipv4Spec::default()).geneve(&g)
            }
        };
        let port = if matches!(stack, Stack::Vxlan) { 4789 } else { 6081 };
        let e = wrap_ip(tunnelled.udp(1, port), &ip).eth(&outer_tags, 0);
        let cfg = DecapConfig::default();
        let whole = decap(&e.bytes, &cfg)
            .map_err(|r| TestCaseError::fail(format!("whole dropped as {r:?}")))?;
        let first = e.inner_offset + 14;
        let at = first + cut.index(e.bytes.len() - first + 1);
        let b = &e.bytes[..at];
        let d = decap(b, &cfg)
            .map_err(|r| TestCaseError::fail(format!("cut at {at} dropped as {r:?}")))?;
        check_ok_invariants(b, &d, &cfg);
        prop_assert_eq!(d.inner(b), &frame[..at - e.inner_offset]);
        prop_assert_eq!(TunnelMeta { truncated_by: 0, ..d.meta }, TunnelMeta { truncated_by: 0, ..whole.meta });
        let orig = d.inner_len + d.meta.truncated_by as usize;
        let whole_orig = whole.inner_len + whole.meta.truncated_by as usize;
        // The mirrored frame's own IP length (AWS truncation) is seen only while its header
        // (after at most two tags: 22 + 40 bytes) is there; the UDP length always is.
        if at - e.inner_offset >= 22 + 40 {
            prop_assert_eq!(orig, whole_orig);
        } else {
            prop_assert!(orig == whole_orig || orig == whole.inner_len, "{} {} {}", orig, whole_orig, whole.inner_len);
        }
    }

    #[test]
    fn prop_plain_vxlan_frame_spec_round_trips(
        vni in 0..=0x00FF_FFFFu32,
        inner_len in 14usize..9000,
        ihl in 5u8..=15,
        padding in 0usize..64,
        vxlan_flags in any::<u8>().prop_map(|f| f | 0x08),
    ) {
        let spec = FrameSpec { vni, inner_len, ihl, padding, vxlan_flags, ..FrameSpec::default() };
        let built = spec.build();
        let d = decap(&built.bytes, &DecapConfig::default())
            .map_err(|r| TestCaseError::fail(format!("dropped as {r:?}")))?;
        prop_assert_eq!(d.inner_offset, 14 + usize::from(ihl) * 4 + 16);
        prop_assert_eq!(d.inner(&built.bytes), built.inner());
        prop_assert_eq!(d.meta.vni, vni);
        prop_assert_eq!(d.meta.vxlan_reserved_bits, vxlan_flags != 0x08);
    }
}
