//! The sidecar index `NAME.idx`: what a reader needs to find, check and filter the blocks of a
//! store file without reading it. Stored as one zstd frame (content checksum on, and our own
//! checksum as the body's last 8 bytes, so damage is caught even if the frame's checksum flag
//! is what got damaged) of this little-endian body:
//!
//! ```text
//! header (40 B): magic "MCSTIDX1" | version u32 = 1 | flags u32 (bit 0: zstd blocks)
//!                | data_len u64 (bytes of the data file) | block_size u32 | block count u32
//!                | record count u64
//! entries (56 B each): offset u64 | stored_len u64 | raw_len u64 | records u32 | 0 u32
//!                | min_ts_ns u64 | max_ts_ns u64 | checksum u64 (of the raw bytes)
//! metas (4 B each): every record's RecordMeta word, in file order
//! checksum u64 of all of the above
//! ```
//!
//! Decoding checks every field against the others and against what the writer produces
//! (offsets contiguous, aligned when compressed, lengths bounded), so a damaged index is an
//! error, never a wrong block or a huge allocation.

use crate::checksum::{block_checksum, checksum};
use crate::pad::pad_len;
use crate::{StoreError, ALIGN, MAX_BLOCK_SIZE, MIN_BLOCK_SIZE};
use mirrorcap_ring::pcapfmt::{FILE_HEADER_LEN, RECORD_HEADER_LEN, SNAPLEN};
use mirrorcap_ring::RecordMeta;
use std::io::Read;
use std::path::Path;

pub const INDEX_MAGIC: [u8; 8] = *b"MCSTIDX1";
pub const INDEX_VERSION: u32 = 2;
/// The oldest version read: 1 differs only in its block checksum ([`block_checksum`]).
pub const INDEX_VERSION_MIN: u32 = 1;
const FLAG_ZSTD: u32 = 1;
const HEADER_LEN: usize = 40;
const ENTRY_LEN: usize = 56;
/// Largest decompressed index a reader accepts (about 250 M records): bounds the memory a
/// damaged index can make a reader use.
pub const MAX_INDEX_LEN: u64 = 1 << 30;
/// zstd level of the index: it is small and written once per file.
const INDEX_LEVEL: i32 = 3;

/// One block of a store file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockInfo {
    /// File offset of the block's stored bytes (a multiple of [`ALIGN`] when compressed).
    pub offset: u64,
    /// Stored bytes: the zstd frame without its pad, or the raw bytes when uncompressed.
    pub stored_len: u64,
    /// Uncompressed bytes: pcap records (and the 24-byte file header in block 0).
    pub raw_len: u64,
    pub records: u32,
    /// Smallest and largest record timestamp (Unix ns); 0, 0 for an empty block.
    pub min_ts_ns: u64,
    pub max_ts_ns: u64,
    /// [`checksum`] of the uncompressed bytes.
    pub checksum: u64,
}

/// The decoded index of one store file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreIndex {
    /// The format version it was read from (or [`INDEX_VERSION`] when made here): which block
    /// checksum its entries hold.
    pub version: u32,
    pub compressed: bool,
    /// Length of the data file the index describes.
    pub data_len: u64,
    /// The writer's target uncompressed bytes per block.
    pub block_size: u32,
    pub blocks: Vec<BlockInfo>,
    /// Every record's metadata word, in file order.
    pub metas: Vec<RecordMeta>,
    /// Index in `metas` of each block's first record (derived, not stored).
    first_record: Vec<usize>,
}

impl StoreIndex {
    pub(crate) fn new(
        compressed: bool,
        data_len: u64,
        block_size: u32,
        blocks: Vec<BlockInfo>,
        metas: Vec<RecordMeta>,
    ) -> Self {
        let first_record = blocks
            .iter()
            .scan(0usize, |n, b| {
                let first = *n;
                *n += b.records as usize;
                Some(first)
            })
            .collect();
        StoreIndex {
            version: INDEX_VERSION,
            compressed,
            data_len,
            block_size,
            blocks,
            metas,
            first_record,
        }
    }

    /// The checksum of a block's uncompressed bytes as this index's entries hold it.
    pub fn block_checksum(&self, raw: &[u8]) -> u64 {
        block_checksum(self.version, raw)
    }

    pub fn record_count(&self) -> usize {
        self.metas.len()
    }

    /// The metadata words of block `k`'s records.
    pub fn block_metas(&self, k: usize) -> &[RecordMeta] {
        let first = self.first_record[k];
        &self.metas[first..first + self.blocks[k].records as usize]
    }

    /// Index (in file order) of block `k`'s first record.
    pub fn first_record(&self, k: usize) -> usize {
        self.first_record[k]
    }

    /// The index file's bytes.
    pub fn encode(&self) -> crate::Result<Vec<u8>> {
        let mut b = Vec::with_capacity(
            HEADER_LEN + self.blocks.len() * ENTRY_LEN + self.metas.len() * 4 + 8,
        );
        b.extend_from_slice(&INDEX_MAGIC);
        b.extend_from_slice(&self.version.to_le_bytes());
        let flags = if self.compressed { FLAG_ZSTD } else { 0 };
        b.extend_from_slice(&flags.to_le_bytes());
        b.extend_from_slice(&self.data_len.to_le_bytes());
        b.extend_from_slice(&self.block_size.to_le_bytes());
        b.extend_from_slice(&(self.blocks.len() as u32).to_le_bytes());
        b.extend_from_slice(&(self.metas.len() as u64).to_le_bytes());
        for e in &self.blocks {
            for v in [e.offset, e.stored_len, e.raw_len] {
                b.extend_from_slice(&v.to_le_bytes());
            }
            b.extend_from_slice(&e.records.to_le_bytes());
            b.extend_from_slice(&0u32.to_le_bytes());
            for v in [e.min_ts_ns, e.max_ts_ns, e.checksum] {
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
        for m in &self.metas {
            b.extend_from_slice(&m.to_le_bytes());
        }
        b.extend_from_slice(&checksum(&b).to_le_bytes());
        let mut c = zstd::bulk::Compressor::new(INDEX_LEVEL).map_err(zstd_err)?;
        c.include_checksum(true).map_err(zstd_err)?;
        c.compress(&b).map_err(zstd_err)
    }

    /// Reads and checks the index file at `path`.
    pub fn read(path: &Path) -> crate::Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| StoreError::Io {
            op: "read store index",
            path: path.to_path_buf(),
            source,
        })?;
        Self::decode(&bytes).map_err(|what| corrupt(path, what))
    }

    /// Decodes and checks an index file's bytes; the error says which check failed.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut body = Vec::new();
        zstd::stream::read::Decoder::new(bytes)
            .map_err(|e| format!("index: {e}"))?
            .take(MAX_INDEX_LEN + 1)
            .read_to_end(&mut body)
            .map_err(|e| format!("index: zstd: {e}"))?;
        if body.len() as u64 > MAX_INDEX_LEN {
            return Err("index: larger than MAX_INDEX_LEN".into());
        }
        if body.len() < HEADER_LEN + 8 {
            return Err(format!("index: {} bytes, too short", body.len()));
        }
        let (content, sum) = body.split_at(body.len() - 8);
        if checksum(content).to_le_bytes() != sum {
            return Err("index: checksum mismatch".into());
        }
        let u32_at = |i: usize| u32::from_le_bytes(content[i..i + 4].try_into().expect("4"));
        let u64_at = |i: usize| u64::from_le_bytes(content[i..i + 8].try_into().expect("8"));
        if content[..8] != INDEX_MAGIC {
            return Err("index: bad magic".into());
        }
        let version = u32_at(8);
        if !(INDEX_VERSION_MIN..=INDEX_VERSION).contains(&version) {
            return Err(format!("index: unknown version {version}"));
        }
        let compressed = match u32_at(12) {
            0 => false,
            FLAG_ZSTD => true,
            f => return Err(format!("index: unknown flags {f:#x}")),
        };
        let data_len = u64_at(16);
        let block_size = u32_at(24);
        let nblocks = u32_at(28) as u64;
        let nrecords = u64_at(32);
        if !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&(block_size as usize)) {
            return Err(format!("index: block size {block_size} out of range"));
        }
        // Checked before anything is allocated from the counts.
        let want = nblocks
            .checked_mul(ENTRY_LEN as u64)
            .and_then(|e| nrecords.checked_mul(4).and_then(|m| m.checked_add(e)))
            .and_then(|n| n.checked_add(HEADER_LEN as u64));
        if want != Some(content.len() as u64) {
            return Err(format!(
                "index: {} bytes for {nblocks} blocks and {nrecords} records",
                content.len()
            ));
        }
        if nblocks == 0 {
            return Err("index: no blocks (block 0 holds the pcap header)".into());
        }
        let max_raw =
            block_size as u64 + (FILE_HEADER_LEN + RECORD_HEADER_LEN) as u64 + SNAPLEN as u64;
        let mut blocks = Vec::with_capacity(nblocks as usize);
        let mut next_offset = 0u64;
        let mut total = 0u64;
        for k in 0..nblocks as usize {
            let at = HEADER_LEN + k * ENTRY_LEN;
            let e = BlockInfo {
                offset: u64_at(at),
                stored_len: u64_at(at + 8),
                raw_len: u64_at(at + 16),
                records: u32_at(at + 24),
                min_ts_ns: u64_at(at + 32),
                max_ts_ns: u64_at(at + 40),
                checksum: u64_at(at + 48),
            };
            let bad = |what: &str| format!("index: block {k}: {what}");
            if e.offset != next_offset {
                return Err(bad(&format!(
                    "offset {} where {next_offset} was due",
                    e.offset
                )));
            }
            let min_raw = RECORD_HEADER_LEN as u64 * e.records as u64
                + if k == 0 { FILE_HEADER_LEN as u64 } else { 0 };
            if e.raw_len > max_raw || e.raw_len < min_raw || e.min_ts_ns > e.max_ts_ns {
                return Err(bad("lengths or timestamps out of range"));
            }
            if compressed {
                let bound = zstd::zstd_safe::compress_bound(e.raw_len as usize) as u64 + 64;
                if e.stored_len == 0 || e.stored_len > bound {
                    return Err(bad("compressed length out of range"));
                }
                next_offset = e.offset + e.stored_len + pad_len(e.stored_len as usize) as u64;
                debug_assert_eq!(next_offset % ALIGN as u64, 0);
            } else {
                if e.stored_len != e.raw_len {
                    return Err(bad("stored and raw lengths differ in a plain pcap"));
                }
                next_offset = e.offset + e.stored_len;
            }
            total += e.records as u64;
            blocks.push(e);
        }
        if next_offset != data_len {
            return Err(format!(
                "index: blocks end at {next_offset}, data file is {data_len}"
            ));
        }
        if total != nrecords {
            return Err(format!(
                "index: blocks hold {total} records, header says {nrecords}"
            ));
        }
        let metas_at = HEADER_LEN + nblocks as usize * ENTRY_LEN;
        let metas = content[metas_at..]
            .chunks_exact(4)
            .map(|w| RecordMeta::from_le_bytes(w.try_into().expect("4")))
            .collect();
        Ok(StoreIndex {
            version,
            ..StoreIndex::new(compressed, data_len, block_size, blocks, metas)
        })
    }
}

pub(crate) fn corrupt(path: &Path, what: String) -> StoreError {
    StoreError::Corrupt {
        op: "read store index",
        path: path.to_path_buf(),
        what,
    }
}

pub(crate) fn zstd_err(source: std::io::Error) -> StoreError {
    StoreError::Zstd {
        op: "zstd compress",
        source,
    }
}
