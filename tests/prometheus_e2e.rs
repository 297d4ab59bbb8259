//! A real Prometheus server (Debian's `prometheus`) scrapes the appliance every second while
//! a capture is fed to it at a steady pace; Prometheus's `rate()` of captured packets and of a
//! drop reason match the rates of the appliance's own counts scraped by the test, its rates
//! agree with each other (received = captured + dropped, captured = the input's mirrored share
//! of received), its final values equal the counts exactly, and every expression of the
//! Grafana dashboard evaluates against the real data.
mod support;

use std::time::{Duration, Instant};
use support::*;

const MIRRORED: u32 = 54_000;
const PPS: u32 = 4_000;

/// The appliance's own counter `name{labels}` as scraped by the test, with the Unix time of
/// the scrape.
struct Own {
    samples: Vec<(f64, String)>,
}

impl Own {
    /// The rate of `name{labels}` over the test's scrapes between `from` and `to`: the
    /// least-squares slope, which smooths the steps of the workers' publications.
    fn rate(&self, name: &str, labels: &[(&str, &str)], from: f64, to: f64) -> f64 {
        let pts: Vec<(f64, f64)> = self
            .samples
            .iter()
            .filter(|(t, _)| (from..=to).contains(t))
            .map(|(t, m)| (*t - from, metric(m, name, labels).unwrap_or(0.0)))
            .collect();
        let n = pts.len() as f64;
        assert!(n >= 5.0, "only {n} scrapes between {from} and {to}");
        let (mx, my) = (
            pts.iter().map(|p| p.0).sum::<f64>() / n,
            pts.iter().map(|p| p.1).sum::<f64>() / n,
        );
        let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        let sxx: f64 = pts.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
        sxy / sxx
    }
}

/// `got` is within `tolerance` (a fraction) of `want`, a positive rate; `what` names both.
fn close(what: &str, got: f64, want: f64, tolerance: f64) {
    eprintln!("{what}: {got:.1}/s against {want:.1}/s");
    assert!(
        want > 0.0 && (got - want).abs() <= want * tolerance,
        "{what}: {got:.1}/s against {want:.1}/s, beyond {:.0}%",
        tolerance * 100.0
    );
}

#[test]
fn prometheus_scrapes_rates_and_totals_that_match_the_appliance() {
    let dir = tempfile::tempdir().unwrap();
    let mirrored = MIRRORED.to_string();
    let input = gen_fixture(
        dir.path(),
        "in.pcap",
        &["--count", &mirrored, "--noise-every", "9"],
    );
    let total = read_pcap(&input).len();
    let fifo = PacedFifo::new(dir.path(), &input, PPS);
    // With a store, so the dashboard's store row has data to be checked against.
    let store = tempfile::tempdir_in("/var/tmp").unwrap();
    let app = Appliance::builder()
        .pcap_vdev(&[&fifo.path], false)
        .ring_dir(&dir.path().join("ring"))
        .segment_size("4MiB")
        .segments(8)
        .args(&[
            "--store-dir",
            store.path().to_str().unwrap(),
            "--store-min-free",
            "0",
        ])
        .start();
    let prom = Prometheus::start(&app.metrics);
    // Prometheus has the appliance's zero before the traffic starts.
    let deadline = Instant::now() + Duration::from_secs(60);
    while prom
        .value("sum(mirrorcap_captured_packets_total)", None)
        .is_none()
    {
        assert!(
            Instant::now() < deadline,
            "Prometheus never scraped the appliance"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    std::thread::sleep(Duration::from_secs(2));

    let t0 = unix_now();
    fifo.start();
    let mut own = Own {
        samples: Vec::new(),
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, m) = app.get("/metrics");
        let done = metric(&m, "mirrorcap_rx_packets_total", &[]) == Some(total as f64);
        own.samples.push((unix_now(), m));
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "the replay did not finish");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(fifo.finish(), total);
    let t1 = unix_now();
    // Long enough for Prometheus to take the final values.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        t1 - t0 > 6.0,
        "the paced replay took {:.1} s; too short to rate",
        t1 - t0
    );

    // rate() over the steady middle of the replay, against the appliance's own counts.
    let (from, to) = (t0 + 2.0, t1 - 1.0);
    let window = format!("{}s", (to - from).round() as u64);
    let at = Some(to);
    let reason = [("reason", "bad_vxlan_flags")];
    let prom_captured = prom
        .value(
            &format!("sum(rate(mirrorcap_captured_packets_total[{window}]))"),
            at,
        )
        .expect("a rate of captured packets");
    let own_captured = own.rate("mirrorcap_captured_packets_total", &[], from, to);
    close(
        "captured packets, Prometheus against the appliance's scrapes",
        prom_captured,
        own_captured,
        0.15,
    );
    // The appliance against itself, both rates from Prometheus: what it received over the
    // window is what it captured plus what it dropped, and it captured the input's mirrored
    // share of it. (Not against the feeder's pace: the test's pacing thread is not the thing
    // under test, and its timing is the least exact clock here.)
    let prom_rate = |series: &str| {
        prom.value(&format!("sum(rate({series}[{window}]))"), at)
            .unwrap_or_else(|| panic!("a rate of {series}"))
    };
    let prom_received = prom_rate("mirrorcap_rx_packets_total");
    let prom_all_drops = prom_rate("mirrorcap_dropped_packets_total");
    close(
        "Prometheus: captured + dropped against received",
        prom_captured + prom_all_drops,
        prom_received,
        0.05,
    );
    close(
        "Prometheus: captured against the mirrored share of received",
        prom_captured,
        prom_received * MIRRORED as f64 / total as f64,
        0.10,
    );
    let prom_drops = prom
        .value(
            &format!(
                "sum(rate(mirrorcap_dropped_packets_total{{reason=\"bad_vxlan_flags\"}}[{window}]))"
            ),
            at,
        )
        .expect("a rate of bad_vxlan_flags drops");
    let own_drops = own.rate("mirrorcap_dropped_packets_total", &reason, from, to);
    close(
        "bad_vxlan_flags drops, Prometheus against the appliance's scrapes",
        prom_drops,
        own_drops,
        0.25,
    );

    // The final totals agree exactly.
    let (_, last) = app.get("/metrics");
    let own_total = metric(&last, "mirrorcap_captured_packets_total", &[]).unwrap();
    assert_eq!(own_total, MIRRORED as f64);
    assert_eq!(
        prom.value("sum(mirrorcap_captured_packets_total)", None),
        Some(own_total)
    );
    let own_reason = metric(&last, "mirrorcap_dropped_packets_total", &reason).unwrap();
    assert!(own_reason > 0.0);
    assert_eq!(
        prom.value(
            "sum(mirrorcap_dropped_packets_total{reason=\"bad_vxlan_flags\"})",
            None
        ),
        Some(own_reason)
    );
    assert_eq!(
        prom.value("sum(mirrorcap_rx_packets_total)", None),
        Some(total as f64)
    );

    // Every dashboard expression is valid against real data; the main panels have some.
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("ami/monitoring/grafana-dashboard.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let at = Some((from + to) / 2.0);
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            let expr = t["expr"]
                .as_str()
                .unwrap()
                .replace("$__rate_interval", "5s")
                .replace("$job", ".*")
                .replace("$instance", ".*");
            let r = prom.query(&expr, at);
            let title = p["title"].as_str().unwrap();
            let optional = title.contains("ENA") || title.contains("Truncated");
            assert!(
                optional || !r.is_empty(),
                "panel {title}: {expr} has no data"
            );
        }
    }
}
