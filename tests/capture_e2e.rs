//! End to end on real DPDK: the `mirrorcap` binary receives a generated capture of VXLAN
//! frames (inner sizes 60 to 9000 bytes, several VNIs) mixed with noise through a `net_pcap`
//! vdev, and the exported ring must hold exactly the inner frames, byte for byte and in order,
//! with the noise counted under its reason in /metrics. The expected frames and reasons come
//! from etherparse, independently of mirrorcap's decapsulator.
mod support;
use std::collections::BTreeMap;
use std::time::Duration;
use support::*;

/// What an independent parser says a frame should become.
#[derive(Debug, PartialEq)]
enum Expect {
    Inner(Vec<u8>),
    Drop(&'static str),
}

fn classify(frame: &[u8]) -> Expect {
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    let p = match SlicedPacket::from_ethernet(frame) {
        Ok(p) => p,
        Err(_) => return Expect::Drop("truncated_header"),
    };
    let fragmented = match &p.net {
        Some(NetSlice::Ipv4(ip)) => ip.is_payload_fragmented(),
        Some(NetSlice::Ipv6(ip)) => ip.is_payload_fragmented(),
        _ => return Expect::Drop("not_mirror"),
    };
    if fragmented {
        return Expect::Drop("outer_fragment");
    }
    let Some(TransportSlice::Udp(udp)) = &p.transport else {
        return Expect::Drop("not_mirror");
    };
    if udp.destination_port() != 4789 {
        return Expect::Drop("not_mirror");
    }
    let payload = udp.payload();
    if payload.len() < 8 + 14 {
        return Expect::Drop("truncated_header");
    }
    if payload[0] & 0x08 == 0 {
        return Expect::Drop("bad_vxlan_flags");
    }
    Expect::Inner(payload[8..].to_vec())
}

#[test]
fn generated_vxlan_with_noise_is_captured_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("mirror.pcap");
    let ring = dir.path().join("ring");
    let out = dir.path().join("export.pcap");
    let (st, err) = mirrorcap(&[
        "gen",
        "-w",
        input.to_str().unwrap(),
        "--count",
        "400",
        "--inner-size",
        "60-9000",
        "--vni",
        "100",
        "--vni",
        "200",
        "--vni",
        "4000000",
        "--noise-every",
        "7",
        "--seed",
        "42",
    ]);
    assert!(st.success(), "gen failed: {err}");

    // The oracle: what each input frame must become.
    let frames = read_pcap(&input);
    let expected: Vec<Expect> = frames.iter().map(|f| classify(f)).collect();
    let inners: Vec<&Vec<u8>> = expected
        .iter()
        .filter_map(|e| {
            if let Expect::Inner(v) = e {
                Some(v)
            } else {
                None
            }
        })
        .collect();
    let mut drops: BTreeMap<&str, u64> = BTreeMap::new();
    for e in &expected {
        if let Expect::Drop(r) = e {
            *drops.entry(r).or_default() += 1;
        }
    }
    assert_eq!(inners.len(), 400);
    assert!(
        inners.iter().any(|f| f.len() == 60 || f.len() < 200),
        "fixture lacks small frames"
    );
    assert!(
        inners.iter().any(|f| f.len() > 8500),
        "fixture lacks jumbo frames"
    );
    assert!(drops.len() >= 4, "fixture lacks noise kinds: {drops:?}");

    let app = Appliance::on_pcap(&input, &ring, false, 8, &["--exit-when-idle", "3s"]);
    let total = frames.len() as f64;
    let m = app.scrape_until(Duration::from_secs(30), |m| {
        metric(m, "mirrorcap_rx_packets_total", &[]) == Some(total)
    });
    assert_eq!(
        metric(&m, "mirrorcap_rx_packets_total", &[]),
        Some(total),
        "metrics:\n{m}"
    );
    assert_eq!(
        metric(&m, "mirrorcap_captured_packets_total", &[]),
        Some(400.0)
    );
    let inner_bytes: usize = inners.iter().map(|f| f.len()).sum();
    assert_eq!(
        metric(&m, "mirrorcap_captured_bytes_total", &[]),
        Some(inner_bytes as f64)
    );
    for (reason, n) in &drops {
        assert_eq!(
            metric(&m, "mirrorcap_dropped_packets_total", &[("reason", reason)]),
            Some(*n as f64),
            "reason {reason}"
        );
    }
    let all_drops = metric(&m, "mirrorcap_dropped_packets_total", &[]).unwrap();
    assert_eq!(
        all_drops,
        drops.values().sum::<u64>() as f64,
        "no other drop reason moved"
    );
    assert_eq!(
        metric(&m, "mirrorcap_nic_rx_packets_total", &[]).map(|v| v <= total),
        Some(true)
    );
    let (code, body) = app.get("/healthz");
    assert_eq!((code, body.as_str()), (200, "ok\n"));
    assert_eq!(app.get("/other").0, 404);

    let (st, err) = app.wait(Duration::from_secs(30));
    assert!(st.success(), "run failed: {err}");
    assert!(err.contains("captured 400"), "summary missing: {err}");

    // Every segment written is a standalone pcap the reference tools read without complaint
    // (never-written ones stay hidden, `.seg-NNN.pcap.part`).
    let wdir = ring.join("worker-00");
    let mut segs: Vec<_> = std::fs::read_dir(&wdir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    segs.sort();
    let written = control_segments(&wdir).len();
    assert!((1..8).contains(&written), "{written} segments written");
    assert_eq!(segs.len(), written);
    for s in &segs {
        assert_readable_by_tools(s);
    }

    export_ring(&ring, &out, &[]);
    assert_readable_by_tools(&out);
    let got = read_pcap(&out);
    assert_eq!(got.len(), inners.len());
    for (i, (g, e)) in got.iter().zip(&inners).enumerate() {
        assert!(
            g == *e,
            "frame {i}: {} bytes captured, {} expected (first difference at {:?})",
            g.len(),
            e.len(),
            g.iter().zip(e.iter()).position(|(a, b)| a != b)
        );
    }
}

#[test]
fn bad_usage_and_environment_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("ring");
    let r = ring.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["run", "--ring-dir", r], "no port"),
        (
            vec![
                "run",
                "--vdev",
                "net_null0",
                "--ring-dir",
                r,
                "--segment-size",
                "12XB",
            ],
            "--segment-size",
        ),
        (
            vec![
                "run",
                "--vdev",
                "net_null0",
                "--ring-dir",
                r,
                "--segments",
                "1",
            ],
            "--segments",
        ),
        (
            vec![
                "run",
                "--vdev",
                "net_null0",
                "--ring-dir",
                r,
                "--exit-when-idle",
                "soon",
            ],
            "--exit-when-idle",
        ),
        (
            vec![
                "run",
                "--vdev",
                "net_null0",
                "--ring-dir",
                "/proc/no/such",
                "--metrics-addr",
                "127.0.0.1:0",
            ],
            "ring",
        ),
        (
            vec![
                "run",
                "--vdev",
                "net_null0",
                "--ring-dir",
                r,
                "--metrics-addr",
                "not-an-address",
            ],
            "--metrics-addr",
        ),
        (
            vec!["export", "/nonexistent-ring", "-w", "/dev/null"],
            "nonexistent-ring",
        ),
        (
            vec!["gen", "-w", "/dev/null", "--inner-size", "10"],
            "--inner-size",
        ),
        (vec!["frobnicate"], "unrecognized subcommand"),
    ];
    for (args, needle) in cases {
        let (st, err) = mirrorcap(&args);
        assert_eq!(st.code(), Some(2), "{args:?}: {err}");
        let ours: Vec<&str> = err
            .lines()
            .filter(|l| l.starts_with("mirrorcap: error") || l.starts_with("error:"))
            .collect();
        assert_eq!(ours.len(), 1, "{args:?} should print one error line: {err}");
        assert!(
            ours[0].contains(needle),
            "{args:?}: '{}' lacks '{needle}'",
            ours[0]
        );
    }
}

#[test]
fn busy_metrics_port_is_refused_before_dpdk_starts() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let (st, err) = mirrorcap(&[
        "run",
        "--vdev",
        "net_null0",
        "--ring-dir",
        dir.path().to_str().unwrap(),
        "--metrics-addr",
        &addr,
    ]);
    assert_eq!(st.code(), Some(2), "{err}");
    assert!(
        err.contains(&addr) && err.contains("cannot listen"),
        "{err}"
    );
    assert!(!err.contains("EAL"), "DPDK should not have started: {err}");
}

#[test]
fn sigterm_stops_cleanly_and_keeps_what_was_committed() {
    let dir = tempfile::tempdir().unwrap();
    let input = gen_fixture(
        dir.path(),
        "mirror.pcap",
        &["--count", "50", "--inner-size", "64-1500"],
    );
    let ring = dir.path().join("ring");
    // infinite_rx replays the file forever: only the signal stops the run.
    let app = Appliance::looping(&input, &ring, 4, &[]);
    app.scrape_until(Duration::from_secs(30), |m| {
        metric(m, "mirrorcap_ring_segments_sealed_total", &[]).is_some_and(|v| v >= 6.0)
    });
    app.signal("TERM");
    let (st, err) = app.wait(Duration::from_secs(10));
    assert!(st.success(), "exit after SIGTERM: {err}");
    let wdir = ring.join("worker-00");
    for i in 0..4 {
        assert_readable_by_tools(&wdir.join(format!("seg-00{i}.pcap")));
    }
    let out = dir.path().join("out.pcap");
    export_ring(&ring, &out, &[]);
    let got = read_pcap(&out);
    assert!(got.len() > 100, "{} packets", got.len());
    // The replayed frames decapsulate to the generator's inner frames, sequence numbers 0..50
    // repeating: each captured frame carries one.
    for f in &got {
        let seq = u64::from_be_bytes(f[42..50].try_into().unwrap());
        assert!(seq < 50 && &f[50..54] == b"MCAP");
    }
}

#[test]
fn infinite_rx_sizes_the_pool_from_the_file_without_mbufs() {
    let dir = tempfile::tempdir().unwrap();
    // More packets than the default 8191 mbufs: net_pcap's infinite_rx loads them all into the
    // queue's pool at set-up, which refused the queue before the pool was sized from the file.
    let input = gen_fixture(
        dir.path(),
        "big.pcap",
        &["--count", "9000", "--inner-size", "64"],
    );
    let ring = dir.path().join("ring");
    let app = Appliance::looping(&input, &ring, 4, &[]);
    // Past one pass over the file: replay goes on from the preloaded mbufs.
    let m = app.scrape_until(Duration::from_secs(60), |m| {
        metric(m, "mirrorcap_captured_packets_total", &[]).is_some_and(|v| v > 9000.0)
    });
    let cap = metric(&m, "mirrorcap_mempool_mbufs_capacity", &[("worker", "0")]).unwrap();
    assert!(cap > 9000.0, "pool of {cap} mbufs");
    app.signal("TERM");
    let (st, err) = app.wait(Duration::from_secs(10));
    assert!(st.success(), "exit after SIGTERM: {err}");
    assert!(err.contains(&format!("{cap} mbufs per worker")), "{err}");
    let (_, captured, _) = stop_line(&err);
    assert!(captured > 9000, "{err}");
}

#[test]
fn two_workers_on_two_queues_each_keep_their_own_ring() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.pcap"), dir.path().join("b.pcap"));
    let ring = dir.path().join("ring");
    let out = dir.path().join("out.pcap");
    // Disjoint inner sizes, so no frame of one input equals a frame of the other.
    for (p, vni, n, noise, sizes) in [
        (&a, "1", "300", "0", "60-1000"),
        (&b, "2", "200", "10", "1001-2000"),
    ] {
        let (st, err) = mirrorcap(&[
            "gen",
            "-w",
            p.to_str().unwrap(),
            "--count",
            n,
            "--vni",
            vni,
            "--noise-every",
            noise,
            "--seed",
            vni,
            "--inner-size",
            sizes,
        ]);
        assert!(st.success(), "{err}");
    }
    // net_pcap gives one RX queue per rx_pcap file: queue 0 replays a, queue 1 replays b.
    let app = Appliance::builder()
        .pcap_vdev(&[&a, &b], false)
        .workers(2)
        .ring_dir(&ring)
        .segment_size("1MiB")
        .segments(4)
        .args(&["--exit-when-idle", "2s"])
        .start();
    let m = app.scrape_until(Duration::from_secs(30), |m| {
        metric(m, "mirrorcap_rx_packets_total", &[]) == Some(520.0)
    });
    assert_eq!(
        metric(&m, "mirrorcap_rx_packets_total", &[("worker", "0")]),
        Some(300.0),
        "{m}"
    );
    assert_eq!(
        metric(&m, "mirrorcap_rx_packets_total", &[("worker", "1")]),
        Some(220.0)
    );
    assert_eq!(
        metric(&m, "mirrorcap_captured_packets_total", &[("worker", "1")]),
        Some(200.0)
    );
    assert_eq!(
        metric(&m, "mirrorcap_dropped_packets_total", &[("worker", "0")]),
        Some(0.0)
    );
    assert_eq!(
        metric(&m, "mirrorcap_dropped_packets_total", &[("worker", "1")]),
        Some(20.0)
    );
    assert_eq!(metric(&m, "mirrorcap_workers_running", &[]), Some(2.0));
    let (st, err) = app.wait(Duration::from_secs(30));
    assert!(st.success(), "{err}");
    assert!(ring.join("worker-00").is_dir() && ring.join("worker-01").is_dir());

    export_ring(&ring, &out, &[]);
    let got = read_pcap(&out);
    assert_eq!(got.len(), 500);
    // Each input's inner frames come out complete and in their own order (merged by time).
    for (input, n) in [(&a, 300), (&b, 200)] {
        let want: Vec<Vec<u8>> = read_pcap(input)
            .iter()
            .filter_map(|f| match classify(f) {
                Expect::Inner(v) => Some(v),
                Expect::Drop(_) => None,
            })
            .collect();
        assert_eq!(want.len(), n);
        let mine: Vec<&Vec<u8>> = got.iter().filter(|g| want.contains(g)).collect();
        assert_eq!(
            mine.len(),
            n,
            "{} frames of {} exported",
            mine.len(),
            input.display()
        );
        assert!(
            mine.iter().zip(&want).all(|(g, w)| *g == w),
            "order of {} kept",
            input.display()
        );
    }
}
