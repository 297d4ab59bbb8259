//! `mirrorcap tail`: follows the live ring and streams every worker's newly committed records,
//! merged by timestamp, as one nanosecond pcap.
//!
//! Each worker is read through its control file only: a segment is read up to its `committed`
//! word (acquire load) and the bytes are kept only if the segment's `seq` is unchanged after the
//! read, so a torn or half-committed record is never returned. A worker's cursor is the `seq`
//! of the segment it reads and an offset in it: a sealed segment read to its end moves the
//! cursor to `seq + 1` (rotation); a sealed segment whose writer restarts and resumes it keeps
//! its `seq` and grows (resume); a `seq` that changed under the cursor means the writer
//! overwrote it (the reader fell behind), and the cursor moves to the oldest retained segment.
//!
//! Merging: a record stamped `T` is written once every worker has either read a record stamped
//! `T` or later, or was caught up (nothing more committed) at a poll at least `window` after
//! `T`: a worker that is idle holds the stream back by at most the window.
mod cursor;

use super::layout::*;
use super::mmap::ControlView;
use super::output::{Format, SessionFilter, Sink};
use super::pcapfmt::{
    parse_file_header, RecordHeader, Resolution, FILE_HEADER_LEN, RECORD_HEADER_LEN, SNAPLEN,
};
use super::reader::{list_worker_dirs, open_slot_file, worker_dirs, Record};
use super::record_meta::{decode_index, RecordMeta, META_LEN};
use super::RingError;
use cursor::Worker;
use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Most bytes read from one worker per poll.
const READ_CHUNK: u64 = 4 << 20;
/// A worker is not read further while this many bytes of its records wait to be merged.
const PENDING_CAP: usize = 64 << 20;
/// How often the ring directory is rescanned for workers that appear (or are recreated).
const RESCAN: Duration = Duration::from_millis(100);

/// How `tail` follows the ring.
#[derive(Clone, Debug)]
pub struct TailOptions {
    /// Sessions to stream (all when empty).
    pub sessions: SessionFilter,
    /// Output format.
    pub format: Format,
    /// Emit every retained record first, instead of starting after the newest committed one.
    pub from_start: bool,
    /// Reorder window: how long an idle worker may hold back the others' records.
    pub window: Duration,
    /// Sleep between polls when nothing new was committed.
    pub poll: Duration,
}

impl Default for TailOptions {
    fn default() -> Self {
        TailOptions {
            sessions: SessionFilter::default(),
            format: Format::Pcap,
            from_start: false,
            window: Duration::from_millis(200),
            poll: Duration::from_millis(10),
        }
    }
}

/// What a tail wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TailStats {
    pub workers: usize,
    pub packets: u64,
    /// Bytes of packet data written (record headers not included).
    pub bytes: u64,
    /// Segments read to their end (rotations followed).
    pub segments: u64,
    /// Segments overwritten by the writer before they were read to their end.
    pub skipped_segments: u64,
    /// Times the reader fell behind (one warning each).
    pub skip_events: u64,
    /// Records written with a timestamp before one already written (a worker that appeared
    /// late or stalled for longer than the window).
    pub late: u64,
}

/// Older records streamed with the ring's by `tail --from-start` (a store's): one worker's
/// records in time order, none of them in the ring's segments the tail reads. They are merged
/// with the ring's records under the same horizon, so the output stays in time order across
/// the seam.
pub trait History {
    /// The next record's timestamp, reading more when needed; `None` once exhausted.
    fn peek_ts(&mut self) -> Result<Option<u64>, RingError>;
    /// The record [`peek_ts`](Self::peek_ts) announced.
    fn pop(&mut self) -> Option<Record>;
}

/// Builds the history sources once the ring's starting points are known.
pub type HistoryFor<'a> = dyn FnMut(&[StartAt]) -> Result<Vec<Box<dyn History>>, RingError> + 'a;

/// Where `tail --from-start` starts reading one worker of the ring: its number (`worker-NN`)
/// and the oldest seq it still holds. A history source supplies that worker's records of
/// earlier seqs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartAt {
    pub worker: usize,
    /// The ring's generation (`layout::W_GENERATION`; 0: unknown): a store's segments of an
    /// older ring all come before.
    pub generation: u64,
    pub seq: u64,
}

fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn io_err(op: &str, path: &Path, e: std::io::Error) -> RingError {
    RingError::Io {
        op: op.to_string(),
        path: path.to_path_buf(),
        source: e,
    }
}

/// (device, inode) of a file, to notice a ring removed and created again.
fn identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// The whole records at the start of `buf`, the bytes they take and whether a malformed
/// record header stopped the parse. Records come untagged.
fn parse_chunk(buf: &[u8], res: Resolution) -> (Vec<Record>, usize, bool) {
    let mut out = Vec::new();
    let mut off = 0;
    while let Some(h) = buf.get(off..off + RECORD_HEADER_LEN) {
        let Some(r) = RecordHeader::decode(h, res) else {
            return (out, off, true);
        };
        if r.incl_len > SNAPLEN {
            return (out, off, true);
        }
        let start = off + RECORD_HEADER_LEN;
        let end = start + r.incl_len as usize;
        let Some(data) = buf.get(start..end) else {
            break;
        };
        out.push(Record {
            ts_ns: r.ts_ns,
            orig_len: r.orig_len,
            data: data.to_vec(),
            meta: RecordMeta::UNTAGGED,
        });
        off = end;
    }
    (out, off, false)
}

/// Index words `first..first + n` of a segment (untagged where the file is missing or short).
fn read_index_at(f: Option<&File>, first: u64, n: usize) -> Vec<RecordMeta> {
    let mut bytes = vec![0u8; n * META_LEN];
    let got = f
        .and_then(|f| read_full_at(f, &mut bytes, first * META_LEN as u64).ok())
        .unwrap_or(0);
    bytes.truncate(got);
    decode_index(&bytes, n)
}

/// Reads until `buf` is full or the file ends.
fn read_full_at(f: &File, buf: &mut [u8], off: u64) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], off + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The workers of the ring at `ring`, skipping any that cannot be opened yet.
fn discover(ring: &Path, workers: &mut Vec<Worker>, from_start: bool) -> Result<(), RingError> {
    let Ok(dirs) = list_worker_dirs(ring) else {
        return Ok(());
    };
    for d in dirs {
        let ident = identity(&control_path(&d));
        match workers.iter().position(|w| w.dir == d) {
            Some(i) if workers[i].ident == ident || ident.is_none() => {}
            Some(i) => {
                // The ring was created again: every record in it is new.
                if let Ok(mut w) = Worker::open(&d, true) {
                    w.pending = std::mem::take(&mut workers[i].pending);
                    w.pending_bytes = workers[i].pending_bytes;
                    w.latest_ts = workers[i].latest_ts;
                    workers[i] = w;
                }
            }
            None => {
                if let Ok(w) = Worker::open(&d, from_start) {
                    workers.push(w);
                }
            }
        }
    }
    workers.sort_by(|a, b| a.dir.cmp(&b.dir));
    Ok(())
}

/// Writes the pending records that every worker has let through, oldest first.
fn emit(
    workers: &mut [Worker],
    history: &mut [Box<dyn History>],
    window: Duration,
    out: &mut dyn Write,
    sink: &mut Sink,
    stats: &mut TailStats,
    last_ts: &mut u64,
) -> Result<u64, RingError> {
    let werr = |e: std::io::Error| io_err("write tail", Path::new("<output>"), e);
    let horizon = workers.iter().map(|w| w.horizon(window)).min().unwrap_or(0);
    let mut n = 0;
    // The oldest pending record (ties: history first, then the lowest worker), while the
    // horizon lets it through.
    loop {
        let mut best: Option<(u64, usize)> = None; // (ts, source): history first, then workers
        for (i, h) in history.iter_mut().enumerate() {
            if let Some(ts) = h.peek_ts()? {
                best = best.filter(|&(b, _)| b <= ts).or(Some((ts, i)));
            }
        }
        for (i, w) in workers.iter().enumerate() {
            if let Some(ts) = w.pending.front().map(|r| r.ts_ns) {
                best = best
                    .filter(|&(b, _)| b <= ts)
                    .or(Some((ts, history.len() + i)));
            }
        }
        let Some((ts, src)) = best.filter(|&(ts, _)| ts <= horizon) else {
            break;
        };
        let r = if src < history.len() {
            history[src].pop().expect("peeked")
        } else {
            let w = &mut workers[src - history.len()];
            let r = w.pending.pop_front().expect("peeked");
            w.pending_bytes -= r.data.len();
            r
        };
        sink.write(out, &r).map_err(werr)?;
        if ts < *last_ts {
            stats.late += 1;
        }
        *last_ts = (*last_ts).max(ts);
        stats.packets += 1;
        stats.bytes += r.data.len() as u64;
        n += 1;
    }
    Ok(n)
}

/// Follows the ring at `ring`, writing a nanosecond pcap to `out` (flushed after each batch)
/// until `stop` is set. Warnings (the reader fell behind) go to `warn`, one line each.
/// A write error ends the tail with that error (`BrokenPipe` when the reader went away).
pub fn tail_pcap(
    ring: &Path,
    opts: &TailOptions,
    out: &mut dyn Write,
    stop: &AtomicBool,
    warn: &mut dyn FnMut(String),
) -> Result<TailStats, RingError> {
    tail_pcap_with_history(ring, opts, &mut |_| Ok(Vec::new()), out, stop, warn)
}

/// [`tail_pcap`] with older records merged in front of the ring's: once the ring's workers
/// are opened, `history` is given where each starts ([`StartAt`]; with `from_start`, the
/// oldest seq the ring holds) and returns the sources of what came before.
pub fn tail_pcap_with_history(
    ring: &Path,
    opts: &TailOptions,
    history: &mut HistoryFor<'_>,
    out: &mut dyn Write,
    stop: &AtomicBool,
    warn: &mut dyn FnMut(String),
) -> Result<TailStats, RingError> {
    // A ring has at least one worker with a valid control file when tail starts.
    let dirs = worker_dirs(ring)?;
    let mut workers = Vec::with_capacity(dirs.len());
    let mut first_err = None;
    for d in &dirs {
        match Worker::open(d, opts.from_start) {
            Ok(w) => workers.push(w),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    if workers.is_empty() {
        return Err(first_err.expect("at least one worker directory"));
    }
    let starts: Vec<StartAt> = workers
        .iter()
        .filter_map(|w| {
            let n = w.name.strip_prefix("worker-")?.parse().ok()?;
            Some(StartAt {
                worker: n,
                generation: generation(w.control.words()),
                seq: w.seq,
            })
        })
        .collect();
    let mut history = history(&starts)?;
    let werr = |e: std::io::Error| io_err("write tail", Path::new("<output>"), e);
    // Session names are read when a session first appears (a reload may add some).
    let names = |slot: u8| {
        super::session_names::SessionNames::read(ring)
            .name(slot)
            .map(str::to_string)
    };
    let mut sink = Sink::new(opts.format).with_names(&names);
    sink.begin(out).map_err(werr)?;
    out.flush().map_err(werr)?;

    let mut stats = TailStats::default();
    let mut last_ts = 0u64;
    let mut rescanned = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if rescanned.elapsed() >= RESCAN {
            // Workers that appear after the start are new: read them from their start.
            discover(ring, &mut workers, true)?;
            rescanned = Instant::now();
        }
        let (mut read, mut more) = (false, false);
        for w in workers.iter_mut() {
            let p = w.poll(&opts.sessions, &mut stats, warn)?;
            read |= p.read;
            more |= p.more;
        }
        if emit(
            &mut workers,
            &mut history,
            opts.window,
            out,
            &mut sink,
            &mut stats,
            &mut last_ts,
        )? > 0
        {
            out.flush().map_err(werr)?;
        }
        if !more {
            // Nothing new: wait the poll interval; a trickle: batch it a little.
            std::thread::sleep(if read {
                Duration::from_millis(1).min(opts.poll)
            } else {
                opts.poll
            });
        }
    }
    // Stopping: what was read is written, however recent.
    for w in workers.iter_mut() {
        w.caught_up = true;
        w.latest_ts = u64::MAX;
    }
    emit(
        &mut workers,
        // History not read yet is not read now: a stop ends the stream promptly.
        &mut Vec::new(),
        opts.window,
        out,
        &mut sink,
        &mut stats,
        &mut last_ts,
    )?;
    out.flush().map_err(werr)?;
    stats.workers = workers.len();
    Ok(stats)
}
