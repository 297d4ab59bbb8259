//! [`Spooler`]: moves one worker ring's sealed segments into its store directory, one store
//! file per segment, in seq order, never blocking the ring (it only reads the ring's files
//! and control file, as every ring reader does, and never writes them).
//!
//! Speed: a segment is read whole into page-aligned memory and stored from there (a plain pcap
//! is those very bytes; zstd blocks are compressed from them), and a second thread writes one
//! file while the spooler reads and encodes the next ([`io`]).
//!
//! Durability: each data file is written under a hidden temporary name (O_DIRECT when the
//! file system allows), fsync'd, renamed into place, and the directory fsync'd; then its index
//! the same way, so an index in view means a complete, durable data file. The cursor file is
//! written only where no store file says how far storing got (segments overrun, skipped or
//! empty, a new ring). After kill -9, `open` deletes temporary files and data files without an
//! index, and resumes from the newer of the cursor file and the newest complete store file, so
//! no segment is stored twice or skipped. A segment the ring overwrote before it was stored
//! is counted as an overrun (`store_overrun`), never waited for.
//!
//! Faults (disk full, read-only, directory removed): a poll that fails leaves no trace of the
//! file it was writing (its temporary files are removed, and its data file if the index did
//! not follow), keeps its cursor in memory, and the next poll retries from there. A removed
//! worker directory is created again inside the store directory; the store directory itself
//! never is (it may be a mount point whose file system went away: creating it would write to
//! the disk below), nor is one that was a mount point at open and no longer is. The error's
//! [`Fault`](crate::Fault) says which of these it is.

use crate::archived::ArchiveMark;
use crate::odirect::AlignedBuf;
use crate::retention::{apply, Retention};
use crate::segment::Encoder;
use crate::storedir::{
    clean, cursor_from_files, file_name, io_err, list, read_cursor, same_ring, sync_dir,
    write_cursor, Cursor,
};
use crate::writer::new_compressor;
use crate::{BlockWriter, Compression, StoreError, StoreOptions};
use mirrorcap_ring::layout::{worker_dir, EntrySnapshot, SegState};
use mirrorcap_ring::pcapfmt::FILE_HEADER_LEN;
use mirrorcap_ring::reader::{SegmentRead, WorkerReader};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

mod faults;
mod io;
mod publish;
mod report;

pub use report::{Lag, SpoolReport};

/// How a spooler stores and retains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpoolOptions {
    pub store: StoreOptions,
    /// Per worker: the run divides its `--store-size` among its workers.
    pub retention: Retention,
    /// Write data files with O_DIRECT where the file system allows (else buffered).
    pub direct: bool,
    /// Write each file's flow index sidecar (`NAME.fidx`) for `query`.
    pub flow_index: bool,
    /// Write each file's flow records (`NAME.flows.parquet`) for `flows`, DuckDB, Athena.
    pub flow_records: bool,
}

impl Default for SpoolOptions {
    fn default() -> Self {
        SpoolOptions {
            store: StoreOptions::default(),
            retention: Retention::default(),
            direct: true,
            flow_index: true,
            flow_records: true,
        }
    }
}

/// Stores one worker ring's sealed segments; see the module doc.
pub struct Spooler {
    ring: PathBuf,
    /// `STORE` and `STORE/worker-NN`.
    store_dir: PathBuf,
    dir: PathBuf,
    /// The store directory's device when it was a mount point at open: if it stops being one
    /// (unmounted), nothing is written to the directory left below.
    mount_dev: Option<u64>,
    /// Files a failed poll could not remove (read-only file system): retried at each poll,
    /// each unless the file named with it exists (a data file is left only without its index).
    leftovers: Vec<(PathBuf, Option<PathBuf>)>,
    opts: SpoolOptions,
    /// None until something was stored (a new store starts at the ring's oldest segment and
    /// counts nothing before it as overrun).
    cursor: Option<Cursor>,
    /// Newest packet stored (Unix ns): kept here so a poll need not read an index for it;
    /// retention always keeps the newest file, so it stays true.
    newest_ns: Option<u64>,
    worker: usize,
    /// Spare page-aligned buffers (segments are read into them, files written from them).
    bufs: Vec<AlignedBuf>,
    /// The last segment read's records.
    read: SegmentRead,
    compressor: Option<zstd::bulk::Compressor<'static>>,
    /// The disk thread (started by the first file to store).
    io: Option<io::IoThread>,
    /// Packets of each segment past the cursor as the last poll saw them in the control
    /// file, so a segment the ring overwrites before it is stored is counted in packets, not
    /// only as a missing seq (its control entry is reused by then).
    seen: BTreeMap<u64, u64>,
    /// The ring's generation at the last poll (0: unknown), named in store files and cursor.
    generation: u64,
    /// The last pass lost a segment the ring overwrote while it was being read.
    chasing: bool,
    totals: SpoolReport,
    /// Leftovers of an interrupted run deleted at open.
    pub cleaned: u64,
    /// With an archive: how far this worker's files are uploaded (retention consults it).
    archive: Option<ArchiveMark>,
}

impl Spooler {
    /// Opens the store directory `store_dir/worker-NN` of worker `worker` of the ring in
    /// `ring_dir` (the ring need not exist yet), cleaning up after a crash.
    pub fn open(
        ring_dir: &Path,
        worker: usize,
        store_dir: &Path,
        opts: SpoolOptions,
    ) -> crate::Result<Self> {
        BlockWriter::new(opts.store)?; // checks the options now rather than at the first file
        let dir = worker_dir(store_dir, worker);
        std::fs::create_dir_all(&dir).map_err(io_err("create store directory", &dir))?;
        let cleaned = clean(&dir)?;
        let saved = read_cursor(&dir)?;
        let files = list(&dir)?;
        let cursor = saved.max(cursor_from_files(&files)?);
        let newest_ns = match files.last() {
            Some(f) => crate::StoreIndex::read(&f.index)?
                .blocks
                .iter()
                .map(|b| b.max_ts_ns)
                .max(),
            None => None,
        };
        if let (Some(c), true) = (cursor, cursor != saved) {
            write_cursor(&dir, c)?;
            sync_dir(&dir)?;
        }
        Ok(Spooler {
            ring: worker_dir(ring_dir, worker),
            store_dir: store_dir.to_path_buf(),
            mount_dev: faults::mount_dev(store_dir),
            leftovers: Vec::new(),
            dir,
            opts,
            cursor,
            newest_ns,
            worker,
            bufs: Vec::new(),
            read: SegmentRead::default(),
            compressor: match opts.store.compression {
                Compression::None => None,
                Compression::Zstd { level } => Some(new_compressor(level)?),
            },
            io: None,
            seen: BTreeMap::new(),
            generation: cursor.map_or(0, |c| c.generation),
            chasing: false,
            totals: SpoolReport::default(),
            cleaned,
            archive: None,
        })
    }

    /// Anchors a new store (no cursor yet) to the ring as it is now: the ring's oldest
    /// segment (seq 1 on a ring with none) is the first to store, so a segment the ring
    /// overwrites before the first poll counts as an overrun instead of passing unseen (a
    /// store without an anchor starts at whatever the ring holds at its first poll). `run`
    /// calls it at start, so every packet of the run is stored or counted. A store with a
    /// cursor keeps it.
    pub fn anchor(&mut self) -> crate::Result<()> {
        if self.cursor.is_some() || !mirrorcap_ring::layout::control_path(&self.ring).exists() {
            return Ok(());
        }
        let reader = WorkerReader::open(&self.ring)?;
        let oldest = reader.segments().iter().map(|s| s.seq).min().unwrap_or(1);
        self.generation = reader.generation();
        self.set_cursor(Cursor {
            generation: self.generation,
            seq: oldest.saturating_sub(1),
            committed: u64::MAX,
        })
    }

    /// Makes retention wait for (or count) files the archive has not uploaded yet.
    pub fn set_archive_mark(&mut self, mark: ArchiveMark) {
        self.archive = Some(mark);
    }

    /// The worker's store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The store directory the worker's directory is in.
    pub fn store_dir(&self) -> &Path {
        &self.store_dir
    }

    pub fn cursor(&self) -> Option<Cursor> {
        self.cursor
    }

    pub fn totals(&self) -> &SpoolReport {
        &self.totals
    }

    /// Stores every sealed segment not yet stored, then applies retention.
    pub fn poll(&mut self) -> crate::Result<SpoolReport> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        self.poll_at(now)
    }

    /// [`poll`](Self::poll) with the clock `max_age` is measured against (Unix ns).
    pub fn poll_at(&mut self, now_ns: u64) -> crate::Result<SpoolReport> {
        let mut rep = SpoolReport::default();
        self.remove_leftovers();
        let result = self.ensure_dir(&mut rep);
        let result = result.and_then(|()| self.spool(&mut rep));
        // A full disk: retention's free-space floor may make room for the next poll.
        let full = matches!(&result, Err(e) if e.fault() == crate::Fault::DiskFull);
        let result = match result {
            Ok(()) => self.retain(now_ns, &mut rep),
            Err(e) if full && self.opts.retention.min_free.is_some() => {
                let _ = self.retain(now_ns, &mut rep);
                Err(e)
            }
            Err(e) => Err(e),
        };
        if result.is_err() {
            // Retention did not run (or not to its end): the store is what it was.
            rep.store_bytes = self.totals.store_bytes;
            rep.oldest_stored_ns = self.totals.oldest_stored_ns;
            rep.newest_stored_ns = self.totals.newest_stored_ns;
        }
        // The lag is the ring's side: measured even when storing failed, so a failing store
        // shows what waits for it.
        let lag = self.measure_lag(&mut rep);
        // Progress made before an error is on disk: count it either way.
        self.totals.add(&rep);
        result.and(lag).map(|()| rep)
    }

    /// Stores what is sealed; a pass that finds the store chasing the ring's tail is followed
    /// at once by one that skips ahead (a few at most, so a poll ends).
    fn spool(&mut self, rep: &mut SpoolReport) -> crate::Result<()> {
        for _ in 0..4 {
            // Each pass ends with its last file in place (or failed and cleaned up).
            let pass = self.spool_pass(rep);
            let settled = self.settle(rep);
            pass.and(settled)?;
            if !self.chasing {
                break;
            }
        }
        Ok(())
    }

    fn spool_pass(&mut self, rep: &mut SpoolReport) -> crate::Result<()> {
        if !mirrorcap_ring::layout::control_path(&self.ring).exists() {
            return Ok(()); // the worker has not opened its ring yet
        }
        let mut reader = WorkerReader::open(&self.ring)?;
        let max_seq = reader.segments().iter().map(|s| s.seq).max().unwrap_or(0);
        let g = reader.generation();
        // Another ring than the cursor's (recreated: its seqs start again at 1): store it from
        // its start. Without generations (an older cursor or ring), seqs going back say so.
        let other = |c: Cursor| !same_ring(c.generation, g) || max_seq < c.seq;
        self.generation = g;
        if self.cursor.is_some_and(other) {
            rep.ring_resets += 1;
            self.seen.clear();
            self.set_cursor(Cursor {
                generation: g,
                ..Cursor::default()
            })?;
        }
        if let Some(c) = self.cursor {
            // Seqs between the cursor and the oldest one the ring still has were overwritten.
            let oldest = reader.segments().iter().map(|s| s.seq).find(|&q| q > c.seq);
            if let Some(lo) = oldest.filter(|&lo| lo > c.seq + 1) {
                rep.overrun_segments += lo - c.seq - 1;
                rep.overrun_packets += self.seen.range(c.seq + 1..lo).map(|(_, p)| p).sum::<u64>();
                self.set_cursor(Cursor {
                    generation: self.generation,
                    seq: lo - 1,
                    committed: u64::MAX,
                })?;
            }
        }
        let cur = self.cursor;
        let floor = cur.map_or(0, |c| c.seq);
        self.seen.retain(|&q, _| q > floor);
        for s in reader.segments().iter().filter(|s| s.seq > floor) {
            self.seen.insert(s.seq, s.packets);
        }
        reader.retain_segments(|s| pending(s, cur));
        // The last pass lost a segment the ring overwrote while it was read: the store is
        // chasing the ring's tail, where every segment it starts is the next to be overwritten,
        // and would store nothing. Skip to the newest sealed segment (the skipped ones are
        // counted as overruns: they would be lost anyway) and store on from there, with the
        // most time before the ring comes back to it.
        let behind = reader.segments().len();
        if std::mem::take(&mut self.chasing) && behind > 1 {
            let skipped: Vec<EntrySnapshot> = reader.segments()[..behind - 1].to_vec();
            let newest = reader.segments()[behind - 1].seq;
            for s in &skipped {
                rep.overrun_segments += 1;
                // A segment partly stored before (a restarted writer's) has no count of the rest.
                if cur.is_none_or(|c| s.seq > c.seq) {
                    rep.overrun_packets += s.packets;
                }
            }
            rep.skips_ahead += 1;
            self.set_cursor(Cursor {
                generation: self.generation,
                seq: newest - 1,
                committed: u64::MAX,
            })?;
            reader.retain_segments(|s| s.seq == newest);
        }
        let order = reader.segments().to_vec();
        let mut i = 0;
        loop {
            let raced = reader.stats.raced;
            let mut seg = Taken {
                buf: self.take_buf()?,
                out: self.take_buf()?,
                enc: Encoder::new(self.opts.store)
                    .with_flow_index(self.opts.flow_index)
                    .with_flow_records(self.opts.flow_records),
            };
            let mut read = std::mem::take(&mut self.read);
            let (cursor, compressor) = (self.cursor, &mut self.compressor);
            let got = reader.next_segment_visit(&mut seg.buf, &mut read, |v| {
                // The rest of a segment stored before: its file starts at a later record.
                let whole = cursor.is_none_or(|c| c.seq != v.seq);
                seg.enc.feed(&v, whole, compressor.as_mut(), &mut seg.out);
            });
            let result = self.after_read(&order, &mut i, &reader, raced, got, seg, &read, rep);
            self.read = read;
            if !result? {
                return Ok(());
            }
        }
    }

    /// What follows a read of segment `order[*i]`: the segments the ring overwrote while they
    /// were read counted, the one read stored. Returns whether to read on.
    #[allow(clippy::too_many_arguments)]
    fn after_read(
        &mut self,
        order: &[EntrySnapshot],
        i: &mut usize,
        reader: &WorkerReader,
        raced: u64,
        got: Result<bool, mirrorcap_ring::RingError>,
        seg: Taken,
        read: &SegmentRead,
        rep: &mut SpoolReport,
    ) -> crate::Result<bool> {
        let got = match got {
            Ok(got) => got,
            Err(e) => {
                self.bufs.extend([seg.buf, seg.out]);
                return Err(e.into());
            }
        };
        // The reader skips a segment rotated over while it read it: that one is lost.
        let lost = (reader.stats.raced - raced) as usize;
        let seg = if lost > 0 || !got {
            self.bufs.extend([seg.buf, seg.out]);
            self.settle(rep)?;
            None
        } else {
            Some(seg)
        };
        for s in &order[*i..*i + lost] {
            rep.overrun_segments += 1;
            rep.overrun_packets += s.packets;
            self.set_cursor(Cursor {
                generation: self.generation,
                seq: s.seq,
                committed: u64::MAX,
            })?;
            *i += 1;
        }
        if lost > 0 {
            // Chasing the ring's tail: the next pass skips ahead.
            self.chasing = true;
            return Ok(false);
        }
        let Some(seg) = seg else {
            return Ok(false);
        };
        self.store_segment(order[*i], seg, read, rep)?;
        *i += 1;
        Ok(true)
    }

    /// Stores the records of segment `s` past the cursor (read into `buf`) as one store file.
    fn store_segment(
        &mut self,
        s: EntrySnapshot,
        seg: Taken,
        read: &SegmentRead,
        rep: &mut SpoolReport,
    ) -> crate::Result<()> {
        let mut from = FILE_HEADER_LEN as u64;
        let mut skip = 0;
        // A segment stored, then continued by a restarted ring writer: store only the rest.
        // (A file in flight is of an earlier segment: the cursor before it is the one to ask.)
        if let Some(c) = self.cursor.filter(|c| c.seq == s.seq) {
            while skip < read.spans.len() && from < c.committed {
                from += read.spans[skip].record_len() as u64;
                skip += 1;
            }
        }
        let part = &read.spans[skip..];
        let captured: u64 = part.iter().map(|r| r.record_len() as u64).sum();
        let next = Cursor {
            generation: self.generation,
            seq: s.seq,
            committed: from + captured,
        };
        if part.is_empty() {
            self.bufs.extend([seg.buf, seg.out]);
            rep.empty_segments += 1;
            self.settle(rep)?;
            return self.set_cursor(next);
        }
        let name = file_name(part[0].ts_ns, self.generation, s.seq, from);
        self.submit_file(name, seg.buf, seg.out, seg.enc, read, skip, next, rep)
    }

    /// Moves the cursor and writes it down; the file in flight, if any, must be settled first
    /// (the cursor only moves forward, in the order files reach the disk).
    fn set_cursor(&mut self, c: Cursor) -> crate::Result<()> {
        debug_assert!(!self.io.as_ref().is_some_and(|t| t.busy()));
        self.cursor = Some(c);
        write_cursor(&self.dir, c)?;
        sync_dir(&self.dir)
    }

    fn retain(&mut self, now_ns: u64, rep: &mut SpoolReport) -> crate::Result<()> {
        let d = apply(
            &self.dir,
            self.opts.retention,
            now_ns,
            self.archive.as_ref(),
        )?;
        rep.deleted_files = d.names.len() as u64;
        rep.deleted_unarchived = d.unarchived;
        rep.deleted_unarchived_bytes = d.unarchived_bytes;
        rep.held_for_archive = d.held_for_archive;
        rep.deleted = d.names;
        rep.deleted_bytes = d.bytes;
        rep.store_bytes = d.kept_bytes;
        rep.oldest_stored_ns = d.oldest_kept_ns;
        rep.newest_stored_ns = self.newest_ns.filter(|_| d.oldest_kept_ns.is_some());
        Ok(())
    }
}

/// What one segment is read into: its buffer, the buffer its blocks are compressed into (zstd),
/// and its encoder, fed as it is read.
struct Taken {
    buf: AlignedBuf,
    out: AlignedBuf,
    enc: Encoder,
}

/// Whether sealed segment `s` holds records the store does not have yet.
fn pending(s: &EntrySnapshot, cur: Option<Cursor>) -> bool {
    s.state == SegState::Sealed
        && match cur {
            None => true,
            Some(c) => s.seq > c.seq || (s.seq == c.seq && s.committed > c.committed),
        }
}

impl From<mirrorcap_ring::RingError> for StoreError {
    fn from(e: mirrorcap_ring::RingError) -> Self {
        StoreError::Ring(e.to_string())
    }
}
