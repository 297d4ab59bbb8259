//! The commands' bodies, part of the `mirrorcap` binary (they report with anyhow, which only
//! the binary uses): the reading commands (`export`, `query`, `flows`, `tail`) and `gen -w`, none of which needs
//! DPDK.
pub mod export;
pub mod flows;
pub mod gen_file;
mod output;
pub mod query;
pub mod sources;
pub mod tail;
