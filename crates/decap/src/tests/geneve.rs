//! Geneve (RFC 8926) as a single tunnel: Ethernet, bare IPv4 and bare IPv6 payloads, OAM,
//! version, option area and option bounds, protocol types, and the AWS GWLB options.

use super::{drop_of, ok, oracle_udp_payload, v4, v6};
use crate::*;
use mirrorcap_wire::geneve::{AWS_ATTACHMENT_ID, AWS_CLASS, AWS_ENDPOINT_ID, AWS_FLOW_COOKIE};
use mirrorcap_wire::test_encap::{
    ethernet, geneve, ip_packet, ipv4, mirrored_frame, udp, Encap, GeneveOpt, GeneveSpec, InnerL3,
    InnerSpec, Ipv4Spec, Ipv6Spec, Tag,
};

const ENDPOINT: u64 = 0x0123_4567_89AB_CDEF;
const ATTACHMENT: u64 = 0xFEDC_BA98_7654_3210;
const COOKIE: u32 = 0xC00C_1E5A;

fn eth_inner(len: usize) -> Vec<u8> {
    mirrored_frame(&InnerSpec {
        tags: vec![Tag {
            tpid: 0x8100,
            tci: 12,
        }],
        l3: InnerL3::Ipv4 { claimed: None },
        len,
    })
}

fn aws_opts() -> [GeneveOpt; 3] {
    [
        GeneveOpt::new(AWS_CLASS, AWS_ENDPOINT_ID, &ENDPOINT.to_be_bytes()),
        GeneveOpt::new(AWS_CLASS, AWS_ATTACHMENT_ID, &ATTACHMENT.to_be_bytes()),
        GeneveOpt::new(AWS_CLASS, AWS_FLOW_COOKIE, &COOKIE.to_be_bytes()),
    ]
}

fn all_aws() -> GeneveAws {
    GeneveAws {
        endpoint_id: Some(ENDPOINT),
        attachment_id: Some(ATTACHMENT),
        flow_cookie: Some(COOKIE),
    }
}

fn spec(vni: u32, options: Vec<GeneveOpt>) -> GeneveSpec {
    GeneveSpec {
        vni,
        options,
        ..GeneveSpec::default()
    }
}

/// Geneve over IPv4 (GWLB at 10.0.9.9) to port 6081.
fn over_v4(e: Encap, g: &GeneveSpec) -> Encap {
    e.geneve(g)
        .udp(51_000, 6081)
        .ipv4(&Ipv4Spec {
            src: [10, 0, 9, 9],
            ..Ipv4Spec::default()
        })
        .eth(&[], 0)
}

fn assert_exact(e: &Encap) -> Decapped {
    let d = ok(&e.bytes, &DecapConfig::default());
    assert_eq!((d.inner_offset, d.inner_len), (e.inner_offset, e.inner_len));
    assert_eq!(d.inner(&e.bytes), e.inner());
    d
}

#[test]
fn geneve_with_ethernet_payload() {
    let inner = eth_inner(200);
    let e = over_v4(Encap::frame(inner.clone()), &spec(0x0C_012E, vec![]));
    let d = assert_exact(&e);
    assert_eq!(d.inner(&e.bytes), &inner[..]);
    assert_eq!(&oracle_udp_payload(&e.bytes)[8..], &inner[..]);
    assert_eq!(
        d.meta,
        TunnelMeta {
            kind: TunnelKind::Geneve,
            vni: 0x0C_012E,
            geneve_vni: Some(0x0C_012E),
            outer_src: v4([10, 0, 9, 9]),
            outer_dst: v4([10, 0, 2, 200]),
            outer_src_port: 51_000,
            outer_vlans: 0,
            depth: 1,
            vxlan_reserved_bits: false,
            geneve_options: 0,
            aws: GeneveAws::default(),
            inner: InnerKind::Ethernet,
            truncated_by: 0,
        }
    );
    assert_eq!(d.inner_offset, 14 + 20 + 8 + 8);
}

#[test]
fn geneve_with_bare_ip_payloads() {
    for (l3, v6_inner, kind) in [
        (InnerL3::Ipv4 { claimed: None }, false, InnerKind::Ipv4),
        (InnerL3::Ipv6 { claimed: None }, true, InnerKind::Ipv6),
    ] {
        for len in [40, 41, 1500, 8400] {
            let packet = ip_packet(l3, len);
            let g = spec(77, aws_opts().to_vec());
            let e = over_v4(Encap::bare_ip(packet.clone(), v6_inner), &g);
            let d = assert_exact(&e);
            assert_eq!(d.inner(&e.bytes), &packet[..]);
            assert_eq!(d.meta.inner, kind);
            assert_eq!(d.meta.kind, TunnelKind::Geneve);
            assert_eq!((d.meta.vni, d.meta.geneve_vni), (77, Some(77)));
            assert_eq!(d.meta.aws, all_aws());
            assert_eq!(d.meta.geneve_options, 3);
            assert_eq!(d.meta.truncated_by, 0);
            // Over IPv6 too (the gso capture's Geneve over IPv6).
            let e6 = Encap::bare_ip(packet.clone(), v6_inner)
                .geneve(&g)
                .udp(3, 6081)
                .ipv6(&Ipv6Spec::default())
                .eth(&[], 0);
            let d6 = assert_exact(&e6);
            assert_eq!(d6.meta.outer_src, v6(Ipv6Spec::default().src));
            assert_eq!(d6.meta.inner, kind);
        }
    }
}

#[test]
fn aws_options_in_any_order_among_others() {
    let others = [
        GeneveOpt::new(0x0132, 0x01, &[1; 8]),
        GeneveOpt::new(0x0000, 0x80, &[2; 4]),
        GeneveOpt::new(0xFFFF, 0x7F, &[]),
    ];
    let aws = aws_opts();
    // Every rotation and reversal of the AWS options, interleaved with the others.
    for rot in 0..3 {
        for reverse in [false, true] {
            let mut order: Vec<GeneveOpt> = aws.to_vec();
            order.rotate_left(rot);
            if reverse {
                order.reverse();
            }
            let mut opts = Vec::new();
            for (a, o) in order.into_iter().zip(others.iter().cloned()) {
                opts.push(o);
                opts.push(a);
            }
            let e = over_v4(Encap::frame(eth_inner(100)), &spec(5, opts));
            let d = assert_exact(&e);
            assert_eq!(d.meta.aws, all_aws(), "rot {rot} rev {reverse}");
            assert_eq!(d.meta.geneve_options, 6);
        }
    }
    // Each one alone.
    for (i, o) in aws.iter().enumerate() {
        let e = over_v4(Encap::frame(eth_inner(100)), &spec(5, vec![o.clone()]));
        let got = assert_exact(&e).meta.aws;
        let want = GeneveAws {
            endpoint_id: (i == 0).then_some(ENDPOINT),
            attachment_id: (i == 1).then_some(ATTACHMENT),
            flow_cookie: (i == 2).then_some(COOKIE),
        };
        assert_eq!(got, want);
    }
}

#[test]
fn odd_aws_options_are_ignored() {
    let opts = vec![
        // Wrong lengths for their types.
        GeneveOpt::new(AWS_CLASS, AWS_ENDPOINT_ID, &[1; 4]),
        GeneveOpt::new(AWS_CLASS, AWS_FLOW_COOKIE, &[1; 8]),
        // Unknown AWS type, and a known type with the critical bit (a different type).
        GeneveOpt::new(AWS_CLASS, 4, &[1; 8]),
        GeneveOpt::new(AWS_CLASS, 0x80 | AWS_ATTACHMENT_ID, &[1; 8]),
        // A known type from another class.
        GeneveOpt::new(0x0109, AWS_ENDPOINT_ID, &[1; 8]),
        // Duplicates: the first well-formed one counts.
        GeneveOpt::new(AWS_CLASS, AWS_ENDPOINT_ID, &ENDPOINT.to_be_bytes()),
        GeneveOpt::new(AWS_CLASS, AWS_ENDPOINT_ID, &[9; 8]),
    ];
    let e = over_v4(Encap::frame(eth_inner(100)), &spec(5, opts));
    let d = assert_exact(&e);
    assert_eq!(
        d.meta.aws,
        GeneveAws {
            endpoint_id: Some(ENDPOINT),
            ..GeneveAws::default()
        }
    );
    assert_eq!(d.meta.geneve_options, 7);
}

#[test]
fn c_bit_and_critical_options_are_ignored() {
    let g = GeneveSpec {
        flags: 0x40 | 0x3F,
        options: vec![GeneveOpt::new(0x0000, 0x80, &[0; 4])],
        ..GeneveSpec::default()
    };
    let e = over_v4(Encap::frame(eth_inner(80)), &g);
    assert_exact(&e);
}

#[test]
fn oam_is_not_mirror_traffic() {
    for flags in [0x80u8, 0xC0, 0xFF] {
        let g = GeneveSpec {
            flags,
            ..GeneveSpec::default()
        };
        let e = over_v4(Encap::frame(eth_inner(80)), &g);
        assert_eq!(drop_of(&e.bytes), DropReason::NotMirror, "{flags:#x}");
    }
}

#[test]
fn version_other_than_zero_is_a_bad_geneve_header() {
    for version in 1..=3 {
        let g = GeneveSpec {
            version,
            ..GeneveSpec::default()
        };
        let e = over_v4(Encap::frame(eth_inner(80)), &g);
        assert_eq!(drop_of(&e.bytes), DropReason::BadGeneveHeader, "v{version}");
    }
}

fn geneve_frame(g: &[u8]) -> Vec<u8> {
    ethernet(
        &[],
        0x0800,
        &ipv4(&Ipv4Spec::default(), 17, &udp(1, 6081, g)),
    )
}

#[test]
fn an_option_overrunning_the_option_area_is_a_bad_geneve_header() {
    // Option area 12 bytes: a 4-byte-data option, then one claiming 8 bytes with only 0 left.
    let mut g = geneve(
        &spec(
            1,
            vec![
                GeneveOpt::new(AWS_CLASS, AWS_FLOW_COOKIE, &[1; 4]),
                GeneveOpt::new(0x0132, 1, &[]),
            ],
        ),
        0x6558,
        &eth_inner(60),
    );
    assert!(super::run(&geneve_frame(&g)).is_ok());
    g[8 + 8 + 3] = 2;
    assert_eq!(drop_of(&geneve_frame(&g)), DropReason::BadGeneveHeader);
    // The first option's length reaching past the area.
    g[8 + 3] = 31;
    assert_eq!(drop_of(&geneve_frame(&g)), DropReason::BadGeneveHeader);
}

#[test]
fn option_area_beyond_the_udp_payload_is_truncated() {
    let g = geneve(&spec(1, aws_opts().to_vec()), 0x6558, &[]);
    for cut in 0..g.len() {
        assert_eq!(
            drop_of(&geneve_frame(&g[..cut])),
            DropReason::TruncatedHeader,
            "cut {cut}"
        );
    }
    // Options present but no payload at all.
    assert_eq!(drop_of(&geneve_frame(&g)), DropReason::TruncatedHeader);
    // Option length 63 (252 bytes) with fewer bytes present.
    let mut g = geneve(&spec(1, vec![]), 0x6558, &eth_inner(300));
    g[0] = 63;
    assert_eq!(
        drop_of(&geneve_frame(&g[..8 + 251])),
        DropReason::TruncatedHeader
    );
}

#[test]
fn unsupported_payloads() {
    for proto in [0x0000u16, 0x0806, 0x8100, 0x88A8, 0x894F, 0x6559, 0xFFFF] {
        let e = over_v4(Encap::frame(eth_inner(80)), &GeneveSpec::default());
        let mut b = e.bytes.clone();
        b[14 + 20 + 8 + 2..14 + 20 + 8 + 4].copy_from_slice(&proto.to_be_bytes());
        assert_eq!(drop_of(&b), DropReason::UnsupportedPayload, "{proto:#x}");
    }
}

#[test]
fn payload_shorter_than_its_first_header_is_truncated() {
    for (proto, min) in [(0x6558u16, 14usize), (0x0800, 20), (0x86DD, 40)] {
        for len in 0..min {
            let g = geneve(&GeneveSpec::default(), proto, &vec![0x45; len]);
            assert_eq!(
                drop_of(&geneve_frame(&g)),
                DropReason::TruncatedHeader,
                "{proto:#x} len {len}"
            );
        }
        let g = geneve(&GeneveSpec::default(), proto, &vec![0x45; min]);
        assert!(super::run(&geneve_frame(&g)).is_ok(), "{proto:#x}");
    }
}

#[test]
fn geneve_port_is_configurable() {
    let e = Encap::frame(eth_inner(80))
        .geneve(&GeneveSpec::default())
        .udp(1, 6082)
        .ipv4(&Ipv4Spec::default())
        .eth(&[], 0);
    assert_eq!(drop_of(&e.bytes), DropReason::NotMirror);
    let cfg = DecapConfig {
        geneve_ports: vec![6081, 6082],
        ..DecapConfig::default()
    };
    assert_eq!(ok(&e.bytes, &cfg).meta.kind, TunnelKind::Geneve);
    // A port in both lists is VXLAN.
    let both = DecapConfig {
        vxlan_ports: vec![6082],
        geneve_ports: vec![6082],
        ..DecapConfig::default()
    };
    assert_eq!(
        crate::decap(&e.bytes, &both),
        Err(DropReason::BadVxlanFlags)
    );
}
