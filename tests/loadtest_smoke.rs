//! scripts/loadtest.sh end to end: a quick local run (two namespaces, a veth pair, `mirrorcap
//! gen` over net_af_packet, the appliance and the kernel peers on the same frames) leaves a
//! results folder whose numbers agree with each other and with the appliance's own counters;
//! misuse exits 2 with one line; remote mode's dry run prints the SSH commands it would run.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/loadtest.sh")
}

fn loadtest(args: &[&str]) -> Output {
    Command::new(script())
        .args(args)
        .output()
        .expect("run scripts/loadtest.sh")
}

fn read_csv(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().expect("a header").split(',').collect();
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            assert_eq!(
                cells.len(),
                head.len(),
                "{}: ragged row {l}",
                path.display()
            );
            head.iter()
                .map(|h| h.to_string())
                .zip(cells.iter().map(|c| c.to_string()))
                .collect()
        })
        .collect()
}

fn int(row: &HashMap<String, String>, col: &str) -> i64 {
    row[col]
        .parse::<f64>()
        .unwrap_or_else(|_| panic!("{col} = {:?} is not a number", row[col])) as i64
}

/// Sum of every series of one metric in a /metrics text.
fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

#[test]
fn quick_local_run_leaves_a_consistent_results_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    let child = Command::new(script())
        // A 64-frame AF_PACKET ring makes loss at the generator's maximum all but certain, so
        // the search runs too (with the default ring an idle machine captures everything).
        .args(["--quick", "--duration", "1", "--framecnt", "64"])
        .args(["--bin", env!("CARGO_BIN_EXE_mirrorcap")])
        .arg("--out")
        .arg(&out)
        .spawn()
        .expect("run scripts/loadtest.sh");
    let pid = child.id();
    let res = child.wait_with_output().unwrap();
    assert!(res.status.success(), "loadtest.sh failed: {:?}", res.status);

    // The namespaces are gone.
    let ns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let ns = String::from_utf8_lossy(&ns.stdout);
    assert!(
        !ns.contains(&format!("mcl-app-{pid}")) && !ns.contains(&format!("mcl-gen-{pid}")),
        "{ns}"
    );

    let params = std::fs::read_to_string(out.join("params.txt")).unwrap();
    assert!(
        params.contains("sizes (inner frame bytes): 64") && params.contains("--lcores"),
        "{params}"
    );

    let trials = read_csv(&out.join("trials.csv"));
    // One trial at the generator's maximum, then (unless nothing was lost there) up to two
    // search steps, and a trial at the floor if none passed.
    assert_eq!(trials[0]["phase"], "max");
    let expected = if trials[0]["pass"] == "1" {
        1..=1
    } else {
        2..=4
    };
    assert!(expected.contains(&trials.len()), "{} trials", trials.len());
    for col in [
        "size",
        "offered_pps",
        "sent",
        "app_rx",
        "captured",
        "loss",
        "pass",
        "not_delivered",
        "veth_dropped",
        "socket_dropped",
        "drop_not_mirror",
        "drop_ring_full",
        "tcpdump_veth",
        "tcpdump_vxlan",
        "worker_cpu_share",
        "worker_wait_share",
        "loadavg_1m",
        "stamp_gaps",
        "stamp_late",
        "latency_mean_us",
    ] {
        assert!(trials[0].contains_key(col), "trials.csv lacks {col}");
    }
    let mut captured_total = 0;
    for t in &trials {
        let (sent, rx, captured) = (int(t, "sent"), int(t, "app_rx"), int(t, "captured"));
        assert_eq!(int(t, "size"), 64);
        assert!(sent > 0, "{t:?}");
        assert!(
            captured <= rx && rx <= sent,
            "captured <= received <= sent: {t:?}"
        );
        assert_eq!(int(t, "loss"), sent - captured, "{t:?}");
        assert_eq!(int(t, "not_delivered"), sent - rx, "{t:?}");
        // The appliance's own count from gen's stamps: every sequence gap is a frame that was
        // sent and never received (frames lost after a flow's last arrival leave no gap), and
        // a veth does not reorder.
        assert!(int(t, "stamp_gaps") <= sent - rx, "{t:?}");
        assert_eq!(int(t, "stamp_late"), 0, "{t:?}");
        let drops: i64 = t
            .keys()
            .filter(|k| k.starts_with("drop_"))
            .map(|k| int(t, k))
            .sum();
        assert_eq!(
            rx - captured,
            drops,
            "every received frame captured or dropped for a reason: {t:?}"
        );
        assert_eq!(
            t["pass"] == "1",
            captured == sent,
            "tolerance 0: pass means nothing lost: {t:?}"
        );
        for peer in ["tcpdump_veth", "tcpdump_vxlan"] {
            let n = int(t, peer);
            assert!(n > 0 && n <= sent, "{peer} captured {n} of {sent}");
        }
        // The worker's time on and waiting for its CPU, as shares of the trial: within the trial.
        let (cpu, wait): (f64, f64) = (
            t["worker_cpu_share"].parse().unwrap(),
            t["worker_wait_share"].parse().unwrap(),
        );
        assert!(cpu > 0.0 && wait >= 0.0 && cpu + wait < 1.2, "{t:?}");
        captured_total += captured;
    }

    // The appliance's final counters: everything it captured came from the trials.
    let last = std::fs::read_to_string(out.join("metrics-final.prom")).unwrap();
    assert_eq!(
        metric_sum(&last, "mirrorcap_captured_packets_total") as i64,
        captured_total
    );
    let per_trial = std::fs::read_dir(out.join("metrics")).unwrap().count();
    assert_eq!(per_trial, trials.len(), "one /metrics snapshot per trial");

    let summary = read_csv(&out.join("summary.csv"));
    let app = summary
        .iter()
        .find(|r| r["tool"] == "mirrorcap" && r["size"] == "64")
        .expect("a mirrorcap row for 64 bytes");
    let best = int(app, "zero_loss_pps");
    assert!(best <= int(app, "generator_max_pps"));
    let passing = trials
        .iter()
        .filter(|t| t["pass"] == "1")
        .map(|t| t["offered_pps"].parse::<f64>().unwrap())
        .fold(0.0, f64::max);
    assert_eq!(best, passing.round() as i64);
    assert!(summary.iter().any(|r| r["tool"] == "tcpdump_vxlan"));

    let png = std::fs::read(out.join("chart.png")).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "chart.png is not a PNG"
    );
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("| 64 |"), "{md}");
}

#[test]
fn misuse_exits_2_with_one_line() {
    for args in [
        &["--sizes", "20"][..],
        &["--duration", "0"],
        &["--tolerance", "1.5"],
        &["--peers", "wireshark"],
        &["--remote", "gen-host"],
        &["--remote", "gen-host", "app-host", "--dry-run"],
        &["--bogus"],
    ] {
        let r = loadtest(args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("loadtest: error: "), "{args:?}: {err}");
    }
}

#[test]
fn remote_dry_run_prints_the_ssh_commands() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never");
    let r = loadtest(&[
        "--remote",
        "ec2-user@gen",
        "ec2-user@app",
        "--gen-device",
        "0000:00:06.0",
        "--app-device",
        "0000:00:07.0",
        "--gen-ip",
        "10.0.1.10",
        "--app-ip",
        "10.0.1.20",
        "--gen-mac",
        "0a:00:00:00:00:01",
        "--dst-mac",
        "0a:00:00:00:00:fe",
        "--sizes",
        "64 1500",
        "--dry-run",
        "--out",
        out.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(
        r.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let ssh: Vec<&str> = text.lines().filter(|l| l.starts_with("+ ssh ")).collect();
    let app = ssh
        .iter()
        .find(|l| l.contains(" run "))
        .expect("the appliance's command");
    assert!(
        app.contains("ec2-user@app 'sudo /usr/bin/mirrorcap run --device 0000:00:07.0"),
        "{app}"
    );
    let gens: Vec<&&str> = ssh.iter().filter(|l| l.contains(" gen ")).collect();
    // Per size: the trial at the generator's maximum, then a search trial.
    assert_eq!(gens.len(), 4, "{text}");
    for g in &gens {
        assert!(
            g.contains("ec2-user@gen 'sudo /usr/bin/mirrorcap gen --device 0000:00:06.0"),
            "{g}"
        );
        assert!(
            g.contains("--outer-dst-ip 10.0.1.20")
                && g.contains("--outer-dst-mac 0a:00:00:00:00:fe"),
            "{g}"
        );
        assert!(g.contains("--report-json"), "{g}");
    }
    assert!(
        gens[0].contains("--inner-size 64 --rate max") && gens[3].contains("--inner-size 1500")
    );
    assert!(ssh
        .iter()
        .any(|l| l.contains("ec2-user@app 'sudo curl") && l.contains("/metrics")));
    assert!(!out.exists(), "a dry run writes no results");
}

#[test]
fn every_option_is_documented() {
    let r = loadtest(&["--help"]);
    assert!(r.status.success());
    let help = String::from_utf8_lossy(&r.stdout);
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/loadtest.md"))
            .unwrap();
    // Options are the words starting a help line or following " / " there.
    let mut n = 0;
    for line in help.lines() {
        let line = line.trim_start();
        for part in line.split(" / ") {
            let Some(opt) = part
                .split_whitespace()
                .next()
                .filter(|w| w.starts_with("--"))
            else {
                continue;
            };
            if !line.starts_with(part) && !part.starts_with("--") {
                continue;
            }
            assert!(
                doc.contains(&format!("`{opt}")),
                "docs/loadtest.md does not explain {opt}"
            );
            n += 1;
        }
    }
    assert!(n >= 25, "{n} options in --help");
}
