//! [`RunConfig`]: everything `mirrorcap run` was asked for, typed and checked once, after the
//! command line and the file's `[run]` table have been merged (a flag given on the command line
//! wins; clap's value sources decide). Downstream code reads enums, sizes and durations, never
//! the strings the user typed.
#![forbid(unsafe_code)]
use super::sessions::SessionSet;
use mirrorcap_decap::DecapConfig;
use mirrorcap_ring::{Geometry, RingPolicy};
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
}

impl RunConfig {
    /// Checks what the parts cannot check alone: that a port was named, and the tunnel ports.
    pub fn validate(&self) -> Result<(), String> {
        self.geometry.validate()?;
        let eal_port = self.eal_args.iter().any(|a| {
            ["--vdev", "-a", "--allow"]
                .iter()
                .any(|f| a == f || a.starts_with(&format!("{f}=")))
        });
        if self.devices.is_empty() && self.vdevs.is_empty() && !eal_port {
            return Err("no port: pass --device PCI (the mirror target ENI bound to DPDK) or --vdev SPEC (e.g. net_pcap0,rx_pcap=FILE)".into());
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
