//! Crash loop on real DPDK: the `mirrorcap` binary replays a generated capture forever
//! (`net_pcap` with `infinite_rx`, so the ring rotates and overwrites constantly) and is killed
//! with SIGKILL after a pseudo-random delay, 20 times on the same ring directory; each run
//! recovers the previous crash and resumes. After every kill the ring must export cleanly
//! (every record whole and byte-identical to the generated inner frame, sequence numbers
//! contiguous within each process run, timestamps non-decreasing) and every sealed segment must
//! read cleanly in capinfos, tshark and tcpdump. A last run, stopped with SIGTERM, must
//! recover the last crash (`mirrorcap_ring_segments_recovered_total`) and leave every segment
//! readable by the tools. After every kill, every *visible* file of the ring (`seg-*.pcap`) is
//! also read by capinfos as it is, before any recovery: the live and prepared segments are
//! hidden (`.seg-NNN.pcap.part`) until complete.
mod support;
use mirrorcap::gen::Rng;
use mirrorcap_ring::layout::{current_path, segment_path, EntrySnapshot, SegState, SlotFile};
use mirrorcap_ring::reader::WorkerReader;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::*;

/// Mirrored frames in the generated capture (sequence numbers 0..COUNT, replayed in a loop).
const COUNT: u64 = 4000;
/// SIGKILLs before the final, clean run.
const KILLS: u64 = 20;
const SEGMENTS: usize = 6;
const SEGMENT_SIZE: u64 = 1 << 20;
/// Outer Ethernet, IPv4, UDP and VXLAN headers in front of each generated inner frame.
const OUTER_LEN: usize = 14 + 20 + 8 + 8;
/// Where the generator puts the sequence number (8 bytes, big-endian), then `MCAP`.
const SEQ_OFF: usize = 42;

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// The kill delay of iteration `i`, in ms (50..=700), reproducible from `i`.
fn kill_delay_ms(i: u64) -> u64 {
    Rng::new(0x00c0_ffee ^ i).range(50, 700) as u64
}

/// The wall-clock window of one process run: its records are stamped inside it.
#[derive(Clone, Copy, Debug)]
struct Window {
    start: u64,
    end: u64,
}

/// What one export held.
#[derive(Debug)]
struct ExportSummary {
    records: usize,
    /// Maximal stretches of consecutive sequence numbers (mod COUNT).
    runs: usize,
    /// The process runs (indices into the windows) the records came from, in export order.
    procs: Vec<usize>,
}

/// Exports the ring and checks every record: whole (IPv4 total length + 14 = frame length),
/// tagged, byte-identical to the generated inner frame of its sequence number, timestamps
/// non-decreasing, sequence numbers contiguous (mod COUNT) except where one process run ends
/// and a later one begins.
fn check_export(
    ring: &Path,
    out: &Path,
    expected: &[Vec<u8>],
    windows: &[Window],
    what: &str,
) -> ExportSummary {
    export_ring(ring, out, &[]);
    let recs = read_records_file(out);
    assert!(!recs.is_empty(), "{what}: export is empty");
    let proc_of = |ts: u64| windows.iter().position(|w| w.start <= ts && ts <= w.end);
    let mut summary = ExportSummary {
        records: recs.len(),
        runs: 0,
        procs: Vec::new(),
    };
    let mut prev: Option<(u64, u64, usize)> = None; // (ts, seq, process run)
    for (i, r) in recs.iter().enumerate() {
        let d = &r.data;
        let at = format!(
            "{what}: export record {i} of {} (ts {})",
            recs.len(),
            r.ts_ns
        );
        assert!(
            d.len() >= SEQ_OFF + 12,
            "{at}: {} bytes, too short for a generated inner frame",
            d.len()
        );
        assert_eq!(u16::from_be_bytes([d[12], d[13]]), 0x0800, "{at}: not IPv4");
        let ip_total = u16::from_be_bytes([d[16], d[17]]) as usize;
        assert_eq!(
            d.len(),
            ip_total + 14,
            "{at}: torn record: {} bytes, IPv4 total length {ip_total} says {}",
            d.len(),
            ip_total + 14
        );
        assert_eq!(&d[SEQ_OFF + 8..SEQ_OFF + 12], b"MCAP", "{at}: no MCAP tag");
        let seq = u64::from_be_bytes(d[SEQ_OFF..SEQ_OFF + 8].try_into().unwrap());
        assert!(seq < COUNT, "{at}: sequence number {seq} out of range");
        let want = &expected[seq as usize];
        assert!(
            d == want,
            "{at}: seq {seq} differs from the generated inner frame ({} vs {} bytes, first \
             difference at {:?})",
            d.len(),
            want.len(),
            d.iter().zip(want.iter()).position(|(a, b)| a != b)
        );
        assert_eq!(r.orig_len as usize, d.len(), "{at}: orig_len");
        let Some(p) = proc_of(r.ts_ns) else {
            panic!("{at}: timestamp outside every process run's window {windows:?}");
        };
        match prev {
            None => {
                summary.runs = 1;
                summary.procs.push(p);
            }
            Some((pts, pseq, pp)) => {
                assert!(
                    r.ts_ns >= pts,
                    "{at}: timestamp goes back by {} ns",
                    pts - r.ts_ns
                );
                assert!(
                    p >= pp,
                    "{at}: record of process run {p} after one of run {pp}"
                );
                if p != pp {
                    summary.procs.push(p);
                }
                if seq != (pseq + 1) % COUNT {
                    assert!(
                        p != pp,
                        "{at}: sequence breaks ({pseq} then {seq}) inside process run {p} \
                         (no crash boundary here: lost or duplicated records)"
                    );
                    summary.runs += 1;
                }
            }
        }
        prev = Some((r.ts_ns, seq, p));
    }
    let last = prev.unwrap().2;
    assert_eq!(
        last,
        windows.len() - 1,
        "{what}: the export does not end with the newest process run's records"
    );
    summary
}

/// What the control file says after a run.
struct RingState {
    segments: Vec<EntrySnapshot>,
    live: Vec<EntrySnapshot>,
    /// Records in the ring per the control file (sealed) and the live committed bytes.
    records: usize,
}

/// Checks the control file against the segment files: at most one live segment (the newest),
/// every sealed segment trimmed to its committed length with as many records as the control
/// file says and read cleanly by capinfos, tshark and tcpdump; the live segment's committed
/// bytes end on a record boundary. Right after a kill (`clean` false) a sealed segment may
/// also still be full size with its records first: the ring's helper thread trims a segment
/// shortly after the worker seals it and extends the next one ahead of reuse, and the next
/// open trims what a kill left; its records are then read by the tools from a copy. Such a
/// segment, and the live one, must have their hidden name; a visible one is always trimmed.
fn check_segments(ring: &Path, what: &str, clean: bool) -> RingState {
    let wdir = ring.join("worker-00");
    let reader = WorkerReader::open(&wdir).unwrap_or_else(|e| panic!("{what}: open control: {e}"));
    let segments = reader.segments().to_vec();
    assert!(!segments.is_empty(), "{what}: no segment written");
    let newest = segments.iter().map(|s| s.seq).max().unwrap();
    let live: Vec<EntrySnapshot> = segments
        .iter()
        .copied()
        .filter(|s| s.state == SegState::Live)
        .collect();
    assert!(
        live.len() <= 1,
        "{what}: {} segments live after one crash: {live:?}",
        live.len()
    );
    // Each segment started takes the next index (rotation) and a restart continues the newest
    // segment: segment `i` only ever holds seq 1 + i + k * SEGMENTS. A restart that started
    // over elsewhere (overwriting retained data) breaks this.
    for s in &segments {
        assert_eq!(
            ((s.seq - 1) % SEGMENTS as u64) as usize,
            s.index,
            "{what}: segment {} has seq {}: a restart did not continue the newest segment \
             ({segments:?})",
            s.index,
            s.seq
        );
    }
    let mut records = 0usize;
    let mut sealed = Vec::new();
    for s in &segments {
        let path = current_path(&wdir, s.index, SlotFile::Data);
        let visible = path == segment_path(&wdir, s.index);
        let len = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{what}: {}: {e}", path.display()))
            .len();
        assert!(
            s.committed <= SEGMENT_SIZE,
            "{what}: {}: committed {} beyond the segment size",
            path.display(),
            s.committed
        );
        match s.state {
            SegState::Live => {
                assert_eq!(
                    s.seq, newest,
                    "{what}: live segment is not the newest: {s:?}"
                );
                assert!(!visible, "{what}: live segment visible: {}", path.display());
                assert!(
                    s.committed <= len,
                    "{what}: {}: committed {} beyond the file ({len} bytes)",
                    path.display(),
                    s.committed
                );
                let bytes = std::fs::read(&path).unwrap();
                // A kill while the writer starts a segment leaves it live with committed 0
                // (the new seq is published before the file header is): no records yet.
                if s.committed == 0 {
                    assert_eq!(
                        s.packets, 0,
                        "{what}: a segment with nothing committed counts no packets"
                    );
                    continue;
                }
                let recs = read_records(
                    &bytes[..s.committed as usize],
                    &format!("{what}: committed part of live {}", path.display()),
                );
                records += recs.len();
            }
            SegState::Sealed => {
                let mut path = path;
                if len != s.committed && !clean && !visible && len == SEGMENT_SIZE {
                    let bytes = std::fs::read(&path).unwrap();
                    let copy = ring.with_file_name(format!("untrimmed-{}.pcap", s.index));
                    std::fs::write(&copy, &bytes[..s.committed as usize]).unwrap();
                    path = copy;
                } else {
                    assert_eq!(
                        len,
                        s.committed,
                        "{what}: sealed {} is {len} bytes, committed {} ({s:?})",
                        path.display(),
                        s.committed
                    );
                }
                let n = read_records_file(&path).len();
                assert_eq!(
                    n as u64,
                    s.packets,
                    "{what}: sealed {} holds {n} records, control says {} ({s:?})",
                    path.display(),
                    s.packets
                );
                records += n;
                sealed.push(path);
            }
            SegState::Empty => panic!("{what}: segment with seq {} but empty: {s:?}", s.seq),
        }
    }
    // The reference tools, one thread per segment (tshark is slow to start).
    std::thread::scope(|sc| {
        for p in &sealed {
            sc.spawn(move || assert_readable_by_tools(p));
        }
    });
    RingState {
        segments,
        live,
        records,
    }
}

/// Every visible segment file of the ring (`worker-*/seg-*.pcap`), as a kill left it, reads in
/// capinfos with no error or warning, and has its index beside it; the hidden files are
/// dot-files named `.part`, not like a capture. Returns (visible, hidden) counts.
fn check_visible_files(ring: &Path, what: &str) -> (usize, usize) {
    let (mut visible, mut hidden) = (0, 0);
    for w in std::fs::read_dir(ring).unwrap() {
        let w = w.unwrap().path();
        if !w.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&w).unwrap() {
            let f = f.unwrap().path();
            let name = f.file_name().unwrap().to_str().unwrap().to_string();
            if name.starts_with('.') {
                assert!(
                    name.starts_with(".seg-") && name.ends_with(".part"),
                    "{what}: hidden file {name}"
                );
                hidden += 1;
                continue;
            }
            assert!(
                !name.ends_with(".part"),
                "{what}: {name}: an in-progress file under a visible name"
            );
            if !(name.starts_with("seg-") && name.ends_with(".pcap")) {
                continue;
            }
            visible += 1;
            let p = f.to_str().unwrap();
            let (ok, _, err) = tool("capinfos", &["-M", p]);
            assert!(
                ok && err.trim().is_empty(),
                "{what}: capinfos {p} right after the kill: {err}"
            );
            assert!(
                f.with_extension("idx").exists(),
                "{what}: {name} without its index"
            );
        }
    }
    (visible, hidden)
}

/// SIGKILL, then reap; returns the run's stderr.
fn kill9(app: Appliance) -> String {
    app.signal("KILL");
    let (st, err) = app.wait(Duration::from_secs(10));
    assert_eq!(
        st.signal(),
        Some(9),
        "mirrorcap did not die of SIGKILL ({st}): {err}"
    );
    err
}

#[test]
fn kill9_loop_keeps_every_committed_record_readable() {
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let count = COUNT.to_string();
    let input = gen_fixture(
        dir.path(),
        "mirror.pcap",
        &["--count", &count, "--inner-size", "60-1500", "--vni", "100"],
    );
    let ring = dir.path().join("ring");
    let out = dir.path().join("export.pcap");
    let expected: Vec<Vec<u8>> = read_pcap(&input)
        .into_iter()
        .map(|f| f[OUTER_LEN..].to_vec())
        .collect();
    assert_eq!(expected.len() as u64, COUNT);
    for (i, f) in expected.iter().enumerate() {
        assert_eq!(
            &f[SEQ_OFF..SEQ_OFF + 8],
            &(i as u64).to_be_bytes(),
            "gen seq {i}"
        );
    }

    let mut windows: Vec<Window> = Vec::new();
    let mut live_before = 0usize;
    for i in 0..KILLS {
        let delay = kill_delay_ms(i);
        let start = now_ns();
        let app = Appliance::looping(&input, &ring, SEGMENTS as u32, &["--mbufs", "8191"]);
        std::thread::sleep(Duration::from_millis(delay));
        let err = kill9(app);
        windows.push(Window {
            start,
            end: now_ns(),
        });
        let what = format!("kill {} (after {delay} ms)", i + 1);
        let (visible, hidden) = check_visible_files(&ring, &what);
        assert!(hidden >= 2, "{what}: the live segment's files are hidden");
        assert!(
            visible + hidden / 2 <= SEGMENTS,
            "{what}: {visible} + {hidden}"
        );
        if live_before > 0 {
            assert!(
                err.contains(&format!("recovered {live_before} segment(s)")),
                "{what}: the run did not report recovering the previous crash's live \
                 segment; stderr:\n{err}"
            );
        }
        let rs = check_segments(&ring, &what, false);
        let ex = check_export(&ring, &out, &expected, &windows, &what);
        assert_eq!(
            ex.records, rs.records,
            "{what}: export holds {} records, the segments {}",
            ex.records, rs.records
        );
        println!(
            "{what}: {} records in {} run(s) from process run(s) {:?}; {} segments, live {:?}",
            ex.records,
            ex.runs,
            ex.procs,
            rs.segments.len(),
            rs.live.iter().map(|s| s.index).collect::<Vec<_>>()
        );
        live_before = rs.live.len();
    }

    // A last run stopped cleanly: it recovers the last crash and seals everything.
    let start = now_ns();
    let app = Appliance::looping(&input, &ring, SEGMENTS as u32, &["--mbufs", "8191"]);
    std::thread::sleep(Duration::from_millis(300));
    let m = app.scrape_until(Duration::from_secs(10), |m| {
        metric(m, "mirrorcap_captured_packets_total", &[]).is_some_and(|v| v > 0.0)
            && metric(m, "mirrorcap_ring_segments_recovered_total", &[]).is_some()
    });
    let recovered = metric(&m, "mirrorcap_ring_segments_recovered_total", &[]);
    app.signal("TERM");
    let (st, err) = app.wait(Duration::from_secs(30));
    windows.push(Window {
        start,
        end: now_ns(),
    });
    assert!(st.success(), "final run failed ({st}): {err}");
    assert_eq!(
        live_before, 1,
        "the last kill left {live_before} live segments (expected the one being written)"
    );
    assert_eq!(
        recovered,
        Some(live_before as f64),
        "final run: mirrorcap_ring_segments_recovered_total; metrics:\n{m}"
    );
    let what = "final run (SIGTERM)";
    assert!(
        err.contains(&format!("recovered {live_before} segment(s)")),
        "{what}: no recovery reported; stderr:\n{err}"
    );
    let rs = check_segments(&ring, what, true);
    assert!(
        rs.live.is_empty(),
        "{what}: live segments left: {:?}",
        rs.live
    );
    assert_eq!(rs.segments.len(), SEGMENTS, "{what}: segments written");
    for i in 0..SEGMENTS {
        // Every segment, whatever the control file says.
        assert_readable_by_tools(&segment_path(&ring.join("worker-00"), i));
    }
    let ex = check_export(&ring, &out, &expected, &windows, what);
    assert_eq!(ex.records, rs.records, "{what}: export vs segments");
    assert_readable_by_tools(&out);
    println!(
        "{what}: {} records in {} run(s) from process run(s) {:?}; recovered {recovered:?}",
        ex.records, ex.runs, ex.procs
    );
    println!(
        "{KILLS} kills + 1 clean run in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}
