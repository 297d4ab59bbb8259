//! kill -9 mid-spool, ten times, on real DPDK: `mirrorcap run --store-dir` on a real disk
//! (/var/tmp: ext4, O_DIRECT) takes a paced `net_pcap` replay into a ring of 4 x 1 MiB that laps
//! every second or so, and is killed with SIGKILL at a pseudo-random moment after its store has
//! taken a segment, ten times on the same ring and store; each run recovers the last.
//!
//! At every kill, every file a reader can see is valid: each visible ring segment and each
//! plain store file passes `capinfos`, each compressed one `zstdcat | capinfos`. What was
//! committed at each kill (the ring's export then, and the store's files) is the oracle: after
//! a last clean run, `export RING STORE` holds exactly those records (timestamp and bytes), each
//! once, in time order, plus the last run's own; no segment was lost to an overrun.
mod support;
use mirrorcap::gen::Rng;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::*;

const KILLS: u64 = 10;
/// Paced so the store (200 ms polls) always keeps up: about 3 MB/s, a 1 MiB segment every
/// third of a second.
const PPS: u32 = 4000;

type Key = (u64, Vec<u8>);

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// The files of `dir/worker-*/` a reader can see (not dot-hidden), sorted.
fn visible(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(workers) = std::fs::read_dir(dir) else {
        return out;
    };
    for w in workers.flatten().filter(|e| e.path().is_dir()) {
        for f in std::fs::read_dir(w.path()).unwrap().flatten() {
            if !f.file_name().to_string_lossy().starts_with('.') {
                out.push(f.path());
            }
        }
    }
    out.sort();
    out
}

/// `capinfos` reads `file` (a pcap, or a zstd-compressed one through `zstdcat`) cleanly.
fn assert_capinfos(file: &Path, scratch: &Path) {
    let name = file.to_string_lossy();
    let plain = if name.ends_with(".pcap.zst") {
        let (ok, _, err) = tool(
            "sh",
            &[
                "-c",
                &format!("zstdcat -q '{name}' > '{}'", scratch.display()),
            ],
        );
        assert!(ok, "zstdcat {name}: {err}");
        scratch.to_path_buf()
    } else if name.ends_with(".pcap") {
        file.to_path_buf()
    } else {
        return; // control files, cursors, indexes: not captures
    };
    let (ok, out, err) = tool("capinfos", &["-c", plain.to_str().unwrap()]);
    assert!(ok && err.trim().is_empty(), "capinfos {name}: {err}{out}");
}

/// Every record of `export DIRS... -w out`, as (timestamp, bytes).
fn export_keys(dirs: &[&Path], out: &Path) -> Vec<Key> {
    let mut args = vec!["export"];
    args.extend(dirs.iter().map(|d| d.to_str().unwrap()));
    args.extend(["-w", out.to_str().unwrap()]);
    let (st, err) = mirrorcap(&args);
    assert!(st.success(), "export {dirs:?}: {err}");
    read_records_file(out)
        .into_iter()
        .map(|r| (r.ts_ns, r.data))
        .collect()
}

#[test]
fn ten_kills_mid_spool_lose_nothing_committed_and_every_visible_file_reads() {
    let (Some(_), Some(_)) = (require_tool("capinfos"), require_tool("zstdcat")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir_in("/var/tmp").unwrap();
    let ring = dir.path().join("ring");
    let scratch = dir.path().join("scratch.pcap");
    let mut committed: HashSet<Key> = HashSet::new();
    let mut stored_at_kill = 0usize;
    for i in 0..KILLS {
        let sub = dir.path().join(format!("run{i}"));
        std::fs::create_dir(&sub).unwrap();
        let seed = i.to_string();
        let input = gen_fixture(
            &sub,
            "in.pcap",
            &[
                "--count",
                "40000",
                "--inner-size",
                "60-1514",
                "--seed",
                &seed,
            ],
        );
        let fifo = PacedFifo::new(&sub, &input, PPS);
        let app = Appliance::builder()
            .pcap_vdev(&[&fifo.path], false)
            .ring_dir(&ring)
            .segment_size("1MiB")
            .segments(4)
            .args(&[
                "--store-dir",
                store.path().to_str().unwrap(),
                "--store-min-free",
                "0",
            ])
            .start();
        fifo.start();
        // Mid-spool: after this run's store took a segment, at a reproducible random moment.
        app.scrape_until(Duration::from_secs(30), |m| {
            metric(m, "mirrorcap_store_segments_total", &[("worker", "0")])
                .is_some_and(|v| v >= 1.0)
        });
        let delay = Rng::new(0x0005_707e ^ i).range(0, 1500) as u64;
        std::thread::sleep(Duration::from_millis(delay));
        app.signal("KILL");
        let (st, _) = app.wait(Duration::from_secs(10));
        assert!(!st.success(), "run {i} was killed");
        drop(fifo);

        let files = visible(&ring).into_iter().chain(visible(store.path()));
        let mut n = 0;
        for f in files {
            assert_capinfos(&f, &scratch);
            n += 1;
        }
        assert!(n > 4, "kill {i}: only {n} visible files");
        let in_ring = export_keys(&[&ring], &dir.path().join("ring.pcap"));
        let in_store = export_keys(&[store.path()], &dir.path().join("store.pcap"));
        assert!(
            in_store.len() > stored_at_kill,
            "kill {i}: the store grew ({} records, {stored_at_kill} at the last kill)",
            in_store.len()
        );
        stored_at_kill = in_store.len();
        committed.extend(in_ring);
        committed.extend(in_store);
    }

    // A clean run: it recovers the last kill, and at its stop stores what the ring holds.
    let last_start = now_ns();
    let input = gen_fixture(dir.path(), "last.pcap", &["--count", "500"]);
    let started = Instant::now();
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
        .args(&["--exit-when-idle", "2s"])
        .run_to_exit();
    assert!(st.success(), "last run: {err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("mirrorcap: store worker 0:"))
        .unwrap_or_else(|| panic!("no store summary:\n{err}"));
    assert!(
        line.contains(" 0 overrun segments (0 packets"),
        "nothing overrun across the kills: {line}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    for f in visible(&ring).into_iter().chain(visible(store.path())) {
        assert_capinfos(&f, &scratch);
    }

    let all = export_keys(&[&ring, store.path()], &dir.path().join("all.pcap"));
    assert!(
        all.windows(2).all(|w| w[0].0 <= w[1].0),
        "the export is in time order"
    );
    let set: HashSet<Key> = all.iter().cloned().collect();
    assert_eq!(set.len(), all.len(), "no record twice");
    let before: HashSet<Key> = set.iter().filter(|k| k.0 < last_start).cloned().collect();
    let missing = committed.difference(&before).count();
    let extra = before.difference(&committed).count();
    assert_eq!(
        (missing, extra),
        (0, 0),
        "export RING STORE = what was committed at the kills ({} records)",
        committed.len()
    );
    assert_eq!(set.len() - before.len(), 500, "and the last run's 500");
}
