//! Helpers shared by the integration tests, each test binary taking what it needs with
//! `mod support; use support::*;`:
//! - `appliance`: the real `mirrorcap run` as a child (`Appliance`, its builder, `replay`);
//! - `ring`: the ring harness (segment files, control files, records read back independently);
//! - `tools`: capinfos, tshark and tcpdump, and the check that a pcap reads cleanly in each;
//! - `ci`: external prerequisites, skipped with a note locally and failing under `CI=true`;
//! - `metrics`, `prometheus`, `feed`: the appliance's endpoints, a real Prometheus, inputs.
// Each test binary compiles the whole module and uses a part of it: unused helpers and
// re-exports are expected, not dead.
#![allow(dead_code, unused_imports)]
pub mod appliance;
pub mod ci;
pub mod feed;
pub mod garage;
pub mod metrics;
pub mod prometheus;
pub mod ring;
pub mod tools;

pub use appliance::*;
pub use ci::*;
pub use feed::*;
pub use metrics::*;
pub use prometheus::*;
pub use ring::*;
pub use tools::*;

use std::path::Path;
use std::process::{Command, ExitStatus};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mirrorcap")
}

/// Runs `mirrorcap ARGS` to completion; returns status and stderr.
pub fn mirrorcap(args: &[&str]) -> (ExitStatus, String) {
    let out = Command::new(bin())
        .args(args)
        .output()
        .expect("run mirrorcap");
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Writes `toml` to `dir/name`, runs `mirrorcap check-config` on it, asserts it succeeded and
/// returns the effective configuration it printed.
pub fn check_config(dir: &Path, name: &str, toml: &str) -> String {
    let cfg = dir.join(name);
    std::fs::write(&cfg, toml).unwrap();
    let out = Command::new(bin())
        .args(["check-config", cfg.to_str().unwrap()])
        .output()
        .expect("run mirrorcap check-config");
    assert!(
        out.status.success(),
        "check-config {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 configuration")
}

/// Runs `mirrorcap export RING -w OUT EXTRA...`, asserts it succeeded, returns its stderr.
pub fn export_ring(ring: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "export",
        ring.to_str().unwrap(),
        "-w",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (st, err) = mirrorcap(&args);
    assert!(st.success(), "export {extra:?} failed ({st}): {err}");
    err
}
