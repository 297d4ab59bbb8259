//! Layered tunnels: a GWLB endpoint's Geneve → IPv4 → UDP 4789 → VXLAN → frame, the depth
//! limit, where the walk stops (at the first VXLAN header; at a Geneve payload that is not a
//! well-formed tunnel datagram), and which layer each metadata field describes.

use super::{drop_of, ok, v4};
use crate::*;
use mirrorcap_wire::geneve::{AWS_CLASS, AWS_ENDPOINT_ID, AWS_FLOW_COOKIE};
use mirrorcap_wire::test_encap::{
    mirrored_frame, Encap, GeneveOpt, GeneveSpec, InnerL3, InnerSpec, Ipv4Spec, Ipv6Spec, Tag,
};

fn frame(len: usize) -> Vec<u8> {
    mirrored_frame(&InnerSpec {
        tags: vec![],
        l3: InnerL3::Ipv6 { claimed: None },
        len,
    })
}

/// What VPC Traffic Mirroring sends: IPv4 from the source ENI (10.0.1.23) to the GWLB endpoint
/// address, UDP 4789, VXLAN VNI `vni`.
fn mirrored_vxlan_ip(inner: Vec<u8>, vni: u32) -> Encap {
    Encap::frame(inner)
        .vxlan(vni)
        .udp(33_333, 4789)
        .ipv4(&Ipv4Spec {
            src: [10, 0, 1, 23],
            dst: [10, 0, 50, 5],
            ..Ipv4Spec::default()
        })
}

/// What the GWLB endpoint delivers to us: that IP packet inside Geneve with AWS options, from
/// the GWLB (10.0.9.9) to us.
fn gwlb(e: Encap, geneve_vni: u32) -> Encap {
    let g = GeneveSpec {
        vni: geneve_vni,
        options: vec![
            GeneveOpt::new(AWS_CLASS, AWS_ENDPOINT_ID, &7u64.to_be_bytes()),
            GeneveOpt::new(AWS_CLASS, AWS_FLOW_COOKIE, &9u32.to_be_bytes()),
        ],
        ..GeneveSpec::default()
    };
    e.geneve(&g)
        .udp(60_001, 6081)
        .ipv4(&Ipv4Spec {
            src: [10, 0, 9, 9],
            dst: [10, 0, 2, 200],
            ..Ipv4Spec::default()
        })
        .eth(&[], 0)
}

#[test]
fn gwlb_geneve_then_vxlan() {
    let inner = frame(1400);
    let e = gwlb(mirrored_vxlan_ip(inner.clone(), 0x00AB_CDEF), 0x0000_0042);
    let d = ok(&e.bytes, &DecapConfig::default());
    assert_eq!(d.inner(&e.bytes), &inner[..]);
    assert_eq!((d.inner_offset, d.inner_len), (e.inner_offset, e.inner_len));
    // Geneve: 8 + endpoint ID option (4 + 8) + flow cookie option (4 + 4).
    assert_eq!(d.inner_offset, 14 + 20 + 8 + (8 + 12 + 8) + 20 + 8 + 8);
    assert_eq!(
        d.meta,
        TunnelMeta {
            kind: TunnelKind::Vxlan,
            vni: 0x00AB_CDEF,
            geneve_vni: Some(0x42),
            outer_src: v4([10, 0, 9, 9]),
            outer_dst: v4([10, 0, 2, 200]),
            outer_src_port: 60_001,
            outer_vlans: 0,
            depth: 2,
            vxlan_reserved_bits: false,
            geneve_options: 2,
            aws: GeneveAws {
                endpoint_id: Some(7),
                attachment_id: None,
                flow_cookie: Some(9),
            },
            inner: InnerKind::Ethernet,
            truncated_by: 0,
        }
    );
}

#[test]
fn gwlb_layering_over_other_shapes() {
    let inner = frame(300);
    // Geneve carrying Ethernet (with VLAN tags and padding) rather than bare IP.
    let e = mirrored_vxlan_ip(inner.clone(), 5)
        .eth(
            &[
                Tag {
                    tpid: 0x88A8,
                    tci: 1,
                },
                Tag {
                    tpid: 0x8100,
                    tci: 2,
                },
            ],
            6,
        )
        .geneve(&GeneveSpec::default())
        .udp(1, 6081)
        .ipv6(&Ipv6Spec {
            ext: vec![(0, 0)],
            ..Ipv6Spec::default()
        })
        .eth(&[], 0);
    let d = ok(&e.bytes, &DecapConfig::default());
    assert_eq!(d.inner(&e.bytes), &inner[..]);
    assert_eq!(
        (d.meta.vni, d.meta.geneve_vni, d.meta.depth),
        (5, Some(0), 2)
    );
    // Bare IPv6 inside Geneve, VXLAN over IPv6 inside.
    let e = Encap::frame(inner.clone())
        .vxlan(6)
        .udp(2, 4789)
        .ipv6(&Ipv6Spec::default())
        .geneve(&GeneveSpec {
            vni: 3,
            ..GeneveSpec::default()
        })
        .udp(1, 6081)
        .ipv4(&Ipv4Spec::default())
        .eth(&[], 0);
    let d = ok(&e.bytes, &DecapConfig::default());
    assert_eq!(d.inner(&e.bytes), &inner[..]);
    assert_eq!(
        (d.meta.vni, d.meta.geneve_vni, d.meta.depth),
        (6, Some(3), 2)
    );
    assert_eq!(d.meta.kind, TunnelKind::Vxlan);
}

/// Geneve(VNI 1) → Geneve(2) → … → `geneves` layers, then VXLAN(100), all over bare IPv4.
fn geneve_chain(geneves: u32) -> Encap {
    let mut e = mirrored_vxlan_ip(frame(100), 100);
    for vni in (1..=geneves).rev() {
        e = e
            .geneve(&GeneveSpec {
                vni,
                ..GeneveSpec::default()
            })
            .udp(1000 + vni as u16, 6081)
            .ipv4(&Ipv4Spec {
                src: [10, 0, 0, vni as u8],
                ..Ipv4Spec::default()
            });
    }
    e.eth(&[], 0)
}

#[test]
fn depth_limit() {
    let e = geneve_chain(3);
    let cfg = |max_depth| DecapConfig {
        max_depth,
        ..DecapConfig::default()
    };
    assert_eq!(
        decap(&e.bytes, &DecapConfig::default()),
        Err(DropReason::TunnelTooDeep)
    );
    let d = ok(&e.bytes, &cfg(4));
    assert_eq!(d.inner(&e.bytes), e.inner());
    assert_eq!(d.meta.depth, 4);
    assert_eq!(d.meta.kind, TunnelKind::Vxlan);
    assert_eq!((d.meta.vni, d.meta.geneve_vni), (100, Some(1)));
    assert_eq!(d.meta.outer_src, v4([10, 0, 0, 1]));
    assert_eq!(d.meta.outer_src_port, 1001);
    // The limit counts every tunnel header, the VXLAN one included.
    let two = geneve_chain(1);
    assert_eq!(decap(&two.bytes, &cfg(1)), Err(DropReason::TunnelTooDeep));
    assert_eq!(ok(&two.bytes, &cfg(2)).meta.depth, 2);
    let one = geneve_chain(0);
    assert_eq!(decap(&one.bytes, &cfg(0)), Err(DropReason::TunnelTooDeep));
    assert_eq!(ok(&one.bytes, &cfg(1)).meta.depth, 1);
    assert_eq!(ok(&geneve_chain(9).bytes, &cfg(10)).meta.depth, 10);
    assert_eq!(
        decap(&geneve_chain(9).bytes, &cfg(9)),
        Err(DropReason::TunnelTooDeep)
    );
}

#[test]
fn vxlan_ends_the_walk_even_around_a_mirrored_overlay() {
    // The mirrored frame is itself VXLAN (a customer overlay): it is captured whole.
    let overlay = mirrored_vxlan_ip(frame(80), 999).eth(&[], 0);
    let e = Encap::frame(overlay.bytes.clone())
        .vxlan(42)
        .udp(1, 4789)
        .ipv4(&Ipv4Spec::default())
        .eth(&[], 0);
    let d = ok(&e.bytes, &DecapConfig::default());
    assert_eq!(d.inner(&e.bytes), &overlay.bytes[..]);
    assert_eq!((d.meta.vni, d.meta.depth), (42, 1));
    assert_eq!(d.meta.geneve_vni, None);
}

/// Geneve over IPv4 carrying `packet` as bare IPv4.
fn geneve_bare(packet: Vec<u8>) -> Encap {
    Encap::bare_ip(packet, false)
        .geneve(&GeneveSpec {
            vni: 8,
            ..GeneveSpec::default()
        })
        .udp(1, 6081)
        .ipv4(&Ipv4Spec::default())
        .eth(&[], 0)
}

fn assert_captured_as_customer_packet(packet: Vec<u8>, what: &str) {
    let e = geneve_bare(packet.clone());
    let d = ok(&e.bytes, &DecapConfig::default());
    assert_eq!(d.inner(&e.bytes), &packet[..], "{what}");
    assert_eq!(
        (d.meta.kind, d.meta.inner, d.meta.depth, d.meta.vni),
        (TunnelKind::Geneve, InnerKind::Ipv4, 1, 8),
        "{what}"
    );
}

#[test]
fn a_geneve_payload_that_is_not_a_clean_tunnel_datagram_is_the_mirrored_frame() {
    let good = mirrored_vxlan_ip(frame(100), 5).bytes;
    let ihl_end = 20;
    let patch = |at: usize, v: &[u8]| {
        let mut p = good.clone();
        p[at..at + v.len()].copy_from_slice(v);
        p
    };
    assert_captured_as_customer_packet(patch(6, &[0x20, 0x00]), "MF set");
    assert_captured_as_customer_packet(patch(6, &[0x00, 0x10]), "offset");
    assert_captured_as_customer_packet(patch(0, &[0x44]), "IHL 4");
    assert_captured_as_customer_packet(patch(2, &[0xFF, 0xFF]), "total length too long");
    assert_captured_as_customer_packet(patch(9, &[6]), "TCP");
    assert_captured_as_customer_packet(patch(ihl_end + 2, &[0x00, 0x35]), "UDP 53");
    assert_captured_as_customer_packet(patch(ihl_end + 4, &[0xFF, 0xFF]), "bad UDP length");
    assert_captured_as_customer_packet(good[..30].to_vec(), "cut in UDP header");
    // The same packet intact is decapsulated further.
    let e = geneve_bare(good);
    assert_eq!(ok(&e.bytes, &DecapConfig::default()).meta.depth, 2);
}

#[test]
fn a_bad_tunnel_header_inside_is_still_a_drop() {
    // Once the inner datagram is a clean UDP datagram to a tunnel port, the tunnel header is
    // judged like an outer one.
    let mut inner_ip = mirrored_vxlan_ip(frame(100), 5).bytes;
    inner_ip[28] = 0x00; // VXLAN flags without I.
    assert_eq!(
        drop_of(&geneve_bare(inner_ip.clone()).bytes),
        DropReason::BadVxlanFlags
    );
    // Geneve inside with an unsupported protocol type.
    let inner = Encap::frame(frame(60))
        .geneve_proto(&GeneveSpec::default(), 0x0806)
        .udp(1, 6081)
        .ipv4(&Ipv4Spec::default());
    assert_eq!(
        drop_of(&geneve_bare(inner.bytes).bytes),
        DropReason::UnsupportedPayload
    );
}
