//! Conformance of the real binary with an independent oracle, on every file of the shared
//! third-party corpus (`../shared/testdata/pcaps/`, pcap and pcapng).
//!
//! Per file (one `#[test]` each): `mirrorcap run` replays the file on a `net_pcap` vdev (libpcap's
//! `pcap_open_offline`, which reads pcapng too), /metrics is scraped while it runs, and
//! `mirrorcap export` writes what it captured. The oracle is tshark's dissection of the input
//! (`-T pdml`: every layer with its byte position, size and fields) walked with the rules of
//! DESIGN.md §1 and `crates/decap`, written down again in `oracle.rs` from tshark's field values, never from
//! mirrorcap's parsers. Per input packet it decides: captured (which bytes, tunnel, VNI, depth,
//! truncation, reserved VXLAN bits) or dropped (which reason). Then it asserts:
//! - per packet, `mirrorcap_decap::decap` (the library) returns exactly the oracle's decision:
//!   the frame's range and every `TunnelMeta` field, or the drop reason;
//! - per run, the metrics: received packets and bytes, captured packets and bytes, every drop
//!   reason's count, truncated frames, reserved-bit frames, frames and truncated frames per VNI;
//! - per captured packet, in order, the exported record: its bytes (the input's bytes at the
//!   oracle's offset, behind the synthetic Ethernet header for a bare IP payload), its orig_len
//!   (plus what the inner IP header, or for a frame cut after its outer headers the innermost
//!   UDP length, claims beyond the bytes present), and tshark's dissection of
//!   it (Ethernet addresses and type, first IP addresses) against tshark's dissection of the
//!   input's mirrored frame;
//! - hand-checked expectations per file, read off tshark's output and MANIFEST.md by a person.
//!
//! Four more rows feed captures written by `mirrorcap gen` at test time, for what the corpus
//! lacks (AWS truncation, GWLB nesting with AWS options, outer QinQ plus an inner VLAN, a capture
//! taken with a snaplen, the depth limit); tshark is their oracle all the same.
//!
//! Where tshark and mirrorcap differ by design, the oracle follows the design and says so where
//! the rule is encoded (look for "Design:"). Every mismatch is collected and reported together.
//!
//! The tests are split by role: `conformance_corpus.rs` (one test per corpus file, and the
//! check that every file has one), `conformance_generated.rs` (the generated captures) and
//! `conformance_table.rs` (docs/conformance.md's table:
//! `cargo nextest run --test conformance_table --run-ignored ignored-only --no-capture`).
//! This module is the machinery they share: `rows` (the table), `run` (one row end to end),
//! `compare` (library and export against the oracle), `decision`, `oracle` and `tunnel` (the rules),
//! `pdml` (tshark's dissection).
// Each of the three test binaries uses a part: the table test alone reads the rows' notes.
#![allow(dead_code)]
pub mod compare;
pub mod decision;
pub mod oracle;
pub mod pdml;
pub mod rows;
pub mod run;
pub mod tunnel;

pub use compare::*;
pub use decision::*;
pub use pdml::*;
pub use rows::*;
pub use run::*;
