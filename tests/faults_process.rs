//! Faults of the process and its port (docs/reliability.md): the port failing to start,
//! SIGTERM in the middle of constant rotation, a worker panicking (then the restart), and a
//! bad configuration reloaded under load. Each test states the outcome it holds the appliance
//! to. SIGKILL with recovery is `crash_e2e.rs`; a busy metrics port is `capture_e2e.rs`.
mod support;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::*;

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn exported(ring: &Path, dir: &Path, name: &str) -> usize {
    let out = dir.join(name);
    export_ring(ring, &out, &[]);
    assert_readable_by_tools(&out);
    read_pcap(&out).len()
}

/// Port start failure (the driver refuses the device at probe, queue set-up or start):
/// one `mirrorcap: error:` line naming the port, exit 2, no crash (DPDK's own teardown, which
/// net_pcap 22.11 crashes in after a failed queue set-up, is skipped), and the ring exactly
/// as it was: every record of the earlier run still there.
#[test]
fn port_start_failure_exits_2_with_one_line_and_leaves_the_ring_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let small = gen_fixture(tmp.path(), "small.pcap", &["--count", "300"]);
    // More packets than the mbufs given: net_pcap's infinite_rx refuses the queue set-up.
    let big = gen_fixture(
        tmp.path(),
        "big.pcap",
        &["--count", "9000", "--inner-size", "64"],
    );
    let ring = tmp.path().join("ring");
    let app = Appliance::on_pcap(&small, &ring, false, 4, &["--exit-when-idle", "1s"]);
    let (st, err) = app.wait(Duration::from_secs(30));
    assert!(st.success(), "{err}");
    assert_eq!(exported(&ring, tmp.path(), "before.pcap"), 300);

    let vdev_big = format!("net_pcap0,rx_pcap={},infinite_rx=1", p(&big));
    let vdev_small = format!("net_pcap0,rx_pcap={}", p(&small));
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--vdev", "net_pcap0,rx_pcap=/nonexistent/mirror.pcap"],
            "the driver refused --vdev net_pcap0,rx_pcap=/nonexistent/mirror.pcap",
        ),
        (
            vec!["--vdev", "net_af_packet0,iface=mcnosuchif0"],
            "the driver refused --vdev net_af_packet0,iface=mcnosuchif0",
        ),
        (
            vec!["--vdev", &vdev_big, "--mbufs", "8191"],
            "port: rte_eth_rx_queue_setup(port net_pcap0",
        ),
        (
            vec!["--vdev", &vdev_small, "--workers", "2"],
            "--workers 2: port net_pcap0 offers 1 RX queue(s)",
        ),
    ];
    for (extra, needle) in cases {
        let (st, err) = Appliance::builder()
            .ring_dir(&ring)
            .segment_size("1MiB")
            .segments(4)
            .args(&extra)
            .run_to_exit();
        assert_eq!(st.signal(), None, "{extra:?} crashed: {err}");
        assert_eq!(st.code(), Some(2), "{extra:?}: {err}");
        let ours: Vec<&str> = err
            .lines()
            .filter(|l| l.starts_with("mirrorcap: "))
            .collect();
        assert_eq!(ours.len(), 1, "{extra:?}: {err}");
        assert!(
            ours[0].starts_with("mirrorcap: error: ") && ours[0].contains(needle),
            "{extra:?}: {err}"
        );
        assert_eq!(exported(&ring, tmp.path(), "after.pcap"), 300, "{extra:?}");
    }
}

/// SIGTERM while the ring rotates constantly (1 MiB segments, jumbo frames: a rotation every
/// ~120 packets), three times on the same ring: each run exits 0 with received = captured +
/// counted drops, and every segment file is a pcap that capinfos, tshark and tcpdump read
/// without a warning.
#[test]
fn sigterm_during_constant_rotation_exits_0_with_every_segment_valid() {
    let tmp = tempfile::tempdir().unwrap();
    let input = gen_fixture(
        tmp.path(),
        "jumbo.pcap",
        &["--count", "500", "--inner-size", "8000-9000"],
    );
    let ring = tmp.path().join("ring");
    for (i, sealed) in [(0, 20.0), (1, 200.0), (2, 57.0)] {
        let app = Appliance::looping(&input, &ring, 6, &[]);
        let base = if i == 0 { 0.0 } else { 1.0 };
        app.scrape_until(Duration::from_secs(60), |m| {
            metric(m, "mirrorcap_ring_segments_sealed_total", &[]).unwrap_or(0.0) >= sealed + base
        });
        app.signal("TERM");
        let (st, err) = app.wait(Duration::from_secs(20));
        assert_eq!(st.code(), Some(0), "run {i}: {err}");
        let (rx, cap, drops) = stop_line(&err);
        assert!(rx > 0);
        assert_eq!(rx, cap + drops, "run {i}: {err}");
        let dir = ring.join("worker-00");
        let mut segs = 0;
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "pcap") {
                assert_readable_by_tools(&f);
                segs += 1;
            }
        }
        assert_eq!(segs, 6);
    }
}

fn run_with_fault(fault: &str, input: &Path, ring: &Path) -> (std::process::ExitStatus, String) {
    let out = Command::new(bin())
        .env("MIRRORCAP_FAULT", fault)
        .args([
            "run",
            "--vdev",
            &format!("net_pcap0,rx_pcap={}", p(input)),
            "--ring-dir",
            p(ring),
            "--segment-size",
            "1MiB",
            "--segments",
            "16",
            "--metrics-addr",
            "127.0.0.1:0",
            "--exit-when-idle",
            "3s",
        ])
        .output()
        .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A worker panicking (test hook `MIRRORCAP_FAULT=worker-panic:0`): one line naming the
/// worker, where and why, then abort (SIGABRT: non-zero, systemd's `Restart=always` starts it
/// again). The ring keeps every committed record: the restart recovers the live segment and
/// carries on after it; the export holds both runs' records and reads cleanly. Any other value
/// of the variable is refused at start (exit 2).
#[test]
fn worker_panic_aborts_with_one_line_and_the_restart_recovers_the_ring() {
    let tmp = tempfile::tempdir().unwrap();
    let input = gen_fixture(tmp.path(), "in.pcap", &["--count", "5000"]);
    let ring = tmp.path().join("ring");

    let (st, err) = run_with_fault("worker-panic:0", &input, &ring);
    assert_eq!(st.signal(), Some(libc::SIGABRT), "{err}");
    let fatal: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("mirrorcap: fatal:"))
        .collect();
    assert_eq!(fatal.len(), 1, "{err}");
    assert!(
        fatal[0].starts_with("mirrorcap: fatal: worker 0 panicked at src/app/worker.rs:")
            && fatal[0].contains("injected fault (MIRRORCAP_FAULT=worker-panic:0)")
            && fatal[0].ends_with("aborting (a restart recovers the ring)"),
        "{err}"
    );
    assert!(!err.contains("mirrorcap: stopped:"), "{err}");
    let first = exported(&ring, tmp.path(), "crashed.pcap");
    assert!(first > 0, "records committed before the panic are readable");

    let (st, err) = run_with_fault("", &input, &ring);
    assert!(st.success(), "{err}");
    assert!(err.contains("recovered 1 segment(s)"), "{err}");
    let (rx, cap, drops) = stop_line(&err);
    assert_eq!((rx, cap, drops), (5000, 5000, 0), "{err}");
    let both = exported(&ring, tmp.path(), "restarted.pcap");
    assert_eq!(
        both,
        first + 5000,
        "the restart kept the crashed run's records"
    );

    let (st, err) = run_with_fault("worker-panic", &input, &ring);
    assert_eq!(st.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("mirrorcap: error: MIRRORCAP_FAULT=worker-panic: unknown fault"),
        "{err}"
    );
}

/// SIGHUP with a bad configuration while packets flow: the running sessions are kept, one
/// log line names the file, line and field, `mirrorcap_config_reload_failures_total` counts
/// it, capture goes on, and at SIGTERM received = captured + counted drops. (Reloads of good
/// files under load: `sessions_e2e.rs`.)
#[test]
fn reload_with_a_bad_config_under_load_keeps_the_running_sessions_and_counts_it() {
    let tmp = tempfile::tempdir().unwrap();
    let input = gen_fixture(
        tmp.path(),
        "in.pcap",
        &["--count", "3000", "--vni", "100", "--vni", "200"],
    );
    let cfg = tmp.path().join("m.toml");
    std::fs::write(
        &cfg,
        "[default]\naction = \"drop\"\n\n[[session]]\nname = \"a100\"\nvni = 100\n",
    )
    .unwrap();
    let ring = tmp.path().join("ring");
    let app = Appliance::looping(&input, &ring, 8, &["--config", p(&cfg), "--mbufs", "8191"]);
    let failures = |m: &str| metric(m, "mirrorcap_config_reload_failures_total", &[]);
    let m = app.scrape_until(Duration::from_secs(30), |m| {
        metric(m, "mirrorcap_captured_packets_total", &[]).unwrap_or(0.0) > 20_000.0
    });
    assert_eq!(failures(&m), Some(0.0), "present from the start");
    std::fs::write(
        &cfg,
        "[[session]]\nname = \"x\"\nvni = 1\nfilter = \"tcp prot 1\"\n",
    )
    .unwrap();
    app.signal("HUP");
    let m = app.scrape_until(Duration::from_secs(20), |m| failures(m) == Some(1.0));
    assert_eq!(failures(&m), Some(1.0), "{}", app.stderr());
    let session = |m: &str, s: &str, o: &str| {
        metric(
            m,
            "mirrorcap_session_packets_total",
            &[("session", s), ("outcome", o)],
        )
        .unwrap_or(0.0)
    };
    let (a, d) = (
        session(&m, "a100", "captured"),
        session(&m, "default", "dropped"),
    );
    let later = app.scrape_until(Duration::from_secs(20), |l| {
        session(l, "a100", "captured") > a + 10_000.0 && session(l, "default", "dropped") > d
    });
    assert!(
        session(&later, "a100", "captured") > a + 10_000.0,
        "the old sessions still run: {later}"
    );
    app.signal("TERM");
    let (st, err) = app.wait(Duration::from_secs(20));
    assert!(st.success(), "{err}");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("reload failed"))
        .collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("mirrorcap: reload failed, keeping the running sessions: ")
            && lines[0].contains("m.toml:4: session[0].filter:"),
        "{err}"
    );
    let (rx, cap, drops) = stop_line(&err);
    assert_eq!(rx, cap + drops, "{err}");
}
