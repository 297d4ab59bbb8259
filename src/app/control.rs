//! The main lcore's loop while the workers run: metrics requests, the 1 Hz poll (NIC stats
//! and xstats, mempools, rings), health, the status line, SIGHUP reloads, and the stop and
//! idle checks. Ends by setting the stop flag the workers watch.
#![forbid(unsafe_code)]
use super::reload::Reloader;
use crate::control::Poller;
use crate::metrics::{HealthState, Metrics, MetricsServer, PublishedStore};
use crate::pipeline::{PublishedStats, VniTable};
use crate::status::StatusLine;
use mirrorcap_dpdk::NicStats;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What the main lcore's loop watches and serves.
pub(super) struct Control<'a, 'p> {
    pub(super) server: &'a MetricsServer,
    pub(super) metrics: &'a Metrics,
    pub(super) slots: &'a [PublishedStats],
    pub(super) vni_tables: &'a [VniTable],
    pub(super) port: &'a mirrorcap_dpdk::Port<'p>,
    pub(super) port_name: &'a str,
    pub(super) stop: &'a AtomicBool,
    pub(super) idle: Option<Duration>,
    pub(super) reloader: Reloader<'a, 'p>,
    pub(super) poller: Poller<'a>,
    pub(super) log_every: Duration,
    /// Each worker ring's control file as opened at start (device, inode).
    pub(super) ring_ids: Vec<Option<(u64, u64)>>,
    /// The store threads' numbers (`--store-dir`), read at scrape time: the loop never waits
    /// for a store thread.
    pub(super) stores: Option<&'a [PublishedStore]>,
    pub(super) archive: Option<&'a mirrorcap_archive::Counters>,
}

/// The (device, inode) of a worker ring's control file.
pub(super) fn ring_identity(worker_dir: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(mirrorcap_ring::layout::control_path(worker_dir))
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

/// A worker whose heartbeat has not moved for this long is reported unhealthy.
const STALL: Duration = Duration::from_secs(3);

impl Control<'_, '_> {
    /// The main lcore's loop: metrics requests, the 1 Hz poll (NIC stats and xstats,
    /// mempools, rings), the status line, stop and idle checks.
    pub(super) fn run(mut self) -> (NicStats, Option<String>) {
        let mut fatal = None;
        self.poll();
        let mut last_poll = Instant::now();
        let mut last_rx = u64::MAX;
        let mut last_change = Instant::now();
        let mut beats: Vec<(u64, Instant)> = vec![(0, Instant::now()); self.slots.len()];
        let mut status = StatusLine::new(self.log_every);
        while !self.stop.load(Ordering::Relaxed) {
            let health = || self.health(&beats);
            let mut render = || {
                let healthy = self.health(&beats).problems.is_empty();
                self.metrics.update(self.slots, self.vni_tables, healthy);
                let named = self.reloader.named_ids();
                self.metrics
                    .update_sessions(self.reloader.session_counts, &named);
                if let Some(s) = self.reloader.stamp_counts {
                    self.metrics.update_stamps(s, &named);
                }
                if let Some(s) = self.stores {
                    self.metrics.update_store(s);
                    if let Some(a) = self.archive {
                        self.metrics.update_archive(a, s);
                    }
                }
                self.metrics.update_listener(self.server.stats());
                self.metrics.render(self.slots)
            };
            self.server
                .serve_for(Duration::from_millis(50), &mut render, &health);
            if last_poll.elapsed() >= Duration::from_secs(1) {
                self.poll();
                last_poll = Instant::now();
                if let Some(gone) = self.ring_gone() {
                    fatal = Some(gone);
                    break;
                }
            }
            status.tick(self.slots, &self.poller.sample);
            if self.reloader.tick() == Some(false) {
                self.metrics.reload_failed();
            }
            for (s, b) in self.slots.iter().zip(beats.iter_mut()) {
                let now = s.heartbeat.load(Ordering::Relaxed);
                if now != b.0 {
                    *b = (now, Instant::now());
                }
            }
            if let Some(idle) = self.idle {
                let rx: u64 = self
                    .slots
                    .iter()
                    .map(|s| s.rx_packets.load(Ordering::Relaxed))
                    .sum();
                if rx != last_rx {
                    last_rx = rx;
                    last_change = Instant::now();
                } else if last_change.elapsed() >= idle {
                    status.finish();
                    eprintln!("mirrorcap: no packet for {idle:?}: stopping");
                    break;
                }
            }
        }
        status.finish();
        self.stop.store(true, Ordering::Relaxed);
        (self.port.stats().unwrap_or(self.poller.sample.nic), fatal)
    }

    /// A worker ring whose control file is no longer the one opened at start (the ring
    /// directory was removed, or removed and created again): the workers write into files
    /// nobody can read any more and whose space is only freed at exit, so the appliance stops
    /// and a restart creates a new ring.
    fn ring_gone(&self) -> Option<String> {
        let dir = &self.reloader.cfg.ring_dir;
        for (w, id) in self.ring_ids.iter().enumerate() {
            let wdir = mirrorcap_ring::layout::worker_dir(dir, w);
            if id.is_some() && ring_identity(&wdir) != *id {
                return Some(format!(
                    "the ring directory {} was removed while running (worker {w}'s files are gone): stopped; a restart creates a new ring",
                    wdir.display()
                ));
            }
        }
        None
    }

    /// The once-a-second poll, handed to the metrics.
    fn poll(&mut self) {
        self.poller.poll(self.slots);
        self.metrics
            .observe(self.port_name, &self.poller.sample, self.poller.xstats());
    }

    /// Healthy: link up, every worker polling (its heartbeat moved within [`STALL`]), every
    /// ring writable (as of the last poll), every store storing (its last poll succeeded).
    fn health(&self, beats: &[(u64, Instant)]) -> HealthState {
        let mut h = HealthState::default();
        if !self.poller.sample.link_up {
            h.problems
                .push(format!("port {} link down", self.port_name));
        }
        for (i, r) in self.poller.sample.rings.iter().enumerate() {
            if let Some(p) = &r.problem {
                h.problems.push(format!("ring of worker {i}: {p}"));
            }
        }
        // A failing store (disk full, read-only, removed): capture goes on into the ring, but
        // what the ring overwrites is lost for good, so a fleet should move traffic away.
        if let (Some(stores), Some(st)) = (self.stores, &self.reloader.cfg.store) {
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            for (w, p) in stores.iter().enumerate() {
                h.problems.extend(p.problem(w, &st.dir, now_ms));
            }
        }
        for (i, (s, b)) in self.slots.iter().zip(beats).enumerate() {
            if s.finished.load(Ordering::Acquire) {
                h.problems.push(format!("worker {i} stopped"));
            } else if b.1.elapsed() > STALL {
                h.problems
                    .push(format!("worker {i} stalled for {:?}", b.1.elapsed()));
            }
        }
        h
    }
}
