//! The metrics endpoint of a running appliance: a live scrape passes `promtool check metrics`
//! and holds exactly the catalogue's families; latency histograms count every packet; the
//! last packet's time follows traffic and stops with it;
//! `/healthz` and nothing else besides `/metrics`; an unwritable ring turns the appliance
//! unhealthy; the status line's interval off a terminal.
mod support;

use mirrorcap::metrics::{Kind, Presence, CATALOGUE};
use std::io::{Read, Write};
use std::time::Duration;
use support::*;

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Counter => "counter",
        Kind::Gauge => "gauge",
        Kind::Histogram => "histogram",
    }
}

#[test]
fn live_scrape_passes_promtool_and_holds_exactly_the_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    let input = gen_fixture(
        dir.path(),
        "in.pcap",
        &[
            "--count",
            "3000",
            "--noise-every",
            "10",
            "--truncate",
            "400",
        ],
    );
    let app = Appliance::looping(&input, &dir.path().join("ring"), 4, &[]);
    let m = app.scrape_until(Duration::from_secs(30), |m| {
        metric(m, "mirrorcap_ring_oldest_timestamp_seconds", &[]).is_some()
            && metric(m, "mirrorcap_packet_latency_seconds_count", &[]).is_some_and(|v| v > 0.0)
            && metric(m, "mirrorcap_ring_segments_overwritten_total", &[]).is_some_and(|v| v > 0.0)
            // NIC counters come from the control core's 1 Hz poll.
            && metric(m, "mirrorcap_nic_xstat", &[("name", "rx_good_packets")])
                .is_some_and(|v| v > 0.0)
    });

    // promtool, the reference linter, finds nothing to say.
    let f = dir.path().join("scrape.txt");
    std::fs::write(&f, &m).unwrap();
    let out = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&f).unwrap())
        .output()
        .expect("promtool (scripts/setup.sh installs it)");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The scrape's families are the catalogue's, with the catalogue's types; only the
    // ENA-only family is absent on net_pcap.
    let families = scrape_families(&m);
    for (name, kind) in &families {
        let f = CATALOGUE
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("{name} is exported but not in the catalogue"));
        assert_eq!(kind, kind_name(f.kind), "{name}");
    }
    for f in CATALOGUE {
        let present = families.iter().any(|(n, _)| n == f.name);
        assert_eq!(
            present,
            !matches!(
                f.presence,
                Presence::Ena
                    | Presence::WithSessions
                    | Presence::WithStamps
                    | Presence::WithStore
                    | Presence::WithArchive
            ),
            "{} ({:?}) present: {present}",
            f.name,
            f.presence
        );
    }

    // Every xstat of the port, by its driver's name.
    assert!(
        metric(&m, "mirrorcap_nic_xstat", &[("name", "rx_good_packets")]).is_some_and(|v| v > 0.0),
        "no rx_good_packets xstat in:\n{m}"
    );
    assert!(metric(&m, "mirrorcap_nic_xstat", &[("name", "rx_q0_packets")]).is_some());
    // Mempool, ring and health gauges make sense.
    let in_use = metric(&m, "mirrorcap_mempool_mbufs_in_use", &[("worker", "0")]).unwrap();
    let cap = metric(&m, "mirrorcap_mempool_mbufs_capacity", &[("worker", "0")]).unwrap();
    assert!(in_use > 0.0 && in_use <= cap, "{in_use} of {cap}");
    let oldest = metric(&m, "mirrorcap_ring_oldest_timestamp_seconds", &[]).unwrap();
    let newest = metric(&m, "mirrorcap_ring_newest_timestamp_seconds", &[]).unwrap();
    let span = metric(&m, "mirrorcap_ring_retention_seconds", &[]).unwrap();
    let now = unix_now();
    assert!(oldest <= newest && newest <= now + 1.0 && now - oldest < 120.0);
    assert!((newest - oldest - span).abs() < 1e-3);
    assert_eq!(
        metric(&m, "mirrorcap_ring_capacity_bytes", &[]),
        Some(4.0 * 1024.0 * 1024.0)
    );
    // Traffic flows (the replay loops): the newest packet is at most a few seconds old, and
    // not older than the process.
    let last = last_packet(&m).expect("no mirrorcap_last_packet_timestamp_seconds");
    let start = metric(&m, "mirrorcap_start_time_seconds", &[]).unwrap();
    assert!(
        start <= last && last <= now + 1.0 && now - last < 5.0,
        "last packet {last}, start {start}, now {now}"
    );
    assert_eq!(metric(&m, "mirrorcap_ring_writable", &[]), Some(1.0));
    assert_eq!(metric(&m, "mirrorcap_port_link_up", &[]), Some(1.0));
    assert_eq!(metric(&m, "mirrorcap_healthy", &[]), Some(1.0));
    assert_eq!(
        metric(
            &m,
            "mirrorcap_build_info",
            &[
                ("driver", "net_pcap"),
                ("version", env!("CARGO_PKG_VERSION"))
            ]
        ),
        Some(1.0)
    );
    // Drops carry their stage; AWS truncation shows per session.
    assert!(metric(
        &m,
        "mirrorcap_dropped_packets_total",
        &[("stage", "decap"), ("reason", "bad_vxlan_flags")]
    )
    .is_some_and(|v| v > 0.0));
    assert!(metric(
        &m,
        "mirrorcap_vni_truncated_packets_total",
        &[("vni", "100")]
    )
    .is_some_and(|v| v > 0.0));
}

/// The newest `mirrorcap_last_packet_timestamp_seconds` over the workers.
fn last_packet(m: &str) -> Option<f64> {
    m.lines()
        .filter(|l| l.starts_with("mirrorcap_last_packet_timestamp_seconds{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .reduce(f64::max)
}

#[test]
fn the_last_packet_time_follows_traffic_and_stops_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = gen_fixture(dir.path(), "in.pcap", &["--count", "500"]);
    let before = unix_now();
    let app = Appliance::on_pcap(&input, &dir.path().join("ring"), false, 4, &[]);
    // The replay runs once: every packet received, then nothing.
    let m = app.scrape_until(Duration::from_secs(30), |m| {
        metric(m, "mirrorcap_rx_packets_total", &[]) == Some(500.0)
    });
    let last = last_packet(&m).expect("no mirrorcap_last_packet_timestamp_seconds");
    let now = unix_now();
    assert!(before <= last && last <= now, "{before} <= {last} <= {now}");
    // Scrapes go on, the workers poll, nothing arrives: the time stays where it was.
    std::thread::sleep(Duration::from_millis(2500));
    let (_, m) = app.get("/metrics");
    assert_eq!(last_packet(&m), Some(last));
    assert_eq!(metric(&m, "mirrorcap_workers_running", &[]), Some(1.0));
}

/// The cumulative buckets of a histogram series (le, count), in scrape order.
fn buckets(m: &str, name: &str) -> Vec<(String, f64)> {
    m.lines()
        .filter(|l| l.starts_with(&format!("{name}_bucket{{")))
        .map(|l| {
            let le = l.split("le=\"").nth(1).unwrap().split('"').next().unwrap();
            let v = l.rsplit(' ').next().unwrap().parse().unwrap();
            (le.to_string(), v)
        })
        .collect()
}

#[test]
fn latency_histograms_count_every_packet_and_burst() {
    let dir = tempfile::tempdir().unwrap();
    let input = gen_fixture(dir.path(), "in.pcap", &["--count", "2000"]);
    let app = Appliance::on_pcap(&input, &dir.path().join("ring"), false, 4, &[]);
    // Published within a quarter second of the last burst, while the worker idles.
    let m = app.scrape_until(Duration::from_secs(30), |m| {
        metric(m, "mirrorcap_packet_latency_seconds_count", &[]) == Some(2000.0)
    });
    assert_eq!(
        metric(&m, "mirrorcap_packet_latency_seconds_count", &[]),
        Some(2000.0)
    );
    for name in [
        "mirrorcap_packet_latency_seconds",
        "mirrorcap_burst_duration_seconds",
    ] {
        let b = buckets(&m, name);
        assert_eq!(b.len(), 23, "{name}: 22 bounds and +Inf");
        assert_eq!(b[0].0, "0.0000001");
        assert_eq!(b.last().unwrap().0, "+Inf");
        assert!(b.windows(2).all(|w| w[0].1 <= w[1].1), "{name}: {b:?}");
        let count = metric(&m, &format!("{name}_count"), &[]).unwrap();
        assert_eq!(b.last().unwrap().1, count);
        let sum = metric(&m, &format!("{name}_sum"), &[]).unwrap();
        assert!(sum > 0.0 && sum < count, "{name}: sum {sum} s over {count}");
    }
    let bursts = metric(&m, "mirrorcap_burst_duration_seconds_count", &[]).unwrap();
    assert!(
        (2000.0 / 32.0..=2000.0).contains(&bursts),
        "{bursts} bursts"
    );
}

/// Sends `request` as it is; returns the status code.
fn raw_status(addr: &str, request: &str) -> u16 {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn serves_metrics_and_healthz_only_on_loopback_by_default() {
    use clap::Parser;
    let cli = mirrorcap::cli::Cli::try_parse_from(["mirrorcap", "run", "--vdev", "x"]).unwrap();
    let mirrorcap::cli::Command::Run(args) = cli.command else {
        panic!("not run")
    };
    assert_eq!(args.metrics_addr, "127.0.0.1:9200");
    assert_eq!(args.log_interval, "60s");

    let dir = tempfile::tempdir().unwrap();
    let input = gen_fixture(dir.path(), "in.pcap", &["--count", "100"]);
    let app = Appliance::on_pcap(&input, &dir.path().join("ring"), false, 4, &[]);
    assert!(app.metrics.starts_with("127.0.0.1:"), "{}", app.metrics);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let health = loop {
        let h = app.get("/healthz");
        if h.0 == 200 || std::time::Instant::now() > deadline {
            break h;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(health, (200, "ok\n".to_string()));
    assert_eq!(app.get("/metrics?x=1").0, 200);
    for path in ["/", "/metrics/", "/health", "/debug/pprof", "/api/v1/query"] {
        assert_eq!(app.get(path).0, 404, "GET {path}");
    }
    for method in ["POST", "PUT", "DELETE"] {
        for path in ["/metrics", "/healthz"] {
            let req = format!("{method} {path} HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
            assert_eq!(raw_status(&app.metrics, &req), 405, "{method} {path}");
        }
    }
}

#[test]
fn a_ring_that_refuses_packets_makes_the_appliance_unhealthy() {
    let dir = tempfile::tempdir().unwrap();
    let input = gen_fixture(dir.path(), "in.pcap", &["--count", "500"]);
    // Two 1 MiB segments under --ring-policy stop fill within milliseconds of looping input.
    let app = Appliance::looping(
        &input,
        &dir.path().join("ring"),
        2,
        &["--ring-policy", "stop"],
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let (code, body) = loop {
        let h = app.get("/healthz");
        if h.0 == 503 || std::time::Instant::now() > deadline {
            break h;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("ring of worker 0") && body.contains("ring_full"),
        "{body}"
    );
    let m = app.scrape_until(Duration::from_secs(5), |m| {
        metric(m, "mirrorcap_healthy", &[]) == Some(0.0)
    });
    assert_eq!(metric(&m, "mirrorcap_healthy", &[]), Some(0.0));
    assert_eq!(metric(&m, "mirrorcap_ring_writable", &[]), Some(0.0));
}

#[test]
fn off_a_terminal_the_status_line_comes_every_log_interval() {
    let dir = tempfile::tempdir().unwrap();
    let input = gen_fixture(dir.path(), "in.pcap", &["--count", "500"]);
    let app = Appliance::looping(
        &input,
        &dir.path().join("ring"),
        4,
        &["--log-interval", "1s"],
    );
    std::thread::sleep(Duration::from_millis(3500));
    app.signal("INT");
    let (st, err) = app.wait(Duration::from_secs(20));
    assert!(st.success(), "{err}");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains(", ring holds "))
        .collect();
    assert!(lines.len() >= 2, "status lines:\n{err}");
    assert!(
        lines.iter().any(|l| !l.ends_with("ring holds nothing yet")),
        "{lines:?}"
    );

    for bad in ["0s", "500ms", "soon"] {
        let (st, err) = mirrorcap(&[
            "run",
            "--vdev",
            "net_null0",
            "--ring-dir",
            dir.path().join("r2").to_str().unwrap(),
            "--log-interval",
            bad,
        ]);
        assert_eq!(st.code(), Some(2), "--log-interval {bad}: {err}");
        assert!(err.contains("--log-interval"), "{err}");
    }
}
