//! Reading a ring: each worker's segments in the order they were written, each cut to its
//! committed length, read whole and checked against its control entry so a segment rotated
//! over while being read is discarded rather than returned torn.
use super::layout::*;
use super::mmap::ControlView;
use super::pcapfmt::{
    file_header, parse_file_header, RecordHeader, Resolution, FILE_HEADER_LEN, RECORD_HEADER_LEN,
    SNAPLEN,
};
use super::record_meta::{decode_index, RecordMeta, META_LEN};
use super::RingError;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
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
        let dst = buf.space(before.committed as usize).map_err(read_err)?;
        let mut parser = SpanParser::default();
        seg.spans.clear();
        let mut n = 0;
        loop {
            let to = (n + READ_CHUNK).min(dst.len());
            let got = read_full_at(&f, &mut dst[n..to], n as u64).map_err(read_err)?;
            let eof = n + got < to;
            n += got;
            parser.parse(&dst[..n], &mut seg.spans);
            visit(Visit {
                seq: want.seq,
                bytes: &dst[..n],
                spans: &seg.spans,
                canonical: parser.canonical,
            });
            if eof || n == dst.len() {
                break;
            }
        }
        let (end, torn) = (parser.off, n - parser.off);
        seg.len = end;
        seg.canonical = parser.canonical;
        // The index words of those records were stored before `committed` was published.
        seg.metas.clear();
        seg.metas
            .extend(read_slot_index(&self.dir, want.index, seg.spans.len())?);
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

/// Memory a segment is read into: a `Vec`, or page-aligned memory that the store writer then
/// writes to disk with O_DIRECT as it is.
pub trait SegmentBuf {
    /// At least `len` writable bytes (their contents do not matter).
    fn space(&mut self, len: usize) -> std::io::Result<&mut [u8]>;
}

impl SegmentBuf for Vec<u8> {
    fn space(&mut self, len: usize) -> std::io::Result<&mut [u8]> {
        if self.len() < len {
            self.resize(len, 0);
        }
        Ok(&mut self[..len])
    }
}

/// One segment read by [`WorkerReader::next_segment_into`].
#[derive(Clone, Debug, Default)]
pub struct SegmentRead {
    /// The segment's control entry as listed at open.
    pub snapshot: EntrySnapshot,
    /// Bytes from the file header through the last whole record.
    pub len: usize,
    /// Its records, in file order.
    pub spans: Vec<RecordSpan>,
    /// Their metadata words (same order).
    pub metas: Vec<RecordMeta>,
    /// The file header and every record header are byte for byte what
    /// [`pcapfmt`](super::pcapfmt) writes (a ring writer's segment always is): a store file
    /// can be these bytes as they are.
    pub canonical: bool,
}

/// Where a record lies in the bytes it was parsed from, and its decoded header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordSpan {
    /// Offset of its 16-byte record header.
    pub offset: usize,
    pub ts_ns: u64,
    pub incl_len: u32,
    pub orig_len: u32,
}

impl RecordSpan {
    /// Bytes of the record: header and data.
    pub fn record_len(&self) -> usize {
        RECORD_HEADER_LEN + self.incl_len as usize
    }

    /// The frame's bytes in `buf`.
    pub fn data<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.offset + RECORD_HEADER_LEN..self.offset + self.record_len()]
    }
}

/// What [`WorkerReader::next_segment_visit`] has of a segment after one more chunk: its bytes
/// read so far, the records whole in them, and whether all headers so far are canonical.
pub struct Visit<'a> {
    /// The segment's seq (a new one when the one before was overwritten while read).
    pub seq: u64,
    pub bytes: &'a [u8],
    pub spans: &'a [RecordSpan],
    pub canonical: bool,
}

/// Bytes per read of [`WorkerReader::next_segment_visit`]: what was read last is still in the
/// CPU's cache when it is parsed and visited (a whole 64 MiB segment read at once is not, and
/// parsing it cost as much as reading it).
pub const READ_CHUNK: usize = 2 << 20;

/// Reads at `at` until `dst` is full or the file ends; returns the bytes read.
fn read_full_at(f: &File, dst: &mut [u8], at: u64) -> std::io::Result<usize> {
    let mut n = 0;
    while n < dst.len() {
        match f.read_at(&mut dst[n..], at + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Splits a pcap file's bytes into record spans (replacing `spans`' contents); returns the
/// end of the last whole record and the count of trailing bytes that do not form one.
pub fn parse_spans(buf: &[u8], spans: &mut Vec<RecordSpan>) -> (usize, usize) {
    let (end, torn, _) = parse_spans_checked(buf, spans);
    (end, torn)
}

/// [`parse_spans`], and whether every header is canonical (see [`SegmentRead::canonical`]).
pub fn parse_spans_checked(buf: &[u8], spans: &mut Vec<RecordSpan>) -> (usize, usize, bool) {
    spans.clear();
    let mut p = SpanParser::default();
    p.parse(buf, spans);
    (p.off, buf.len() - p.off, p.canonical)
}

/// Parses a pcap's records as its bytes arrive: each [`parse`](Self::parse) takes all the
/// bytes so far and adds the records now whole; the result is the same as one parse of all.
#[derive(Default)]
struct SpanParser {
    res: Option<Resolution>,
    /// Where the next record starts (0: the file header is not checked yet).
    off: usize,
    canonical: bool,
}

impl SpanParser {
    fn parse(&mut self, buf: &[u8], spans: &mut Vec<RecordSpan>) {
        let res = match self.res {
            Some(r) => r,
            None => {
                let Some(r) = buf.get(..FILE_HEADER_LEN).and_then(parse_file_header) else {
                    return;
                };
                self.res = Some(r);
                self.off = FILE_HEADER_LEN;
                self.canonical = buf[..FILE_HEADER_LEN] == file_header();
                r
            }
        };
        let mut off = self.off;
        while let Some(h) = buf.get(off..off + RECORD_HEADER_LEN) {
            let Some(r) = RecordHeader::decode(h, res) else {
                break;
            };
            let end = off + RECORD_HEADER_LEN + r.incl_len as usize;
            if r.incl_len > SNAPLEN || end > buf.len() {
                break;
            }
            // Checked while the header is in the cache anyway.
            self.canonical &= h == r.encode();
            spans.push(RecordSpan {
                offset: off,
                ts_ns: r.ts_ns,
                incl_len: r.incl_len,
                orig_len: r.orig_len,
            });
            off = end;
        }
        self.off = off;
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
