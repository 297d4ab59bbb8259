//! Reading what the appliance says about itself: its HTTP endpoints, the Prometheus text of
//! /metrics, and the stop line it prints on stderr.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A minimal HTTP/1.0 GET for the tests (the server under test is hyper).
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = match TcpStream::connect(addr) {
        Ok(s) => s,
        Err(_) => return (0, String::new()),
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let code = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// The value of the sample `name{labels}` in Prometheus text, labels given as `k="v"` pairs
/// that must all be present. Sums over the samples that match.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut found = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = match line.rsplit_once(' ') {
            Some(x) => x,
            None => continue,
        };
        let (n, l) = match series.split_once('{') {
            Some((n, l)) => (n, l.trim_end_matches('}')),
            None => (series, ""),
        };
        if n != name
            || !labels
                .iter()
                .all(|(k, v)| l.split(',').any(|p| p == format!("{k}=\"{v}\"")))
        {
            continue;
        }
        let v: f64 = value.parse().ok()?;
        found = Some(found.unwrap_or(0.0) + v);
    }
    found
}

/// The families of a Prometheus text scrape, from its `# TYPE` lines: (name, type).
pub fn scrape_families(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.to_string()))
        })
        .collect()
}

/// The numbers of run's stop line: (received, captured, sum of every drop reason).
pub fn stop_line(stderr: &str) -> (u64, u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("mirrorcap: stopped: received"))
        .unwrap_or_else(|| panic!("no stop line in:\n{stderr}"));
    let num = |after: &str| number_after(line, after);
    let dropped = line
        .split("dropped:")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    let drops = dropped
        .split_whitespace()
        .filter_map(|kv| kv.split_once('=').map(|(_, v)| v.parse::<u64>().unwrap()))
        .sum();
    (num("received "), num("captured "), drops)
}

/// The number written right after `after` in `line`.
pub fn number_after(line: &str, after: &str) -> u64 {
    let i = line
        .find(after)
        .unwrap_or_else(|| panic!("{after:?} not in {line:?}"))
        + after.len();
    line[i..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {after:?} in {line:?}"))
}
