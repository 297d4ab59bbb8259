//! [`RunConfig`]: everything `mirrorcap run` was asked for, typed and checked once, after the
//! command line and the file's `[run]` table have been merged (a flag given on the command line
//! wins; clap's value sources decide). Downstream code reads enums, sizes and durations, never
//! the strings the user typed.
#![forbid(unsafe_code)]
use super::sessions::SessionSet;
use mirrorcap_decap::DecapConfig;
use mirrorcap_ring::{Geometry, RingPolicy};
use mirrorcap_store::Compression;
use std::path::PathBuf;
use std::time::Duration;

/// The checked configuration of one `run`.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The TOML file the sessions came from (SIGHUP reloads it).
    pub config_file: Option<PathBuf>,
    pub devices: Vec<String>,
    pub vdevs: Vec<String>,
    /// Arguments after `--`, for the EAL.
    pub eal_args: Vec<String>,
    pub workers: usize,
    pub ring_dir: PathBuf,
    pub geometry: Geometry,
    pub ring_policy: RingPolicy,
    pub ring_group: Option<String>,
    /// Mbufs in each worker's pool; `None`: sized at start from the port (a `net_pcap`
    /// replay that loops keeps its whole file in the pool).
    pub mbufs: Option<u32>,
    pub metrics_addr: String,
    pub metrics_max_connections: usize,
    pub decap: DecapConfig,
    /// Capture frames that are not mirror traffic as they are (`not_mirror` only).
    pub keep_unencapsulated: bool,
    /// Loss and latency per session from gen's stamps.
    pub stamps: bool,
    pub exit_when_idle: Option<Duration>,
    /// How often the status line is logged off a terminal.
    pub log_interval: Duration,
    pub sessions: SessionSet,
    /// The disk store behind the ring (`--store-dir`), if any.
    pub store: Option<StoreConfig>,
    /// The S3 archive behind the store (`--archive`), if any.
    pub archive: Option<crate::cli::archive::ArchiveConfig>,
}

/// `--store-dir` and its options: where sealed ring segments go on disk (docs/store.md).
#[derive(Clone, Debug, PartialEq)]
pub struct StoreConfig {
    pub dir: PathBuf,
    /// Bytes for all workers together; `None`: no size limit (age and the disk only).
    pub size: Option<u64>,
    pub compression: Compression,
    pub max_age: Option<Duration>,
    /// Free space retention keeps on the store's file system (`None`: no floor).
    pub min_free: Option<mirrorcap_store::MinFree>,
    /// Write each store file's flow index sidecar (`NAME.fidx`).
    pub flow_index: bool,
    /// Write each store file's flow records (`NAME.flows.parquet`).
    pub flow_records: bool,
}

impl StoreConfig {
    /// Each worker's share of `--store-size`: every worker has its own store directory with
    /// its own retention, so the total is split evenly.
    pub fn per_worker(&self, workers: usize) -> Option<u64> {
        self.size.map(|s| s / workers.max(1) as u64)
    }
}

/// Whether the user's EAL arguments already hold one of `flags` (`--flag` or `--flag=…`).
pub fn eal_has(args: &[String], flags: &[&str]) -> bool {
    args.iter().any(|a| {
        flags
            .iter()
            .any(|f| a == f || a.starts_with(&format!("{f}=")))
    })
}

impl RunConfig {
    /// Checks what the parts cannot check alone: that a port was named, and the tunnel ports.
    pub fn validate(&self) -> Result<(), String> {
        self.geometry.validate()?;
        let eal_port = eal_has(&self.eal_args, &["--vdev", "-a", "--allow"]);
        if self.devices.is_empty() && self.vdevs.is_empty() && !eal_port {
            return Err("no port: pass --device PCI (the mirror target ENI bound to DPDK) or --vdev SPEC (e.g. net_pcap0,rx_pcap=FILE)".into());
        }
        if let Some(st) = &self.store {
            // Retention always keeps a worker's newest store file, which can hold a whole
            // segment: a smaller share could never be honoured.
            if let Some(share) = st.per_worker(self.workers) {
                let need = self.geometry.segment_size * self.workers as u64;
                if share < self.geometry.segment_size {
                    return Err(format!(
                        "--store-size {}: {} worker(s) need at least one ring segment ({}) each: give --store-size {} or more",
                        crate::config::human_bytes(st.size.unwrap_or(0)),
                        self.workers,
                        crate::config::human_bytes(self.geometry.segment_size),
                        crate::config::human_bytes(need)
                    ));
                }
            }
        }
        for p in self
            .decap
            .vxlan_ports
            .iter()
            .chain(&self.decap.geneve_ports)
        {
            if *p == 0 {
                return Err("--vxlan-port/--geneve-port 0: use a UDP port from 1 to 65535".into());
            }
        }
        if let Some(p) = self
            .decap
            .vxlan_ports
            .iter()
            .find(|p| self.decap.geneve_ports.contains(p))
        {
            return Err(format!(
                "port {p} is given as both --vxlan-port and --geneve-port"
            ));
        }
        Ok(())
    }
}
