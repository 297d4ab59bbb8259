//! The flow index of a store file (or a sealed ring segment): for each block of records, which
//! inner-flow terms occur in it (VNI, EtherType, VLAN ID, IP protocol, each IP address, each
//! port), so a query reads only the blocks that may hold what it asks for (issue 17).
//!
//! * [`FlowKey`] (`key.rs`): the terms of one inner frame, read the way libpcap's filters read
//!   them, so the index never misses a packet a tcpdump expression would match.
//! * [`IndexBuilder`] (`builder.rs`): frames and their block numbers in, index bytes out.
//! * [`FlowIndex`] (`format.rs`): the checksummed bytes parsed and validated; [`Term`] lookups
//!   give a [`BlockSet`] (`blockset.rs`), combined with `and` / `or`.
//!
//! The format is specified in `docs/index.md`. The index holds no time ranges: a block's number
//! is the store index's block number, whose entry already has the block's first and last
//! timestamp.
//!
//! Pure: no I/O, no DPDK, no `unsafe`.

#![forbid(unsafe_code)]

mod blockset;
mod builder;
mod checksum;
mod format;
mod hash;
mod key;
mod term;
mod varint;

pub use blockset::BlockSet;
pub use builder::IndexBuilder;
pub use format::{FlowIndex, MAGIC, VERSION};
pub use key::{FlowKey, MAX_PROTOS, MAX_TAGS};
pub use term::Term;

/// Why index bytes were refused. A damaged index is always an error, never a wrong answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    #[error("flow index: {0} bytes is too short for a header and checksum")]
    Short(usize),
    #[error("flow index: checksum mismatch (the index is damaged)")]
    Checksum,
    #[error("flow index: bad magic (not a mirrorcap flow index)")]
    Magic,
    #[error("flow index: version {0}, this reader knows version {VERSION}")]
    Version(u32),
    #[error("flow index: malformed at byte {at}: {what}")]
    Malformed { at: usize, what: &'static str },
}

pub type Result<T> = std::result::Result<T, IndexError>;
