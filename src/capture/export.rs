//! `mirrorcap export`: every worker's records merged by timestamp (k-way, stable within a
//! worker) into one nanosecond pcap file.
#![forbid(unsafe_code)]
use super::pcapfmt::{file_header, RecordHeader};
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
    pub read: ReadStats,
}

struct Source {
    reader: WorkerReader,
    pending: VecDeque<Record>,
}

impl Source {
    fn peek_ts(&mut self) -> Result<Option<u64>, RingError> {
        while self.pending.is_empty() {
            match self.reader.next_segment()? {
                Some(recs) => self.pending.extend(recs),
                None => return Ok(None),
            }
        }
        Ok(self.pending.front().map(|r| r.ts_ns))
    }
}

/// Merges the ring at `ring` into `out` as one pcap, ordered by timestamp.
pub fn export_pcap(ring: &Path, out: &mut dyn Write) -> Result<ExportStats, RingError> {
    let dirs = worker_dirs(ring)?;
    let mut sources = Vec::with_capacity(dirs.len());
    for d in &dirs {
        sources.push(Source {
            reader: WorkerReader::open(d)?,
            pending: VecDeque::new(),
        });
    }
    let werr = |e: std::io::Error| RingError::Io {
        op: "write export".into(),
        path: "<output>".into(),
        source: e,
    };
    out.write_all(&file_header()).map_err(werr)?;
    let mut heap = BinaryHeap::new();
    for (i, s) in sources.iter_mut().enumerate() {
        if let Some(ts) = s.peek_ts()? {
            heap.push(Reverse((ts, i)));
        }
    }
    let mut stats = ExportStats {
        workers: sources.len(),
        ..Default::default()
    };
    while let Some(Reverse((_, i))) = heap.pop() {
        let s = &mut sources[i];
        let r = s.pending.pop_front().expect("peeked");
        let h = RecordHeader {
            ts_ns: r.ts_ns,
            incl_len: r.data.len() as u32,
            orig_len: r.orig_len,
        };
        out.write_all(&h.encode()).map_err(werr)?;
        out.write_all(&r.data).map_err(werr)?;
        stats.packets += 1;
        stats.bytes += r.data.len() as u64;
        if let Some(ts) = s.peek_ts()? {
            heap.push(Reverse((ts, i)));
        }
    }
    out.flush().map_err(werr)?;
    for s in &sources {
        let r = s.reader.stats;
        stats.read.segments += r.segments;
        stats.read.records += r.records;
        stats.read.raced += r.raced;
        stats.read.torn_bytes += r.torn_bytes;
    }
    Ok(stats)
}
