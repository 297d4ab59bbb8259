//! One timeline over rings and stores: `mirrorcap export DIR [DIR]...` where each DIR is a ring
//! directory (`worker-NN/control`) or a store directory (`worker-NN/*.idx`), in any order.
//! Every record is written once, merged by timestamp across workers and directories through the
//! ring's [`Sink`] (pcap or pcapng) and cut by its [`ExportFilter`].
//!
//! # The seam
//!
//! A sealed segment can be both still in the ring and already in the store. Records are
//! deduplicated exactly by **(worker, ring generation, ring seq, byte offset in the segment)**:
//! a store file's name carries its ring's generation, its segment's seq and the byte its
//! records start at (`from`), and its index the
//! bytes it holds, so it covers `[from, from + bytes)` of that seq. A ring record whose offset
//! lies in a store file's range is skipped: the store is preferred where both hold a record
//! (it is durable and the ring may overwrite the segment mid-read), the ring supplies the rest
//! (segments not yet stored, the live segment, bytes a restarted writer appended). Offsets
//! rather than timestamps or bytes because equal packets at equal times are legitimately
//! distinct records, and offsets are what the spooler itself cuts continued segments by.
//! Workers are matched by number, so the directories are taken to be one appliance's ring and
//! its store; a ring recreated beside an old store is another generation (generation 0, from
//! names older than generations, matches any).
//!
//! Store files and blocks whose index's time range lies outside `--from/--to` are not read.
//! A query ([`export_selected`], [`Select`]) further drops the blocks a store file's flow
//! index excludes and keeps only the records its filter selects.

use crate::remote::RemoteWorker;
use crate::storedir::{list, same_ring, StoredFile};
use crate::{StoreError, StoreFile, StoreIndex};
use mirrorcap_ring::layout::{control_path, EntrySnapshot, SegState};
use mirrorcap_ring::output::Sink;
use mirrorcap_ring::pcapfmt::{FILE_HEADER_LEN, RECORD_HEADER_LEN};
use mirrorcap_ring::reader::{list_worker_dirs, Record, WorkerReader};
use mirrorcap_ring::{ExportFilter, ExportStats};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};

mod tail;
pub use tail::tail_history;

/// What a directory given to export holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirKind {
    Ring,
    Store,
}

/// Whether `dir` is a ring (a `worker-NN` with a control file) or a store (a `worker-NN` with
/// an index file).
pub fn dir_kind(dir: &Path) -> crate::Result<DirKind> {
    let (mut ring, mut store) = (false, false);
    for (_, w) in workers(dir)? {
        ring |= control_path(&w).is_file();
        store |= std::fs::read_dir(&w)
            .map_err(io("read store directory", &w))?
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".idx"));
    }
    match (ring, store) {
        (true, _) => Ok(DirKind::Ring),
        (false, true) => Ok(DirKind::Store),
        _ => Err(StoreError::Config(format!(
            "{} is not a mirrorcap ring (no worker-NN/control inside) or store (no worker-NN/*.idx)",
            dir.display()
        ))),
    }
}

/// The `worker-NN` subdirectories of `dir` with their numbers.
fn workers(dir: &Path) -> crate::Result<Vec<(usize, PathBuf)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io("read directory", dir))? {
        let e = e.map_err(io("read directory", dir))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(n) = name.strip_prefix("worker-").and_then(|n| n.parse().ok()) {
            if e.path().is_dir() {
                out.push((n, e.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io { op, path, source }
}

/// What a timeline export wrote and read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimelineStats {
    /// Packets, bytes, interfaces; `workers` counts distinct worker numbers; `read` and
    /// `segments_skipped` are the rings'.
    pub export: ExportStats,
    pub store_files: u64,
    pub store_blocks_read: u64,
    /// Store blocks (of files read or not) outside the time range, never read.
    pub store_blocks_skipped: u64,
    /// Ring records not written because a store file holds them (the seam), those of the
    /// segments not read included.
    pub ring_records_in_store: u64,
    /// Sealed ring segments not even read because store files hold all their records.
    pub ring_segments_in_store: u64,
    /// Store blocks in the time range that [`Select::blocks`] excluded, never read.
    pub store_blocks_excluded: u64,
    /// Stored (compressed) bytes of the store blocks read.
    pub store_bytes_read: u64,
    /// Store blocks read that gave at least one record written, and their stored bytes.
    pub store_blocks_matching: u64,
    pub store_bytes_matching: u64,
}

/// What a query adds to an export: which blocks of a store file to read, which records to
/// write, and a look at the counts after each block or segment read (progress).
pub trait Select {
    /// Of `candidates`, the blocks of `file` in the time range, those to read.
    fn blocks(
        &mut self,
        _file: &StoredFile,
        _index: &StoreIndex,
        candidates: Vec<usize>,
    ) -> Vec<usize> {
        candidates
    }

    /// Whether to write `r` (one the time range and sessions keep).
    fn keeps(&mut self, _r: &Record) -> bool {
        true
    }

    /// Called after each store block or ring segment read, and once at the end.
    fn progress(&mut self, _stats: &TimelineStats) {}
}

/// Every record: what `export` without an expression selects.
pub struct SelectAll;
impl Select for SelectAll {}

/// The bytes `[from, to)` of a ring segment that a store file of ring `generation` holds.
#[derive(Clone, Copy, Debug)]
struct Span {
    generation: u64,
    from: u64,
    to: u64,
}

/// One ordered stream of records: a worker's store files or a worker's ring.
struct Stream<'a> {
    worker: usize,
    /// 0 for a store, 1 for a ring: at equal timestamps the store (older data) goes first.
    rank: u8,
    kind: StreamKind,
    pending: VecDeque<Record>,
    filter: &'a ExportFilter,
}

enum StreamKind {
    /// Files (seq, from order) and the blocks of each to read.
    Store(VecDeque<ToRead>),
    Ring {
        reader: Box<WorkerReader>,
        seqs: VecDeque<u64>,
        /// Byte ranges of each seq the store holds.
        covered: HashMap<u64, Vec<Span>>,
        /// The ring's generation: a store file covers its segment only if of the same ring.
        generation: u64,
    },
}

impl Stream<'_> {
    fn peek_ts(
        &mut self,
        stats: &mut TimelineStats,
        sel: &mut dyn Select,
    ) -> crate::Result<Option<u64>> {
        while self.pending.is_empty() {
            let filter = self.filter;
            let recs: Vec<Record> = match &mut self.kind {
                StreamKind::Store(files) => match next_block(files)? {
                    Some((recs, stored)) => {
                        stats.store_blocks_read += 1;
                        stats.store_bytes_read += stored;
                        let before = self.pending.len();
                        self.pending.extend(
                            recs.into_iter()
                                .filter(|r| keeps(filter, r) && sel.keeps(r)),
                        );
                        if self.pending.len() > before {
                            stats.store_blocks_matching += 1;
                            stats.store_bytes_matching += stored;
                        }
                        sel.progress(stats);
                        continue;
                    }
                    None => return Ok(None),
                },
                StreamKind::Ring {
                    reader,
                    seqs,
                    covered,
                    generation,
                } => {
                    let raced = reader.stats.raced;
                    let got = reader
                        .next_segment()
                        .map_err(|e| StoreError::Ring(e.to_string()))?;
                    // The reader skips segments rotated over while it read them.
                    seqs.drain(..(reader.stats.raced - raced) as usize);
                    let Some(recs) = got else {
                        return Ok(None);
                    };
                    let seq = seqs.pop_front().expect("one seq per segment read");
                    let ranges = covered.get(&seq).map(Vec::as_slice).unwrap_or(&[]);
                    let mut off = FILE_HEADER_LEN as u64;
                    let mut keep = Vec::with_capacity(recs.len());
                    for r in recs {
                        let at = off;
                        off += (RECORD_HEADER_LEN + r.data.len()) as u64;
                        let stored = ranges.iter().any(|r| {
                            same_ring(r.generation, *generation) && (r.from..r.to).contains(&at)
                        });
                        if stored {
                            stats.ring_records_in_store += 1;
                        } else {
                            keep.push(r);
                        }
                    }
                    keep
                }
            };
            self.pending.extend(
                recs.into_iter()
                    .filter(|r| keeps(filter, r) && sel.keeps(r)),
            );
            sel.progress(stats);
        }
        Ok(self.pending.front().map(|r| r.ts_ns))
    }
}

/// A store file to read, and which of its blocks; opened only when its first block is read
/// (and closed when its last is), so a timeline over thousands of files holds one open at a
/// time per worker, not one descriptor per file.
struct ToRead {
    file: StoredFile,
    index: Option<StoreIndex>,
    open: Option<StoreFile>,
    blocks: VecDeque<usize>,
}

impl ToRead {
    fn new(file: StoredFile, index: StoreIndex, keep: impl Fn(&crate::BlockInfo) -> bool) -> Self {
        let blocks = (0..index.blocks.len())
            .filter(|&k| keep(&index.blocks[k]))
            .collect();
        ToRead {
            file,
            index: Some(index),
            open: None,
            blocks,
        }
    }
}

/// Blocks of an archived file fetched per batch: 16 blocks of 1 MiB keep a handful of range
/// requests in flight without holding much memory.
const PREFETCH_BLOCKS: usize = 16;

/// The records of the next block to read from `files` (dropping files read to their end) and
/// the block's stored bytes; `None` when every file is read.
fn next_block(files: &mut VecDeque<ToRead>) -> crate::Result<Option<(Vec<Record>, u64)>> {
    while let Some(t) = files.front_mut() {
        let Some(k) = t.blocks.pop_front() else {
            files.pop_front();
            continue;
        };
        let open = match &mut t.open {
            Some(f) => f,
            None => {
                let index = t.index.take().expect("read at listing");
                t.open.insert(StoreFile::open_stored(&t.file, index)?)
            }
        };
        if open.needs_fetch(k) {
            // This block and the next ones of the file in one batch of range requests.
            let ahead: Vec<usize> = std::iter::once(k)
                .chain(t.blocks.iter().copied())
                .take(PREFETCH_BLOCKS)
                .collect();
            open.prefetch(&ahead)?;
        }
        let stored = open.index().blocks[k].stored_len;
        let recs = open.read_block(k)?;
        return Ok(Some((
            recs.into_iter()
                .map(|r| Record {
                    ts_ns: r.ts_ns,
                    orig_len: r.orig_len,
                    data: r.data,
                    meta: r.meta,
                })
                .collect(),
            stored,
        )));
    }
    Ok(None)
}

/// Whether store files of ring `generation` hold every byte of a segment's records, from its
/// file header to `committed`.
fn stored_whole(spans: Option<&Vec<Span>>, generation: u64, committed: u64) -> bool {
    let mut spans: Vec<&Span> = spans
        .into_iter()
        .flatten()
        .filter(|s| same_ring(s.generation, generation))
        .collect();
    spans.sort_by_key(|s| s.from);
    let mut upto = FILE_HEADER_LEN as u64;
    for s in spans {
        if s.from <= upto {
            upto = upto.max(s.to);
        }
    }
    upto >= committed
}

fn keeps(f: &ExportFilter, r: &Record) -> bool {
    f.from_ns.is_none_or(|t| r.ts_ns >= t)
        && f.to_ns.is_none_or(|t| r.ts_ns <= t)
        && f.sessions.keeps(r.meta)
}

/// Whether `[lo, hi]` can hold a record of the time range.
fn in_range(f: &ExportFilter, lo: u64, hi: u64) -> bool {
    f.from_ns.is_none_or(|t| hi >= t) && f.to_ns.is_none_or(|t| lo <= t)
}

/// Merges every record of `dirs` (rings and stores, any order) that `filter` selects into `out`
/// through `sink`, once each, by timestamp; see the module doc for the seam.
pub fn export(
    dirs: &[PathBuf],
    out: &mut dyn Write,
    filter: &ExportFilter,
    sink: &mut Sink,
) -> crate::Result<TimelineStats> {
    export_selected(dirs, out, filter, sink, &mut SelectAll)
}

/// [`export`] with a query's [`Select`]: blocks it excludes are not read, records it refuses
/// not written.
pub fn export_selected(
    dirs: &[PathBuf],
    out: &mut dyn Write,
    filter: &ExportFilter,
    sink: &mut Sink,
    sel: &mut dyn Select,
) -> crate::Result<TimelineStats> {
    export_sources(dirs, Vec::new(), out, filter, sink, sel)
}

/// [`export_selected`] over directories and archived store files (`remote`, listed by the
/// archive). A store file both on disk and archived (same worker and name: the name carries
/// its first packet's nanosecond and its ring's creation time) is read once, from disk.
pub fn export_sources(
    dirs: &[PathBuf],
    remote: Vec<RemoteWorker>,
    out: &mut dyn Write,
    filter: &ExportFilter,
    sink: &mut Sink,
    sel: &mut dyn Select,
) -> crate::Result<TimelineStats> {
    let mut stats = TimelineStats::default();
    let mut rings = Vec::new();
    let mut stores: Vec<(usize, Vec<(StoredFile, StoreIndex)>)> = Vec::new();
    let mut covered: HashMap<usize, HashMap<u64, Vec<Span>>> = HashMap::new();
    let mut local: HashSet<(usize, String)> = HashSet::new();
    let mut add = |n: usize, f: &StoredFile, index: &StoreIndex| {
        let raw: u64 = index.blocks.iter().map(|b| b.raw_len).sum();
        let end = f.from + raw.saturating_sub(FILE_HEADER_LEN as u64);
        let c = covered.entry(n).or_default().entry(f.seq).or_default();
        c.push(Span {
            generation: f.generation,
            from: f.from,
            to: end,
        });
    };
    for d in dirs {
        match dir_kind(d)? {
            DirKind::Ring => rings.push(d.clone()),
            DirKind::Store => {
                for (n, w) in workers(d)? {
                    let mut files = Vec::new();
                    for f in list(&w)? {
                        let index = StoreIndex::read(&f.index)?;
                        add(n, &f, &index);
                        local.insert((n, f.name.clone()));
                        files.push((f, index));
                    }
                    stores.push((n, files));
                }
            }
        }
    }
    for r in remote {
        let mut files = Vec::new();
        for (f, index) in r.files {
            if local.insert((r.worker, f.name.clone())) {
                add(r.worker, &f, &index);
                files.push((f, index));
            }
        }
        stores.push((r.worker, files));
    }
    let mut streams = Vec::new();
    for (worker, mut files) in stores {
        // An older ring's files first (generations are creation times; 0, unknown, oldest).
        files.sort_by_key(|(f, _)| (f.generation, f.seq, f.from));
        let mut to_read = VecDeque::new();
        for (f, index) in files {
            let skipped = std::cell::Cell::new(0);
            let mut t = ToRead::new(f, index, |b| {
                let keep = b.records > 0 && in_range(filter, b.min_ts_ns, b.max_ts_ns);
                skipped.set(skipped.get() + u64::from(b.records > 0 && !keep));
                keep
            });
            stats.store_blocks_skipped += skipped.get();
            let index = t.index.as_ref().expect("read at listing");
            let before = t.blocks.len();
            t.blocks = sel.blocks(&t.file, index, t.blocks.into()).into();
            stats.store_blocks_excluded += (before - t.blocks.len()) as u64;
            if !t.blocks.is_empty() {
                stats.store_files += 1;
                to_read.push_back(t);
            }
        }
        streams.push(stream(worker, 0, StreamKind::Store(to_read), filter));
    }
    for ring in &rings {
        for w in list_worker_dirs(ring).map_err(io("read ring directory", ring))? {
            let n = w
                .file_name()
                .and_then(|s| s.to_str())
                .and_then(|s| s.strip_prefix("worker-"))
                .and_then(|s| s.parse().ok())
                .unwrap_or(usize::MAX);
            let mut reader = WorkerReader::open(&w).map_err(|e| StoreError::Ring(e.to_string()))?;
            stats.export.segments_skipped += reader.retain_segments(|s| {
                let after = filter.to_ns.is_some_and(|t| s.first_ts > t);
                let before =
                    s.state == SegState::Sealed && filter.from_ns.is_some_and(|f| s.last_ts < f);
                s.packets == 0 || !(after || before)
            });
            let generation = reader.generation();
            // A sealed segment the store holds in full gives nothing the store does not: not
            // read at all (a query over ring and store otherwise scans the whole ring).
            let cov = covered.get(&n);
            let whole = |s: &EntrySnapshot| {
                s.state == SegState::Sealed
                    && cov.is_some_and(|c| stored_whole(c.get(&s.seq), generation, s.committed))
            };
            let (k, p) = reader
                .segments()
                .iter()
                .filter(|s| whole(s))
                .fold((0, 0), |(k, p), s| (k + 1, p + s.packets));
            reader.retain_segments(|s| !whole(s));
            stats.ring_segments_in_store += k;
            stats.ring_records_in_store += p;
            let seqs = reader.segments().iter().map(|s| s.seq).collect();
            let kind = StreamKind::Ring {
                generation,
                reader: Box::new(reader),
                seqs,
                covered: covered.get(&n).cloned().unwrap_or_default(),
            };
            streams.push(stream(n, 1, kind, filter));
        }
    }
    merge(streams, out, sink, stats, sel)
}

fn werr(source: std::io::Error) -> StoreError {
    StoreError::Io {
        op: "write export",
        path: PathBuf::from("<output>"),
        source,
    }
}

fn stream(worker: usize, rank: u8, kind: StreamKind, filter: &ExportFilter) -> Stream<'_> {
    Stream {
        worker,
        rank,
        kind,
        pending: VecDeque::new(),
        filter,
    }
}

fn merge(
    mut streams: Vec<Stream>,
    out: &mut dyn Write,
    sink: &mut Sink,
    mut stats: TimelineStats,
    sel: &mut dyn Select,
) -> crate::Result<TimelineStats> {
    // Ties go to the lower worker, then the store: the same output whatever the dir order.
    streams.sort_by_key(|s| (s.worker, s.rank));
    let mut heap = BinaryHeap::new();
    for (i, s) in streams.iter_mut().enumerate() {
        if let Some(ts) = s.peek_ts(&mut stats, sel)? {
            heap.push(Reverse((ts, i)));
        }
    }
    sink.begin(out).map_err(werr)?;
    while let Some(Reverse((_, i))) = heap.pop() {
        let r = streams[i].pending.pop_front().expect("peeked");
        sink.write(out, &r).map_err(werr)?;
        stats.export.packets += 1;
        stats.export.bytes += r.data.len() as u64;
        if let Some(ts) = streams[i].peek_ts(&mut stats, sel)? {
            heap.push(Reverse((ts, i)));
        }
    }
    out.flush().map_err(werr)?;
    stats.export.interfaces = sink.interfaces();
    let mut workers: Vec<usize> = streams.iter().map(|s| s.worker).collect();
    workers.dedup();
    stats.export.workers = workers.len();
    for s in &streams {
        if let StreamKind::Ring { reader, .. } = &s.kind {
            let r = reader.stats;
            stats.export.read.segments += r.segments;
            stats.export.read.records += r.records;
            stats.export.read.raced += r.raced;
            stats.export.read.torn_bytes += r.torn_bytes;
        }
    }
    sel.progress(&stats);
    Ok(stats)
}
