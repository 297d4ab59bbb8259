//! What each store thread publishes for the collector (`mirrorcap_store_*`): plain atomics the
//! thread stores after every poll and the scrape reads, so neither waits for the other (a
//! poll that is busy compressing a segment never delays a scrape).
#![forbid(unsafe_code)]
use mirrorcap_store::SpoolReport;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// One worker's store numbers: totals since start, and the state after the last poll.
#[derive(Debug, Default)]
pub struct PublishedStore {
    pub segments: AtomicU64,
    pub packets: AtomicU64,
    pub bytes_captured: AtomicU64,
    pub bytes_disk: AtomicU64,
    pub lag_segments: AtomicU64,
    pub lag_bytes: AtomicU64,
    /// Capture time the store is behind the ring's sealed segments, ns.
    pub lag_ns: AtomicU64,
    pub overrun_segments: AtomicU64,
    /// Packets of the overrun segments (`store_overrun`).
    pub overrun_packets: AtomicU64,
    pub deleted_files: AtomicU64,
    /// Newest minus oldest packet the store holds, ns (0 while empty).
    pub retention_ns: AtomicU64,
    pub errors: AtomicU64,
    /// Set by the first poll: before it the lag and retention are unknown.
    pub polled: AtomicBool,
}

/// A plain copy of [`PublishedStore`], as the collector and the stop summary use it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreCounts {
    pub segments: u64,
    pub packets: u64,
    pub bytes_captured: u64,
    pub bytes_disk: u64,
    pub lag_segments: u64,
    pub lag_bytes: u64,
    pub lag_ns: u64,
    pub overrun_segments: u64,
    pub overrun_packets: u64,
    pub deleted_files: u64,
    pub retention_ns: u64,
    pub errors: u64,
}

impl StoreCounts {
    /// Captured bytes per byte on disk (data and index files); `None` before any file.
    pub fn compression_ratio(&self) -> Option<f64> {
        (self.bytes_disk > 0).then(|| self.bytes_captured as f64 / self.bytes_disk as f64)
    }
}

impl PublishedStore {
    /// Publishes the spooler's totals (`t`: every poll so far) and the error count.
    pub fn publish(&self, t: &SpoolReport, errors: u64) {
        self.segments.store(t.segments_stored, Relaxed);
        self.packets.store(t.records_stored, Relaxed);
        self.bytes_captured.store(t.bytes_captured, Relaxed);
        // Data and index: what the store costs on disk.
        self.bytes_disk.store(t.bytes_data + t.bytes_index, Relaxed);
        self.lag_segments.store(t.lag_segments, Relaxed);
        self.lag_bytes.store(t.lag_bytes, Relaxed);
        self.lag_ns.store(t.lag_ns, Relaxed);
        self.overrun_segments.store(t.overrun_segments, Relaxed);
        self.overrun_packets.store(t.overrun_packets, Relaxed);
        self.deleted_files.store(t.deleted.len() as u64, Relaxed);
        let span = match (t.oldest_stored_ns, t.newest_stored_ns) {
            (Some(o), Some(n)) => n.saturating_sub(o),
            _ => 0,
        };
        self.retention_ns.store(span, Relaxed);
        self.errors.store(errors, Relaxed);
        self.polled.store(true, Relaxed);
    }

    pub fn read(&self) -> StoreCounts {
        StoreCounts {
            segments: self.segments.load(Relaxed),
            packets: self.packets.load(Relaxed),
            bytes_captured: self.bytes_captured.load(Relaxed),
            bytes_disk: self.bytes_disk.load(Relaxed),
            lag_segments: self.lag_segments.load(Relaxed),
            lag_bytes: self.lag_bytes.load(Relaxed),
            lag_ns: self.lag_ns.load(Relaxed),
            overrun_segments: self.overrun_segments.load(Relaxed),
            overrun_packets: self.overrun_packets.load(Relaxed),
            deleted_files: self.deleted_files.load(Relaxed),
            retention_ns: self.retention_ns.load(Relaxed),
            errors: self.errors.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_totals_disk_bytes_and_the_span() {
        let p = PublishedStore::default();
        let t = SpoolReport {
            segments_stored: 3,
            records_stored: 30,
            bytes_captured: 3000,
            bytes_data: 1000,
            bytes_index: 24,
            lag_segments: 1,
            lag_bytes: 500,
            lag_ns: 1_500_000_000,
            overrun_segments: 2,
            overrun_packets: 20,
            deleted: vec!["a".into()],
            oldest_stored_ns: Some(1_000_000_000),
            newest_stored_ns: Some(3_500_000_000),
            ..SpoolReport::default()
        };
        p.publish(&t, 4);
        let c = p.read();
        assert_eq!(
            (c.segments, c.packets, c.bytes_captured, c.bytes_disk),
            (3, 30, 3000, 1024)
        );
        assert_eq!(
            (c.lag_segments, c.lag_bytes, c.lag_ns),
            (1, 500, 1_500_000_000)
        );
        assert_eq!((c.overrun_segments, c.overrun_packets), (2, 20));
        assert_eq!(
            (c.deleted_files, c.retention_ns, c.errors),
            (1, 2_500_000_000, 4)
        );
        assert!(p.polled.load(Relaxed));
    }
}
