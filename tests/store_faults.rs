//! Faults of the store's disk while `run --store-dir` captures (docs/store.md, "When the store
//! fails"): the disk fills mid-run, the store directory is removed, the file system turns
//! read-only. In each the ring keeps capturing, the store counts what it could not keep
//! (`mirrorcap_store_errors_total`, overrun segments), `/healthz` answers 503 naming the
//! worker, the directory and the reason until a poll succeeds again, storing resumes by
//! itself once the disk is back, no store file is ever visible incomplete, and `export RING
//! STORE` afterwards accounts for every segment. The stores live on real file systems the
//! tests make (ext4 in a loop file: `truncate`, `mkfs.ext4`, `mount -o loop`), so they run as
//! root; a missing tool or privilege skips them with a note, and fails them under CI=true.
mod support;

use mirrorcap_store::storedir::list;
use mirrorcap_store::StoreFile;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

/// An ext4 file system of `size` in a loop file on the real disk, mounted on a fresh
/// directory; unmounted (lazily, which also frees the loop device) when dropped, even when
/// the test panics.
struct LoopFs {
    _dir: tempfile::TempDir,
    mnt: PathBuf,
}

impl LoopFs {
    fn new(size: &str) -> LoopFs {
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        let img = dir.path().join("fs.img");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        sh("truncate", &["-s", size, p(&img)]);
        // -m 0: no blocks reserved for root (the appliance runs as root and would use them).
        sh("mkfs.ext4", &["-q", "-F", "-m", "0", p(&img)]);
        sh("mount", &["-o", "loop", p(&img), p(&mnt)]);
        LoopFs { _dir: dir, mnt }
    }

    /// `mount -o remount,OPTS`, retried while the kernel answers EBUSY (it refuses to make a
    /// file system read-only while a file on it is open for writing: the store thread's
    /// file, for the milliseconds it writes one).
    fn remount(&self, opts: &str) {
        let o = format!("remount,{opts}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (ok, out, err) = tool("mount", &["-o", &o, p(&self.mnt)]);
            if ok {
                return;
            }
            assert!(
                err.contains("busy") && Instant::now() < deadline,
                "mount -o {o}: {out}{err}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").args(["-l", p(&self.mnt)]).status();
    }
}

/// The tools and the privilege these tests need (see the module doc).
fn prerequisites() -> bool {
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid() == 0
    });
    if !root {
        skip_or_fail("not root: the store fault tests mount file systems");
        return false;
    }
    ["mkfs.ext4", "zstdcat", "capinfos"]
        .iter()
        .all(|t| require_tool(t).is_some())
}

const W0: [(&str, &str); 1] = [("worker", "0")];

fn value(m: &str, name: &str) -> f64 {
    metric(m, name, &W0).unwrap_or(0.0)
}

fn captured(m: &str) -> f64 {
    metric(m, "mirrorcap_captured_packets_total", &[]).unwrap_or(0.0)
}

fn stored(m: &str) -> f64 {
    value(m, "mirrorcap_store_segments_total")
}

/// `/healthz` is 503 with worker 0's store line, which starts with `head` (and names the
/// segments it could not store), and `mirrorcap_healthy` is 0.
fn assert_store_unhealthy(app: &Appliance, head: &str) -> String {
    // The first failed poll may name another path (a file being written as the directory
    // went): wait for the line to settle.
    let want = format!("store {head}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let (code, body) = loop {
        let (code, body) = app.get("/healthz");
        if (code == 503 && body.contains(&want)) || Instant::now() > deadline {
            break (code, body);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(code, 503, "{body}\n{}", app.stderr());
    let at = body
        .find(&want)
        .unwrap_or_else(|| panic!("want `store {head}...` in {body:?}"));
    assert!(
        body[at..].contains(" segments not stored"),
        "no count of what was not stored: {body:?}"
    );
    let m = app.get("/metrics").1;
    assert_eq!(metric(&m, "mirrorcap_healthy", &[]), Some(0.0));
    eprintln!("/healthz: 503 {body}");
    body
}

/// Every data file in view in the worker's store directory is a complete pcap: zstd
/// decompresses it and capinfos reads it, with as many packets as its index says when the
/// index is there (a data file is in view without it only between its rename and its
/// index's, or until a failed index is cleaned up). Temporary files are hidden (`.NAME.tmp`)
/// and at most one is being written at a time. A file retention deletes meanwhile is skipped.
/// Returns the data files checked.
fn assert_store_files_complete(worker: &Path, scratch: &Path) -> usize {
    let names: Vec<String> = std::fs::read_dir(worker)
        .unwrap_or_else(|e| panic!("{}: {e}", worker.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let tmp = names.iter().filter(|n| n.ends_with(".tmp")).count();
    // One file at a time: its data, index, flow index and flow records under temporary names.
    assert!(tmp <= 4, "temporary files pile up: {names:?}");
    let mut checked = 0;
    for n in &names {
        let Some(stem) = n.strip_suffix(".pcap.zst") else {
            assert!(
                n.ends_with(".idx")
                    || n.ends_with(".fidx")
                    || n.ends_with(".flows.parquet")
                    || n.ends_with(".tmp")
                    || n == "cursor",
                "unexpected file {n}"
            );
            continue;
        };
        let f = worker.join(n);
        let out = scratch.join("check.pcap");
        let (ok, _, err) = tool(
            "sh",
            &["-c", &format!("zstdcat -q -f '{}' > '{}'", p(&f), p(&out))],
        );
        if !f.exists() {
            continue; // deleted by retention (or the clean-up of a failed file) meanwhile
        }
        assert!(ok, "zstdcat {n}: {err}");
        let (ok, info, err) = tool("capinfos", &["-M", "-c", p(&out)]);
        assert!(ok && err.trim().is_empty(), "capinfos {n}: {info}{err}");
        let packets = capinfos_packets(&info) as usize;
        if let Ok(sf) = StoreFile::open_name(worker, stem) {
            assert_eq!(packets, sf.index().record_count(), "{n}");
        }
        checked += 1;
    }
    checked
}

/// The packet count of `capinfos -M -c` output.
fn capinfos_packets(info: &str) -> u64 {
    info.lines()
        .find_map(|l| l.strip_prefix("Number of packets:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no packet count in capinfos output {info:?}"))
}

/// Packets in the store's complete files now.
fn store_packets(worker: &Path) -> u64 {
    list(worker)
        .unwrap()
        .iter()
        .map(|f| {
            StoreFile::open(&f.data, &f.index)
                .unwrap()
                .index()
                .record_count() as u64
        })
        .sum()
}

/// The number written just before `suffix` in `line`.
fn num_before(line: &str, suffix: &str) -> u64 {
    let head = &line[..line
        .find(suffix)
        .unwrap_or_else(|| panic!("{suffix:?} not in {line:?}"))];
    head.rsplit(' ').next().unwrap().parse().unwrap()
}

/// After the run: the stop line adds up; every ring segment was stored or counted as an
/// overrun (the summary's segments and overrun segments cover every seq the ring wrote, one
/// empty last segment aside); `export RING STORE` works, capinfos reads its output, and the
/// output is every record of the store plus every ring record the store does not hold.
/// Returns (packets exported, the summary line).
fn assert_accounted(err: &str, ring: &Path, store: &Path, dir: &Path) -> (u64, String) {
    let (rx, cap, drops) = stop_line(err);
    assert_eq!(rx, cap + drops, "{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("mirrorcap: store worker 0:") && l.contains(" overrun segments ("))
        .unwrap_or_else(|| panic!("no store summary in:\n{err}"))
        .to_string();
    assert_eq!(number_after(&line, "lag "), 0, "{line}");
    let seqs = control_segments(&ring.join("worker-00"));
    let newest = seqs.iter().map(|s| s.seq).max().unwrap();
    let accounted = num_before(&line, " segments,") + num_before(&line, " overrun segments");
    assert!(
        accounted <= newest && accounted + 1 >= newest,
        "ring seqs 1..={newest}, stored + overrun = {accounted}: {line}"
    );

    let out = dir.join("timeline.pcap");
    let (st, e) = mirrorcap(&["export", p(ring), p(store), "-w", p(&out)]);
    assert!(st.success(), "export ring store: {e}");
    let exported = number_after(&e, "exported ");
    let in_both = num_before(&e, " ring record(s) already in the store");
    let in_ring: u64 = seqs.iter().map(|s| s.packets).sum();
    assert_eq!(
        exported,
        store_packets(&store.join("worker-00")) + in_ring - in_both,
        "{e}"
    );
    let (ok, info, err2) = tool("capinfos", &["-M", "-c", p(&out)]);
    assert!(ok && err2.trim().is_empty(), "capinfos: {info}{err2}");
    assert_eq!(capinfos_packets(&info), exported, "{info}");
    (exported, line)
}

/// Looping replay (net_pcap infinite_rx) of 2000 frames: the ring of 8 x 1 MiB laps within
/// a second, so a store that stops storing shows overruns at once.
fn looping(tmp: &Path, store: &Path, extra: &[&str]) -> (Appliance, PathBuf) {
    let input = gen_fixture(
        tmp,
        "in.pcap",
        &["--count", "2000", "--inner-size", "60-1514"],
    );
    let ring = tmp.join("ring");
    let mut args = vec!["--store-dir", p(store)];
    args.extend_from_slice(extra);
    (Appliance::looping(&input, &ring, 8, &args), ring)
}

/// The disk fills mid-run (another file takes every free block, as in `faults_ring`): each
/// failed poll is counted, `/healthz` answers 503 "disk full ... (ENOSPC)", the ring keeps
/// capturing, no partial store file is in view; once the other file is deleted `/healthz`
/// is 200 again by itself and the store takes segments again.
#[test]
fn disk_full_mid_run_is_counted_fails_healthz_and_storing_resumes_when_space_returns() {
    if !prerequisites() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let fs = LoopFs::new("64M");
    let store = fs.mnt.join("store");
    let worker = store.join("worker-00");
    // A budget well under the disk: once space is back, retention keeps it from filling again.
    let (app, ring) = looping(tmp.path(), &store, &["--store-size", "8MiB"]);
    app.scrape_until(Duration::from_secs(30), |m| stored(m) >= 3.0);
    assert_eq!(app.get("/healthz").0, 200);

    // The filler: 64 KiB writes in a loop, retried on ENOSPC, so it takes whatever is freed.
    let stop = Arc::new(AtomicBool::new(false));
    let filler_path = fs.mnt.join("filler");
    let filler = {
        let stop = Arc::clone(&stop);
        let path = filler_path.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::File::create(&path).unwrap();
            let chunk = vec![0x55u8; 64 << 10];
            while !stop.load(Ordering::Relaxed) {
                if f.write(&chunk).is_err() {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        })
    };
    let body = assert_store_unhealthy(
        &app,
        &format!(
            "worker 0: disk full at {} (ENOSPC) since ",
            worker.display()
        ),
    );
    let m = app.get("/metrics").1;
    let errors = value(&m, "mirrorcap_store_errors_total");
    assert!(errors >= 1.0, "{m}");
    // The ring keeps capturing; the store does not (its errors keep counting); nothing
    // partial is in view, and no temporary file stays behind.
    let before = captured(&m);
    let m = app.scrape_until(Duration::from_secs(20), |m| {
        captured(m) > before + 20_000.0 && value(m, "mirrorcap_store_errors_total") >= errors + 2.0
    });
    for _ in 0..3 {
        assert_store_files_complete(&worker, tmp.path());
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(app.healthz_within(503, Duration::ZERO).0, 503, "{body}");
    let stuck = stored(&m);

    // Space comes back: 200 again by itself, and the store takes segments again.
    stop.store(true, Ordering::Relaxed);
    filler.join().unwrap();
    std::fs::remove_file(&filler_path).unwrap();
    let (code, body) = app.healthz_within(200, Duration::from_secs(15));
    assert_eq!(code, 200, "{body}\n{}", app.stderr());
    app.scrape_until(Duration::from_secs(20), |m| stored(m) >= stuck + 3.0);
    assert_eq!(app.get("/healthz").0, 200);

    app.signal("TERM");
    let (st, err) = app.wait(Duration::from_secs(30));
    assert!(st.success(), "{err}");
    assert!(err.contains("storing again after: "), "{err}");
    assert!(
        assert_store_files_complete(&worker, tmp.path()) >= 2,
        "{err}"
    );
    eprintln!("{err}");
    let (_, line) = assert_accounted(&err, &ring, &store, tmp.path());
    assert!(num_before(&line, " errors") >= errors as u64, "{line}");
    assert!(
        num_before(&line, " overrun segments") > 0,
        "the ring lapped the stuck store: {line}"
    );
}

/// Removes the whole store directory under the running appliance (its store thread may
/// create a file meanwhile: until it is gone) and waits for `/healthz` to name it missing.
fn remove_store_and_expect_missing(app: &Appliance, store: &Path) {
    while store.exists() {
        let _ = std::fs::remove_dir_all(store);
    }
    assert_store_unhealthy(
        app,
        &format!(
            "worker 0: directory missing or not mounted at {} (ENOENT) since ",
            store.display()
        ),
    );
}

/// The whole store directory removed (`rm -rf`): `/healthz` 503 "directory missing" naming
/// the store directory, which is not created again (it may be an unmounted mount point), one
/// log line for the many failed polls; created again by the operator, the store thread
/// creates its worker directory in it, `/healthz` is 200 and the store takes segments again.
#[test]
fn store_directory_removed_fails_healthz_until_it_exists_again() {
    if !prerequisites() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let base = tempfile::tempdir_in("/var/tmp").unwrap();
    let store = base.path().join("store");
    let (app, ring) = looping(tmp.path(), &store, &[]);
    app.scrape_until(Duration::from_secs(30), |m| stored(m) >= 2.0);
    remove_store_and_expect_missing(&app, &store);
    let m = app.scrape_until(Duration::from_secs(20), |m| {
        value(m, "mirrorcap_store_errors_total") >= 5.0
    });
    let before = captured(&m);
    app.scrape_until(Duration::from_secs(20), |m| captured(m) > before + 20_000.0);
    assert!(
        !store.exists(),
        "the store directory must not be created again"
    );
    let stuck = stored(&app.get("/metrics").1);

    std::fs::create_dir(&store).unwrap();
    let (code, body) = app.healthz_within(200, Duration::from_secs(15));
    assert_eq!(code, 200, "{body}\n{}", app.stderr());
    app.scrape_until(Duration::from_secs(20), |m| stored(m) >= stuck + 2.0);
    assert!(store.join("worker-00").join("cursor").exists());

    app.signal("TERM");
    let (st, err) = app.wait(Duration::from_secs(30));
    assert!(st.success(), "{err}");
    let logged = err
        .lines()
        .filter(|l| l.starts_with("mirrorcap: store worker 0:") && l.contains("capture goes on"))
        .count();
    assert!(
        (1..=2).contains(&logged),
        "one line per kind of fault, not per poll or segment:\n{err}"
    );
    assert!(err.contains("created it again"), "{err}");
    assert!(err.contains("storing again after: "), "{err}");
    eprintln!("{err}");
    let (_, line) = assert_accounted(&err, &ring, &store, tmp.path());
    assert!(num_before(&line, " errors") >= 5, "{line}");
    assert_store_files_complete(&store.join("worker-00"), tmp.path());
}

/// The store's file system remounted read-only (`mount -o remount,ro`), then read-write:
/// `/healthz` 503 "read-only file system ... (EROFS)" meanwhile, the ring keeps capturing, and
/// afterwards the store takes up where it stopped. Paced traffic into a ring that holds all
/// of it, so nothing is overrun: `export RING STORE` gives every captured packet once.
#[test]
fn read_only_store_fails_healthz_and_storing_resumes_when_read_write_again() {
    if !prerequisites() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let fs = LoopFs::new("64M");
    let store = fs.mnt.join("store");
    let worker = store.join("worker-00");
    // About 13 MiB over 8 s into a ring of 20 x 1 MiB: it never laps.
    const MIRRORED: usize = 16_000;
    let input = gen_fixture(
        tmp.path(),
        "in.pcap",
        &["--count", &MIRRORED.to_string(), "--inner-size", "60-1514"],
    );
    let fifo = PacedFifo::new(tmp.path(), &input, 2000);
    let ring = tmp.path().join("ring");
    let app = Appliance::builder()
        .pcap_vdev(&[&fifo.path], false)
        .ring_dir(&ring)
        .segment_size("1MiB")
        .segments(20)
        .args(&["--store-dir", p(&store), "--exit-when-idle", "2s"])
        .start();
    fifo.start();
    app.scrape_until(Duration::from_secs(30), |m| stored(m) >= 1.0);

    fs.remount("ro");
    assert_store_unhealthy(
        &app,
        &format!(
            "worker 0: read-only file system at {} (EROFS) since ",
            worker.display()
        ),
    );
    let m = app.get("/metrics").1;
    let before = captured(&m);
    let stuck = stored(&m);
    app.scrape_until(Duration::from_secs(10), |m| captured(m) > before + 1000.0);
    assert_store_files_complete(&worker, tmp.path());

    fs.remount("rw");
    let (code, body) = app.healthz_within(200, Duration::from_secs(15));
    assert_eq!(code, 200, "{body}\n{}", app.stderr());
    app.scrape_until(Duration::from_secs(20), |m| stored(m) > stuck);

    assert_eq!(fifo.finish(), MIRRORED);
    let (st, err) = app.wait(Duration::from_secs(30));
    assert!(st.success(), "{err}");
    assert_eq!(
        stop_line(&err),
        (MIRRORED as u64, MIRRORED as u64, 0),
        "{err}"
    );
    eprintln!("{err}");
    let (exported, line) = assert_accounted(&err, &ring, &store, tmp.path());
    assert_eq!(num_before(&line, " overrun segments"), 0, "{line}");
    assert!(num_before(&line, " errors") >= 1, "{line}");
    assert_eq!(exported, MIRRORED as u64, "every captured packet once");
    assert!(assert_store_files_complete(&worker, tmp.path()) >= 5);
}

/// Stopped while the store fails: the run still exits 0 (capture went fine), and the store's
/// stop line says why its last poll failed.
#[test]
fn stopped_while_the_store_fails_exits_0_and_the_summary_says_why() {
    if !prerequisites() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let base = tempfile::tempdir_in("/var/tmp").unwrap();
    let store = base.path().join("store");
    let (app, _ring) = looping(tmp.path(), &store, &[]);
    app.scrape_until(Duration::from_secs(30), |m| stored(m) >= 1.0);
    remove_store_and_expect_missing(&app, &store);
    app.signal("TERM");
    let (st, err) = app.wait(Duration::from_secs(30));
    assert!(st.success(), "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("mirrorcap: store worker 0:")
                && l.ends_with(
                    " errors; failing at stop: directory missing or not mounted (ENOENT)"
                )),
        "{err}"
    );
    assert!(!store.exists());
}
