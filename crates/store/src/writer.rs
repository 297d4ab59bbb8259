//! [`BlockWriter`]: turns pcap records and their metadata words into the bytes of one store file
//! and its index, with no I/O of its own. It hands out the data file as [`OutBuf`]s whose
//! offsets and lengths are multiples of [`ALIGN`] (in a plain pcap, all but the very last), so
//! the store writer thread can write each with O_DIRECT as it is, in order, while the writer
//! keeps compressing; [`write_file`] is the simple buffered use of it (tests, tools).

use crate::checksum::block_checksum;
use crate::index::{zstd_err, BlockInfo, StoreIndex, INDEX_VERSION};
use crate::pad::pad_frame;
use crate::reader::Record;
use crate::{StoreError, ALIGN, DEFAULT_BLOCK_SIZE, MAX_BLOCK_SIZE, MIN_BLOCK_SIZE};
use mirrorcap_ring::pcapfmt::{file_header, RecordHeader, RECORD_HEADER_LEN, SNAPLEN};
use mirrorcap_ring::RecordMeta;
use std::collections::VecDeque;
use std::io::Write;
use std::path::Path;

/// How blocks are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// A plain pcap (`--store-compress none`).
    None,
    /// zstd frames at this level (`--store-compress zstd`).
    Zstd { level: i32 },
}

impl Compression {
    /// zstd level 1: the store must keep up with the disk on the control cores, and higher
    /// levels buy little on packet data (docs/store.md has the numbers).
    pub const DEFAULT_ZSTD: Compression = Compression::Zstd { level: 1 };
}

/// The format's parameters for one store file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    pub compression: Compression,
    /// Target uncompressed bytes per block: a block ends before the record that would pass it
    /// (or at it, for a record larger than a whole block).
    pub block_size: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            compression: Compression::DEFAULT_ZSTD,
            block_size: DEFAULT_BLOCK_SIZE,
        }
    }
}

/// Bytes of the data file to write at `offset`.
#[derive(Debug, PartialEq, Eq)]
pub struct OutBuf {
    pub offset: u64,
    pub bytes: Vec<u8>,
}

/// What remains once the last record is in: the last data buffers (the only possibly
/// unaligned one last of all), and the index, to be written after the data.
#[derive(Debug)]
pub struct Finished {
    pub tail: Vec<OutBuf>,
    pub index: StoreIndex,
    pub index_bytes: Vec<u8>,
}

/// Builds one store file from records; see the module doc.
pub struct BlockWriter {
    opts: StoreOptions,
    compressor: Option<zstd::bulk::Compressor<'static>>,
    /// The open block's uncompressed bytes (block 0's start with the pcap file header).
    raw: Vec<u8>,
    records: u32,
    min_ts: u64,
    max_ts: u64,
    blocks: Vec<BlockInfo>,
    metas: Vec<RecordMeta>,
    /// File offset of the next block.
    next_offset: u64,
    /// Plain pcap only: bytes not yet handed out (less than ALIGN between calls) and where.
    pending: Vec<u8>,
    pending_offset: u64,
    ready: VecDeque<OutBuf>,
}

impl BlockWriter {
    pub fn new(opts: StoreOptions) -> crate::Result<Self> {
        if !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&opts.block_size) {
            return Err(StoreError::Config(format!(
                "block size {} outside {MIN_BLOCK_SIZE}..={MAX_BLOCK_SIZE}",
                opts.block_size
            )));
        }
        let compressor = match opts.compression {
            Compression::None => None,
            Compression::Zstd { level } => Some(new_compressor(level)?),
        };
        let mut raw = Vec::with_capacity(opts.block_size + RECORD_HEADER_LEN + SNAPLEN as usize);
        raw.extend_from_slice(&file_header());
        Ok(BlockWriter {
            opts,
            compressor,
            raw,
            records: 0,
            min_ts: u64::MAX,
            max_ts: 0,
            blocks: Vec::new(),
            metas: Vec::new(),
            next_offset: 0,
            pending: Vec::new(),
            pending_offset: 0,
            ready: VecDeque::new(),
        })
    }

    /// Appends one record: capture time (Unix ns), length on the wire, the bytes kept, and its
    /// metadata word. May end the open block, making buffers ready.
    pub fn push(
        &mut self,
        ts_ns: u64,
        orig_len: u32,
        data: &[u8],
        meta: RecordMeta,
    ) -> crate::Result<()> {
        if data.len() > SNAPLEN as usize {
            return Err(StoreError::Record(format!(
                "{} bytes is over the snapshot length {SNAPLEN}",
                data.len()
            )));
        }
        if ts_ns / 1_000_000_000 > u32::MAX as u64 {
            return Err(StoreError::Record(format!(
                "timestamp {ts_ns} ns is past what pcap's 32-bit seconds hold"
            )));
        }
        let len = RECORD_HEADER_LEN + data.len();
        if self.records > 0 && self.raw.len() + len > self.opts.block_size {
            self.end_block()?;
        }
        let h = RecordHeader {
            ts_ns,
            incl_len: data.len() as u32,
            orig_len,
        };
        self.raw.extend_from_slice(&h.encode());
        self.raw.extend_from_slice(data);
        self.records += 1;
        self.min_ts = self.min_ts.min(ts_ns);
        self.max_ts = self.max_ts.max(ts_ns);
        self.metas.push(meta);
        if self.raw.len() >= self.opts.block_size {
            self.end_block()?;
        }
        Ok(())
    }

    /// Ends the open block now (the store writer's choice: at the end of a ring segment, or to
    /// bound how long records wait in memory). Does nothing if the block holds no record.
    pub fn end_block(&mut self) -> crate::Result<()> {
        if self.records == 0 {
            return Ok(());
        }
        self.seal()
    }

    /// The next buffer to write, in file order.
    pub fn pop_ready(&mut self) -> Option<OutBuf> {
        self.ready.pop_front()
    }

    /// Records pushed so far.
    pub fn record_count(&self) -> usize {
        self.metas.len()
    }

    /// Uncompressed bytes held in the open block (what a crash now would lose from this file).
    pub fn open_block_len(&self) -> usize {
        self.raw.len()
    }

    /// Ends the last block (an empty file still gets block 0: the pcap file header) and
    /// returns the remaining buffers and the index.
    pub fn finish(mut self) -> crate::Result<Finished> {
        if self.records > 0 || self.blocks.is_empty() {
            self.seal()?;
        }
        if !self.pending.is_empty() {
            let bytes = std::mem::take(&mut self.pending);
            self.ready.push_back(OutBuf {
                offset: self.pending_offset,
                bytes,
            });
        }
        let index = StoreIndex::new(
            self.compressor.is_some(),
            self.next_offset,
            self.opts.block_size as u32,
            self.blocks,
            self.metas,
        );
        let index_bytes = index.encode()?;
        Ok(Finished {
            tail: self.ready.into_iter().collect(),
            index,
            index_bytes,
        })
    }

    fn seal(&mut self) -> crate::Result<()> {
        let raw_len = self.raw.len();
        let offset = self.next_offset;
        let stored_len = match &mut self.compressor {
            Some(c) => {
                let cap = zstd::zstd_safe::compress_bound(raw_len) + 2 * ALIGN;
                let mut buf = Vec::with_capacity(cap);
                c.compress_to_buffer(&self.raw, &mut buf)
                    .map_err(zstd_err)?;
                let n = buf.len();
                pad_frame(&mut buf);
                self.next_offset += buf.len() as u64;
                self.ready.push_back(OutBuf { offset, bytes: buf });
                n
            }
            None => {
                self.pending.extend_from_slice(&self.raw);
                self.next_offset += raw_len as u64;
                let aligned = self.pending.len() / ALIGN * ALIGN;
                if aligned > 0 {
                    let rest = self.pending.split_off(aligned);
                    let bytes = std::mem::replace(&mut self.pending, rest);
                    self.ready.push_back(OutBuf {
                        offset: self.pending_offset,
                        bytes,
                    });
                    self.pending_offset += aligned as u64;
                }
                raw_len
            }
        };
        let empty = self.records == 0;
        self.blocks.push(BlockInfo {
            offset,
            stored_len: stored_len as u64,
            raw_len: raw_len as u64,
            records: self.records,
            min_ts_ns: if empty { 0 } else { self.min_ts },
            max_ts_ns: if empty { 0 } else { self.max_ts },
            checksum: block_checksum(INDEX_VERSION, &self.raw),
        });
        self.raw.clear();
        self.records = 0;
        self.min_ts = u64::MAX;
        self.max_ts = 0;
        Ok(())
    }
}

/// The compressor of every zstd block, at `level`.
pub(crate) fn new_compressor(level: i32) -> crate::Result<zstd::bulk::Compressor<'static>> {
    let mut c = zstd::bulk::Compressor::new(level).map_err(zstd_err)?;
    // Lets stock zstdcat, not only our index, detect a damaged block.
    c.include_checksum(true).map_err(zstd_err)?;
    Ok(c)
}

/// Writes `records` as store file `data_path` with its index `index_path` through ordinary
/// buffered writes, each file synced before the next: the data, then the index.
pub fn write_file<'a>(
    data_path: &Path,
    index_path: &Path,
    opts: StoreOptions,
    records: impl IntoIterator<Item = &'a Record>,
) -> crate::Result<StoreIndex> {
    let io = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { op, path, source }
    };
    let mut w = BlockWriter::new(opts)?;
    let mut f = std::fs::File::create(data_path).map_err(io("create store file", data_path))?;
    let mut written = 0u64;
    let mut put = |b: OutBuf, f: &mut std::fs::File| {
        debug_assert_eq!(b.offset, written);
        written += b.bytes.len() as u64;
        f.write_all(&b.bytes)
            .map_err(io("write store file", data_path))
    };
    for r in records {
        w.push(r.ts_ns, r.orig_len, &r.data, r.meta)?;
        while let Some(b) = w.pop_ready() {
            put(b, &mut f)?;
        }
    }
    let fin = w.finish()?;
    for b in fin.tail {
        put(b, &mut f)?;
    }
    f.sync_all().map_err(io("sync store file", data_path))?;
    std::fs::write(index_path, &fin.index_bytes).map_err(io("write store index", index_path))?;
    std::fs::File::open(index_path)
        .and_then(|f| f.sync_all())
        .map_err(io("sync store index", index_path))?;
    Ok(fin.index)
}
