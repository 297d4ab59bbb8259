//! systemd's watchdog and readiness (`NOTIFY_SOCKET`, the `sd_notify` datagrams
//! mirrorcap.service's `Type=notify` and `WatchdogSec=` rely on), and `/healthz` on a wedged
//! worker: `READY=1` once the workers poll, `WATCHDOG=1` about once a second while every worker
//! polls, none once one is wedged (`MIRRORCAP_FAULT=worker-stall:0`), whose `/healthz` turns
//! 503 within two seconds, and `STOPPING=1` at stop.
mod support;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};
use support::*;

/// The datagrams received on `sock` within `wait`.
fn received(sock: &UnixDatagram, wait: Duration) -> Vec<String> {
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    while Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    out
}

fn appliance(dir: &std::path::Path, notify: &std::path::Path, fault: Option<&str>) -> Appliance {
    let input = gen_fixture(dir, "in.pcap", &["--count", "500"]);
    let mut b = Appliance::builder()
        .pcap_vdev(&[&input], true)
        .ring_dir(&dir.join("ring"))
        .segment_size("1MiB")
        .segments(4)
        .env("NOTIFY_SOCKET", notify.to_str().unwrap());
    if let Some(f) = fault {
        b = b.env("MIRRORCAP_FAULT", f);
    }
    b.start()
}

#[test]
fn a_polling_appliance_is_ready_and_feeds_the_watchdog_every_second() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    let sock = UnixDatagram::bind(&path).unwrap();
    let app = appliance(dir.path(), &path, None);
    let got = received(&sock, Duration::from_secs(4));
    assert_eq!(got.first().map(String::as_str), Some("READY=1"), "{got:?}");
    let pings = got.iter().filter(|s| *s == "WATCHDOG=1").count();
    assert!(
        (3..=6).contains(&pings),
        "{pings} watchdog pings in 4 s: {got:?}"
    );
    assert_eq!(app.get("/healthz").0, 200);
    app.signal("TERM");
    let stopping = received(&sock, Duration::from_secs(2));
    let (st, err) = app.wait(Duration::from_secs(30));
    assert!(st.success(), "{err}");
    assert!(stopping.iter().any(|s| s == "STOPPING=1"), "{stopping:?}");
}

#[test]
fn a_wedged_worker_stops_the_watchdog_and_fails_healthz_within_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    let sock = UnixDatagram::bind(&path).unwrap();
    let app = appliance(dir.path(), &path, Some("worker-stall:0"));
    // The worker wedges after its first 64 bursts, right after start.
    let t0 = Instant::now();
    let (code, body) = app.healthz_within(503, Duration::from_secs(10));
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("worker 0 stalled"), "{body}");
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    // Whatever was sent before the stall was seen, nothing feeds the watchdog after it.
    let _ = received(&sock, Duration::from_millis(300));
    let after = received(&sock, Duration::from_secs(3));
    assert!(!after.iter().any(|s| s == "WATCHDOG=1"), "{after:?}");
    app.signal("TERM");
    let (st, err) = app.wait(Duration::from_secs(30));
    assert!(st.success(), "{err}");
}
