//! What the control core checks of each worker's ring once a second: the capture times of the
//! oldest and newest retained packets (from the control file alone, no segment is read) and
//! whether the ring can still be written.
use super::layout::control_path;
use super::reader::WorkerReader;
use super::RingError;
use std::path::Path;

/// The time span one worker's ring holds, in Unix nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retained {
    pub oldest_ns: u64,
    pub newest_ns: u64,
}

impl Retained {
    /// Newest minus oldest, in seconds.
    pub fn span_s(&self) -> f64 {
        self.newest_ns.saturating_sub(self.oldest_ns) as f64 / 1e9
    }
}

/// The oldest and newest packet times of the worker ring in `worker_dir`, or `None` while it
/// holds no packet.
pub fn retained(worker_dir: &Path) -> Result<Option<Retained>, RingError> {
    let r = WorkerReader::open(worker_dir)?;
    let mut out: Option<Retained> = None;
    for s in r
        .segments()
        .iter()
        .filter(|s| s.packets > 0 && s.first_ts > 0)
    {
        let e = out.get_or_insert(Retained {
            oldest_ns: s.first_ts,
            newest_ns: s.last_ts,
        });
        e.oldest_ns = e.oldest_ns.min(s.first_ts);
        e.newest_ns = e.newest_ns.max(s.last_ts);
    }
    Ok(out)
}

/// Whether the worker ring's control file still opens for writing (a ring directory
/// remounted read-only, removed or made unwritable fails here); the error says why.
pub fn check_writable(worker_dir: &Path) -> Result<(), String> {
    let p = control_path(worker_dir);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", p.display()))
}
