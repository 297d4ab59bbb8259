//! Third-party captures from `../shared/testdata/pcaps/` (skipped with a note when absent, a
//! failure under `CI=true` so CI cannot pass having read nothing): every packet of every file gets an expected decision, VNI or named drop reason, and the
//! metadata of each kind of capture is checked against what tshark shows for it.

use super::oracle_udp_payload;
use crate::*;
use pcap_file::pcapng::Block;
use std::path::PathBuf;

fn corpus_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/testdata/pcaps")
        .join(name)
}

/// True under `CI=true` (or `CI=1`). The same rule as the integration tests'
/// `support::in_ci`, repeated here because this crate's unit tests cannot reach `tests/`.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// The corpus at `path` is missing: a note (the caller then skips) or, under CI, a failure.
fn absent(path: &std::path::Path) {
    assert!(
        !in_ci(),
        "{} is absent; CI=true, so a missing corpus fails instead of skipping",
        path.display()
    );
    eprintln!("note: {} absent, skipping", path.display());
}

/// The captured bytes of every packet of a pcap or pcapng file in the shared corpus, or `None`
/// (after [`absent`]) when it is absent. Snapped records give their captured bytes, as the NIC
/// would.
fn packets(name: &str) -> Option<Vec<Vec<u8>>> {
    let path = corpus_path(name);
    let Ok(file) = std::fs::File::open(&path) else {
        absent(&path);
        return None;
    };
    let mut out = Vec::new();
    if name.ends_with(".pcapng") {
        let mut reader = pcap_file::pcapng::PcapNgReader::new(file).expect("pcapng header");
        let mut links = Vec::new();
        while let Some(block) = reader.next_block() {
            match block.expect("pcapng block") {
                Block::InterfaceDescription(idb) => links.push(idb.linktype),
                Block::EnhancedPacket(epb) => {
                    let link = links.get(epb.interface_id as usize);
                    assert_eq!(link, Some(&pcap_file::DataLink::ETHERNET), "{name}");
                    out.push(epb.data.into_owned());
                }
                _ => {}
            }
        }
    } else {
        let mut reader = pcap_file::pcap::PcapReader::new(file).expect("pcap header");
        assert_eq!(
            reader.header().datalink,
            pcap_file::DataLink::ETHERNET,
            "{name}"
        );
        while let Some(pkt) = reader.next_packet() {
            out.push(pkt.expect("pcap record").data.into_owned());
        }
    }
    Some(out)
}

/// Expected per-packet result of a capture: the VNI, or the drop reason.
type Outcome = Result<u32, DropReason>;

fn linux_vxlan() -> DecapConfig {
    DecapConfig {
        vxlan_ports: vec![8472],
        ..DecapConfig::default()
    }
}

/// tcpdump__geneve.pcap: OVS alternates VNI 10 (one critical option) and 11 (none).
const OVS_GENEVE_VNIS: [u32; 39] = [
    10, 11, 11, 10, 11, 10, 11, 11, 10, 11, 10, 10, 11, 10, 11, 10, 11, 10, 11, 10, 10, 11, 10, 11,
    10, 11, 11, 10, 11, 11, 10, 11, 10, 10, 11, 10, 11, 10, 11,
];

#[test]
fn every_packet_of_every_capture_has_its_decision() {
    use DropReason::*;
    let default = DecapConfig::default();
    let port_8472 = linux_vxlan();
    let ovs: Vec<Outcome> = OVS_GENEVE_VNIS.iter().map(|&v| Ok(v)).collect();
    let mut v4_frags = vec![Err(NotMirror); 3];
    v4_frags.extend([Err(OuterFragment); 4]);
    v4_frags.push(Err(NotMirror));
    let mut v6_frags = vec![Err(NotMirror); 2];
    v6_frags.extend([Err(OuterFragment); 4]);
    let cases: Vec<(&str, &DecapConfig, Vec<Outcome>)> = vec![
        (
            "arkime__gre-erspan-vxlan.pcap",
            &default,
            vec![Err(NotMirror); 7],
        ),
        (
            "flowtest__802.1Q_tunneling.pcap",
            &default,
            vec![Err(NotMirror); 10],
        ),
        ("flowtest__ipv4-udp-fragmented.pcap", &default, v4_frags),
        ("flowtest__ipv6-udp-fragmented.pcap", &default, v6_frags),
        (
            "suricata-verify__vxlan-decoder-01_input.pcap",
            &default,
            vec![Ok(37), Err(NotMirror), Err(NotMirror)],
        ),
        (
            "suricata-verify__vxlan-non-zero-reserved-fields_input.pcap",
            &default,
            vec![Ok(11); 10],
        ),
        (
            "tcpdump__802.1ad_QinQ.pcap",
            &default,
            vec![Err(NotMirror); 2],
        ),
        (
            "tcpdump__bigtcp-ipv4-vxlan-ipv4.pcap",
            &default,
            vec![Err(BadIpHeader)],
        ),
        (
            "tcpdump__bigtcp-ipv6-vxlan-ipv6.pcap",
            &default,
            vec![Err(BadIpHeader)],
        ),
        ("tcpdump__geneve-gcp.pcap", &default, vec![Ok(0)]),
        ("tcpdump__geneve.pcap", &default, ovs),
        (
            "tcpdump__gso-ipv4-vxlan-ipv6.pcap",
            &default,
            vec![Ok(5001)],
        ),
        (
            "tcpdump__gso-ipv6-geneve-ipv6.pcap",
            &default,
            vec![Ok(5001)],
        ),
        (
            "tcpdump__gso-ipv6-vxlan-ipv4.pcap",
            &default,
            vec![Ok(5001)],
        ),
        (
            "tcpdump__gso-ipv6-vxlan-ipv6.pcap",
            &default,
            vec![Ok(5001)],
        ),
        (
            "tcpdump__nsh-over-vxlan-gpe.pcap",
            &default,
            vec![Err(NotMirror)],
        ),
        ("tcpdump__vxlan.pcap", &default, vec![Ok(100); 10]),
        (
            "tcpdump__vxlan_port_8472.pcap",
            &port_8472,
            vec![Ok(100); 10],
        ),
        (
            "tcpdump__vxlan_port_8472.pcap",
            &default,
            vec![Err(NotMirror); 10],
        ),
        ("zeek__geneve-ipv6.pcap", &default, vec![Ok(0x12_3456); 2]),
        (
            "zeek__geneve-many-options.pcap",
            &default,
            vec![Ok(0x0C_012E); 10],
        ),
        (
            "zeek__geneve-truncated.pcapng",
            &default,
            vec![Err(TruncatedHeader)],
        ),
        ("zeek__http-vlan-0.pcap", &default, vec![Err(NotMirror); 14]),
        (
            "zeek__vxlan-encapsulated-http.pcap",
            &default,
            vec![Ok(1); 12],
        ),
        ("zeek__vxlan-triple-v2.pcap", &default, vec![Ok(1)]),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for (name, cfg, expected) in cases {
        seen.insert(name);
        let Some(frames) = packets(name) else {
            continue;
        };
        let got: Vec<Outcome> = frames
            .iter()
            .map(|f| decap(f, cfg).map(|d| d.meta.vni))
            .collect();
        assert_eq!(got, expected, "{name} with {cfg:?}");
    }
    // Every file of the corpus is in the table.
    match std::fs::read_dir(corpus_path("")) {
        Ok(dir) => {
            for entry in dir.flatten() {
                let file = entry.file_name().to_string_lossy().into_owned();
                if file.ends_with(".pcap") || file.ends_with(".pcapng") {
                    assert!(seen.contains(file.as_str()), "{file} has no expectations");
                }
            }
        }
        Err(_) => absent(&corpus_path("")),
    }
}

/// Decapsulates every packet of `name`, failing on a drop.
fn decapped(name: &str, cfg: &DecapConfig) -> Option<Vec<(Vec<u8>, Decapped)>> {
    let frames = packets(name)?;
    Some(
        frames
            .into_iter()
            .enumerate()
            .map(|(i, f)| {
                let d = decap(&f, cfg).unwrap_or_else(|r| panic!("{name} #{i}: {r:?}"));
                (f, d)
            })
            .collect(),
    )
}

/// The UDP payload (etherparse) after `tunnel_len` bytes of tunnel header.
fn oracle_after(frame: &[u8], tunnel_len: usize) -> Vec<u8> {
    oracle_udp_payload(frame)[tunnel_len..].to_vec()
}

#[test]
fn vxlan_captures_metadata() {
    let cfg = DecapConfig::default();
    for (name, reserved) in [
        ("tcpdump__vxlan.pcap", false),
        ("zeek__vxlan-encapsulated-http.pcap", false),
        (
            "suricata-verify__vxlan-non-zero-reserved-fields_input.pcap",
            true,
        ),
        ("zeek__vxlan-triple-v2.pcap", true),
        ("tcpdump__gso-ipv4-vxlan-ipv6.pcap", false),
        ("tcpdump__gso-ipv6-vxlan-ipv4.pcap", false),
        ("tcpdump__gso-ipv6-vxlan-ipv6.pcap", false),
    ] {
        let Some(all) = decapped(name, &cfg) else {
            continue;
        };
        for (i, (f, d)) in all.iter().enumerate() {
            let m = &d.meta;
            assert_eq!(d.inner(f), &oracle_after(f, 8)[..], "{name} #{i}");
            assert_eq!(
                (m.kind, m.inner, m.depth),
                (TunnelKind::Vxlan, InnerKind::Ethernet, 1)
            );
            assert_eq!((m.geneve_vni, m.outer_vlans), (None, 0), "{name} #{i}");
            assert_eq!(m.vxlan_reserved_bits, reserved, "{name} #{i}");
            assert_eq!(m.truncated_by, 0, "{name} #{i}");
        }
    }
    // The triple-VXLAN capture: decap stops at the first header; the frame keeps the other two.
    if let Some(all) = decapped("zeek__vxlan-triple-v2.pcap", &cfg) {
        let (f, d) = &all[0];
        assert_eq!(
            d.meta.outer_src,
            "1.1.1.1".parse::<std::net::IpAddr>().unwrap()
        );
        let again = decap(d.inner(f), &cfg).expect("second layer");
        assert_eq!(again.meta.vni, 2);
    }
    if let Some(all) = decapped("tcpdump__gso-ipv6-vxlan-ipv4.pcap", &cfg) {
        let m = all[0].1.meta;
        assert_eq!(
            m.outer_src,
            "2604:1380:4091:ce00::b"
                .parse::<std::net::IpAddr>()
                .unwrap()
        );
        assert_eq!(m.outer_src_port, 35_971);
    }
}

#[test]
fn geneve_captures_metadata() {
    let cfg = DecapConfig::default();
    // (file, inner kind, options per packet)
    for (name, inner) in [
        ("tcpdump__geneve.pcap", InnerKind::Ethernet),
        ("zeek__geneve-many-options.pcap", InnerKind::Ethernet),
        ("tcpdump__geneve-gcp.pcap", InnerKind::Ipv4),
        ("zeek__geneve-ipv6.pcap", InnerKind::Ipv6),
        ("tcpdump__gso-ipv6-geneve-ipv6.pcap", InnerKind::Ethernet),
    ] {
        let Some(all) = decapped(name, &cfg) else {
            continue;
        };
        for (i, (f, d)) in all.iter().enumerate() {
            let m = &d.meta;
            let udp = oracle_udp_payload(f);
            let header_len = 8 + usize::from(udp[0] & 0x3F) * 4;
            assert_eq!(d.inner(f), &udp[header_len..], "{name} #{i}");
            assert_eq!((m.kind, m.inner, m.depth), (TunnelKind::Geneve, inner, 1));
            assert_eq!(m.geneve_vni, Some(m.vni), "{name} #{i}");
            assert_eq!(m.aws, GeneveAws::default(), "{name}: no AWS class options");
            let options = match (name, m.vni) {
                ("tcpdump__geneve.pcap", 10) => 1,
                ("tcpdump__geneve.pcap", _) => 0,
                ("zeek__geneve-many-options.pcap" | "tcpdump__geneve-gcp.pcap", _) => 3,
                _ => 0,
            };
            assert_eq!(m.geneve_options, options, "{name} #{i}");
            assert_eq!(m.truncated_by, 0, "{name} #{i}");
        }
    }
}
