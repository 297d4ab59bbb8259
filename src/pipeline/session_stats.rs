//! Per-session counters, by session slot (0 = the default, 1..=254 configured sessions): the
//! worker's own integers and the cache-line rows it publishes for the control core.
#![forbid(unsafe_code)]
use std::sync::atomic::{AtomicU64, Ordering};

pub const MATCHED: usize = 0;
pub const CAPTURED: usize = 1;
pub const CAPTURED_BYTES: usize = 2;
pub const FILTERED: usize = 3;
pub const SAMPLED_OUT: usize = 4;
pub const DUPLICATE: usize = 5;
pub const DROPPED: usize = 6;
/// Captured frames AWS truncated (inner IP length beyond the bytes mirrored).
pub const TRUNCATED: usize = 7;
pub const COUNTERS: usize = 8;
/// Slots: the default and 254 configured sessions.
pub const SESSION_SLOTS: usize = 255;

/// Labels of the packet outcomes counted per session (`CAPTURED_BYTES` is bytes, apart).
pub const OUTCOMES: [(usize, &str); 6] = [
    (CAPTURED, "captured"),
    (FILTERED, "filtered"),
    (SAMPLED_OUT, "sampled_out"),
    (DUPLICATE, "duplicate"),
    (DROPPED, "dropped"),
    (TRUNCATED, "truncated"),
];

/// One slot's published counters: one cache line, written by one worker.
#[repr(C, align(64))]
#[derive(Default)]
pub struct SessionRow(pub [AtomicU64; COUNTERS]);

/// A worker's published per-session counters.
pub struct SessionSlots {
    rows: Box<[SessionRow]>,
}

impl Default for SessionSlots {
    fn default() -> Self {
        SessionSlots {
            rows: (0..SESSION_SLOTS).map(|_| SessionRow::default()).collect(),
        }
    }
}

impl SessionSlots {
    /// Stores the worker's counters of `slots` (worker only).
    pub fn publish(&self, counts: &SessionCounts, slots: impl Iterator<Item = u8>) {
        for s in slots {
            let (row, src) = (&self.rows[s as usize], &counts.0[s as usize]);
            for (a, v) in row.0.iter().zip(src) {
                a.store(*v, Ordering::Relaxed);
            }
        }
    }

    /// A copy of slot `s`'s counters (control core).
    pub fn read(&self, s: u8) -> [u64; COUNTERS] {
        let mut out = [0u64; COUNTERS];
        for (o, a) in out.iter_mut().zip(&self.rows[s as usize].0) {
            *o = a.load(Ordering::Relaxed);
        }
        out
    }
}

/// The worker's own per-session counters.
pub struct SessionCounts(pub Box<[[u64; COUNTERS]]>);

impl Default for SessionCounts {
    fn default() -> Self {
        SessionCounts(vec![[0u64; COUNTERS]; SESSION_SLOTS].into_boxed_slice())
    }
}
