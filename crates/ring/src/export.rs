//! `mirrorcap export`: every worker's records merged by timestamp (k-way, stable within a
//! worker) into one nanosecond pcap or pcapng file, optionally cut to a time range and to
//! some sessions (VNIs).
use super::layout::SegState;
use super::output::{Format, SessionFilter, Sink};
use super::reader::{worker_dirs, ReadStats, Record, WorkerReader};
use super::RingError;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::Write;
use std::path::Path;

/// What an export wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportStats {
    pub workers: usize,
    pub packets: u64,
    pub bytes: u64,
    /// Segments not read at all: their index says they lie outside the time range.
    pub segments_skipped: u64,
    /// pcapng interfaces written (one per session seen); 0 for pcap.
    pub interfaces: usize,
    pub read: ReadStats,
}

/// Which records to export: capture times within `from_ns..=to_ns` (Unix ns), both optional,
/// of the sessions `sessions` keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportFilter {
    pub from_ns: Option<u64>,
    pub to_ns: Option<u64>,
    pub sessions: SessionFilter,
}

impl ExportFilter {
    #[inline]
    fn keeps(&self, r: &Record) -> bool {
        let ts = r.ts_ns;
        self.from_ns.is_none_or(|f| ts >= f)
            && self.to_ns.is_none_or(|t| ts <= t)
            && self.sessions.keeps(r.meta)
    }
}

struct Source<'a> {
    reader: WorkerReader,
    pending: VecDeque<Record>,
    filter: &'a ExportFilter,
}

impl Source<'_> {
    fn peek_ts(&mut self) -> Result<Option<u64>, RingError> {
        while self.pending.is_empty() {
            match self.reader.next_segment()? {
                Some(recs) => self
                    .pending
                    .extend(recs.into_iter().filter(|r| self.filter.keeps(r))),
                None => return Ok(None),
            }
        }
        Ok(self.pending.front().map(|r| r.ts_ns))
    }
}

/// Merges the ring at `ring` into `out` as one pcap, ordered by timestamp.
pub fn export_pcap(ring: &Path, out: &mut dyn Write) -> Result<ExportStats, RingError> {
    export_pcap_filtered(ring, out, &ExportFilter::default())
}

/// Like [`export_pcap`], keeping only the records `filter` selects.
pub fn export_pcap_filtered(
    ring: &Path,
    out: &mut dyn Write,
    filter: &ExportFilter,
) -> Result<ExportStats, RingError> {
    export(ring, out, filter, &mut Sink::new(Format::Pcap))
}

/// Merges the records `filter` selects into `out` through `sink` (pcap or pcapng). Segments
/// whose index (first and last timestamp in the control file) lies wholly outside the time
/// range are not read.
pub fn export(
    ring: &Path,
    out: &mut dyn Write,
    filter: &ExportFilter,
    sink: &mut Sink,
) -> Result<ExportStats, RingError> {
    let dirs = worker_dirs(ring)?;
    let mut sources = Vec::with_capacity(dirs.len());
    let mut skipped = 0;
    for d in &dirs {
        let mut reader = WorkerReader::open(d)?;
        skipped += reader.retain_segments(|s| {
            let after = filter.to_ns.is_some_and(|t| s.first_ts > t);
            let before =
                s.state == SegState::Sealed && filter.from_ns.is_some_and(|f| s.last_ts < f);
            s.packets == 0 || !(after || before)
        });
        sources.push(Source {
            reader,
            pending: VecDeque::new(),
            filter,
        });
    }
    let werr = |e: std::io::Error| RingError::Io {
        op: "write export".into(),
        path: "<output>".into(),
        source: e,
    };
    sink.begin(out).map_err(werr)?;
    let mut heap = BinaryHeap::new();
    for (i, s) in sources.iter_mut().enumerate() {
        if let Some(ts) = s.peek_ts()? {
            heap.push(Reverse((ts, i)));
        }
    }
    let mut stats = ExportStats {
        workers: sources.len(),
        segments_skipped: skipped,
        ..Default::default()
    };
    while let Some(Reverse((_, i))) = heap.pop() {
        let s = &mut sources[i];
        let r = s.pending.pop_front().expect("peeked");
        sink.write(out, &r).map_err(werr)?;
        stats.packets += 1;
        stats.bytes += r.data.len() as u64;
        if let Some(ts) = s.peek_ts()? {
            heap.push(Reverse((ts, i)));
        }
    }
    out.flush().map_err(werr)?;
    stats.interfaces = sink.interfaces();
    for s in &sources {
        let r = s.reader.stats;
        stats.read.segments += r.segments;
        stats.read.records += r.records;
        stats.read.raced += r.raced;
        stats.read.torn_bytes += r.torn_bytes;
    }
    Ok(stats)
}
