//! Loss, reordering and one-way latency from the stamps `mirrorcap gen` writes into each inner
//! payload (`src/gen/stamp.rs`), per mirror session. Opt-in (`run --stamps`): a header walk
//! to the inner L4 payload, one flow-table entry and one histogram bucket per stamped frame.
//!
//! Per flow (generator run id, flow id) the worker keeps the next sequence number it expects.
//! A higher one counts the numbers skipped as `gaps`; a lower one counts the frame as `late`
//! (reordered, or a duplicate). Frames lost upstream of the appliance = gaps − late, when
//! nothing is duplicated. A flow always reaches the same worker (RSS hashes the outer UDP
//! source port, which AWS and the generator derive from the inner 5-tuple), so no state is
//! shared between workers.
#![forbid(unsafe_code)]
use super::published_latency::{LATENCY_BOUNDS_NS, LATENCY_BUCKETS};
use super::session_stats::{PublishedRows, SESSION_IDS};
use mirrorcap_stamp::read_stamp;

/// Flow-table entries per worker (a power of two); flows beyond it share entries, and a
/// collision restarts the entry's tracking rather than counting a false gap.
pub const FLOW_ENTRIES: usize = 1 << 16;

pub const STAMPED: usize = 0;
pub const GAPS: usize = 1;
pub const LATE: usize = 2;
/// Stamped frames whose TX time is later than their RX time (clocks not shared).
pub const SKEWED: usize = 3;
pub const SUM_NS: usize = 4;
/// Histogram buckets start here.
pub const BUCKETS: usize = 5;
pub const COUNTERS: usize = BUCKETS + LATENCY_BUCKETS;

#[derive(Clone, Copy, Default)]
struct Flow {
    run: u32,
    flow: u32,
    next: u64,
    used: bool,
}

/// A worker's stamp state: its flow table and per-session counters.
pub struct StampTracker {
    flows: Box<[Flow]>,
    counts: Box<[[u64; COUNTERS]]>,
}

impl Default for StampTracker {
    fn default() -> Self {
        StampTracker {
            flows: vec![Flow::default(); FLOW_ENTRIES].into_boxed_slice(),
            counts: vec![[0u64; COUNTERS]; SESSION_IDS].into_boxed_slice(),
        }
    }
}

impl StampTracker {
    /// Looks for a stamp in `inner` (an Ethernet frame, or a bare IP packet when `ethernet` is
    /// false) received at `rx_ns`, and counts it for session `slot`.
    #[inline]
    pub fn observe(&mut self, inner: &[u8], ethernet: bool, slot: u8, rx_ns: u64) {
        let Some(payload) = l4_payload(inner, ethernet) else {
            return;
        };
        let Some(s) = read_stamp(payload) else {
            return;
        };
        let c = &mut self.counts[slot as usize];
        c[STAMPED] += 1;
        if let Some(flow) = s.flow {
            // Frames too small for the run id (under 70 bytes with UDP): a flow starting again
            // from 0 is taken as a new run.
            let run = s.run.unwrap_or(0);
            let e = &mut self.flows[flow as usize & (FLOW_ENTRIES - 1)];
            let restart = s.run.is_none() && s.seq == 0 && e.next > 1;
            if !e.used || e.run != run || e.flow != flow || restart {
                // First frame of the flow: the ones before it (from 0) never arrived.
                c[GAPS] += s.seq;
                *e = Flow {
                    run,
                    flow,
                    next: s.seq + 1,
                    used: true,
                };
            } else if s.seq >= e.next {
                c[GAPS] += s.seq - e.next;
                e.next = s.seq + 1;
            } else {
                c[LATE] += 1;
            }
        }
        if let Some(tx) = s.tx_ns {
            if tx > rx_ns {
                c[SKEWED] += 1;
            } else {
                let d = rx_ns - tx;
                c[SUM_NS] += d;
                c[BUCKETS + bucket(d)] += 1;
            }
        }
    }

    /// The worker's counters of `slot`.
    pub fn counts(&self, slot: u8) -> &[u64; COUNTERS] {
        &self.counts[slot as usize]
    }

    /// The worker's counters of every slot (to publish).
    pub fn all_counts(&self) -> &[[u64; COUNTERS]] {
        &self.counts
    }
}

/// The exported bucket of a latency of `ns` (binary search over the fixed bounds).
#[inline]
fn bucket(ns: u64) -> usize {
    LATENCY_BOUNDS_NS.partition_point(|&b| b < ns)
}

/// The L4 payload of a UDP or TCP packet in `frame` (an Ethernet frame with up to two VLAN
/// tags, or a bare IP packet); `None` for anything else, fragments included.
#[inline]
pub fn l4_payload(frame: &[u8], ethernet: bool) -> Option<&[u8]> {
    let mut ip = frame;
    let mut ethertype = 0u16;
    if ethernet {
        let mut off = 12;
        for _ in 0..3 {
            ethertype = u16::from_be_bytes([*frame.get(off)?, *frame.get(off + 1)?]);
            if ethertype == 0x8100 || ethertype == 0x88a8 {
                off += 4;
            } else {
                break;
            }
        }
        ip = frame.get(off + 2..)?;
    }
    let version = ip.first()? >> 4;
    let (proto, l4) = match (version, ethernet, ethertype) {
        (4, false, _) | (4, true, 0x0800) => {
            let ihl = (ip[0] & 0x0f) as usize * 4;
            let frag = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]) & 0x3fff;
            if ihl < 20 || frag != 0 {
                return None;
            }
            (*ip.get(9)?, ip.get(ihl..)?)
        }
        (6, false, _) | (6, true, 0x86dd) => (*ip.get(6)?, ip.get(40..)?),
        _ => return None,
    };
    match proto {
        17 => l4.get(8..),
        6 => {
            let doff = (*l4.get(12)? >> 4) as usize * 4;
            if doff < 20 {
                return None;
            }
            l4.get(doff..)
        }
        _ => None,
    }
}

/// A worker's published stamp counters and histogram buckets, by session slot.
pub type PublishedStampCounts = PublishedRows<COUNTERS>;

#[cfg(test)]
mod tests {
    use super::*;
    use mirrorcap_stamp::{write_stamp, Stamp};

    fn udp_frame(seq: u64, flow: u32, run: u32, tx_ns: u64) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 8 + 28];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[14 + 9] = 17;
        let s = Stamp {
            seq,
            flow: Some(flow),
            tx_ns: Some(tx_ns),
            run: Some(run),
        };
        write_stamp(&mut f[42..], &s);
        f
    }

    #[test]
    fn counts_gaps_late_and_latency_per_flow() {
        let mut t = StampTracker::default();
        for seq in [0u64, 1, 2, 5, 3, 6] {
            t.observe(&udp_frame(seq, 7, 99, 1_000), true, 3, 1_000 + 1_500);
        }
        // another flow starting at 2: 0 and 1 are gaps
        t.observe(&udp_frame(2, 8, 99, 1_000), true, 3, 1_000 + 150);
        // a frame from the future (clocks not shared)
        t.observe(&udp_frame(3, 8, 99, 10_000), true, 3, 5_000);
        let c = t.counts(3);
        assert_eq!(c[STAMPED], 8);
        assert_eq!(c[GAPS], 2 + 2, "5 skips 3 and 4; flow 8 starts at 2");
        assert_eq!(c[LATE], 1, "3 after 5");
        assert_eq!(c[SKEWED], 1);
        assert_eq!(c[SUM_NS], 6 * 1_500 + 150);
        assert_eq!(c[BUCKETS + bucket(1_500)], 6);
        assert_eq!(c[BUCKETS + bucket(150)], 1);
        assert_eq!(bucket(150), 1, "le=200");
        assert_eq!(bucket(1_500), 4, "le=2000");
        assert_eq!(t.counts(0)[STAMPED], 0);
    }

    #[test]
    fn a_new_run_restarts_the_flow() {
        let mut t = StampTracker::default();
        for seq in 0..10 {
            t.observe(&udp_frame(seq, 1, 1, 0), true, 0, 1);
        }
        for seq in 0..3 {
            t.observe(&udp_frame(seq, 1, 2, 0), true, 0, 1);
        }
        assert_eq!(t.counts(0)[GAPS], 0);
        assert_eq!(t.counts(0)[LATE], 0);
        // Without a run id (small frames) a flow going back to 0 is a new run too.
        let mut t = StampTracker::default();
        for seq in (0..10).chain(0..3) {
            let mut f = udp_frame(seq, 1, 0, 0);
            f.truncate(42 + 16);
            t.observe(&f, true, 0, 1);
        }
        assert_eq!(t.counts(0)[STAMPED], 13);
        assert_eq!(t.counts(0)[GAPS], 0);
        assert_eq!(t.counts(0)[LATE], 0);
    }

    #[test]
    fn walks_vlan_ipv6_tcp_and_bare_ip() {
        // VLAN + IPv6 + TCP (data offset 8 words)
        let mut f = vec![0u8; 18 + 40 + 32 + 28];
        f[12..14].copy_from_slice(&[0x81, 0x00]);
        f[16..18].copy_from_slice(&[0x86, 0xdd]);
        f[18] = 0x60;
        f[18 + 6] = 6;
        f[18 + 40 + 12] = 8 << 4;
        let p = l4_payload(&f, true).expect("payload");
        assert_eq!(p.len(), 28);
        // bare IPv4 UDP
        let mut b = vec![0u8; 20 + 8 + 4];
        b[0] = 0x45;
        b[9] = 17;
        assert_eq!(l4_payload(&b, false).map(<[u8]>::len), Some(4));
        // a fragment, ICMP and ARP have none
        b[6] = 0x20;
        assert!(l4_payload(&b, false).is_none());
        b[6] = 0;
        b[9] = 1;
        assert!(l4_payload(&b, false).is_none());
        let mut arp = vec![0u8; 60];
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert!(l4_payload(&arp, true).is_none());
        // truncated headers
        assert!(l4_payload(&f[..30], true).is_none());
    }
}
