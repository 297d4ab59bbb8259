//! The pcap ring (`mirrorcap_ring`) end to end through its public API, no DPDK needed:
//! rotation and overwrite, crash (kill -9) recovery, continuing a ring across sessions,
//! geometry and environment errors, merging two workers, reading a live ring (also while a
//! writer thread laps it), and a property test that whatever was committed and is still
//! retained comes back byte-identical.
//!
//! Where each record lands is predicted by a small model of the documented layout (a record
//! of `n` bytes takes `16 + n`; a segment starts with the 24-byte file header and rotates when
//! the next record does not fit; sealing commits; reopening, after a close or a crash, resumes
//! the newest segment after its committed records). Files are checked with independent readers:
//! the `pcap-file` crate, and capinfos, tshark and tcpdump.

mod support;
use mirrorcap_ring::layout::{current_path, segment_path, worker_dir, SegState, SlotFile};
use mirrorcap_ring::pcapfmt::SNAPLEN;
use mirrorcap_ring::{export_pcap, Geometry, OpenReport, RingError, RingStats, RingWriter};
use proptest::prelude::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use support::{
    assert_tools_accept, control_segments, export_records, geom, mix, read_records,
    read_records_file, seq_frame, ts_for, Rec, BASE_TS, HDR, MIB, REC_HDR,
};

// ---------------------------------------------------------------------------------------------
// Records: deterministic frames carrying their sequence number in their first 8 bytes.

fn frame(seq: u64, len: usize) -> Vec<u8> {
    seq_frame(seq, len)
}

/// Varied sizes in 60..=9000, both ends included regularly.
fn size_for(seq: u64) -> usize {
    match seq % 50 {
        0 => 60,
        1 => 9000,
        _ => 60 + (mix(seq ^ 0x5eed) % 8941) as usize,
    }
}

fn seqs(recs: &[Rec]) -> Vec<u64> {
    recs.iter().map(Rec::seq).collect()
}

/// Compares record lists without dumping megabytes on failure.
fn assert_same_records(got: &[Rec], want: &[Rec], what: &str) {
    let (g, w) = (seqs(got), seqs(want));
    if g != w {
        let i = g.iter().zip(&w).take_while(|(a, b)| a == b).count();
        let lo = i.saturating_sub(3);
        panic!(
            "{what}: {} records, expected {}; first difference at index {i}: got seqs {:?}, \
             expected {:?} (expected range {:?}..={:?})",
            g.len(),
            w.len(),
            &g[lo.min(g.len())..(i + 3).min(g.len())],
            &w[lo.min(w.len())..(i + 3).min(w.len())],
            w.first(),
            w.last()
        );
    }
    for (a, b) in got.iter().zip(want) {
        assert!(
            a == b,
            "{what}: record seq {} differs: ts {} vs {}, orig_len {} vs {}, {} vs {} bytes, \
             bytes equal: {}",
            b.seq(),
            a.ts_ns,
            b.ts_ns,
            a.orig_len,
            b.orig_len,
            a.data.len(),
            b.data.len(),
            a.data == b.data
        );
    }
}

// ---------------------------------------------------------------------------------------------
// A writer with a model of where its records land.

struct Written {
    rec: Rec,
    /// Logical segment number: 0 for the ring's first segment, +1 per segment started
    /// (the control file's `seq` minus one).
    seg_no: u64,
}

struct Ring {
    ring_dir: PathBuf,
    worker: usize,
    g: Geometry,
    w: Option<RingWriter>,
    /// Logical number of the live (or last) segment.
    seg_no: u64,
    /// Bytes in the live segment, file header included.
    off: u64,
    /// Every record written and not lost in a crash, in write order.
    log: Vec<Written>,
    /// `log[..committed]` is committed.
    committed: usize,
    next_seq: u64,
}

impl Ring {
    fn create(ring_dir: &Path, worker: usize, g: Geometry) -> (Ring, OpenReport) {
        let (w, report) = RingWriter::open(ring_dir, worker, g).expect("open a new ring");
        let ring = Ring {
            ring_dir: ring_dir.to_path_buf(),
            worker,
            g,
            w: Some(w),
            seg_no: 0,
            off: HDR,
            log: Vec::new(),
            committed: 0,
            next_seq: 0,
        };
        (ring, report)
    }

    fn writer(&mut self) -> &mut RingWriter {
        self.w.as_mut().expect("writer open")
    }

    fn dir(&self) -> PathBuf {
        worker_dir(&self.ring_dir, self.worker)
    }

    fn index_of(&self, seg_no: u64) -> usize {
        (seg_no % self.g.segments as u64) as usize
    }

    /// The segment's file under its current name (hidden while live, see `layout`).
    fn seg_file(&self, seg_no: u64) -> PathBuf {
        current_path(&self.dir(), self.index_of(seg_no), SlotFile::Data)
    }

    /// Writes one record, predicting its place first.
    fn write(&mut self, ts_ns: u64, data: Vec<u8>) {
        let need = REC_HDR + data.len() as u64;
        if self.off + need > self.g.segment_size {
            // Rotation seals, and sealing commits.
            self.committed = self.log.len();
            self.seg_no += 1;
            self.off = HDR;
        }
        self.off += need;
        let orig_len = data.len() as u32;
        assert!(
            self.writer().write(ts_ns, &data, orig_len),
            "write of {} bytes refused",
            data.len()
        );
        self.log.push(Written {
            rec: Rec {
                ts_ns,
                orig_len,
                data,
            },
            seg_no: self.seg_no,
        });
    }

    fn write_seq(&mut self, len: usize) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.write(ts_for(seq), frame(seq, len));
        seq
    }

    fn commit(&mut self) {
        self.writer().commit();
        self.committed = self.log.len();
    }

    fn close(&mut self) -> RingStats {
        let stats = self.w.take().expect("writer open").close().expect("close");
        self.committed = self.log.len();
        stats
    }

    /// kill -9: the writer vanishes without Drop; uncommitted records are lost.
    fn crash(&mut self) {
        std::mem::forget(self.w.take().expect("writer open"));
        self.log.truncate(self.committed);
    }

    /// Opens the ring again. The writer resumes the newest segment after its committed
    /// records: same segment, same `seq`, state back to live, nothing overwritten.
    fn reopen(&mut self) -> OpenReport {
        assert!(self.w.is_none(), "close or crash first");
        let (w, report) = RingWriter::open(&self.ring_dir, self.worker, self.g).expect("reopen");
        self.w = Some(w);
        self.off = self.seg_committed_bytes(self.seg_no);
        let records = self.seg_records(self.seg_no);
        let entries = control_segments(&self.dir());
        let e = entries
            .last()
            .expect("a reopened ring has a newest segment");
        assert_eq!(
            (e.seq, e.index, e.state),
            (self.seg_no + 1, self.index_of(self.seg_no), SegState::Live),
            "reopen resumes the newest segment, seq unchanged"
        );
        assert_eq!(e.committed, self.off, "resumed after its committed records");
        assert_eq!(e.packets, records.len() as u64, "resumed segment's packets");
        if let (Some(first), Some(last)) = (records.first(), records.last()) {
            assert_eq!((e.first_ts, e.last_ts), (first.ts_ns, last.ts_ns));
        }
        assert_eq!(self.writer().stats.segments_overwritten, 0);
        report
    }

    /// Records of one logical segment (committed or not).
    fn seg_records(&self, seg_no: u64) -> Vec<Rec> {
        self.log
            .iter()
            .filter(|w| w.seg_no == seg_no)
            .map(|w| w.rec.clone())
            .collect()
    }

    /// Committed bytes of one logical segment, file header included.
    fn seg_committed_bytes(&self, seg_no: u64) -> u64 {
        HDR + self.log[..self.committed]
            .iter()
            .filter(|w| w.seg_no == seg_no)
            .map(|w| REC_HDR + w.rec.data.len() as u64)
            .sum::<u64>()
    }

    /// What a reader must return: committed records of the newest `segments` segments.
    fn expected(&self) -> Vec<Rec> {
        let oldest = (self.seg_no + 1).saturating_sub(self.g.segments as u64);
        self.log[..self.committed]
            .iter()
            .filter(|w| w.seg_no >= oldest)
            .map(|w| w.rec.clone())
            .collect()
    }
}

/// Writes `n` records with the next sequence numbers and sizes from `size`, committing after
/// every `burst` records (and after a final partial burst when `commit_tail`).
fn write_seq_records(
    ring: &mut Ring,
    n: usize,
    burst: usize,
    commit_tail: bool,
    size: impl Fn(u64) -> usize,
) {
    for k in 0..n {
        let len = size(ring.next_seq);
        ring.write_seq(len);
        if (k + 1).is_multiple_of(burst) {
            ring.commit();
        }
    }
    if commit_tail && !n.is_multiple_of(burst) {
        ring.commit();
    }
}

/// Writes committed bursts of 32 until the live segment is `seg_no` and holds at least
/// `fill` bytes (a burst is at most 32 x 9016 bytes, so this never overshoots a segment
/// when `fill + 288 KiB` fits).
fn fill_until(ring: &mut Ring, seg_no: u64, fill: u64) {
    while ring.seg_no < seg_no || ring.off < fill {
        write_seq_records(ring, 32, 32, true, size_for);
    }
    assert_eq!(ring.seg_no, seg_no, "filled past the segment aimed at");
}

// ---------------------------------------------------------------------------------------------
// Reading back, with the pcap-file crate as the oracle.

/// Export of a ring nobody writes concurrently: nothing raced, nothing torn.
fn export_quiet(ring_dir: &Path) -> Vec<Rec> {
    let (recs, stats) = export_records(ring_dir);
    assert_eq!(stats.read.raced, 0, "no writer raced this read");
    assert_eq!(stats.read.torn_bytes, 0, "no torn tail");
    recs
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("stat {}: {e}", p.display()))
        .len()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn umask() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .map(|v| u32::from_str_radix(v.trim(), 8).expect("octal umask"))
        .unwrap_or(0o022)
}

// ---------------------------------------------------------------------------------------------
// 1. Rotation and overwrite.

#[test]
fn rotation_overwrites_oldest_and_every_segment_is_a_valid_pcap() {
    let tmp = tempfile::tempdir().unwrap();
    let ring_dir = tmp.path().join("ring");
    let g = geom(3, MIB);
    let (mut ring, report) = Ring::create(&ring_dir, 0, g);
    assert_eq!(report.existing_segments, 0);
    assert_eq!(report.recovered_segments, 0);

    // Seven segments: 0..=6, the live one half full when closed.
    fill_until(&mut ring, 6, MIB / 2);
    let stats = ring.close();
    assert_eq!(stats.segments_sealed, 7, "every segment started was sealed");
    assert_eq!(
        stats.segments_overwritten, 4,
        "segments 3..=6 reused 0, 1, 2, 0"
    );
    assert_eq!(stats.segments_recovered, 0);
    assert_eq!(stats.write_errors, 0);
    assert_eq!(stats.packets, ring.log.len() as u64);
    let bytes: u64 = ring
        .log
        .iter()
        .map(|w| REC_HDR + w.rec.data.len() as u64)
        .sum();
    assert_eq!(stats.bytes, bytes);

    // Each retained segment, read by pcap-file and by the tools.
    let dir = ring.dir();
    for seg_no in 4..=6 {
        let path = ring.seg_file(seg_no);
        let want = ring.seg_records(seg_no);
        assert!(!want.is_empty());
        assert_same_records(
            &read_records_file(&path),
            &want,
            &path.display().to_string(),
        );
        assert_eq!(file_len(&path), ring.seg_committed_bytes(seg_no), "trimmed");
        assert_tools_accept(&path, want.len());
    }

    // The control file indexes them oldest first, sealed, with their counts and times.
    let entries = control_segments(&dir);
    assert_eq!(entries.len(), 3);
    for (e, seg_no) in entries.iter().zip(4..=6u64) {
        let want = ring.seg_records(seg_no);
        assert_eq!(e.seq, seg_no + 1);
        assert_eq!(e.index, ring.index_of(seg_no));
        assert_eq!(e.state, SegState::Sealed);
        assert_eq!(e.packets, want.len() as u64);
        assert_eq!(e.first_ts, want[0].ts_ns);
        assert_eq!(e.last_ts, want.last().unwrap().ts_ns);
        assert_eq!(e.committed, file_len(&ring.seg_file(seg_no)));
    }

    // Export: exactly the newest retained records, gap-free, in order, byte-identical.
    let got = export_quiet(&ring_dir);
    let want = ring.expected();
    let first = ring.log.iter().position(|w| w.seg_no == 4).unwrap() as u64;
    assert_eq!(
        seqs(&want),
        (first..ring.next_seq).collect::<Vec<_>>(),
        "model: retained = segments 4..=6, gap-free up to the last record"
    );
    assert_same_records(&got, &want, "export");

    // Permissions.
    let um = umask();
    assert_eq!(mode(&dir), 0o750 & !um, "worker dir mode");
    assert_eq!(mode(&dir.join("control")), 0o640 & !um, "control mode");
    for i in 0..3 {
        let p = current_path(&dir, i, SlotFile::Data);
        assert_eq!(mode(&p), 0o640 & !um, "{} mode", p.display());
    }
}

/// A segment recovered after a crash and then resumed, now sealed: the model's records for it
/// start with the recovered ones, its file (under its visible name again) starts with the
/// recovered bytes unchanged, it is trimmed to its committed length and is a complete pcap the
/// tools accept.
fn assert_resumed_segment(ring: &Ring, live: u64, recovered: &[Rec], recovered_bytes: &[u8]) {
    let live_path = &ring.seg_file(live);
    assert_eq!(
        *live_path,
        segment_path(&ring.dir(), ring.index_of(live)),
        "sealed: visible"
    );
    let want = ring.seg_records(live);
    assert_same_records(&want[..recovered.len()], recovered, "model");
    let bytes = std::fs::read(live_path).unwrap();
    assert_eq!(
        bytes.len() as u64,
        ring.seg_committed_bytes(live),
        "trimmed"
    );
    assert!(
        bytes[..recovered_bytes.len()] == *recovered_bytes,
        "recovered records byte-identical and first in their segment"
    );
    assert_same_records(&read_records_file(live_path), &want, "recovered segment");
    assert_tools_accept(live_path, want.len());
}

// ---------------------------------------------------------------------------------------------
// 2. Crash recovery.

#[test]
fn crash_keeps_committed_records_and_recovery_trims_the_torn_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let ring_dir = tmp.path().join("ring");
    let g = geom(3, MIB);
    let (mut ring, _) = Ring::create(&ring_dir, 0, g);

    fill_until(&mut ring, 1, MIB / 3);
    let live = ring.seg_no;
    let committed_bytes = ring.seg_committed_bytes(live);
    // More records, never committed, all in the live segment.
    write_seq_records(&mut ring, 10, 32, false, |s| 60 + (s % 140) as usize);
    assert_eq!(
        ring.seg_no, live,
        "uncommitted records stayed in the live segment"
    );
    let lost: Vec<u64> = ring.log[ring.committed..]
        .iter()
        .map(|w| w.rec.seq())
        .collect();
    assert_eq!(lost.len(), 10);
    ring.crash();

    // On disk: the live segment is still its full mapped size, the lost records after its
    // committed length, under its hidden name.
    let live_path = ring.seg_file(live);
    assert_ne!(
        live_path,
        segment_path(&ring.dir(), ring.index_of(live)),
        "live: hidden"
    );
    assert_eq!(
        file_len(&live_path),
        MIB,
        "live segment not trimmed by a crash"
    );
    let torn = std::fs::read(&live_path).unwrap();
    assert!(
        torn[committed_bytes as usize..].iter().any(|&b| b != 0),
        "the uncommitted records reached the file"
    );
    let entries = control_segments(&ring.dir());
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1].state, SegState::Live);
    assert_eq!(entries[1].committed, committed_bytes);

    // A reader honours the committed length of the live segment.
    let got = export_quiet(&ring_dir);
    assert_same_records(&got, &ring.expected(), "export after crash");
    assert!(seqs(&got).iter().all(|s| !lost.contains(s)));
    let recovered = ring.seg_records(live);
    let recovered_bytes = torn[..committed_bytes as usize].to_vec();

    // Recovery: the torn tail is cut off, the committed records kept byte for byte, and the
    // segment resumed (same seq, live again, mapped at its full size again).
    let report = ring.reopen();
    assert_eq!(report.recovered_segments, 1);
    assert_eq!(report.existing_segments, 2);
    assert_eq!(ring.writer().stats.segments_recovered, 1);
    assert_eq!(ring.off, committed_bytes);
    let resumed = std::fs::read(&live_path).unwrap();
    assert_eq!(
        resumed.len() as u64,
        MIB,
        "the resumed segment is mapped again"
    );
    assert!(
        resumed[..committed_bytes as usize] == recovered_bytes[..],
        "committed bytes kept as they were"
    );
    assert!(
        resumed[committed_bytes as usize..].iter().all(|&b| b == 0),
        "the torn tail was trimmed away, not resumed over"
    );
    assert_same_records(
        &read_records(&resumed[..committed_bytes as usize], "recovered segment"),
        &recovered,
        "recovered segment",
    );

    // New writes are appended to the recovered segment, after its committed records.
    write_seq_records(&mut ring, 40, 32, true, size_for);
    assert_eq!(ring.seg_no, live, "appended to the resumed segment");
    let entries = control_segments(&ring.dir());
    let states: Vec<_> = entries.iter().map(|e| (e.seq, e.index, e.state)).collect();
    assert_eq!(
        states,
        vec![(1, 0, SegState::Sealed), (2, 1, SegState::Live)],
        "nothing new started"
    );
    assert_eq!(entries[1].committed, ring.off);
    assert_same_records(
        &export_quiet(&ring_dir),
        &ring.expected(),
        "export of the resumed segment",
    );

    // Until it is full: then rotation continues into the next segment, as usual.
    fill_until(&mut ring, live + 1, MIB / 4);
    let next_path = ring.seg_file(live + 1);
    assert_ne!(next_path, live_path);
    assert_eq!(file_len(&next_path), MIB, "the new live segment");
    let entries = control_segments(&ring.dir());
    let states: Vec<_> = entries.iter().map(|e| (e.seq, e.index, e.state)).collect();
    assert_eq!(
        states,
        vec![
            (1, 0, SegState::Sealed),
            (2, 1, SegState::Sealed),
            (3, 2, SegState::Live)
        ]
    );
    let stats = ring.close();
    assert_eq!(stats.segments_overwritten, 0);
    assert_eq!(stats.segments_sealed, 2, "the resumed segment and the next");
    assert_eq!(stats.segments_recovered, 1);

    // The recovered segment: its committed records first and unchanged, then the new ones,
    // trimmed to its records; a complete pcap file.
    let want = ring.seg_records(live);
    assert!(want.len() > recovered.len() + 40);
    assert_resumed_segment(
        &ring,
        live,
        &recovered,
        &recovered_bytes[..committed_bytes as usize],
    );
    assert_tools_accept(&ring.seg_file(live + 1), ring.seg_records(live + 1).len());

    let got = export_quiet(&ring_dir);
    assert_same_records(&got, &ring.expected(), "export after recovery");
    assert!(seqs(&got).iter().all(|s| !lost.contains(s)));
    assert_eq!(seqs(&got)[0], 0, "nothing overwritten");
}

#[test]
fn crash_during_second_lap_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let ring_dir = tmp.path().join("ring");
    let g = geom(3, MIB);
    let (mut ring, _) = Ring::create(&ring_dir, 0, g);

    fill_until(&mut ring, 4, MIB / 3);
    let live = ring.seg_no;
    let committed_bytes = ring.seg_committed_bytes(live);
    write_seq_records(&mut ring, 20, 32, false, |s| 60 + (s % 300) as usize);
    assert_eq!(ring.seg_no, live);
    ring.crash();

    let live_path = ring.seg_file(live);
    assert_eq!(file_len(&live_path), MIB);
    assert_same_records(
        &export_quiet(&ring_dir),
        &ring.expected(),
        "export after crash in lap 2",
    );
    let recovered = ring.seg_records(live);
    let recovered_bytes = std::fs::read(&live_path).unwrap()[..committed_bytes as usize].to_vec();
    let before = control_segments(&ring.dir());

    let report = ring.reopen();
    assert_eq!(report.recovered_segments, 1);
    assert_eq!(report.existing_segments, 3);
    // The two older segments are untouched; the recovered one keeps its seq (5).
    let after = control_segments(&ring.dir());
    assert_eq!(after.len(), 3);
    assert_eq!(after[..2], before[..2]);
    assert_eq!(
        (after[2].seq, after[2].index),
        (live + 1, ring.index_of(live))
    );
    assert_eq!(after[2].committed, committed_bytes);

    // The resumed segment fills, then the ring moves on over its oldest segment.
    fill_until(&mut ring, live + 1, MIB / 4);
    let stats = ring.close();
    assert_eq!(
        stats.segments_overwritten, 1,
        "the oldest segment, not the recovered one"
    );
    assert_eq!(stats.segments_sealed, 2, "the resumed segment and the next");
    let entries = control_segments(&ring.dir());
    let states: Vec<_> = entries.iter().map(|e| (e.seq, e.index, e.state)).collect();
    assert_eq!(
        states,
        vec![
            (4, 0, SegState::Sealed),
            (5, 1, SegState::Sealed),
            (6, 2, SegState::Sealed)
        ]
    );

    let want = ring.seg_records(live);
    assert!(want.len() > recovered.len());
    assert_resumed_segment(
        &ring,
        live,
        &recovered,
        &recovered_bytes[..committed_bytes as usize],
    );
    for seg_no in [live - 1, live + 1] {
        assert_tools_accept(&ring.seg_file(seg_no), ring.seg_records(seg_no).len());
    }
    assert_same_records(
        &export_quiet(&ring_dir),
        &ring.expected(),
        "export after lap-2 recovery",
    );
}

#[test]
fn restarts_without_traffic_never_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let ring_dir = tmp.path().join("ring");
    let g = geom(3, MIB);
    let (mut ring, _) = Ring::create(&ring_dir, 0, g);
    fill_until(&mut ring, 1, MIB / 3);
    ring.close();
    let dir = ring.dir();
    let original = ring.expected();
    assert_eq!(seqs(&original), (0..ring.next_seq).collect::<Vec<_>>());
    let files = |dir: &Path| -> Vec<Vec<u8>> {
        (0..3)
            .map(|i| std::fs::read(current_path(dir, i, SlotFile::Data)).unwrap())
            .collect()
    };
    let files_before = files(&dir);
    let control_before = control_segments(&dir);

    // Clean restarts.
    for k in 0..10 {
        let report = ring.reopen();
        assert_eq!(report.existing_segments, 2, "restart {k}");
        assert_eq!(report.recovered_segments, 0, "restart {k}");
        let stats = ring.close();
        assert_eq!(stats.segments_overwritten, 0, "restart {k}");
        assert_eq!(stats.segments_sealed, 1, "restart {k}: the resumed segment");
        assert_eq!(stats.packets, 0, "restart {k}");
        assert_eq!(files(&dir), files_before, "restart {k}: files unchanged");
        assert_eq!(control_segments(&dir), control_before, "restart {k}");
    }
    assert_same_records(&export_quiet(&ring_dir), &original, "after clean restarts");

    // A crash loop: opened, killed before any traffic.
    for k in 0..10 {
        let report = ring.reopen();
        assert_eq!(report.existing_segments, 2, "crash {k}");
        assert_eq!(report.recovered_segments, u32::from(k > 0), "crash {k}");
        assert_eq!(ring.seg_no, 1, "crash {k}: still the second segment");
        ring.crash();
        assert_same_records(
            &export_quiet(&ring_dir),
            &original,
            &format!("after crash {k}"),
        );
    }

    // A last clean run recovers and seals: the ring is as it was after the first session.
    let report = ring.reopen();
    assert_eq!(report.recovered_segments, 1);
    let stats = ring.close();
    assert_eq!(stats.segments_overwritten, 0);
    assert_eq!(stats.segments_recovered, 1);
    assert_same_records(&export_quiet(&ring_dir), &original, "after the crash loop");
    assert_eq!(files(&dir), files_before, "files unchanged");
    assert_eq!(control_segments(&dir), control_before, "control unchanged");
    assert_eq!(
        control_segments(&dir)
            .iter()
            .map(|e| e.seq)
            .collect::<Vec<_>>(),
        vec![1, 2],
        "the third segment was never started"
    );
    for seg_no in 0..3 {
        let path = ring.seg_file(seg_no);
        let want = ring.seg_records(seg_no);
        assert_same_records(
            &read_records_file(&path),
            &want,
            &path.display().to_string(),
        );
        assert_tools_accept(&path, want.len());
    }
}

#[test]
fn crash_while_resuming_resumes_at_the_committed_length() {
    // `RingWriter::resume` extends the newest segment to its full size before it marks the
    // segment live again: a kill -9 between the two leaves a sealed segment whose file is
    // longer than its committed length (zeros after the records). Simulated here by
    // extending the file as `resume` does. The next open must still resume after the
    // committed records, not after the zeros.
    let tmp = tempfile::tempdir().unwrap();
    let ring_dir = tmp.path().join("ring");
    let (mut ring, _) = Ring::create(&ring_dir, 0, geom(3, MIB));
    fill_until(&mut ring, 1, MIB / 3);
    ring.close();
    let original = ring.expected();
    let seg1 = ring.seg_file(1);
    let committed = ring.seg_committed_bytes(1);
    assert_eq!(file_len(&seg1), committed);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg1)
        .unwrap()
        .set_len(MIB)
        .unwrap();
    let entries = control_segments(&ring.dir());
    assert_eq!(
        (entries[1].state, entries[1].committed),
        (SegState::Sealed, committed)
    );

    let (w, _) = RingWriter::open(&ring_dir, 0, ring.g).expect("reopen");
    ring.w = Some(w);
    let e = control_segments(&ring.dir())[1];
    assert_eq!(
        e.committed, committed,
        "BUG crates/ring/src/writer/mod.rs RingWriter::resume: resumes at the file's length ({} bytes) \
         instead of the segment's committed length ({committed}); the zeros after the records \
         were published as committed. Fix: off = snap.committed (clamped to the file header \
         and the file length), and store E_STATE Live before extending the file",
        e.committed
    );
    ring.off = committed;
    write_seq_records(&mut ring, 10, 10, true, size_for);
    ring.close();
    let want = ring.seg_records(1);
    assert_same_records(&read_records_file(&seg1), &want, "resumed segment");
    assert_tools_accept(&seg1, want.len());
    let got = export_quiet(&ring_dir);
    assert_same_records(&got[..original.len()], &original, "original records");
    assert_same_records(&got, &ring.expected(), "export");
}

/// Writes committed records into the live segment until exactly `free` bytes are left in it
/// (`free` must be 0 or at least 76, room for a 60-byte frame).
fn fill_leaving(ring: &mut Ring, free: u64) {
    let seg_no = ring.seg_no;
    let target = ring.g.segment_size - free;
    while ring.off < target {
        let gap = target - ring.off;
        let len = if gap <= REC_HDR + 9000 {
            gap - REC_HDR
        } else {
            // Leave at least 16 + 60 bytes for the last record.
            (gap - REC_HDR - (REC_HDR + 60)).min(9000)
        };
        ring.write_seq(len as usize);
        ring.commit();
    }
    assert_eq!((ring.seg_no, ring.off), (seg_no, target));
}

#[test]
fn resuming_a_nearly_full_segment_rotates_on_the_next_write() {
    let tmp = tempfile::tempdir().unwrap();
    let g = geom(3, MIB);

    // Resumed with 100 bytes free: a record of 101 bytes (16 + 85) goes to the next segment,
    // whole, and the resumed segment is sealed exactly as it was.
    let ring_dir = tmp.path().join("ring1");
    let (mut ring, _) = Ring::create(&ring_dir, 0, g);
    fill_leaving(&mut ring, 100);
    ring.close();
    let seg0 = ring.seg_file(0);
    let seg0_bytes = std::fs::read(&seg0).unwrap();
    assert_eq!(seg0_bytes.len() as u64, MIB - 100);
    ring.reopen();
    assert_eq!(ring.off, MIB - 100);
    let seq = ring.write_seq(85);
    ring.commit();
    assert_eq!(ring.seg_no, 1, "the model rotated");
    assert_eq!(ring.log.last().unwrap().rec.seq(), seq);
    assert_eq!(
        std::fs::read(&seg0).unwrap(),
        seg0_bytes,
        "resumed segment sealed trimmed exactly to its records"
    );
    let entries = control_segments(&ring.dir());
    let e: Vec<_> = entries
        .iter()
        .map(|e| (e.seq, e.index, e.state, e.committed, e.packets))
        .collect();
    let n0 = ring.seg_records(0).len() as u64;
    assert_eq!(
        e,
        vec![
            (1, 0, SegState::Sealed, MIB - 100, n0),
            (2, 1, SegState::Live, HDR + REC_HDR + 85, 1)
        ]
    );
    let stats = ring.close();
    assert_eq!(stats.segments_sealed, 2);
    assert_eq!(stats.segments_overwritten, 0);
    for seg_no in 0..2 {
        let path = ring.seg_file(seg_no);
        let want = ring.seg_records(seg_no);
        assert_same_records(
            &read_records_file(&path),
            &want,
            &path.display().to_string(),
        );
        assert_eq!(file_len(&path), ring.seg_committed_bytes(seg_no));
        assert_tools_accept(&path, want.len());
    }
    assert_eq!(
        seqs(&ring.seg_records(1)),
        vec![seq],
        "the record is whole, in segment 1"
    );
    assert_same_records(
        &export_quiet(&ring_dir),
        &ring.expected(),
        "export (slack 100)",
    );

    // Resumed with 100 bytes free, a record of exactly 100 bytes fills it to the byte; then
    // a ring resumed on a full segment rotates on its first write.
    let ring_dir = tmp.path().join("ring2");
    let (mut ring, _) = Ring::create(&ring_dir, 0, g);
    fill_leaving(&mut ring, 100);
    ring.close();
    ring.reopen();
    ring.write_seq(84);
    assert_eq!((ring.seg_no, ring.off), (0, MIB), "fits exactly");
    ring.close();
    let seg0 = ring.seg_file(0);
    assert_eq!(
        file_len(&seg0),
        MIB,
        "a full segment, trimmed to MIB exactly"
    );
    let seg0_bytes = std::fs::read(&seg0).unwrap();
    assert_same_records(
        &read_records_file(&seg0),
        &ring.seg_records(0),
        "full segment",
    );
    ring.reopen();
    assert_eq!(ring.off, MIB);
    let seq = ring.write_seq(60);
    ring.commit();
    assert_eq!((ring.seg_no, ring.off), (1, HDR + REC_HDR + 60));
    assert_eq!(
        std::fs::read(&seg0).unwrap(),
        seg0_bytes,
        "full segment unchanged"
    );
    let stats = ring.close();
    assert_eq!(stats.segments_sealed, 2);
    assert_eq!(stats.segments_overwritten, 0);
    for seg_no in 0..2 {
        let path = ring.seg_file(seg_no);
        let want = ring.seg_records(seg_no);
        assert_same_records(
            &read_records_file(&path),
            &want,
            &path.display().to_string(),
        );
        assert_tools_accept(&path, want.len());
    }
    assert_eq!(seqs(&ring.seg_records(1)), vec![seq]);
    assert_same_records(&export_quiet(&ring_dir), &ring.expected(), "export (full)");
}

// ---------------------------------------------------------------------------------------------
// 3. Reopen after a clean close.

#[test]
fn reopen_after_close_continues_the_ring() {
    let tmp = tempfile::tempdir().unwrap();
    let ring_dir = tmp.path().join("ring");
    let g = geom(4, MIB);
    let (mut ring, _) = Ring::create(&ring_dir, 0, g);
    fill_until(&mut ring, 1, MIB / 2);
    ring.close();
    let first_session_end = ring.next_seq;
    let seg1 = ring.seg_file(1);
    let seg1_first = std::fs::read(&seg1).unwrap();
    let seg1_first_recs = ring.seg_records(1);

    let report = ring.reopen();
    assert_eq!(report.existing_segments, 2);
    assert_eq!(report.recovered_segments, 0);
    assert_eq!(ring.seg_no, 1, "the second segment is resumed");
    // On into the second segment, a third and a fourth, then over the first.
    fill_until(&mut ring, 4, MIB / 4);
    let stats = ring.close();
    assert_eq!(
        stats.segments_sealed, 4,
        "the resumed segment, then 2, 3 and 4"
    );
    assert_eq!(stats.segments_overwritten, 1);

    // The resumed segment holds the first session's records, byte-identical, then the second's.
    let want1 = ring.seg_records(1);
    let split = seg1_first_recs.len();
    assert!(
        want1.len() > split,
        "the second session appended to segment 1"
    );
    assert!(want1[..split].iter().all(|r| r.seq() < first_session_end));
    assert!(want1[split..].iter().all(|r| r.seq() >= first_session_end));
    let bytes = std::fs::read(&seg1).unwrap();
    assert_eq!(bytes.len() as u64, ring.seg_committed_bytes(1), "trimmed");
    assert!(
        bytes[..seg1_first.len()] == seg1_first[..],
        "first session's bytes unchanged"
    );
    assert_same_records(&read_records_file(&seg1), &want1, "resumed segment");
    let entries = control_segments(&ring.dir());
    let states: Vec<_> = entries.iter().map(|e| (e.seq, e.index, e.state)).collect();
    assert_eq!(
        states,
        vec![
            (2, 1, SegState::Sealed),
            (3, 2, SegState::Sealed),
            (4, 3, SegState::Sealed),
            (5, 0, SegState::Sealed)
        ],
        "seq 2 kept by the resumed segment"
    );
    assert_eq!(entries[0].packets, want1.len() as u64);
    assert_eq!(entries[0].first_ts, want1[0].ts_ns);
    assert_eq!(entries[0].last_ts, want1.last().unwrap().ts_ns);
    for seg_no in 1..=4 {
        assert_tools_accept(&ring.seg_file(seg_no), ring.seg_records(seg_no).len());
    }

    let got = export_quiet(&ring_dir);
    let want = ring.expected();
    let first = ring.log.iter().position(|w| w.seg_no == 1).unwrap() as u64;
    assert!(first < first_session_end, "both sessions retained");
    assert_eq!(seqs(&want), (first..ring.next_seq).collect::<Vec<_>>());
    assert_same_records(&got, &want, "export across two sessions");
}

// ---------------------------------------------------------------------------------------------
// 4. Geometry.

#[test]
fn geometry_mismatch_is_refused_without_touching_the_ring() {
    let tmp = tempfile::tempdir().unwrap();
    let ring_dir = tmp.path().join("ring");
    let (mut ring, _) = Ring::create(&ring_dir, 0, geom(3, MIB));
    write_seq_records(&mut ring, 50, 32, true, size_for);
    ring.close();
    let before = export_quiet(&ring_dir);
    let control_before = std::fs::read(ring.dir().join("control")).unwrap();
    let seg0_before = std::fs::read(segment_path(&ring.dir(), 0)).unwrap();

    for (other, asked) in [
        (geom(4, MIB), "asked for 4 of 1048576"),
        (geom(3, 2 * MIB), "asked for 3 of 2097152"),
    ] {
        let err = match RingWriter::open(&ring_dir, 0, other) {
            Ok(_) => panic!("{other:?} opened a ring of 3 x 1 MiB"),
            Err(e) => e,
        };
        let RingError::Config(msg) = &err else {
            panic!("expected a Config error, got {err:?}");
        };
        assert!(msg.contains("3 segments of 1048576 bytes"), "{msg}");
        assert!(msg.contains(asked), "{msg}");
        assert!(msg.contains("use another --ring-dir"), "{msg}");
        assert!(msg.contains(&ring.dir().display().to_string()), "{msg}");
    }

    assert_eq!(
        std::fs::read(ring.dir().join("control")).unwrap(),
        control_before
    );
    assert_eq!(
        std::fs::read(segment_path(&ring.dir(), 0)).unwrap(),
        seg0_before
    );
    assert!(!segment_path(&ring.dir(), 3).exists());
    assert_same_records(&export_quiet(&ring_dir), &before, "export after refusals");
}

#[test]
fn invalid_geometry_is_refused_naming_the_flag() {
    let bad = [
        (geom(1, MIB), "--segments"),
        (geom(0, MIB), "--segments"),
        (geom(Geometry::MAX_SEGMENTS + 1, MIB), "--segments"),
        (geom(3, 4096), "--segment-size"),
        (geom(3, MIB - 1), "--segment-size"),
        (geom(3, Geometry::MAX_SEGMENT_SIZE + 1), "--segment-size"),
    ];
    for (g, flag) in bad {
        let msg = g.validate().expect_err("invalid geometry accepted");
        assert!(msg.contains(flag), "{g:?}: {msg}");
    }
    for g in [
        geom(2, MIB),
        geom(Geometry::MAX_SEGMENTS, Geometry::MAX_SEGMENT_SIZE),
    ] {
        assert_eq!(g.validate(), Ok(()), "{g:?}");
    }

    // The writer refuses them before creating anything.
    let tmp = tempfile::tempdir().unwrap();
    let ring_dir = tmp.path().join("ring");
    for g in [geom(1, MIB), geom(3, 4096)] {
        match RingWriter::open(&ring_dir, 0, g) {
            Err(RingError::Config(msg)) => assert!(msg.contains("--segment"), "{msg}"),
            Err(e) => panic!("{g:?}: expected Config, got {e:?}"),
            Ok(_) => panic!("{g:?} accepted"),
        }
    }
    assert!(!ring_dir.exists(), "nothing created for a refused geometry");
}

// ---------------------------------------------------------------------------------------------
// 5. Environment errors.

fn expect_io(r: Result<impl Sized, RingError>, path: &Path, what: &str) -> String {
    let err = match r {
        Ok(_) => panic!("{what}: succeeded"),
        Err(e) => e,
    };
    let msg = err.to_string();
    match &err {
        RingError::Io { path: p, .. } => assert_eq!(p, path, "{what}: {msg}"),
        other => panic!("{what}: expected an Io error, got {other:?}"),
    }
    assert!(msg.contains(&path.display().to_string()), "{what}: {msg}");
    msg
}

#[test]
fn environment_errors_name_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let g = geom(2, MIB);

    // The ring directory is a regular file.
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let msg = expect_io(
        RingWriter::open(&file, 0, g),
        &worker_dir(&file, 0),
        "ring dir is a file",
    );
    assert!(msg.contains("Not a directory"), "{msg}");
    expect_io(
        export_pcap(&file, &mut Vec::new()),
        &file,
        "export of a file",
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        b"x",
        "the file is left alone"
    );

    // The worker directory is a regular file.
    let ring_dir = tmp.path().join("ring1");
    std::fs::create_dir(&ring_dir).unwrap();
    std::fs::write(worker_dir(&ring_dir, 0), b"x").unwrap();
    expect_io(
        RingWriter::open(&ring_dir, 0, g),
        &worker_dir(&ring_dir, 0),
        "worker dir is a file",
    );

    // A segment path is a directory.
    let ring_dir = tmp.path().join("ring2");
    let seg1 = segment_path(&worker_dir(&ring_dir, 0), 1);
    std::fs::create_dir_all(&seg1).unwrap();
    expect_io(
        RingWriter::open(&ring_dir, 0, g),
        &seg1,
        "segment is a directory",
    );

    // Export of a missing ring, and of a directory that is no ring.
    let missing = tmp.path().join("missing");
    expect_io(
        export_pcap(&missing, &mut Vec::new()),
        &missing,
        "export of a missing ring",
    );
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    match export_pcap(&empty, &mut Vec::new()) {
        Err(RingError::Config(msg)) => assert!(msg.contains("not a mirrorcap ring"), "{msg}"),
        other => panic!("export of an empty dir: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Two workers.

#[test]
fn export_merges_workers_by_timestamp_worker_zero_first_on_ties() {
    let tmp = tempfile::tempdir().unwrap();
    let ring_dir = tmp.path().join("ring");
    let g = geom(2, MIB);
    let (mut w0, _) = Ring::create(&ring_dir, 0, g);
    let (mut w1, _) = Ring::create(&ring_dir, 1, g);

    // Timestamps on a coarse grid so both workers often share one, and one worker often
    // repeats one; never decreasing within a worker. Sequence numbers tell workers apart.
    let mut tagged: Vec<(u64, usize, Rec)> = Vec::new();
    let (mut t0, mut t1) = (BASE_TS, BASE_TS);
    for i in 0..1000u64 {
        for (worker, ring, t) in [(0usize, &mut w0, &mut t0), (1, &mut w1, &mut t1)] {
            *t += (mix(i * 2 + worker as u64) % 3) * 1000;
            let seq = ((worker as u64) << 32) | i;
            let data = frame(seq, 60 + (mix(seq) % 4000) as usize);
            ring.write(*t, data);
            if i % 16 == 15 {
                ring.commit();
            }
        }
    }
    w0.close();
    w1.close();
    for ring in [&w0, &w1] {
        assert!(ring.seg_no >= 1, "each worker rotated at least once");
        for r in ring.expected() {
            tagged.push((r.ts_ns, ring.worker, r));
        }
    }
    let ties = tagged
        .iter()
        .filter(|(ts, w, _)| *w == 0 && tagged.iter().any(|(t2, w2, _)| t2 == ts && *w2 == 1))
        .count();
    assert!(ties > 10, "the data has cross-worker ties ({ties})");

    // BinaryHeap<Reverse<(ts, worker)>>: by timestamp, then worker number, and in write
    // order within a worker (a stable sort of worker 0's then worker 1's records).
    tagged.sort_by_key(|(ts, w, _)| (*ts, *w));
    let want: Vec<Rec> = tagged.into_iter().map(|(_, _, r)| r).collect();
    let (got, stats) = export_records(&ring_dir);
    assert_eq!(stats.workers, 2);
    assert_same_records(&got, &want, "merged export");
}

// ---------------------------------------------------------------------------------------------
// 7. Reading a live ring.

#[test]
fn export_of_a_live_ring_sees_exactly_the_committed_records() {
    let tmp = tempfile::tempdir().unwrap();
    let ring_dir = tmp.path().join("ring");
    let (mut ring, _) = Ring::create(&ring_dir, 0, geom(3, MIB));

    write_seq_records(&mut ring, 100, 32, true, size_for);
    assert_eq!(export_quiet(&ring_dir).len(), 100);
    assert_same_records(&export_quiet(&ring_dir), &ring.expected(), "live, 100");

    // Written but not committed: invisible.
    write_seq_records(&mut ring, 30, 64, false, size_for);
    assert_same_records(&export_quiet(&ring_dir), &ring.expected(), "uncommitted");
    assert_eq!(ring.expected().len(), 100);
    ring.commit();
    assert_same_records(&export_quiet(&ring_dir), &ring.expected(), "live, 130");
    assert_eq!(ring.expected().len(), 130);

    // Across rotations and an overwrite, still open.
    fill_until(&mut ring, 3, MIB / 4);
    let got = export_quiet(&ring_dir);
    assert_same_records(&got, &ring.expected(), "live after a lap");
    let stats = ring.close();
    assert_eq!(stats.segments_overwritten, 1);
    assert_same_records(&export_quiet(&ring_dir), &got, "same after close");
}

#[test]
fn export_while_a_writer_thread_laps_the_ring_returns_no_torn_records() {
    let tmp = tempfile::tempdir().unwrap();
    let ring_dir = tmp.path().join("ring");
    let (ring, _) = Ring::create(&ring_dir, 0, geom(2, MIB));
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut ring = ring;
            // About 12 laps of small and large frames.
            write_seq_records(&mut ring, 12_000, 32, true, |s| {
                60 + (mix(s) % 3400) as usize
            });
            ring.close();
            done.store(true, Ordering::Release);
            ring
        })
    };

    let mut exports = 0;
    let mut seen = 0;
    while !done.load(Ordering::Acquire) || exports < 3 {
        let (got, _) = export_records(&ring_dir);
        exports += 1;
        seen += got.len();
        let mut prev = None;
        for r in &got {
            let s = r.seq();
            assert!(prev < Some(s), "export {exports}: seq {s} after {prev:?}");
            prev = Some(s);
            let want = frame(s, 60 + (mix(s) % 3400) as usize);
            assert!(
                r.data == want && r.ts_ns == ts_for(s) && r.orig_len == want.len() as u32,
                "export {exports}: record seq {s} torn ({} bytes)",
                r.data.len()
            );
        }
    }
    let ring = writer.join().expect("writer thread");
    assert!(seen > 0);
    assert_same_records(&export_quiet(&ring_dir), &ring.expected(), "final export");
}

// ---------------------------------------------------------------------------------------------
// A frame longer than the snapshot length in the file header.

#[test]
fn frame_longer_than_snaplen_does_not_hide_later_records() {
    let tmp = tempfile::tempdir().unwrap();
    let ring_dir = tmp.path().join("ring");
    let (mut w, _) = RingWriter::open(&ring_dir, 0, geom(2, MIB)).unwrap();
    let big = frame(1, SNAPLEN as usize + 1000);
    assert!(w.write(ts_for(0), &frame(0, 100), 100));
    assert!(
        w.write(ts_for(1), &big, big.len() as u32),
        "a long frame is cut, not refused"
    );
    assert!(w.write(ts_for(2), &frame(2, 100), 100));
    let stats = w.close().unwrap();
    assert_eq!(stats.packets, 3);
    assert_eq!(
        stats.bytes,
        3 * REC_HDR + 100 + SNAPLEN as u64 + 100,
        "the long frame stored as SNAPLEN bytes"
    );

    let (got, stats) = export_records(&ring_dir);
    assert_eq!(
        stats.read.torn_bytes, 0,
        "records after the long frame were lost"
    );
    assert_eq!(stats.read.raced, 0);
    let want = vec![
        Rec {
            ts_ns: ts_for(0),
            orig_len: 100,
            data: frame(0, 100),
        },
        Rec {
            ts_ns: ts_for(1),
            orig_len: big.len() as u32,
            data: big[..SNAPLEN as usize].to_vec(),
        },
        Rec {
            ts_ns: ts_for(2),
            orig_len: 100,
            data: frame(2, 100),
        },
    ];
    assert_eq!(
        got[1].data.len(),
        SNAPLEN as usize,
        "cut to SNAPLEN exactly"
    );
    assert_eq!(
        got[1].orig_len,
        SNAPLEN + 1000,
        "orig_len keeps the full length"
    );
    assert_same_records(&got, &want, "export");
    let seg0 = segment_path(&worker_dir(&ring_dir, 0), 0);
    assert_same_records(&read_records_file(&seg0), &want, "segment 0");
    assert_tools_accept(&seg0, 3);
}

// ---------------------------------------------------------------------------------------------
// 8. Property: what was committed and is retained comes back byte-identical.

#[derive(Clone, Copy, Debug)]
enum End {
    Close,
    Crash,
    CrashReopenWrite,
}

fn check_property(segments: u32, sizes: &[usize], burst: usize, end: End) {
    let tmp = tempfile::tempdir().unwrap();
    let ring_dir = tmp.path().join("ring");
    let (mut ring, _) = Ring::create(&ring_dir, 0, geom(segments, MIB));
    for chunk in sizes.chunks(burst) {
        for &len in chunk {
            ring.write_seq(len);
        }
        // A partial last burst stays uncommitted until close (or is lost in a crash).
        if chunk.len() == burst {
            ring.commit();
        }
    }
    match end {
        End::Close => {
            let stats = ring.close();
            assert_eq!(stats.segments_sealed, ring.seg_no + 1);
            assert_eq!(
                stats.segments_overwritten,
                (ring.seg_no + 1).saturating_sub(segments as u64)
            );
        }
        End::Crash => ring.crash(),
        End::CrashReopenWrite => {
            ring.crash();
            assert_same_records(
                &export_quiet(&ring_dir),
                &ring.expected(),
                "before recovery",
            );
            let report = ring.reopen();
            assert_eq!(report.recovered_segments, 1);
            write_seq_records(&mut ring, 100, burst, false, size_for);
            ring.close();
        }
    }
    assert_same_records(&export_quiet(&ring_dir), &ring.expected(), "export");
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 16,
        failure_persistence: None,
        max_shrink_iters: 64,
        ..ProptestConfig::default()
    })]

    #[test]
    fn committed_and_retained_records_come_back_byte_identical(
        segments in 2u32..=4,
        sizes in prop::collection::vec(60usize..=9000, 1..900),
        burst in 1usize..=64,
        end in prop_oneof![Just(End::Close), Just(End::Crash), Just(End::CrashReopenWrite)],
    ) {
        check_property(segments, &sizes, burst, end);
    }
}
