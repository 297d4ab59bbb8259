//! [`IoThread`]: the spooler's disk thread. It writes and publishes one store file (O_DIRECT
//! data and its index under temporary names, fsyncs, renames, a directory fsync) while the spooler reads and encodes the next segment, so the disk and the CPU work at the
//! same time instead of in turn. At most one file is in flight: the spooler waits for it
//! before it hands over the next one and before anything else that must follow it (a cursor
//! write, retention, the end of a poll), so the order of what reaches the disk is the same as
//! with one thread. The spooler's first poll starts it, so it inherits the store thread's CPU
//! (the control core), never a worker's.

use crate::flowidx::fidx_path;
use crate::odirect::{AlignedBuf, DataFile, IoMode};
use crate::storedir::{io_err, sync_dir, temp_path, write_synced, Cursor};
use crate::StoreError;
use mirrorcap_flows::flows_path;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

/// One store file to write and publish.
pub(super) struct Job {
    pub data: PathBuf,
    pub index: PathBuf,
    pub dir: PathBuf,
    pub direct: bool,
    /// The data file's bytes: `buf[..write_len]`, zeros past `data_len`.
    pub buf: AlignedBuf,
    pub write_len: usize,
    pub data_len: u64,
    pub index_bytes: Vec<u8>,
    /// The flow index sidecar, if built.
    pub fidx_bytes: Option<Vec<u8>>,
    /// The flow records, if built.
    pub flows_bytes: Option<Vec<u8>>,
    /// Where the cursor is once this file is in place, and what it adds to the report.
    pub cursor: Cursor,
    pub records: u64,
    pub captured: u64,
    pub newest_ns: Option<u64>,
}

impl Job {
    /// The sidecars built (flow index, flow records) with their paths in view.
    pub fn sidecars(&self) -> Vec<(PathBuf, &[u8])> {
        let fidx = self
            .fidx_bytes
            .as_deref()
            .map(|b| (fidx_path(&self.index), b));
        let flows = self
            .flows_bytes
            .as_deref()
            .map(|b| (flows_path(&self.index), b));
        fidx.into_iter().chain(flows).collect()
    }
}

/// A job's outcome; its buffer comes back for the next one.
pub(super) struct Done {
    pub job: Job,
    /// The data file was renamed into view (so a failure after it leaves a data file
    /// without its index, which the spooler removes).
    pub published: bool,
    pub result: crate::Result<IoMode>,
}

/// The running disk thread; see the module doc.
pub(super) struct IoThread {
    jobs: Option<SyncSender<Job>>,
    done: Receiver<Done>,
    in_flight: bool,
    handle: Option<JoinHandle<()>>,
}

impl IoThread {
    /// Starts the thread, named `name` (at most 15 bytes: Linux cuts longer names).
    pub fn start(name: String) -> std::io::Result<Self> {
        let (jobs, rx) = sync_channel::<Job>(1);
        let (tx, done) = sync_channel::<Done>(1);
        let handle = std::thread::Builder::new().name(name).spawn(move || {
            for job in rx {
                let mut published = false;
                let result = write_and_publish(&job, &mut published);
                let out = Done {
                    job,
                    published,
                    result,
                };
                if tx.send(out).is_err() {
                    return;
                }
            }
        })?;
        Ok(IoThread {
            jobs: Some(jobs),
            done,
            in_flight: false,
            handle: Some(handle),
        })
    }

    /// Hands over the next file; the previous one must have been waited for.
    pub fn submit(&mut self, job: Job) {
        debug_assert!(!self.in_flight, "one file in flight at most");
        let jobs = self.jobs.as_ref().expect("sender lives until drop");
        // The thread only ends when its sender is dropped (below) or it panicked: then the
        // job's failure is reported by `wait`.
        self.in_flight = jobs.send(job).is_ok();
    }

    pub fn busy(&self) -> bool {
        self.in_flight
    }

    /// The outcome of the file in flight, if one is; an error if the thread died with it.
    pub fn wait(&mut self) -> crate::Result<Option<Done>> {
        if !std::mem::take(&mut self.in_flight) {
            return Ok(None);
        }
        self.done.recv().map(Some).map_err(|_| StoreError::Io {
            op: "store disk thread",
            path: PathBuf::new(),
            source: std::io::Error::other("ended with a file in flight (panicked)"),
        })
    }
}

impl Drop for IoThread {
    fn drop(&mut self) {
        // The file in flight finishes (it is on its way to the disk); then the thread ends.
        let _ = self.wait();
        self.jobs = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Both files (and the sidecars, flow index and flow records, when built) under temporary names, each fsync'd;
/// then renamed into view, the data file first and the index last, and the directory fsync'd
/// once. An index in view always has its complete data file:
/// journaling file systems (ext4, xfs) keep the two renames in order through a crash, and on
/// one that might not, `clean` at the next start deletes an index without its data file (as it
/// deletes a data file without its index). Three syncs per file, not four: on a loop device
/// each costs 1-7 ms next to 25-30 ms for 64 MiB of data (docs/store.md).
fn write_and_publish(job: &Job, published: &mut bool) -> crate::Result<IoMode> {
    let tmp = temp_path(&job.data);
    let mut f = DataFile::create(&tmp, job.direct)?;
    f.write_aligned_at(0, &job.buf.bytes()[..job.write_len], job.data_len as usize)?;
    let mode = f.mode();
    f.finish()?;
    let index_tmp = temp_path(&job.index);
    write_synced(&index_tmp, &job.index_bytes)?;
    let sidecars = job.sidecars();
    for (path, bytes) in &sidecars {
        write_synced(&temp_path(path), bytes)?;
    }
    std::fs::rename(&tmp, &job.data).map_err(io_err("rename into place", &job.data))?;
    *published = true;
    for (path, _) in &sidecars {
        std::fs::rename(temp_path(path), path).map_err(io_err("rename into place", path))?;
    }
    std::fs::rename(&index_tmp, &job.index).map_err(io_err("rename into place", &job.index))?;
    sync_dir(&job.dir)?;
    Ok(mode)
}
