//! Soak: two workers replay generated mirror traffic at full speed (net_pcap, infinite_rx, one
//! queue each) into a small ring that overwrites many times. Every 5 s: no counter goes
//! backwards, the mempools' in-use count stays at its level, anonymous memory stays flat. At
//! the end (SIGTERM): a clean stop, received = captured + drops, in-use back at its baseline,
//! and every segment of both workers reads cleanly in capinfos.
//!
//! MIRRORCAP_SOAK_SECS sets the length: 60 in CI; `scripts/soak.sh` runs 1800 and keeps the
//! report (`MIRRORCAP_SOAK_REPORT=FILE`).
mod support;
use support::*;
use std::time::{Duration, Instant};

fn secs() -> u64 {
    std::env::var("MIRRORCAP_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60)
}

/// kB of a field of /proc/PID/status.
fn status_kb(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Every counter sample of a scrape: (name{labels}, value).
fn counters(m: &str) -> Vec<(String, f64)> {
    m.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            let name = k.split('{').next()?;
            (name.ends_with("_total") || name.ends_with("_count"))
                .then(|| (k.to_string(), v.parse().ok()))?
                .1
                .map(|v| (k.to_string(), v))
        })
        .collect()
}

fn in_use(m: &str) -> f64 {
    (0..2)
        .map(|w| {
            metric(
                m,
                "mirrorcap_mempool_mbufs_in_use",
                &[("worker", &w.to_string())],
            )
            .unwrap_or(0.0)
        })
        .sum()
}

#[test]
fn soak_two_workers_overwriting_the_ring() {
    let total = Duration::from_secs(secs());
    let tmp = tempfile::tempdir().unwrap();
    let input = gen_fixture(
        tmp.path(),
        "in.pcap",
        &[
            "--count",
            "1000",
            "--inner-size",
            "60-1500",
            "--vni",
            "1",
            "--vni",
            "2",
        ],
    );
    let ring = tmp.path().join("ring");
    let vdev = format!(
        "net_pcap0,rx_pcap={0},rx_pcap={0},infinite_rx=1",
        input.display()
    );
    let app = Appliance::start(&[
        "--vdev",
        &vdev,
        "--workers",
        "2",
        "--ring-dir",
        ring.to_str().unwrap(),
        "--segment-size",
        "8MiB",
        "--segments",
        "8",
    ]);
    let pid = app.pid();
    std::thread::sleep(Duration::from_secs(5));
    let first = app.get("/metrics").1;
    let base_in_use = in_use(&first);
    let (rss0, anon0) = (status_kb(pid, "VmRSS:"), status_kb(pid, "RssAnon:"));
    let start = Instant::now();
    let mut prev = counters(&first);
    let mut samples = 0;
    let mut max_anon = anon0;
    while start.elapsed() < total {
        std::thread::sleep(Duration::from_secs(5));
        let m = app.get("/metrics").1;
        let now = counters(&m);
        for (k, v) in &now {
            if let Some((_, p)) = prev.iter().find(|(pk, _)| pk == k) {
                assert!(v >= p, "{k} went back from {p} to {v}");
            }
        }
        let u = in_use(&m);
        assert!(
            (u - base_in_use).abs() <= 2.0 * (32.0 + 384.0),
            "mempool in use {u}, baseline {base_in_use}"
        );
        max_anon = max_anon.max(status_kb(pid, "RssAnon:"));
        prev = now;
        samples += 1;
    }
    let last = app.get("/metrics").1;
    let (rss1, anon1) = (status_kb(pid, "VmRSS:"), status_kb(pid, "RssAnon:"));
    let overwritten = metric(&last, "mirrorcap_ring_segments_overwritten_total", &[]).unwrap();
    let rx = metric(&last, "mirrorcap_rx_packets_total", &[]).unwrap();
    let end_in_use = in_use(&last);
    app.signal("TERM");
    let (st, err) = app.wait(Duration::from_secs(30));
    assert!(st.success(), "{err}");
    let (received, captured, drops) = stop_line(&err);
    assert_eq!(received, captured + drops, "{err}");
    assert!(
        overwritten > 16.0,
        "the ring overwrote many times: {overwritten}"
    );
    // Heap growth: none beyond noise (allocator pages), whatever the run's length.
    assert!(
        anon1 <= anon0 + 8 * 1024 && max_anon <= anon0 + 8 * 1024,
        "anonymous memory grew: {anon0} kB -> {anon1} kB (max {max_anon})"
    );
    for w in 0..2 {
        for s in 0..8 {
            let p = ring.join(format!("worker-{w:02}/seg-{s:03}.pcap"));
            let (ok, _, e) = tool("capinfos", &[p.to_str().unwrap()]);
            assert!(ok, "{}: {e}", p.display());
        }
    }
    let report = format!(
        "soak {}s, 2 workers: {samples} samples, {:.0} packets received ({:.2} Mpps), {overwritten:.0} segments overwritten; mempool in use {base_in_use:.0} at start, {end_in_use:.0} at end; VmRSS {rss0} kB -> {rss1} kB; RssAnon {anon0} kB -> {anon1} kB (max {max_anon}); stopped: received {received}, captured {captured}, dropped {drops}",
        total.as_secs(),
        rx,
        rx / (total.as_secs_f64() + 5.0) / 1e6,
    );
    eprintln!("{report}");
    if let Ok(f) = std::env::var("MIRRORCAP_SOAK_REPORT") {
        std::fs::write(f, format!("{report}\n")).unwrap();
    }
}
