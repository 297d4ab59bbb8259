//! Prometheus metrics: a registry of counters and gauges brought up to date from the
//! workers' stat slots and the NIC's counters at scrape time (on the control core), and the
//! HTTP endpoint serving `/metrics` and `/healthz`.
mod http;

pub use http::{HealthState, MetricsServer};

use crate::dpdk::NicStats;
use crate::pipeline::{
    drop_reason_label, session_stats, SessionSlots, StatSlot, VniTable, WorkerStats, DROP_REASONS,
    OVERFLOW_VNI,
};
use prometheus::{Encoder, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};
use std::collections::BTreeMap;

/// Static facts shown as `mirrorcap_build_info`.
#[derive(Clone, Debug)]
pub struct BuildInfo {
    pub version: &'static str,
    pub dpdk: String,
    pub driver: String,
}

/// The registry and the metric families mirrorcap exports.
pub struct Metrics {
    registry: Registry,
    rx_packets: IntCounterVec,
    rx_bytes: IntCounterVec,
    captured_packets: IntCounterVec,
    captured_bytes: IntCounterVec,
    dropped: IntCounterVec,
    ring_bytes: IntCounterVec,
    segments_sealed: IntCounterVec,
    segments_overwritten: IntCounterVec,
    segments_recovered: IntCounterVec,
    nic: IntCounterVec,
    truncated: IntCounterVec,
    vxlan_reserved_bits: IntCounterVec,
    unencapsulated: IntCounterVec,
    vni_packets: IntCounterVec,
    vni_bytes: IntCounterVec,
    vni_truncated: IntCounterVec,
    workers_running: IntGauge,
    session_matched: IntCounterVec,
    session_packets: IntCounterVec,
    session_bytes: IntCounterVec,
}

fn counter(reg: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric definition");
    reg.register(Box::new(c.clone()))
        .expect("unique metric name");
    c
}

/// Brings a counter up to `value` (counters only go up; a smaller value is ignored).
fn set_counter(c: &IntCounterVec, labels: &[&str], value: u64) {
    let m = c.with_label_values(labels);
    let cur = m.get();
    if value > cur {
        m.inc_by(value - cur);
    }
}

impl Metrics {
    pub fn new(build: &BuildInfo, start_time_s: f64) -> Self {
        let registry = Registry::new();
        let w = &["worker", "queue"];
        let m = Metrics {
            rx_packets: counter(&registry, "mirrorcap_rx_packets_total", "Packets received from the NIC by each worker.", w),
            rx_bytes: counter(&registry, "mirrorcap_rx_bytes_total", "Bytes received from the NIC by each worker (outer frames).", w),
            captured_packets: counter(&registry, "mirrorcap_captured_packets_total", "Mirrored frames written to the ring.", &["worker"]),
            captured_bytes: counter(&registry, "mirrorcap_captured_bytes_total", "Bytes of mirrored frames written to the ring (inner frames).", &["worker"]),
            dropped: counter(&registry, "mirrorcap_dropped_packets_total", "Packets not captured, by stage reason (see docs/drop-reasons.md).", &["worker", "reason"]),
            ring_bytes: counter(&registry, "mirrorcap_ring_written_bytes_total", "Bytes appended to ring segments, pcap record headers included.", &["worker"]),
            segments_sealed: counter(&registry, "mirrorcap_ring_segments_sealed_total", "Ring segments completed and trimmed to a standalone pcap.", &["worker"]),
            segments_overwritten: counter(&registry, "mirrorcap_ring_segments_overwritten_total", "Ring segments reused, dropping the oldest captured data.", &["worker"]),
            segments_recovered: counter(&registry, "mirrorcap_ring_segments_recovered_total", "Segments found live at start (after a crash) and trimmed to their committed records.", &["worker"]),
            nic: counter(&registry, "mirrorcap_nic_rx_total", "The NIC's own receive counters (rte_eth_stats): packets, missed (imissed), errors (ierrors), nombuf (rx_nombuf).", &["port", "counter"]),
            truncated: counter(&registry, "mirrorcap_truncated_packets_total", "Captured frames whose inner IP header claims more bytes than arrived (AWS truncated the mirrored copy: target MTU or the session's PacketLength).", &["worker"]),
            vxlan_reserved_bits: counter(&registry, "mirrorcap_vxlan_reserved_bits_packets_total", "Captured frames whose VXLAN header had reserved bits set (tolerated).", &["worker"]),
            unencapsulated: counter(&registry, "mirrorcap_unencapsulated_captured_packets_total", "Frames that were not mirror traffic, captured as they are (--keep-unencapsulated).", &["worker"]),
            vni_packets: counter(&registry, "mirrorcap_vni_captured_packets_total", "Captured frames per mirror session VNI (all workers; vni=\"other\" once 1024 VNIs per worker are in use).", &["vni"]),
            vni_bytes: counter(&registry, "mirrorcap_vni_captured_bytes_total", "Captured bytes per mirror session VNI (all workers).", &["vni"]),
            vni_truncated: counter(&registry, "mirrorcap_vni_truncated_packets_total", "Captured frames per VNI that AWS truncated (inner IP length beyond the bytes present).", &["vni"]),
            session_matched: counter(&registry, "mirrorcap_session_matched_packets_total", "Decapsulated packets each mirror session took (session=\"default\": VNIs no session names; only counted once sessions are configured).", &["session"]),
            session_packets: counter(&registry, "mirrorcap_session_packets_total", "What each session did with the packets it took: captured, filtered (its filter said no), sampled_out, duplicate, dropped (action drop); truncated counts captured frames AWS truncated.", &["session", "outcome"]),
            session_bytes: counter(&registry, "mirrorcap_session_captured_bytes_total", "Bytes each session wrote to the ring (inner frames, after its snaplen).", &["session"]),
            workers_running: {
                let g = IntGauge::new("mirrorcap_workers_running", "Worker lcores currently polling.").expect("valid metric");
                registry.register(Box::new(g.clone())).expect("unique metric name");
                g
            },
            registry,
        };
        let info = IntGaugeVec::new(
            Opts::new("mirrorcap_build_info", "Build and runtime facts; always 1."),
            &["version", "dpdk", "driver"],
        )
        .expect("valid metric");
        info.with_label_values(&[build.version, &build.dpdk, &build.driver])
            .set(1);
        m.registry
            .register(Box::new(info))
            .expect("unique metric name");
        let start = prometheus::Gauge::new(
            "mirrorcap_start_time_seconds",
            "When the appliance started, Unix seconds.",
        )
        .expect("valid metric");
        start.set(start_time_s);
        m.registry
            .register(Box::new(start))
            .expect("unique metric name");
        m
    }

    /// Copies the workers' published counters and the latest NIC counters into the registry.
    pub fn update(&self, slots: &[StatSlot], vnis: &[VniTable], port: &str, nic: &NicStats) {
        let mut running = 0;
        for (i, slot) in slots.iter().enumerate() {
            let s: WorkerStats = slot.read();
            let w = i.to_string();
            let l = [w.as_str(), w.as_str()];
            set_counter(&self.rx_packets, &l, s.rx_packets);
            set_counter(&self.rx_bytes, &l, s.rx_bytes);
            set_counter(&self.captured_packets, &[&w], s.captured_packets);
            set_counter(&self.captured_bytes, &[&w], s.captured_bytes);
            for r in 0..DROP_REASONS {
                set_counter(&self.dropped, &[&w, drop_reason_label(r)], s.drops[r]);
            }
            set_counter(&self.truncated, &[&w], s.truncated);
            set_counter(&self.vxlan_reserved_bits, &[&w], s.vxlan_reserved_bits);
            set_counter(&self.unencapsulated, &[&w], s.unencapsulated);
            set_counter(&self.ring_bytes, &[&w], s.ring.bytes);
            set_counter(&self.segments_sealed, &[&w], s.ring.segments_sealed);
            set_counter(
                &self.segments_overwritten,
                &[&w],
                s.ring.segments_overwritten,
            );
            set_counter(&self.segments_recovered, &[&w], s.ring.segments_recovered);
            if !slot.finished.load(std::sync::atomic::Ordering::Acquire) {
                running += 1;
            }
        }
        self.workers_running.set(running);
        let mut per_vni: BTreeMap<u32, (u64, u64, u64)> = BTreeMap::new();
        for t in vnis {
            for c in t.snapshot() {
                let e = per_vni.entry(c.vni).or_default();
                e.0 += c.packets;
                e.1 += c.bytes;
                e.2 += c.truncated;
            }
        }
        for (vni, (p, b, t)) in per_vni {
            let label = if vni == OVERFLOW_VNI {
                "other".to_string()
            } else {
                vni.to_string()
            };
            set_counter(&self.vni_packets, &[&label], p);
            set_counter(&self.vni_bytes, &[&label], b);
            set_counter(&self.vni_truncated, &[&label], t);
        }
        set_counter(&self.nic, &[port, "packets"], nic.ipackets);
        set_counter(&self.nic, &[port, "missed"], nic.imissed);
        set_counter(&self.nic, &[port, "errors"], nic.ierrors);
        set_counter(&self.nic, &[port, "nombuf"], nic.rx_nombuf);
    }

    /// Copies every worker's per-session counters (`named`: slot and session name).
    pub fn update_sessions(&self, slots: &[SessionSlots], named: &[(u8, String)]) {
        for (slot, name) in named {
            let mut sum = [0u64; session_stats::COUNTERS];
            for w in slots {
                for (s, v) in sum.iter_mut().zip(w.read(*slot)) {
                    *s += v;
                }
            }
            if sum[session_stats::MATCHED] == 0 && sum[session_stats::CAPTURED] == 0 {
                continue;
            }
            set_counter(&self.session_matched, &[name], sum[session_stats::MATCHED]);
            for (k, label) in session_stats::OUTCOMES {
                set_counter(&self.session_packets, &[name, label], sum[k]);
            }
            set_counter(
                &self.session_bytes,
                &[name],
                sum[session_stats::CAPTURED_BYTES],
            );
        }
    }

    /// The registry in Prometheus text format.
    pub fn render(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(8192);
        let enc = TextEncoder::new();
        // Encoding into a Vec cannot fail for well-formed families.
        let _ = enc.encode(&self.registry.gather(), &mut buf);
        buf
    }
}
