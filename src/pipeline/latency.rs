//! How long the pipeline holds packets: for each burst, TSC ticks from the moment `rx_burst`
//! returned to the moment the burst's records were committed to the ring, recorded once per
//! burst (per-burst processing time) and once per packet of the burst (RX→commit latency per
//! packet: every packet of a burst waits for the whole burst). hdrhistograms allocated when the
//! worker starts; recording allocates nothing.
#![forbid(unsafe_code)]
use hdrhistogram::Histogram;

/// Largest value tracked exactly (larger ones are clamped): 10 s in ns.
const MAX_NS: u64 = 10_000_000_000;

/// One worker's latency histograms, in nanoseconds.
#[derive(Clone, Debug)]
pub struct Latency {
    /// Processing time of each burst.
    pub burst: Histogram<u64>,
    /// RX→commit time of each packet.
    pub packet: Histogram<u64>,
    /// Worker-side state of the live export (see `published_latency`): polls seen, bursts
    /// recorded at the last publication, and its TSC reading.
    pub(super) polls: u32,
    pub(super) published: u64,
    pub(super) last_publish_tsc: u64,
}

impl Default for Latency {
    fn default() -> Self {
        let h = || Histogram::new_with_bounds(1, MAX_NS, 3).expect("valid histogram bounds");
        Latency {
            burst: h(),
            packet: h(),
            polls: 0,
            published: 0,
            last_publish_tsc: 0,
        }
    }
}

impl Latency {
    /// Records a burst of `packets` that took `ns` from RX to commit.
    #[inline]
    pub fn record(&mut self, ns: u64, packets: u64) {
        let ns = ns.max(1);
        self.burst.saturating_record(ns);
        self.packet.saturating_record_n(ns, packets);
    }

    /// Adds another worker's histograms (for a process-wide summary).
    pub fn merge(&mut self, other: &Latency) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.burst.add(&other.burst);
        let _ = self.packet.add(&other.packet);
    }

    /// `p50 … p99 … p99.9 … max` of the per-packet latency, e.g. for the stop summary.
    pub fn packet_summary(&self) -> String {
        let h = &self.packet;
        format!(
            "p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns over {} packets",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max(),
            h.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_weigh_their_burst() {
        let mut l = Latency::default();
        l.record(1000, 32);
        l.record(100_000, 1);
        assert_eq!(l.burst.len(), 2);
        assert_eq!(l.packet.len(), 33);
        // 32 of 33 packets waited ~1 µs: the per-packet p50 and p90 are the short burst.
        assert!(l.packet.value_at_quantile(0.9) < 1100);
        assert!(l.burst.value_at_quantile(0.9) > 99_000);
        let mut m = Latency::default();
        m.record(u64::MAX, 1);
        m.merge(&l);
        assert_eq!(m.packet.len(), 34);
        assert!(m.packet.max() >= MAX_NS - MAX_NS / 1000);
    }
}
