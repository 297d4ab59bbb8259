//! The uploader: moves each worker's complete store files to the archive, oldest first, one
//! file at a time per worker (workers in parallel), and moves the worker's [`ArchiveMark`]
//! past each file once all its objects are there. It runs on the control side, in a thread
//! of its own (`run` starts it), and touches nothing a worker uses: an S3 outage delays
//! uploads and shows as lag and failures, never as a stall of capture.
//!
//! A file's objects go data, flow index, flow records, then the store index, so a listing
//! that sees the `.idx` sees a complete file. Files of more than [`MULTIPART_OVER`] bytes go
//! in parts of [`PART_SIZE`] ([`PARTS_IN_FLIGHT`] at once). A failed file is tried again at the
//! next pass, whole and under the same keys: objects are replaced, never duplicated.

use crate::cause::{classify, error_text, Cause};
use crate::connect::Archive;
use crate::location::{object_key, FLOWS_SUFFIX};
use mirrorcap_store::archived::ArchiveMark;
use mirrorcap_store::flowidx::fidx_path;
use mirrorcap_store::storedir::{list, StoredFile};
use object_store::path::Path as ObjPath;
use object_store::{PutMultipartOptions, PutOptions, PutPayload, WriteMultipart};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Files above this size are uploaded in parts.
pub const MULTIPART_OVER: u64 = 16 << 20;
/// Part size: S3's minimum is 5 MiB; 8 MiB keeps a 1 GiB file under 130 parts.
pub const PART_SIZE: usize = 8 << 20;
/// Parts of one file in flight at once.
pub const PARTS_IN_FLIGHT: usize = 4;

/// The kinds of object a store file has, as the `kind` label says them.
pub const KINDS: [&str; 4] = ["data", "flow_index", "flow_records", "index"];

/// One worker's upload numbers, stored by the uploader and read by the metrics scrape.
#[derive(Debug, Default)]
pub struct WorkerCounters {
    /// Store files completely uploaded.
    pub files: AtomicU64,
    /// Objects uploaded by kind ([`KINDS`] order), and their bytes.
    pub objects: [AtomicU64; 4],
    pub bytes: AtomicU64,
    /// After the last pass: complete store files not yet uploaded.
    pub pending_files: AtomicU64,
    /// After the last pass: capture time the archive is behind the store, ns (the newest
    /// stored file's first packet minus the newest archived one's; 0 when none is pending).
    pub lag_ns: AtomicU64,
    pub polled: AtomicBool,
}

/// The uploader's numbers.
#[derive(Debug, Default)]
pub struct Counters {
    pub workers: Vec<WorkerCounters>,
    /// Failed file uploads by [`Cause`] (`Cause::ALL` order).
    pub failures: [AtomicU64; 6],
    /// The last failure, until an upload succeeds.
    pub failing: Mutex<Option<(Cause, String)>>,
    /// Time spent in passes that uploaded something, ns: bytes over it is the upload rate.
    pub busy_ns: AtomicU64,
}

/// What one pass did.
#[derive(Debug, Default)]
pub struct Pass {
    pub uploaded: u64,
    pub pending: u64,
    /// The first failure of the pass.
    pub failure: Option<(Cause, String)>,
}

/// The uploader of one store directory's workers.
pub struct Uploader {
    archive: Arc<Archive>,
    appliance: String,
    store_dir: PathBuf,
    marks: Vec<ArchiveMark>,
    pub counters: Arc<Counters>,
    rt: tokio::runtime::Runtime,
}

impl Uploader {
    /// The uploader of workers `0..marks.len()` of `store_dir` as appliance `appliance`.
    pub fn new(
        archive: Archive,
        appliance: &str,
        store_dir: &Path,
        marks: Vec<ArchiveMark>,
    ) -> std::io::Result<Self> {
        let counters = Counters {
            workers: marks.iter().map(|_| WorkerCounters::default()).collect(),
            ..Counters::default()
        };
        Ok(Uploader {
            archive: Arc::new(archive),
            appliance: appliance.to_string(),
            store_dir: store_dir.to_path_buf(),
            marks,
            counters: Arc::new(counters),
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
        })
    }

    /// Uploads pending files of every worker (in parallel across workers) until none is left,
    /// one fails, or `budget` has passed.
    pub fn pass(&self, budget: Duration) -> Pass {
        let started = Instant::now();
        let deadline = started + budget;
        let passes = self.rt.block_on(futures::future::join_all(
            (0..self.marks.len()).map(|w| self.worker_pass(w, deadline)),
        ));
        let mut out = Pass::default();
        for p in passes {
            out.uploaded += p.uploaded;
            out.pending += p.pending;
            if out.failure.is_none() {
                out.failure = p.failure;
            }
        }
        if out.uploaded > 0 {
            let ns = started.elapsed().as_nanos().min(u64::MAX as u128) as u64;
            self.counters.busy_ns.fetch_add(ns, Relaxed);
        }
        let mut failing = self
            .counters
            .failing
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match &out.failure {
            Some(f) => *failing = Some(f.clone()),
            None if out.uploaded > 0 || out.pending == 0 => *failing = None,
            None => {}
        }
        out
    }

    async fn worker_pass(&self, w: usize, deadline: Instant) -> Pass {
        let dir = mirrorcap_ring::layout::worker_dir(&self.store_dir, w);
        let c = &self.counters.workers[w];
        let mark = &self.marks[w];
        let mut out = Pass::default();
        let files = match list(&dir) {
            Ok(f) => f,
            // No directory yet (nothing stored) or one being recreated: nothing to upload.
            Err(_) if !dir.is_dir() => Vec::new(),
            Err(e) => {
                out.failure = Some(self.fail(Cause::Local, e.to_string()));
                return out;
            }
        };
        let newest = files.last().map(|f| f.first_ts_ns);
        let mut pending: Vec<&StoredFile> = files.iter().filter(|f| !mark.archived(f)).collect();
        while let Some(f) = pending.first().copied() {
            if Instant::now() >= deadline {
                break;
            }
            match self.upload_file(w, f).await {
                Ok(true) => {
                    if let Err(e) = mark.advance(&dir, f) {
                        out.failure = Some(self.fail(Cause::Local, e.to_string()));
                        break;
                    }
                    c.files.fetch_add(1, Relaxed);
                    out.uploaded += 1;
                }
                // Deleted by retention before its upload (counted there): on to the next.
                Ok(false) => {}
                Err((cause, msg)) => {
                    out.failure = Some(self.fail(cause, msg));
                    break;
                }
            }
            pending.remove(0);
        }
        out.pending = pending.len() as u64;
        let lag = match (pending.first(), newest) {
            (Some(p), Some(n)) => {
                // Newest archived: the file before the oldest pending one.
                let before = files
                    .iter()
                    .rev()
                    .find(|f| (f.first_ts_ns, f.seq) < (p.first_ts_ns, p.seq))
                    .map_or(p.first_ts_ns, |f| f.first_ts_ns);
                n.saturating_sub(before)
            }
            _ => 0,
        };
        c.pending_files.store(out.pending, Relaxed);
        c.lag_ns.store(lag, Relaxed);
        c.polled.store(true, Relaxed);
        out
    }

    fn fail(&self, cause: Cause, msg: String) -> (Cause, String) {
        self.counters.failures[cause.index()].fetch_add(1, Relaxed);
        (cause, msg)
    }

    /// Uploads every object of `f`: `Ok(false)` if the file went away meanwhile.
    async fn upload_file(&self, w: usize, f: &StoredFile) -> Result<bool, (Cause, String)> {
        let data_suffix = if f.data.to_string_lossy().ends_with(".pcap.zst") {
            ".pcap.zst"
        } else {
            ".pcap"
        };
        let objects: [(PathBuf, &str, bool); 4] = [
            (f.data.clone(), data_suffix, true),
            (fidx_path(&f.index), ".fidx", false),
            (mirrorcap_flows::flows_path(&f.index), FLOWS_SUFFIX, false),
            (f.index.clone(), ".idx", true),
        ];
        for (kind, (path, suffix, needed)) in objects.into_iter().enumerate() {
            let key = object_key(
                &self.archive.url,
                &self.appliance,
                w,
                &f.name,
                f.first_ts_ns,
                suffix,
            );
            let size = match std::fs::metadata(&path) {
                Ok(m) => m.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if needed {
                        return Ok(false);
                    }
                    continue;
                }
                Err(e) => return Err((Cause::Local, format!("{}: {e}", path.display()))),
            };
            match self.put_file(&path, &key, size).await {
                Ok(()) => {}
                Err(Failure::Gone) if needed => return Ok(false),
                Err(Failure::Gone) => continue,
                Err(Failure::Local(e)) => {
                    return Err((Cause::Local, format!("{}: {e}", path.display())))
                }
                Err(Failure::Remote(e)) => {
                    let text = crate::cause::short(&error_text(&e), 300);
                    return Err((classify(&e), format!("{}: {text}", self.where_(&key))));
                }
            }
            let c = &self.counters.workers[w];
            c.objects[kind_index(kind)].fetch_add(1, Relaxed);
            c.bytes.fetch_add(size, Relaxed);
        }
        Ok(true)
    }

    fn where_(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.archive.url.bucket)
    }

    /// Puts the local file `path` of `size` bytes at `key`: one PUT, or parts.
    async fn put_file(&self, path: &Path, key: &str, size: u64) -> Result<(), Failure> {
        let store = &self.archive.store;
        let loc = ObjPath::from(key);
        let attributes = self.archive.attributes.clone();
        let mut file = std::fs::File::open(path).map_err(Failure::from_io)?;
        if size <= MULTIPART_OVER {
            let mut bytes = Vec::with_capacity(size as usize);
            file.read_to_end(&mut bytes).map_err(Failure::from_io)?;
            let opts = PutOptions {
                attributes,
                ..PutOptions::default()
            };
            store
                .put_opts(&loc, PutPayload::from(bytes), opts)
                .await
                .map_err(Failure::Remote)?;
            return Ok(());
        }
        let opts = PutMultipartOptions {
            attributes,
            ..PutMultipartOptions::default()
        };
        let upload = store
            .put_multipart_opts(&loc, opts)
            .await
            .map_err(Failure::Remote)?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut buf = vec![0u8; PART_SIZE];
        let result = async {
            loop {
                let n = read_full(&mut file, &mut buf).map_err(Failure::from_io)?;
                if n == 0 {
                    return Ok(());
                }
                w.wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(Failure::Remote)?;
                w.write(&buf[..n]);
            }
        }
        .await;
        match result {
            Ok(()) => w.finish().await.map(|_| ()).map_err(Failure::Remote),
            Err(e) => {
                // Parts already sent would otherwise be kept (and billed) by S3 until a
                // lifecycle rule aborts them.
                let _ = w.abort().await;
                Err(e)
            }
        }
    }
}

/// Why one object could not be put.
enum Failure {
    /// The local file was deleted meanwhile.
    Gone,
    Local(std::io::Error),
    Remote(object_store::Error),
}

impl Failure {
    fn from_io(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::NotFound {
            Failure::Gone
        } else {
            Failure::Local(e)
        }
    }
}

/// The `kind` of the object at position `i` of a file's upload order.
fn kind_index(i: usize) -> usize {
    i.min(KINDS.len() - 1)
}

/// Reads until `buf` is full or the file ends.
fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Checks at start that the archive answers: `Err` with the cause and one line. A bucket that
/// does not exist is a configuration mistake (`run` exits 2); refused credentials or no
/// network are reported and counted while capture goes on.
pub fn check(archive: &Archive, timeout: Duration) -> Result<(), (Cause, String)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| (Cause::Other, e.to_string()))?;
    let prefix =
        (!archive.url.prefix.is_empty()).then(|| ObjPath::from(archive.url.prefix.as_str()));
    let r = rt.block_on(async {
        tokio::time::timeout(timeout, archive.store.list_with_delimiter(prefix.as_ref())).await
    });
    match r {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err((
            classify(&e),
            format!(
                "{}: {}",
                archive.url,
                crate::cause::short(&error_text(&e), 300)
            ),
        )),
        Err(_) => Err((
            Cause::Network,
            format!("{}: no answer within {timeout:?}", archive.url),
        )),
    }
}
