//! Retention of one worker's store directory: deletes the oldest store files (index first,
//! then data, so a reader never sees an index without its data) until the directory is under
//! its byte budget, optionally holds nothing older than a maximum age, and its file system keeps
//! a minimum of free space (so a store sharing its disk, or one with no budget, keeps the
//! newest hours instead of filling the disk and stopping). The newest file is always kept, so
//! a store never empties itself because one file is over the budget.

use crate::archived::ArchiveMark;
use crate::storedir::{io_err, list, sync_dir};
use crate::StoreIndex;
use std::path::Path;
use std::time::Duration;

/// What retention may keep in one worker's store directory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Bytes of store files (data and index) kept at most; `None`: no limit.
    pub max_bytes: Option<u64>,
    /// Files whose newest packet is older than this (against the given clock) are deleted.
    pub max_age: Option<Duration>,
    /// Free space to leave on the store's file system: older files are deleted while it has
    /// less. `None`: none (only the budget, the age, or the disk itself limit the store).
    pub min_free: Option<MinFree>,
}

/// Free space a store leaves on its file system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MinFree {
    /// A share of the file system's size, in percent (1 to 90).
    Percent(u8),
    Bytes(u64),
}

impl MinFree {
    /// The bytes to keep free on a file system of `total` bytes.
    pub fn bytes(self, total: u64) -> u64 {
        match self {
            MinFree::Percent(p) => total / 100 * u64::from(p),
            MinFree::Bytes(b) => b,
        }
    }
}

/// (bytes available to an unprivileged writer, size) of the file system holding `dir`.
pub fn fs_space(dir: &Path) -> crate::Result<(u64, u64)> {
    let st = rustix::fs::statvfs(dir).map_err(|e| {
        io_err("statvfs store directory", dir)(std::io::Error::from_raw_os_error(e.raw_os_error()))
    })?;
    Ok((st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize))
}

/// What one retention pass deleted and what remains.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deleted {
    /// Names of the store files deleted (data and index each), oldest first.
    pub names: Vec<String>,
    pub bytes: u64,
    /// Bytes of store files left.
    pub kept_bytes: u64,
    /// Capture time of the oldest packet still kept (Unix ns), if any file remains.
    pub oldest_kept_ns: Option<u64>,
    /// How many of the deleted files went to keep the file system's free space.
    pub for_space: u64,
    /// Of the deleted files, those not yet archived (archive not required), and their bytes.
    pub unarchived: u64,
    pub unarchived_bytes: u64,
    /// Retention stopped at a file not yet archived (archive required): the store keeps more
    /// than its budget until the upload catches up.
    pub held_for_archive: bool,
}

/// Deletes a store file's sidecars (flow index, flow records) first: a sidecar without its
/// file would be an orphan, while a file without its flow index is only read in full (and
/// without its flow records, aggregated from its packets). Not every file has them: best
/// effort.
fn remove_sidecars(index: &Path) {
    let _ = std::fs::remove_file(crate::flowidx::fidx_path(index));
    let _ = std::fs::remove_file(mirrorcap_flows::flows_path(index));
}

/// Bytes of a store file's sidecars, those it has.
fn sidecar_bytes(index: &Path) -> u64 {
    [
        crate::flowidx::fidx_path(index),
        mirrorcap_flows::flows_path(index),
    ]
    .iter()
    .filter_map(|p| std::fs::metadata(p).ok())
    .map(|m| m.len())
    .sum()
}

fn size(p: &Path) -> crate::Result<u64> {
    Ok(std::fs::metadata(p)
        .map_err(io_err("stat store file", p))?
        .len())
}

/// Whether retention may delete `f` now: `Some(true)` yes, archived (or no archive);
/// `Some(false)` yes but not archived (counted); `None` no, it waits for its upload.
fn may_delete(mark: Option<&ArchiveMark>, f: &crate::storedir::StoredFile) -> Option<bool> {
    match mark {
        Some(m) if !m.archived(f) => (!m.required()).then_some(false),
        _ => Some(true),
    }
}

/// Applies `r` to `dir`, with `now_ns` the current time in Unix ns (for `max_age`); with an
/// archive `mark`, files not yet archived are kept (`mark.required()`) or counted.
pub fn apply(
    dir: &Path,
    r: Retention,
    now_ns: u64,
    mark: Option<&ArchiveMark>,
) -> crate::Result<Deleted> {
    let files = list(dir)?;
    let mut sizes = Vec::with_capacity(files.len());
    for f in &files {
        sizes.push(size(&f.data)? + size(&f.index)? + sidecar_bytes(&f.index));
    }
    let mut total: u64 = sizes.iter().sum();
    let mut out = Deleted::default();
    let cutoff = r
        .max_age
        .map(|a| now_ns.saturating_sub(a.as_nanos().min(u64::MAX as u128) as u64));
    let mut first_kept = files.len();
    for (i, f) in files.iter().enumerate() {
        if i + 1 == files.len() {
            first_kept = i;
            break;
        }
        let over = r.max_bytes.is_some_and(|m| total > m);
        let old = match cutoff {
            // Its newest packet decides: a file is old once all of it is.
            Some(c) => StoreIndex::read(&f.index)?
                .blocks
                .iter()
                .map(|b| b.max_ts_ns)
                .max()
                .is_some_and(|newest| newest < c),
            None => false,
        };
        if !over && !old {
            first_kept = i;
            break;
        }
        let Some(archived) = may_delete(mark, f) else {
            out.held_for_archive = true;
            first_kept = i;
            break;
        };
        if !archived {
            out.unarchived += 1;
            out.unarchived_bytes += sizes[i];
        }
        remove_sidecars(&f.index);
        std::fs::remove_file(&f.index).map_err(io_err("delete store index", &f.index))?;
        std::fs::remove_file(&f.data).map_err(io_err("delete store file", &f.data))?;
        total -= sizes[i];
        out.bytes += sizes[i];
        out.names.push(f.name.clone());
    }
    if let Some(m) = r.min_free {
        let (mut avail, fs_total) = fs_space(dir)?;
        let need = m.bytes(fs_total);
        // The file system is shared (other workers' stores, other files): this worker deletes
        // its own oldest until the floor is back, never its newest.
        while avail < need && first_kept + 1 < files.len() {
            let f = &files[first_kept];
            let Some(archived) = may_delete(mark, f) else {
                out.held_for_archive = true;
                break;
            };
            if !archived {
                out.unarchived += 1;
                out.unarchived_bytes += sizes[first_kept];
            }
            remove_sidecars(&f.index);
            std::fs::remove_file(&f.index).map_err(io_err("delete store index", &f.index))?;
            std::fs::remove_file(&f.data).map_err(io_err("delete store file", &f.data))?;
            total -= sizes[first_kept];
            avail += sizes[first_kept];
            out.bytes += sizes[first_kept];
            out.names.push(f.name.clone());
            out.for_space += 1;
            first_kept += 1;
        }
    }
    if !out.names.is_empty() {
        sync_dir(dir)?;
    }
    out.kept_bytes = total;
    out.oldest_kept_ns = files.get(first_kept).map(|f| f.first_ts_ns);
    Ok(out)
}
