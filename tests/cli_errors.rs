//! Every command-line and configuration mistake gives exactly one line on stderr, starting
//! `mirrorcap: error:` and naming what is wrong, and exit code 2 — before DPDK starts where the
//! mistake can be seen without it. Table-driven.
mod support;
use support::*;

#[test]
fn every_misuse_is_one_line_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("ring");
    let r = ring.to_str().unwrap();
    let bad_toml = dir.path().join("bad.toml");
    std::fs::write(&bad_toml, "[run]\nworkers = \"two\"\n").unwrap();
    let bad = bad_toml.to_str().unwrap();
    let not_ring = dir.path().to_str().unwrap();
    let store = dir.path().join("store");
    let st = store.to_str().unwrap();
    let bad_store_toml = dir.path().join("bad-store.toml");
    std::fs::write(
        &bad_store_toml,
        "[run]\nstore_dir = \"/var/tmp/x\"\nstore_compress = \"lz4\"\n",
    )
    .unwrap();
    let bad_store = bad_store_toml.to_str().unwrap();
    let run = |extra: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = ["run", "--vdev", "net_null0", "--ring-dir", r]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let own = |a: &[&str]| -> Vec<String> { a.iter().map(|s| s.to_string()).collect() };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (own(&["frobnicate"]), "unrecognized subcommand"),
        (run(&["--bogus"]), "--bogus"),
        (run(&["--workers", "0"]), "--workers"),
        (run(&["--workers", "65"]), "--workers"),
        (run(&["--segments", "1"]), "--segments"),
        (run(&["--segment-size", "12XB"]), "--segment-size"),
        (run(&["--segment-size", "4096"]), "--segment-size"),
        (run(&["--ring-policy", "keep"]), "--ring-policy"),
        (run(&["--mbufs", "10"]), "--mbufs"),
        (run(&["--mbufs", "1100"]), "--mbufs"),
        (run(&["--metrics-addr", "not-an-address"]), "--metrics-addr"),
        (run(&["--exit-when-idle", "soon"]), "--exit-when-idle"),
        (run(&["--max-depth", "0"]), "--max-depth"),
        (
            run(&["--ring-group", "no-such-group-mirrorcap"]),
            "--ring-group no-such-group-mirrorcap: no such group",
        ),
        (
            run(&["--metrics-max-connections", "0"]),
            "--metrics-max-connections",
        ),
        (
            run(&["--vxlan-port", "4789", "--geneve-port", "4789"]),
            "4789",
        ),
        (run(&["--log-interval", "0s"]), "--log-interval"),
        (run(&["--log-interval", "often"]), "--log-interval"),
        (
            run(&["--config", "/nonexistent/m.toml"]),
            "/nonexistent/m.toml",
        ),
        (
            vec!["run".into(), "--config".into(), bad.into()],
            "bad.toml:2: run.workers",
        ),
        (own(&["run", "--ring-dir", r]), "no port"),
        (
            run(&["--store-size", "1GiB"]),
            "--store-size needs --store-dir",
        ),
        (
            run(&["--store-max-age", "7d"]),
            "--store-max-age needs --store-dir",
        ),
        (
            run(&["--store-min-free", "5%"]),
            "--store-min-free needs --store-dir",
        ),
        (
            own(&[
                "run",
                "--vdev",
                "net_null0",
                "--ring-dir",
                r,
                "--store-dir",
                st,
                "--store-min-free",
                "95%",
            ]),
            "--store-min-free: \"95%\": a percentage from 0% to 90%",
        ),
        (
            run(&["--store-compress", "none"]),
            "--store-compress needs --store-dir",
        ),
        (
            run(&["--store-flow-index", "off"]),
            "--store-flow-index needs --store-dir",
        ),
        (
            own(&[
                "run",
                "--vdev",
                "net_null0",
                "--ring-dir",
                r,
                "--store-dir",
                st,
                "--store-compress",
                "lz4",
            ]),
            "--store-compress",
        ),
        (
            own(&[
                "run",
                "--vdev",
                "net_null0",
                "--ring-dir",
                r,
                "--store-dir",
                st,
                "--store-size",
                "lots",
            ]),
            "--store-size",
        ),
        (
            // Two workers' shares of 64 MiB segments: 64 MiB is half a segment each.
            own(&[
                "run",
                "--vdev",
                "net_null0",
                "--ring-dir",
                r,
                "--workers",
                "2",
                "--store-dir",
                st,
                "--store-size",
                "64MiB",
            ]),
            "--store-size 64 MiB: 2 worker(s) need at least one ring segment",
        ),
        (
            own(&[
                "run",
                "--vdev",
                "net_null0",
                "--ring-dir",
                r,
                "--store-dir",
                st,
                "--store-max-age",
                "a week",
            ]),
            "--store-max-age",
        ),
        (
            run(&["--store-dir", "/proc/mirrorcap-store"]),
            "--store-dir /proc/mirrorcap-store: create store directory",
        ),
        (
            vec!["run".into(), "--config".into(), bad_store.into()],
            "bad-store.toml:3: run.store_compress",
        ),
        (own(&["export"]), "RING_DIR"),
        (
            own(&["export", "/nonexistent-ring", "-w", "/dev/null"]),
            "nonexistent-ring",
        ),
        (
            own(&["export", not_ring, "-w", "/dev/null"]),
            "not a mirrorcap ring",
        ),
        (
            own(&["export", r, "-w", "/dev/null", "--from", "yesterday"]),
            "--from",
        ),
        (
            own(&["export", r, "-w", "/dev/null", "--vni", "16777216"]),
            "--vni",
        ),
        (
            own(&["export", r, "-w", "/dev/null", "--format", "erf"]),
            "--format",
        ),
        (own(&["tail", "/nonexistent-ring"]), "nonexistent-ring"),
        (own(&["tail", r, "--window", "forever"]), "--window"),
        (
            own(&["gen", "-w", "/dev/null", "--inner-size", "10"]),
            "--inner-size",
        ),
        (
            own(&["gen", "-w", "/dev/null", "--encap", "gre"]),
            "--encap",
        ),
        (
            own(&["gen", "-w", "/dev/null", "--vni", "16777216"]),
            "--vni",
        ),
        (
            own(&["gen", "-w", "/nonexistent/dir/out.pcap"]),
            "/nonexistent/dir",
        ),
        (own(&["gen", "--count", "5"]), "--vdev"),
        (
            own(&["gen", "-w", "/dev/null", "--vdev", "net_null0"]),
            "not both",
        ),
        (
            own(&["gen", "-w", "/dev/null", "--rate", "1kpps"]),
            "--rate",
        ),
        (
            own(&["gen", "-w", "/dev/null", "--inner-size", "imix"]),
            "imix",
        ),
        (
            own(&[
                "gen",
                "--vdev",
                "net_null0",
                "--count",
                "5",
                "--duration",
                "1s",
            ]),
            "--duration",
        ),
        (
            own(&["gen", "--vdev", "net_null0", "--rate", "0pps"]),
            "--rate",
        ),
        (
            own(&["gen", "--vdev", "net_null0", "--rate", "fast"]),
            "--rate",
        ),
        (
            own(&["gen", "--vdev", "net_null0", "--proto", "sctp"]),
            "--proto",
        ),
        (
            own(&["gen", "--vdev", "net_null0", "--count", "0"]),
            "--count",
        ),
        (
            own(&["gen", "--vdev", "net_null0", "--duration", "soon"]),
            "--duration",
        ),
        (
            own(&[
                "gen",
                "--vdev",
                "net_null0",
                "--tx-queues",
                "4",
                "--flows",
                "2",
            ]),
            "--tx-queues",
        ),
        (
            own(&[
                "gen",
                "--vdev",
                "net_null0",
                "--outer-src-ip",
                "2001:db8::1",
            ]),
            "--outer-src-ip",
        ),
        (
            own(&["gen", "--vdev", "net_null0", "--outer-dst-mac", "02:00"]),
            "--outer-dst-mac",
        ),
        (
            own(&["gen", "--vdev", "net_null0", "--tcp-share", "101"]),
            "--tcp-share",
        ),
        (
            own(&["gen", "--vdev", "net_null0", "--burst", "0"]),
            "--burst",
        ),
        (
            own(&["gen", "--vdev", "net_null0", "--progress", "x"]),
            "--progress",
        ),
        (
            own(&[
                "gen",
                "--vdev",
                "net_null0",
                "--report-json",
                "/nonexistent/dir/r.json",
            ]),
            "/nonexistent/dir",
        ),
        (
            own(&["check-config", "/nonexistent/m.toml"]),
            "/nonexistent/m.toml",
        ),
        (own(&["check-config"]), "FILE"),
    ];
    assert!(cases.len() >= 25);
    for (args, needle) in &cases {
        let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let (st, err) = mirrorcap(&a);
        assert_eq!(st.code(), Some(2), "{a:?}: {err}");
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{a:?}: one line, got:\n{err}");
        assert!(lines[0].starts_with("mirrorcap: error: "), "{a:?}: {err}");
        assert!(
            lines[0].contains(needle),
            "{a:?}: {:?} lacks {needle:?}",
            lines[0]
        );
        assert!(
            !err.contains("EAL"),
            "{a:?}: refused before DPDK starts: {err}"
        );
    }
}

/// net_pcap's infinite_rx keeps every packet of its file in mbufs: a file with more packets than
/// a pool can hold is one line before DPDK starts, naming the file and its packet count.
#[test]
fn an_infinite_replay_too_large_for_a_pool_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("huge.pcap");
    // 1048575 empty records (16 bytes each): as many packets as a pool has mbufs, and the
    // in-flight ones come on top.
    let mut b = Vec::with_capacity(24 + 16 * 1_048_575);
    b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    b.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    b.extend_from_slice(&65535u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    b.resize(24 + 16 * 1_048_575, 0);
    std::fs::write(&big, b).unwrap();
    let vdev = format!("net_pcap0,rx_pcap={},infinite_rx=1", big.display());
    let ring = dir.path().join("ring");
    let (st, err) = mirrorcap(&["run", "--vdev", &vdev, "--ring-dir", ring.to_str().unwrap()]);
    assert_eq!(st.code(), Some(2), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("mirrorcap: error: ")
            && lines[0].contains("huge.pcap holds 1048575 packets"),
        "{err}"
    );
    assert!(!ring.exists(), "nothing started: {err}");
}
