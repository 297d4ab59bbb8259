//! A worker's counters: plain integers it owns ([`WorkerStats`]) and the cache-line-aligned
//! copy it publishes for the collector ([`PublishedStats`]); drops are counted per [`Drop`].
use super::verdict::Drop;
use super::PublishedLatency;
use mirrorcap_ring::RingStats;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A worker's counters: owned and incremented by the worker alone.
#[derive(Clone, Copy, Debug, Default)]
pub struct WorkerStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub captured_packets: u64,
    pub captured_bytes: u64,
    pub drops: [u64; Drop::COUNT],
    /// Captured frames whose inner IP header claims more bytes than arrived (AWS truncation).
    pub truncated: u64,
    /// Captured frames whose VXLAN header had reserved bits set (tolerated).
    pub vxlan_reserved_bits: u64,
    /// Frames captured as they are because they were not mirror traffic and
    /// `--keep-unencapsulated` asked for them.
    pub unencapsulated: u64,
    pub bursts: u64,
    pub ring: RingStats,
}

impl WorkerStats {
    /// Counts one packet dropped for `d`.
    #[inline(always)]
    pub fn drop(&mut self, d: Drop) {
        self.drops[d.index()] += 1;
    }

    /// How many packets were dropped for `d`.
    pub fn dropped(&self, d: Drop) -> u64 {
        self.drops[d.index()]
    }
}

/// The published copy of one worker's counters: written by that worker only (Relaxed
/// stores), read by the collector. Aligned so no two workers share a cache line.
#[repr(C, align(128))]
#[derive(Default)]
pub struct PublishedStats {
    pub rx_packets: AtomicU64,
    pub rx_bytes: AtomicU64,
    pub captured_packets: AtomicU64,
    pub captured_bytes: AtomicU64,
    pub drops: [AtomicU64; Drop::COUNT],
    pub truncated: AtomicU64,
    pub vxlan_reserved_bits: AtomicU64,
    pub unencapsulated: AtomicU64,
    pub ring_bytes: AtomicU64,
    pub segments_sealed: AtomicU64,
    pub segments_overwritten: AtomicU64,
    pub segments_recovered: AtomicU64,
    pub rotations_unprepared: AtomicU64,
    /// Advances on every publication, so the control core can tell the worker is alive.
    pub heartbeat: AtomicU64,
    /// Set when the worker has returned.
    pub finished: AtomicBool,
    /// The worker's latency histograms, published a few times a second.
    pub latency: PublishedLatency,
}

impl PublishedStats {
    pub fn publish(&self, s: &WorkerStats) {
        let r = Ordering::Relaxed;
        self.rx_packets.store(s.rx_packets, r);
        self.rx_bytes.store(s.rx_bytes, r);
        self.captured_packets.store(s.captured_packets, r);
        self.captured_bytes.store(s.captured_bytes, r);
        for (d, v) in self.drops.iter().zip(s.drops.iter()) {
            d.store(*v, r);
        }
        self.truncated.store(s.truncated, r);
        self.vxlan_reserved_bits.store(s.vxlan_reserved_bits, r);
        self.unencapsulated.store(s.unencapsulated, r);
        self.ring_bytes.store(s.ring.bytes, r);
        self.segments_sealed.store(s.ring.segments_sealed, r);
        self.segments_overwritten
            .store(s.ring.segments_overwritten, r);
        self.segments_recovered.store(s.ring.segments_recovered, r);
        self.rotations_unprepared
            .store(s.ring.rotations_unprepared, r);
        self.heartbeat
            .store(self.heartbeat.load(r).wrapping_add(1), r);
    }

    /// A copy for the collector.
    pub fn read(&self) -> WorkerStats {
        let r = Ordering::Relaxed;
        let mut drops = [0u64; Drop::COUNT];
        for (d, a) in drops.iter_mut().zip(self.drops.iter()) {
            *d = a.load(r);
        }
        WorkerStats {
            rx_packets: self.rx_packets.load(r),
            rx_bytes: self.rx_bytes.load(r),
            captured_packets: self.captured_packets.load(r),
            captured_bytes: self.captured_bytes.load(r),
            drops,
            truncated: self.truncated.load(r),
            vxlan_reserved_bits: self.vxlan_reserved_bits.load(r),
            unencapsulated: self.unencapsulated.load(r),
            bursts: 0,
            ring: RingStats {
                bytes: self.ring_bytes.load(r),
                segments_sealed: self.segments_sealed.load(r),
                segments_overwritten: self.segments_overwritten.load(r),
                segments_recovered: self.segments_recovered.load(r),
                rotations_unprepared: self.rotations_unprepared.load(r),
                ..RingStats::default()
            },
        }
    }
}

#[cfg(test)]
mod layout_tests {
    use super::super::vni_table::{VniEntry, VniTable};
    use super::*;
    use std::mem::{align_of, size_of};

    /// Share-nothing: every structure a worker writes and another core reads starts on its own
    /// 128-byte pair of cache lines (adjacent-line prefetch pairs lines) or 64-byte line, and
    /// fills whole lines, so two workers' writes never land on one line.
    #[test]
    fn per_worker_shared_structures_never_share_a_cache_line() {
        assert_eq!(align_of::<PublishedStats>(), 128);
        assert_eq!(size_of::<PublishedStats>() % 128, 0);
        let slots: Vec<PublishedStats> = (0..3).map(|_| PublishedStats::default()).collect();
        for w in slots.windows(2) {
            let (a, b) = (&w[0] as *const _ as usize, &w[1] as *const _ as usize);
            assert!(b - a >= 128 && a % 128 == 0);
        }
        assert_eq!(align_of::<VniEntry>(), 64);
        assert_eq!(size_of::<VniEntry>() % 64, 0);
        // Each worker's VNI table is its own allocation of whole aligned slots.
        let (t0, t1) = (VniTable::new(), VniTable::new());
        let (r0, r1) = (t0.entry_range(), t1.entry_range());
        assert!(r0.end <= r1.start || r1.end <= r0.start);
        assert_eq!(r0.start % 64, 0);
    }
}
