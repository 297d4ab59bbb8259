//! The store file format: where packets go after the RAM ring, for hours of retention
//! (issue 16). One store file is one standard nanosecond Ethernet pcap (the ring's
//! [`pcapfmt`](mirrorcap_ring::pcapfmt)), written as a run of *blocks*, plus a sidecar index.
//! This crate holds the format (a pure [`BlockWriter`] that produces the file's bytes and a
//! [`StoreFile`] reader) and the [`Spooler`] that writes a ring's sealed segments as store
//! files (O_DIRECT, crash-safe publication, retention), and the [`timeline`] that `export`
//! reads rings and stores as, each record once; the thread that runs the spooler and its
//! metrics are built on it elsewhere. docs/store.md has the same specification
//! with the measurements behind it.
//!
//! # Data file `NAME.pcap.zst` (`--store-compress zstd`)
//!
//! ```text
//! block 0: zstd frame( pcap file header (24 B) | records ... ) | pad frame
//! block 1: zstd frame( records ... )                         | pad frame
//! ...
//! ```
//!
//! - Each block is one independent zstd frame (content checksum on) holding whole pcap records,
//!   so `zstdcat NAME.pcap.zst | tcpdump -r -` reads the file with stock tools and mirrorcap
//!   decompresses any block on its own.
//! - Each frame is followed by a zstd *skippable* frame (magic [`PAD_MAGIC`], 4-byte LE length,
//!   zeros) that pads to the next multiple of [`ALIGN`] (4096): every block starts on an
//!   O_DIRECT boundary and the whole file is a multiple of 4096, so a writer can issue every
//!   write with O_DIRECT, the last one included. zstd decoders skip such frames by definition.
//!   A gap of 1..=7 bytes cannot hold a skippable frame (8 B minimum), so it grows by 4096.
//!
//! # Data file `NAME.pcap` (`--store-compress none`)
//!
//! A plain pcap, byte for byte what the ring's segments hold; a block is a run of whole records
//! by byte offset (block 0 starts with the file header). A plain pcap has no room for padding,
//! so blocks are *not* aligned: a reader rounds its read down/up to 4096 itself. The writer
//! still hands out its bytes in 4096-multiple buffers at 4096-multiple offsets; only the very
//! last buffer may be short.
//!
//! # Index file `NAME.idx` (both modes; see [`index`])
//!
//! One zstd frame (content checksum on) of: a header (magic, version, mode, data file length,
//! block size, counts), one fixed 56-byte entry per block (offset and length of its stored bytes,
//! uncompressed length, record count, min/max timestamp, a 64-bit checksum of the uncompressed
//! bytes) and then every record's 32-bit [`RecordMeta`] word in file order. A sidecar rather
//! than a trailing skippable frame because: the same scheme serves both modes (a plain pcap
//! cannot carry a trailer); listing a store (which file and block holds 14:02, which hold VNI
//! 42) reads small files and never the large ones (nor, later, large S3 objects); and the index
//! is written last, so its presence marks a complete data file. The zstd *seekable format*
//! (a seek table in a trailing skippable frame) is not followed: its table holds only
//! compressed/decompressed sizes, so the timestamps and metadata words need a table of their
//! own anyway, it does not exist for the uncompressed mode, and stock `zstdcat` reads our files
//! without it. A seekable-format seek table could be derived from the index if a tool wants one.
//!
//! # Spooler
//!
//! [`Spooler`] moves one worker ring's sealed segments into `STORE/worker-NN` as store files
//! (O_DIRECT where possible: [`odirect`]; names, cursor, publication: [`storedir`]; deletion
//! of the oldest: [`retention`]). A poll that fails (disk full, read-only, a directory
//! removed) leaves no partial file and says which [`Fault`] it met ([`fault`]).
//!
//! # Flow index `NAME.fidx` (optional; see [`flowidx`])
//!
//! The inner flows' terms per block (`mirrorcap-index`), so `query` reads only the blocks that
//! may match. Missing or damaged, it costs a read of every block, never a packet.
#![forbid(unsafe_code)]

pub mod archived;
pub mod checksum;
pub mod fault;
pub mod flowidx;
pub mod index;
pub mod odirect;
mod pad;
pub mod reader;
pub mod remote;
pub mod retention;
pub mod segment;
pub mod spool;
pub mod storedir;
pub mod timeline;
pub mod writer;

pub use fault::{errno_name, Fault};
pub use index::{BlockInfo, StoreIndex};
pub use mirrorcap_ring::RecordMeta;
pub use odirect::IoMode;
pub use pad::{pad_frame, PAD_MAGIC};
pub use reader::{Record, StoreFile};
pub use retention::{fs_space, MinFree, Retention};
pub use spool::{Lag, SpoolOptions, SpoolReport, Spooler};
pub use writer::{write_file, BlockWriter, Compression, Finished, OutBuf, StoreOptions};

use std::path::{Path, PathBuf};

/// O_DIRECT alignment of every block offset (compressed mode) and of every buffer the writer
/// hands out: 4096 covers every sector size of NVMe, EBS and ext4/xfs block sizes.
pub const ALIGN: usize = 4096;

/// Default uncompressed bytes per block, chosen by measurement (docs/store.md,
/// `examples/block_size.rs`).
pub const DEFAULT_BLOCK_SIZE: usize = 1 << 20;
/// Smallest block size accepted: below it the per-block index entry and pad cost too much.
pub const MIN_BLOCK_SIZE: usize = 4096;
/// Largest block size accepted; it also bounds what a reader allocates for one block, so a
/// damaged or hostile index cannot make it allocate gigabytes.
pub const MAX_BLOCK_SIZE: usize = 64 << 20;

/// Why a store file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file's bytes are not what the index (or the format) says: truncated, damaged, or not
    /// a store file. `what` says which check failed.
    #[error("{op} {path}: corrupt store file: {what}")]
    Corrupt {
        op: &'static str,
        path: PathBuf,
        what: String,
    },
    /// A record the format cannot hold (too long, timestamp past 2106).
    #[error("store record: {0}")]
    Record(String),
    /// zstd itself failed (while compressing: out of memory or a bad parameter).
    #[error("{op}: {source}")]
    Zstd {
        op: &'static str,
        source: std::io::Error,
    },
    /// A caller asked for a block the file does not have.
    #[error("read store block {path}: block {block} of {count}")]
    NoBlock {
        path: PathBuf,
        block: usize,
        count: usize,
    },
    #[error("store options: {0}")]
    Config(String),
    /// Reading the ring failed (its message names the operation and the path).
    #[error("read ring: {0}")]
    Ring(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The data and index paths of store file `name` in `dir`.
pub fn file_paths(dir: &Path, name: &str, compression: Compression) -> (PathBuf, PathBuf) {
    let ext = match compression {
        Compression::None => "pcap",
        Compression::Zstd { .. } => "pcap.zst",
    };
    (
        dir.join(format!("{name}.{ext}")),
        dir.join(format!("{name}.idx")),
    )
}
