//! Flow records (issue 17): one row per inner flow of the stored packets, so "what talked to
//! what, when, how much" is answered from a few kilobytes per store file instead of the packets.
//!
//! * [`FlowTuple`] (`tuple.rs`): the flow of one inner frame (VNI/session, EtherType, VLAN, IP
//!   version, protocol, addresses, ports) and its TCP flags, read at fixed offsets.
//! * [`FlowTable`] (`table.rs`): records in, [`FlowRecord`] rows out; rows of several files
//!   merge into one per flow.
//! * [`encode`] / [`decode`] (`parquet_file.rs`): the rows as a Parquet file, which the store
//!   writer puts beside each store file (`NAME.flows.parquet`) for DuckDB, Athena or Spark, and
//!   `mirrorcap flows` reads back.
//!
//! Flows are one direction each (a reply is its own row), as in VPC Flow Logs. Pure: no
//! DPDK, no `unsafe`; the only I/O is [`read_file`].
//!
//! ```
//! use mirrorcap_flows::{decode, encode, FlowTable};
//! // Ethernet / IPv4 / UDP 10.0.0.1:5353 -> 10.0.0.2:53, VNI 42, twice.
//! let mut frame = vec![0u8; 12];
//! frame.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0]);
//! frame.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2, 0x14, 0xe9, 0, 53, 0, 8, 0, 0]);
//! let mut t = FlowTable::new();
//! t.push(1_000_000, &frame, 60, 42);
//! t.push(3_000_000, &frame, 60, 42);
//! let rows = decode(encode(&t.take()).unwrap()).unwrap();
//! assert_eq!((rows[0].packets, rows[0].bytes, rows[0].vni), (2, 120, Some(42)));
//! assert_eq!(rows[0].dst_port, Some(53));
//! assert_eq!(rows[0].last_ts_ns - rows[0].first_ts_ns, 2_000_000);
//! ```

#![forbid(unsafe_code)]

mod parquet_file;
mod table;
mod tuple;

pub use parquet_file::{decode, encode, FORMAT_KEY, FORMAT_VERSION, SCHEMA};
pub use table::{FlowRecord, FlowTable};
pub use tuple::FlowTuple;

use std::path::{Path, PathBuf};

/// The suffix of a store file's flow records: `NAME.flows.parquet` beside `NAME.idx`.
pub const FLOWS_SUFFIX: &str = ".flows.parquet";

/// Why flow records could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum FlowsError {
    #[error("flow records: parquet: {0}")]
    Parquet(String),
    #[error("flow records: {0}")]
    Format(String),
    #[error("flow records: read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, FlowsError>;

/// `NAME.flows.parquet` for the store file whose index is `NAME.idx`.
pub fn flows_path(index_path: &Path) -> PathBuf {
    let stem = index_path.file_stem().unwrap_or_default().to_string_lossy();
    index_path.with_file_name(format!("{stem}{FLOWS_SUFFIX}"))
}

/// The rows of a flow records file.
pub fn read_file(path: &Path) -> Result<Vec<FlowRecord>> {
    let bytes = std::fs::read(path).map_err(|source| FlowsError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode(bytes)
}
