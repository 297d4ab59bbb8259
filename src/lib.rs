//! mirrorcap: the target appliance for AWS VPC Traffic Mirroring. A DPDK poll-mode driver
//! receives the mirrored VXLAN traffic, pinned workers decapsulate it and write the original
//! frames into memory-mapped pcap rings, and a control lcore serves Prometheus metrics.
//! See README.md for the map of modules. Without the `dpdk` feature only the pure parts are
//! built (the CLI, the configuration and the generator's bytes), for the reading commands.

#[cfg(feature = "dpdk")]
pub mod app;
pub mod cli;
pub mod config;
#[cfg(feature = "dpdk")]
pub mod control;
pub mod gen;
#[cfg(feature = "dpdk")]
pub mod gentx;
#[cfg(feature = "dpdk")]
pub mod metrics;
#[cfg(feature = "dpdk")]
pub mod pipeline;
pub mod sizing;
#[cfg(feature = "dpdk")]
pub mod status;
