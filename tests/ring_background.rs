//! The ring with its background helper thread (`RingOptions::background`): rotation through
//! many laps with every next segment prepared ahead, the worker's fallback when the helper does
//! not prepare, a live reader during background rotation, a sealed segment left untrimmed (as a
//! kill before the helper ran leaves it), and kill -9 of a process writing in background mode.
//!
//! Where each record lands is predicted by a small model of the documented layout (a record
//! of `n` bytes takes `16 + n`; a segment starts with the 24-byte file header and rotates when
//! the next record does not fit); records are read back with the `pcap-file` crate and the
//! reference tools (capinfos, tshark, tcpdump).
mod support;
use mirrorcap_ring::layout::{current_path, segment_path, worker_dir, SegState, SlotFile};
use mirrorcap_ring::reader::WorkerReader;
use mirrorcap_ring::{Geometry, RingOptions, RingWriter};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::{
    assert_readable_by_tools, export_records, geom, mix, read_records, seq_frame, ts_for, Rec, HDR,
    MIB, REC_HDR,
};

/// Sizes in 60..=9000, from the sequence number.
fn size_for(seq: u64) -> usize {
    60 + (mix(seq ^ 0x5eed) % 8941) as usize
}

/// Frame `seq` of its size (`support::seq_frame`).
fn frame(seq: u64) -> Vec<u8> {
    seq_frame(seq, size_for(seq))
}

/// Checks every record is frame `seq` exactly (bytes, length, timestamp); returns the
/// sequence numbers.
fn check_records(recs: &[Rec], what: &str) -> Vec<u64> {
    recs.iter()
        .enumerate()
        .map(|(i, r)| {
            let seq = r.seq();
            assert!(
                r.data == frame(seq)
                    && r.orig_len as usize == r.data.len()
                    && r.ts_ns == ts_for(seq),
                "{what}: record {i} (seq {seq}) torn or wrong: {} bytes",
                r.data.len()
            );
            seq
        })
        .collect()
}

/// Reads pcap bytes with `pcap-file` ([`read_records`]) and checks them ([`check_records`]).
fn check_pcap(bytes: &[u8], what: &str) -> Vec<u64> {
    check_records(&read_records(bytes, what), what)
}

/// Exports the ring; returns its sequence numbers and whether any segment raced the writer.
fn export(ring: &Path) -> (Vec<u64>, u64) {
    let (recs, stats) = export_records(ring);
    assert_eq!(stats.read.torn_bytes, 0, "export returned a torn tail");
    (check_records(&recs, "export"), stats.read.raced)
}

/// Where the writer puts each record, from the documented layout.
struct Model {
    g: Geometry,
    seg_no: u64,
    off: u64,
    /// (seq, logical segment) of every record written, in order.
    recs: Vec<(u64, u64)>,
    committed: usize,
}

impl Model {
    fn new(g: Geometry) -> Self {
        Model {
            g,
            seg_no: 0,
            off: HDR,
            recs: Vec::new(),
            committed: 0,
        }
    }

    /// Writes a committed burst of `n` records through `w`, predicting their places.
    fn burst(&mut self, w: &mut RingWriter, n: usize) {
        for _ in 0..n {
            let seq = self.recs.len() as u64;
            let f = frame(seq);
            let need = REC_HDR + f.len() as u64;
            if self.off + need > self.g.segment_size {
                self.seg_no += 1;
                self.off = HDR;
            }
            self.off += need;
            self.recs.push((seq, self.seg_no));
            assert!(w.write(ts_for(seq), &f, f.len() as u32), "write {seq}");
        }
        w.commit();
        self.committed = self.recs.len();
    }

    /// Committed records of the newest `segments` segments: what a reader must return.
    fn expected(&self) -> Vec<u64> {
        let oldest = (self.seg_no + 1).saturating_sub(self.g.segments as u64);
        self.recs[..self.committed]
            .iter()
            .filter(|r| r.1 >= oldest)
            .map(|r| r.0)
            .collect()
    }

    fn seg_seqs(&self, seg_no: u64) -> Vec<u64> {
        self.recs
            .iter()
            .filter(|r| r.1 == seg_no)
            .map(|r| r.0)
            .collect()
    }
}

/// After close: every segment file holds exactly its records (trimmed: nothing after them),
/// the reference tools read it without a warning, and export returns the retained records.
fn check_closed_ring(ring: &Path, m: &Model) {
    let wdir = worker_dir(ring, 0);
    let first = (m.seg_no + 1).saturating_sub(m.g.segments as u64);
    for seg_no in first..=m.seg_no {
        let path = segment_path(&wdir, (seg_no % m.g.segments as u64) as usize);
        let bytes = std::fs::read(&path).unwrap();
        let want = m.seg_seqs(seg_no);
        let what = path.display().to_string();
        assert_eq!(check_pcap(&bytes, &what), want, "{what}: records");
        let len = HDR
            + want
                .iter()
                .map(|&s| REC_HDR + size_for(s) as u64)
                .sum::<u64>();
        assert_eq!(bytes.len() as u64, len, "{what}: trimmed to its records");
        assert_readable_by_tools(&path);
    }
    for e in WorkerReader::open(&wdir).unwrap().segments() {
        assert_eq!(e.state, SegState::Sealed, "after close: {e:?}");
    }
    let (got, raced) = export(ring);
    assert_eq!(raced, 0);
    assert_eq!(got, m.expected(), "export after close");
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < Duration::from_secs(20), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn background_rotation_through_many_laps_is_byte_identical_and_prepared_ahead() {
    let tmp = tempfile::tempdir().unwrap();
    let ring = tmp.path().join("ring");
    let g = geom(3, MIB);
    let (mut w, _) = RingWriter::open_with(&ring, 0, g, RingOptions::background()).unwrap();
    let mut m = Model::new(g);
    // Ten laps; once the live segment is half full, give the helper the time to prepare the
    // next one (a real capture fills a segment far slower than this loop).
    while m.seg_no < 30 {
        m.burst(&mut w, 32);
        if m.off > g.segment_size / 2 {
            let want = m.seg_no + 1;
            wait_for("the helper prepares the next segment", || {
                w.background_stats().unwrap().prepared >= want
            });
        }
    }
    let (got, _) = export(&ring);
    assert_eq!(got, m.expected(), "export of the live ring");
    let bg = w.background_stats().expect("helper running");
    assert_eq!(bg.errors, 0, "{bg:?}");
    assert!(bg.prefault.is_some(), "pre-faulted: {bg:?}");
    assert!(bg.trimmed >= 1, "{bg:?}");
    let stats = w.close().unwrap();
    assert_eq!(
        stats.rotations_unprepared, 0,
        "every rotation found its next segment prepared"
    );
    assert_eq!(stats.segments_sealed, m.seg_no + 1);
    assert_eq!(stats.segments_overwritten, m.seg_no + 1 - 3);
    assert_eq!(stats.packets, m.recs.len() as u64);
    check_closed_ring(&ring, &m);
}

#[test]
fn unprepared_rotation_falls_back_on_the_worker_and_keeps_the_data() {
    let tmp = tempfile::tempdir().unwrap();
    let ring = tmp.path().join("ring");
    // Two segments: the one sealed is the next one reused, so the worker often takes it
    // back before or while the helper trims it.
    let g = geom(2, MIB);
    let options = RingOptions {
        background: true,
        prepare_ahead: false,
    };
    let (mut w, _) = RingWriter::open_with(&ring, 0, g, options).unwrap();
    let mut m = Model::new(g);
    let mut k = 0u64;
    while m.seg_no < 20 {
        m.burst(&mut w, 16);
        k += 1;
        if k.is_multiple_of(7) {
            // Now and then let the helper trim before the worker comes back.
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let bg = w.background_stats().unwrap();
    assert_eq!(bg.prepared, 0, "{bg:?}");
    assert_eq!(bg.errors, 0, "{bg:?}");
    assert!(bg.trimmed >= 1, "{bg:?}");
    let stats = w.close().unwrap();
    assert_eq!(
        stats.rotations_unprepared, m.seg_no,
        "every rotation took the worker's own path"
    );
    assert_eq!(stats.segments_sealed, m.seg_no + 1);
    check_closed_ring(&ring, &m);
}

#[test]
fn a_live_reader_never_sees_torn_records_during_background_rotation() {
    let tmp = tempfile::tempdir().unwrap();
    let ring = tmp.path().join("ring");
    let g = geom(2, MIB);
    let (mut w, _) = RingWriter::open_with(&ring, 0, g, RingOptions::background()).unwrap();
    let writer = std::thread::spawn(move || {
        let mut m = Model::new(g);
        while m.seg_no < 24 {
            m.burst(&mut w, 32);
        }
        w.close().unwrap();
        m
    });
    let (mut exports, mut seen, mut segments) = (0, 0, 0);
    while !writer.is_finished() || exports < 3 {
        // check_pcap asserts each record is whole and exact.
        let (got, _) = export(&ring);
        assert!(
            got.windows(2).all(|p| p[0] < p[1]),
            "export {exports}: order"
        );
        exports += 1;
        seen += got.len();
        // The per-segment reader too.
        if let Ok(mut r) = WorkerReader::open(&worker_dir(&ring, 0)) {
            while let Some(recs) = r.next_segment().unwrap() {
                segments += 1;
                for rec in recs {
                    let seq = u64::from_le_bytes(rec.data[..8].try_into().unwrap());
                    assert!(
                        rec.data == frame(seq) && rec.ts_ns == ts_for(seq),
                        "segment read: seq {seq} torn"
                    );
                }
            }
            assert_eq!(r.stats.torn_bytes, 0);
        }
    }
    let m = writer.join().expect("writer");
    assert!(seen > 0 && segments > 0);
    check_closed_ring(&ring, &m);
}

#[test]
fn a_sealed_segment_left_untrimmed_is_trimmed_at_open() {
    // The helper trims a sealed segment after the worker sealed it, and extends the next one
    // ahead of reuse: a kill in between leaves a sealed segment at its full size, zeros (or
    // older bytes) after its committed records. Open must cut them off.
    let tmp = tempfile::tempdir().unwrap();
    let ring = tmp.path().join("ring");
    let g = geom(4, MIB);
    let (mut w, _) = RingWriter::open(&ring, 0, g).unwrap();
    let mut m = Model::new(g);
    while m.seg_no < 2 || m.off < MIB / 3 {
        m.burst(&mut w, 32);
    }
    w.close().unwrap();
    let wdir = worker_dir(&ring, 0);
    let before: Vec<Vec<u8>> = (0..3)
        .map(|i| std::fs::read(segment_path(&wdir, i)).unwrap())
        .collect();
    // Segment 0: zeros after its records; segment 1: junk.
    let f0 = std::fs::OpenOptions::new()
        .write(true)
        .open(segment_path(&wdir, 0))
        .unwrap();
    f0.set_len(MIB).unwrap();
    let f1 = std::fs::OpenOptions::new()
        .write(true)
        .open(segment_path(&wdir, 1))
        .unwrap();
    f1.write_all_at(&[0xee; 5000], before[1].len() as u64)
        .unwrap();
    let (w, report) = RingWriter::open_with(&ring, 0, g, RingOptions::background()).unwrap();
    assert_eq!(
        report.recovered_segments, 0,
        "sealed segments are not 'recovered'"
    );
    for (i, want) in before.iter().enumerate().take(2) {
        assert!(
            std::fs::read(segment_path(&wdir, i)).unwrap() == *want,
            "segment {i} trimmed back to its records at open"
        );
    }
    drop(w);
    check_closed_ring(&ring, &m);
}

// -------------------------------------------------------------------------------------------
// kill -9 of a process writing in background mode.

const CHILD_ENV: &str = "MIRRORCAP_RING_BG_CHILD";
const KILL_GEOMETRY: Geometry = Geometry {
    segments: 3,
    segment_size: MIB,
};

fn progress_path(ring: &Path) -> PathBuf {
    ring.with_extension("progress")
}

/// Not a test on its own: the process `kill9_…` below starts and kills. With the ring in
/// `$MIRRORCAP_RING_BG_CHILD` it continues the ring after its last record and writes committed
/// bursts until killed, recording after each commit how many records are committed.
#[test]
fn kill9_child_writer() {
    let Some(ring) = std::env::var_os(CHILD_ENV).map(PathBuf::from) else {
        return;
    };
    let next = if ring.exists() {
        export(&ring).0.last().map_or(0, |s| s + 1)
    } else {
        0
    };
    let (mut w, _) =
        RingWriter::open_with(&ring, 0, KILL_GEOMETRY, RingOptions::background()).unwrap();
    let progress = std::fs::File::create(progress_path(&ring)).unwrap();
    let mut seq = next;
    loop {
        for _ in 0..32 {
            let f = frame(seq);
            assert!(w.write(ts_for(seq), &f, f.len() as u32));
            seq += 1;
        }
        w.commit();
        progress.write_all_at(&seq.to_le_bytes(), 0).unwrap();
    }
}

fn read_progress(ring: &Path) -> u64 {
    let b = std::fs::read(progress_path(ring)).unwrap_or_default();
    b.get(..8)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap()))
}

#[test]
fn kill9_during_background_rotation_keeps_every_committed_record() {
    let tmp = tempfile::tempdir().unwrap();
    let ring = tmp.path().join("ring");
    let wdir = worker_dir(&ring, 0);
    let mut untrimmed = 0;
    let mut committed = 0u64;
    for i in 0..8u64 {
        let _ = std::fs::remove_file(progress_path(&ring));
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "kill9_child_writer",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &ring)
            .spawn()
            .expect("start the child writer");
        // A few laps, then a kill at a varying moment.
        let target = committed + 1500 + (mix(i) % 1500);
        wait_for("the child writes", || {
            assert!(
                child.try_wait().unwrap().is_none(),
                "the child writer exited"
            );
            read_progress(&ring) >= target
        });
        std::thread::sleep(Duration::from_micros(mix(i ^ 77) % 20_000));
        child.kill().unwrap(); // SIGKILL
        let st = child.wait().unwrap();
        assert!(!st.success(), "killed: {st}");
        let p = read_progress(&ring);
        let what = format!("kill {}", i + 1);

        // Before any recovery: every committed record is there, whole, in order.
        let (got, raced) = export(&ring);
        assert_eq!(raced, 0, "{what}");
        let (first, last) = (got[0], *got.last().unwrap());
        assert_eq!(
            got,
            (first..=last).collect::<Vec<_>>(),
            "{what}: contiguous"
        );
        assert!(
            last + 1 >= p,
            "{what}: committed up to {p}, export ends at {last}"
        );
        committed = last + 1;
        // Sealed segments: trimmed, or still full size (the helper had not trimmed it yet,
        // or had extended it for reuse) with their committed records first.
        // Only complete sealed segments are visible (see `layout`).
        for e in WorkerReader::open(&wdir).unwrap().segments() {
            let path = current_path(&wdir, e.index, SlotFile::Data);
            let bytes = std::fs::read(&path).unwrap();
            if path == segment_path(&wdir, e.index) {
                assert_eq!(e.state, SegState::Sealed, "{what}: visible {e:?}");
                assert_eq!(bytes.len() as u64, e.committed, "{what}: visible {e:?}");
            }
            if e.state == SegState::Sealed && bytes.len() as u64 != e.committed {
                assert_eq!(bytes.len() as u64, MIB, "{what}: {e:?}");
                untrimmed += 1;
            }
            if e.committed < HDR {
                continue; // killed while starting it: nothing committed yet
            }
            let n = check_pcap(&bytes[..e.committed as usize], &what).len();
            if e.state == SegState::Sealed {
                assert_eq!(n as u64, e.packets, "{what}: {e:?}");
            }
        }
    }
    println!("{untrimmed} sealed segment(s) found untrimmed after a kill");

    // A last open recovers and trims; after close every file is exactly its records.
    let before = export(&ring).0;
    let (w, report) =
        RingWriter::open_with(&ring, 0, KILL_GEOMETRY, RingOptions::background()).unwrap();
    assert_eq!(
        report.recovered_segments, 1,
        "the live segment of the last kill"
    );
    w.close().unwrap();
    let (after, _) = export(&ring);
    assert_eq!(after, before, "recovery kept every committed record");
    for e in WorkerReader::open(&wdir).unwrap().segments() {
        let path = segment_path(&wdir, e.index);
        assert_eq!(e.state, SegState::Sealed);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), e.committed);
        assert_readable_by_tools(&path);
    }
}
