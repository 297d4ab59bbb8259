//! Every way mirrored traffic arrives, through the real binary on net_pcap: VXLAN over IPv4
//! and IPv6, a GWLB endpoint's Geneve around the mirror's VXLAN, 0-2 outer VLAN tags, inner
//! VLAN tags kept, AWS truncation (captured, original length kept, counted per VNI), a
//! configured VXLAN port, and --keep-unencapsulated. The expected inner frames come from
//! tshark's dissection of the input: the mirrored frame is the tail of the packet after the
//! last UDP header and the 8-byte VXLAN header.
mod support;
use std::path::Path;
use support::*;

/// Per input packet that tshark dissects as VXLAN: (the mirrored frame's bytes, its original
/// length from the inner IP header, its VNI).
fn tshark_mirrored(input: &Path) -> Vec<(Vec<u8>, u32, String)> {
    let filter = "vxlan && !(ip.flags.mf == 1) && !ipv6.fragment && vxlan.flag_i == 1 && vxlan.vni";
    let fields = [
        "frame.number",
        "udp.dstport",
        "udp.length",
        "ip.len",
        "vxlan.vni",
    ];
    let rows = tshark_fields(input, Some(filter), &fields);
    let frames = read_pcap(input);
    let last = |v: &str| v.rsplit(',').next().unwrap().to_string();
    rows.iter()
        .map(|f| {
            let frame = &frames[f[0].parse::<usize>().unwrap() - 1];
            // The UDP header in front of VXLAN is the first one to port 4789.
            let ports: Vec<&str> = f[1].split(',').collect();
            let lens: Vec<&str> = f[2].split(',').collect();
            let k = ports
                .iter()
                .position(|p| *p == "4789")
                .expect("a UDP header to 4789");
            let inner_len = lens[k].parse::<usize>().unwrap() - 16;
            let inner = frame[frame.len() - inner_len..].to_vec();
            // The inner frame's L2 header: 14 bytes, plus 4 when it carries an 802.1Q tag;
            // its IP header (the last one) says how long the frame was before truncation.
            let l2 = if inner[12..14] == [0x81, 0x00] {
                18
            } else {
                14
            };
            let orig = (l2 + last(&f[3]).parse::<usize>().unwrap()).max(inner.len()) as u32;
            (inner, orig, last(&f[4]))
        })
        .collect()
}

fn check(encap: &str, outer_vlans: &str, inner_vlan: Option<&str>, truncate: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.pcap");
    let mut args = vec![
        "gen",
        "-w",
        input.to_str().unwrap(),
        "--count",
        "60",
        "--vni",
        "11",
        "--vni",
        "22",
        "--inner-size",
        "60-3000",
        "--noise-every",
        "6",
        "--encap",
        encap,
        "--outer-vlans",
        outer_vlans,
    ];
    if let Some(v) = inner_vlan {
        args.extend(["--inner-vlan", v]);
    }
    if let Some(t) = truncate {
        args.extend(["--truncate", t]);
    }
    let (st, err) = mirrorcap(&args);
    assert!(st.success(), "{err}");
    let want = tshark_mirrored(&input);
    assert_eq!(want.len(), 60, "{encap}: tshark sees 60 mirrored frames");
    let Replay {
        metrics: m,
        records: got,
        ..
    } = replay(&input, &[]);
    assert_eq!(got.len(), 60, "{encap}/{outer_vlans}: captured\n{m}");
    for (i, ((g, g_orig), (w, w_orig, _))) in got.iter().zip(&want).enumerate() {
        assert!(
            g == w,
            "{encap}/{outer_vlans} frame {i}: bytes differ ({} vs {})",
            g.len(),
            w.len()
        );
        assert_eq!(
            g_orig, w_orig,
            "{encap}/{outer_vlans} frame {i}: original length"
        );
        if let Some(v) = inner_vlan {
            assert_eq!(
                u16::from_be_bytes([g[14], g[15]]) & 0xfff,
                v.parse::<u16>().unwrap(),
                "inner VLAN kept"
            );
        }
    }
    let truncated = want
        .iter()
        .filter(|(b, o, _)| *o as usize > b.len())
        .count();
    if truncate.is_some() {
        assert!(truncated > 10, "fixture should truncate most frames");
    }
    assert_eq!(
        metric(&m, "mirrorcap_truncated_packets_total", &[]),
        Some(truncated as f64),
        "{m}"
    );
    for vni in ["11", "22"] {
        let n = want.iter().filter(|w| w.2 == vni).count() as f64;
        let t = want
            .iter()
            .filter(|w| w.2 == vni && w.1 as usize > w.0.len())
            .count() as f64;
        assert_eq!(
            metric(&m, "mirrorcap_vni_captured_packets_total", &[("vni", vni)]),
            Some(n)
        );
        assert_eq!(
            metric(&m, "mirrorcap_vni_truncated_packets_total", &[("vni", vni)]),
            Some(t)
        );
    }
    // The noise: 10 frames cycling through the generator's 7 kinds, each dropped under its reason.
    let dropped = metric(&m, "mirrorcap_dropped_packets_total", &[]).unwrap();
    assert_eq!(dropped, 10.0, "{m}");
    assert_eq!(
        metric(
            &m,
            "mirrorcap_dropped_packets_total",
            &[("reason", "outer_fragment")]
        ),
        Some(2.0),
        "one IPv4 and one IPv6 fragment"
    );
}

#[test]
fn vxlan_over_ipv4() {
    check("vxlan", "0", None, None);
}

#[test]
fn vxlan_over_ipv4_with_802_1q_and_inner_vlan() {
    check("vxlan", "1", Some("42"), None);
}

#[test]
fn vxlan_over_ipv6_with_qinq() {
    check("vxlan6", "2", None, None);
}

#[test]
fn gwlb_geneve_around_vxlan() {
    check("gwlb", "0", Some("7"), None);
}

#[test]
fn truncated_copies_are_captured_with_their_original_length() {
    check("vxlan", "0", None, Some("128"));
    check("vxlan6", "1", Some("9"), Some("200"));
}

#[test]
fn vxlan_port_8472_only_when_configured() {
    let Some(input) = corpus_or_skip("tcpdump__vxlan_port_8472.pcap") else {
        return;
    };
    let Replay {
        metrics: m,
        records: got,
        ..
    } = replay(&input, &[]);
    assert!(got.is_empty());
    assert_eq!(
        metric(
            &m,
            "mirrorcap_dropped_packets_total",
            &[("reason", "not_mirror")]
        ),
        Some(10.0)
    );
    let Replay {
        metrics: m,
        records: got,
        ..
    } = replay(&input, &["--vxlan-port", "4789", "--vxlan-port", "8472"]);
    assert_eq!(got.len(), 10, "{m}");
    assert_eq!(
        metric(
            &m,
            "mirrorcap_vni_captured_packets_total",
            &[("vni", "100")]
        ),
        Some(10.0)
    );
}

#[test]
fn keep_unencapsulated_captures_plain_traffic_as_is() {
    let Some(input) = corpus_or_skip("tcpdump__802.1ad_QinQ.pcap") else {
        return;
    };
    let frames = read_pcap(&input);
    let Replay {
        metrics: m,
        records: got,
        ..
    } = replay(&input, &["--keep-unencapsulated"]);
    assert_eq!(
        got.iter().map(|g| g.0.clone()).collect::<Vec<_>>(),
        frames,
        "captured unchanged"
    );
    assert_eq!(
        metric(&m, "mirrorcap_unencapsulated_captured_packets_total", &[]),
        Some(frames.len() as f64)
    );
    assert_eq!(
        metric(&m, "mirrorcap_dropped_packets_total", &[]),
        Some(0.0)
    );
}

#[test]
fn conflicting_ports_are_refused() {
    let (st, err) = mirrorcap(&[
        "run",
        "--vdev",
        "net_null0",
        "--vxlan-port",
        "6081",
        "--ring-dir",
        "/tmp/unused-ring",
    ]);
    assert_eq!(st.code(), Some(2));
    assert!(err.contains("both --vxlan-port and --geneve-port"), "{err}");
}
