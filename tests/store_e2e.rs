//! `mirrorcap run --store-dir` end to end, store on a real disk (/var/tmp, so O_DIRECT): a
//! capture replayed through `net_pcap` into a small ring that laps several times; after the
//! appliance exits every packet it captured is in the ring or the store (read back with
//! mirrorcap's `StoreFile` and the ring's export), none twice and none counted lost; stock
//! tools read every store file (`zstdcat F | tcpdump -r -`, `capinfos` on plain ones); the
//! store metrics were there while it ran (and pass `promtool check metrics`); the stop summary
//! says what was stored; `mirrorcap export RING STORE` writes every captured frame once, in
//! time order, read by tcpdump, tshark and capinfos; and a worker's store directory removed
//! under a running appliance is created again, never costing capture (the other store faults:
//! `tests/store_faults.rs`).
mod support;

use mirrorcap_store::StoreFile;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::*;

/// Every complete store file of worker 0 (its index is present), oldest first.
fn store_files(store: &Path) -> Vec<(PathBuf, String)> {
    let dir = store.join("worker-00");
    let mut v: Vec<(PathBuf, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".idx").map(str::to_string))
        .map(|stem| (dir.clone(), stem))
        .collect();
    v.sort_by(|a, b| a.1.cmp(&b.1));
    v
}

/// The store's records as (timestamp, bytes), per file.
fn store_records(store: &Path) -> Vec<Vec<(u64, Vec<u8>)>> {
    store_files(store)
        .iter()
        .map(|(dir, stem)| {
            let mut f = StoreFile::open_name(dir, stem)
                .unwrap_or_else(|e| panic!("open store file {stem}: {e}"));
            f.read_all()
                .unwrap_or_else(|e| panic!("read store file {stem}: {e}"))
                .into_iter()
                .map(|r| (r.ts_ns, r.data))
                .collect()
        })
        .collect()
}

/// The number written just before `suffix` in `line`.
fn num_before(line: &str, suffix: &str) -> u64 {
    let head = &line[..line
        .find(suffix)
        .unwrap_or_else(|| panic!("{suffix:?} not in {line:?}"))];
    head.rsplit(' ').next().unwrap().parse().unwrap()
}

/// The stop summary's store line of worker 0.
fn store_line(stderr: &str) -> String {
    stderr
        .lines()
        .find(|l| l.starts_with("mirrorcap: store worker 0:") && l.contains(" overrun segments ("))
        .unwrap_or_else(|| panic!("no store summary line in:\n{stderr}"))
        .to_string()
}

/// What `mirrorcap tail --from-start DIRS...` writes by the time it has written `len` bytes
/// (or `wait` passed) and half a second more, when it gets SIGINT.
fn tail_until(dirs: &[&Path], len: usize, wait: Duration) -> Vec<u8> {
    use std::io::Read;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let mut child = std::process::Command::new(bin())
        .arg("tail")
        .arg("--from-start")
        .args(dirs)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let n = Arc::clone(&seen);
    // Read to the end, so bytes beyond `len` (a duplicate) are seen, not left in the pipe.
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        while let Ok(k @ 1..) = stdout.read(&mut buf) {
            got.extend_from_slice(&buf[..k]);
            n.store(got.len(), Ordering::Relaxed);
        }
        got
    });
    let deadline = std::time::Instant::now() + wait;
    while seen.load(Ordering::Relaxed) < len && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let got = reader.join().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "tail: {} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    got
}

#[test]
fn every_captured_packet_is_in_ring_or_store_and_stock_tools_read_the_store() {
    let (Some(_), Some(_)) = (require_tool("zstdcat"), require_tool("tcpdump")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir_in("/var/tmp").unwrap();
    // About 12 MiB of inner frames into a ring of 6 x 1 MiB: it laps twice. Paced (4 s), so the
    // store, polling every 200 ms, keeps up and nothing is lost to an overrun.
    const MIRRORED: usize = 16_000;
    let input = gen_fixture(
        dir.path(),
        "in.pcap",
        &["--count", &MIRRORED.to_string(), "--inner-size", "60-1514"],
    );
    let fifo = PacedFifo::new(dir.path(), &input, 4000);
    let ring = dir.path().join("ring");
    let app = Appliance::builder()
        .pcap_vdev(&[&fifo.path], false)
        .ring_dir(&ring)
        .segment_size("1MiB")
        .segments(6)
        .args(&[
            "--store-dir",
            store.path().to_str().unwrap(),
            "--store-min-free",
            "0",
        ])
        .args(&["--exit-when-idle", "2s"])
        .start();
    fifo.start();
    // The store's families, for worker 0, while it runs.
    let m = app.scrape_until(Duration::from_secs(60), |m| {
        metric(m, "mirrorcap_store_segments_total", &[("worker", "0")]).is_some_and(|v| v >= 2.0)
    });
    let w = [("worker", "0")];
    for name in [
        "mirrorcap_store_packets_total",
        "mirrorcap_store_lag_segments",
        "mirrorcap_store_lag_bytes",
        "mirrorcap_store_lag_seconds",
        "mirrorcap_store_overrun_segments_total",
        "mirrorcap_store_compression_ratio",
        "mirrorcap_store_deleted_files_total",
        "mirrorcap_store_retention_seconds",
        "mirrorcap_store_errors_total",
    ] {
        assert!(metric(&m, name, &w).is_some(), "{name} absent:\n{m}");
    }
    let cap = metric(&m, "mirrorcap_store_bytes_total", &[("kind", "captured")]).unwrap();
    let disk = metric(&m, "mirrorcap_store_bytes_total", &[("kind", "disk")]).unwrap();
    assert!(cap >= 2.0 * 1024.0 * 1024.0 * 0.9, "captured bytes {cap}");
    assert!(
        disk > 0.0 && disk < cap,
        "zstd shrinks generated frames: {disk} of {cap}"
    );
    assert!(metric(&m, "mirrorcap_store_packets_total", &w).unwrap() > 0.0);
    assert_eq!(metric(&m, "mirrorcap_store_errors_total", &w), Some(0.0));
    let overrun = [
        ("worker", "0"),
        ("stage", "store"),
        ("reason", "store_overrun"),
    ];
    assert_eq!(
        metric(&m, "mirrorcap_dropped_packets_total", &overrun),
        Some(0.0),
        "the store's drop reason is exported, at 0:\n{m}"
    );
    let ratio = metric(&m, "mirrorcap_store_compression_ratio", &w).unwrap();
    assert!(ratio > 1.0, "compression ratio {ratio}");
    // The reference linter accepts the store families as they are exported.
    if let Some(promtool) = require_tool("promtool") {
        let f = dir.path().join("scrape.txt");
        std::fs::write(&f, &m).unwrap();
        let out = std::process::Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(std::fs::File::open(&f).unwrap())
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(fifo.finish(), MIRRORED);
    let (st, err) = app.wait(Duration::from_secs(60));
    assert!(st.success(), "exit {st:?}:\n{err}");
    let (received, captured, drops) = stop_line(&err);
    assert_eq!(
        (received, captured, drops),
        (MIRRORED as u64, MIRRORED as u64, 0)
    );

    // The summary: nothing overrun, lagging or failed; the ring lapped, so the store holds
    // segments the ring no longer has.
    let line = store_line(&err);
    assert_eq!(num_before(&line, " overrun segments"), 0, "{line}");
    assert_eq!(num_before(&line, " errors"), 0, "{line}");
    assert_eq!(number_after(&line, "lag "), 0, "{line}");
    let files = store_records(store.path());
    let stored: usize = files.iter().map(Vec::len).sum();
    assert_eq!(num_before(&line, " packets"), stored as u64, "{line}");
    assert!(files.len() >= 8, "{} store files: {line}", files.len());

    // Ring ∪ store = everything captured: no duplicate within the store, no packet missing.
    let (in_ring, _) = export_records(&ring);
    assert!(in_ring.len() < MIRRORED, "the ring lapped");
    let mut seen: HashSet<(u64, Vec<u8>)> = HashSet::new();
    for r in files.iter().flatten() {
        assert!(seen.insert(r.clone()), "a packet stored twice (ts {})", r.0);
    }
    for r in in_ring {
        seen.insert((r.ts_ns, r.data));
    }
    assert_eq!(seen.len(), MIRRORED, "ring and store together");

    // The real binary's `export RING STORE` writes that same set as one timeline: every
    // captured frame exactly once (each carries its flow's 5-tuple and sequence number), in
    // time order, in a file the stock tools read.
    let out = dir.path().join("timeline.pcap");
    let (st, err) = mirrorcap(&[
        "export",
        ring.to_str().unwrap(),
        store.path().to_str().unwrap(),
        "-w",
        out.to_str().unwrap(),
    ]);
    assert!(st.success(), "export ring store: {err}");
    assert!(
        err.contains(" ring record(s) already in the store ("),
        "{err}"
    );
    let got = read_records_file(&out);
    assert_eq!(got.len(), MIRRORED, "{err}");
    assert!(
        got.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns),
        "time order"
    );
    let keys: HashSet<Vec<u8>> = got
        .iter()
        .map(|r| [&r.data[26..38], &r.data[42..50]].concat())
        .collect();
    assert_eq!(keys.len(), MIRRORED, "every frame once");
    let got: HashSet<(u64, Vec<u8>)> = got.into_iter().map(|r| (r.ts_ns, r.data)).collect();
    assert!(got == seen, "export = ring ∪ store");
    assert_tools_accept(&out, MIRRORED);

    // `tail --from-start RING STORE` streams the same timeline, byte for byte, before it
    // would follow the (stopped) ring; store directories without --from-start are refused.
    let want = std::fs::read(&out).unwrap();
    let tailed = tail_until(&[&ring, store.path()], want.len(), Duration::from_secs(30));
    assert!(
        tailed == want,
        "tail --from-start: {} of {} bytes differ or are missing",
        tailed.len(),
        want.len()
    );
    let (st, err) = mirrorcap(&[
        "tail",
        ring.to_str().unwrap(),
        store.path().to_str().unwrap(),
    ]);
    assert_eq!(st.code(), Some(2), "{err}");
    assert!(
        err.contains("only add older packets with --from-start"),
        "{err}"
    );

    // Stock tools read every file, and see exactly its records.
    for ((d, stem), recs) in store_files(store.path()).iter().zip(&files) {
        let f = d.join(format!("{stem}.pcap.zst"));
        let (ok, out, err) = tool(
            "sh",
            &[
                "-c",
                &format!("zstdcat '{}' | tcpdump -q -nn -r -", f.display()),
            ],
        );
        assert!(ok, "zstdcat | tcpdump {}: {err}", f.display());
        assert_eq!(out.lines().count(), recs.len(), "{}", f.display());
    }
}

#[test]
fn store_compress_none_writes_plain_pcaps_and_stores_the_last_segment_at_stop() {
    if require_tool("capinfos").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir_in("/var/tmp").unwrap();
    // About 2.3 MiB: the ring (4 x 1 MiB) does not lap, and the segment live at the stop
    // reaches the store through the store thread's last poll after the workers sealed it.
    let input = gen_fixture(
        dir.path(),
        "in.pcap",
        &["--count", "3000", "--inner-size", "60-1514"],
    );
    let ring = dir.path().join("ring");
    let (st, err) = Appliance::builder()
        .pcap_vdev(&[&input], false)
        .ring_dir(&ring)
        .segment_size("1MiB")
        .segments(4)
        .args(&[
            "--store-dir",
            store.path().to_str().unwrap(),
            "--store-min-free",
            "0",
        ])
        .args(&["--store-compress", "none", "--store-size", "64MiB"])
        .args(&["--exit-when-idle", "2s"])
        .run_to_exit();
    assert!(st.success(), "exit {st:?}:\n{err}");
    assert!(err.contains("plain pcap"), "{err}");
    let line = store_line(&err);
    assert_eq!(num_before(&line, " packets"), 3000, "{line}");
    assert_eq!(num_before(&line, " overrun segments"), 0, "{line}");

    // The store holds exactly the ring's records, in order.
    let (in_ring, _) = export_records(&ring);
    let stored: Vec<(u64, Vec<u8>)> = store_records(store.path()).concat();
    let ring_recs: Vec<(u64, Vec<u8>)> = in_ring.into_iter().map(|r| (r.ts_ns, r.data)).collect();
    assert_eq!(stored.len(), 3000);
    assert!(stored == ring_recs, "the store differs from the ring");

    // Plain pcaps: capinfos, tshark and tcpdump read each without a warning.
    let files = store_files(store.path());
    assert!(files.len() >= 3, "{files:?}");
    for ((d, stem), recs) in files.iter().zip(store_records(store.path())) {
        let f = d.join(format!("{stem}.pcap"));
        assert!(!d.join(format!("{stem}.pcap.zst")).exists());
        assert_tools_accept(&f, recs.len());
    }
}

#[test]
fn check_config_prints_the_store_keys_and_reads_them_back() {
    let dir = tempfile::tempdir().unwrap();
    let text = check_config(
        dir.path(),
        "m.toml",
        "[run]\nvdev = [\"net_null0\"]\nstore_dir = \"/var/tmp/s\"\nstore_size = \"2GiB\"\nstore_max_age = \"7d\"\n",
    );
    for want in [
        "store_dir = \"/var/tmp/s\"",
        "store_size = \"2GiB\"",
        "store_compress = \"zstd\"",
        "store_max_age = \"7d\"",
        "store_min_free = \"10%\"",
    ] {
        assert!(text.contains(want), "no {want} in\n{text}");
    }
    check_config(dir.path(), "again.toml", &text);
}

/// The worker's store directory removed under a running appliance (the store directory
/// itself stays): the store thread creates it again and stores on from its cursor, capture
/// never notices, `/healthz` stays (or is at once again) 200, and the run exits 0. The whole
/// store directory removed, a full disk and a read-only one are `tests/store_faults.rs`.
#[test]
fn a_removed_worker_store_directory_is_created_again_and_capture_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir_in("/var/tmp").unwrap();
    // Paced (as above, not a looping replay): light on the CPU the tests beside it share.
    const MIRRORED: usize = 12_000;
    let input = gen_fixture(
        dir.path(),
        "in.pcap",
        &["--count", &MIRRORED.to_string(), "--inner-size", "60-1514"],
    );
    let fifo = PacedFifo::new(dir.path(), &input, 4000);
    let app = Appliance::builder()
        .pcap_vdev(&[&fifo.path], false)
        .ring_dir(&dir.path().join("ring"))
        .segment_size("1MiB")
        .segments(4)
        .args(&[
            "--store-dir",
            store.path().to_str().unwrap(),
            "--store-min-free",
            "0",
        ])
        .args(&["--exit-when-idle", "2s"])
        .start();
    fifo.start();
    let w = [("worker", "0")];
    let segments = |m: &str| metric(m, "mirrorcap_store_segments_total", &w).unwrap_or(0.0);
    app.scrape_until(Duration::from_secs(60), |m| segments(m) >= 1.0);
    let worker = store.path().join("worker-00");
    // The store thread may publish a file while the tree is removed: until it is gone.
    while worker.exists() {
        let _ = std::fs::remove_dir_all(&worker);
    }
    let before = segments(&app.get("/metrics").1);
    let m = app.scrape_until(Duration::from_secs(30), |m| segments(m) >= before + 2.0);
    assert!(
        worker.join("cursor").exists(),
        "created again, with its cursor"
    );
    assert!(!store_files(store.path()).is_empty());
    assert_eq!(metric(&m, "mirrorcap_workers_running", &[]), Some(1.0));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.get("/healthz").0 != 200 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(app.get("/healthz").0, 200, "{}", app.get("/healthz").1);
    assert_eq!(fifo.finish(), MIRRORED);
    let (st, err) = app.wait(Duration::from_secs(30));
    assert!(st.success(), "{st:?}\n{err}");
    // Capture never noticed: every packet captured, none dropped.
    assert_eq!(
        stop_line(&err),
        (MIRRORED as u64, MIRRORED as u64, 0),
        "{err}"
    );
    assert!(
        err.contains("/worker-00 had been removed: created it again"),
        "{err}"
    );
    // At most one failed poll (a file being published as the directory went), logged once.
    let logged = err
        .lines()
        .filter(|l| l.starts_with("mirrorcap: store worker 0:") && l.contains("capture goes on"))
        .count();
    assert!(logged <= 1, "{err}");
}
