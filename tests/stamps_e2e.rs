//! `run --stamps` through the real appliance: a capture `mirrorcap gen` wrote through DPDK
//! (net_pcap tx_pcap), with frames removed and pairs swapped by this test, replayed over
//! net_pcap. The appliance's per-session gaps, late frames and latency count must equal what
//! the test did, frame for frame; sampling and filters must not read as loss. The stamps are
//! read here with etherparse, independently of the appliance's parser.
mod support;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;
use support::*;

const FLOWS: usize = 12;

/// (VNI, flow, seq) of a generated VXLAN frame, parsed with etherparse.
fn stamp_of(frame: &[u8]) -> (u32, u32, u64) {
    let outer = etherparse::SlicedPacket::from_ethernet(frame).expect("outer frame");
    let Some(etherparse::TransportSlice::Udp(udp)) = outer.transport else {
        panic!("outer frame is not UDP");
    };
    let vxlan = udp.payload();
    let vni = u32::from_be_bytes([0, vxlan[4], vxlan[5], vxlan[6]]);
    let inner = etherparse::SlicedPacket::from_ethernet(&vxlan[8..]).expect("inner frame");
    let Some(etherparse::TransportSlice::Udp(iu)) = inner.transport else {
        panic!("inner frame is not UDP");
    };
    let p = iu.payload();
    assert_eq!(&p[8..12], b"MCAP", "no stamp tag");
    let seq = u64::from_be_bytes(p[..8].try_into().unwrap());
    let flow = u32::from_be_bytes(p[12..16].try_into().unwrap());
    (vni, flow, seq)
}

/// Generates 2400 stamped frames over DPDK into `dir/gen.pcap` and returns its records.
fn generate(dir: &Path) -> Vec<(Vec<u8>, u32)> {
    let out = dir.join("gen.pcap");
    let vdev = format!("net_pcap0,tx_pcap={}", out.display());
    let flows = FLOWS.to_string();
    let (st, err) = mirrorcap(&[
        "gen",
        "--vdev",
        &vdev,
        "--count",
        "2400",
        "--flows",
        &flows,
        "--vni",
        "100",
        "--vni",
        "200",
        "--inner-size",
        "128",
        "--progress",
        "0",
    ]);
    assert!(st.success(), "gen failed: {err}");
    read_pcap_records(&out)
}

/// What the test did to the capture, per VNI.
#[derive(Default, Debug, Clone, Copy, PartialEq)]
struct Expect {
    kept: u64,
    gaps: u64,
    late: u64,
}

/// Removes every 49th frame (never one of the last rounds of its flow) and swaps some
/// same-flow pairs (a frame and its flow's next one), away from the removed ones; writes
/// `dir/edited.pcap`. Returns the expectations per VNI.
fn edit(dir: &Path, recs: &[(Vec<u8>, u32)]) -> (std::path::PathBuf, HashMap<u32, Expect>) {
    let n = recs.len();
    let mut order: Vec<Option<usize>> = (0..n).map(Some).collect();
    let mut exp: HashMap<u32, Expect> = HashMap::new();
    let mut touched = vec![false; n];
    for i in (7..n - 3 * FLOWS).step_by(49) {
        order[i] = None;
        touched[i] = true;
        exp.entry(stamp_of(&recs[i].0).0).or_default().gaps += 1;
    }
    for i in (30..n - 3 * FLOWS).step_by(77) {
        let j = i + FLOWS;
        if touched[i] || touched[j] || touched[i.saturating_sub(FLOWS)] || touched[j + FLOWS] {
            continue;
        }
        let (a, b) = (stamp_of(&recs[i].0), stamp_of(&recs[j].0));
        assert_eq!((a.0, a.1, a.2 + 1), (b.0, b.1, b.2), "frames {i} and {j}");
        order.swap(i, j);
        touched[i] = true;
        touched[j] = true;
        // The later frame first: its predecessor counts as a gap, then arrives late.
        let e = exp.entry(a.0).or_default();
        e.gaps += 1;
        e.late += 1;
    }
    let path = dir.join("edited.pcap");
    let f = std::fs::File::create(&path).unwrap();
    let header = pcap_file::pcap::PcapHeader {
        ts_resolution: pcap_file::TsResolution::NanoSecond,
        ..Default::default()
    };
    let mut w = pcap_file::pcap::PcapWriter::with_header(f, header).unwrap();
    for (k, i) in order.iter().flatten().enumerate() {
        let (data, orig) = &recs[*i];
        exp.entry(stamp_of(data).0).or_default().kept += 1;
        w.write_packet(&pcap_file::pcap::PcapPacket::new(
            Duration::from_micros(k as u64),
            *orig,
            data,
        ))
        .unwrap();
    }
    (path, exp)
}

fn stamp_metrics(m: &str, session: &str) -> Expect {
    let get = |name| metric(m, name, &[("session", session)]).unwrap_or(0.0) as u64;
    Expect {
        kept: get("mirrorcap_stamp_packets_total"),
        gaps: get("mirrorcap_stamp_gaps_total"),
        late: get("mirrorcap_stamp_late_total"),
    }
}

#[test]
fn gaps_and_late_frames_equal_what_was_removed_and_swapped() {
    let tmp = tempfile::tempdir().unwrap();
    let recs = generate(tmp.path());
    assert_eq!(recs.len(), 2400);
    // Every flow's sequence numbers run from 0 without a hole in what gen wrote.
    let mut next: HashMap<u32, u64> = HashMap::new();
    for (r, _) in &recs {
        let (_, flow, seq) = stamp_of(r);
        let e = next.entry(flow).or_default();
        assert_eq!(seq, *e, "flow {flow}");
        *e += 1;
    }
    assert_eq!(next.len(), FLOWS);
    let (edited, exp) = edit(tmp.path(), &recs);
    let total: Expect = exp.values().fold(Expect::default(), |a, e| Expect {
        kept: a.kept + e.kept,
        gaps: a.gaps + e.gaps,
        late: a.late + e.late,
    });
    assert!(total.gaps > 40 && total.late > 10, "{total:?}");

    let r = replay(&edited, &["--stamps"]);
    let m = &r.metrics;
    assert_eq!(stamp_metrics(m, "default"), total, "\n{m}");
    assert_eq!(
        metric(m, "mirrorcap_stamp_skewed_total", &[]),
        Some(0.0),
        "one clock"
    );
    // Every frame's TX time precedes its RX time: all in the histogram, with a positive sum.
    let count = metric(
        m,
        "mirrorcap_stamp_latency_seconds_count",
        &[("session", "default")],
    );
    assert_eq!(count, Some(total.kept as f64));
    let sum = metric(
        m,
        "mirrorcap_stamp_latency_seconds_sum",
        &[("session", "default")],
    )
    .unwrap();
    assert!(sum > 0.0);
    // Nothing else changed: every frame captured.
    assert_eq!(r.records.len() as u64, total.kept);
}

#[test]
fn per_session_counts_ignore_sampling_and_filters() {
    let tmp = tempfile::tempdir().unwrap();
    let recs = generate(tmp.path());
    let (edited, exp) = edit(tmp.path(), &recs);
    let cfg = tmp.path().join("mirrorcap.toml");
    std::fs::write(
        &cfg,
        "[run]\nstamps = true\n\n\
         [[session]]\nname = \"a\"\nvni = 100\nsample = 3\n\n\
         [[session]]\nname = \"b\"\nvni = 200\nfilter = \"udp port 1\"\n",
    )
    .unwrap();
    let r = replay(&edited, &["--config", cfg.to_str().unwrap()]);
    let m = &r.metrics;
    for v in [100, 200] {
        assert!(
            exp[&v].gaps > exp[&v].late,
            "VNI {v} has removed frames: {exp:?}"
        );
    }
    assert_eq!(stamp_metrics(m, "a"), exp[&100], "\n{m}");
    assert_eq!(stamp_metrics(m, "b"), exp[&200], "\n{m}");
    assert_eq!(stamp_metrics(m, "default"), Expect::default());
    // Session b's filter kept nothing, session a kept one in three: still no extra loss.
    assert_eq!(
        metric(
            m,
            "mirrorcap_session_packets_total",
            &[("session", "b"), ("outcome", "filtered")]
        ),
        Some(exp[&200].kept as f64)
    );
}

#[test]
fn without_stamps_flag_there_are_no_stamp_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let input = gen_fixture(tmp.path(), "in.pcap", &["--count", "200"]);
    let r = replay(&input, &[]);
    assert!(!r.metrics.contains("mirrorcap_stamp_"), "{}", r.metrics);
}
