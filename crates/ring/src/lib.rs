//! The pcap ring: per worker, a fixed set of preallocated segment files, each a valid
//! nanosecond pcap on its own, written through a memory mapping and indexed by a small control
//! file (see [`layout`]). [`RingWriter`] is the worker's side (with an optional helper thread
//! per ring that does the file work of rotation), [`reader`] and [`export`] the readers'. The
//! memory mappings come from `mirrorcap-mmap`, the one crate of the format's side that holds
//! `unsafe`; this crate forbids it.
#![forbid(unsafe_code)]

pub use mirrorcap_mmap as mmap;

pub mod export;
pub mod group_access;
pub mod layout;
mod maintainer;
pub mod output;
pub mod pcapfmt;
pub mod reader;
pub mod record_meta;
pub mod retention;
pub mod session_names;
pub mod spans;
pub mod tail;
mod writer;

pub use export::{export, export_pcap, export_pcap_filtered, ExportFilter, ExportStats};
pub use layout::Geometry;
pub use maintainer::BackgroundStats;
pub use output::{Format, SessionFilter, Sink};
pub use record_meta::RecordMeta;
pub use writer::{OpenReport, RingOptions, RingPolicy, RingStats, RingWriter};

use std::path::PathBuf;

/// Why the ring could not be opened, written or read.
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    #[error("{op} {path}: {source}")]
    Io {
        op: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Config(String),
}
