//! mirrorcap: the target appliance for AWS VPC Traffic Mirroring. A DPDK poll-mode driver
//! receives the mirrored VXLAN traffic, pinned workers decapsulate it and write the original
//! frames into memory-mapped pcap rings, and a control lcore serves Prometheus metrics.
//! See README.md for the map of modules.

pub mod app;
pub mod cli;
pub mod config;
pub mod control;
pub mod gen;
pub mod gentx;
pub mod metrics;
pub mod pipeline;
pub mod sizing;
pub mod status;
