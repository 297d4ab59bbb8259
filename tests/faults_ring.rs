//! Faults of the ring's file system while the appliance runs (docs/reliability.md): the ring
//! directory removed, made read-only, or filled by another process. Each test states the
//! outcome it holds the appliance to. They mount their own tmpfs (tests run as root).
mod support;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::*;

/// A tmpfs of `size` mounted on a fresh directory; unmounted (lazily) when dropped.
struct Tmpfs {
    _dir: tempfile::TempDir,
    path: PathBuf,
    binds: Vec<PathBuf>,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).unwrap();
        sh(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "tmpfs",
                p(&path),
            ],
        );
        Tmpfs {
            _dir: dir,
            path,
            binds: Vec::new(),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        for b in self.binds.iter().rev() {
            let _ = Command::new("umount").args(["-l", p(b)]).status();
        }
        let _ = Command::new("umount").args(["-l", p(&self.path)]).status();
    }
}

fn value(m: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metric(m, name, labels).unwrap_or(0.0)
}

fn write_errors(m: &str) -> f64 {
    value(
        m,
        "mirrorcap_dropped_packets_total",
        &[("reason", "ring_write_error")],
    )
}

fn captured(m: &str) -> f64 {
    value(m, "mirrorcap_captured_packets_total", &[])
}

/// Every segment file of every worker is read by capinfos, tshark and tcpdump with no error.
fn assert_segments_readable(ring: &Path) {
    let segments = segment_files(ring);
    assert!(!segments.is_empty(), "no segment under {}", ring.display());
    for f in &segments {
        assert_readable_by_tools(f);
    }
}

/// Jumbo inner frames: a 1 MiB segment holds ~120 records, so rotations are constant and each
/// trim frees up to two pages of the segment's tail for another process to take.
fn jumbo_input(dir: &Path) -> PathBuf {
    gen_fixture(
        dir,
        "jumbo.pcap",
        &["--count", "1000", "--inner-size", "8000-9000"],
    )
}

/// Filled while running: another process takes every block the file system frees. Outcome:
/// no SIGBUS; packets the ring cannot take are counted as `ring_write_error` and `/healthz`
/// fails; when space comes back capture resumes by itself (the helper reserves the segment
/// again, the worker picks it up); SIGTERM exits 0 with received = captured + drops, every
/// segment a valid pcap.
#[test]
fn ring_filled_while_running_counts_drops_and_resumes_when_space_returns() {
    let tmp = tempfile::tempdir().unwrap();
    let input = jumbo_input(tmp.path());
    let fs = Tmpfs::mount("24m");
    let ring = fs.path.join("ring");
    let app = Appliance::looping(&input, &ring, 8, &[]);
    app.scrape_until(Duration::from_secs(30), |m| captured(m) > 10_000.0);

    // The filler: 4 KiB writes in a loop, retried on ENOSPC, so it takes whatever is freed.
    let stop = Arc::new(AtomicBool::new(false));
    let filler_path = fs.path.join("filler");
    let filler = {
        let stop = Arc::clone(&stop);
        let path = filler_path.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::File::create(&path).unwrap();
            let page = [0x55u8; 4096];
            while !stop.load(Ordering::Relaxed) {
                let _ = f.write(&page);
            }
        })
    };
    let m = app.scrape_until(Duration::from_secs(60), |m| write_errors(m) > 0.0);
    assert!(
        write_errors(&m) > 0.0,
        "the fill never reached the ring: {m}"
    );
    let (code, body) = app.healthz_within(503, Duration::from_secs(10));
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("ring of worker 0"), "{body}");

    // Space comes back: capture resumes, the drops stop.
    stop.store(true, Ordering::Relaxed);
    filler.join().unwrap();
    std::fs::remove_file(&filler_path).unwrap();
    let before = captured(&app.get("/metrics").1);
    let resumed = app.scrape_until(Duration::from_secs(30), |m| captured(m) > before + 5_000.0);
    assert!(
        captured(&resumed) > before + 5_000.0,
        "capture did not resume: {resumed}"
    );
    let settled = write_errors(&resumed);
    std::thread::sleep(Duration::from_millis(1500));
    let later = app.get("/metrics").1;
    assert_eq!(
        write_errors(&later),
        settled,
        "drops go on after space returned"
    );
    assert!(captured(&later) > captured(&resumed));

    app.signal("TERM");
    let (st, err) = app.wait(Duration::from_secs(30));
    assert!(st.success(), "{err}");
    let (rx, cap, drops) = stop_line(&err);
    assert_eq!(rx, cap + drops, "every packet captured or counted: {err}");
    assert!(drops > 0 && err.contains("ring_write_error="), "{err}");
    assert_segments_readable(&ring);
}

/// Removed while running (`rm -rf` of the ring directory). The workers' files are unlinked
/// but still mapped, so nothing faults; capturing on into files nobody can read (whose
/// space is freed only at exit) is pointless, so within a second the control core stops the
/// workers in order and the run exits 1 naming the directory; every received packet is
/// accounted in the stop line. The restart (systemd `Restart=always`) creates a new ring.
#[test]
fn ring_directory_removed_stops_with_exit_1_and_a_restart_creates_a_new_ring() {
    let tmp = tempfile::tempdir().unwrap();
    let input = gen_fixture(tmp.path(), "in.pcap", &["--count", "200"]);
    let ring = tmp.path().join("ring");
    let app = Appliance::looping(&input, &ring, 4, &[]);
    app.scrape_until(Duration::from_secs(30), |m| captured(m) > 10_000.0);
    std::fs::remove_dir_all(&ring).unwrap();
    let (st, err) = app.wait(Duration::from_secs(20));
    assert_eq!(st.code(), Some(1), "{err}");
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with("mirrorcap: error: ")
            && last.contains("was removed while running")
            && last.contains(p(&ring)),
        "{err}"
    );
    let (rx, cap, drops) = stop_line(&err);
    assert!(rx > 0);
    assert_eq!(rx, cap + drops, "{err}");

    let app = Appliance::on_pcap(&input, &ring, false, 4, &["--exit-when-idle", "1s"]);
    let (st, err) = app.wait(Duration::from_secs(30));
    assert!(st.success(), "{err}");
    let out = tmp.path().join("after.pcap");
    export_ring(&ring, &out, &[]);
    assert_eq!(read_pcap(&out).len(), 200, "the new ring holds the new run");
    assert_readable_by_tools(&out);
}

/// Made read-only while running. Remounting the ring's file system read-only is refused by
/// the kernel (EBUSY) while the appliance holds its files open for writing: capture goes on,
/// healthy. A read-only mount put over the ring directory hides nothing from the workers
/// (their open files stay writable) but a restart could not open the ring: `/healthz` fails
/// naming the ring, capture goes on, SIGTERM exits 0 with everything readable; a start on the
/// read-only ring exits 2 with one line.
#[test]
fn ring_made_read_only_keeps_capturing_fails_healthz_and_a_restart_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let input = gen_fixture(tmp.path(), "in.pcap", &["--count", "200"]);
    let mut fs = Tmpfs::mount("64m");
    let ring = fs.path.join("ring");
    let app = Appliance::looping(&input, &ring, 4, &[]);
    app.scrape_until(Duration::from_secs(30), |m| captured(m) > 10_000.0);

    let (ok, _, err) = tool("mount", &["-o", "remount,ro", p(&fs.path)]);
    assert!(!ok && err.contains("busy"), "remount ro: {err}");
    let before = captured(&app.get("/metrics").1);
    app.scrape_until(Duration::from_secs(10), |m| captured(m) > before + 10_000.0);
    assert_eq!(app.get("/healthz").0, 200);

    sh("mount", &["--bind", "-o", "ro", p(&ring), p(&ring)]);
    fs.binds.push(ring.clone());
    let (code, body) = app.healthz_within(503, Duration::from_secs(10));
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("Read-only file system"), "{body}");
    let before = captured(&app.get("/metrics").1);
    let m = app.scrape_until(Duration::from_secs(10), |m| captured(m) > before + 10_000.0);
    assert!(captured(&m) > before + 10_000.0, "capture goes on: {m}");
    assert_eq!(
        metric(&m, "mirrorcap_ring_writable", &[("worker", "0")]),
        Some(0.0)
    );
    app.signal("TERM");
    let (st, err) = app.wait(Duration::from_secs(30));
    assert!(st.success(), "{err}");
    let (rx, cap, drops) = stop_line(&err);
    assert_eq!((rx, drops), (cap, 0), "{err}");
    assert_segments_readable(&ring);

    let (st, err) = Appliance::builder()
        .vdev("net_null0")
        .ring_dir(&ring)
        .segment_size("1MiB")
        .segments(4)
        .run_to_exit();
    assert_eq!(st.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("mirrorcap: error: ring: ") && err.contains("Read-only file system"),
        "{err}"
    );
}
