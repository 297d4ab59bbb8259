//! A capture taken with a snaplen, replayed through net_pcap: frames cut after their outer
//! headers are captured with the bytes that arrived and the original length the outer headers
//! give, and counted as truncated like AWS truncation, instead of being dropped. The cut input
//! holds what `tcpdump -s`/`editcap -s` would keep of a generated capture; what each record must
//! hold comes from decapsulating the uncut frame with the library (whole frames are checked against tshark
//! in conformance.rs; here what matters is what the cut changes).
mod support;
use mirrorcap_decap::{decap, DecapConfig};
use std::collections::BTreeMap;
use std::path::Path;
use support::*;

/// What replaying the cut capture must give.
#[derive(Default)]
struct Want {
    /// Records in order: (bytes, original length).
    records: Vec<(Vec<u8>, u32)>,
    /// VNI → (captured, truncated).
    vnis: BTreeMap<u32, (u64, u64)>,
    truncated: u64,
    /// Frames too short for the headers up to the mirrored frame's Ethernet header.
    truncated_header: u64,
    /// Drop reason → count for frames that are no mirror traffic even uncut (the generator's
    /// noise), as the library says of them once cut.
    noise: BTreeMap<&'static str, u64>,
}

fn expected(full: &[Vec<u8>], snaplen: usize) -> Want {
    let mut w = Want::default();
    let cfg = DecapConfig::default();
    for frame in full {
        let Ok(d) = decap(frame, &cfg) else {
            let cut = &frame[..frame.len().min(snaplen)];
            let r = decap(cut, &cfg).expect_err("noise stays noise when cut");
            *w.noise.entry(r.as_str()).or_default() += 1;
            continue;
        };
        let present = frame.len().min(snaplen).saturating_sub(d.inner_offset);
        if present < 14 {
            w.truncated_header += 1;
            continue;
        }
        let inner = d.inner(frame);
        let orig = d.inner_len + d.meta.truncated_by as usize;
        let kept = inner[..present.min(inner.len())].to_vec();
        let truncated = orig > kept.len();
        w.truncated += u64::from(truncated);
        let v = w.vnis.entry(d.meta.vni).or_default();
        v.0 += 1;
        v.1 += u64::from(truncated);
        w.records.push((kept, u32::try_from(orig).unwrap()));
    }
    w
}

/// Writes `input` to `out` as a capture taken with `snaplen` would hold it: each record keeps
/// its first `snaplen` bytes and its original length. (The file header's snaplen stays 65535:
/// `editcap -s` would write the cut snaplen there, which the pcap-file crate the helpers read
/// with refuses under records whose original length is larger.)
fn cut(input: &Path, out: &Path, snaplen: usize) {
    use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
    let mut r = PcapReader::new(std::fs::File::open(input).unwrap()).unwrap();
    let mut w = PcapWriter::new(std::fs::File::create(out).unwrap()).unwrap();
    while let Some(p) = r.next_packet() {
        let p = p.unwrap();
        let keep = p.data.len().min(snaplen);
        let orig = u32::try_from(p.data.len()).unwrap();
        w.write_packet(&PcapPacket::new(p.timestamp, orig, &p.data[..keep]))
            .unwrap();
    }
    let full = read_pcap(input);
    let recs = read_pcap_records(out);
    assert_eq!(recs.len(), full.len());
    for ((b, orig), f) in recs.iter().zip(&full) {
        assert_eq!((b.len(), *orig as usize), (f.len().min(snaplen), f.len()));
    }
}

fn check(encap: &str, snaplen: usize, aws_truncate: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "--count",
        "80",
        "--vni",
        "11",
        "--vni",
        "22",
        "--inner-size",
        "60-3000",
        "--noise-every",
        "8",
        "--encap",
        encap,
        "--seed",
        "5",
    ];
    if let Some(t) = aws_truncate {
        args.extend(["--truncate", t]);
    }
    let full = gen_fixture(dir.path(), "full.pcap", &args);
    let input = dir.path().join("cut.pcap");
    cut(&full, &input, snaplen);
    let want = expected(&read_pcap(&full), snaplen);
    // Inner sizes of 60 to 3000 bytes: the snaplen cuts nearly every mirrored frame.
    assert!(want.truncated + want.truncated_header >= 60, "fixture");
    let what = format!("{encap} -s {snaplen} truncate {aws_truncate:?}");

    let Replay {
        metrics: m,
        records: got,
        ..
    } = replay(&input, &[]);
    assert_eq!(got.len(), want.records.len(), "{what}: records\n{m}");
    for (i, (g, w)) in got.iter().zip(&want.records).enumerate() {
        assert!(
            g.0 == w.0,
            "{what} record {i}: bytes differ ({} vs {})",
            g.0.len(),
            w.0.len()
        );
        assert_eq!(g.1, w.1, "{what} record {i}: original length");
    }
    let count = |name: &str, labels: &[(&str, &str)]| metric(&m, name, labels).unwrap_or(0.0);
    assert_eq!(
        count("mirrorcap_truncated_packets_total", &[]),
        want.truncated as f64,
        "{what}\n{m}"
    );
    for (vni, (captured, truncated)) in &want.vnis {
        let vni = vni.to_string();
        let l = [("vni", vni.as_str())];
        assert_eq!(
            count("mirrorcap_vni_captured_packets_total", &l),
            *captured as f64
        );
        assert_eq!(
            count("mirrorcap_vni_truncated_packets_total", &l),
            *truncated as f64
        );
    }
    assert_eq!(
        count(
            "mirrorcap_dropped_packets_total",
            &[("reason", "bad_ip_header")]
        ),
        0.0,
        "{what}: a cut frame is no bad IP header\n{m}"
    );
    let mut drops = want.noise.clone();
    *drops.entry("truncated_header").or_default() += want.truncated_header;
    for (reason, n) in &drops {
        assert_eq!(
            count("mirrorcap_dropped_packets_total", &[("reason", reason)]),
            *n as f64,
            "{what}: {reason}\n{m}"
        );
    }
    assert_eq!(
        count("mirrorcap_dropped_packets_total", &[]),
        drops.values().sum::<u64>() as f64,
        "{what}\n{m}"
    );
}

#[test]
fn vxlan_cut_to_200_keeps_the_bytes_and_the_original_length() {
    check("vxlan", 200, None);
}

#[test]
fn gwlb_geneve_around_vxlan_cut_to_160() {
    check("gwlb", 160, None);
}

#[test]
fn aws_truncated_then_cut_gives_the_inner_ip_length() {
    check("vxlan6", 300, Some("600"));
}

#[test]
fn a_snaplen_inside_the_outer_headers_drops_as_truncated_header() {
    // 14 + 20 + 8 + 8 outer bytes leave 10 of the mirrored frame's 14-byte Ethernet header.
    check("vxlan", 60, None);
}
