//! [`StoreFile`]: opens a store file with its index and reads any block on its own (one
//! positioned read, one decompression), checking it against the index: length, checksum,
//! record count and timestamps. Anything that does not match is a [`StoreError::Corrupt`],
//! never a panic and never a record that was not written.

use crate::index::{BlockInfo, StoreIndex};
use crate::remote::RemoteRef;
use crate::storedir::StoredFile;
use crate::writer::Compression;
use crate::{file_paths, StoreError};
use mirrorcap_ring::pcapfmt::{
    parse_file_header, RecordHeader, Resolution, FILE_HEADER_LEN, RECORD_HEADER_LEN, SNAPLEN,
};
use mirrorcap_ring::RecordMeta;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// One record as stored: what the writer was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub ts_ns: u64,
    pub orig_len: u32,
    pub meta: RecordMeta,
    pub data: Vec<u8>,
}

/// Where an open store file's bytes are read from.
enum Source {
    Local(File),
    /// An archived file: its object's key.
    Remote(RemoteRef, String),
}

/// Blocks of an archived file fetched ahead, so that a query over a remote store waits for one
/// round trip per [`StoreFile::prefetch`] rather than one per block.
type Fetched = std::collections::HashMap<usize, Vec<u8>>;

/// An open store file.
pub struct StoreFile {
    path: PathBuf,
    file: Source,
    fetched: Fetched,
    index: StoreIndex,
    decompressor: Option<zstd::bulk::Decompressor<'static>>,
}

impl StoreFile {
    /// Opens data file `data_path` described by index `index_path`. A data file of another
    /// length than the index says (truncated, or still being written) is an error.
    pub fn open(data_path: &Path, index_path: &Path) -> crate::Result<Self> {
        Self::with_index(data_path, StoreIndex::read(index_path)?)
    }

    /// Opens data file `data_path` with its index already read.
    pub fn with_index(data_path: &Path, index: StoreIndex) -> crate::Result<Self> {
        let io = |op: &'static str| {
            let path = data_path.to_path_buf();
            move |source| StoreError::Io { op, path, source }
        };
        let file = File::open(data_path).map_err(io("open store file"))?;
        let len = file.metadata().map_err(io("stat store file"))?.len();
        if len != index.data_len {
            return Err(StoreError::Corrupt {
                op: "open store file",
                path: data_path.to_path_buf(),
                what: format!("{len} bytes, its index says {}", index.data_len),
            });
        }
        Self::from_source(data_path, Source::Local(file), index)
    }

    /// Opens `file`, local or archived, with its index already read. An archived file's
    /// length is its index's: a range beyond the object fails when read.
    pub fn open_stored(file: &StoredFile, index: StoreIndex) -> crate::Result<Self> {
        match &file.remote {
            None => Self::with_index(&file.data, index),
            Some(r) => {
                let key = RemoteRef::key(&file.data);
                Self::from_source(&file.data, Source::Remote(r.clone(), key), index)
            }
        }
    }

    fn from_source(data_path: &Path, file: Source, index: StoreIndex) -> crate::Result<Self> {
        let decompressor = if index.compressed {
            Some(
                zstd::bulk::Decompressor::new().map_err(|source| StoreError::Io {
                    op: "zstd decompressor",
                    path: data_path.to_path_buf(),
                    source,
                })?,
            )
        } else {
            None
        };
        Ok(StoreFile {
            path: data_path.to_path_buf(),
            file,
            fetched: Fetched::new(),
            index,
            decompressor,
        })
    }

    /// Opens store file `name` in `dir`, compressed or not, whichever exists.
    pub fn open_name(dir: &Path, name: &str) -> crate::Result<Self> {
        let (zst, idx) = file_paths(dir, name, Compression::DEFAULT_ZSTD);
        if zst.exists() {
            return Self::open(&zst, &idx);
        }
        let (plain, idx) = file_paths(dir, name, Compression::None);
        Self::open(&plain, &idx)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn index(&self) -> &StoreIndex {
        &self.index
    }

    pub fn block_count(&self) -> usize {
        self.index.blocks.len()
    }

    /// For an archived file: fetches blocks `ks` (those about to be read) in one batch of range
    /// requests; a local file reads each block when asked, so this does nothing there.
    pub fn prefetch(&mut self, ks: &[usize]) -> crate::Result<()> {
        let Source::Remote(r, key) = &self.file else {
            return Ok(());
        };
        let want: Vec<usize> = ks
            .iter()
            .copied()
            .filter(|k| !self.fetched.contains_key(k) && *k < self.index.blocks.len())
            .collect();
        let ranges: Vec<_> = want
            .iter()
            .map(|&k| {
                let e = self.index.blocks[k];
                e.offset..e.offset + e.stored_len
            })
            .collect();
        let got =
            r.0.get_ranges(key, &ranges)
                .map_err(|source| StoreError::Io {
                    op: "read store blocks",
                    path: self.path.clone(),
                    source,
                })?;
        self.fetched.extend(want.into_iter().zip(got));
        Ok(())
    }

    /// Whether block `k` must be requested: the file is archived and `k` was not fetched ahead.
    pub fn needs_fetch(&self, k: usize) -> bool {
        matches!(self.file, Source::Remote(..)) && !self.fetched.contains_key(&k)
    }

    /// Block `k`'s uncompressed bytes (pcap records; block 0 starts with the file header),
    /// checked against the index's length and checksum.
    pub fn read_block_raw(&mut self, k: usize) -> crate::Result<Vec<u8>> {
        let e = *self.block(k)?;
        let ahead = self.fetched.remove(&k);
        let stored = match (&self.file, ahead) {
            (_, Some(b)) if b.len() as u64 != e.stored_len => {
                let what = format!("{} bytes fetched of {}", b.len(), e.stored_len);
                return Err(self.corrupt(k, what));
            }
            (_, Some(b)) => Ok(b),
            (file, None) => match file {
                Source::Local(f) => {
                    let mut stored = vec![0u8; e.stored_len as usize];
                    f.read_exact_at(&mut stored, e.offset).map(|()| stored)
                }
                Source::Remote(r, key) => {
                    let got = r.0.get_range(key, e.offset..e.offset + e.stored_len);
                    match got {
                        Ok(b) if b.len() as u64 != e.stored_len => {
                            let what = format!("{} bytes fetched of {}", b.len(), e.stored_len);
                            return Err(self.corrupt(k, what));
                        }
                        got => got,
                    }
                }
            },
        }
        .map_err(|source| StoreError::Io {
            op: "read store block",
            path: self.path.clone(),
            source,
        })?;
        let raw = match &mut self.decompressor {
            None => stored,
            Some(d) => d
                .decompress(&stored, e.raw_len as usize)
                .map_err(|err| self.corrupt(k, format!("zstd: {err}")))?,
        };
        if raw.len() as u64 != e.raw_len {
            return Err(self.corrupt(k, format!("{} bytes, index says {}", raw.len(), e.raw_len)));
        }
        if self.index.block_checksum(&raw) != e.checksum {
            return Err(self.corrupt(k, "checksum mismatch".into()));
        }
        Ok(raw)
    }

    /// Block `k`'s records with their metadata words.
    pub fn read_block(&mut self, k: usize) -> crate::Result<Vec<Record>> {
        let raw = self.read_block_raw(k)?;
        let e = self.index.blocks[k];
        let metas = self.index.block_metas(k);
        let mut pos = 0;
        if k == 0 {
            if parse_file_header(&raw[..FILE_HEADER_LEN.min(raw.len())]) != Some(Resolution::Nanos)
            {
                return Err(self.corrupt(k, "no nanosecond Ethernet pcap header".into()));
            }
            pos = FILE_HEADER_LEN;
        }
        let mut out = Vec::with_capacity(e.records as usize);
        let (mut min, mut max) = (u64::MAX, 0);
        while pos < raw.len() {
            let Some(h) = raw
                .get(pos..pos + RECORD_HEADER_LEN)
                .and_then(|h| RecordHeader::decode(h, Resolution::Nanos))
            else {
                return Err(self.corrupt(k, format!("record header cut at {pos}")));
            };
            let start = pos + RECORD_HEADER_LEN;
            let end = start + h.incl_len as usize;
            if h.incl_len > SNAPLEN || end > raw.len() {
                return Err(self.corrupt(k, format!("record at {pos} overruns the block")));
            }
            let Some(&meta) = metas.get(out.len()) else {
                return Err(self.corrupt(k, "more records than the index says".into()));
            };
            min = min.min(h.ts_ns);
            max = max.max(h.ts_ns);
            out.push(Record {
                ts_ns: h.ts_ns,
                orig_len: h.orig_len,
                meta,
                data: raw[start..end].to_vec(),
            });
            pos = end;
        }
        if out.len() != e.records as usize {
            let what = format!("{} records, index says {}", out.len(), e.records);
            return Err(self.corrupt(k, what));
        }
        if !out.is_empty() && (min, max) != (e.min_ts_ns, e.max_ts_ns) {
            return Err(self.corrupt(k, "timestamps differ from the index".into()));
        }
        Ok(out)
    }

    /// Every record of the file, in order.
    pub fn read_all(&mut self) -> crate::Result<Vec<Record>> {
        let mut out = Vec::with_capacity(self.index.record_count());
        for k in 0..self.block_count() {
            out.extend(self.read_block(k)?);
        }
        Ok(out)
    }

    fn block(&self, k: usize) -> crate::Result<&BlockInfo> {
        self.index.blocks.get(k).ok_or_else(|| StoreError::NoBlock {
            path: self.path.clone(),
            block: k,
            count: self.index.blocks.len(),
        })
    }

    fn corrupt(&self, k: usize, what: String) -> StoreError {
        StoreError::Corrupt {
            op: "read store block",
            path: self.path.clone(),
            what: format!("block {k}: {what}"),
        }
    }
}
