//! Prometheus metrics: a registry built from the [`catalogue`], brought up to date from the
//! workers' stat slots at scrape time and from the control core's 1 Hz poll of the NIC,
//! mempools and rings ([`crate::control::Sample`]); latency histograms rendered from the
//! workers' published buckets; and the HTTP endpoint serving `/metrics` and `/healthz`
//! (hyper on its own thread, with its limits and counters).
mod admission;
mod archive;
pub mod catalogue;
mod histograms;
mod last_packet;
pub mod listener_stats;
pub mod nic;
mod routes;
mod server;
pub mod store;

pub use catalogue::{family, is_exported, Family, Kind, Presence, CATALOGUE};
pub use listener_stats::ListenerStats;
pub use server::{HealthState, Limits, MetricsServer, MAX_HEAD_BYTES};
pub use store::{PublishedStore, StoreCounts, StoreFault};

use crate::control::Sample;
use crate::pipeline::{
    session_stats, stamps, Drop, PublishedSessionCounts, PublishedStampCounts, PublishedStats,
    VniTable, WorkerStats, OVERFLOW_VNI,
};
use prometheus::{Encoder, GaugeVec, IntCounterVec, Opts, Registry, TextEncoder};
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
    counters: BTreeMap<&'static str, IntCounterVec>,
    gauges: BTreeMap<&'static str, GaugeVec>,
    /// `mirrorcap_stamp_latency_seconds`, rebuilt by [`Metrics::update_stamps`].
    stamp_latency: std::sync::Mutex<Option<prometheus::proto::MetricFamily>>,
    /// When each worker's received counter last moved, as the scrapes saw it.
    last_packet: last_packet::LastPacket,
}

/// Brings a counter to `value`; a smaller value (the source restarted, e.g. a port reset)
/// starts the series again, which Prometheus reads as a counter reset.
fn set_counter(c: &IntCounterVec, labels: &[&str], value: u64) {
    let m = c.with_label_values(labels);
    let cur = m.get();
    if value > cur {
        m.inc_by(value - cur);
    } else if value < cur {
        let _ = c.remove_label_values(labels);
        c.with_label_values(labels).inc_by(value);
    }
}

impl Metrics {
    pub fn new(build: &BuildInfo, start_time_s: f64) -> Self {
        let registry = Registry::new();
        let mut counters = BTreeMap::new();
        let mut gauges = BTreeMap::new();
        for f in CATALOGUE {
            let opts = Opts::new(f.name, f.help);
            match f.kind {
                Kind::Counter => {
                    let c = IntCounterVec::new(opts, f.labels).expect("valid metric definition");
                    registry
                        .register(Box::new(c.clone()))
                        .expect("unique metric name");
                    counters.insert(f.name, c);
                }
                Kind::Gauge => {
                    let g = GaugeVec::new(opts, f.labels).expect("valid metric definition");
                    registry
                        .register(Box::new(g.clone()))
                        .expect("unique metric name");
                    gauges.insert(f.name, g);
                }
                // Rendered from the workers' slots in `render`.
                Kind::Histogram => {}
            }
        }
        let m = Metrics {
            registry,
            counters,
            gauges,
            stamp_latency: std::sync::Mutex::new(None),
            last_packet: Default::default(),
        };
        m.gauge("mirrorcap_build_info")
            .with_label_values(&[build.version, &build.dpdk, &build.driver])
            .set(1.0);
        m.set("mirrorcap_start_time_seconds", &[], start_time_s);
        // Present (at 0) from the first scrape, so a rise is visible to rate() and alerts.
        m.count("mirrorcap_config_reload_failures_total", &[], 0);
        m
    }

    fn counter(&self, name: &str) -> &IntCounterVec {
        self.counters
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not a catalogue counter"))
    }

    fn gauge(&self, name: &str) -> &GaugeVec {
        self.gauges
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not a catalogue gauge"))
    }

    /// One more SIGHUP reload refused (the control core, when it happens).
    pub fn reload_failed(&self) {
        self.counter("mirrorcap_config_reload_failures_total")
            .with_label_values(&[])
            .inc();
    }

    fn count(&self, name: &str, labels: &[&str], value: u64) {
        set_counter(self.counter(name), labels, value);
    }

    fn set(&self, name: &str, labels: &[&str], value: f64) {
        self.gauge(name).with_label_values(labels).set(value);
    }

    /// Copies the workers' published counters into the registry (at scrape time).
    pub fn update(&self, slots: &[PublishedStats], vnis: &[VniTable], healthy: bool) {
        let mut running = 0;
        let now_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        for (i, slot) in slots.iter().enumerate() {
            let s: WorkerStats = slot.read();
            let w = i.to_string();
            let w = w.as_str();
            self.count("mirrorcap_rx_packets_total", &[w, w], s.rx_packets);
            if let Some(t) = self.last_packet.look(i, s.rx_packets, now_s) {
                self.set("mirrorcap_last_packet_timestamp_seconds", &[w], t);
            }
            self.count("mirrorcap_rx_bytes_total", &[w, w], s.rx_bytes);
            self.count("mirrorcap_captured_packets_total", &[w], s.captured_packets);
            self.count("mirrorcap_captured_bytes_total", &[w], s.captured_bytes);
            for d in Drop::ALL {
                self.count(
                    "mirrorcap_dropped_packets_total",
                    &[w, d.stage().as_str(), d.label()],
                    s.dropped(d),
                );
            }
            self.count("mirrorcap_truncated_packets_total", &[w], s.truncated);
            self.count(
                "mirrorcap_vxlan_reserved_nonzero_packets_total",
                &[w],
                s.vxlan_reserved_bits,
            );
            self.count(
                "mirrorcap_unencapsulated_captured_packets_total",
                &[w],
                s.unencapsulated,
            );
            self.count("mirrorcap_ring_written_bytes_total", &[w], s.ring.bytes);
            self.count(
                "mirrorcap_ring_segments_sealed_total",
                &[w],
                s.ring.segments_sealed,
            );
            self.count(
                "mirrorcap_ring_segments_overwritten_total",
                &[w],
                s.ring.segments_overwritten,
            );
            self.count(
                "mirrorcap_ring_segments_recovered_total",
                &[w],
                s.ring.segments_recovered,
            );
            self.count(
                "mirrorcap_ring_rotations_unprepared_total",
                &[w],
                s.ring.rotations_unprepared,
            );
            if !slot.finished.load(std::sync::atomic::Ordering::Acquire) {
                running += 1;
            }
        }
        self.set("mirrorcap_workers_running", &[], running as f64);
        self.set("mirrorcap_healthy", &[], if healthy { 1.0 } else { 0.0 });
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
            self.count("mirrorcap_vni_captured_packets_total", &[&label], p);
            self.count("mirrorcap_vni_captured_bytes_total", &[&label], b);
            self.count("mirrorcap_vni_truncated_packets_total", &[&label], t);
        }
    }

    /// Copies every worker's per-session counters (`named`: slot and session name).
    pub fn update_sessions(&self, slots: &[PublishedSessionCounts], named: &[(u8, String)]) {
        for (slot, name) in named {
            let sum = PublishedSessionCounts::sum(slots, *slot);
            if sum[session_stats::MATCHED] == 0 && sum[session_stats::CAPTURED] == 0 {
                continue;
            }
            self.count(
                "mirrorcap_session_matched_packets_total",
                &[name],
                sum[session_stats::MATCHED],
            );
            for (k, label) in session_stats::OUTCOMES {
                self.count("mirrorcap_session_packets_total", &[name, label], sum[k]);
            }
            self.count(
                "mirrorcap_session_captured_bytes_total",
                &[name],
                sum[session_stats::CAPTURED_BYTES],
            );
        }
    }

    /// Copies every worker's stamp counters and latency buckets (`run --stamps`), per session.
    pub fn update_stamps(&self, slots: &[PublishedStampCounts], named: &[(u8, String)]) {
        let mut series = Vec::new();
        for (slot, name) in named {
            let sum = PublishedStampCounts::sum(slots, *slot);
            if sum[stamps::STAMPED] == 0 {
                continue;
            }
            self.count(
                "mirrorcap_stamp_packets_total",
                &[name],
                sum[stamps::STAMPED],
            );
            self.count("mirrorcap_stamp_gaps_total", &[name], sum[stamps::GAPS]);
            self.count("mirrorcap_stamp_late_total", &[name], sum[stamps::LATE]);
            self.count("mirrorcap_stamp_skewed_total", &[name], sum[stamps::SKEWED]);
            let mut h = crate::pipeline::HistSnapshot {
                sum_ns: sum[stamps::SUM_NS],
                ..Default::default()
            };
            h.buckets.copy_from_slice(&sum[stamps::BUCKETS..]);
            series.push(histograms::metric("session", name, &h));
        }
        *self.stamp_latency.lock().unwrap_or_else(|e| e.into_inner()) = (!series.is_empty())
            .then(|| histograms::family_of("mirrorcap_stamp_latency_seconds", series));
    }

    /// Copies the store threads' published numbers (`run --store-dir`); a worker's series
    /// appear once its thread has polled.
    pub fn update_store(&self, stores: &[PublishedStore]) {
        for (i, p) in stores.iter().enumerate() {
            if !p.polled.load(std::sync::atomic::Ordering::Relaxed) {
                continue;
            }
            let c = p.read();
            let w = i.to_string();
            let w = w.as_str();
            self.count("mirrorcap_store_segments_total", &[w], c.segments);
            self.count("mirrorcap_store_packets_total", &[w], c.packets);
            self.count(
                "mirrorcap_store_bytes_total",
                &[w, "captured"],
                c.bytes_captured,
            );
            self.count("mirrorcap_store_bytes_total", &[w, "disk"], c.bytes_disk);
            self.count(
                "mirrorcap_store_bytes_total",
                &[w, "flow_index"],
                c.bytes_flow_index,
            );
            self.count(
                "mirrorcap_store_bytes_total",
                &[w, "flow_records"],
                c.bytes_flow_records,
            );
            self.set("mirrorcap_store_lag_segments", &[w], c.lag_segments as f64);
            self.set("mirrorcap_store_lag_bytes", &[w], c.lag_bytes as f64);
            self.set("mirrorcap_store_lag_seconds", &[w], c.lag_ns as f64 / 1e9);
            self.count(
                "mirrorcap_store_overrun_segments_total",
                &[w],
                c.overrun_segments,
            );
            for (reason, stage) in crate::pipeline::AFTER_CAPTURE {
                self.count(
                    "mirrorcap_dropped_packets_total",
                    &[w, stage.as_str(), reason],
                    c.overrun_packets,
                );
            }
            if let Some(r) = c.compression_ratio() {
                self.set("mirrorcap_store_compression_ratio", &[w], r);
            }
            self.count("mirrorcap_store_deleted_files_total", &[w], c.deleted_files);
            self.set(
                "mirrorcap_store_retention_seconds",
                &[w],
                c.retention_ns as f64 / 1e9,
            );
            self.count("mirrorcap_store_errors_total", &[w], c.errors);
        }
    }

    /// Takes the control core's once-a-second poll: NIC counters and xstats, link, mempools
    /// and the rings' retention and writability.
    /// The control loop's counts of device resets and link changes.
    pub fn port_events(&self, port: &str, resets: u64, link_changes: u64) {
        self.count("mirrorcap_port_resets_total", &[port], resets);
        self.count("mirrorcap_port_link_changes_total", &[port], link_changes);
    }

    pub fn observe<'x>(
        &self,
        port: &str,
        s: &Sample,
        xstats: impl Iterator<Item = (&'x str, u64)>,
    ) {
        self.count("mirrorcap_nic_rx_packets_total", &[port], s.nic.ipackets);
        self.count("mirrorcap_nic_rx_bytes_total", &[port], s.nic.ibytes);
        self.count(
            "mirrorcap_nic_rx_missed_packets_total",
            &[port],
            s.nic.imissed,
        );
        self.count("mirrorcap_nic_rx_errors_total", &[port], s.nic.ierrors);
        self.count("mirrorcap_nic_rx_nombuf_total", &[port], s.nic.rx_nombuf);
        for (name, value) in xstats {
            self.set("mirrorcap_nic_xstat", &[port, name], value as f64);
            if let Some(a) = nic::ena_allowance(name) {
                self.count("mirrorcap_ena_allowance_exceeded_total", &[port, a], value);
            }
        }
        self.set(
            "mirrorcap_port_link_up",
            &[port],
            if s.link_up { 1.0 } else { 0.0 },
        );
        for (w, p) in s.mempools.iter().enumerate() {
            let w = w.to_string();
            self.set("mirrorcap_mempool_mbufs_in_use", &[&w], p.in_use as f64);
            self.set("mirrorcap_mempool_mbufs_capacity", &[&w], p.capacity as f64);
        }
        for (w, r) in s.rings.iter().enumerate() {
            let w = w.to_string();
            self.set("mirrorcap_ring_capacity_bytes", &[&w], r.capacity as f64);
            self.set(
                "mirrorcap_ring_writable",
                &[&w],
                if r.problem.is_none() { 1.0 } else { 0.0 },
            );
            if let Some(t) = r.retained {
                self.set(
                    "mirrorcap_ring_oldest_timestamp_seconds",
                    &[&w],
                    t.oldest_ns as f64 / 1e9,
                );
                self.set(
                    "mirrorcap_ring_newest_timestamp_seconds",
                    &[&w],
                    t.newest_ns as f64 / 1e9,
                );
                self.set("mirrorcap_ring_retention_seconds", &[&w], t.span_s());
            }
        }
    }

    /// Copies the metrics listener's own counters (every code and reason from the start, at 0).
    pub fn update_listener(&self, l: &ListenerStats) {
        for (code, n) in l.requests() {
            self.count("mirrorcap_http_requests_total", &[&code.to_string()], n);
        }
        for (why, n) in l.rejections() {
            self.count(
                "mirrorcap_http_connections_rejected_total",
                &[why.label()],
                n,
            );
        }
        self.set("mirrorcap_http_connections_open", &[], l.open() as f64);
    }

    /// The registry and the workers' latency histograms in Prometheus text format.
    pub fn render(&self, slots: &[PublishedStats]) -> Vec<u8> {
        let mut families = self.registry.gather();
        families.extend(histograms::families(slots));
        if let Some(f) = &*self.stamp_latency.lock().unwrap_or_else(|e| e.into_inner()) {
            families.push(f.clone());
        }
        families.sort_by(|a, b| a.get_name().cmp(b.get_name()));
        let mut buf = Vec::with_capacity(16384);
        // Encoding into a Vec cannot fail for well-formed families.
        let _ = TextEncoder::new().encode(&families, &mut buf);
        buf
    }
}
