//! The metrics listener under abuse, on a real appliance: a slowloris client is cut off by the
//! header timeout while a normal scrape in parallel succeeds; an oversized request head, a
//! request body, other methods and paths are refused with their codes; connections over the
//! cap are closed and counted, and scrapes succeed again once the idle ones time out; a
//! keep-alive client is shut down at the connection lifetime; a client holding 300 slow
//! connections from ten addresses cannot keep scrapes from other addresses out. The process
//! stays up and its listener counters are exact. The listener's thread shares the control
//! thread's CPU.
mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

/// An appliance replaying a small capture once (then idle, still healthy).
fn appliance(dir: &std::path::Path, extra: &[&str]) -> Appliance {
    let input = gen_fixture(dir, "in.pcap", &["--count", "200"]);
    let app = Appliance::on_pcap(&input, &dir.join("ring"), false, 2, extra);
    let m = app.scrape_until(Duration::from_secs(30), |m| {
        metric(m, "mirrorcap_captured_packets_total", &[]) == Some(200.0)
    });
    assert_eq!(
        metric(&m, "mirrorcap_captured_packets_total", &[]),
        Some(200.0)
    );
    app
}

/// Sends `request` as it is and reads the answer until the server closes ("" when it closed
/// or reset without one).
fn raw(addr: &str, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn status(resp: &str) -> u16 {
    resp.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Whether the server has closed `s` (EOF or reset) without waiting for anything.
fn closed_by_server(s: &TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut b = [0u8; 1];
    let closed = match s.peek(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) if e.kind() == ErrorKind::WouldBlock => false,
        Err(_) => true,
    };
    s.set_nonblocking(false).unwrap();
    closed
}

/// Blocks until the server closes `s`; false if it sent bytes instead or `limit` passed.
fn wait_closed(s: &TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut b = [0u8; 64];
    match (&*s).read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

fn rejected(m: &str, reason: &str) -> f64 {
    metric(
        m,
        "mirrorcap_http_connections_rejected_total",
        &[("reason", reason)],
    )
    .unwrap_or_else(|| panic!("no rejected{{reason={reason}}} in\n{m}"))
}

fn answered(m: &str, code: &str) -> f64 {
    metric(m, "mirrorcap_http_requests_total", &[("code", code)])
        .unwrap_or_else(|| panic!("no requests{{code={code}}} in\n{m}"))
}

#[test]
fn slow_oversized_and_wrong_requests_are_refused_and_counted_while_scrapes_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let app = appliance(dir.path(), &[]);
    let addr = app.metrics.clone();
    // Scrapes so far: appliance() polled until the capture was complete.
    let (_, m) = app.get("/metrics");
    let base_ok = answered(&m, "200") + 1.0;

    // Slowloris: one header byte a second, never finishing the head. The server must close
    // the connection before the client has sent its 40 bytes.
    let slow = {
        let addr = addr.clone();
        std::thread::spawn(move || {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            for i in 0..40 {
                if closed_by_server(&s) || s.write_all(b"a").is_err() {
                    return Some(i);
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            None
        })
    };
    // Meanwhile normal scrapes and health checks are served.
    std::thread::sleep(Duration::from_secs(1));
    let mut ok = 0.0;
    for _ in 0..3 {
        let (code, body) = app.get("/metrics");
        assert_eq!(code, 200);
        assert!(body.contains("mirrorcap_rx_packets_total"), "{body}");
        let (code, body) = app.get("/healthz");
        assert_eq!((code, body.as_str()), (200, "ok\n"));
        ok += 2.0;
        std::thread::sleep(Duration::from_millis(300));
    }
    let cut_after = slow.join().unwrap();
    assert!(
        cut_after.is_some(),
        "the slowloris client sent 40 header bytes and was never cut off"
    );
    // By the 2 s header timeout, give or take a second of the client's pace.
    assert!(cut_after <= Some(4), "cut off after {cut_after:?} s");

    // A 64 KiB header: 431 or a plain close, and the process lives on.
    let big = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let r = raw(&addr, big.as_bytes());
    assert!(
        r.is_empty() || status(&r) == 431,
        "oversized head answered: {r}"
    );

    // A POST with a body: 405. A GET announcing a 1 GB body it never sends: 413 at once,
    // so the body was not waited for.
    let r = raw(
        &addr,
        b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    );
    assert_eq!(status(&r), 405, "{r}");
    assert!(r.to_ascii_lowercase().contains("allow: get, head"), "{r}");
    let r = raw(
        &addr,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n",
    );
    assert_eq!(status(&r), 413, "{r}");
    let r = raw(
        &addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    );
    assert_eq!(status(&r), 413, "{r}");
    let r = raw(
        &addr,
        b"DELETE /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status(&r), 405, "{r}");
    let (code, _) = app.get("/nope");
    assert_eq!(code, 404);
    // HEAD: the headers of a scrape, no body.
    let r = raw(
        &addr,
        b"HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status(&r), 200, "{r}");
    assert!(
        r.contains("text/plain; version=0.0.4") && r.ends_with("\r\n\r\n"),
        "{r}"
    );
    ok += 1.0;

    // Still up, healthy, and every refusal counted once under its reason or code.
    let (code, body) = app.get("/healthz");
    assert_eq!((code, body.as_str()), (200, "ok\n"));
    ok += 1.0;
    let (code, m) = app.get("/metrics");
    assert_eq!(code, 200);
    assert_eq!(rejected(&m, "timeout"), 1.0);
    assert_eq!(rejected(&m, "oversize"), 1.0);
    assert_eq!(rejected(&m, "cap"), 0.0);
    assert_eq!(rejected(&m, "lifetime"), 0.0);
    assert_eq!(answered(&m, "200"), base_ok + ok);
    assert_eq!(answered(&m, "404"), 1.0);
    assert_eq!(answered(&m, "405"), 2.0);
    assert_eq!(answered(&m, "413"), 2.0);
    assert_eq!(answered(&m, "503"), 0.0);
    assert_eq!(
        metric(&m, "mirrorcap_http_connections_open", &[]),
        Some(1.0)
    );
    assert!(!app.stderr().contains("panicked"), "{}", app.stderr());

    // The listener's thread runs where the control thread does, not on a worker's CPU.
    let pid = app.pid();
    let mut threads = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let t = t.unwrap().path();
        let comm = std::fs::read_to_string(t.join("comm")).unwrap();
        let cpus = std::fs::read_to_string(t.join("status"))
            .unwrap()
            .lines()
            .find_map(|l| {
                l.strip_prefix("Cpus_allowed_list:")
                    .map(|v| v.trim().to_string())
            })
            .unwrap();
        let tid: u32 = t.file_name().unwrap().to_str().unwrap().parse().unwrap();
        threads.push((tid, comm.trim().to_string(), cpus));
    }
    let main = &threads.iter().find(|t| t.0 == pid).unwrap().2;
    let listener: Vec<_> = threads.iter().filter(|t| t.1 == "mc-metrics").collect();
    assert_eq!(listener.len(), 1, "{threads:?}");
    assert_eq!(&listener[0].2, main, "{threads:?}");
    // So do the rings' helper threads, started before the EAL placed the control thread.
    let helpers: Vec<_> = threads
        .iter()
        .filter(|t| t.1.starts_with("mc-ring-"))
        .collect();
    assert!(!helpers.is_empty(), "{threads:?}");
    for h in helpers {
        assert_eq!(&h.2, main, "{threads:?}");
    }
    let online = std::thread::available_parallelism().map_or(1, |n| n.get());
    if online > 1 {
        let worker = threads
            .iter()
            .find(|t| t.1.contains("worker"))
            .unwrap_or_else(|| panic!("no worker lcore thread in {threads:?}"));
        assert_ne!(&worker.2, main, "{threads:?}");
    }
}

#[test]
fn connections_over_the_cap_are_closed_and_counted_and_scrapes_resume() {
    let dir = tempfile::tempdir().unwrap();
    let app = appliance(dir.path(), &["--metrics-max-connections", "4"]);
    let addr = app.metrics.clone();
    // Four idle connections fill the listener: two silent, two stuck in a request head.
    let idle: Vec<TcpStream> = (0..4)
        .map(|i| {
            let mut s = TcpStream::connect(&addr).unwrap();
            if i % 2 == 1 {
                s.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
            }
            s
        })
        .collect();
    // Each further connection is closed at once, without an answer.
    let extra: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    for s in &extra {
        assert!(wait_closed(s, Duration::from_secs(20)));
    }
    // ... while the first four are still open.
    assert!(
        idle.iter().all(|s| !closed_by_server(s)),
        "an idle connection was closed before the extra ones"
    );
    let (code, _) = app.get("/metrics");
    assert_eq!(code, 0, "a scrape got through a full listener");
    let mut refused = 4.0;
    // Once the idle ones time out, scrapes get through again.
    for s in &idle {
        assert!(wait_closed(s, Duration::from_secs(20)));
    }
    let m = loop {
        let (code, m) = app.get("/metrics");
        if code == 200 {
            break m;
        }
        assert_eq!(code, 0);
        refused += 1.0;
        assert!(refused < 100.0, "scrapes never resumed");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(rejected(&m, "cap"), refused);
    assert_eq!(rejected(&m, "timeout"), 4.0);
    assert_eq!(rejected(&m, "oversize"), 0.0);
    assert_eq!(
        metric(&m, "mirrorcap_http_connections_open", &[]),
        Some(1.0)
    );
    let (code, body) = app.get("/healthz");
    assert_eq!((code, body.as_str()), (200, "ok\n"));
}

#[test]
fn a_keep_alive_client_is_shut_down_at_the_connection_lifetime() {
    let dir = tempfile::tempdir().unwrap();
    let app = appliance(dir.path(), &[]);
    let (_, m) = app.get("/metrics");
    let base_ok = answered(&m, "200") + 1.0;
    let mut s = TcpStream::connect(&app.metrics).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // Health checks on one connection, each well within the header timeout (2 s, also the
    // keep-alive idle limit), until the server ends the connection (it must, within a few
    // lifetimes).
    let mut answers = 0;
    let mut buf = [0u8; 4096];
    for _ in 0..40 {
        if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .is_err()
        {
            break;
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let r = String::from_utf8_lossy(&buf[..n]);
                assert_eq!(status(&r), 200, "{r}");
                answers += 1;
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(answers > 1, "keep-alive did not hold: {answers} answer(s)");
    assert!(answers < 40, "the connection outlived its lifetime");
    let (code, m) = app.get("/metrics");
    assert_eq!(code, 200);
    assert_eq!(rejected(&m, "lifetime"), 1.0);
    assert_eq!(rejected(&m, "timeout"), 0.0);
    assert_eq!(answered(&m, "200"), base_ok + f64::from(answers));
}

/// A connection to `to` from the loopback address `from` (bound before connecting, so one
/// machine plays many clients: all of 127.0.0.0/8 is local on Linux), non-blocking; `None`
/// when the connection is not established within a second.
fn connect_from(rt: &tokio::runtime::Runtime, from: [u8; 4], to: SocketAddr) -> Option<TcpStream> {
    let sock = tokio::net::TcpSocket::new_v4().ok()?;
    sock.bind(SocketAddr::from((from, 0))).ok()?;
    let s = rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(1), sock.connect(to)).await })
        .ok()?
        .ok()?;
    s.into_std().ok()
}

/// `GET path` over `s` (HTTP/1.0: the server closes after the answer): (status, body).
fn get_over(mut s: TcpStream, path: &str) -> (u16, String) {
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n");
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let resp = String::from_utf8_lossy(&resp).into_owned();
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status(&resp), body)
}

/// The hostile client: keeps up to 300 connections open, 30 from each of 127.0.0.2 to
/// 127.0.0.11 (one address after the other), each stuck in the middle of a request head;
/// every 200 ms it replaces those the server closed. Returns how many connections it opened
/// in all.
fn hold_slow_connections(addr: SocketAddr, stop: Arc<AtomicBool>, filled: Arc<AtomicBool>) -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut conns: Vec<Option<TcpStream>> = (0..300).map(|_| None).collect();
    let mut opened = 0;
    while !stop.load(Ordering::Relaxed) {
        for (i, c) in conns.iter_mut().enumerate() {
            if c.as_ref().is_some_and(closed_by_server) {
                *c = None;
            }
            if c.is_none() {
                let from = [127, 0, 0, 2 + (i / 30) as u8];
                if let Some(mut s) = connect_from(&rt, from, addr) {
                    s.set_nonblocking(false).unwrap();
                    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ");
                    *c = Some(s);
                    opened += 1;
                }
            }
        }
        filled.store(true, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(200));
    }
    opened
}

#[test]
fn scrapes_from_other_addresses_go_on_while_one_client_holds_300_slow_connections() {
    let dir = tempfile::tempdir().unwrap();
    let app = appliance(dir.path(), &[]);
    let addr: SocketAddr = app.metrics.parse().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let filled = Arc::new(AtomicBool::new(false));
    let attacker = {
        let (stop, filled) = (Arc::clone(&stop), Arc::clone(&filled));
        std::thread::spawn(move || hold_slow_connections(addr, stop, filled))
    };
    let t0 = Instant::now();
    while !filled.load(Ordering::Relaxed) {
        assert!(
            t0.elapsed() < Duration::from_secs(30) && !attacker.is_finished(),
            "the attacker never got going"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // For 12 s (several header timeouts), scrapes and health checks from two other
    // addresses, the appliance's usual 127.0.0.1 and a newcomer 127.0.0.50, each answered 200
    // within two seconds of connecting.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut slowest = Duration::ZERO;
    let mut most_open: f64 = 0.0;
    let mut checks = 0;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(12) {
        for (from, path) in [([127, 0, 0, 1], "/metrics"), ([127, 0, 0, 50], "/healthz")] {
            let start = Instant::now();
            let (code, body) = match connect_from(&rt, from, addr) {
                Some(s) => get_over(s, path),
                None => (0, String::new()),
            };
            let took = start.elapsed();
            assert_eq!(
                code,
                200,
                "{path} from {from:?} after {:?} of the attack: {code} {body:?}",
                t0.elapsed()
            );
            assert!(took < Duration::from_secs(2), "{path} took {took:?}");
            slowest = slowest.max(took);
            if path == "/metrics" {
                let open = metric(&body, "mirrorcap_http_connections_open", &[]).unwrap();
                most_open = most_open.max(open);
            }
            checks += 1;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    let opened = attacker.join().unwrap();
    // The attack really filled the listener (32 connections by default)...
    assert!(most_open >= 30.0, "at most {most_open} connections open");
    assert!(opened > 300, "{opened}");

    // ... and what it was refused is counted: connections over a source's share at once,
    // and the oldest waiting ones of the biggest holder closed to let others in; its
    // unfinished request heads time out.
    let (code, m) = app.get("/metrics");
    assert_eq!(code, 200);
    let refused: Vec<_> = ["per_source", "evicted", "cap", "timeout"]
        .iter()
        .map(|r| (r, rejected(&m, r)))
        .collect();
    eprintln!(
        "{checks} checks answered, slowest {slowest:?}; the attacker opened {opened} \
         connections, at most {most_open} open at a scrape; refused: {refused:?}"
    );
    assert!(rejected(&m, "per_source") > 0.0, "{m}");
    assert!(rejected(&m, "evicted") > 0.0, "{m}");
    assert!(rejected(&m, "timeout") > 0.0, "{m}");
    assert_eq!(answered(&m, "503"), 0.0);
    let (code, body) = app.get("/healthz");
    assert_eq!((code, body.as_str()), (200, "ok\n"));
    assert!(!app.stderr().contains("panicked"), "{}", app.stderr());
}
