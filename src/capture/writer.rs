//! One worker's ring writer: appends pcap records into the live, memory-mapped segment,
//! publishes the committed length after each burst, and rotates to the next segment
//! (overwriting the oldest) when the live one is full.
//!
//! Opening a ring that already exists continues it: a segment left live by a crash is trimmed
//! to its committed length, and writing resumes at the end of the newest segment, so restarts
//! (even a crash loop) never overwrite what the ring holds.
#![forbid(unsafe_code)]
use super::layout::*;
use super::meta::{RecordMeta, META_LEN};
use super::mmap::{reserve, ControlMap, SegmentMap};
use super::pcapfmt::{file_header, RecordHeader, FILE_HEADER_LEN, RECORD_HEADER_LEN, SNAPLEN};
use super::reader::parse_records;
use super::RingError;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, Ordering};

/// Counters kept by the writer (plain integers: the worker owns them and publishes copies).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingStats {
    pub packets: u64,
    /// Bytes appended to segments, record headers included.
    pub bytes: u64,
    pub segments_sealed: u64,
    pub segments_overwritten: u64,
    /// Segments found live at open (left by a crash) and trimmed to their committed length.
    pub segments_recovered: u64,
    /// Records that could not be written because a rotation failed (I/O error).
    pub write_errors: u64,
    /// Records refused because the ring is full under [`RingPolicy::Stop`].
    pub ring_full: u64,
}

/// What happens when every segment holds data and the live one is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RingPolicy {
    /// Reuse the oldest segment: the ring keeps the newest data.
    #[default]
    Overwrite,
    /// Keep what the ring holds and refuse new records (counted as `ring_full` drops).
    Stop,
}

/// Result of opening a worker's ring: what was found.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenReport {
    pub existing_segments: u32,
    pub recovered_segments: u32,
}

pub struct RingWriter {
    dir: PathBuf,
    geometry: Geometry,
    control: ControlMap,
    files: Vec<File>,
    cur: usize,
    /// Every segment, mapped once at open.
    maps: Vec<SegmentMap>,
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
        .map_err(|e| io_err("open", path, e))
}

impl RingWriter {
    /// Opens (creating or continuing) worker `worker`'s ring under `ring_dir`, reserving the
    /// disk space of every segment up front.
    pub fn open(
        ring_dir: &Path,
        worker: usize,
        geometry: Geometry,
    ) -> Result<(Self, OpenReport), RingError> {
        geometry.validate().map_err(RingError::Config)?;
        let dir = worker_dir(ring_dir, worker);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(&dir)
            .map_err(|e| io_err("create directory", &dir, e))?;
        let cpath = control_path(&dir);
        let existed = cpath.exists();
        let cfile = open_rw(&cpath, true)?;
        if !existed || cfile.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
            cfile
                .set_len(geometry.control_len())
                .map_err(|e| io_err("size", &cpath, e))?;
        }
        let control = ControlMap::map_mut(&cfile).map_err(|e| io_err("mmap", &cpath, e))?;
        let words = control.words();
        if words[W_MAGIC].load(Ordering::Acquire) == 0 {
            words[W_VERSION].store(CONTROL_VERSION, Ordering::Relaxed);
            words[W_SEGMENTS].store(geometry.segments as u64, Ordering::Relaxed);
            words[W_SEGMENT_SIZE].store(geometry.segment_size, Ordering::Relaxed);
            words[W_WORKER].store(worker as u64, Ordering::Relaxed);
            words[W_MAGIC].store(CONTROL_MAGIC, Ordering::Release);
        }
        let found = read_header(words)
            .map_err(|m| RingError::Config(format!("{}: {m}", cpath.display())))?;
        if found != geometry {
            return Err(RingError::Config(format!(
                "{} holds a ring of {} segments of {} bytes; asked for {} of {}: use another --ring-dir or remove this one",
                dir.display(),
                found.segments,
                found.segment_size,
                geometry.segments,
                geometry.segment_size
            )));
        }

        let mut report = OpenReport::default();
        let mut files = Vec::with_capacity(geometry.segments as usize);
        let (mut newest, mut max_seq) = (None, 0u64);
        for i in 0..geometry.segments as usize {
            let path = segment_path(&dir, i);
            let f = open_rw(&path, true)?;
            let e = Entry::of(words, i).expect("control sized for its segments");
            let snap = e.snapshot(i);
            let len = f.metadata().map_err(|e| io_err("stat", &path, e))?.len();
            match snap.state {
                SegState::Empty => {
                    // Never written: a valid empty pcap.
                    f.set_len(0).map_err(|e| io_err("truncate", &path, e))?;
                    write_all_at(&f, &file_header(), 0).map_err(|e| io_err("write", &path, e))?;
                }
                SegState::Live => {
                    // Left live by a crash: keep the committed records, trim the torn tail.
                    let keep = snap
                        .committed
                        .clamp(FILE_HEADER_LEN as u64, len.max(FILE_HEADER_LEN as u64));
                    f.set_len(keep).map_err(|e| io_err("truncate", &path, e))?;
                    // The index words are stored apart from `committed` (a kill can fall
                    // between them): recount them from the records kept.
                    let mut kept = Vec::with_capacity(keep as usize);
                    std::io::Read::read_to_end(&mut std::io::Read::take(&f, keep), &mut kept)
                        .map_err(|e| io_err("read", &path, e))?;
                    let (records, _) = parse_records(&kept);
                    e.store(E_PACKETS, records.len() as u64, Ordering::Relaxed);
                    e.store(
                        E_FIRST_TS,
                        records.first().map_or(0, |r| r.ts_ns),
                        Ordering::Relaxed,
                    );
                    e.store(
                        E_LAST_TS,
                        records.last().map_or(0, |r| r.ts_ns),
                        Ordering::Relaxed,
                    );
                    e.store(E_STATE, SegState::Sealed as u64, Ordering::Release);
                    report.recovered_segments += 1;
                }
                SegState::Sealed => {}
            }
            if snap.seq > 0 {
                report.existing_segments += 1;
                if snap.seq > max_seq {
                    max_seq = snap.seq;
                    newest = Some(i);
                }
            }
            reserve(&f, 0, geometry.segment_size).map_err(|e| {
                io_err(
                    &format!("reserve {} bytes (disk full? the ring needs segments x segment size per worker)", geometry.segment_size),
                    &path,
                    e,
                )
            })?;
            files.push(f);
        }
        let mut index_maps = Vec::with_capacity(files.len());
        for i in 0..geometry.segments as usize {
            let path = index_path(&dir, i);
            let f = open_rw(&path, true)?;
            let len = f.metadata().map_err(|e| io_err("stat", &path, e))?.len();
            if len != geometry.index_len() {
                f.set_len(geometry.index_len())
                    .map_err(|e| io_err("size", &path, e))?;
            }
            reserve(&f, 0, geometry.index_len())
                .map_err(|e| io_err("reserve (disk full?)", &path, e))?;
            index_maps.push(
                SegmentMap::map(&f, geometry.index_len()).map_err(|e| io_err("mmap", &path, e))?,
            );
        }
        let start = newest.unwrap_or(0);
        let mut maps = Vec::with_capacity(files.len());
        for (i, f) in files.iter().enumerate() {
            let path = segment_path(&dir, i);
            maps.push(
                SegmentMap::map(f, geometry.segment_size).map_err(|e| io_err("mmap", &path, e))?,
            );
        }
        let mut w = RingWriter {
            dir,
            geometry,
            control,
            files,
            cur: start,
            maps,
            index_maps,
            index_cap: geometry.index_entries(),
            live: false,
            off: 0,
            seq: max_seq,
            first_ts: 0,
            last_ts: 0,
            seg_packets: 0,
            failed: false,
            policy: RingPolicy::Overwrite,
            stopped: false,
            stats: RingStats {
                segments_recovered: report.recovered_segments as u64,
                ..RingStats::default()
            },
        };
        match newest {
            Some(i) => w.resume(i)?,
            None => w.activate(0)?,
        }
        Ok((w, report))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Starts writing segment `i`: bumps its seq before touching its bytes, so a reader that
    /// read the old contents sees the change and discards them.
    fn activate(&mut self, i: usize) -> Result<(), RingError> {
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
        let path = segment_path(&self.dir, i);
        let f = &self.files[i];
        f.set_len(self.geometry.segment_size)
            .map_err(|e| io_err("extend", &path, e))?;
        self.maps[i].bytes_mut()[..FILE_HEADER_LEN].copy_from_slice(&file_header());
        self.live = true;
        self.cur = i;
        self.off = FILE_HEADER_LEN;
        self.first_ts = 0;
        self.last_ts = 0;
        self.seg_packets = 0;
        e.store(E_COMMITTED, FILE_HEADER_LEN as u64, Ordering::Release);
        Ok(())
    }

    /// Continues the sealed segment `i` (the newest) after its last record. Its `seq` stays:
    /// bytes already committed do not change, so a reader's copy of them stays valid.
    fn resume(&mut self, i: usize) -> Result<(), RingError> {
        let e = Entry::of(self.control.words(), i).expect("segment index in range");
        let snap = e.snapshot(i);
        let path = segment_path(&self.dir, i);
        let f = &self.files[i];
        let len = f.metadata().map_err(|e| io_err("stat", &path, e))?.len();
        // Continue after the committed records (never after whatever the file holds), and
        // mark the segment live before extending it, so a crash in between is recovered by
        // trimming to the committed length.
        let off = snap
            .committed
            .clamp(FILE_HEADER_LEN as u64, len.max(FILE_HEADER_LEN as u64));
        e.store(E_STATE, SegState::Live as u64, Ordering::Release);
        f.set_len(self.geometry.segment_size)
            .map_err(|e| io_err("extend", &path, e))?;
        self.live = true;
        self.cur = i;
        self.off = off as usize;
        self.first_ts = snap.first_ts;
        self.last_ts = snap.last_ts;
        self.seg_packets = snap.packets;
        self.commit();
        Ok(())
    }

    /// Ends the live segment: publishes what it holds, trims the file to its
    /// records (so pcap readers see a complete file) and keeps its disk blocks reserved.
    fn seal(&mut self) -> Result<(), RingError> {
        if !self.live {
            return Ok(());
        }
        self.commit();
        self.live = false;
        let path = segment_path(&self.dir, self.cur);
        let f = &self.files[self.cur];
        f.set_len(self.off as u64)
            .map_err(|e| io_err("trim", &path, e))?;
        // Bytes below the trim hold records and keep their blocks: re-reserve only the tail
        // the trim gave back (reserving the whole segment made each rotation take ~4 ms for
        // 64 MiB on tmpfs, walking every page).
        reserve(f, self.off as u64, self.geometry.segment_size)
            .map_err(|e| io_err("reserve", &path, e))?;
        let e = Entry::of(self.control.words(), self.cur).expect("segment index in range");
        e.store(E_STATE, SegState::Sealed as u64, Ordering::Release);
        self.stats.segments_sealed += 1;
        Ok(())
    }

    /// Sets what happens when the ring is full (default: overwrite the oldest segment).
    pub fn set_policy(&mut self, policy: RingPolicy) {
        self.policy = policy;
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
        self.activate(next)
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
        let buf = &mut self.maps[self.cur].bytes_mut()[self.off..self.off + need];
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

    /// Seals the live segment (clean shutdown).
    pub fn close(mut self) -> Result<RingStats, RingError> {
        self.seal()?;
        Ok(self.stats)
    }
}

impl Drop for RingWriter {
    /// A writer dropped without `close` (an error path, a panic) still seals its live
    /// segment, so what it committed is a complete pcap file.
    fn drop(&mut self) {
        let _ = self.seal();
    }
}

fn write_all_at(f: &File, buf: &[u8], off: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    f.write_all_at(buf, off)
}
