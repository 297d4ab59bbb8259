//! Plain VPC Traffic Mirroring VXLAN over IPv4 (one tunnel, no VLAN): the frame, every field
//! and length edge of the outer headers, and the VXLAN flags.

use super::{oracle_vxlan_inner, v4, vxlan_meta};
use crate::*;
use mirrorcap_wire::test_frames::{inner_frame, Built, FrameSpec};
use mirrorcap_wire::vxlan;
use std::net::{IpAddr, Ipv4Addr};

const ETH: usize = 14;

fn run(spec: &FrameSpec) -> (Built, Result<Decapped, DropReason>) {
    let built = spec.build();
    let out = decap(&built.bytes, &DecapConfig::default());
    (built, out)
}

fn drop_of(spec: &FrameSpec) -> DropReason {
    match run(spec).1 {
        Ok(d) => panic!("expected a drop for {spec:?}, got {d:?}"),
        Err(r) => r,
    }
}

/// Asserts `spec` decapsulates to exactly the inner range the builder wrote.
pub(super) fn assert_decaps(spec: &FrameSpec) -> Decapped {
    let (built, out) = run(spec);
    let d = out.unwrap_or_else(|r| panic!("{spec:?} dropped as {r:?}"));
    assert_eq!(d.inner_offset, built.inner_offset, "{spec:?}");
    assert_eq!(d.inner_len, built.inner_len, "{spec:?}");
    assert_eq!(d.inner(&built.bytes), built.inner());
    assert_eq!(d.inner(&built.bytes), &inner_frame(spec.inner_len)[..]);
    assert_eq!(d.inner(&built.bytes), &oracle_vxlan_inner(&built.bytes)[..]);
    assert_eq!(
        d.meta,
        TunnelMeta {
            vxlan_reserved_bits: spec.vxlan_flags != vxlan::FLAG_I,
            ..vxlan_meta(spec.vni, v4(spec.src), v4(spec.dst), spec.src_port)
        }
    );
    d
}

#[test]
fn good_vxlan_frame() {
    let d = assert_decaps(&FrameSpec::default());
    assert_eq!(d.inner_offset, 14 + 20 + 8 + 8);
    assert_eq!(d.inner_len, 98);
    assert_eq!(d.meta.vni, 0x00AB_CDEF);
    assert_eq!(d.meta.outer_src, IpAddr::V4(Ipv4Addr::new(10, 0, 1, 23)));
    assert_eq!(d.meta.outer_dst, IpAddr::V4(Ipv4Addr::new(10, 0, 2, 200)));
    assert_eq!(
        (d.meta.depth, d.meta.outer_vlans, d.meta.truncated_by),
        (1, 0, 0)
    );
    assert_eq!(d.meta.outer_src_port, 40_123);
}

#[test]
fn vni_extremes_and_inner_sizes() {
    for vni in [0, 1, 100, vxlan::MAX_VNI] {
        for inner_len in [14, 15, 60, 1514, 9001] {
            assert_decaps(&FrameSpec {
                vni,
                inner_len,
                ..FrameSpec::default()
            });
        }
    }
}

#[test]
fn default_config_and_port_8472_only_when_configured() {
    let cfg = DecapConfig::default();
    assert_eq!(cfg.vxlan_ports, vec![4789]);
    assert_eq!(cfg.geneve_ports, vec![6081]);
    assert_eq!(cfg.max_depth, 3);
    let built = FrameSpec {
        dst_port: 8472,
        ..FrameSpec::default()
    }
    .build();
    assert_eq!(decap(&built.bytes, &cfg), Err(DropReason::NotMirror));
    let linux = DecapConfig {
        vxlan_ports: vec![4789, 8472],
        ..DecapConfig::default()
    };
    let d = decap(&built.bytes, &linux).expect("decaps on 8472");
    assert_eq!(d.inner(&built.bytes), built.inner());
    assert_eq!(d.meta.vni, 0x00AB_CDEF);
    // 4789 keeps working alongside it, and can be removed.
    let std = FrameSpec::default().build();
    assert!(decap(&std.bytes, &linux).is_ok());
    let only_8472 = DecapConfig {
        vxlan_ports: vec![8472],
        ..DecapConfig::default()
    };
    assert_eq!(decap(&std.bytes, &only_8472), Err(DropReason::NotMirror));
    // No ports at all: nothing is mirror traffic.
    let none = DecapConfig {
        vxlan_ports: vec![],
        geneve_ports: vec![],
        ..DecapConfig::default()
    };
    assert_eq!(decap(&std.bytes, &none), Err(DropReason::NotMirror));
}

#[test]
fn not_mirror_traffic() {
    // (0x8100/0x88A8: the IPv4 header read as a tag gives EtherType 0x0086.)
    for ethertype in [0x0806, 0x8100, 0x88A8, 0x9100, 0x0000, 0x8847, 0xFFFF] {
        let spec = FrameSpec {
            ethertype,
            ..FrameSpec::default()
        };
        assert_eq!(drop_of(&spec), DropReason::NotMirror, "{ethertype:#x}");
    }
    for protocol in [0, 1, 6, 47, 58, 132, 255] {
        let spec = FrameSpec {
            protocol,
            ..FrameSpec::default()
        };
        assert_eq!(drop_of(&spec), DropReason::NotMirror, "proto {protocol}");
    }
    for dst_port in [0, 53, 4788, 4790, 6080, 6082, 8472, 65535] {
        let spec = FrameSpec {
            dst_port,
            ..FrameSpec::default()
        };
        assert_eq!(drop_of(&spec), DropReason::NotMirror, "port {dst_port}");
    }
    // The source port does not matter (AWS hashes the inner 5-tuple into it).
    assert_decaps(&FrameSpec {
        src_port: 4789,
        ..FrameSpec::default()
    });
}

#[test]
fn every_cut_drops_until_the_mirrored_frame_then_counts_the_missing_bytes() {
    for ihl in [5u8, 6, 10, 15] {
        let spec = FrameSpec {
            ihl,
            ..FrameSpec::default()
        };
        let built = spec.build();
        let frame_start = built.inner_offset + ETH;
        for len in 0..built.bytes.len() {
            let got = decap(&built.bytes[..len], &DecapConfig::default());
            if len < frame_start {
                // A header up to the mirrored frame's Ethernet header is cut short.
                assert_eq!(got, Err(DropReason::TruncatedHeader), "ihl {ihl} len {len}");
                continue;
            }
            // Cut inside the mirrored frame (a snaplen capture): the bytes present are kept and
            // the outer lengths give the original length.
            let d = got.unwrap_or_else(|r| panic!("ihl {ihl} len {len}: {r:?}"));
            assert_eq!(
                d.inner(&built.bytes[..len]),
                &built.inner()[..len - built.inner_offset]
            );
            assert_eq!(d.meta.truncated_by as usize, built.bytes.len() - len);
        }
    }
}

/// Cuts a frame at `cut` and rewrites the IPv4 total length and UDP length (where present)
/// to match, so that only the header lengths themselves are short.
fn consistent_cut(spec: &FrameSpec, cut: usize) -> Vec<u8> {
    let mut b = spec.build().bytes;
    b.truncate(cut);
    let ip = ETH;
    let udp = ip + usize::from(spec.ihl) * 4;
    if b.len() >= ip + 4 {
        let tot = u16::try_from(b.len() - ip).expect("fits");
        b[ip + 2..ip + 4].copy_from_slice(&tot.to_be_bytes());
    }
    if b.len() >= udp + 6 {
        let ul = u16::try_from(b.len() - udp).expect("fits");
        b[udp + 4..udp + 6].copy_from_slice(&ul.to_be_bytes());
    }
    b
}

#[test]
fn every_short_header_is_truncated() {
    for ihl in [5u8, 7, 15] {
        let spec = FrameSpec {
            ihl,
            ..FrameSpec::default()
        };
        let headers = ETH + usize::from(ihl) * 4 + 8 + 8 + 14;
        for cut in 0..headers {
            let b = consistent_cut(&spec, cut);
            assert_eq!(
                decap(&b, &DecapConfig::default()),
                Err(DropReason::TruncatedHeader),
                "ihl {ihl} cut {cut}"
            );
        }
        let b = consistent_cut(&spec, headers);
        let d = decap(&b, &DecapConfig::default()).expect("14-byte inner frame decaps");
        assert_eq!((d.inner_offset, d.inner_len), (headers - 14, 14));
    }
    // Inner frames shorter than an Ethernet header, built with consistent lengths.
    for inner_len in 0..14 {
        let spec = FrameSpec {
            inner_len,
            ..FrameSpec::default()
        };
        assert_eq!(
            drop_of(&spec),
            DropReason::TruncatedHeader,
            "inner {inner_len}"
        );
    }
}

#[test]
fn flags_without_i_bit() {
    for vxlan_flags in 0u8..=255 {
        let spec = FrameSpec {
            vxlan_flags,
            ..FrameSpec::default()
        };
        if vxlan_flags & vxlan::FLAG_I == 0 {
            assert_eq!(
                drop_of(&spec),
                DropReason::BadVxlanFlags,
                "{vxlan_flags:#x}"
            );
        } else {
            // Reserved bits are ignored (RFC 7348).
            assert_decaps(&spec);
        }
    }
}

#[test]
fn ipv4_options_are_skipped() {
    for ihl in 6u8..=15 {
        let spec = FrameSpec {
            ihl,
            ..FrameSpec::default()
        };
        let d = assert_decaps(&spec);
        assert_eq!(d.inner_offset, ETH + usize::from(ihl) * 4 + 16);
    }
}

#[test]
fn ethernet_padding_after_total_len_is_ignored() {
    for padding in [1, 2, 4, 31, 64, 1000] {
        for inner_len in [14, 20, 98] {
            let spec = FrameSpec {
                padding,
                inner_len,
                ..FrameSpec::default()
            };
            let (built, out) = run(&spec);
            let d = out.expect("padded frame decaps");
            assert_eq!(d.inner_len, inner_len);
            assert_eq!(d.inner_offset + d.inner_len + padding, built.bytes.len());
            assert_decaps(&spec);
        }
    }
}

#[test]
fn udp_length_shorter_than_ip_payload_bounds_the_inner_frame() {
    // Trailing bytes inside the IPv4 payload but past the UDP length are not inner bytes.
    let spec = FrameSpec {
        tot_len: Some(20 + 8 + 8 + 98),
        udp_len: Some(8 + 8 + 60),
        ..FrameSpec::default()
    };
    let (built, out) = run(&spec);
    let d = out.expect("decaps");
    assert_eq!(d.inner_len, 60);
    assert_eq!(d.inner(&built.bytes), &built.inner()[..60]);
}

#[test]
fn fragments() {
    for flags_frag in [0x2000u16, 0x0001, 0x2001, 0x1FFF, 0x3FFF, 0x6000, 0xE0B9] {
        let spec = FrameSpec {
            flags_frag,
            ..FrameSpec::default()
        };
        assert_eq!(drop_of(&spec), DropReason::OuterFragment, "{flags_frag:#x}");
    }
    // Checked before the protocol: a non-first fragment has no UDP header to look at.
    let spec = FrameSpec {
        flags_frag: 0x00B9,
        protocol: 6,
        ..FrameSpec::default()
    };
    assert_eq!(drop_of(&spec), DropReason::OuterFragment);
    // DF alone, or the reserved bit, is not a fragment.
    for flags_frag in [0x4000u16, 0x8000, 0xC000] {
        assert_decaps(&FrameSpec {
            flags_frag,
            ..FrameSpec::default()
        });
    }
}

#[test]
fn bad_udp_length() {
    let udp_total = 8 + 8 + 98;
    for udp_len in [0u16, 1, 7, udp_total + 1, u16::MAX] {
        let spec = FrameSpec {
            udp_len: Some(udp_len),
            ..FrameSpec::default()
        };
        assert_eq!(
            drop_of(&spec),
            DropReason::BadUdpLength,
            "udp len {udp_len}"
        );
        // Padding after the IPv4 packet does not make a too-long UDP length valid.
        let padded = FrameSpec {
            padding: 64,
            ..spec
        };
        assert_eq!(
            drop_of(&padded),
            DropReason::BadUdpLength,
            "padded {udp_len}"
        );
    }
    // Room for the UDP header but not the VXLAN header.
    for udp_len in 8u16..16 {
        let spec = FrameSpec {
            udp_len: Some(udp_len),
            ..FrameSpec::default()
        };
        assert_eq!(
            drop_of(&spec),
            DropReason::TruncatedHeader,
            "udp len {udp_len}"
        );
    }
    // A bad length on another port is somebody else's traffic.
    let spec = FrameSpec {
        udp_len: Some(0),
        dst_port: 53,
        ..FrameSpec::default()
    };
    assert_eq!(drop_of(&spec), DropReason::NotMirror);
}

#[test]
fn bad_ip_header() {
    for ip_version in [0u8, 6, 15] {
        let spec = FrameSpec {
            ip_version,
            ..FrameSpec::default()
        };
        assert_eq!(drop_of(&spec), DropReason::BadIpHeader, "v{ip_version}");
    }
    for ihl in 0u8..5 {
        let spec = FrameSpec {
            ihl,
            ..FrameSpec::default()
        };
        assert_eq!(drop_of(&spec), DropReason::BadIpHeader, "ihl {ihl}");
    }
    let full = 20 + 8 + 8 + 98;
    for tot_len in [0u16, 19] {
        let spec = FrameSpec {
            tot_len: Some(tot_len),
            ..FrameSpec::default()
        };
        assert_eq!(drop_of(&spec), DropReason::BadIpHeader, "tot {tot_len}");
    }
    // Beyond the bytes present: a cut after the UDP datagram, which is whole.
    for tot_len in [full + 1, u16::MAX] {
        let spec = FrameSpec {
            tot_len: Some(tot_len),
            ..FrameSpec::default()
        };
        let (built, out) = run(&spec);
        let d = out.unwrap_or_else(|r| panic!("tot {tot_len}: {r:?}"));
        assert_eq!(d.inner(&built.bytes), built.inner(), "tot {tot_len}");
        assert_eq!(d.meta.truncated_by, 0, "tot {tot_len}");
    }
    // tot_len shorter than the UDP datagram: the UDP length no longer fits.
    let spec = FrameSpec {
        tot_len: Some(full - 1),
        ..FrameSpec::default()
    };
    assert_eq!(drop_of(&spec), DropReason::BadUdpLength);
}

#[test]
fn decapped_inner_never_panics() {
    let built = FrameSpec::default().build();
    let d = decap(&built.bytes, &DecapConfig::default()).expect("decaps");
    assert_eq!(d.inner(&built.bytes[..10]), &[] as &[u8]);
    assert_eq!(d.inner(&[]), &[] as &[u8]);
    let huge = Decapped {
        inner_offset: usize::MAX,
        inner_len: usize::MAX,
        ..d
    };
    assert_eq!(huge.inner(&built.bytes), &[] as &[u8]);
    let long = Decapped {
        inner_len: usize::MAX,
        ..d
    };
    assert_eq!(long.inner(&built.bytes), &[] as &[u8]);
}

#[test]
fn reserved_bits_are_tolerated_and_reported() {
    use mirrorcap_wire::test_encap::{ethernet, ipv4, udp, vxlan as vxlan_hdr, Ipv4Spec};
    let inner = inner_frame(60);
    for (flags, reserved, expect) in [
        (0x08, 0x00, false),
        (0x0C, 0x00, true),
        (0x88, 0x00, true),
        (0x08, 0x01, true),
        (0xFF, 0xFF, true),
    ] {
        let dgram = udp(1, 4789, &vxlan_hdr(flags, 42, reserved, &inner));
        let frame = ethernet(&[], 0x0800, &ipv4(&Ipv4Spec::default(), 17, &dgram));
        let d = decap(&frame, &DecapConfig::default()).expect("tolerated");
        assert_eq!(
            d.meta.vxlan_reserved_bits, expect,
            "{flags:#x} {reserved:#x}"
        );
        assert_eq!(d.meta.vni, 42);
        assert_eq!(d.inner(&frame), &inner[..]);
    }
}
