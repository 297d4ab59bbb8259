//! One TX lcore: fills bursts of mbufs from the frame factory, stamps them with the TSC time
//! of the burst, paces bursts against the TSC and sends them, retrying what the device did not
//! take. Per packet: no allocation, no lock, no syscall, no log line; counters are published
//! to the control lcore with one relaxed store each per burst.
use super::plan::{Limit, Rate, WIRE_OVERHEAD};
use crate::gen::factory::{Factory, FlowState};
use crate::gen::sizes::Sizes;
use crate::gen::Rng;
use mirrorcap_dpdk::{rdtsc, Mempool, TscClock, TxBurst, TxQueue};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Tries to hand one burst to a device that keeps refusing before its rest is dropped.
const MAX_RETRIES_PER_BURST: u64 = 1 << 20;

/// What a queue publishes while it runs (cache-line aligned, written by its lcore only).
#[derive(Default, Debug)]
#[repr(align(64))]
pub struct LiveCounters {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    pub retries: AtomicU64,
    pub done: AtomicBool,
}

/// Final counters of one queue.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueResult {
    pub queue: u16,
    pub packets: u64,
    /// Frame bytes (no FCS).
    pub bytes: u64,
    pub wire_bits: u64,
    /// tx_burst calls that left packets behind.
    pub retries: u64,
    /// Packets given up after MAX_RETRIES_PER_BURST or at a stop.
    pub dropped: u64,
    /// Bursts delayed because the mempool was empty.
    pub no_mbuf: u64,
    /// Of `packets`, the noise frames.
    pub noise: u64,
    /// Packets per VNI index (the order of `--vni`).
    pub per_vni: Vec<u64>,
    /// This queue's TSC when it started and after its last burst.
    pub start_tsc: u64,
    pub end_tsc: u64,
}

/// Everything a TX lcore needs.
pub struct QueueJob<'a> {
    pub txq: TxQueue<'a>,
    pub pool: &'a Mempool<'a>,
    pub factory: &'a Factory,
    /// The flows this queue sends (flow f goes to queue f % queues), round-robin.
    pub flows: Vec<u32>,
    /// The VNI index of each of `flows`.
    pub vni_index: Vec<usize>,
    pub vnis: usize,
    pub sizes: Sizes,
    pub rng: Rng,
    /// This queue's share of the packets (Count) or the common end.
    pub limit: Limit,
    /// This queue's share of the rate.
    pub rate: Rate,
    pub burst: usize,
    /// A noise frame after every N mirrored ones (0: none), kinds in turn from `noise`.
    pub noise_every: u64,
    pub noise: &'a [Vec<u8>],
    /// Set by the control lcore once every sender is launched: all start together, each
    /// timing itself with its own core's TSC.
    pub go: &'a AtomicBool,
    pub hz: u64,
    pub clock: TscClock,
    pub stop: &'a AtomicBool,
    pub live: &'a LiveCounters,
}

/// Marks the queue done however its loop ends (a panic included), so the control lcore
/// never waits for a sender that is gone.
struct DoneOnDrop<'a>(&'a AtomicBool);

impl Drop for DoneOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

impl QueueJob<'_> {
    pub fn run(mut self) -> QueueResult {
        let _done = DoneOnDrop(&self.live.done);
        let mut r = QueueResult {
            queue: self.txq.queue_id(),
            per_vni: vec![0; self.vnis],
            ..QueueResult::default()
        };
        let mut states = vec![FlowState::default(); self.flows.len()];
        let mut burst = TxBurst::new();
        // Ticks per rate unit (packet or wire bit); 0 = unpaced.
        let ticks_per_unit = match self.rate {
            Rate::Max => 0.0,
            Rate::Pps(p) => self.hz as f64 / p,
            Rate::Bps(b) => self.hz as f64 / b,
        };
        let per_bit = matches!(self.rate, Rate::Bps(_));
        while !self.go.load(Ordering::Acquire) && !self.stop.load(Ordering::Relaxed) {
            std::hint::spin_loop();
        }
        let t0 = rdtsc();
        r.start_tsc = t0;
        let end_tsc = match self.limit {
            Limit::Duration(d) => Some(t0 + (d.as_secs_f64() * self.hz as f64) as u64),
            Limit::Count(_) => None,
        };
        let total = match self.limit {
            Limit::Count(n) => n,
            Limit::Duration(_) => u64::MAX,
        };
        let nflows = self.flows.len() as u64;
        let mut units: u64 = 0;
        let mut i: u64 = 0; // mirrored packets built
        let mut built: u64 = 0; // all packets built, noise included
        let mut since_noise: u64 = 0;
        let every = self.noise_every;
        while (i < total || (every > 0 && since_noise == every))
            && !self.stop.load(Ordering::Relaxed)
        {
            let now = rdtsc();
            if end_tsc.is_some_and(|e| now >= e) {
                break;
            }
            if ticks_per_unit > 0.0 {
                let due = t0 + (units as f64 * ticks_per_unit) as u64;
                if now < due {
                    std::hint::spin_loop();
                    continue;
                }
            }
            // Mirrored frames left, and the noise frames that follow them.
            let left = total - i;
            let noise_left = since_noise
                .saturating_add(left)
                .checked_div(every)
                .unwrap_or(0);
            let want = left.saturating_add(noise_left).min(self.burst as u64) as usize;
            if !burst.alloc(self.pool, want) {
                r.no_mbuf += 1;
                continue;
            }
            let tx_ns = self.clock.ns(rdtsc());
            for k in 0..want {
                if every > 0 && since_noise == every {
                    let f = &self.noise[(r.noise % self.noise.len() as u64) as usize];
                    burst.room(k)[..f.len()].copy_from_slice(f);
                    burst.set_len(k, f.len());
                    since_noise = 0;
                    r.noise += 1;
                    built += 1;
                    r.bytes += f.len() as u64;
                    let bits = (f.len() as u64 + WIRE_OVERHEAD) * 8;
                    r.wire_bits += bits;
                    units += if per_bit { bits } else { 1 };
                    continue;
                }
                since_noise += 1;
                let lf = (i % nflows) as usize;
                let size = self.sizes.pick(i, &mut self.rng);
                let room = burst.room(k);
                let len = self
                    .factory
                    .write(self.flows[lf], &mut states[lf], size, tx_ns, room);
                burst.set_len(k, len);
                r.bytes += len as u64;
                let bits = (len as u64 + WIRE_OVERHEAD) * 8;
                r.wire_bits += bits;
                units += if per_bit { bits } else { 1 };
                r.per_vni[self.vni_index[lf]] += 1;
                i += 1;
                built += 1;
            }
            let mut tries = 0u64;
            loop {
                burst.send(&mut self.txq);
                if burst.pending() == 0 {
                    break;
                }
                r.retries += 1;
                tries += 1;
                if tries >= MAX_RETRIES_PER_BURST || self.stop.load(Ordering::Relaxed) {
                    r.dropped += burst.drop_pending() as u64;
                    break;
                }
            }
            r.packets = built - r.dropped;
            self.live.packets.store(r.packets, Ordering::Relaxed);
            self.live.bytes.store(r.bytes, Ordering::Relaxed);
            self.live.retries.store(r.retries, Ordering::Relaxed);
        }
        r.packets = built - r.dropped;
        r.end_tsc = rdtsc();
        self.live.packets.store(r.packets, Ordering::Relaxed);
        self.live.bytes.store(r.bytes, Ordering::Relaxed);
        r
    }
}
