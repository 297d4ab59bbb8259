//! Unit and property tests of `decap`, grouped by what they exercise, with the shared helpers:
//! running decap, the expected metadata of a plain VXLAN frame, and etherparse as an
//! independent oracle for the outer layers.

mod corpus;
mod geneve;
mod l2_l3;
mod nesting;
mod proptests;
mod reasons;
mod truncation;
mod vxlan;

use super::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `decap` with the default configuration.
pub(super) fn run(frame: &[u8]) -> Result<Decapped, DropReason> {
    decap(frame, &DecapConfig::default())
}

/// The drop reason for `frame`, failing the test if it decapsulates.
pub(super) fn drop_of(frame: &[u8]) -> DropReason {
    match run(frame) {
        Ok(d) => panic!("expected a drop, got {d:?}"),
        Err(r) => r,
    }
}

/// Decapsulates `frame`, failing the test on a drop.
pub(super) fn ok(frame: &[u8], cfg: &DecapConfig) -> Decapped {
    decap(frame, cfg).unwrap_or_else(|r| panic!("dropped as {r:?}"))
}

/// Independent oracle: etherparse's view of the outer UDP payload (VLAN tags, IPv4 options and
/// IPv6 extension headers included), minus the 8-byte VXLAN header.
pub(super) fn oracle_vxlan_inner(frame: &[u8]) -> Vec<u8> {
    oracle_udp_payload(frame)[8..].to_vec()
}

/// etherparse's outer UDP payload.
pub(super) fn oracle_udp_payload(frame: &[u8]) -> Vec<u8> {
    use etherparse::{SlicedPacket, TransportSlice};
    let sliced = SlicedPacket::from_ethernet(frame).expect("etherparse parses outer");
    match sliced.transport {
        Some(TransportSlice::Udp(u)) => u.payload().to_vec(),
        other => panic!("etherparse found no UDP: {other:?}"),
    }
}

/// The metadata of a plain one-layer VXLAN frame with no VLAN and a complete inner frame.
pub(super) fn vxlan_meta(vni: u32, src: IpAddr, dst: IpAddr, src_port: u16) -> TunnelMeta {
    TunnelMeta {
        kind: TunnelKind::Vxlan,
        vni,
        geneve_vni: None,
        outer_src: src,
        outer_dst: dst,
        outer_src_port: src_port,
        outer_vlans: 0,
        depth: 1,
        vxlan_reserved_bits: false,
        geneve_options: 0,
        aws: GeneveAws::default(),
        inner: InnerKind::Ethernet,
        truncated_by: 0,
    }
}

/// IPv4 address as `IpAddr`.
pub(super) fn v4(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

/// IPv6 address as `IpAddr`.
pub(super) fn v6(a: [u8; 16]) -> IpAddr {
    IpAddr::V6(Ipv6Addr::from(a))
}

/// Checks what must hold for any successful decap of `frame`.
pub(super) fn check_ok_invariants(frame: &[u8], d: &Decapped, cfg: &DecapConfig) {
    let min = match d.meta.inner {
        InnerKind::Ethernet => 14,
        InnerKind::Ipv4 => 20,
        InnerKind::Ipv6 => 40,
    };
    assert!(d.inner_len >= min, "{d:?}");
    assert!(d.inner_offset >= 14 + 20 + 8 + 8, "{d:?}");
    assert!(d.inner_offset + d.inner_len <= frame.len(), "{d:?}");
    assert_eq!(d.inner(frame).len(), d.inner_len);
    assert!(d.meta.vni <= 0x00FF_FFFF);
    assert!(d.meta.depth >= 1 && d.meta.depth <= cfg.max_depth);
    assert!(d.meta.outer_vlans <= 2);
    assert!(d.meta.truncated_by <= 65_535 + 40);
    if d.meta.kind == TunnelKind::Vxlan {
        assert_eq!(d.meta.inner, InnerKind::Ethernet);
    }
    assert_eq!(
        d.meta.geneve_vni.is_some(),
        d.meta.depth > 1 || d.meta.kind == TunnelKind::Geneve
    );
}
