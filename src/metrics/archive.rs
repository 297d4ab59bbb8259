//! `mirrorcap_archive_*`: the uploader's numbers (`run --archive`), read from its atomics at
//! scrape time, and the store's count of files retention deleted before their upload.
#![forbid(unsafe_code)]
use super::{Metrics, PublishedStore};
use mirrorcap_archive::upload::KINDS;
use mirrorcap_archive::{Cause, Counters};
use std::sync::atomic::Ordering::Relaxed;

impl Metrics {
    /// Copies the uploader's counters; a worker's series appear once it has made a pass.
    pub fn update_archive(&self, c: &Counters, stores: &[PublishedStore]) {
        for cause in Cause::ALL {
            let n = c.failures[cause.index()].load(Relaxed);
            self.count("mirrorcap_archive_failures_total", &[cause.as_str()], n);
        }
        for (i, w) in c.workers.iter().enumerate() {
            if !w.polled.load(Relaxed) {
                continue;
            }
            let id = i.to_string();
            let id = id.as_str();
            for (k, kind) in KINDS.iter().enumerate() {
                let n = w.objects[k].load(Relaxed);
                self.count("mirrorcap_archive_objects_total", &[id, kind], n);
            }
            self.count(
                "mirrorcap_archive_files_total",
                &[id],
                w.files.load(Relaxed),
            );
            self.count(
                "mirrorcap_archive_bytes_total",
                &[id],
                w.bytes.load(Relaxed),
            );
            let pending = w.pending_files.load(Relaxed) as f64;
            self.set("mirrorcap_archive_pending_files", &[id], pending);
            let lag = w.lag_ns.load(Relaxed) as f64 / 1e9;
            self.set("mirrorcap_archive_lag_seconds", &[id], lag);
            let dropped = stores.get(i).map_or(0, |s| s.read().deleted_unarchived);
            self.count("mirrorcap_archive_dropped_files_total", &[id], dropped);
        }
    }
}
