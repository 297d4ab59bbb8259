//! Third-party VXLAN captures replayed through the real binary on a `net_pcap` vdev: the
//! exported frames must be the inner frames as tshark dissects them from the input (inner
//! Ethernet addresses and type, inner IPv4 addresses, lengths) and byte-identical to the
//! input's bytes after the VXLAN header.
mod support;
use support::*;

/// The occurrence after the outer one ("a,b" → "b"); the field itself when it occurs once
/// only in the inner frame.
fn inner(v: &str, outer_too: bool) -> String {
    let parts: Vec<&str> = v.split(',').collect();
    if outer_too {
        parts.get(1).unwrap_or(&"").to_string()
    } else {
        parts.last().unwrap_or(&"").to_string()
    }
}

fn check_corpus_file(name: &str, expect_vni: &str) {
    let Some(input) = corpus_or_skip(name) else {
        return;
    };
    let r = replay(&input, &[]);
    let out = &r.export;
    let fields = [
        "frame.len",
        "ip.hdr_len",
        "udp.length",
        "vxlan.vni",
        "eth.src",
        "eth.dst",
        "eth.type",
        "ip.src",
        "ip.dst",
    ];
    let want = tshark_fields(&input, Some("vxlan"), &fields);
    let got = tshark_fields(
        out,
        None,
        &[
            "frame.len",
            "eth.src",
            "eth.dst",
            "eth.type",
            "ip.src",
            "ip.dst",
        ],
    );
    assert!(!want.is_empty());
    assert_eq!(
        got.len(),
        want.len(),
        "captured frames vs tshark's VXLAN frames"
    );
    let in_bytes = read_pcap(&input);
    let out_bytes = read_pcap(out);
    let mut vxlan_frames = in_bytes.iter().filter(|f| {
        f.len() > 42
            && f[12..14] == [8, 0]
            && f[23] == 17
            && u16::from_be_bytes([f[36], f[37]]) == 4789
    });
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        assert_eq!(w[3], expect_vni, "frame {i}: VNI");
        let udp_len: usize = w[2].parse().unwrap();
        let inner_len = udp_len - 16;
        assert_eq!(g[0], inner_len.to_string(), "frame {i}: inner length");
        assert_eq!(g[1], inner(&w[4], true), "frame {i}: inner eth.src");
        assert_eq!(g[2], inner(&w[5], true), "frame {i}: inner eth.dst");
        assert_eq!(g[3], inner(&w[6], true), "frame {i}: inner eth.type");
        // Inner IPv4 addresses where the inner frame has them (ARP has none).
        let inner_has_ip = w[7].contains(',');
        assert_eq!(
            g[4],
            if inner_has_ip {
                inner(&w[7], true)
            } else {
                String::new()
            },
            "frame {i}: inner ip.src"
        );
        assert_eq!(
            g[5],
            if inner_has_ip {
                inner(&w[8], true)
            } else {
                String::new()
            },
            "frame {i}: inner ip.dst"
        );
        // Byte for byte: the input after outer Ethernet, IPv4 (its own header length), UDP and VXLAN.
        let ihl: usize = w[1].split(',').next().unwrap().parse().unwrap();
        let f = vxlan_frames
            .next()
            .expect("as many VXLAN frames as tshark found");
        let off = 14 + ihl + 16;
        assert_eq!(
            &f[off..off + inner_len],
            &out_bytes[i][..],
            "frame {i}: bytes"
        );
    }
}

#[test]
fn tcpdump_vxlan_pcap_inner_frames_match_tshark() {
    check_corpus_file("tcpdump__vxlan.pcap", "100");
}

#[test]
fn zeek_vxlan_http_inner_frames_match_tshark() {
    check_corpus_file("zeek__vxlan-encapsulated-http.pcap", "1");
}
