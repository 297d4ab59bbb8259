//! The flow index of a store file (or a sealed ring segment): for each block of records, which
//! inner-flow terms occur in it (VNI, EtherType, VLAN ID, IP protocol, each IP address, each
//! port), so a query reads only the blocks that may hold what it asks for (issue 17).
//!
//! * [`FlowKey`] (`key.rs`): the terms of one inner frame, read the way libpcap's filters read
//!   them, so the index never misses a packet a tcpdump expression would match.
//! * [`IndexBuilder`] (`builder.rs`): frames and their block numbers in, index bytes out.
//! * [`FlowIndex`] (`format.rs`): the checksummed bytes parsed and validated; [`Term`] lookups
//!   give a [`BlockSet`] (`blockset.rs`), combined with `and` / `or`.
//! * [`Narrow`] (`narrow.rs`): what the index can tell of a tcpdump expression (the terms it
//!   must hold, conservatively), for `mirrorcap query`.
//!
//! The format is specified in `docs/index.md`. The index holds no time ranges: a block's number
//! is the store index's block number, whose entry already has the block's first and last
//! timestamp.
//!
//! Pure: no I/O, no DPDK, no `unsafe`.
//!
//! ```
//! use mirrorcap_index::{FlowIndex, IndexBuilder, Term};
//! // Ethernet / IPv4 / UDP 10.0.0.1:5353 -> 10.0.0.2:53, in block 3 of a file, VNI 42.
//! let mut frame = vec![0u8; 12];
//! frame.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0]);
//! frame.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2, 0x14, 0xe9, 0, 53, 0, 8, 0, 0]);
//! let mut b = IndexBuilder::new();
//! b.push(3, &frame, 42); // the metadata word: VNI 42, session id 0
//! let idx = FlowIndex::parse(&b.finish()).unwrap();
//! let dns = idx.blocks_with(Term::Port(53));
//! let q = dns.and(&idx.blocks_with(Term::Net("10.0.0.0".parse().unwrap(), 8)));
//! assert_eq!(q.iter().collect::<Vec<_>>(), vec![3]);
//! assert!(idx.blocks_with(Term::Vni(43)).is_empty());
//! ```

#![forbid(unsafe_code)]

mod blockset;
mod builder;
pub mod checksum;
mod format;
mod hash;
mod key;
mod narrow;
#[cfg(test)]
mod reference;
mod tcpdump;
mod term;
mod varint;

pub use blockset::BlockSet;
pub use builder::IndexBuilder;
pub use format::{FlowIndex, MAGIC, MAX_BLOCKS, VERSION};
/// The seeded hash the builder's maps use, for other maps keyed by packet fields (flow records).
pub use hash::SeededState;
pub use key::{FlowKey, MAX_PROTOS, MAX_TAGS};
pub use narrow::Narrow;
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
