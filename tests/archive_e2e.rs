//! `run --archive` against a real S3-compatible server (Garage, started per test; the bucket
//! listed and read back with boto3, a client independent of mirrorcap's): replay -> ring ->
//! store -> archive, then the objects are exactly the store's files (same keys by the layout,
//! same bytes); `query`/`flows`/`export` of `s3://...` equal those of the local store for a
//! dozen expressions and a time range; two appliances archived to one prefix come back as one
//! time-ordered fleet export; a server killed mid-run and started again gets every file once;
//! store files over the multipart threshold go up in 8 MiB parts and come back byte for byte;
//! wrong credentials are one line and a counter while capture loses nothing; a bucket that does
//! not exist stops `run` at start with exit 2.
mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::garage::{Garage, BUCKET};
use support::*;

const PREFIX: &str = "fleet";

fn url() -> String {
    format!("s3://{BUCKET}/{PREFIX}")
}

/// `mirrorcap ARGS` with the server's environment: (success, stderr).
fn mc(g: &Garage, args: &[&str]) -> (bool, String) {
    let out = Command::new(bin())
        .envs(g.env())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An appliance on a paced replay of `count` generated frames (seed `seed`), its store in
/// `store`, archiving as `id`, with `extra` run arguments and `env`.
fn start(
    dir: &Path,
    store: &Path,
    id: &str,
    seed: u32,
    count: usize,
    extra: &[&str],
    env: &[(&str, String)],
) -> (Appliance, PacedFifo) {
    let input = gen_fixture(
        dir,
        &format!("{id}.pcap"),
        &[
            "--count",
            &count.to_string(),
            "--inner-size",
            "60-1514",
            "--seed",
            &seed.to_string(),
        ],
    );
    let own = dir.join(format!("fifo-{id}"));
    std::fs::create_dir_all(&own).unwrap();
    let fifo = PacedFifo::new(&own, &input, 4000);
    let mut b = Appliance::builder()
        .pcap_vdev(&[&fifo.path], false)
        .ring_dir(&dir.join(format!("ring-{id}")))
        .segment_size("1MiB")
        .segments(6)
        .args(&["--store-dir", store.to_str().unwrap()])
        // No free-space floor: a nearly full test disk would make retention delete the
        // files the test compares with the archive.
        .args(&["--store-min-free", "0"])
        .args(&["--archive", &url(), "--appliance-id", id])
        .args(&["--exit-when-idle", "2s"])
        .args(extra);
    for (k, v) in env {
        b = b.env(k, v);
    }
    let app = b.start();
    fifo.start();
    (app, fifo)
}

/// Waits for the run to end; asserts every frame was captured; its stderr.
fn finish(app: Appliance, fifo: PacedFifo, count: usize) -> String {
    assert_eq!(fifo.finish(), count);
    let (st, err) = app.wait(Duration::from_secs(120));
    assert!(st.success(), "exit {st:?}:\n{err}");
    assert_eq!(stop_line(&err), (count as u64, count as u64, 0), "{err}");
    err
}

fn run_archived(g: &Garage, dir: &Path, store: &Path, id: &str, seed: u32, count: usize) -> String {
    let (app, fifo) = start(dir, store, id, seed, count, &[], &g.env());
    finish(app, fifo, count)
}

fn sha256(p: &Path) -> String {
    let out = Command::new("sha256sum").arg(p).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// The UTC date of Unix second `s`.
fn utc_date(s: u64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{s}"), "+%F"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// What the archive must hold for the store files of `store` written as appliance `id`:
/// (key, size, sha256) of every data file, index, flow index and flow records file.
fn expected_objects(store: &Path, id: &str) -> BTreeSet<(String, u64, String)> {
    let mut out = BTreeSet::new();
    for w in std::fs::read_dir(store).unwrap().flatten() {
        let worker = w.file_name().to_string_lossy().into_owned();
        if !worker.starts_with("worker-") {
            continue;
        }
        for f in std::fs::read_dir(w.path()).unwrap().flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            let Some((stem, suffix)) = [".pcap.zst", ".pcap", ".idx", ".fidx", ".flows.parquet"]
                .iter()
                .find_map(|s| name.strip_suffix(s).map(|stem| (stem, *s)))
            else {
                continue;
            };
            let secs: u64 = stem[..20].parse::<u64>().unwrap() / 1_000_000_000;
            let tree = if suffix == ".flows.parquet" {
                "flows"
            } else {
                "pcap"
            };
            let key = format!("{PREFIX}/{id}/{worker}/{tree}/{}/{name}", utc_date(secs));
            let meta = f.metadata().unwrap();
            out.insert((key, meta.len(), sha256(&f.path())));
        }
    }
    out
}

fn archived(g: &Garage, id: &str) -> BTreeSet<(String, u64, String)> {
    g.objects(&format!("{PREFIX}/{id}/")).into_iter().collect()
}

#[test]
fn the_archive_holds_exactly_the_store_files_and_s3_queries_equal_local_ones() {
    let Some(g) = Garage::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir_in("/var/tmp").unwrap();
    let err = run_archived(&g, dir.path(), store.path(), "app-a", 1, 16_000);
    let line = err
        .lines()
        .find(|l| l.contains("mirrorcap: archive:"))
        .unwrap_or("");
    assert!(
        line.contains(" 0 pending") && line.contains(" 0 failed"),
        "{err}"
    );
    let want = expected_objects(store.path(), "app-a");
    assert!(want.len() >= 4 * 8, "{} store objects", want.len());
    assert_eq!(
        archived(&g, "app-a"),
        want,
        "objects = store files, byte for byte"
    );

    let s = store.path().to_str().unwrap();
    let out = |n: &str| dir.path().join(n);
    let exprs = [
        "udp",
        "tcp",
        "ip",
        "ip6",
        "udp and port 443",
        "tcp[tcpflags] & tcp-push != 0",
        "greater 1000",
        "less 200",
        "host 192.0.2.19",
        "net 192.0.2.0/28",
        "not udp",
        "src portrange 10000-10010",
    ];
    let mut matched = 0;
    for e in exprs {
        let (ok, local) = mc(&g, &["query", s, e, "-w", out("l.pcap").to_str().unwrap()]);
        assert!(ok, "{e}: {local}");
        let (ok, remote) = mc(
            &g,
            &["query", &url(), e, "-w", out("r.pcap").to_str().unwrap()],
        );
        assert!(ok, "{e}: {remote}");
        let l = std::fs::read(out("l.pcap")).unwrap();
        assert!(
            l == std::fs::read(out("r.pcap")).unwrap(),
            "query {e:?}: s3 differs from local\n{local}\n{remote}"
        );
        matched += usize::from(l.len() > 24);
        assert!(remote.contains("from the archive"), "{remote}");
    }
    assert!(matched >= 7, "{matched} expressions matched packets");
    // A time range: the second of the run's middle.
    let first: u64 = std::fs::read_dir(store.path().join("worker-00"))
        .unwrap()
        .flatten()
        .filter_map(|f| {
            f.file_name()
                .to_string_lossy()
                .get(..20)?
                .parse::<u64>()
                .ok()
        })
        .min()
        .unwrap();
    let (from, to) = (
        format!("@{}", first / 1_000_000_000 + 1),
        format!("@{}", first / 1_000_000_000 + 2),
    );
    let range = ["--from", from.as_str(), "--to", to.as_str()];
    let (ok, local) = mc(
        &g,
        &[
            &["export", s, "-w", out("l.pcap").to_str().unwrap()][..],
            &range,
        ]
        .concat(),
    );
    assert!(ok, "{local}");
    let (ok, remote) = mc(
        &g,
        &[
            &["export", &url(), "-w", out("r.pcap").to_str().unwrap()][..],
            &range,
        ]
        .concat(),
    );
    assert!(ok, "{remote}");
    let l = std::fs::read(out("l.pcap")).unwrap();
    assert!(
        l.len() > 24 && l == std::fs::read(out("r.pcap")).unwrap(),
        "{local}\n{remote}"
    );
    // Flows: from the flow records (Parquet objects) and from packets.
    for args in [
        vec!["flows", "SRC", "--json"],
        vec!["flows", "SRC", "udp and port 443", "--json"],
    ] {
        let run = |src: &str| {
            let a: Vec<&str> = args
                .iter()
                .map(|x| if *x == "SRC" { src } else { x })
                .collect();
            let o = Command::new(bin()).envs(g.env()).args(&a).output().unwrap();
            assert!(
                o.status.success(),
                "{a:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            o.stdout
        };
        let l = run(s);
        assert!(!l.is_empty());
        assert!(l == run(&url()), "{args:?}: s3 differs from local");
    }
}

#[test]
fn store_files_larger_than_a_part_go_up_in_parts_and_come_back_byte_for_byte() {
    let Some(g) = Garage::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir_in("/var/tmp").unwrap();
    // 32 MiB segments, plain pcap: each store file is over the 16 MiB multipart threshold
    // (8 MiB parts). The ring holds the whole replay, so net_pcap's full speed loses nothing.
    const COUNT: usize = 80_000;
    let input = gen_fixture(
        dir.path(),
        "big.pcap",
        &["--count", &COUNT.to_string(), "--inner-size", "700-800"],
    );
    let mut b = Appliance::builder()
        .pcap_vdev(&[&input], false)
        .ring_dir(&dir.path().join("ring"))
        .segment_size("32MiB")
        .segments(4)
        .args(&[
            "--store-dir",
            store.path().to_str().unwrap(),
            "--store-min-free",
            "0",
        ])
        .args(&["--store-compress", "none"])
        .args(&["--archive", &url(), "--appliance-id", "big"])
        .args(&["--exit-when-idle", "2s"]);
    for (k, v) in g.env() {
        b = b.env(k, &v);
    }
    let (st, err) = b.start().wait(Duration::from_secs(120));
    assert!(st.success(), "{err}");
    assert_eq!(stop_line(&err), (COUNT as u64, COUNT as u64, 0), "{err}");
    let want = expected_objects(store.path(), "big");
    let large = want
        .iter()
        .filter(|(k, size, _)| k.ends_with(".pcap") && *size > 16 << 20)
        .count();
    assert!(large >= 1, "no store file over 16 MiB: {want:?}");
    assert_eq!(
        archived(&g, "big"),
        want,
        "multipart objects = store files, byte for byte"
    );
    let out = |n: &str| dir.path().join(n);
    let (ok, e1) = mc(
        &g,
        &["export", &url(), "-w", out("r.pcap").to_str().unwrap()],
    );
    let (ok2, e2) = mc(
        &g,
        &[
            "export",
            store.path().to_str().unwrap(),
            "-w",
            out("l.pcap").to_str().unwrap(),
        ],
    );
    assert!(ok && ok2, "{e1}\n{e2}");
    assert!(std::fs::read(out("r.pcap")).unwrap() == std::fs::read(out("l.pcap")).unwrap());
}

#[test]
fn two_appliances_in_one_prefix_come_back_as_one_time_ordered_fleet() {
    let Some(g) = Garage::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        tempfile::tempdir_in("/var/tmp").unwrap(),
        tempfile::tempdir_in("/var/tmp").unwrap(),
    );
    // Side by side, as two appliances behind one load balancer.
    let (app_a, fifo_a) = start(dir.path(), a.path(), "app-a", 1, 8_000, &[], &g.env());
    let (app_b, fifo_b) = start(dir.path(), b.path(), "app-b", 2, 8_000, &[], &g.env());
    finish(app_a, fifo_a, 8_000);
    finish(app_b, fifo_b, 8_000);
    assert_eq!(archived(&g, "app-a"), expected_objects(a.path(), "app-a"));
    assert_eq!(archived(&g, "app-b"), expected_objects(b.path(), "app-b"));
    let out = |n: &str| dir.path().join(n);
    let (pa, pb) = (a.path().to_str().unwrap(), b.path().to_str().unwrap());
    let (ok, e) = mc(
        &g,
        &["export", &url(), "-w", out("fleet.pcap").to_str().unwrap()],
    );
    assert!(ok && e.contains("2 appliance(s)"), "{e}");
    let (ok, e2) = mc(
        &g,
        &["export", pa, pb, "-w", out("local.pcap").to_str().unwrap()],
    );
    assert!(ok, "{e2}");
    let fleet = std::fs::read(out("fleet.pcap")).unwrap();
    assert!(
        fleet == std::fs::read(out("local.pcap")).unwrap(),
        "{e}\n{e2}"
    );
    let ts = timestamps(&out("fleet.pcap"));
    assert_eq!(ts.len(), 16_000, "the union of both appliances");
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "ordered by time");
    // A fleet query mixes local and remote sources: the union again, each record once.
    let (ok, e3) = mc(
        &g,
        &[
            "query",
            pa,
            &url(),
            "udp",
            "-w",
            out("mixed.pcap").to_str().unwrap(),
        ],
    );
    assert!(ok, "{e3}");
    let (ok, e4) = mc(
        &g,
        &[
            "query",
            &url(),
            "udp",
            "-w",
            out("udp.pcap").to_str().unwrap(),
        ],
    );
    assert!(ok, "{e4}");
    assert!(std::fs::read(out("mixed.pcap")).unwrap() == std::fs::read(out("udp.pcap")).unwrap());
}

#[test]
fn a_server_outage_mid_run_costs_lag_and_retries_then_every_file_arrives_once() {
    let Some(mut g) = Garage::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir_in("/var/tmp").unwrap();
    let (app, fifo) = start(dir.path(), store.path(), "app-a", 3, 16_000, &[], &g.env());
    app.scrape_until(Duration::from_secs(60), |m| {
        metric(m, "mirrorcap_archive_files_total", &[("worker", "0")]).is_some_and(|v| v >= 1.0)
    });
    g.stop();
    let m = app.scrape_until(Duration::from_secs(60), |m| {
        metric(
            m,
            "mirrorcap_archive_failures_total",
            &[("cause", "network")],
        )
        .is_some_and(|v| v >= 1.0)
    });
    assert!(
        metric(&m, "mirrorcap_archive_pending_files", &[("worker", "0")]).is_some(),
        "{m}"
    );
    std::thread::sleep(Duration::from_secs(1));
    g.resume();
    let err = finish(app, fifo, 16_000);
    assert!(err.contains("upload failed: network"), "{err}");
    let line = err
        .lines()
        .find(|l| l.contains("store file(s) uploaded"))
        .unwrap_or("");
    assert!(line.contains(" 0 pending"), "{err}");
    assert_eq!(
        archived(&g, "app-a"),
        expected_objects(store.path(), "app-a"),
        "every file once, none missing, none extra"
    );
}

#[test]
fn wrong_credentials_are_one_line_and_a_counter_while_capture_loses_nothing() {
    let Some(g) = Garage::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir_in("/var/tmp").unwrap();
    let env: Vec<(&str, String)> = g
        .env()
        .into_iter()
        .map(|(k, v)| {
            if k == "AWS_SECRET_ACCESS_KEY" {
                (k, "f".repeat(64))
            } else {
                (k, v)
            }
        })
        .collect();
    let (app, fifo) = start(dir.path(), store.path(), "app-a", 4, 8_000, &[], &env);
    let m = app.scrape_until(Duration::from_secs(60), |m| {
        metric(
            m,
            "mirrorcap_archive_failures_total",
            &[("cause", "credentials")],
        )
        .is_some_and(|v| v >= 2.0)
    });
    assert_eq!(
        metric(&m, "mirrorcap_archive_files_total", &[("worker", "0")]),
        Some(0.0)
    );
    let err = finish(app, fifo, 8_000);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("credentials")).collect();
    assert_eq!(lines.len(), 1, "one line for the cause:\n{err}");
    assert!(lines[0].contains("S3 error"), "{}", lines[0]);
    assert!(g.objects(PREFIX).is_empty());
}

#[test]
fn a_bucket_that_does_not_exist_stops_run_at_start_with_exit_2() {
    let Some(g) = Garage::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let input = gen_fixture(dir.path(), "in.pcap", &["--count", "10"]);
    let store = dir.path().join("store");
    let out = Command::new(bin())
        .envs(g.env())
        .args([
            "run",
            "--vdev",
            &format!("net_pcap0,rx_pcap={}", input.display()),
        ])
        .args(["--ring-dir", dir.path().join("ring").to_str().unwrap()])
        .args(["--store-dir", store.to_str().unwrap()])
        .args(["--archive", "s3://no-such-bucket/x", "--appliance-id", "a"])
        .args(["--metrics-addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("bucket does not exist"), "{err}");
}

/// The packets' timestamps of a pcap file.
fn timestamps(p: &Path) -> Vec<Duration> {
    let mut r = pcap_file::pcap::PcapReader::new(std::fs::File::open(p).unwrap()).unwrap();
    let mut out = Vec::new();
    while let Some(pkt) = r.next_packet() {
        out.push(pkt.unwrap().timestamp);
    }
    out
}
