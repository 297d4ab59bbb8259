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
    /// Reset requests the driver raised.
    pub(super) events: &'a mirrorcap_dpdk::PortEvents,
    pub(super) pause: &'a super::pause::PortPause,
    /// Test hook (`MIRRORCAP_FAULT=port-reset:S`): a reset request this long after start.
    pub(super) inject_reset_after: Option<Duration>,
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

/// A worker whose heartbeat has not moved for this long is reported unhealthy (a polling
/// worker publishes every few milliseconds, busy or idle), so a load balancer's health check
/// sees a wedged worker within two seconds.
const STALL: Duration = Duration::from_secs(1);

/// How often the control loop tells systemd's watchdog that every worker polls.
const WATCHDOG_EVERY: Duration = Duration::from_secs(1);

/// How long a device reset waits for every worker to reach a burst boundary (one burst takes
/// microseconds; a worker that takes this long is stuck, and the port must not be touched).
const PARK_WITHIN: Duration = Duration::from_secs(2);

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
        let started = Instant::now();
        let (mut resets, mut link_changes) = (0u64, 0u64);
        // The link as last seen: a change is counted when the loop sees it.
        let mut link = self.port.link().map(|l| l.0);
        let notifier = super::notify::Notifier::from_env();
        if let Some(n) = &notifier {
            n.send("READY=1");
        }
        let mut last_watchdog = Instant::now() - WATCHDOG_EVERY;
        // Present (at 0) from the first scrape.
        self.metrics.port_events(self.port_name, 0, 0);
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
            // The driver's timers (ENA's watchdog, due once a second) run on this lcore.
            mirrorcap_dpdk::timers_manage();
            if self
                .inject_reset_after
                .is_some_and(|d| started.elapsed() >= d)
            {
                self.inject_reset_after = None;
                self.events.inject_reset();
            }
            let resets_raised = self.events.take_resets();
            // The link is read every round (a cached read on ENA), so a change is seen within
            // 50 ms on every driver, those without LSC interrupts (net_memif, af_packet) too.
            let now = self.port.link();
            if now.map(|l| l.0) != link {
                link = now.map(|l| l.0);
                link_changes += 1;
                let state = now.map_or("unknown".into(), |(up, mbps)| {
                    if up {
                        format!("up at {mbps} Mbit/s")
                    } else {
                        "down".to_string()
                    }
                });
                status.finish();
                eprintln!(
                    "mirrorcap: port {}: link {state} ({link_changes} change(s) since start)",
                    self.port_name
                );
            }
            if resets_raised > 0 {
                status.finish();
                match self.recover() {
                    Ok(line) => {
                        resets += 1;
                        eprintln!("{line} (reset {resets} since start)");
                    }
                    Err(e) => {
                        fatal = Some(e);
                        break;
                    }
                }
            }
            self.metrics
                .port_events(self.port_name, resets, link_changes);
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
            // systemd's watchdog is fed only while every worker polls: a wedged worker (or a
            // wedged control loop) gets the service restarted.
            if let Some(n) = &notifier {
                let polling =
                    self.slots.iter().zip(&beats).all(|(s, b)| {
                        !s.finished.load(Ordering::Acquire) && b.1.elapsed() <= STALL
                    });
                if polling && last_watchdog.elapsed() >= WATCHDOG_EVERY {
                    n.send("WATCHDOG=1");
                    last_watchdog = Instant::now();
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
        if let Some(n) = &notifier {
            n.send("STOPPING=1");
        }
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

    /// A device reset the driver asked for: the workers parked at a burst boundary, the port
    /// reset (or, without a driver reset, stopped) and set up again as at start, the workers
    /// released. The ring is untouched. The line to log, or why the appliance must stop.
    fn recover(&self) -> Result<String, String> {
        let t0 = Instant::now();
        let finished = |w: usize| self.slots[w].finished.load(Ordering::Acquire);
        if !self.pause.hold(finished, PARK_WITHIN) {
            self.pause.release();
            return Err(format!(
                "port {}: the driver asked for a device reset, but a worker did not reach a burst boundary within {PARK_WITHIN:?}: the port was not touched; stopping (a restart re-initialises it)",
                self.port_name
            ));
        }
        let r = self.port.recover();
        self.pause.release();
        match r {
            Ok(kind) => Ok(format!(
                "mirrorcap: port {}: the driver asked for a device reset: {} and set up again as at start in {:.0} ms; capture resumed, the ring kept",
                self.port_name,
                match kind {
                    mirrorcap_dpdk::Recovery::Reset => "reset (rte_eth_dev_reset)",
                    mirrorcap_dpdk::Recovery::Restarted => "stopped (the driver has no reset)",
                },
                t0.elapsed().as_secs_f64() * 1e3
            )),
            Err(e) => Err(format!(
                "port {}: setting the port up again after a device reset failed: {e}; stopping (the service restarts mirrorcap)",
                self.port_name
            )),
        }
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
