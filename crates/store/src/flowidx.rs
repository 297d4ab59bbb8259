//! The flow index sidecar `NAME.fidx` of a store file (`docs/index.md`): the bytes of
//! `mirrorcap-index` for the file's records, its block numbers being the store index's
//! (`NAME.idx`) block numbers, so a query reads only the blocks whose inner flows may match.
//!
//! * Writing: [`FlowIndexWriter`] is fed each record as the store writer writes it (block
//!   number, inner frame, metadata word) and gives the `.fidx` bytes; [`write_fidx`] puts them
//!   beside the index atomically. It is optional: [`build_for_file`] makes one for a store file
//!   already written (tests, or an older store).
//! * Reading: [`load`] gives the parsed index, or says it is missing or damaged. Neither is an
//!   error for a query: the file's blocks are all read and libpcap still decides every packet,
//!   so a damaged sidecar can cost time, never a packet.
//! * [`Narrowing`]: a query's [`Narrow`] applied to each store file of a timeline, with the
//!   counts the query reports.

use crate::storedir::{write_atomic, StoredFile};
use crate::{StoreFile, StoreIndex};
use mirrorcap_index::{FlowIndex, IndexBuilder, Narrow};
use mirrorcap_ring::RecordMeta;
use std::path::{Path, PathBuf};

/// The extension of the flow index sidecar.
pub const FIDX_EXT: &str = "fidx";

/// `NAME.fidx` beside the store index `NAME.idx`.
pub fn fidx_path(index_path: &Path) -> PathBuf {
    index_path.with_extension(FIDX_EXT)
}

/// Builds one store file's flow index from its records as they are written.
#[derive(Default)]
pub struct FlowIndexWriter {
    builder: IndexBuilder,
}

impl FlowIndexWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// One record of block `block` (the store index's block number), its inner frame as
    /// stored and its metadata word.
    #[inline]
    pub fn push(&mut self, block: usize, frame: &[u8], meta: RecordMeta) {
        self.builder.push(block as u32, frame, meta.0);
    }

    /// The `.fidx` bytes for a file of `blocks` blocks (blocks without records included, so
    /// the reader can check the count against the store index).
    pub fn finish(mut self, blocks: usize) -> Vec<u8> {
        self.builder.set_block_count(blocks as u32);
        self.builder.finish()
    }
}

/// The `.fidx` bytes of a store file already written: every block read once.
pub fn build_for_file(file: &mut StoreFile) -> crate::Result<Vec<u8>> {
    let mut w = FlowIndexWriter::new();
    for k in 0..file.block_count() {
        for r in file.read_block(k)? {
            w.push(k, &r.data, r.meta);
        }
    }
    Ok(w.finish(file.block_count()))
}

/// Writes `bytes` as the `.fidx` of the store file whose index is `index_path` (temporary
/// name, fsync, rename: a reader never sees half an index).
pub fn write_fidx(index_path: &Path, bytes: &[u8]) -> crate::Result<()> {
    write_atomic(&fidx_path(index_path), bytes)
}

/// What a store file's `.fidx` gave.
#[derive(Debug)]
pub enum Sidecar {
    Present(FlowIndex),
    Missing,
    /// Unreadable, damaged, or for another block count than the store index: the reason.
    Corrupt(String),
}

/// Loads the `.fidx` of the store file whose index is `index_path`, which has `blocks` blocks.
pub fn load(index_path: &Path, blocks: usize) -> Sidecar {
    let path = fidx_path(index_path);
    match std::fs::read(&path) {
        Ok(b) => parse(&path, &b, blocks),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Sidecar::Missing,
        Err(e) => Sidecar::Corrupt(format!("{}: {e}", path.display())),
    }
}

/// Loads the `.fidx` of `file`, local or archived, whose index has `blocks` blocks.
pub fn load_for(file: &StoredFile, blocks: usize) -> Sidecar {
    let path = fidx_path(&file.index);
    match crate::remote::read_sidecar(file, &path, ".fidx") {
        Ok(Some(b)) => parse(&path, &b, blocks),
        Ok(None) => Sidecar::Missing,
        Err(e) => Sidecar::Corrupt(format!("{}: {e}", path.display())),
    }
}

fn parse(path: &Path, bytes: &[u8], blocks: usize) -> Sidecar {
    match FlowIndex::parse(bytes) {
        Ok(idx) if idx.block_count() as usize == blocks => Sidecar::Present(idx),
        Ok(idx) => Sidecar::Corrupt(format!(
            "{}: {} blocks, the store index has {blocks}",
            path.display(),
            idx.block_count()
        )),
        Err(e) => Sidecar::Corrupt(format!("{}: {e}", path.display())),
    }
}

/// A query's narrowing over the store files of a timeline, and what it did.
#[derive(Debug)]
pub struct Narrowing {
    narrow: Narrow,
    /// Store files whose `.fidx` narrowed their blocks.
    pub files_indexed: u64,
    /// Store files without a `.fidx`: every block of the time range read.
    pub files_missing: u64,
    /// Store files whose `.fidx` was damaged: read in full; the first reason is kept.
    pub files_corrupt: u64,
    pub first_corrupt: Option<String>,
    /// Blocks in the time range, and of those the ones the flow index excluded.
    pub blocks_in_range: u64,
    pub blocks_excluded: u64,
}

impl Narrowing {
    pub fn new(narrow: Narrow) -> Self {
        Narrowing {
            narrow,
            files_indexed: 0,
            files_missing: 0,
            files_corrupt: 0,
            first_corrupt: None,
            blocks_in_range: 0,
            blocks_excluded: 0,
        }
    }

    /// Whether the expression narrows at all (else every block of the range is read).
    pub fn narrows(&self) -> bool {
        self.narrow.narrows()
    }

    /// Of `candidates` (blocks of `file` in the time range), those that may hold a match.
    pub fn blocks(
        &mut self,
        file: &StoredFile,
        index: &StoreIndex,
        mut candidates: Vec<usize>,
    ) -> Vec<usize> {
        self.blocks_in_range += candidates.len() as u64;
        if !self.narrows() || candidates.is_empty() {
            return candidates;
        }
        match load_for(file, index.blocks.len()) {
            Sidecar::Present(idx) => {
                self.files_indexed += 1;
                let set = self.narrow.blocks(&idx);
                let before = candidates.len();
                candidates.retain(|&k| set.contains(k as u32));
                self.blocks_excluded += (before - candidates.len()) as u64;
            }
            Sidecar::Missing => self.files_missing += 1,
            Sidecar::Corrupt(why) => {
                self.files_corrupt += 1;
                self.first_corrupt.get_or_insert(why);
            }
        }
        candidates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fidx_sits_beside_the_index() {
        assert_eq!(
            fidx_path(Path::new("/s/worker-00/0001-0000000001.idx")),
            Path::new("/s/worker-00/0001-0000000001.fidx")
        );
    }

    #[test]
    fn missing_and_damaged_sidecars_are_told_apart() {
        let d = tempfile::tempdir().unwrap();
        let idx = d.path().join("x.idx");
        assert!(matches!(load(&idx, 1), Sidecar::Missing));
        let mut w = FlowIndexWriter::new();
        w.push(0, &[0u8; 60], RecordMeta(7));
        let bytes = w.finish(2);
        write_fidx(&idx, &bytes).unwrap();
        assert!(matches!(load(&idx, 2), Sidecar::Present(_)));
        assert!(matches!(load(&idx, 3), Sidecar::Corrupt(_)));
        let mut bad = bytes.clone();
        bad[20] ^= 1;
        std::fs::write(fidx_path(&idx), bad).unwrap();
        assert!(matches!(load(&idx, 2), Sidecar::Corrupt(_)));
    }
}
