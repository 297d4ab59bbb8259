//! Reading a ring: each worker's segments in the order they were written, each cut to its
//! committed length, read whole and checked against its control entry so a segment rotated
//! over while being read is discarded rather than returned torn.
use super::layout::*;
use super::mmap::ControlView;
use super::record_meta::{decode_index, RecordMeta, META_LEN};
use super::RingError;
pub use crate::spans::{
    parse_spans, parse_spans_checked, RecordSpan, SegmentBuf, SegmentRead, Visit, READ_CHUNK,
};
use crate::spans::{read_full_at, MetaReader, SpanParser};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, Ordering};

/// One record read back: capture time, original length, the bytes kept and its metadata
/// word from the segment's index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub ts_ns: u64,
    pub orig_len: u32,
    pub data: Vec<u8>,
    pub meta: RecordMeta,
}

/// Counters of a read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadStats {
    pub segments: u64,
    pub records: u64,
    /// Segments overwritten by the writer while being read (skipped).
    pub raced: u64,
    /// Bytes after the last whole record of a segment (a torn tail, not returned).
    pub torn_bytes: u64,
}

/// The `worker-NN` folders of a ring that hold a control file, in worker order (none when
/// the ring has no worker yet).
pub fn list_worker_dirs(ring: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(ring)?
        .flatten()
        .map(|d| d.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("worker-"))
                && control_path(p).is_file()
        })
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// The worker directories of a ring, in worker order; an error when there are none.
pub fn worker_dirs(ring: &Path) -> Result<Vec<PathBuf>, RingError> {
    let dirs = list_worker_dirs(ring).map_err(|e| RingError::Io {
        op: "read ring directory".into(),
        path: ring.to_path_buf(),
        source: e,
    })?;
    if dirs.is_empty() {
        return Err(RingError::Config(format!(
            "{} is not a mirrorcap ring (no worker-NN/control inside)",
            ring.display()
        )));
    }
    Ok(dirs)
}

/// How many times [`open_slot_file`] tries both names of a file the writer renames.
const OPEN_TRIES: usize = 64;

/// Opens slot `index`'s file `which` under whichever name it has now (see `layout`): the
/// visible one, else the hidden one. The writer may rename it between the two tries (once per
/// segment): then both are tried again. A descriptor opened before a rename stays valid, and
/// what it reads is checked against the control entry's `seq` as usual. NotFound only if the
/// file has neither name.
pub fn open_slot_file(
    dir: &Path,
    index: usize,
    which: SlotFile,
) -> std::io::Result<(File, PathBuf)> {
    let (visible, hidden) = which.paths(dir, index);
    let mut last = None;
    for attempt in 0..OPEN_TRIES {
        for path in [&visible, &hidden] {
            match File::open(path) {
                Ok(f) => return Ok((f, path.clone())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        if attempt > 0 {
            std::thread::yield_now();
        }
    }
    Err(last.unwrap_or_else(|| std::io::ErrorKind::NotFound.into()))
}

/// One worker's ring, read segment by segment, oldest first.
pub struct WorkerReader {
    dir: PathBuf,
    control: ControlView,
    generation: u64,
    slots: usize,
    order: Vec<EntrySnapshot>,
    next: usize,
    pub stats: ReadStats,
}

impl WorkerReader {
    pub fn open(dir: &Path) -> Result<Self, RingError> {
        let cpath = control_path(dir);
        let f = File::open(&cpath).map_err(|e| RingError::Io {
            op: "open".into(),
            path: cpath.clone(),
            source: e,
        })?;
        let control = ControlView::map(&f).map_err(|e| RingError::Io {
            op: "mmap".into(),
            path: cpath.clone(),
            source: e,
        })?;
        let g = read_header(control.words())
            .map_err(|m| RingError::Config(format!("{}: {m}", cpath.display())))?;
        let mut order: Vec<EntrySnapshot> = (0..g.segments as usize)
            .filter_map(|i| Entry::of(control.words(), i).map(|e| e.snapshot(i)))
            .filter(|s| s.seq > 0)
            .collect();
        order.sort_by_key(|s| s.seq);
        Ok(WorkerReader {
            dir: dir.to_path_buf(),
            generation: generation(control.words()),
            slots: g.segments as usize,
            control,
            order,
            next: 0,
            stats: ReadStats::default(),
        })
    }

    /// The ring's generation (its creation time in Unix ns, see `layout`): a ring deleted and
    /// recreated has another, while its seqs start again at 1. 0 for a ring created before the
    /// generation word and not reopened by a writer since.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// How many segments the ring has (its geometry), written or not.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Keeps only the segments `keep` accepts (before reading starts); returns how many
    /// were dropped.
    pub fn retain_segments(&mut self, keep: impl Fn(&EntrySnapshot) -> bool) -> u64 {
        let before = self.order.len();
        self.order.retain(|s| keep(s));
        (before - self.order.len()) as u64
    }

    /// The segments this reader will visit, oldest first, as indexed at open.
    pub fn segments(&self) -> &[EntrySnapshot] {
        &self.order
    }

    /// The records of the next segment, or None when all were read.
    pub fn next_segment(&mut self) -> Result<Option<Vec<Record>>, RingError> {
        let mut buf = Vec::new();
        let mut seg = SegmentRead::default();
        if !self.next_segment_into(&mut buf, &mut seg)? {
            return Ok(None);
        }
        let records = seg
            .spans
            .iter()
            .zip(&seg.metas)
            .map(|(s, &meta)| Record {
                ts_ns: s.ts_ns,
                orig_len: s.orig_len,
                data: s.data(&buf).to_vec(),
                meta,
            })
            .collect();
        Ok(Some(records))
    }

    /// Reads the next segment into `buf` (its committed bytes from offset 0: the file header,
    /// then the records) and describes it in `seg`, reusing both: the store writer's read,
    /// with no allocation per record and none per segment once `buf` and `seg` are grown.
    /// Returns false when all were read.
    pub fn next_segment_into(
        &mut self,
        buf: &mut impl SegmentBuf,
        seg: &mut SegmentRead,
    ) -> Result<bool, RingError> {
        self.next_segment_visit(buf, seg, |_| {})
    }

    /// [`next_segment_into`](Self::next_segment_into), reading [`READ_CHUNK`] bytes at a
    /// time and calling `visit` after each with what is read and parsed so far, so the caller
    /// can work on records while they are in the CPU's cache (each call sees more; a segment
    /// overwritten while read is still dropped after its visits, so what `visit` made of it
    /// must be dropped too: the reader then goes on to the next segment, with new visits).
    pub fn next_segment_visit(
        &mut self,
        buf: &mut impl SegmentBuf,
        seg: &mut SegmentRead,
        mut visit: impl FnMut(Visit<'_>),
    ) -> Result<bool, RingError> {
        while self.next < self.order.len() {
            let want = self.order[self.next];
            self.next += 1;
            if self.read_segment(want, buf, seg, &mut visit)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn read_segment(
        &mut self,
        want: EntrySnapshot,
        buf: &mut impl SegmentBuf,
        seg: &mut SegmentRead,
        visit: &mut impl FnMut(Visit<'_>),
    ) -> Result<bool, RingError> {
        let e = Entry::of(self.control.words(), want.index).expect("index from this control file");
        let before = e.snapshot(want.index);
        if before.seq != want.seq {
            self.stats.raced += 1;
            return Ok(false);
        }
        let (f, path) = match open_slot_file(&self.dir, want.index, SlotFile::Data) {
            Ok(found) => found,
            Err(err) => {
                if e.load(E_SEQ, Ordering::Acquire) != want.seq {
                    self.stats.raced += 1;
                    return Ok(false);
                }
                return Err(RingError::Io {
                    op: "open".into(),
                    path: segment_path(&self.dir, want.index),
                    source: err,
                });
            }
        };
        let read_err = |source| RingError::Io {
            op: "read".into(),
            path: path.clone(),
            source,
        };
        // Only committed bytes, sealed or live: a sealed segment can be resumed (extended with
        // zeros, same seq) by a restarted writer while we read it.
        // No more than the file holds: a damaged control file's `committed` must not size the
        // buffer (the fuzz target found one of 2^40 bytes).
        let len = f.metadata().map_err(read_err)?.len().min(before.committed);
        let dst = buf.space(len as usize).map_err(read_err)?;
        let mut parser = SpanParser::default();
        seg.spans.clear();
        seg.metas.clear();
        let mut metas = MetaReader::new(
            match open_slot_file(&self.dir, want.index, SlotFile::Index) {
                Ok((f, _)) => Some(f),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(source) => {
                    return Err(RingError::Io {
                        op: "open".into(),
                        path: index_path(&self.dir, want.index),
                        source,
                    })
                }
            },
        );
        let mut n = 0;
        loop {
            let to = (n + READ_CHUNK).min(dst.len());
            let got = read_full_at(&f, &mut dst[n..to], n as u64).map_err(read_err)?;
            let eof = n + got < to;
            n += got;
            parser.parse(&dst[..n], &mut seg.spans);
            metas
                .read_to(&mut seg.metas, seg.spans.len())
                .map_err(|source| RingError::Io {
                    op: "read".into(),
                    path: index_path(&self.dir, want.index),
                    source,
                })?;
            visit(Visit {
                seq: want.seq,
                bytes: &dst[..n],
                spans: &seg.spans,
                metas: &seg.metas,
                canonical: parser.canonical,
            });
            if eof || n == dst.len() {
                break;
            }
        }
        let (end, torn) = (parser.off, n - parser.off);
        seg.len = end;
        seg.canonical = parser.canonical;
        // The index words of those records were stored before `committed` was published (read
        // step by step above).
        fence(Ordering::Acquire);
        if e.load(E_SEQ, Ordering::Relaxed) != want.seq {
            self.stats.raced += 1;
            return Ok(false);
        }
        seg.snapshot = want;
        self.stats.segments += 1;
        self.stats.records += seg.spans.len() as u64;
        self.stats.torn_bytes += torn as u64;
        Ok(true)
    }
}

/// Splits a pcap file's bytes into records; returns them and the count of trailing bytes that
/// do not form a whole record.
pub fn parse_records(buf: &[u8]) -> (Vec<Record>, usize) {
    let mut spans = Vec::new();
    let (_, torn) = parse_spans(buf, &mut spans);
    let records = spans
        .iter()
        .map(|s| Record {
            ts_ns: s.ts_ns,
            orig_len: s.orig_len,
            data: s.data(buf).to_vec(),
            meta: RecordMeta::UNTAGGED,
        })
        .collect();
    (records, torn)
}

/// The first `n` metadata words of slot `index`'s index file, under whichever name it has
/// (see [`open_slot_file`]); a missing or short file leaves records untagged.
pub fn read_slot_index(dir: &Path, index: usize, n: usize) -> Result<Vec<RecordMeta>, RingError> {
    match open_slot_file(dir, index, SlotFile::Index) {
        Ok((f, path)) => read_index_from(f, &path, n),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(decode_index(&[], n)),
        Err(e) => Err(RingError::Io {
            op: "open".into(),
            path: index_path(dir, index),
            source: e,
        }),
    }
}

fn read_index_from(f: File, path: &Path, n: usize) -> Result<Vec<RecordMeta>, RingError> {
    let mut bytes = Vec::with_capacity(n * META_LEN);
    f.take((n * META_LEN) as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| RingError::Io {
            op: "read".into(),
            path: path.to_path_buf(),
            source: e,
        })?;
    Ok(decode_index(&bytes, n))
}

/// The first `n` metadata words of an index file; a missing or short file leaves records
/// untagged.
pub fn read_index(path: &Path, n: usize) -> Result<Vec<RecordMeta>, RingError> {
    match File::open(path) {
        Ok(f) => read_index_from(f, path, n),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(decode_index(&[], n)),
        Err(e) => Err(RingError::Io {
            op: "open".into(),
            path: path.to_path_buf(),
            source: e,
        }),
    }
}
