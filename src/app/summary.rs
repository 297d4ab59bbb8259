//! What `run` prints when it stops: packets received and captured, drops by reason, NIC
//! misses and the RX-to-commit latency; and the final counters it returns.
#![forbid(unsafe_code)]
use crate::config::human_bytes;
use crate::pipeline::{Drop, Latency, WorkerStats};
use mirrorcap_dpdk::NicStats;

/// Final counters of a run.
#[derive(Debug, Default)]
pub struct RunSummary {
    pub workers: Vec<WorkerStats>,
    /// Every worker's latency histograms, merged.
    pub latency: Latency,
    pub nic: NicStats,
}

pub(super) fn print_summary(s: &RunSummary) {
    let rx: u64 = s.workers.iter().map(|w| w.rx_packets).sum();
    let cap: u64 = s.workers.iter().map(|w| w.captured_packets).sum();
    let capb: u64 = s.workers.iter().map(|w| w.captured_bytes).sum();
    let mut drops = String::new();
    for d in Drop::ALL {
        let n: u64 = s.workers.iter().map(|w| w.dropped(d)).sum();
        if n > 0 {
            drops.push_str(&format!(" {}={n}", d.label()));
        }
    }
    let truncated: u64 = s.workers.iter().map(|w| w.truncated).sum();
    let unencap: u64 = s.workers.iter().map(|w| w.unencapsulated).sum();
    eprintln!(
        "mirrorcap: stopped: received {rx} packets, captured {cap} ({}; {truncated} truncated by AWS, {unencap} unencapsulated), dropped:{}; NIC missed {} errors {} nombuf {}",
        human_bytes(capb),
        if drops.is_empty() { " none".to_string() } else { drops },
        s.nic.imissed,
        s.nic.ierrors,
        s.nic.rx_nombuf
    );
    if !s.latency.packet.is_empty() {
        eprintln!(
            "mirrorcap: latency RX to commit per packet: {}",
            s.latency.packet_summary()
        );
    }
}
