//! What each store thread publishes for the collector (`mirrorcap_store_*`): plain atomics the
//! thread stores after every poll and the scrape reads, so neither waits for the other (a
//! poll that is busy compressing a segment never delays a scrape).
#![forbid(unsafe_code)]
use mirrorcap_store::{errno_name, Fault, SpoolReport};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicU8, Ordering::Relaxed};

/// One worker's store numbers: totals since start, and the state after the last poll.
#[derive(Debug, Default)]
pub struct PublishedStore {
    pub segments: AtomicU64,
    pub packets: AtomicU64,
    pub bytes_captured: AtomicU64,
    pub bytes_disk: AtomicU64,
    /// Flow index sidecars (`NAME.fidx`) written.
    pub bytes_flow_index: AtomicU64,
    /// Flow records (`NAME.flows.parquet`) written.
    pub bytes_flow_records: AtomicU64,
    pub lag_segments: AtomicU64,
    pub lag_bytes: AtomicU64,
    /// Capture time the store is behind the ring's sealed segments, ns.
    pub lag_ns: AtomicU64,
    pub overrun_segments: AtomicU64,
    /// Packets of the overrun segments (`store_overrun`).
    pub overrun_packets: AtomicU64,
    pub deleted_files: AtomicU64,
    /// Of those, files deleted before the archive uploaded them.
    pub deleted_unarchived: AtomicU64,
    /// Newest minus oldest packet the store holds, ns (0 while empty).
    pub retention_ns: AtomicU64,
    pub errors: AtomicU64,
    /// Set by the first poll: before it the lag and retention are unknown.
    pub polled: AtomicBool,
    /// While the store's polls fail: the [`Fault`] (`as_u8`; 0 once a poll succeeds), its
    /// errno (0: none), whether it is the store directory itself (gone or unmounted) rather
    /// than the worker's, since when (Unix ms) and the overrun count when it began. `/healthz`
    /// fails while `fault` is set ([`PublishedStore::problem`]).
    pub fault: AtomicU8,
    pub fault_errno: AtomicI32,
    pub fault_store_dir: AtomicBool,
    pub fault_since_ms: AtomicU64,
    pub fault_overruns_before: AtomicU64,
}

/// A failing store as published: see [`PublishedStore::fault`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreFault {
    pub fault: Fault,
    pub errno: Option<i32>,
    pub store_dir: bool,
    pub since_ms: u64,
    pub overruns_before: u64,
}

/// A plain copy of [`PublishedStore`], as the collector and the stop summary use it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreCounts {
    pub segments: u64,
    pub packets: u64,
    pub bytes_captured: u64,
    pub bytes_disk: u64,
    pub bytes_flow_index: u64,
    pub bytes_flow_records: u64,
    pub lag_segments: u64,
    pub lag_bytes: u64,
    pub lag_ns: u64,
    pub overrun_segments: u64,
    pub overrun_packets: u64,
    pub deleted_files: u64,
    pub deleted_unarchived: u64,
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
        self.bytes_flow_index.store(t.bytes_flow_index, Relaxed);
        self.bytes_flow_records.store(t.bytes_flow_records, Relaxed);
        self.lag_segments.store(t.lag_segments, Relaxed);
        self.lag_bytes.store(t.lag_bytes, Relaxed);
        self.lag_ns.store(t.lag_ns, Relaxed);
        self.overrun_segments.store(t.overrun_segments, Relaxed);
        self.overrun_packets.store(t.overrun_packets, Relaxed);
        self.deleted_files.store(t.deleted_files, Relaxed);
        self.deleted_unarchived.store(t.deleted_unarchived, Relaxed);
        let span = match (t.oldest_stored_ns, t.newest_stored_ns) {
            (Some(o), Some(n)) => n.saturating_sub(o),
            _ => 0,
        };
        self.retention_ns.store(span, Relaxed);
        self.errors.store(errors, Relaxed);
        self.polled.store(true, Relaxed);
    }

    /// Publishes that the last poll failed (`Some`) or succeeded (`None`). The store thread
    /// keeps `since_ms` and `overruns_before` from the poll the fault began at.
    pub fn publish_fault(&self, f: Option<StoreFault>) {
        match f {
            Some(f) => {
                self.fault_errno.store(f.errno.unwrap_or(0), Relaxed);
                self.fault_store_dir.store(f.store_dir, Relaxed);
                self.fault_since_ms.store(f.since_ms, Relaxed);
                self.fault_overruns_before.store(f.overruns_before, Relaxed);
                self.fault.store(f.fault.as_u8(), Relaxed);
            }
            None => self.fault.store(0, Relaxed),
        }
    }

    /// The fault published last, if the store is failing.
    pub fn read_fault(&self) -> Option<StoreFault> {
        let fault = Fault::from_u8(self.fault.load(Relaxed))?;
        let errno = self.fault_errno.load(Relaxed);
        Some(StoreFault {
            fault,
            errno: (errno != 0).then_some(errno),
            store_dir: self.fault_store_dir.load(Relaxed),
            since_ms: self.fault_since_ms.load(Relaxed),
            overruns_before: self.fault_overruns_before.load(Relaxed),
        })
    }

    /// `/healthz`'s line for worker `w`'s store in `store_dir` while it fails, at `now_ms`
    /// (Unix ms): `store worker 0: disk full at /s/worker-00 (ENOSPC) since 12 s; 3 segments
    /// not stored`. Not stored: the sealed segments waiting (lag) and those the ring
    /// overwrote since the fault began.
    pub fn problem(&self, w: usize, store_dir: &Path, now_ms: u64) -> Option<String> {
        let f = self.read_fault()?;
        let c = self.read();
        let dir = if f.store_dir {
            store_dir.to_path_buf()
        } else {
            mirrorcap_ring::layout::worker_dir(store_dir, w)
        };
        let errno = f
            .errno
            .map_or(String::new(), |e| format!(" ({})", errno_name(e)));
        let lost = c.overrun_segments.saturating_sub(f.overruns_before);
        Some(format!(
            "store worker {w}: {} at {}{errno} since {} s; {} segments not stored{}",
            f.fault.what(),
            dir.display(),
            now_ms.saturating_sub(f.since_ms) / 1000,
            c.lag_segments + lost,
            if lost > 0 {
                format!(" ({lost} overwritten by the ring)")
            } else {
                String::new()
            }
        ))
    }

    pub fn read(&self) -> StoreCounts {
        StoreCounts {
            segments: self.segments.load(Relaxed),
            packets: self.packets.load(Relaxed),
            bytes_captured: self.bytes_captured.load(Relaxed),
            bytes_disk: self.bytes_disk.load(Relaxed),
            bytes_flow_index: self.bytes_flow_index.load(Relaxed),
            bytes_flow_records: self.bytes_flow_records.load(Relaxed),
            lag_segments: self.lag_segments.load(Relaxed),
            lag_bytes: self.lag_bytes.load(Relaxed),
            lag_ns: self.lag_ns.load(Relaxed),
            overrun_segments: self.overrun_segments.load(Relaxed),
            overrun_packets: self.overrun_packets.load(Relaxed),
            deleted_files: self.deleted_files.load(Relaxed),
            deleted_unarchived: self.deleted_unarchived.load(Relaxed),
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
            deleted_files: 1,
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

    #[test]
    fn a_fault_is_one_health_line_until_a_poll_succeeds() {
        let p = PublishedStore::default();
        let store = Path::new("/x");
        assert_eq!(p.problem(0, store, 0), None);
        let t = SpoolReport {
            lag_segments: 2,
            overrun_segments: 5,
            ..SpoolReport::default()
        };
        p.publish(&t, 7);
        p.publish_fault(Some(StoreFault {
            fault: Fault::DiskFull,
            errno: Some(libc::ENOSPC),
            store_dir: false,
            since_ms: 1_000,
            overruns_before: 4,
        }));
        assert_eq!(
            p.problem(0, store, 13_500).unwrap(),
            "store worker 0: disk full at /x/worker-00 (ENOSPC) since 12 s; 3 segments not stored (1 overwritten by the ring)"
        );
        p.publish_fault(Some(StoreFault {
            fault: Fault::Missing,
            errno: Some(libc::ENOENT),
            store_dir: true,
            since_ms: 1_000,
            overruns_before: 5,
        }));
        assert_eq!(
            p.problem(3, store, 3_000).unwrap(),
            "store worker 3: directory missing or not mounted at /x (ENOENT) since 2 s; 2 segments not stored"
        );
        p.publish_fault(None);
        assert_eq!(p.problem(0, store, 13_500), None);
    }
}
