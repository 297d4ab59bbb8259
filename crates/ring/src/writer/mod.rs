//! One worker's ring writer: appends pcap records into the live, memory-mapped segment,
//! publishes the committed length after each burst, and rotates to the next segment
//! (overwriting the oldest) when the live one is full.
//!
//! Opening a ring that already exists continues it: a segment left live by a crash is trimmed
//! to its committed length, and writing resumes at the end of the newest segment, so restarts
//! (even a crash loop) never overwrite what the ring holds.
//!
//! A segment's files have their visible names only while it is sealed and trimmed (see
//! `layout`): the trim shows them, making a segment writable again (extending it) hides them
//! first, and `open` names every slot after its control entry.
//!
//! With [`RingOptions::background`] the file work of rotation runs on a helper thread and the
//! next segment is prepared ahead of need (see `maintainer/`), so a rotation on the worker
//! is memory stores and atomics only.
use super::layout::*;
use super::maintainer::{BackgroundStats, Maintainer, Prep, Segment, Shared, SlotDir};
use super::mmap::{reserve, ControlMap, SegmentMap};
use super::pcapfmt::{file_header, RecordHeader, FILE_HEADER_LEN, RECORD_HEADER_LEN, SNAPLEN};
use super::reader::parse_records;
use super::record_meta::{RecordMeta, META_LEN};
use super::RingError;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;

mod open;
mod options;

pub use options::{OpenReport, RingOptions, RingPolicy, RingStats};

pub struct RingWriter {
    dir: PathBuf,
    geometry: Geometry,
    control: ControlMap,
    /// Every segment (file, mapping, mapped once at open) in a cell it is taken out of while
    /// worked on, shared with the helper thread.
    shared: Arc<Shared>,
    /// The live segment, held out of its cell while `live`.
    seg: Option<Box<Segment>>,
    cur: usize,
    /// Every segment's index file (one metadata word per record), mapped once at open; full
    /// size and reserved for the ring's lifetime.
    index_maps: Vec<SegmentMap>,
    /// Records one segment's index holds.
    index_cap: u64,
    /// Whether `cur` is being written (extended to full size).
    live: bool,
    /// Bytes written into the live segment (file header included).
    off: usize,
    seq: u64,
    first_ts: u64,
    last_ts: u64,
    seg_packets: u64,
    failed: bool,
    policy: RingPolicy,
    /// Set once a Stop-policy ring is full: every later record is refused.
    stopped: bool,
    /// The helper thread, with [`RingOptions::background`].
    helper: Option<Maintainer>,
    pub stats: RingStats,
}

fn io_err(op: &str, path: &Path, e: std::io::Error) -> RingError {
    RingError::Io {
        op: op.to_string(),
        path: path.to_path_buf(),
        source: e,
    }
}

fn open_rw(path: &Path, create: bool) -> Result<File, RingError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .mode(0o640)
        .open(path)
        .and_then(|f| crate::group_access::adopt(&f, path).map(|()| f))
        .map_err(|e| io_err("open", path, e))
}

impl RingWriter {
    /// The helper thread's counters (None without [`RingOptions::background`], or after
    /// `close`).
    pub fn background_stats(&self) -> Option<BackgroundStats> {
        self.helper.as_ref().map(|_| self.shared.stats())
    }

    /// Takes segment `i` out of its cell. It is out only while the helper thread does one
    /// step of work on it (a trim, an extend, 1 MiB of pre-fault): wait for that.
    #[inline]
    fn claim(&self, i: usize) -> Box<Segment> {
        loop {
            if let Some(seg) = self.shared.cells[i].take() {
                return seg;
            }
            std::hint::spin_loop();
        }
    }

    /// Puts segment `i` back in its cell (taken out by [`claim`](Self::claim)).
    #[inline]
    fn release(&self, i: usize, seg: Box<Segment>) {
        if self.shared.cells[i].put(seg).is_err() {
            unreachable!("segment {i} was put back twice");
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Starts writing segment `i`: bumps its seq before touching its bytes, so a reader that
    /// read the old contents sees the change and discards them. Returns whether the helper
    /// thread had prepared it: then this is memory stores and atomics only (no syscall, no
    /// allocation, no lock).
    fn activate(&mut self, i: usize) -> Result<bool, RingError> {
        let mut seg = self.claim(i);
        // Extends the file unless the helper did (or it still has its full size). First, so a
        // failure (no space to reserve its blocks again) leaves the control file and `seq` as
        // they were and the activation can be retried: the file only grows with zeros after
        // the committed records, which readers never read and `open` trims after a kill.
        let ready = match seg.make_writable() {
            Ok(ready) => ready,
            Err(err) => {
                self.release(i, seg);
                return Err(err);
            }
        };
        let words = self.control.words();
        let e = Entry::of(words, i).expect("segment index in range");
        if e.load(E_SEQ, Ordering::Relaxed) != 0 {
            self.stats.segments_overwritten += 1;
        }
        self.seq += 1;
        // committed = 0 before the new seq (release): a reader that sees the new seq sees no
        // old committed length with it. The fence then orders the seq before the data writes
        // (a reader that read any new byte sees the new seq on its re-check).
        e.store(E_STATE, SegState::Live as u64, Ordering::Relaxed);
        e.store(E_COMMITTED, 0, Ordering::Relaxed);
        e.store(E_FIRST_TS, 0, Ordering::Relaxed);
        e.store(E_LAST_TS, 0, Ordering::Relaxed);
        e.store(E_PACKETS, 0, Ordering::Relaxed);
        e.store(E_SEQ, self.seq, Ordering::Release);
        fence(Ordering::Release);
        seg.prep = Prep::Live;
        seg.written = true;
        seg.map.bytes_mut()[..FILE_HEADER_LEN].copy_from_slice(&file_header());
        self.seg = Some(seg);
        self.live = true;
        self.cur = i;
        self.off = FILE_HEADER_LEN;
        self.first_ts = 0;
        self.last_ts = 0;
        self.seg_packets = 0;
        e.store(E_COMMITTED, FILE_HEADER_LEN as u64, Ordering::Release);
        self.shared.live_seq.store(self.seq, Ordering::Release);
        Ok(ready)
    }

    /// Continues the sealed segment `i` (the newest) after its last record. Its `seq` stays:
    /// bytes already committed do not change, so a reader's copy of them stays valid.
    fn resume(&mut self, i: usize) -> Result<(), RingError> {
        let e = Entry::of(self.control.words(), i).expect("segment index in range");
        let snap = e.snapshot(i);
        let mut seg = self.claim(i);
        let Prep::Trimmed { len, .. } = seg.prep else {
            unreachable!("segments are trimmed at open")
        };
        // Continue after the committed records (never after whatever the file holds), and
        // mark the segment live before extending it, so a crash in between is recovered by
        // trimming to the committed length.
        let off = snap
            .committed
            .clamp(FILE_HEADER_LEN as u64, len.max(FILE_HEADER_LEN as u64));
        e.store(E_STATE, SegState::Live as u64, Ordering::Release);
        if let Err(err) = seg.make_writable() {
            self.release(i, seg);
            return Err(err);
        }
        seg.prep = Prep::Live;
        self.seg = Some(seg);
        self.shared.live_seq.store(snap.seq, Ordering::Release);
        self.live = true;
        self.cur = i;
        self.off = off as usize;
        self.first_ts = snap.first_ts;
        self.last_ts = snap.last_ts;
        self.seg_packets = snap.packets;
        self.commit();
        Ok(())
    }

    /// Ends the live segment: publishes what it holds, trims the file to its records and
    /// shows it under its visible name (so pcap readers see a complete file) and keeps its
    /// disk blocks reserved. With the helper
    /// thread, the trim is left to it (memory stores and atomics only here): until then the
    /// file keeps its full size, zeros after the committed records, which `open` trims
    /// after a kill.
    fn seal(&mut self) -> Result<(), RingError> {
        if !self.live {
            return Ok(());
        }
        self.commit();
        self.live = false;
        self.shared.live_seq.store(0, Ordering::Release);
        let mut seg = self.seg.take().expect("the live segment is held");
        let e = Entry::of(self.control.words(), self.cur).expect("segment index in range");
        if self.helper.is_some() {
            seg.prep = Prep::Sealed {
                seq: self.seq,
                len: self.off as u64,
            };
            e.store(E_STATE, SegState::Sealed as u64, Ordering::Release);
            self.release(self.cur, seg);
            self.shared.sealed_seq.store(self.seq, Ordering::Release);
        } else {
            let trimmed = seg.trim(self.off as u64);
            self.release(self.cur, seg);
            trimmed?;
            e.store(E_STATE, SegState::Sealed as u64, Ordering::Release);
        }
        self.stats.segments_sealed += 1;
        Ok(())
    }

    /// Sets what happens when the ring is full (default: overwrite the oldest segment).
    pub fn set_policy(&mut self, policy: RingPolicy) {
        self.policy = policy;
        self.shared
            .stop_policy
            .store(policy == RingPolicy::Stop, Ordering::Relaxed);
    }

    /// Whether a Stop-policy ring is full and refusing records.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    fn rotate(&mut self) -> Result<(), RingError> {
        self.seal()?;
        let next = (self.cur + 1) % self.geometry.segments as usize;
        let used = Entry::of(self.control.words(), next)
            .is_some_and(|e| e.load(E_SEQ, Ordering::Relaxed) != 0);
        if used && self.policy == RingPolicy::Stop {
            self.stopped = true;
            return Ok(());
        }
        let ready = match self.activate(next) {
            Ok(ready) => ready,
            Err(e) => {
                // The helper retries preparing it; the worker picks it up once it is ready
                // (see `retry_rotation`).
                self.shared.retry_ready.store(false, Ordering::Relaxed);
                self.shared
                    .failed_next
                    .store(next as u64 + 1, Ordering::Release);
                return Err(e);
            }
        };
        if self.helper.is_some() && !ready {
            self.stats.rotations_unprepared += 1;
        }
        Ok(())
    }

    /// After a failed rotation: activates the next segment once the helper has prepared it
    /// again (space came back). Memory stores and atomics only: the worker never retries the
    /// file work itself. Without the helper the failure lasts until the writer is reopened.
    #[cold]
    fn retry_rotation(&mut self) {
        if !self.shared.retry_ready.swap(false, Ordering::Acquire) {
            return;
        }
        let next = (self.cur + 1) % self.geometry.segments as usize;
        if self.activate(next).is_ok() {
            self.shared.failed_next.store(0, Ordering::Release);
            self.failed = false;
            self.stats.rotations_recovered += 1;
        } else {
            self.shared
                .failed_next
                .store(next as u64 + 1, Ordering::Release);
        }
    }

    /// Appends one untagged record, keeping at most [`SNAPLEN`] bytes of the frame (as pcap
    /// does; `orig_len` keeps the full length). Returns false (counted in `write_errors`) only
    /// if the ring failed to rotate. A record always fits an empty segment: segments are at
    /// least 1 MiB, records at most 16 + 256 KiB.
    #[inline]
    pub fn write(&mut self, ts_ns: u64, frame: &[u8], orig_len: u32) -> bool {
        self.write_record(ts_ns, RecordMeta::UNTAGGED, &[], frame, orig_len)
    }

    /// Appends one untagged record whose bytes are `prefix` then `frame`.
    #[inline]
    pub fn write_parts(&mut self, ts_ns: u64, prefix: &[u8], frame: &[u8], orig_len: u32) -> bool {
        self.write_record(ts_ns, RecordMeta::UNTAGGED, prefix, frame, orig_len)
    }

    /// Appends one record whose bytes are `prefix` then `frame` (a synthetic Ethernet header
    /// in front of a bare IP packet), without assembling them anywhere first, and its
    /// metadata word `meta` to the segment's index. A segment rotates when either its bytes
    /// or its index are full.
    #[inline(always)]
    pub fn write_record(
        &mut self,
        ts_ns: u64,
        meta: RecordMeta,
        prefix: &[u8],
        frame: &[u8],
        orig_len: u32,
    ) -> bool {
        let max = SNAPLEN as usize;
        let prefix = &prefix[..prefix.len().min(max)];
        let frame = &frame[..frame.len().min(max - prefix.len())];
        let incl = prefix.len() + frame.len();
        let orig_len = orig_len.max(incl as u32);
        let need = RECORD_HEADER_LEN + incl;
        if self.failed && self.shared.retry_ready.load(Ordering::Relaxed) {
            self.retry_rotation();
        }
        let full = self.off + need > self.geometry.segment_size as usize
            || self.seg_packets >= self.index_cap;
        if full && !self.failed && !self.stopped && self.rotate().is_err() {
            self.failed = true;
        }
        if self.stopped {
            self.stats.ring_full += 1;
            return false;
        }
        if self.failed || !self.live {
            self.stats.write_errors += 1;
            return false;
        }
        let hdr = RecordHeader {
            ts_ns,
            incl_len: incl as u32,
            orig_len,
        }
        .encode();
        let seg = live_bytes(&mut self.seg);
        if need <= PREFETCH_BELOW {
            super::mmap::prefetch_write(seg, self.off + need + WRITE_AHEAD);
        }
        let buf = &mut seg[self.off..self.off + need];
        let (h, rest) = buf.split_at_mut(RECORD_HEADER_LEN);
        h.copy_from_slice(&hdr);
        let (p, f) = rest.split_at_mut(prefix.len());
        p.copy_from_slice(prefix);
        f.copy_from_slice(frame);
        let at = self.seg_packets as usize * META_LEN;
        self.index_maps[self.cur].bytes_mut()[at..at + META_LEN]
            .copy_from_slice(&meta.to_le_bytes());
        self.off += need;
        if self.seg_packets == 0 {
            self.first_ts = ts_ns;
        }
        self.last_ts = ts_ns;
        self.seg_packets += 1;
        self.stats.packets += 1;
        self.stats.bytes += need as u64;
        true
    }

    /// Publishes everything written so far (call once per burst): readers and crash
    /// recovery see these records from now on.
    #[inline]
    pub fn commit(&mut self) {
        let e = Entry::of(self.control.words(), self.cur).expect("segment index in range");
        e.store(E_FIRST_TS, self.first_ts, Ordering::Relaxed);
        e.store(E_LAST_TS, self.last_ts, Ordering::Relaxed);
        e.store(E_PACKETS, self.seg_packets, Ordering::Relaxed);
        e.store(E_COMMITTED, self.off as u64, Ordering::Release);
    }

    /// Seals the live segment (clean shutdown); with the helper thread, stops it first and
    /// finishes its work, so every segment file is trimmed to its records on return.
    /// Moves the ring's helper thread (if any) to `cpu`, e.g. the control core's, within about
    /// a millisecond.
    pub fn pin_helper(&self, cpu: usize) {
        self.shared.pin_to.store(cpu as u64 + 1, Ordering::Relaxed);
    }

    pub fn close(mut self) -> Result<RingStats, RingError> {
        self.finish()?;
        Ok(self.stats)
    }

    /// Stops and joins the helper (every segment is back in its cell then), seals the live
    /// segment and trims every other one that is still longer than its records.
    fn finish(&mut self) -> Result<(), RingError> {
        if let Some(mut helper) = self.helper.take() {
            helper.stop();
        }
        let mut result = self.seal();
        for i in 0..self.geometry.segments as usize {
            // Nobody else holds a segment now (never wait here for one lost to a panic).
            let Some(mut seg) = self.shared.cells[i].take() else {
                continue;
            };
            let settled = seg.settle();
            self.release(i, seg);
            if result.is_ok() {
                result = settled;
            }
        }
        result
    }
}

impl Drop for RingWriter {
    /// A writer dropped without `close` (an error path, a panic) still seals its live
    /// segment and trims the others, so what it committed is in complete pcap files.
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// How far past the record being written the next line is prefetched for writing: a few
/// small records ahead, about one memory latency at tens of Mpps.
const WRITE_AHEAD: usize = 2048;
/// Records up to this size prefetch ahead. Larger copies go through `rep movsb`, whose
/// fast-string stores skip the read-for-ownership; a prefetch would add that read back
/// (measured, one worker, A/B alternated: 64-byte frames 20.6 -> 24.7 Mpps, 512-byte 6.57 ->
/// 7.12 Mpps; 1500-byte frames 2.48 -> 2.26 Mpps when they prefetched too, so they do not).
const PREFETCH_BELOW: usize = 1024;

/// The live segment's bytes (empty when none is live).
#[inline(always)]
fn live_bytes(seg: &mut Option<Box<Segment>>) -> &mut [u8] {
    match seg {
        Some(seg) => seg.map.bytes_mut(),
        None => &mut [],
    }
}

fn write_all_at(f: &File, buf: &[u8], off: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    f.write_all_at(buf, off)
}
