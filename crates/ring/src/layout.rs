//! The ring directory's layout and the control file's format.
//!
//! ```text
//! RING_DIR/
//!   worker-00/
//!     control               fixed-size index: geometry + one 64-byte entry per segment
//!     seg-000.pcap          a sealed segment: a complete pcap file, trimmed to its records
//!     seg-000.idx           one 32-bit metadata word per record of seg-000.pcap (see `record_meta`)
//!     .seg-001.pcap.part    the same slot while not complete: live, sealed but not trimmed yet,
//!     .seg-001.idx.part     extended ahead of reuse, or never written
//!   worker-01/ ...
//! ```
//! **Visible names.** Each slot `NNN` has one data file and one index file, each under exactly
//! one of two names. The visible names (`seg-NNN.pcap`, `seg-NNN.idx`) are used only while the
//! slot holds a sealed segment trimmed to its records, so every `seg-*.pcap` a user can see is a
//! complete pcap at every instant, a kill -9 included (as Stenographer renames finished files).
//! Otherwise the files carry the hidden names ([`hidden_segment_path`], [`hidden_index_path`]:
//! dot-prefixed, ending `.part`, so neither `ls` nor a `*.pcap` glob shows them). The writer
//! renames per segment, never per packet: hidden -> visible after a sealed segment's trim (the
//! data file last), visible -> hidden before a sealed segment's file is extended for reuse (the
//! data file first). The mapping and open descriptors follow the file across a rename.
//! Readers find a slot's file through the control file (slot index, `seq`) under either name
//! ([`crate::reader::open_slot_file`], which retries across a rename between its two tries);
//! the `seq` re-check after reading covers content, as for a segment overwritten while read.
//!
//! Control file: 64-bit little-endian words. Words 0..8 are the header (magic, version,
//! segments, segment size, worker, generation); segment `i`'s entry is words `8 + 8*i ..`:
//! `seq` (0 = never written; increases by one per segment started), `committed` (bytes of
//! complete records, file header included), `first_ts`, `last_ts` (Unix ns), `packets`, `state`.
//! The writer stores `committed` with release ordering after each burst; readers load it with
//! acquire ordering and read only that many bytes.
//!
//! The generation (word 5) is the ring's creation time in Unix ns, written once when the
//! control file is created (or, for a ring created before the word existed, when a writer
//! first reopens it) and kept across restarts: a ring deleted and recreated restarts its seqs
//! at 1 under another generation. 0 means unknown (an older ring not reopened since).
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub const CONTROL_MAGIC: u64 = u64::from_le_bytes(*b"MCAPRNG1");
/// 2: segments have an index file (`seg-NNN.idx`) of per-record metadata.
pub const CONTROL_VERSION: u64 = 2;
pub const HEADER_WORDS: usize = 8;
pub const ENTRY_WORDS: usize = 8;

pub const W_MAGIC: usize = 0;
pub const W_VERSION: usize = 1;
pub const W_SEGMENTS: usize = 2;
pub const W_SEGMENT_SIZE: usize = 3;
pub const W_WORKER: usize = 4;
/// The ring's generation: its creation time (Unix ns, nonzero); 0 = not recorded.
pub const W_GENERATION: usize = 5;

pub const E_SEQ: usize = 0;
pub const E_COMMITTED: usize = 1;
pub const E_FIRST_TS: usize = 2;
pub const E_LAST_TS: usize = 3;
pub const E_PACKETS: usize = 4;
pub const E_STATE: usize = 5;

/// A segment's state in its control entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u64)]
pub enum SegState {
    #[default]
    Empty = 0,
    Live = 1,
    Sealed = 2,
}

impl SegState {
    pub fn from_word(w: u64) -> Self {
        match w {
            1 => SegState::Live,
            2 => SegState::Sealed,
            _ => SegState::Empty,
        }
    }
}

/// How many segments of what size each worker keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub segments: u32,
    pub segment_size: u64,
}

impl Geometry {
    pub const MIN_SEGMENT_SIZE: u64 = 1 << 20;
    pub const MAX_SEGMENT_SIZE: u64 = 1 << 40;
    pub const MAX_SEGMENTS: u32 = 100_000;

    /// Checks the limits; the message names the flag and the fix.
    pub fn validate(&self) -> Result<(), String> {
        if self.segments < 2 || self.segments > Self::MAX_SEGMENTS {
            return Err(format!(
                "--segments {}: a ring needs 2 to {} segments per worker",
                self.segments,
                Self::MAX_SEGMENTS
            ));
        }
        if self.segment_size < Self::MIN_SEGMENT_SIZE || self.segment_size > Self::MAX_SEGMENT_SIZE
        {
            return Err(format!(
                "--segment-size {}: must be between 1MiB and 1TiB",
                self.segment_size
            ));
        }
        Ok(())
    }

    pub fn control_len(&self) -> u64 {
        ((HEADER_WORDS + ENTRY_WORDS * self.segments as usize) * 8) as u64
    }

    /// Average record bytes below which a segment's index fills before its data: a segment
    /// holds at most `segment_size / INDEX_RECORD_BYTES` records.
    pub const INDEX_RECORD_BYTES: u64 = 64;

    /// Records one segment's index holds (the segment rotates when it is full).
    pub fn index_entries(&self) -> u64 {
        self.segment_size / Self::INDEX_RECORD_BYTES
    }

    /// Bytes of one segment's index file.
    pub fn index_len(&self) -> u64 {
        self.index_entries() * super::record_meta::META_LEN as u64
    }

    /// Bytes of disk one worker's ring takes at most.
    pub fn worker_bytes(&self) -> u64 {
        self.segments as u64 * (self.segment_size + self.index_len()) + self.control_len()
    }
}

pub fn worker_dir(ring: &Path, worker: usize) -> PathBuf {
    ring.join(format!("worker-{worker:02}"))
}

pub fn control_path(worker_dir: &Path) -> PathBuf {
    worker_dir.join("control")
}

pub fn segment_path(worker_dir: &Path, index: usize) -> PathBuf {
    worker_dir.join(format!("seg-{index:03}.pcap"))
}

/// The index file of segment `index`: its records' metadata words.
pub fn index_path(worker_dir: &Path, index: usize) -> PathBuf {
    worker_dir.join(format!("seg-{index:03}.idx"))
}

/// The name segment `index`'s data file has while it is not a complete sealed segment
/// (live, waiting for its trim, prepared for reuse, or never written).
pub fn hidden_segment_path(worker_dir: &Path, index: usize) -> PathBuf {
    worker_dir.join(format!(".seg-{index:03}.pcap.part"))
}

/// The name segment `index`'s index file has while its data file is hidden.
pub fn hidden_index_path(worker_dir: &Path, index: usize) -> PathBuf {
    worker_dir.join(format!(".seg-{index:03}.idx.part"))
}

/// Which of a slot's two files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotFile {
    /// The pcap data file (`seg-NNN.pcap`).
    Data,
    /// The record index (`seg-NNN.idx`).
    Index,
}

impl SlotFile {
    /// The file's visible and hidden names.
    pub fn paths(self, worker_dir: &Path, index: usize) -> (PathBuf, PathBuf) {
        match self {
            SlotFile::Data => (
                segment_path(worker_dir, index),
                hidden_segment_path(worker_dir, index),
            ),
            SlotFile::Index => (
                index_path(worker_dir, index),
                hidden_index_path(worker_dir, index),
            ),
        }
    }
}

/// Where segment `index`'s file is now: its visible name if that exists, else its hidden
/// one (which may not exist either). For tools and tests; readers racing the writer use
/// [`crate::reader::open_slot_file`].
pub fn current_path(worker_dir: &Path, index: usize, which: SlotFile) -> PathBuf {
    let (visible, hidden) = which.paths(worker_dir, index);
    if visible.exists() {
        visible
    } else {
        hidden
    }
}

/// A new ring's generation: now in Unix ns (never 0).
pub fn new_generation() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        .max(1)
}

/// The generation recorded in a control file's header (0: not recorded).
pub fn generation(words: &[AtomicU64]) -> u64 {
    words
        .get(W_GENERATION)
        .map_or(0, |w| w.load(Ordering::Acquire))
}

/// One segment's entry in a mapped control file.
pub struct Entry<'a>(pub &'a [AtomicU64]);

impl<'a> Entry<'a> {
    pub fn of(words: &'a [AtomicU64], index: usize) -> Option<Self> {
        let start = HEADER_WORDS + ENTRY_WORDS * index;
        words.get(start..start + ENTRY_WORDS).map(Entry)
    }
    #[inline(always)]
    pub fn load(&self, field: usize, o: Ordering) -> u64 {
        self.0[field].load(o)
    }
    #[inline(always)]
    pub fn store(&self, field: usize, v: u64, o: Ordering) {
        self.0[field].store(v, o)
    }
}

/// A consistent copy of one entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EntrySnapshot {
    pub index: usize,
    pub seq: u64,
    pub committed: u64,
    pub first_ts: u64,
    pub last_ts: u64,
    pub packets: u64,
    pub state: SegState,
}

impl Entry<'_> {
    /// Loads `seq` first: the writer stores a new segment's `committed = 0` before its new
    /// `seq`, so the pair read here never matches a new seq with an old length.
    pub fn snapshot(&self, index: usize) -> EntrySnapshot {
        let seq = self.load(E_SEQ, Ordering::Acquire);
        let committed = self.load(E_COMMITTED, Ordering::Acquire);
        EntrySnapshot {
            index,
            seq,
            committed,
            first_ts: self.load(E_FIRST_TS, Ordering::Relaxed),
            last_ts: self.load(E_LAST_TS, Ordering::Relaxed),
            packets: self.load(E_PACKETS, Ordering::Relaxed),
            state: SegState::from_word(self.load(E_STATE, Ordering::Acquire)),
        }
    }
}

/// Reads and checks a control file's header; returns the geometry it records.
pub fn read_header(words: &[AtomicU64]) -> Result<Geometry, String> {
    if words.len() < HEADER_WORDS {
        return Err("control file too short".into());
    }
    if words[W_MAGIC].load(Ordering::Acquire) != CONTROL_MAGIC {
        return Err("not a mirrorcap ring control file (bad magic)".into());
    }
    let v = words[W_VERSION].load(Ordering::Relaxed);
    if v != CONTROL_VERSION {
        return Err(format!(
            "control file version {v}, this build reads {CONTROL_VERSION}: export it with the mirrorcap that wrote it, then use another --ring-dir or remove this one"
        ));
    }
    let g = Geometry {
        segments: words[W_SEGMENTS].load(Ordering::Relaxed) as u32,
        segment_size: words[W_SEGMENT_SIZE].load(Ordering::Relaxed),
    };
    if words.len() < HEADER_WORDS + ENTRY_WORDS * g.segments as usize {
        return Err("control file shorter than its segment count".into());
    }
    Ok(g)
}
