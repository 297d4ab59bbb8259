//! The sources of a reading command: ring and store directories, and archives
//! (`s3://BUCKET/PREFIX`, docs/archive.md) listed for the time range, in any mix. An archive
//! is read with the environment's AWS settings (`AWS_ACCESS_KEY_ID`..., `AWS_PROFILE`,
//! `AWS_REGION`, and `AWS_ENDPOINT_URL` + `AWS_ALLOW_HTTP` for an S3-compatible server).
use mirrorcap_archive::{is_archive_url, listing, ArchiveUrl, S3Reader, Settings};
use mirrorcap_ring::ExportFilter;
use mirrorcap_store::remote::RemoteWorker;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// Whether `p` names a source (a directory or an archive) rather than an expression.
pub fn is_source(p: &Path) -> bool {
    p.is_dir() || is_archive_url(&p.to_string_lossy())
}

/// Whether any of `args` is an archive.
pub fn any_archive(args: &[PathBuf]) -> bool {
    args.iter().any(|p| is_archive_url(&p.to_string_lossy()))
}

/// Directories and the archives' listed files.
pub struct Sources {
    pub dirs: Vec<PathBuf>,
    pub remote: Vec<RemoteWorker>,
    readers: Vec<Arc<S3Reader>>,
}

impl Sources {
    /// Splits `args` and lists each archive for `filter`'s time range; `what` names the
    /// command in messages.
    pub fn open(args: &[PathBuf], filter: &ExportFilter, what: &str) -> anyhow::Result<Self> {
        let mut s = Sources {
            dirs: Vec::new(),
            remote: Vec::new(),
            readers: Vec::new(),
        };
        for a in args {
            let text = a.to_string_lossy();
            if !is_archive_url(&text) {
                s.dirs.push(a.clone());
                continue;
            }
            let url: ArchiveUrl = text.parse().map_err(anyhow::Error::msg)?;
            let archive = mirrorcap_archive::connect(&url, &Settings::default())
                .map_err(anyhow::Error::msg)?;
            let reader = Arc::new(S3Reader::new(archive)?);
            let listed = listing::list(&reader, filter.from_ns, filter.to_ns)
                .map_err(|e| anyhow::anyhow!("list {url}: {e}"))?;
            let files: usize = listed.workers.iter().map(|w| w.files.len()).sum();
            eprintln!(
                "mirrorcap: {what}: {url}: {} appliance(s), {} worker(s), {files} store file(s) for the time range ({} LIST request(s), {} index(es) fetched)",
                listed.appliances,
                listed.workers.len(),
                listed.lists,
                listed.indexes
            );
            s.remote.extend(listed.workers);
            s.readers.push(reader);
        }
        Ok(s)
    }

    /// The archives' files, for the timeline (once).
    pub fn take_remote(&mut self) -> Vec<RemoteWorker> {
        std::mem::take(&mut self.remote)
    }

    /// Bytes fetched from the archives (indexes, sidecars, blocks) and requests made.
    pub fn fetched(&self) -> (u64, u64) {
        self.readers.iter().fold((0, 0), |(b, r), x| {
            (
                b + x.fetched_bytes.load(Relaxed),
                r + x.requests.load(Relaxed),
            )
        })
    }

    /// The line saying what the archives cost, if any was read: bytes fetched next to the
    /// stored bytes of the blocks that held a match.
    pub fn report(&self, what: &str, matching_bytes: u64) {
        if self.readers.is_empty() {
            return;
        }
        let (bytes, requests) = self.fetched();
        let ratio = if matching_bytes > 0 {
            format!(
                " ({:.2}x the {matching_bytes} stored bytes of the blocks that held a match)",
                bytes as f64 / matching_bytes as f64
            )
        } else {
            String::new()
        };
        eprintln!(
            "mirrorcap: {what}: fetched {bytes} bytes in {requests} request(s) from the archive{ratio}"
        );
    }
}
