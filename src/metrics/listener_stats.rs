//! The metrics listener's own counters: requests answered by status code, connections
//! closed early by reason, connections open (who may open one is `admission`'s business). Written by the `mc-metrics` thread with
//! atomics, copied into the registry by the control loop when it renders a scrape.
#![forbid(unsafe_code)]
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The status codes the listener's handler answers with (hyper's own 431 for an oversized
/// request head is counted as an `oversize` rejection instead).
pub const CODES: [u16; 6] = [200, 404, 405, 413, 500, 503];

/// Why a connection was closed early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// The listener was full (`--metrics-max-connections`) and no waiting connection was
    /// the newcomer's to take (`admission`): closed right after accept.
    Cap = 0,
    /// No complete request head within the header timeout (slow or silent client).
    Timeout = 1,
    /// A request head larger than the header limit (answered 431 by hyper, then closed).
    Oversize = 2,
    /// Still open at the connection lifetime limit (e.g. a client not reading its response).
    Lifetime = 3,
    /// Its source already held its share of connections: closed right after accept.
    PerSource = 4,
    /// A connection waiting for a request head, closed so that a newcomer from a source
    /// holding fewer connections could take its slot.
    Evicted = 5,
}

impl Reject {
    pub const ALL: [Reject; 6] = [
        Reject::Cap,
        Reject::Timeout,
        Reject::Oversize,
        Reject::Lifetime,
        Reject::PerSource,
        Reject::Evicted,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Reject::Cap => "cap",
            Reject::Timeout => "timeout",
            Reject::Oversize => "oversize",
            Reject::Lifetime => "lifetime",
            Reject::PerSource => "per_source",
            Reject::Evicted => "evicted",
        }
    }
}

/// Counters shared by the listener thread (writer) and the control loop (reader).
#[derive(Debug, Default)]
pub struct ListenerStats {
    requests: [AtomicU64; CODES.len()],
    rejected: [AtomicU64; Reject::ALL.len()],
    open: AtomicUsize,
}

impl ListenerStats {
    pub fn answered(&self, code: u16) {
        if let Some(i) = CODES.iter().position(|&c| c == code) {
            self.requests[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn rejected(&self, why: Reject) {
        self.rejected[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// One more connection open (admission decides whether it may be: `admission`).
    pub fn opened(&self) {
        self.open.fetch_add(1, Ordering::AcqRel);
    }

    pub fn close(&self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }

    /// (code, requests answered with it).
    pub fn requests(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        CODES
            .iter()
            .zip(&self.requests)
            .map(|(&c, n)| (c, n.load(Ordering::Relaxed)))
    }

    /// (reason, connections closed for it).
    pub fn rejections(&self) -> impl Iterator<Item = (Reject, u64)> + '_ {
        Reject::ALL
            .iter()
            .zip(&self.rejected)
            .map(|(&r, n)| (r, n.load(Ordering::Relaxed)))
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up() {
        let s = ListenerStats::default();
        s.opened();
        s.opened();
        s.opened();
        s.close();
        assert_eq!(s.open(), 2);
        s.answered(200);
        s.answered(200);
        s.answered(418);
        s.rejected(Reject::Oversize);
        assert_eq!(s.requests().find(|r| r.0 == 200), Some((200, 2)));
        assert_eq!(s.requests().map(|r| r.1).sum::<u64>(), 2);
        assert_eq!(
            s.rejections()
                .find(|r| r.0 == Reject::Oversize)
                .map(|r| r.1),
            Some(1)
        );
        let labels: std::collections::HashSet<_> = Reject::ALL.iter().map(|r| r.label()).collect();
        assert_eq!(labels.len(), Reject::ALL.len());
        assert!(Reject::ALL
            .iter()
            .enumerate()
            .all(|(i, r)| *r as usize == i));
    }
}
