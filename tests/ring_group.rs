//! `run --ring-group`: after a run whose ring rotated and overwrote, every directory and file
//! of the ring (worker directories, segments, record indexes, control files, the sessions
//! file) belongs to the group, directories 0750 and files 0640; a user in the group reads a
//! segment, the same user outside it cannot.
mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::*;

fn gid_of(group: &str) -> u32 {
    let out = Command::new("getent")
        .args(["group", group])
        .output()
        .unwrap();
    assert!(out.status.success(), "no group {group} on this machine");
    String::from_utf8_lossy(&out.stdout)
        .split(':')
        .nth(2)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn walk(p: &Path, out: &mut Vec<std::path::PathBuf>) {
    out.push(p.to_path_buf());
    if p.is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            walk(&e.unwrap().path(), out);
        }
    }
}

#[test]
fn every_ring_path_belongs_to_the_ring_group_with_its_mode() {
    let gid = gid_of("adm");
    let dir = tempfile::tempdir().unwrap();
    // Let other users reach the ring (the temporary directory is 0700).
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let input = gen_fixture(dir.path(), "in.pcap", &["--count", "2000", "--vni", "100"]);
    let config = dir.path().join("m.toml");
    std::fs::write(
        &config,
        "[run]\nring_group = \"adm\"\n\n[[session]]\nname = \"web\"\nvni = 100\n",
    )
    .unwrap();
    let ring = dir.path().join("ring");
    let app = Appliance::looping(&input, &ring, 3, &["--config", config.to_str().unwrap()]);
    let m = app.scrape_until(Duration::from_secs(60), |m| {
        metric(
            m,
            "mirrorcap_ring_segments_overwritten_total",
            &[("worker", "0")],
        )
        .is_some_and(|v| v >= 3.0)
    });
    assert!(
        metric(&m, "mirrorcap_ring_segments_overwritten_total", &[]).is_some_and(|v| v >= 3.0),
        "the ring never went round:\n{m}"
    );
    app.signal("TERM");
    let (st, err) = app.wait(Duration::from_secs(30));
    assert!(st.success(), "{err}");

    let mut paths = Vec::new();
    walk(&ring, &mut paths);
    let names: Vec<String> = paths
        .iter()
        .map(|p| p.strip_prefix(&ring).unwrap().display().to_string())
        .collect();
    for want in [
        "sessions",
        "worker-00/control",
        "worker-00/seg-002.pcap",
        "worker-00/seg-002.idx",
    ] {
        assert!(names.iter().any(|n| n == want), "no {want} in {names:?}");
    }
    for p in &paths {
        let m = std::fs::metadata(p).unwrap();
        assert_eq!(m.gid(), gid, "{}", p.display());
        let want = if m.is_dir() { 0o750 } else { 0o640 };
        assert_eq!(m.mode() & 0o7777, want, "{}: {:o}", p.display(), m.mode());
    }

    // A member of the group reads a segment; the same user without the group cannot.
    let seg = ring.join("worker-00/seg-000.pcap");
    let as_nobody = |groups: &[&str]| {
        let mut c = Command::new("runuser");
        c.args(["-u", "nobody"]);
        for g in groups {
            c.args(["-g", g]);
        }
        c.args(["--", "cat"]).arg(&seg).output().unwrap()
    };
    let member = as_nobody(&["adm"]);
    assert!(
        member.status.success(),
        "{}",
        String::from_utf8_lossy(&member.stderr)
    );
    assert_eq!(member.stdout, std::fs::read(&seg).unwrap());
    let outsider = as_nobody(&[]);
    assert!(!outsider.status.success(), "the ring is readable by anyone");
}
