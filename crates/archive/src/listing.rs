//! Listing an archive for a time range: which appliances and workers it holds, then, per
//! worker, only the days of the range (plus the last day before it, whose last file may run
//! into the range), then the indexes of the files that can hold the range, fetched in
//! parallel. What comes out is what the store's timeline reads like a local store directory.

use crate::location::{days_of_date, utc_date, FLOWS_SUFFIX};
use crate::reader::{io_error, S3Reader};
use futures::TryStreamExt;
use mirrorcap_store::remote::{RemoteRef, RemoteWorker};
use mirrorcap_store::storedir::{parse_name, StoredFile};
use mirrorcap_store::StoreIndex;
use object_store::path::Path as ObjPath;
use object_store::ObjectMeta;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// What a listing found besides the files.
#[derive(Debug, Default)]
pub struct Listed {
    pub workers: Vec<RemoteWorker>,
    pub appliances: usize,
    /// LIST requests made, and index objects fetched.
    pub lists: u64,
    pub indexes: u64,
}

/// One file's objects as listed.
#[derive(Default)]
struct Objects {
    data: Option<(String, u64)>,
    index: Option<String>,
}

/// Lists `reader`'s archive for packets in `[from_ns, to_ns]` (either open).
pub fn list(
    reader: &Arc<S3Reader>,
    from_ns: Option<u64>,
    to_ns: Option<u64>,
) -> Result<Listed, String> {
    let url = &reader.archive.url;
    let store = &reader.archive.store;
    let mut out = Listed::default();
    let dirs = |prefix: String, out: &mut Listed| -> Result<Vec<String>, String> {
        out.lists += 1;
        let p = (!prefix.is_empty()).then(|| ObjPath::from(prefix.as_str()));
        let r = reader
            .block_on(store.list_with_delimiter(p.as_ref()))
            .map_err(|e| io_error(&url.bucket, &prefix, &e).to_string())?;
        Ok(r.common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect())
    };
    let root = url.prefix.clone();
    let join = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else {
            format!("{a}/{b}")
        }
    };
    let from_day = from_ns.map(|t| days_of_date(&utc_date(t)).unwrap_or(0));
    let to_day = to_ns.map(|t| days_of_date(&utc_date(t)).unwrap_or(i64::MAX));
    let reader_ref = RemoteRef(reader.clone() as Arc<dyn mirrorcap_store::remote::ObjectReader>);
    for appliance in dirs(root.clone(), &mut out)? {
        out.appliances += 1;
        let app = join(&root, &appliance);
        for worker_seg in dirs(app.clone(), &mut out)? {
            let Some(worker) = worker_seg
                .strip_prefix("worker-")
                .and_then(|n| n.parse::<usize>().ok())
            else {
                continue;
            };
            let pcap = join(&join(&app, &worker_seg), "pcap");
            let mut days: Vec<(i64, String)> = dirs(pcap.clone(), &mut out)?
                .into_iter()
                .filter_map(|d| days_of_date(&d).map(|n| (n, d)))
                .collect();
            days.sort();
            // The days of the range, and the last one before it.
            let before = from_day.and_then(|f| days.iter().rposition(|(n, _)| *n < f));
            let chosen: Vec<&String> = days
                .iter()
                .enumerate()
                .filter(|(i, (n, _))| {
                    let in_range =
                        from_day.is_none_or(|f| *n >= f) && to_day.is_none_or(|t| *n <= t);
                    in_range || Some(*i) == before
                })
                .map(|(_, (_, d))| d)
                .collect();
            let mut objects: BTreeMap<String, Objects> = BTreeMap::new();
            for day in chosen {
                out.lists += 1;
                let prefix = ObjPath::from(join(&pcap, day).as_str());
                let metas: Vec<ObjectMeta> = reader
                    .block_on(store.list(Some(&prefix)).try_collect())
                    .map_err(|e| io_error(&url.bucket, prefix.as_ref(), &e).to_string())?;
                for m in metas {
                    let key = m.location.to_string();
                    let Some(file) = m.location.filename() else {
                        continue;
                    };
                    if let Some(stem) = file.strip_suffix(".idx") {
                        objects.entry(stem.to_string()).or_default().index = Some(key);
                    } else if let Some(stem) = file
                        .strip_suffix(".pcap.zst")
                        .or_else(|| file.strip_suffix(".pcap"))
                    {
                        objects.entry(stem.to_string()).or_default().data = Some((key, m.size));
                    }
                }
            }
            let files = worker_files(reader, &reader_ref, objects, from_ns, to_ns, &mut out)?;
            out.workers.push(RemoteWorker {
                worker,
                source: appliance.clone(),
                files,
            });
        }
    }
    Ok(out)
}

/// The complete files (index and data) of one worker's listing that can hold the range, with
/// their indexes.
fn worker_files(
    reader: &Arc<S3Reader>,
    remote: &RemoteRef,
    objects: BTreeMap<String, Objects>,
    from_ns: Option<u64>,
    to_ns: Option<u64>,
    out: &mut Listed,
) -> Result<Vec<(StoredFile, StoreIndex)>, String> {
    let mut candidates = Vec::new();
    for (name, o) in objects {
        let (Some((data, size)), Some(index)) = (o.data, o.index) else {
            continue;
        };
        let Some((first_ts_ns, generation, seq, from)) = parse_name(&name) else {
            continue;
        };
        if to_ns.is_some_and(|t| first_ts_ns > t) {
            continue;
        }
        let file = StoredFile {
            name,
            first_ts_ns,
            generation,
            seq,
            from,
            data: PathBuf::from(data),
            index: PathBuf::from(index),
            remote: Some(remote.clone()),
        };
        candidates.push((file, size));
    }
    candidates.sort_by_key(|(f, _)| (f.first_ts_ns, f.seq, f.from));
    // Files that start before the range: only the last of them can reach into it.
    if let Some(from) = from_ns {
        let before = candidates
            .iter()
            .filter(|(f, _)| f.first_ts_ns < from)
            .count();
        candidates.drain(..before.saturating_sub(1));
    }
    let keys: Vec<String> = candidates
        .iter()
        .map(|(f, _)| f.index.to_string_lossy().into_owned())
        .collect();
    out.indexes += keys.len() as u64;
    let mut files = Vec::with_capacity(candidates.len());
    for ((file, size), got) in candidates.into_iter().zip(reader.get_many(&keys)) {
        let where_ = || {
            format!(
                "s3://{}/{}",
                reader.archive.url.bucket,
                file.index.display()
            )
        };
        let bytes = match got.map_err(|e| e.to_string())? {
            Some(b) => b,
            // Listed a moment ago: a lifecycle expiry between LIST and GET.
            None => continue,
        };
        let index = StoreIndex::decode(&bytes)
            .map_err(|e| format!("{}: corrupt store index: {e}", where_()))?;
        if index.data_len != size {
            return Err(format!(
                "{}: the data object has {size} bytes, its index says {}",
                where_(),
                index.data_len
            ));
        }
        let newest = index.blocks.iter().map(|b| b.max_ts_ns).max().unwrap_or(0);
        if from_ns.is_some_and(|f| newest < f) {
            continue;
        }
        files.push((file, index));
    }
    Ok(files)
}

/// The flow records' key of a listed file.
pub fn flows_key(file: &StoredFile) -> String {
    crate::reader::sidecar_key(&file.index.to_string_lossy(), FLOWS_SUFFIX)
}
