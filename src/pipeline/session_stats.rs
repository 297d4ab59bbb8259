//! Per-session counters, by session id (0 = the default, 1..=254 configured sessions): the
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
/// Ids: the default and 254 configured sessions.
pub const SESSION_IDS: usize = 255;

/// Labels of the packet outcomes counted per session (`CAPTURED_BYTES` is bytes, apart).
pub const OUTCOMES: [(usize, &str); 6] = [
    (CAPTURED, "captured"),
    (FILTERED, "filtered"),
    (SAMPLED_OUT, "sampled_out"),
    (DUPLICATE, "duplicate"),
    (DROPPED, "dropped"),
    (TRUNCATED, "truncated"),
];

/// One id's published counters (`N` of them, from one cache line up), written by one
/// worker.
#[repr(C, align(64))]
pub struct Row<const N: usize>([AtomicU64; N]);

impl<const N: usize> Default for Row<N> {
    fn default() -> Self {
        Row(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

/// A worker's published counters, `N` per session id: the session outcomes here
/// ([`PublishedSessionCounts`]), the stamp counters of `run --stamps` (`super::PublishedStampCounts`).
pub struct PublishedRows<const N: usize> {
    rows: Box<[Row<N>]>,
}

/// A worker's published per-session counters.
pub type PublishedSessionCounts = PublishedRows<COUNTERS>;

impl<const N: usize> Default for PublishedRows<N> {
    fn default() -> Self {
        PublishedRows {
            rows: (0..SESSION_IDS).map(|_| Row::default()).collect(),
        }
    }
}

impl<const N: usize> PublishedRows<N> {
    /// Stores the worker's counters (`counts`, by id) of `ids` (worker only).
    pub fn publish(&self, counts: &[[u64; N]], ids: impl Iterator<Item = u8>) {
        for s in ids {
            let (row, src) = (&self.rows[s as usize], &counts[s as usize]);
            for (a, v) in row.0.iter().zip(src) {
                a.store(*v, Ordering::Relaxed);
            }
        }
    }

    /// A copy of id `s`'s counters (control core).
    pub fn read(&self, s: u8) -> [u64; N] {
        std::array::from_fn(|i| self.rows[s as usize].0[i].load(Ordering::Relaxed))
    }

    /// Id `s`'s counters summed over every worker's rows (control core).
    pub fn sum(workers: &[Self], s: u8) -> [u64; N] {
        let mut sum = [0u64; N];
        for w in workers {
            for (t, v) in sum.iter_mut().zip(w.read(s)) {
                *t += v;
            }
        }
        sum
    }
}

/// The worker's own per-session counters.
pub struct SessionCounts(pub Box<[[u64; COUNTERS]]>);

impl Default for SessionCounts {
    fn default() -> Self {
        SessionCounts(vec![[0u64; COUNTERS]; SESSION_IDS].into_boxed_slice())
    }
}
