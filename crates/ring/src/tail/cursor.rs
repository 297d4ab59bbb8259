//! One worker's cursor for `tail`: its control file, the segment it reads and where, and the
//! records read but not yet written. A poll reads what is committed (acquire load), keeps it
//! only if the segment's `seq` did not change meanwhile, and follows rotation, resumption and
//! overwrites as the module above describes.
use super::*;

/// The segment a cursor reads.
pub(super) struct Open {
    pub(super) index: usize,
    pub(super) file: File,
    pub(super) path: PathBuf,
    /// The segment's index file (records' metadata words); None if it cannot be opened.
    pub(super) index_file: Option<File>,
}

/// One worker's control file, cursor and records read but not yet written.
pub(super) struct Worker {
    pub(super) dir: PathBuf,
    pub(super) name: String,
    pub(super) control: ControlView,
    pub(super) ident: Option<(u64, u64)>,
    pub(super) segments: usize,
    /// The seq of the segment being read (or awaited).
    pub(super) seq: u64,
    /// The segment with that seq, once found.
    pub(super) open: Option<Open>,
    /// Bytes of that segment consumed (0: the file header is still to be read).
    pub(super) off: u64,
    /// Records of that segment consumed (the index word of the next one).
    pub(super) records: u64,
    /// Records ending at or below this offset are consumed without being written (tail
    /// starts after the newest committed record).
    pub(super) skip_below: u64,
    pub(super) res: Resolution,
    pub(super) pending: VecDeque<Record>,
    pub(super) pending_bytes: usize,
    /// Newest timestamp read from this worker.
    pub(super) latest_ts: u64,
    /// Whether the last poll read everything committed, and when (Unix ns) it started.
    pub(super) caught_up: bool,
    pub(super) polled_at: u64,
}

/// Outcome of one poll of one worker.
#[derive(Default)]
pub(super) struct Polled {
    pub(super) read: bool,
    /// More is committed than was read (a chunk limit was hit).
    pub(super) more: bool,
}

impl Worker {
    pub(super) fn open(dir: &Path, from_start: bool) -> Result<Self, RingError> {
        let cpath = control_path(dir);
        let f = File::open(&cpath).map_err(|e| io_err("open", &cpath, e))?;
        let ident = f.metadata().ok().map(|m| (m.dev(), m.ino()));
        let control = ControlView::map(&f).map_err(|e| io_err("mmap", &cpath, e))?;
        let g = read_header(control.words())
            .map_err(|m| RingError::Config(format!("{}: {m}", cpath.display())))?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut w = Worker {
            dir: dir.to_path_buf(),
            name,
            control,
            ident,
            segments: g.segments as usize,
            seq: 1,
            open: None,
            off: 0,
            records: 0,
            skip_below: 0,
            res: Resolution::Nanos,
            pending: VecDeque::new(),
            pending_bytes: 0,
            latest_ts: 0,
            caught_up: false,
            polled_at: 0,
        };
        let seqs = w.seqs();
        if from_start {
            if let Some(&(_, oldest)) = seqs.iter().min_by_key(|(_, s)| *s) {
                w.seq = oldest;
            }
        } else if let Some(&(index, newest)) = seqs.iter().max_by_key(|(_, s)| *s) {
            // Start after the newest committed record.
            let e = w.entry(index);
            let committed = e.load(E_COMMITTED, Ordering::Acquire);
            let same = e.load(E_SEQ, Ordering::Acquire) == newest;
            w.seq = newest;
            if same && committed >= FILE_HEADER_LEN as u64 {
                // Read the segment from its start (to count its records, whose index words
                // follow theirs) but write only what is committed after now.
                w.open_segment(index)?;
                w.skip_below = committed;
            }
        }
        Ok(w)
    }

    pub(super) fn entry(&self, index: usize) -> Entry<'_> {
        Entry::of(self.control.words(), index).expect("index within the control file")
    }

    /// (index, seq) of every segment ever started.
    pub(super) fn seqs(&self) -> Vec<(usize, u64)> {
        (0..self.segments)
            .map(|i| (i, self.entry(i).load(E_SEQ, Ordering::Acquire)))
            .filter(|&(_, s)| s > 0)
            .collect()
    }

    pub(super) fn open_segment(&mut self, index: usize) -> Result<(), RingError> {
        // Under its visible or hidden name, whichever it has now (see `layout`); the
        // descriptor stays valid across later renames.
        let (file, path) = open_slot_file(&self.dir, index, SlotFile::Data)
            .map_err(|e| io_err("open", &segment_path(&self.dir, index), e))?;
        let index_file = open_slot_file(&self.dir, index, SlotFile::Index)
            .ok()
            .map(|(f, _)| f);
        self.open = Some(Open {
            index,
            file,
            path,
            index_file,
        });
        self.off = 0;
        self.records = 0;
        self.skip_below = 0;
        Ok(())
    }

    /// The segment `self.seq` was overwritten before it was read to its end: continue at the
    /// oldest retained segment.
    pub(super) fn fell_behind(&mut self, stats: &mut TailStats, warn: &mut dyn FnMut(String)) {
        let oldest = self
            .seqs()
            .into_iter()
            .map(|(_, s)| s)
            .filter(|&s| s > self.seq)
            .min()
            .unwrap_or(self.seq + 1);
        let lost = oldest - self.seq;
        stats.skipped_segments += lost;
        stats.skip_events += 1;
        warn(format!(
            "tail fell behind {}: {lost} segment(s) overwritten before they were read; continuing at the oldest retained segment",
            self.name
        ));
        self.seq = oldest;
        self.open = None;
        self.off = 0;
    }

    /// Reads what the worker committed since the last poll into `pending`.
    pub(super) fn poll(
        &mut self,
        sessions: &SessionFilter,
        stats: &mut TailStats,
        warn: &mut dyn FnMut(String),
    ) -> Result<Polled, RingError> {
        let mut out = Polled::default();
        self.caught_up = false;
        if self.pending_bytes >= PENDING_CAP {
            // Merging is behind: read on once some of it is written.
            return Ok(out);
        }
        let polled_at = wall_ns();
        // A few steps at most: segment switches, then one chunk.
        for _ in 0..self.segments + 4 {
            let Some(index) = self.open.as_ref().map(|o| o.index) else {
                let seqs = self.seqs();
                if let Some(&(index, _)) = seqs.iter().find(|&&(_, s)| s == self.seq) {
                    self.open_segment(index)?;
                    self.off = 0;
                    continue;
                }
                let newest = seqs.iter().map(|&(_, s)| s).max().unwrap_or(0);
                if newest > self.seq {
                    self.fell_behind(stats, warn);
                    continue;
                }
                // Not started yet.
                self.caught_up = true;
                break;
            };
            let e = self.entry(index);
            // seq, then state, then committed: a sealed state read first makes the committed
            // length read after it final.
            if e.load(E_SEQ, Ordering::Acquire) != self.seq {
                self.fell_behind(stats, warn);
                continue;
            }
            let state = SegState::from_word(e.load(E_STATE, Ordering::Acquire));
            let committed = e.load(E_COMMITTED, Ordering::Acquire);
            if committed > self.off {
                let end = committed.min(self.off + READ_CHUNK);
                let want = (end - self.off) as usize;
                let mut buf = vec![0u8; want];
                let open = self.open.as_ref().expect("segment open");
                let n = read_full_at(&open.file, &mut buf, self.off)
                    .map_err(|err| io_err("read", &open.path, err))?;
                buf.truncate(n);
                let mut start = 0;
                let mut res = self.res;
                if self.off == 0 {
                    if buf.len() < FILE_HEADER_LEN {
                        break;
                    }
                    res = parse_file_header(&buf[..FILE_HEADER_LEN]).unwrap_or(Resolution::Nanos);
                    start = FILE_HEADER_LEN;
                }
                let (mut records, consumed, bad) = parse_chunk(&buf[start..], res);
                // Their index words were stored before `committed` was published.
                let metas = read_index_at(open.index_file.as_ref(), self.records, records.len());
                fence(Ordering::Acquire);
                if e.load(E_SEQ, Ordering::Relaxed) != self.seq {
                    self.fell_behind(stats, warn);
                    continue;
                }
                self.res = res;
                for (r, m) in records.iter_mut().zip(metas) {
                    r.meta = m;
                }
                self.take_records(records, start as u64, sessions);
                self.off += (start + consumed) as u64;
                out.read |= start + consumed > 0;
                if bad {
                    // Not a record where one must start: give the segment up.
                    warn(format!(
                        "{}: unreadable record at byte {} of {}; skipping the rest of that segment",
                        self.name,
                        self.off,
                        self.open
                            .as_ref()
                            .map_or_else(|| segment_path(&self.dir, index), |o| o.path.clone())
                            .display()
                    ));
                    stats.skipped_segments += 1;
                    self.seq += 1;
                    self.open = None;
                    self.off = 0;
                    continue;
                }
                if self.pending_bytes >= PENDING_CAP || n < want {
                    break;
                }
                if end < committed {
                    out.more = true;
                    break;
                }
                continue;
            }
            if state == SegState::Sealed {
                // Read to its end: follow the rotation once the next segment has started.
                let next = self.seq + 1;
                if self.seqs().iter().any(|&(_, s)| s == next) {
                    stats.segments += 1;
                    self.seq = next;
                    self.open = None;
                    self.off = 0;
                    continue;
                }
            }
            self.caught_up = true;
            break;
        }
        if self.caught_up {
            self.polled_at = polled_at;
        }
        Ok(out)
    }

    /// Consumes records parsed from the chunk read at `self.off` (`header` bytes of file
    /// header first): those the session filter keeps and that end past `skip_below` wait in
    /// `pending`.
    pub(super) fn take_records(
        &mut self,
        records: Vec<Record>,
        header: u64,
        sessions: &SessionFilter,
    ) {
        let mut end = self.off + header;
        for r in records {
            end += (RECORD_HEADER_LEN + r.data.len()) as u64;
            self.records += 1;
            self.latest_ts = self.latest_ts.max(r.ts_ns);
            if end <= self.skip_below || !sessions.keeps(r.meta) {
                continue;
            }
            self.pending_bytes += r.data.len();
            self.pending.push_back(r);
        }
    }

    /// Records of other workers stamped up to this are safe to write as far as this worker
    /// is concerned.
    pub(super) fn horizon(&self, window: Duration) -> u64 {
        if self.caught_up {
            self.latest_ts
                .max(self.polled_at.saturating_sub(window.as_nanos() as u64))
        } else {
            self.latest_ts
        }
    }
}
