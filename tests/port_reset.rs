//! A device reset as ENA's watchdog asks for one (`RTE_ETH_EVENT_INTR_RESET`), raised by the
//! `MIRRORCAP_FAULT=port-reset:S` hook, on a real port: `net_af_packet` on a veth pair between
//! two network namespaces made for the test, mirror traffic replayed by tcpreplay from the
//! other side. The workers park at a burst boundary, the port is stopped and set up again as at
//! start (af_packet has no driver reset), capture resumes; one log line, one count in
//! `mirrorcap_port_resets_total`; received = captured + dropped across the reset; the ring keeps
//! what it held before.
mod support;

use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

/// Two namespaces joined by a veth pair: `a` (the appliance's side, `<name>a0`) and `b` (the
/// sender's, `<name>b0`); deleted on drop.
struct Netns {
    a: String,
    b: String,
    if_a: String,
    if_b: String,
}

impl Netns {
    fn new(tag: &str) -> Option<Netns> {
        let id = std::process::id() % 100_000;
        let n = Netns {
            a: format!("mc{tag}{id}a"),
            b: format!("mc{tag}{id}b"),
            if_a: format!("mc{id}a0"),
            if_b: format!("mc{id}b0"),
        };
        let ip = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .status()
                .is_ok_and(|s| s.success())
        };
        let ok = ip(&["netns", "add", &n.a])
            && ip(&["netns", "add", &n.b])
            && ip(&[
                "link", "add", &n.if_a, "type", "veth", "peer", "name", &n.if_b,
            ])
            && ip(&["link", "set", &n.if_a, "netns", &n.a])
            && ip(&["link", "set", &n.if_b, "netns", &n.b])
            && ip(&["-n", &n.a, "link", "set", &n.if_a, "up"])
            && ip(&["-n", &n.a, "link", "set", "lo", "up"])
            && ip(&["-n", &n.b, "link", "set", &n.if_b, "up"]);
        if !ok {
            skip_or_fail(
                "cannot make network namespaces and a veth pair (needs root and iproute2)",
            );
            return None;
        }
        Some(n)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

#[test]
fn a_device_reset_parks_the_workers_sets_the_port_up_again_and_keeps_every_count() {
    let Some(tcpreplay) = require_tool("tcpreplay") else {
        return;
    };
    let Some(ns) = Netns::new("rs") else { return };
    let dir = tempfile::tempdir().unwrap();
    const SENT: usize = 8000;
    let input = gen_fixture(dir.path(), "in.pcap", &["--count", &SENT.to_string()]);
    let ring = dir.path().join("ring");
    let app = Appliance::builder()
        .wrap(&["ip", "netns", "exec", &ns.a])
        .vdev(format!("net_af_packet0,iface={}", ns.if_a))
        .ring_dir(&ring)
        .segment_size("1MiB")
        .segments(12)
        .env("MIRRORCAP_FAULT", "port-reset:3")
        .start();
    // 8000 frames at 2000 a second: the reset falls in the middle of the stream.
    let sender = Command::new("ip")
        .args(["netns", "exec", &ns.b])
        .arg(&tcpreplay)
        .args(["-q", "--pps", "2000", "-i", &ns.if_b])
        .arg(&input)
        .output();
    let sender = sender.expect("tcpreplay");
    assert!(
        sender.status.success(),
        "tcpreplay: {}",
        String::from_utf8_lossy(&sender.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !app.stderr().contains("asked for a device reset") {
        assert!(
            Instant::now() < deadline,
            "no reset line:\n{}",
            app.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The counter, scraped from inside the appliance's namespace.
    let url = format!("http://{}/metrics", app.metrics);
    let scrape = Command::new("ip")
        .args(["netns", "exec", &ns.a, "curl", "-s", &url])
        .output()
        .unwrap();
    let m = String::from_utf8_lossy(&scrape.stdout);
    assert_eq!(
        metric(&m, "mirrorcap_port_resets_total", &[]),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        metric(&m, "mirrorcap_port_link_changes_total", &[]),
        Some(0.0),
        "{m}"
    );
    std::thread::sleep(Duration::from_millis(500));
    app.signal("TERM");
    let (st, err) = app.wait(Duration::from_secs(30));
    assert!(st.success(), "exit {st:?}:\n{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("device reset")).collect();
    assert_eq!(lines.len(), 1, "one line per reset:\n{err}");
    assert!(
        lines[0].contains("stopped (the driver has no reset) and set up again"),
        "{}",
        lines[0]
    );
    let (received, captured, dropped) = stop_line(&err);
    assert_eq!(
        received,
        captured + dropped,
        "every received packet counted:\n{err}"
    );
    // Traffic before the reset (3 s at 2000/s) and after it (the rest) was captured.
    assert!(captured > 7000, "captured {captured} of {SENT}:\n{err}");
    assert!(received as usize <= SENT + 16, "{err}");
    // The ring was kept across the reset: it holds every captured frame.
    let (recs, _) = export_records(&ring);
    assert_eq!(
        recs.len() as u64,
        captured,
        "the ring holds what was captured before and after"
    );
}
