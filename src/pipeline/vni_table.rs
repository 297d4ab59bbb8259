//! Per-VNI counters of one worker: a fixed open-addressing table allocated at start, written
//! by its worker alone (relaxed load + store, no read-modify-write) and read by the collector.
//! VNIs beyond its capacity are counted together under [`OVERFLOW_VNI`].
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Slots per worker; mirror sessions per appliance are far fewer.
pub const VNI_ENTRIES: usize = 1024;
/// Marks an unused slot (VNIs have 24 bits).
const EMPTY: u32 = u32::MAX;
/// The label of the slot that takes VNIs once the table is full.
pub const OVERFLOW_VNI: u32 = u32::MAX - 1;
const PROBES: usize = 16;

/// One VNI's counters.
#[repr(C, align(64))]
pub struct VniEntry {
    pub vni: AtomicU32,
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    pub truncated: AtomicU64,
}

impl Default for VniEntry {
    fn default() -> Self {
        VniEntry {
            vni: AtomicU32::new(EMPTY),
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            truncated: AtomicU64::new(0),
        }
    }
}

/// A worker's VNI table (the last slot is the overflow slot).
pub struct VniTable {
    slots: Box<[VniEntry]>,
}

/// What the collector reads of one VNI.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VniCounts {
    pub vni: u32,
    pub packets: u64,
    pub bytes: u64,
    pub truncated: u64,
}

#[inline(always)]
fn bump(a: &AtomicU64, by: u64) {
    // Single writer: a relaxed load and store, not an atomic read-modify-write.
    a.store(
        a.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

impl VniTable {
    /// The addresses the table's slots occupy (for layout checks).
    pub fn entry_range(&self) -> std::ops::Range<usize> {
        let start = self.slots.as_ptr() as usize;
        start..start + std::mem::size_of_val(&*self.slots)
    }
}

impl Default for VniTable {
    fn default() -> Self {
        Self::new()
    }
}

impl VniTable {
    pub fn new() -> Self {
        let slots: Vec<VniEntry> = (0..VNI_ENTRIES + 1).map(|_| VniEntry::default()).collect();
        let t = VniTable {
            slots: slots.into_boxed_slice(),
        };
        t.slots[VNI_ENTRIES]
            .vni
            .store(OVERFLOW_VNI, Ordering::Relaxed);
        t
    }

    /// The slot of `vni`, claiming an empty one on first sight. Worker only.
    #[inline]
    fn slot(&self, vni: u32) -> &VniEntry {
        let mut i = (vni.wrapping_mul(0x9E37_79B1) >> 22) as usize % VNI_ENTRIES;
        for _ in 0..PROBES {
            let s = &self.slots[i];
            let v = s.vni.load(Ordering::Relaxed);
            if v == vni {
                return s;
            }
            if v == EMPTY {
                s.vni.store(vni, Ordering::Release);
                return s;
            }
            i = (i + 1) % VNI_ENTRIES;
        }
        &self.slots[VNI_ENTRIES]
    }

    /// Counts one captured frame of `vni`. Worker only.
    #[inline]
    pub fn record(&self, vni: u32, bytes: u64, truncated: bool) {
        let s = self.slot(vni);
        bump(&s.packets, 1);
        bump(&s.bytes, bytes);
        if truncated {
            bump(&s.truncated, 1);
        }
    }

    /// Counts `packets` captured frames of `vni`. Worker only.
    #[inline]
    fn record_n(&self, vni: u32, packets: u64, bytes: u64, truncated: u64) {
        let s = self.slot(vni);
        bump(&s.packets, packets);
        bump(&s.bytes, bytes);
        if truncated > 0 {
            bump(&s.truncated, truncated);
        }
    }

    /// Every VNI seen so far with its counters. Collector side.
    pub fn snapshot(&self) -> Vec<VniCounts> {
        self.slots
            .iter()
            .filter_map(|s| {
                let vni = s.vni.load(Ordering::Acquire);
                let c = VniCounts {
                    vni,
                    packets: s.packets.load(Ordering::Relaxed),
                    bytes: s.bytes.load(Ordering::Relaxed),
                    truncated: s.truncated.load(Ordering::Relaxed),
                };
                (vni != EMPTY && c.packets > 0).then_some(c)
            })
            .collect()
    }
}

/// A worker's run of frames of one VNI, counted in registers and added to its [`VniTable`]
/// when the VNI changes or the burst ends: traffic of one session comes in runs, so the table's
/// hash lookup and stores are paid per run instead of per packet.
#[derive(Debug, Default)]
pub struct VniBatch {
    vni: u32,
    packets: u64,
    bytes: u64,
    truncated: u64,
}

impl VniBatch {
    #[inline(always)]
    pub fn add(&mut self, table: &VniTable, vni: u32, bytes: u64, truncated: bool) {
        if self.vni != vni && self.packets > 0 {
            self.flush(table);
        }
        self.vni = vni;
        self.packets += 1;
        self.bytes += bytes;
        self.truncated += truncated as u64;
    }

    /// Adds the run to the table (end of a burst).
    #[inline]
    pub fn flush(&mut self, table: &VniTable) {
        if self.packets > 0 {
            table.record_n(self.vni, self.packets, self.bytes, self.truncated);
            self.packets = 0;
            self.bytes = 0;
            self.truncated = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_count_runs_like_single_records() {
        let (a, b) = (VniTable::new(), VniTable::new());
        let mut batch = VniBatch::default();
        for (i, v) in [5u32, 5, 5, 9, 9, 5, 0, 0, 5].iter().enumerate() {
            a.record(*v, i as u64, i % 4 == 0);
            batch.add(&b, *v, i as u64, i % 4 == 0);
        }
        batch.flush(&b);
        batch.flush(&b);
        let (mut sa, mut sb) = (a.snapshot(), b.snapshot());
        sa.sort_by_key(|c| c.vni);
        sb.sort_by_key(|c| c.vni);
        assert_eq!(sa, sb);
    }

    #[test]
    fn counts_per_vni_and_overflows_when_full() {
        let t = VniTable::new();
        t.record(100, 60, false);
        t.record(100, 1514, true);
        t.record(7, 64, false);
        let mut s = t.snapshot();
        s.sort_by_key(|c| c.vni);
        assert_eq!(
            s,
            vec![
                VniCounts {
                    vni: 7,
                    packets: 1,
                    bytes: 64,
                    truncated: 0
                },
                VniCounts {
                    vni: 100,
                    packets: 2,
                    bytes: 1574,
                    truncated: 1
                }
            ]
        );
        for v in 0..(VNI_ENTRIES as u32 * 2) {
            t.record(v + 1000, 1, false);
        }
        let s = t.snapshot();
        let total: u64 = s.iter().map(|c| c.packets).sum();
        assert_eq!(
            total,
            3 + VNI_ENTRIES as u64 * 2,
            "nothing lost when the table is full"
        );
        assert!(s.iter().any(|c| c.vni == OVERFLOW_VNI && c.packets > 0));
        assert!(s.len() <= VNI_ENTRIES + 1);
    }
}
