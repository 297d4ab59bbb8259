//! Reading the archive from synchronous code (`query`, `flows`, `export` run no async
//! runtime): [`S3Reader`] owns a small runtime and answers the store's
//! [`ObjectReader`] calls with GETs and range GETs, counting what it fetched.

use crate::connect::Archive;
use crate::location::{tree, FLOWS_SUFFIX};
use futures::StreamExt;
use mirrorcap_store::remote::ObjectReader;
use object_store::path::Path as ObjPath;
use object_store::ObjectStoreExt;
use std::io;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// GETs in flight at once when many small objects (indexes) are read.
const PARALLEL_GETS: usize = 16;

/// A blocking reader of one archive.
pub struct S3Reader {
    pub archive: Archive,
    rt: tokio::runtime::Runtime,
    /// Bytes received and requests made, for the query's report.
    pub fetched_bytes: AtomicU64,
    pub requests: AtomicU64,
}

impl S3Reader {
    pub fn new(archive: Archive) -> io::Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(S3Reader {
            archive,
            rt,
            fetched_bytes: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        })
    }

    /// Runs `f` on the reader's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Every object of `keys` (`None` for those that do not exist), several at a time.
    pub fn get_many(&self, keys: &[String]) -> Vec<io::Result<Option<Vec<u8>>>> {
        self.rt.block_on(
            futures::stream::iter(keys.iter().map(|k| self.get_async(k)))
                .buffered(PARALLEL_GETS)
                .collect(),
        )
    }

    async fn get_async(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        self.requests.fetch_add(1, Relaxed);
        let got = match self.archive.store.get(&ObjPath::from(key)).await {
            Ok(r) => r.bytes().await,
            Err(e) => Err(e),
        };
        match got {
            Ok(b) => {
                self.fetched_bytes.fetch_add(b.len() as u64, Relaxed);
                Ok(Some(b.to_vec()))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(io_error(&self.archive.url.bucket, key, &e)),
        }
    }
}

/// An `io::Error` that names the object and keeps the S3 message's first line.
pub fn io_error(bucket: &str, key: &str, e: &object_store::Error) -> io::Error {
    let cause = crate::cause::classify(e);
    let text = crate::cause::short(&crate::cause::error_text(e), 300);
    io::Error::other(format!("s3://{bucket}/{key}: {cause}: {text}"))
}

impl ObjectReader for S3Reader {
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        self.rt.block_on(self.get_async(key))
    }

    fn get_range(&self, key: &str, range: Range<u64>) -> io::Result<Vec<u8>> {
        self.requests.fetch_add(1, Relaxed);
        let got = self
            .rt
            .block_on(self.archive.store.get_range(&ObjPath::from(key), range))
            .map_err(|e| io_error(&self.archive.url.bucket, key, &e))?;
        self.fetched_bytes.fetch_add(got.len() as u64, Relaxed);
        Ok(got.to_vec())
    }

    /// In parallel ([`PARALLEL_GETS`] at once), one request per range: neighbours are not
    /// merged (object_store's `get_ranges` would also fetch the gaps between them, which the
    /// bytes-fetched report would then not show).
    fn get_ranges(&self, key: &str, ranges: &[Range<u64>]) -> io::Result<Vec<Vec<u8>>> {
        let path = ObjPath::from(key);
        let got: Vec<object_store::Result<bytes::Bytes>> = self.rt.block_on(
            futures::stream::iter(ranges.iter().cloned())
                .map(|r| self.archive.store.get_range(&path, r))
                .buffered(PARALLEL_GETS)
                .collect(),
        );
        self.requests.fetch_add(ranges.len() as u64, Relaxed);
        got.into_iter()
            .map(|g| {
                let b = g.map_err(|e| io_error(&self.archive.url.bucket, key, &e))?;
                self.fetched_bytes.fetch_add(b.len() as u64, Relaxed);
                Ok(b.to_vec())
            })
            .collect()
    }

    fn sidecar_key(&self, index_key: &str, suffix: &str) -> String {
        sidecar_key(index_key, suffix)
    }

    fn location(&self) -> String {
        self.archive.url.to_string()
    }
}

/// The key of a sidecar of the store file whose index is at `index_key`: beside it, except
/// the flow records, in the `flows` tree.
pub fn sidecar_key(index_key: &str, suffix: &str) -> String {
    let stem = index_key.strip_suffix(".idx").unwrap_or(index_key);
    if suffix != FLOWS_SUFFIX {
        return format!("{stem}{suffix}");
    }
    // .../worker-NN/pcap/DATE/NAME -> .../worker-NN/flows/DATE/NAME
    let mut parts: Vec<&str> = stem.rsplitn(3, '/').collect();
    if parts.len() == 3 {
        let parent = parts[2];
        if let Some(base) = parent.strip_suffix(&format!("/{}", tree(".idx"))) {
            parts[2] = base;
            return format!(
                "{}/{}/{}/{}{suffix}",
                parts[2],
                tree(suffix),
                parts[1],
                parts[0]
            );
        }
    }
    format!("{stem}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_records_live_in_their_own_tree() {
        let idx = "p/i-1/worker-00/pcap/2026-12-06/N.idx";
        assert_eq!(
            sidecar_key(idx, ".fidx"),
            "p/i-1/worker-00/pcap/2026-12-06/N.fidx"
        );
        assert_eq!(
            sidecar_key(idx, FLOWS_SUFFIX),
            "p/i-1/worker-00/flows/2026-12-06/N.flows.parquet"
        );
    }
}
