//! Soak: two workers replay generated mirror traffic at full speed (net_pcap, infinite_rx, one
//! queue each) into a small ring that overwrites many times. Every 5 s: no counter goes
//! backwards, the mempools' in-use count stays within [`MBUF_TOLERANCE`] of its level after
//! warm-up, anonymous memory within [`ANON_TOLERANCE_KB`] and resident memory within
//! [`RSS_TOLERANCE_KB`] of theirs. At the end (SIGTERM): a clean stop, received = captured +
//! drops, in-use back within the tolerance of its baseline, and every segment of both workers
//! reads cleanly in capinfos.
//!
//! MIRRORCAP_SOAK_SECS sets the length: 60 in CI; `scripts/soak.sh` runs 1800 and keeps the
//! report (`MIRRORCAP_SOAK_REPORT=FILE`).
mod support;
use std::time::{Duration, Instant};
use support::*;

/// Mbufs in use may differ from the baseline by what is in flight: per worker, one RX burst
/// (32) and the mbufs parked in the RX ring beyond its refill threshold (384), for 2 workers.
const MBUF_TOLERANCE: f64 = 2.0 * (32.0 + 384.0);
/// Heap growth allowed whatever the run's length: allocator pages, not a leak (8 MiB).
const ANON_TOLERANCE_KB: u64 = 8 * 1024;
/// Resident memory (heap plus the ring's mapped pages; hugepages are not counted in VmRSS):
/// the heap's 8 MiB plus two 8 MiB segments per worker whose pages the kernel may take from or
/// give back to the process as rotation maps the next segment and the previous one is trimmed.
const RSS_TOLERANCE_KB: u64 = ANON_TOLERANCE_KB + 2 * 2 * 8 * 1024;

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
    // net_pcap gives one RX queue per rx_pcap: both workers replay the same file forever.
    let app = Appliance::builder()
        .pcap_vdev(&[&input, &input], true)
        .workers(2)
        .ring_dir(&ring)
        .segment_size("8MiB")
        .segments(8)
        .start();
    let pid = app.pid();
    std::thread::sleep(Duration::from_secs(5));
    let first = app.get("/metrics").1;
    let base_in_use = in_use(&first);
    let (rss0, anon0) = (status_kb(pid, "VmRSS:"), status_kb(pid, "RssAnon:"));
    let start = Instant::now();
    let mut prev = counters(&first);
    let mut samples = 0;
    let (mut max_anon, mut max_rss) = (anon0, rss0);
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
            (u - base_in_use).abs() <= MBUF_TOLERANCE,
            "mempool in use {u}, baseline {base_in_use}"
        );
        max_anon = max_anon.max(status_kb(pid, "RssAnon:"));
        max_rss = max_rss.max(status_kb(pid, "VmRSS:"));
        prev = now;
        samples += 1;
    }
    let last = app.get("/metrics").1;
    let (rss1, anon1) = (status_kb(pid, "VmRSS:"), status_kb(pid, "RssAnon:"));
    let overwritten = metric(&last, "mirrorcap_ring_segments_overwritten_total", &[]).unwrap();
    let rx = metric(&last, "mirrorcap_rx_packets_total", &[]).unwrap();
    let end_in_use = in_use(&last);
    assert!(
        (end_in_use - base_in_use).abs() <= MBUF_TOLERANCE,
        "mempool in use at the end {end_in_use}, baseline {base_in_use}"
    );
    assert!(
        base_in_use > 0.0,
        "the mempool figures were scraped: {first}"
    );
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
        anon0 > 0 && rss0 > 0,
        "/proc/{pid}/status was read: RssAnon {anon0} kB, VmRSS {rss0} kB"
    );
    assert!(
        anon1 <= anon0 + ANON_TOLERANCE_KB && max_anon <= anon0 + ANON_TOLERANCE_KB,
        "anonymous memory grew: {anon0} kB -> {anon1} kB (max {max_anon})"
    );
    assert!(
        rss1 <= rss0 + RSS_TOLERANCE_KB && max_rss <= rss0 + RSS_TOLERANCE_KB,
        "resident memory grew: {rss0} kB -> {rss1} kB (max {max_rss})"
    );
    let segments = segment_files(&ring);
    assert_eq!(
        segments.len(),
        2 * 8,
        "every segment of both workers: {segments:?}"
    );
    for p in &segments {
        let (ok, _, e) = tool("capinfos", &[p.to_str().unwrap()]);
        assert!(ok, "{}: {e}", p.display());
    }
    let report = format!(
        "soak {}s, 2 workers: {samples} samples, {:.0} packets received ({:.2} Mpps), {overwritten:.0} segments overwritten; mempool in use {base_in_use:.0} at start, {end_in_use:.0} at end; VmRSS {rss0} kB -> {rss1} kB (max {max_rss}); RssAnon {anon0} kB -> {anon1} kB (max {max_anon}); stopped: received {received}, captured {captured}, dropped {drops}",
        total.as_secs(),
        rx,
        rx / (total.as_secs_f64() + 5.0) / 1e6,
    );
    eprintln!("{report}");
    if let Ok(f) = std::env::var("MIRRORCAP_SOAK_REPORT") {
        std::fs::write(f, format!("{report}\n")).unwrap();
    }
}
