//! Store files that live elsewhere than a local directory (an S3 archive): the reader trait
//! the timeline reads their objects through, so `export`, `query` and `flows` treat an archived
//! file exactly as a local one (same index checks, same blocks, same seam rules).
//!
//! The archive crate implements [`ObjectReader`] over S3 and lists what it holds as
//! [`RemoteWorker`]s; this crate only reads through it. A remote [`StoredFile`]'s `data` and
//! `index` paths are the objects' keys.

use crate::storedir::StoredFile;
use crate::StoreIndex;
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

/// Reads objects of a remote store by key.
pub trait ObjectReader: Send + Sync {
    /// The whole object at `key`; `Ok(None)` if there is none.
    fn get(&self, key: &str) -> std::io::Result<Option<Vec<u8>>>;
    /// Bytes `range` of the object at `key`.
    fn get_range(&self, key: &str, range: Range<u64>) -> std::io::Result<Vec<u8>>;
    /// Several ranges of the object at `key`, in order (a reader may fetch them in parallel and
    /// merge neighbours into one request).
    fn get_ranges(&self, key: &str, ranges: &[Range<u64>]) -> std::io::Result<Vec<Vec<u8>>> {
        ranges
            .iter()
            .map(|r| self.get_range(key, r.clone()))
            .collect()
    }
    /// The key of the sidecar with `suffix` (`.fidx`, `.flows.parquet`) of the store file
    /// whose index is at `index_key`.
    fn sidecar_key(&self, index_key: &str, suffix: &str) -> String;
    /// Where the objects are, for messages (`s3://bucket/prefix`).
    fn location(&self) -> String;
}

/// A shared [`ObjectReader`] carried by a remote [`StoredFile`]. Two are equal when they are
/// the same reader.
#[derive(Clone)]
pub struct RemoteRef(pub Arc<dyn ObjectReader>);

impl RemoteRef {
    /// The key a path of a remote [`StoredFile`] stands for.
    pub fn key(path: &Path) -> String {
        path.to_string_lossy().into_owned()
    }
}

impl fmt::Debug for RemoteRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RemoteRef({})", self.0.location())
    }
}

impl PartialEq for RemoteRef {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for RemoteRef {}

/// One remote source's store files of one worker, with their indexes already read: what a
/// timeline takes besides directories.
#[derive(Debug)]
pub struct RemoteWorker {
    pub worker: usize,
    /// Who wrote them (the appliance id), for ordering and messages.
    pub source: String,
    pub files: Vec<(StoredFile, StoreIndex)>,
}

/// The sidecar of `file` with `suffix` (`.fidx`, `.flows.parquet`), which is at `path` when
/// the file is local: read from the remote store when the file is remote, from disk
/// otherwise; `Ok(None)` if there is none.
pub fn read_sidecar(
    file: &StoredFile,
    path: &Path,
    suffix: &str,
) -> std::io::Result<Option<Vec<u8>>> {
    match &file.remote {
        Some(r) => {
            r.0.get(&r.0.sidecar_key(&RemoteRef::key(&file.index), suffix))
        }
        None => match std::fs::read(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        },
    }
}
