//! scripts/loadtest_trials.py, the load test's accounting, under cargo nextest: its Python unit
//! tests (scripts/test_loadtest_trials.py, on the real gen report and /metrics texts of
//! tests/data/loadtest/), and the report a `mirrorcap gen` built from this tree writes now,
//! read through the command line loadtest.sh uses.
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Debian 12's interpreter when present (what loadtest.sh prefers), else the one on PATH.
fn python() -> PathBuf {
    let debian = PathBuf::from("/usr/bin/python3");
    if debian.exists() {
        debian
    } else {
        PathBuf::from("python3")
    }
}

#[test]
fn python_unit_tests_pass() {
    let out = Command::new(python())
        .args(["-m", "unittest", "discover", "-v", "-s", "scripts"])
        .args(["-p", "test_loadtest*.py"])
        .current_dir(root())
        // Importing the module would leave scripts/__pycache__ in the source tree.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run python3 -m unittest");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python3 -m unittest failed:\n{err}");
    // unittest exits 0 having found nothing in some versions: count what ran.
    let ran: usize = err
        .lines()
        .find_map(|l| l.strip_prefix("Ran ")?.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no 'Ran N tests' line:\n{err}"));
    assert!(ran >= 15, "only {ran} Python tests ran:\n{err}");
    assert!(err.lines().any(|l| l == "OK"), "{err}");
}

#[test]
fn reads_the_report_gen_writes_now() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    let gen = Command::new(env!("CARGO_BIN_EXE_mirrorcap"))
        .args([
            "gen",
            "--vdev",
            "net_null0",
            "--count",
            "1234",
            "--inner-size",
            "512",
        ])
        .args(["--rate", "100kpps", "--progress", "0", "--report-json"])
        .arg(&report)
        .output()
        .expect("run mirrorcap gen");
    assert!(
        gen.status.success(),
        "gen: {}",
        String::from_utf8_lossy(&gen.stderr)
    );
    let out = Command::new(python())
        .arg(root().join("scripts/loadtest_trials.py"))
        .arg("report")
        .arg(&report)
        .output()
        .expect("run scripts/loadtest_trials.py");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // sent_packets bytes duration_ns achieved_pps achieved_bps
    let v: Vec<f64> = text
        .split_whitespace()
        .map(|w| w.parse().unwrap())
        .collect();
    assert_eq!(v.len(), 5, "{text}");
    assert_eq!(v[0], 1234.0);
    // 512-byte inner frames in 50 bytes of outer Ethernet, IPv4, UDP and VXLAN headers.
    assert_eq!(v[1], 1234.0 * 562.0);
    assert!(v[2] > 0.0, "{text}");
    assert!((v[3] - 1234.0 / (v[2] / 1e9)).abs() < 1.0, "{text}");
    // Wire bits: the frame plus FCS, preamble and inter-frame gap (24 bytes a frame).
    assert!((v[4] - v[3] * 586.0 * 8.0).abs() / v[4] < 1e-9, "{text}");
}
