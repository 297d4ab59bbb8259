//! The live copy of a worker's latency histograms: fixed Prometheus bucket boundaries (1-2-5
//! steps from 100 ns to 1 s) whose counts the worker copies out of its hdrhistograms into
//! a cache-line-aligned array of atomics it alone writes, at most a few times a second and
//! only when something new was recorded ([`Latency::publish_when_due`]). The control core
//! reads them at scrape time and renders Prometheus histograms.
#![forbid(unsafe_code)]
use super::Latency;
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (`le`) of the exported buckets, in nanoseconds; a last bucket takes the rest
/// (`le="+Inf"`).
pub const LATENCY_BOUNDS_NS: [u64; 22] = [
    100,
    200,
    500,
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    200_000,
    500_000,
    1_000_000,
    2_000_000,
    5_000_000,
    10_000_000,
    20_000_000,
    50_000_000,
    100_000_000,
    200_000_000,
    500_000_000,
    1_000_000_000,
];
/// Buckets per histogram: one per bound plus `+Inf`.
pub const LATENCY_BUCKETS: usize = LATENCY_BOUNDS_NS.len() + 1;

/// Polls between two looks at the clock in [`Latency::publish_when_due`].
const CHECK_EVERY: u32 = 256;

/// One exported histogram: per-bucket (not cumulative) counts and the sum of the values.
/// Each count only grows, so a reader that catches the worker mid-copy still sees monotonic
/// cumulative buckets.
#[repr(C, align(128))]
#[derive(Default)]
pub struct PublishedHistogram {
    buckets: [AtomicU64; LATENCY_BUCKETS],
    sum_ns: AtomicU64,
}

/// What the collector reads of one histogram.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HistSnapshot {
    /// Per-bucket counts, the last one above every bound.
    pub buckets: [u64; LATENCY_BUCKETS],
    pub sum_ns: u64,
}

impl HistSnapshot {
    /// Values recorded in all.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

/// Counts of `h` per exported bucket. Each hdrhistogram slot (0.1 % wide) goes to the bucket
/// of its highest equivalent value; the sum uses each slot's middle value.
pub fn bucketize(h: &Histogram<u64>) -> HistSnapshot {
    let mut s = HistSnapshot::default();
    let mut i = 0;
    for v in h.iter_recorded() {
        let top = v.value_iterated_to();
        while i < LATENCY_BOUNDS_NS.len() && top > LATENCY_BOUNDS_NS[i] {
            i += 1;
        }
        let c = v.count_at_value();
        s.buckets[i] += c;
        s.sum_ns = s
            .sum_ns
            .saturating_add(c.saturating_mul(h.median_equivalent(top)));
    }
    s
}

impl PublishedHistogram {
    fn store(&self, s: &HistSnapshot) {
        for (a, v) in self.buckets.iter().zip(s.buckets.iter()) {
            a.store(*v, Ordering::Relaxed);
        }
        self.sum_ns.store(s.sum_ns, Ordering::Relaxed);
    }

    /// A copy for the collector.
    pub fn read(&self) -> HistSnapshot {
        let mut s = HistSnapshot::default();
        for (v, a) in s.buckets.iter_mut().zip(self.buckets.iter()) {
            *v = a.load(Ordering::Relaxed);
        }
        s.sum_ns = self.sum_ns.load(Ordering::Relaxed);
        s
    }
}

/// A worker's exported latency histograms, part of its [`super::PublishedStats`].
#[repr(C, align(128))]
#[derive(Default)]
pub struct PublishedLatency {
    /// RX→commit time of each packet.
    pub packet: PublishedHistogram,
    /// Processing time of each burst.
    pub burst: PublishedHistogram,
    /// TSC ticks between two publications, set by the control core before the worker starts
    /// (0 publishes at every check).
    pub interval_ticks: AtomicU64,
}

impl Latency {
    /// Called by the worker once per poll: every [`CHECK_EVERY`] polls it looks at the TSC
    /// and, when `slot.interval_ticks` have passed and something new was recorded, copies its
    /// histograms into `slot` (a walk of the recorded hdrhistogram slots; no allocation).
    /// `tsc` reads the clock that `slot.interval_ticks` counts in (the TSC on a worker).
    #[inline(always)]
    pub fn publish_when_due(&mut self, slot: &PublishedLatency, tsc: fn() -> u64) {
        self.polls = self.polls.wrapping_add(1);
        if self.polls.is_multiple_of(CHECK_EVERY) {
            self.publish_if_new(slot, tsc);
        }
    }

    #[inline(never)]
    fn publish_if_new(&mut self, slot: &PublishedLatency, tsc: fn() -> u64) {
        if self.burst.len() == self.published {
            return;
        }
        let now = tsc();
        if now.wrapping_sub(self.last_publish_tsc) < slot.interval_ticks.load(Ordering::Relaxed) {
            return;
        }
        self.publish(slot);
        self.last_publish_tsc = now;
    }

    /// Copies both histograms into `slot` now.
    pub fn publish(&mut self, slot: &PublishedLatency) {
        slot.packet.store(&bucketize(&self.packet));
        slot.burst.store(&bucketize(&self.burst));
        self.published = self.burst.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_prometheus_le_semantics() {
        let mut l = Latency::default();
        l.record(100, 3); // exactly on a bound: le="1e-07"
        l.record(101, 1); // just above: le="2e-07"
        l.record(4_000, 2); // le="5e-06"
        l.record(5_000_000_000, 1); // beyond 1 s: +Inf
        let slot = PublishedLatency::default();
        l.publish(&slot);
        let p = slot.packet.read();
        assert_eq!(p.buckets[0], 3);
        assert_eq!(p.buckets[1], 1);
        assert_eq!(p.buckets[5], 2);
        assert_eq!(p.buckets[LATENCY_BUCKETS - 1], 1);
        assert_eq!(p.count(), 7);
        let want = 300 + 101 + 8_000 + 5_000_000_000u64;
        assert!(
            p.sum_ns.abs_diff(want) < want / 1000,
            "{} vs {want}",
            p.sum_ns
        );
        let b = slot.burst.read();
        assert_eq!(b.count(), 4);
    }

    /// A clock that moves a millisecond's worth of ticks per reading.
    fn test_clock() -> u64 {
        static NOW: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        NOW.fetch_add(1_000_000, Ordering::Relaxed)
    }

    #[test]
    fn publishes_only_when_new_values_arrived() {
        let slot = PublishedLatency::default();
        let mut l = Latency::default();
        for _ in 0..CHECK_EVERY {
            l.publish_when_due(&slot, test_clock);
        }
        assert_eq!(slot.packet.read().count(), 0);
        l.record(1_000, 32);
        for _ in 0..CHECK_EVERY {
            l.publish_when_due(&slot, test_clock);
        }
        assert_eq!(slot.packet.read().count(), 32);
        // A long interval holds the next publication back.
        slot.interval_ticks.store(u64::MAX, Ordering::Relaxed);
        l.record(1_000, 32);
        for _ in 0..CHECK_EVERY {
            l.publish_when_due(&slot, test_clock);
        }
        assert_eq!(slot.packet.read().count(), 32);
    }
}
