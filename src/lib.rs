//! mirrorcap: the target appliance for AWS VPC Traffic Mirroring. A DPDK poll-mode driver
//! receives the mirrored VXLAN traffic, pinned workers decapsulate it and write the original
//! frames into memory-mapped pcap rings, and a control lcore serves Prometheus metrics.
//! See README.md for the map of modules. Without the `dpdk` feature only the pure parts are
//! built (the CLI, the configuration, the per-packet pipeline and the generator's bytes), for
//! the reading commands and for tests and benches of the pipeline without an EAL.

#[cfg(feature = "dpdk")]
pub mod app;
pub mod cli;
pub mod config;
#[cfg(feature = "dpdk")]
mod control;
pub mod gen;
#[cfg(feature = "dpdk")]
pub mod gentx;
#[cfg(feature = "dpdk")]
pub mod metrics;
pub mod pipeline;
#[cfg(feature = "dpdk")]
mod sizing;
#[cfg(feature = "dpdk")]
mod status;
