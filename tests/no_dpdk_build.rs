//! The reading build: `cargo build --no-default-features --bin mirrorcap` gives a `mirrorcap`
//! with no DPDK in it (`ldd` names no `librte_`), whose `export` (of a ring, of ring and store,
//! of a store alone), `tail`, `check-config` and `gen -w` give the same bytes as the
//! appliance's own binary on the same ring, and whose `run` refuses with one line. This is what
//! an analyst runs on a laptop over a copied ring and store.
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The appliance's binary (default features, with DPDK).
fn full() -> &'static str {
    env!("CARGO_BIN_EXE_mirrorcap")
}

/// Builds the reading binary in its own target directory (so this build never waits on, or
/// invalidates, the main one) and returns its path.
fn build_reading_binary() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("no-dpdk");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut c = Command::new(cargo);
    c.current_dir(root)
        .args(["build", "--no-default-features", "--bin", "mirrorcap"])
        .arg("--target-dir")
        .arg(&target);
    if std::env::var("CI").as_deref() == Ok("true") {
        c.arg("--locked");
    }
    let out = c.output().expect("run cargo");
    assert!(
        out.status.success(),
        "the no-DPDK build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    target.join("debug").join("mirrorcap")
}

fn run(bin: &Path, args: &[&str]) -> (bool, Vec<u8>, String) {
    let out = Command::new(bin)
        .args(args)
        .output()
        .expect("run mirrorcap");
    (
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A ring written by the real appliance replaying a generated capture.
fn make_ring(dir: &Path) -> PathBuf {
    let input = dir.join("in.pcap");
    let ring = dir.join("ring");
    let (ok, _, err) = run(
        Path::new(full()),
        &[
            "gen",
            "-w",
            input.to_str().unwrap(),
            "--count",
            "500",
            "--vni",
            "7",
            "--vni",
            "8",
        ],
    );
    assert!(ok, "gen: {err}");
    let vdev = format!("net_pcap0,rx_pcap={}", input.display());
    let (ok, _, err) = run(
        Path::new(full()),
        &[
            "run",
            "--vdev",
            &vdev,
            "--ring-dir",
            ring.to_str().unwrap(),
            "--segments",
            "4",
            "--segment-size",
            "1MiB",
            "--metrics-addr",
            "127.0.0.1:0",
            "--exit-when-idle",
            "1s",
            "--store-dir",
            dir.join("store").to_str().unwrap(),
            "--store-min-free",
            "0",
        ],
    );
    assert!(ok, "run: {err}");
    ring
}

#[test]
fn the_reading_build_has_no_dpdk_and_reads_what_the_appliance_wrote() {
    let reading = build_reading_binary();
    let ldd = Command::new("ldd").arg(&reading).output().expect("ldd");
    let libs = String::from_utf8_lossy(&ldd.stdout);
    assert!(ldd.status.success(), "ldd failed: {libs}");
    assert!(
        !libs.contains("librte_"),
        "the reading build links DPDK:\n{libs}"
    );
    assert!(libs.contains("libpcap"), "filters need libpcap:\n{libs}");

    let dir = tempfile::tempdir().unwrap();
    let ring = make_ring(dir.path());
    let ring_s = ring.to_str().unwrap();
    // export: pcap, pcapng with session interfaces, one VNI, a time cut.
    for extra in [
        &[][..],
        &["--format", "pcapng"][..],
        &["--vni", "8"][..],
        &["--from", "@0", "--vni", "7"][..],
    ] {
        let mut args = vec!["export", ring_s, "-w", "-"];
        args.extend_from_slice(extra);
        let (ok_a, a, err_a) = run(Path::new(full()), &args);
        let (ok_b, b, err_b) = run(&reading, &args);
        assert!(ok_a && ok_b, "export {extra:?}: {err_a} / {err_b}");
        assert!(a.len() > 1000, "export {extra:?} wrote {} bytes", a.len());
        assert_eq!(a, b, "export {extra:?} differs between the two builds");
    }
    // export of ring and store (the store's timeline is pure Rust too), and of a store alone.
    let store = dir.path().join("store");
    let store_s = store.to_str().unwrap();
    for dirs in [&[ring_s, store_s][..], &[store_s][..]] {
        let mut args = vec!["export"];
        args.extend_from_slice(dirs);
        args.extend_from_slice(&["-w", "-", "--format", "pcapng"]);
        let (ok_a, a, err_a) = run(Path::new(full()), &args);
        let (ok_b, b, err_b) = run(&reading, &args);
        assert!(ok_a && ok_b, "export {dirs:?}: {err_a} / {err_b}");
        assert!(err_b.contains("store file(s)"), "{err_b}");
        assert!(b.len() > 1000, "export {dirs:?} wrote {} bytes", b.len());
        assert_eq!(a, b, "export {dirs:?} differs between the two builds");
    }
    // tail --from-start streams what the ring holds, then follows until a signal.
    let mut child = Command::new(&reading)
        .args(["tail", ring_s, "--from-start"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tail");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        stdout.read_to_end(&mut v).unwrap();
        v
    });
    std::thread::sleep(Duration::from_secs(2));
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let t0 = Instant::now();
    let st = child.wait().expect("tail exits");
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert!(st.success() || st.code() == Some(130), "tail: {st:?}");
    let tailed = reader.join().unwrap();
    let (_, exported, _) = run(&reading, &["export", ring_s, "-w", "-"]);
    assert_eq!(
        tailed, exported,
        "tail --from-start streamed other bytes than export"
    );

    // check-config: filters compiled by libpcap alone, the same effective configuration.
    let cfg = dir.path().join("mirrorcap.toml");
    std::fs::write(
        &cfg,
        "[run]\nworkers = 2\n\n[[session]]\nname = \"web\"\nvni = [7]\nfilter = \"tcp port 443 or udp port 53\"\n",
    )
    .unwrap();
    let (ok_a, a, err_a) = run(Path::new(full()), &["check-config", cfg.to_str().unwrap()]);
    let (ok_b, b, err_b) = run(&reading, &["check-config", cfg.to_str().unwrap()]);
    assert!(ok_a && ok_b, "check-config: {err_a} / {err_b}");
    assert_eq!(a, b);
    assert!(String::from_utf8_lossy(&b).contains("tcp port 443"));
    std::fs::write(
        &cfg,
        "[[session]]\nname = \"web\"\nvni = [7]\nfilter = \"tcp port 99999\"\n",
    )
    .unwrap();
    let out = Command::new(&reading)
        .args(["check-config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("99999"), "{err}");

    // gen -w: the same bytes from both builds.
    let (ok_a, a, _) = run(Path::new(full()), &["gen", "-w", "-", "--count", "50"]);
    let (ok_b, b, _) = run(&reading, &["gen", "-w", "-", "--count", "50"]);
    assert!(ok_a && ok_b);
    assert_eq!(a, b);

    // What needs DPDK says so, in one line, exit 2.
    for args in [
        &["run", "--vdev", "net_null0"][..],
        &["gen", "--vdev", "net_null0", "--count", "1"][..],
    ] {
        let out = Command::new(&reading).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("without it"), "{err}");
    }
}
