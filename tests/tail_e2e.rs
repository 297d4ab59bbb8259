//! `mirrorcap tail`: the real binary follows a ring while it is written and streams a pcap to
//! its stdout, read back with the `pcap-file` crate. Against the appliance replaying a
//! generated capture forever (records intact, in sequence except where tail said it skipped,
//! timestamps in order, rotations followed); against rings written in this process (two
//! workers merged, a worker resumed, a worker appearing late); and the exits: a reader that
//! goes away, a directory that is not a ring.
//!
//! MIRRORCAP_TAIL_SECS sets how long the appliance test streams (default 30, the soak the
//! ring's acceptance asks for; set it lower for a quick run).
mod support;
use mirrorcap_ring::{Geometry, RecordMeta, RingWriter};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::*;

/// One record of tail's output: timestamp (ns), bytes, original length.
type Rec = (u128, Vec<u8>, u32);

/// A running `mirrorcap tail`: its stdout read by a thread into records, its stderr kept.
struct Tail {
    child: Child,
    records: std::thread::JoinHandle<Vec<Rec>>,
    stderr: Arc<Mutex<String>>,
}

impl Tail {
    fn start(args: &[&str]) -> Tail {
        let mut child = Command::new(bin())
            .arg("tail")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mirrorcap tail");
        let stdout = child.stdout.take().unwrap();
        let records = std::thread::spawn(move || {
            let mut r = pcap_file::pcap::PcapReader::new(stdout).expect("pcap header from tail");
            let mut out = Vec::new();
            while let Some(p) = r.next_packet() {
                let p = p.expect("a whole pcap record");
                out.push((p.timestamp.as_nanos(), p.data.into_owned(), p.orig_len));
            }
            out
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let buf = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut b = buf.lock().unwrap();
                b.push_str(&line);
                b.push('\n');
            }
        });
        Tail {
            child,
            records,
            stderr,
        }
    }

    /// SIGTERM, then the records streamed and stderr once it exited (which must be cleanly).
    fn stop(mut self) -> (Vec<Rec>, String) {
        let st = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("tail did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let records = self.records.join().expect("reader thread");
        std::thread::sleep(Duration::from_millis(100));
        let err = self.stderr.lock().unwrap().clone();
        assert!(
            status.success(),
            "tail exited with {status}; stderr:\n{err}"
        );
        (records, err)
    }
}

/// The numbers of tail's summary line: (packets, segments followed, segments skipped).
fn summary(stderr: &str) -> (u64, u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("mirrorcap: tail streamed"))
        .unwrap_or_else(|| panic!("no summary line in:\n{stderr}"));
    let num = |after: &str| number_after(line, after);
    let packets = num("streamed ");
    let segs: Vec<u64> = line
        .split(", ")
        .skip(1)
        .map(|p| p.split(' ').next().unwrap().parse().unwrap())
        .collect();
    (packets, segs[0], segs[1])
}

fn secs() -> u64 {
    std::env::var("MIRRORCAP_TAIL_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30)
}

#[test]
fn tail_follows_the_live_appliance() {
    let dir = tempfile::tempdir().unwrap();
    let input = gen_fixture(
        dir.path(),
        "in.pcap",
        &["--count", "2000", "--inner-size", "60-1500"],
    );
    let ring = dir.path().join("ring");
    let app = Appliance::looping(&input, &ring, 16, &[]);
    let tail = Tail::start(&[ring.to_str().unwrap()]);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(secs()));
    let (records, err) = tail.stop();
    let elapsed = started.elapsed();
    app.signal("INT");
    let (st, app_err) = app.wait(Duration::from_secs(30));
    assert!(st.success(), "run failed: {app_err}");

    let (packets, followed, skipped) = summary(&err);
    let warnings = err
        .lines()
        .filter(|l| l.starts_with("mirrorcap: warning: tail fell behind worker-00"))
        .count();
    let others: Vec<&str> = err
        .lines()
        .filter(|l| {
            !l.starts_with("mirrorcap: warning: tail fell behind")
                && !l.starts_with("mirrorcap: tail streamed")
        })
        .collect();
    assert!(others.is_empty(), "unexpected stderr lines: {others:?}");
    assert_eq!(packets, records.len() as u64, "summary and stream disagree");

    let mut gaps = 0;
    let mut prev: Option<(u128, u64)> = None;
    for (i, (ts, data, orig)) in records.iter().enumerate() {
        assert!(data.len() >= 54, "record {i}: {} bytes", data.len());
        let ip_len = u16::from_be_bytes([data[16], data[17]]) as usize;
        assert_eq!(
            ip_len + 14,
            data.len(),
            "record {i}: torn (IPv4 length {ip_len})"
        );
        assert_eq!(&data[50..54], b"MCAP", "record {i}: no tag");
        assert_eq!(*orig as usize, data.len(), "record {i}: original length");
        let seq = u64::from_be_bytes(data[42..50].try_into().unwrap());
        assert!(seq < 2000, "record {i}: sequence {seq}");
        if let Some((pts, pseq)) = prev {
            assert!(*ts >= pts, "record {i}: timestamp goes back");
            if seq != (pseq + 1) % 2000 {
                gaps += 1;
            }
        }
        prev = Some((*ts, seq));
    }
    let rate = records.len() as f64 / elapsed.as_secs_f64();
    eprintln!(
        "tail: {} records in {:.1}s ({rate:.0}/s), {followed} segments followed, {skipped} skipped in {warnings} warnings, {gaps} sequence gaps",
        records.len(),
        elapsed.as_secs_f64()
    );
    assert!(
        gaps <= warnings,
        "{gaps} sequence gaps but tail reported falling behind only {warnings} times"
    );
    assert!(
        records.len() >= 5000,
        "only {} records streamed",
        records.len()
    );
    // At full replay speed (release build) the writer laps a small ring in about a millisecond,
    // faster than any reader of files: tail may cross rotations by following them or by
    // skipping overwritten segments, but it must cross them. Exact following of rotation,
    // resume and late workers is checked in-process by the test below.
    assert!(
        followed + skipped >= 2,
        "only {followed} segments followed and {skipped} skipped"
    );
    assert!(
        gaps * 100 < records.len(),
        "the stream is mostly gaps: {gaps} in {}",
        records.len()
    );
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// An Ethernet/IPv4/UDP frame of `size` bytes carrying (worker, seq) at byte 42.
fn frame(worker: u8, seq: u64, size: usize) -> Vec<u8> {
    let mut f = vec![0u8; size];
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    f[14] = 0x45;
    f[16..18].copy_from_slice(&((size - 14) as u16).to_be_bytes());
    f[42..50].copy_from_slice(&seq.to_be_bytes());
    f[50] = worker;
    f
}

const GEOMETRY: Geometry = Geometry {
    segments: 4,
    segment_size: 1 << 20,
};

/// The session the records written here belong to: VNI 10, 11 or 12 by sequence number.
fn vni_of(seq: u64) -> u32 {
    10 + (seq % 3) as u32
}

/// Writes `count` records as worker `worker`, starting at `first`, in bursts of 16 committed
/// together, pausing `pause` between bursts; record `seq` is tagged with VNI `vni_of(seq)`.
fn write_records(ring: &Path, worker: u8, first: u64, count: u64, pause: Duration) {
    let (mut w, _) = RingWriter::open(ring, worker as usize, GEOMETRY).unwrap();
    let mut seq = first;
    while seq < first + count {
        let ts = now_ns();
        for _ in 0..16.min(first + count - seq) {
            let size = 60 + (seq as usize * 37) % 900;
            let meta = RecordMeta::tunnel(vni_of(seq), 0);
            assert!(w.write_record(ts, meta, &[], &frame(worker, seq, size), size as u32));
            seq += 1;
        }
        w.commit();
        std::thread::sleep(pause);
    }
    w.close().unwrap();
}

#[test]
fn tail_merges_workers_follows_resume_and_late_workers() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("ring");
    // Worker 0 has a sealed segment before tail starts; --from-start streams it.
    write_records(&ring, 0, 0, 1000, Duration::ZERO);
    let tail = Tail::start(&["--from-start", ring.to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(300));
    // Worker 0 resumes its newest segment and rotates (~3.5 MiB through a 4 MiB ring), while
    // worker 1 appears and writes alongside.
    let r0 = ring.clone();
    let w0 =
        std::thread::spawn(move || write_records(&r0, 0, 1000, 6000, Duration::from_micros(500)));
    let w1_ring = ring.clone();
    let w1 = std::thread::spawn(move || {
        let (w, _) = RingWriter::open(&w1_ring, 1, GEOMETRY).unwrap();
        w.close().unwrap();
        // Let tail find the new worker before it writes.
        std::thread::sleep(Duration::from_millis(300));
        write_records(&w1_ring, 1, 0, 4000, Duration::from_micros(700))
    });
    w0.join().unwrap();
    w1.join().unwrap();
    std::thread::sleep(Duration::from_millis(600));
    let (records, err) = tail.stop();
    let (packets, followed, skipped) = summary(&err);
    assert_eq!(err.lines().count(), 1, "stderr: {err}");
    assert_eq!((packets, skipped), (11_000, 0), "stderr: {err}");
    assert!(followed >= 2, "{followed} rotations followed");
    let mut next = [0u64; 2];
    let mut last_ts = 0;
    for (i, (ts, data, _)) in records.iter().enumerate() {
        let w = data[50] as usize;
        let seq = u64::from_be_bytes(data[42..50].try_into().unwrap());
        assert_eq!(seq, next[w], "record {i} of worker {w}");
        next[w] += 1;
        assert!(*ts >= last_ts, "record {i}: timestamp goes back");
        last_ts = *ts;
    }
    assert_eq!(next, [7000, 4000]);
}

#[test]
fn tail_selects_sessions_from_mid_segment_and_writes_pcapng() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("ring");
    // 1000 records already committed in the live segment: tail starts after them, so it must
    // count them to line up the index words of the records that follow.
    write_records(&ring, 0, 0, 1000, Duration::ZERO);
    let out = dir.path().join("tail.pcapng");
    let mut child = Command::new(bin())
        .args(["tail", "--vni", "11", "--vni", "12", "--format", "pcapng"])
        .arg(&ring)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    // ~3 MiB more: the tail follows two rotations.
    write_records(&ring, 0, 1000, 6000, Duration::from_micros(200));
    std::thread::sleep(Duration::from_millis(600));
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let st = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(st.success(), "{err}");
    assert_readable_by_tools(&out);
    let got = read_pcapng(&out);
    let want: Vec<u64> = (1000..7000).filter(|&s| vni_of(s) != 10).collect();
    let seqs: Vec<u64> = got
        .iter()
        .map(|p| u64::from_be_bytes(p.data[42..50].try_into().unwrap()))
        .collect();
    assert_eq!(seqs, want, "{err}");
    for (p, s) in got.iter().zip(&seqs) {
        assert_eq!(p.interface, format!("vni-{}", vni_of(*s)), "seq {s}");
    }
}

#[test]
fn tail_exits_quietly_when_its_reader_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("ring");
    write_records(&ring, 0, 0, 4000, Duration::ZERO);
    // `mirrorcap tail --from-start RING | head -c 100`
    let mut child = Command::new(bin())
        .args(["tail", "--from-start", ring.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 100];
    stdout.read_exact(&mut first).unwrap();
    assert_eq!(&first[..4], &0xa1b2_3c4du32.to_le_bytes());
    drop(stdout);
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "tail kept running after its reader left"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tail: {} {err}", out.status);
    assert!(err.is_empty(), "tail wrote to stderr: {err}");
}

#[test]
fn tail_on_a_directory_that_is_not_a_ring_fails_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a ring").unwrap();
    let missing = dir.path().join("missing");
    for d in [dir.path(), missing.as_path()] {
        let (st, err) = mirrorcap(&["tail", d.to_str().unwrap()]);
        assert_eq!(st.code(), Some(2), "tail {}: {err}", d.display());
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "tail {}: {err}", d.display());
        assert!(lines[0].starts_with("mirrorcap: error:"), "{err}");
    }
}
