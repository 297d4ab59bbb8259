//! The control core's once-a-second poll: NIC counters and xstats (through the driver, on ENA
//! the admin queue, so never from a worker), link state, mempool occupancy, and for each
//! worker's ring the oldest/newest retained packet and whether it can still be written.
//! The [`Sample`] feeds the metrics, `/healthz` and the status line.
use crate::pipeline::{Drop, PublishedStats};
use mirrorcap_dpdk::{Mempool, NicStats, Port, Xstats};
use mirrorcap_ring::layout::worker_dir;
use mirrorcap_ring::retention::{check_writable, retained, Retained};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// A worker pool's occupancy.
#[derive(Clone, Copy, Debug, Default)]
pub struct PoolUse {
    pub in_use: u32,
    pub capacity: u32,
}

/// One worker ring's state.
#[derive(Clone, Debug, Default)]
pub struct RingState {
    pub retained: Option<Retained>,
    /// Bytes of segments the ring holds when full.
    pub capacity: u64,
    /// Why the ring cannot take new packets, if it cannot.
    pub problem: Option<String>,
}

/// What one poll saw.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    pub nic: NicStats,
    pub link_up: bool,
    pub mempools: Vec<PoolUse>,
    pub rings: Vec<RingState>,
}

impl Sample {
    /// The shortest time span held by a worker ring that holds packets.
    pub fn min_retention_s(&self) -> Option<f64> {
        self.rings
            .iter()
            .filter_map(|r| r.retained.map(|t| t.span_s()))
            .reduce(f64::min)
    }
}

/// Polls the port, pools and rings; holds the xstats buffers between polls.
pub struct Poller<'a> {
    port: &'a Port<'a>,
    xstats: Option<Xstats<'a>>,
    pools: &'a [Mempool<'a>],
    ring_dirs: Vec<PathBuf>,
    ring_capacity: u64,
    /// Each worker's ring_write_error + ring_full drops at the last poll.
    ring_refusals: Vec<u64>,
    pub sample: Sample,
}

fn ring_refusals(slot: &PublishedStats) -> u64 {
    [Drop::RingWriteError, Drop::RingFull]
        .iter()
        .map(|d| slot.drops[d.index()].load(Ordering::Relaxed))
        .sum()
}

impl<'a> Poller<'a> {
    /// `ring_capacity`: bytes of segments per worker ring.
    pub fn new(
        port: &'a Port<'a>,
        pools: &'a [Mempool<'a>],
        ring_dir: &Path,
        ring_capacity: u64,
    ) -> Self {
        let xstats = match Xstats::new(port) {
            Ok(x) => Some(x),
            Err(e) => {
                eprintln!("mirrorcap: port xstats unavailable: {e}");
                None
            }
        };
        Poller {
            port,
            xstats,
            pools,
            ring_dirs: (0..pools.len()).map(|w| worker_dir(ring_dir, w)).collect(),
            ring_capacity,
            ring_refusals: vec![0; pools.len()],
            sample: Sample::default(),
        }
    }

    /// Takes a new sample (control core only; about once a second).
    pub fn poll(&mut self, slots: &[PublishedStats]) {
        if let Ok(s) = self.port.stats() {
            self.sample.nic = s;
        }
        if let Some(x) = &mut self.xstats {
            let _ = x.refresh();
        }
        self.sample.link_up = matches!(self.port.link(), Some((true, _)));
        self.sample.mempools = self
            .pools
            .iter()
            .map(|p| PoolUse {
                in_use: p.in_use(),
                capacity: p.size(),
            })
            .collect();
        let mut rings = Vec::with_capacity(self.ring_dirs.len());
        for (w, dir) in self.ring_dirs.iter().enumerate() {
            let refused = slots.get(w).map(ring_refusals).unwrap_or(0);
            let mut problem = check_writable(dir).err();
            if problem.is_none() && refused > self.ring_refusals[w] {
                problem = Some(format!(
                    "{} packet(s) refused in the last second (ring_write_error or ring_full)",
                    refused - self.ring_refusals[w]
                ));
            }
            self.ring_refusals[w] = refused;
            rings.push(RingState {
                retained: retained(dir).ok().flatten(),
                capacity: self.ring_capacity,
                problem,
            });
        }
        self.sample.rings = rings;
    }

    /// The xstats read by the last poll, as (name, value).
    pub fn xstats(&self) -> impl Iterator<Item = (&str, u64)> + '_ {
        self.xstats.iter().flat_map(|x| x.iter())
    }
}
