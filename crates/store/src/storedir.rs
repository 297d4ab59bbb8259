//! One worker's store directory (`STORE/worker-NN`): how store files are named, listed and
//! published (temporary name, fsync, rename, fsync of the directory), the cursor file that
//! says how far the ring has been stored, and the clean-up of what a crash left behind.
//!
//! ```text
//! STORE/worker-00/
//!   01700000000123456789-g17a0c55e3d2b9f00-0000000042.pcap.zst
//!                 ring segment seq 42 of the ring generation 0x17a0c55e3d2b9f00 (the ring's
//!                 creation time), first packet at that Unix ns
//!   01700000000123456789-g17a0c55e3d2b9f00-0000000042.idx
//!                 its index: present = the data file is complete
//!   01700000000999999999-g17a0c55e3d2b9f00-0000000043-000000524312.pcap.zst
//!                 seq 43 from byte 524312 (a ring writer restarted and continued seq 43
//!                 after it was stored)
//!   cursor        "generation seq committed": what is stored of which ring
//!   .NAME.tmp     being written; never read, deleted at open
//! ```
//! The timestamp leads and is zero-padded so that sorting names sorts files by time. The
//! generation tells a recreated ring (its seqs start again at 1) from the one a file came from;
//! names without one (`TS-SEQ[-FROM]`, written before rings had generations) read as
//! generation 0, "unknown", which [`same_ring`] matches with any.

use crate::{file_paths, Compression, StoreError, StoreIndex};
use mirrorcap_ring::pcapfmt::FILE_HEADER_LEN;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Name of the cursor file in a worker's store directory.
pub const CURSOR: &str = "cursor";
const CURSOR_MAGIC: &str = "mirrorcap-store-cursor 2";
/// The cursor before generations: `seq committed`, read as generation 0.
const CURSOR_MAGIC_1: &str = "mirrorcap-store-cursor 1";

/// How far the ring has been stored: every record of segments before `seq`, and segment
/// `seq`'s bytes below `committed` (pcap file header included), of the ring `generation`.
/// Ordered by generation first: a newer ring's cursor is later than any of an older ring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    /// The ring's generation (`mirrorcap_ring::layout::W_GENERATION`); 0: unknown.
    pub generation: u64,
    pub seq: u64,
    pub committed: u64,
}

/// Whether two generations can be the same ring: equal, or either unknown (0).
pub fn same_ring(a: u64, b: u64) -> bool {
    a == 0 || b == 0 || a == b
}

/// A complete (indexed) store file in a worker's store directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFile {
    pub name: String,
    pub first_ts_ns: u64,
    /// The ring generation its segment came from (0: unknown, an older name).
    pub generation: u64,
    pub seq: u64,
    /// Byte of the ring segment its records start at ([`FILE_HEADER_LEN`] for a whole one).
    pub from: u64,
    pub data: PathBuf,
    pub index: PathBuf,
    /// Where `data` and `index` (then object keys) are read from when the file is archived
    /// rather than on a local disk.
    pub remote: Option<crate::remote::RemoteRef>,
}

/// The store file name of segment `seq` of ring `generation`, its records from byte `from`,
/// the first at `first_ts_ns`.
pub fn file_name(first_ts_ns: u64, generation: u64, seq: u64, from: u64) -> String {
    let head = if generation == 0 {
        format!("{first_ts_ns:020}")
    } else {
        format!("{first_ts_ns:020}-g{generation:016x}")
    };
    if from <= FILE_HEADER_LEN as u64 {
        format!("{head}-{seq:010}")
    } else {
        format!("{head}-{seq:010}-{from:012}")
    }
}

/// (first timestamp, generation, seq, from) of a store file name.
pub fn parse_name(name: &str) -> Option<(u64, u64, u64, u64)> {
    let mut parts = name.split('-').peekable();
    let ts = parts.next()?.parse().ok()?;
    let generation = match parts.peek().and_then(|p| p.strip_prefix('g')) {
        Some(g) => {
            let g = u64::from_str_radix(g, 16).ok()?;
            parts.next();
            g
        }
        None => 0,
    };
    let seq = parts.next()?.parse().ok()?;
    let from = match parts.next() {
        Some(f) => f.parse().ok()?,
        None => FILE_HEADER_LEN as u64,
    };
    parts
        .next()
        .is_none()
        .then_some((ts, generation, seq, from))
}

pub(crate) fn io_err(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io { op, path, source }
}

/// The hidden temporary name `path` is written under before it is renamed into view.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Makes the directory's entries (renames, deletions) durable.
pub fn sync_dir(dir: &Path) -> crate::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("sync store directory", dir))
}

/// Writes `bytes` as `path` atomically: a temporary file, fsync, rename. The caller syncs the
/// directory (once for several files).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> crate::Result<()> {
    let tmp = temp_path(path);
    write_synced(&tmp, bytes)?;
    std::fs::rename(&tmp, path).map_err(io_err("rename into place", path))
}

/// Creates `path` with `bytes`, fsync'd; on failure (disk full mid-write) removes it, so no
/// half-written file stays behind (best effort: on a read-only or vanished directory there is
/// nothing to remove, or it cannot be).
pub fn write_synced(path: &Path, bytes: &[u8]) -> crate::Result<()> {
    let result = File::create(path)
        .map_err(io_err("create", path))
        .and_then(|mut f| {
            f.write_all(bytes).map_err(io_err("write", path))?;
            f.sync_all().map_err(io_err("sync", path))
        });
    if result.is_err() {
        let _ = std::fs::remove_file(path);
    }
    result
}

/// Deletes what an interrupted spooler left: temporary files, data files and sidecars (flow
/// index `.fidx`, flow records `.flows.parquet`) without their index (renamed into place just before a crash; the cursor was not
/// advanced past them, so their segment is stored again), and an index without its data file (a
/// crash between the renames on a file system that does not keep their order; its flow index
/// goes at the next start). Returns how many files it deleted.
pub fn clean(dir: &Path) -> crate::Result<u64> {
    let mut deleted = 0;
    for e in std::fs::read_dir(dir).map_err(io_err("read store directory", dir))? {
        let e = e.map_err(io_err("read store directory", dir))?;
        let name = e.file_name().to_string_lossy().into_owned();
        // A data file or sidecar whose store index is not there, or an index
        // whose data file is not.
        let stem = data_stem(&name).or_else(|| {
            name.strip_suffix(".fidx")
                .or_else(|| name.strip_suffix(mirrorcap_flows::FLOWS_SUFFIX))
                .filter(|stem| parse_name(stem).is_some())
        });
        let orphan = stem.is_some_and(|stem| !dir.join(format!("{stem}.idx")).exists())
            || name.strip_suffix(".idx").is_some_and(|stem| {
                parse_name(stem).is_some()
                    && [Compression::DEFAULT_ZSTD, Compression::None]
                        .iter()
                        .all(|&c| !file_paths(dir, stem, c).0.exists())
            });
        if (name.starts_with('.') && name.ends_with(".tmp")) || orphan {
            std::fs::remove_file(e.path()).map_err(io_err("remove leftover", &e.path()))?;
            deleted += 1;
        }
    }
    if deleted > 0 {
        sync_dir(dir)?;
    }
    Ok(deleted)
}

fn data_stem(name: &str) -> Option<&str> {
    let stem = name
        .strip_suffix(".pcap.zst")
        .or_else(|| name.strip_suffix(".pcap"))?;
    parse_name(stem).map(|_| stem)
}

/// The complete store files of `dir`, oldest first (by first timestamp, then seq).
pub fn list(dir: &Path) -> crate::Result<Vec<StoredFile>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io_err("read store directory", dir))? {
        let e = e.map_err(io_err("read store directory", dir))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".idx") else {
            continue;
        };
        let Some((first_ts_ns, generation, seq, from)) = parse_name(stem) else {
            continue;
        };
        let data = [Compression::DEFAULT_ZSTD, Compression::None]
            .into_iter()
            .map(|c| file_paths(dir, stem, c).0)
            .find(|p| p.exists());
        if let Some(data) = data {
            out.push(StoredFile {
                name: stem.to_string(),
                first_ts_ns,
                generation,
                seq,
                from,
                data,
                index: e.path(),
                remote: None,
            });
        }
    }
    out.sort_by_key(|f| (f.first_ts_ns, f.seq, f.from));
    Ok(out)
}

/// The cursor file's position, if there is one.
pub fn read_cursor(dir: &Path) -> crate::Result<Option<Cursor>> {
    let path = dir.join(CURSOR);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("read store cursor", &path)(e)),
    };
    let mut lines = text.lines();
    let magic = lines.next();
    let nums: Option<Vec<u64>> = lines
        .next()
        .and_then(|l| l.split_whitespace().map(|w| w.parse().ok()).collect());
    match (magic, nums.as_deref()) {
        (Some(CURSOR_MAGIC), Some(&[generation, seq, committed])) => Ok(Some(Cursor {
            generation,
            seq,
            committed,
        })),
        (Some(CURSOR_MAGIC_1), Some(&[seq, committed])) => Ok(Some(Cursor {
            generation: 0,
            seq,
            committed,
        })),
        _ => Err(StoreError::Corrupt {
            op: "read store cursor",
            path,
            what: format!("not `{CURSOR_MAGIC}` then `generation seq committed`"),
        }),
    }
}

/// Stores the cursor atomically (the caller syncs the directory).
pub fn write_cursor(dir: &Path, c: Cursor) -> crate::Result<()> {
    let text = format!(
        "{CURSOR_MAGIC}\n{} {} {}\n",
        c.generation, c.seq, c.committed
    );
    write_atomic(&dir.join(CURSOR), text.as_bytes())
}

/// Where the newest complete store file says the ring was stored up to. The cursor file is
/// written after a file is published, so after a crash in between it lags by that file; this
/// reads the file's index instead (the segment bytes it holds: the pcap it decompresses to,
/// minus its own file header).
pub fn cursor_from_files(files: &[StoredFile]) -> crate::Result<Option<Cursor>> {
    let Some(newest) = files.iter().max_by_key(|f| (f.generation, f.seq, f.from)) else {
        return Ok(None);
    };
    let index = StoreIndex::read(&newest.index)?;
    let raw: u64 = index.blocks.iter().map(|b| b.raw_len).sum();
    Ok(Some(Cursor {
        generation: newest.generation,
        seq: newest.seq,
        committed: newest.from + raw.saturating_sub(FILE_HEADER_LEN as u64),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_generation_and_older_names_read_as_unknown() {
        let h = FILE_HEADER_LEN as u64;
        for (ts, g, seq, from) in [
            (17, 0x17a0, 42, h),
            (18, 0x17a0, 43, 524_312),
            (19, 0, 7, h),
        ] {
            let n = file_name(ts, g, seq, from);
            assert_eq!(parse_name(&n), Some((ts, g, seq, from)), "{n}");
        }
        assert_eq!(
            file_name(1, 0x17a0, 2, h),
            "00000000000000000001-g00000000000017a0-0000000002"
        );
        // Written before generations: TS-SEQ and TS-SEQ-FROM.
        assert_eq!(
            parse_name("00000000000000000001-0000000002-000000524312"),
            Some((1, 0, 2, 524_312))
        );
        assert_eq!(parse_name("00000000000000000001-gzz-0000000002"), None);
        assert!(same_ring(0, 5) && same_ring(5, 0) && same_ring(5, 5) && !same_ring(5, 6));
    }

    #[test]
    fn a_cursor_round_trips_and_an_older_one_reads_as_generation_0() {
        let d = tempfile::tempdir().unwrap();
        let c = Cursor {
            generation: 0x17a0,
            seq: 9,
            committed: 4096,
        };
        write_cursor(d.path(), c).unwrap();
        assert_eq!(read_cursor(d.path()).unwrap(), Some(c));
        std::fs::write(d.path().join(CURSOR), "mirrorcap-store-cursor 1\n9 4096\n").unwrap();
        assert_eq!(
            read_cursor(d.path()).unwrap(),
            Some(Cursor { generation: 0, ..c })
        );
        std::fs::write(d.path().join(CURSOR), "mirrorcap-store-cursor 2\n9 4096\n").unwrap();
        assert!(read_cursor(d.path()).is_err());
    }
}
