//! The reference tools (capinfos, tshark, tcpdump) run on what mirrorcap wrote: one runner,
//! one check that a pcap reads cleanly in each, and the tshark/tcpdump views tests compare
//! against.
use std::path::Path;
use std::process::Command;

/// Runs an external tool in the C locale (so numbers print without separators); returns
/// (success, stdout, stderr).
pub fn tool(cmd: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(cmd)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e} (scripts/setup.sh installs it)"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a command that must succeed (mount, mkfs, losetup...).
pub fn sh(cmd: &str, args: &[&str]) {
    let (ok, out, err) = tool(cmd, args);
    assert!(ok, "{cmd} {args:?}: {out}{err}");
}

/// A path as the `&str` command lines take.
pub fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// The stderr lines that are warnings: what is left once the tools' usual chatter (tcpdump
/// naming its file, tshark noting it runs as root) is removed.
fn warnings(err: &str) -> Vec<&str> {
    err.lines()
        .filter(|l| {
            !l.trim().is_empty()
                && !l.starts_with("reading from file")
                && !l.contains("Running as user \"root\"")
        })
        .collect()
}

/// What each tool made of a capture it read without error or warning.
pub struct ToolView {
    /// `capinfos -M` output (exact numbers).
    pub capinfos: String,
    /// Packets per capinfos, tshark and tcpdump.
    pub counts: [usize; 3],
}

/// Runs capinfos, tshark and tcpdump on `path`; asserts each exits 0 with no warning.
pub fn read_by_tools(path: &Path) -> ToolView {
    let p = path.to_str().expect("utf-8 path");
    let (ok, capinfos, err) = tool("capinfos", &["-M", p]);
    assert!(ok && warnings(&err).is_empty(), "capinfos {p}: {err}");
    let from_capinfos = capinfos
        .lines()
        .find_map(|l| l.strip_prefix("Number of packets:"))
        .map(|v| v.trim().parse::<usize>().expect("packet count"))
        .unwrap_or_else(|| panic!("capinfos {p}: no packet count in\n{capinfos}"));
    let mut counts = [from_capinfos, 0, 0];
    for (i, (cmd, args)) in [
        ("tshark", ["-n", "-r", p].as_slice()),
        ("tcpdump", ["-q", "-nn", "-r", p].as_slice()),
    ]
    .into_iter()
    .enumerate()
    {
        let (ok, out, err) = tool(cmd, args);
        let w = warnings(&err);
        assert!(ok && w.is_empty(), "{cmd} -r {p}: ok={ok} stderr={w:?}");
        counts[i + 1] = out.lines().count();
    }
    ToolView { capinfos, counts }
}

/// Asserts tcpdump, tshark and capinfos all read `path` with no error or warning.
pub fn assert_readable_by_tools(path: &Path) {
    read_by_tools(path);
}

/// capinfos, tshark and tcpdump read `path` with exit 0, no warning, and `packets` packets; it
/// is mirrorcap's format (nanosecond pcap, Ethernet, snaplen 262144).
pub fn assert_tools_accept(path: &Path, packets: usize) {
    let v = read_by_tools(path);
    assert_eq!(
        v.counts,
        [packets; 3],
        "{}: packets per capinfos, tshark, tcpdump",
        path.display()
    );
    for want in ["nsecpcap", "Ethernet", "nanoseconds", "262144"] {
        assert!(
            v.capinfos.contains(want),
            "capinfos {}: no {want:?} in\n{}",
            path.display(),
            v.capinfos
        );
    }
}

/// tshark's fields of each frame of `pcap` (only those matching the display `filter` when
/// given), occurrences of repeated fields joined by ','.
pub fn tshark_fields(pcap: &Path, filter: Option<&str>, fields: &[&str]) -> Vec<Vec<String>> {
    let mut args = vec![
        "-n",
        "-r",
        pcap.to_str().unwrap(),
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "separator=|",
    ];
    if let Some(f) = filter {
        args.extend(["-Y", f]);
    }
    for f in fields {
        args.extend(["-e", f]);
    }
    let (ok, out, err) = tool("tshark", &args);
    assert!(ok, "tshark {args:?}: {err}");
    out.lines()
        .map(|l| l.split('|').map(str::to_string).collect())
        .collect()
}

/// The frames of `capture` that `tcpdump -r capture -w out EXPR` keeps (out goes in `dir`).
pub fn tcpdump_selects(capture: &Path, expr: &str, dir: &Path) -> Vec<Vec<u8>> {
    let out = dir.join("tcpdump-selected.pcap");
    let (ok, _, err) = tool(
        "tcpdump",
        &[
            "-r",
            capture.to_str().unwrap(),
            "-w",
            out.to_str().unwrap(),
            expr,
        ],
    );
    assert!(ok, "tcpdump {expr}: {err}");
    super::ring::read_pcap(&out)
}
