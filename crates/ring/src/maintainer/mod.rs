//! The ring's helper thread (`mc-ring-NN`): the file work of rotation, off the worker.
//!
//! Each segment (its file, its mapping, and what was last done to the file: [`Prep`]) lives in
//! a [`HandOff`] cell. Whoever takes it out owns it: the worker holds the live segment; the
//! helper takes one only for one file operation (a trim, an extend) and puts it back. So the
//! worker never writes a segment whose file the helper is changing, and the helper never
//! trims one the worker writes.
//!
//! * Start (helper): pre-faults the free part of the live segment the worker opened with.
//! * Seal (worker): commit, control state Sealed, `Prep::Sealed { seq, len }` (the file keeps
//!   its full size and its hidden name), segment put back, `sealed_seq` published. No syscall.
//! * Trim (helper): for each seq up to `sealed_seq`, the segment that held it is trimmed to
//!   `len`, renamed to its visible name (see `layout`) and its tail re-reserved, if it is
//!   still `Sealed` with that seq; otherwise it was reused (or prepared) since, and the request
//!   is stale: skipped.
//! * Prepare (helper): once the live segment is half full, the next one is renamed to its
//!   hidden name and extended to full size (held for that `rename` and `ftruncate`), then the
//!   part of its mapping the trim released is pre-faulted with `madvise(MADV_POPULATE_WRITE)`
//!   through a [`Populator`], without holding it (the advice touches no byte), and it is
//!   marked ready: `Prep::Extended { faulted: size }`. Kernels before 5.14 lack that advice: the helper then touches one byte per page
//!   (a store, so holding the segment, 64 KiB at a time).
//! * Activate (worker): takes the next segment, waiting only while the helper holds it for one
//!   file operation. Ready: no syscall. Still full size (sealed and not trimmed yet, or
//!   extended but not all pre-faulted): no syscall either (it is hidden already). Trimmed: the
//!   worker hides and extends the file itself. Both of the latter count in
//!   `RingStats::rotations_unprepared`.
//! * Close (writer): stops and joins the helper, then seals the live segment and trims every
//!   segment back to its records itself ([`Segment::settle`]).
//!
//! The control file is the worker's alone: the helper only reads it (to see how full the live
//! segment is). A kill at any point leaves at most sealed segments longer than their records
//! (zeros, or bytes of an earlier lap, after `committed`), all under hidden names, which
//! `RingWriter::open` trims and shows.
mod helper;

use super::layout::{Entry, Geometry, SlotFile, E_COMMITTED, E_SEQ};
use super::mmap::{reserve, ControlView, HandOff, Populator, Prefault, SegmentMap};
use super::RingError;
use helper::Helper;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Bytes pre-faulted per `madvise` call (between calls the helper checks it should go on).
const POPULATE_STEP: u64 = 1 << 20;
/// Bytes pre-faulted per hold of the segment where the kernel lacks MADV_POPULATE_WRITE and
/// pages are touched instead: the worker waits at most this long for a segment it needs.
const TOUCH_STEP: u64 = 64 << 10;
/// How long the helper sleeps when it found nothing to do.
const IDLE_SLEEP: Duration = Duration::from_millis(1);
/// How often the helper tries again to prepare a segment the worker failed to activate.
const RETRY_EVERY: Duration = Duration::from_millis(100);

/// What a segment's file holds, as known to whoever holds the segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Prep {
    /// Being written by the worker (full size).
    Live,
    /// Sealed by the worker with `seq`; the file still has its full size; trimming it to
    /// `len` (its records) is pending.
    Sealed { seq: u64, len: u64 },
    /// The file is `len` bytes (its records, or the bare file header); `reserved`: the disk
    /// blocks of the rest of the segment are reserved.
    Trimmed { len: u64, reserved: bool },
    /// The file has its full size (writable without a syscall) and the mapping is
    /// pre-faulted below `faulted` (ready once that is the whole segment); `len` is what it
    /// is trimmed back to if it is never written.
    Extended { len: u64, faulted: u64 },
}

/// One segment file and its mapping, kept for the writer's lifetime.
pub(super) struct Segment {
    /// The worker directory and the slot's index there (its file names).
    pub dir: Arc<SlotDir>,
    pub index: usize,
    /// Where the data file is now (for messages).
    pub path: PathBuf,
    pub file: File,
    pub map: SegmentMap,
    pub prep: Prep,
    /// Whether the files have their visible names (see `layout`): only while trimmed to a
    /// sealed segment's records.
    pub visible: bool,
    /// Whether the slot was ever written (seq != 0): only then is a trimmed file a sealed
    /// segment to show; a never-written slot stays hidden.
    pub written: bool,
}

fn io_err(op: &str, path: &Path, e: std::io::Error) -> RingError {
    RingError::Io {
        op: op.to_string(),
        path: path.to_path_buf(),
        source: e,
    }
}

/// The worker directory, open: the ring renames its files through it (see
/// [`rename_at`](super::mmap::rename_at)), and its path for messages.
pub(super) struct SlotDir {
    pub fd: File,
    pub path: PathBuf,
}

impl SlotDir {
    pub fn open(path: &Path) -> Result<Self, RingError> {
        Ok(SlotDir {
            fd: File::open(path).map_err(|e| io_err("open directory", path, e))?,
            path: path.to_path_buf(),
        })
    }

    /// Moves `from` to `to` (file names in this directory). A name that is not there counts as
    /// done: already moved (a kill between a slot's two renames), or removed by someone else,
    /// and then nobody sees it under either name.
    fn move_file(&self, from: &Path, to: &Path) -> Result<(), RingError> {
        let name = |p: &Path| p.file_name().unwrap_or_default().to_os_string();
        match super::mmap::rename_at(&self.fd, &name(from), &name(to)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            r => r.map_err(|e| io_err(&format!("rename to {}", to.display()), from, e)),
        }
    }

    /// Gives slot `index`'s two files their visible (`visible`) or hidden names. Shown: the
    /// index first, then the data file, so a visible `seg-NNN.pcap` has its `seg-NNN.idx`.
    /// Hidden: the data file first.
    pub fn rename_slot(&self, index: usize, visible: bool) -> Result<(), RingError> {
        let (data_v, data_h) = SlotFile::Data.paths(&self.path, index);
        let (idx_v, idx_h) = SlotFile::Index.paths(&self.path, index);
        if visible {
            self.move_file(&idx_h, &idx_v)?;
            self.move_file(&data_h, &data_v)
        } else {
            self.move_file(&data_v, &data_h)?;
            self.move_file(&idx_v, &idx_h)
        }
    }
}

/// What [`Segment::extend_ahead`] left to do.
enum Ahead {
    /// Ready (or it was already): nothing to pre-fault.
    Ready,
    /// Full size; pre-fault from this byte on.
    Prefault(u64),
    /// The worker writes it.
    Live,
}

impl Segment {
    fn size(&self) -> u64 {
        self.map.len() as u64
    }

    /// Gives the slot's files their hidden names (before its file grows past a sealed
    /// segment's records: extended for reuse, or written again). One or two renames, once
    /// per segment.
    pub fn hide(&mut self) -> Result<(), RingError> {
        if self.visible {
            self.dir.rename_slot(self.index, false)?;
            self.visible = false;
            self.path = SlotFile::Data.paths(&self.dir.path, self.index).1;
        }
        Ok(())
    }

    /// Gives a written slot trimmed to its records its visible names.
    fn reveal(&mut self) -> Result<(), RingError> {
        if !self.visible && self.written {
            self.dir.rename_slot(self.index, true)?;
            self.visible = true;
            self.path = SlotFile::Data.paths(&self.dir.path, self.index).0;
        }
        Ok(())
    }

    /// Cuts the file to `len` (its records) so pcap tools read it whole, shows it under its
    /// visible name if it holds a segment, and reserves the disk blocks of the rest again
    /// (only that tail: reserving the whole segment made each rotation take ~4 ms for 64 MiB
    /// on tmpfs, walking every page).
    pub fn trim(&mut self, len: u64) -> Result<(), RingError> {
        self.file
            .set_len(len)
            .map_err(|e| io_err("trim", &self.path, e))?;
        self.prep = Prep::Trimmed {
            len,
            reserved: false,
        };
        self.reveal()?;
        reserve(&self.file, len, self.size()).map_err(|e| io_err("reserve", &self.path, e))?;
        self.prep = Prep::Trimmed {
            len,
            reserved: true,
        };
        Ok(())
    }

    /// Makes the whole segment writable for the worker. Returns whether it was prepared
    /// ahead (extended and pre-faulted): then this did no syscall. A segment still at its
    /// full size needs none either; a trimmed one is extended here.
    pub fn make_writable(&mut self) -> Result<bool, RingError> {
        match self.prep {
            Prep::Extended { faulted, .. } => Ok(faulted >= self.size()),
            Prep::Sealed { .. } | Prep::Live => Ok(false),
            Prep::Trimmed { len, reserved } => {
                self.hide()?;
                if !reserved {
                    reserve(&self.file, len, self.size())
                        .map_err(|e| io_err("reserve", &self.path, e))?;
                }
                self.file
                    .set_len(self.size())
                    .map_err(|e| io_err("extend", &self.path, e))?;
                self.prep = Prep::Extended { len, faulted: 0 };
                Ok(false)
            }
        }
    }

    /// Brings an idle segment back to its records (close): a trim still pending, or a
    /// segment extended ahead of need and never written, is trimmed to its length. Only the
    /// trim can fail: reserving the tail again is for the next lap, and the next `open`
    /// reserves every segment anyway (and says so if the disk is full), so a full disk does
    /// not fail a clean stop.
    pub fn settle(&mut self) -> Result<(), RingError> {
        let len = match self.prep {
            Prep::Sealed { len, .. } | Prep::Extended { len, .. } => len,
            Prep::Trimmed {
                len,
                reserved: false,
            } => len,
            // Trimmed already; shown unless a rename failed after the trim.
            Prep::Trimmed { reserved: true, .. } => return self.reveal(),
            Prep::Live => return Ok(()),
        };
        match self.trim(len) {
            // Trimmed and named as it should be: only re-reserving the tail failed.
            Err(_)
                if self.prep
                    == (Prep::Trimmed {
                        len,
                        reserved: false,
                    })
                    && (self.visible || !self.written) =>
            {
                Ok(())
            }
            r => r,
        }
    }

    /// Gives the file its full size again ahead of reuse (the helper, holding the segment
    /// for this one `ftruncate`); says what is left to pre-fault.
    fn extend_ahead(&mut self) -> Result<Ahead, RingError> {
        let size = self.size();
        match self.prep {
            Prep::Live => Ok(Ahead::Live),
            // Never trimmed: full size, and its pages stayed mapped since the worker wrote
            // them.
            Prep::Sealed { len, .. } => {
                self.prep = Prep::Extended { len, faulted: size };
                Ok(Ahead::Ready)
            }
            Prep::Trimmed { len, reserved } => {
                self.hide()?;
                if !reserved {
                    reserve(&self.file, len, size).map_err(|e| io_err("reserve", &self.path, e))?;
                    self.prep = Prep::Trimmed {
                        len,
                        reserved: true,
                    };
                }
                self.file
                    .set_len(size)
                    .map_err(|e| io_err("extend", &self.path, e))?;
                // The trim unmapped the pages from `len` on (those below keep theirs).
                self.prep = Prep::Extended { len, faulted: len };
                Ok(Ahead::Prefault(len))
            }
            Prep::Extended { faulted, .. } if faulted < size => Ok(Ahead::Prefault(faulted)),
            Prep::Extended { .. } => Ok(Ahead::Ready),
        }
    }
}

/// What the worker and the helper share: the segments, and where the worker is.
pub(super) struct Shared {
    pub cells: Box<[HandOff<Segment>]>,
    /// Pre-faults each segment's mapping without holding it.
    populators: Box<[Populator]>,
    /// Seq of the last segment the worker sealed (trims up to it are due).
    pub sealed_seq: AtomicU64,
    /// Seq of the live segment, 0 while none is live.
    pub live_seq: AtomicU64,
    /// The ring stops when full: a segment already written is never prepared for reuse.
    pub stop_policy: AtomicBool,
    /// Index + 1 of the segment the worker failed to activate (0: none): the helper tries to
    /// prepare it again every [`RETRY_EVERY`].
    pub failed_next: AtomicU64,
    /// Set by the helper once that segment is prepared; the worker then activates it.
    pub retry_ready: AtomicBool,
    /// CPU the helper moves itself to (+1; 0: stay), set once the EAL has placed the control
    /// thread: the helper is started before, so it would otherwise be allowed on the workers'.
    pub pin_to: AtomicU64,
    stop: AtomicBool,
    trimmed: AtomicU64,
    prepared: AtomicU64,
    stale: AtomicU64,
    errors: AtomicU64,
    prefault: AtomicU8,
}

impl Shared {
    pub fn new(segments: Vec<Segment>) -> Self {
        Shared {
            populators: segments.iter().map(|s| s.map.populator()).collect(),
            cells: segments
                .into_iter()
                .map(|s| HandOff::new(Box::new(s)))
                .collect(),
            sealed_seq: AtomicU64::new(0),
            live_seq: AtomicU64::new(0),
            stop_policy: AtomicBool::new(false),
            failed_next: AtomicU64::new(0),
            retry_ready: AtomicBool::new(false),
            pin_to: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            trimmed: AtomicU64::new(0),
            prepared: AtomicU64::new(0),
            stale: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            prefault: AtomicU8::new(0),
        }
    }

    pub fn stats(&self) -> BackgroundStats {
        BackgroundStats {
            trimmed: self.trimmed.load(Ordering::Relaxed),
            prepared: self.prepared.load(Ordering::Relaxed),
            stale: self.stale.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            prefault: match self.prefault.load(Ordering::Relaxed) {
                1 => Some(Prefault::Populated),
                2 => Some(Prefault::Touched),
                _ => None,
            },
        }
    }
}

/// Counters of a ring's helper thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackgroundStats {
    /// Sealed segments trimmed to their records.
    pub trimmed: u64,
    /// Segments extended and pre-faulted ahead of need.
    pub prepared: u64,
    /// Trims skipped because the segment was reused or prepared since it was sealed.
    pub stale: u64,
    /// File operations that failed (the worker or `close` does that work instead).
    pub errors: u64,
    /// How pages were last pre-faulted (None: nothing pre-faulted yet).
    pub prefault: Option<Prefault>,
}

/// The running helper thread of one ring; stopped and joined on drop.
pub(super) struct Maintainer {
    shared: Arc<Shared>,
    handle: Option<JoinHandle<()>>,
}

impl Maintainer {
    /// Starts `mc-ring-NN` for worker `worker`, whose live segment is `base_index` with
    /// seq `base_seq`, written up to `base_off`.
    pub fn start(
        worker: usize,
        geometry: Geometry,
        control_path: &Path,
        shared: Arc<Shared>,
        (base_index, base_seq, base_off): (usize, u64, u64),
        prepare_ahead: bool,
    ) -> Result<Self, RingError> {
        let f = File::open(control_path).map_err(|e| io_err("open", control_path, e))?;
        let control = ControlView::map(&f).map_err(|e| io_err("mmap", control_path, e))?;
        shared
            .sealed_seq
            .store(base_seq.saturating_sub(1), Ordering::Release);
        let helper = Helper {
            shared: shared.clone(),
            control,
            segments: geometry.segments as usize,
            size: geometry.segment_size,
            base_index,
            base_seq,
            prepare_ahead,
        };
        let handle = std::thread::Builder::new()
            .name(format!("mc-ring-{worker:02}"))
            .spawn(move || helper.run(base_off))
            .map_err(|e| io_err("start the ring helper thread for", control_path, e))?;
        Ok(Maintainer {
            shared,
            handle: Some(handle),
        })
    }

    /// Stops the thread and waits for it: every segment is back in its cell after this.
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Maintainer {
    fn drop(&mut self) {
        self.stop();
    }
}
