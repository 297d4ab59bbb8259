//! Who gets a connection slot on the metrics listener, so that one hostile source cannot keep
//! `/metrics` and `/healthz` from everyone else: at most [`Limits::max_connections`] open, at
//! most [`Limits::max_per_source`] from one source, and when the listener is full a newcomer
//! may take the slot of the longest-waiting connection (one waiting for a request head, idle
//! or slow, never one being answered) of the source holding the most: always when the
//! newcomer's source holds none (so a scraper always gets in), otherwise only if that source
//! holds at least two more than the newcomer's (so shares even out instead of two sources
//! taking the same slot from each other forever). The listener's capacity is shared, not
//! first come first served.
//!
//! A source is an IPv4 address, or an IPv6 /64 (one host's usual allocation, so stepping
//! through its addresses does not multiply its share). Everything here runs on the
//! `mc-metrics` thread; the lock is never contended and held for a table look-up only.
//!
//! [`Limits::max_connections`]: super::Limits::max_connections
//! [`Limits::max_per_source`]: super::Limits::max_per_source
#![forbid(unsafe_code)]
use super::listener_stats::Reject;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// The source a peer address counts against.
fn source_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        },
    }
}

/// One admitted connection, as the table and its task see it.
pub(super) struct Slot {
    id: u64,
    source: IpAddr,
    /// Set while a request of the connection is being answered: such a connection is never
    /// evicted (its client is doing what a client should).
    busy: AtomicBool,
    /// When the connection began to wait for a request head (admission, or the end of its
    /// previous answer), in ms since the table's start: the eviction order.
    waiting_since_ms: AtomicU64,
    /// Told when a newcomer has taken the slot: the connection's task closes it.
    evict: tokio::sync::Notify,
}

impl Slot {
    /// A request head is complete and its answer is being made.
    pub(super) fn answering(&self) {
        self.busy.store(true, Ordering::Relaxed);
    }

    /// Resolves once the slot has been given to a newcomer.
    pub(super) async fn evicted(&self) {
        self.evict.notified().await;
    }
}

#[derive(Default)]
struct Table {
    next_id: u64,
    total: usize,
    by_source: HashMap<IpAddr, Vec<Arc<Slot>>>,
}

/// The listener's admission table.
pub(super) struct Admission {
    max_total: usize,
    max_per_source: usize,
    start: Instant,
    table: Mutex<Table>,
}

/// A connection's claim on its slot; dropping it (the connection's task ending) frees it.
pub(super) struct Ticket {
    admission: Arc<Admission>,
    slot: Arc<Slot>,
}

/// What [`Admission::admit`] decided for a new connection.
pub(super) enum Admit {
    /// Take the slot; `evicted` when another source's waiting connection was closed for it.
    Open { ticket: Ticket, evicted: bool },
    /// Close it at once, counted under this reason (`per_source` or `cap`).
    Refuse(Reject),
}

impl Admission {
    pub(super) fn new(max_total: usize, max_per_source: usize) -> Arc<Self> {
        Arc::new(Admission {
            max_total: max_total.max(1),
            max_per_source: max_per_source.max(1),
            start: Instant::now(),
            table: Mutex::new(Table::default()),
        })
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // A panic elsewhere while holding it leaves a consistent table (no partial updates).
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Decides for a connection from `peer`.
    pub(super) fn admit(self: &Arc<Self>, peer: IpAddr) -> Admit {
        let source = source_of(peer);
        let mut t = self.table();
        let holds = t.by_source.get(&source).map_or(0, Vec::len);
        if holds >= self.max_per_source {
            return Admit::Refuse(Reject::PerSource);
        }
        let mut evicted = false;
        if t.total >= self.max_total {
            match Self::victim(&t, holds) {
                Some(v) => {
                    Self::remove(&mut t, &v);
                    v.evict.notify_one();
                    evicted = true;
                }
                None => return Admit::Refuse(Reject::Cap),
            }
        }
        let slot = Arc::new(Slot {
            id: t.next_id,
            source,
            busy: AtomicBool::new(false),
            waiting_since_ms: AtomicU64::new(self.now_ms()),
            evict: tokio::sync::Notify::new(),
        });
        t.next_id += 1;
        t.total += 1;
        t.by_source
            .entry(source)
            .or_default()
            .push(Arc::clone(&slot));
        Admit::Open {
            ticket: Ticket {
                admission: Arc::clone(self),
                slot,
            },
            evicted,
        }
    }

    /// The connection to close for a newcomer whose source holds `holds`: the longest-waiting
    /// one of the source holding the most, if that source holds any when the newcomer's holds
    /// none, or at least two more than the newcomer's otherwise (so a source never evicts its
    /// own, and a swap never just moves the imbalance from one source to the other).
    fn victim(t: &Table, holds: usize) -> Option<Arc<Slot>> {
        let least = if holds == 0 { 1 } else { holds + 2 };
        let mut best: Option<(usize, u64, &Arc<Slot>)> = None;
        for slots in t.by_source.values() {
            if slots.len() < least {
                continue;
            }
            let oldest = slots
                .iter()
                .filter(|s| !s.busy.load(Ordering::Relaxed))
                .min_by_key(|s| s.waiting_since_ms.load(Ordering::Relaxed));
            if let Some(s) = oldest {
                let key = (slots.len(), s.waiting_since_ms.load(Ordering::Relaxed));
                let better =
                    best.is_none_or(|(n, since, _)| key.0 > n || (key.0 == n && key.1 < since));
                if better {
                    best = Some((key.0, key.1, s));
                }
            }
        }
        best.map(|(_, _, s)| Arc::clone(s))
    }

    /// Takes `slot` out of the table (no-op if an eviction already did).
    fn remove(t: &mut Table, slot: &Slot) {
        let Some(slots) = t.by_source.get_mut(&slot.source) else {
            return;
        };
        let Some(i) = slots.iter().position(|s| s.id == slot.id) else {
            return;
        };
        slots.swap_remove(i);
        t.total -= 1;
        if slots.is_empty() {
            t.by_source.remove(&slot.source);
        }
    }
}

impl Ticket {
    pub(super) fn slot(&self) -> &Slot {
        &self.slot
    }

    /// The connection's answer is done: it waits for its next request head from now.
    pub(super) fn answered(&self) {
        self.slot
            .waiting_since_ms
            .store(self.admission.now_ms(), Ordering::Relaxed);
        self.slot.busy.store(false, Ordering::Relaxed);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        Admission::remove(&mut self.admission.table(), &self.slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn open(a: &Arc<Admission>, peer: &str) -> (Ticket, bool) {
        match a.admit(ip(peer)) {
            Admit::Open { ticket, evicted } => (ticket, evicted),
            Admit::Refuse(r) => panic!("{peer} refused: {r:?}"),
        }
    }

    fn refused(a: &Arc<Admission>, peer: &str) -> Reject {
        match a.admit(ip(peer)) {
            Admit::Open { .. } => panic!("{peer} admitted"),
            Admit::Refuse(r) => r,
        }
    }

    fn total(a: &Admission) -> usize {
        a.table().total
    }

    #[test]
    fn a_source_gets_its_share_and_no_more() {
        let a = Admission::new(32, 3);
        let held: Vec<_> = (0..3).map(|_| open(&a, "10.0.0.1")).collect();
        assert!(held.iter().all(|(_, evicted)| !evicted));
        assert_eq!(refused(&a, "10.0.0.1"), Reject::PerSource);
        // The same host over IPv4-mapped IPv6 is the same source; another /64 is not, and
        // every address of one /64 is one source.
        assert_eq!(refused(&a, "::ffff:10.0.0.1"), Reject::PerSource);
        let _v6: Vec<_> = (1..=3)
            .map(|i| open(&a, &format!("2001:db8:0:1::{i}")))
            .collect();
        assert_eq!(refused(&a, "2001:db8:0:1:ffff::9"), Reject::PerSource);
        let _other = open(&a, "2001:db8:0:2::1");
        drop(held);
        let _again = open(&a, "10.0.0.1");
        assert_eq!(total(&a), 5);
    }

    #[test]
    fn when_full_a_newcomer_takes_the_oldest_waiting_slot_of_the_biggest_holder() {
        let a = Admission::new(4, 8);
        let (big_oldest, _) = open(&a, "10.0.0.1");
        let (big_busy, _) = open(&a, "10.0.0.1");
        let (_big_newest, _) = open(&a, "10.0.0.1");
        let (_small, _) = open(&a, "10.0.0.2");
        // The oldest one is being answered: it is kept, the next oldest goes.
        big_oldest.slot().answering();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let (newcomer, evicted) = open(&a, "10.0.0.3");
        assert!(evicted);
        assert_eq!(total(&a), 4);
        let table = a.table();
        let big = &table.by_source[&ip("10.0.0.1")];
        assert_eq!(big.len(), 2);
        assert!(big.iter().any(|s| s.id == big_oldest.slot().id));
        assert!(!big.iter().any(|s| s.id == big_busy.slot().id));
        drop(table);
        // The victim's task learns of it (a permit waits for it).
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(1), big_busy.slot().evicted())
                .await
                .expect("the evicted connection is told");
        });
        // Dropping the evicted ticket later does not free anyone else's slot.
        drop(big_busy);
        assert_eq!(total(&a), 4);
        // Done answering, the oldest waits from now: the other one of its source goes first.
        big_oldest.answered();
        let (_n2, evicted) = open(&a, "10.0.0.4");
        assert!(evicted);
        assert_eq!(
            a.table().by_source[&ip("10.0.0.1")][0].id,
            big_oldest.slot().id
        );
        drop(newcomer);
    }

    #[test]
    fn a_newcomer_holding_none_gets_in_and_shares_even_out_without_churn() {
        let a = Admission::new(6, 8);
        let _held: Vec<_> = (0..3)
            .flat_map(|_| [open(&a, "10.0.0.1"), open(&a, "10.0.0.2")])
            .collect();
        // 3 and 3: a source never evicts its own or an equal holder.
        assert_eq!(refused(&a, "10.0.0.1"), Reject::Cap);
        // A source holding none gets in: 3, 2, 1.
        let (_t, evicted) = open(&a, "10.0.0.3");
        assert!(evicted);
        // Holding 1, it may still take from the holder of 3 (two more): 2, 2, 2.
        let (_u, evicted) = open(&a, "10.0.0.3");
        assert!(evicted);
        // Now nobody holds two more than anybody else: no more swaps among them...
        for s in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
            assert_eq!(refused(&a, s), Reject::Cap);
        }
        // ... but a fourth source still gets in, even when every source holds just one.
        let (_v, evicted) = open(&a, "10.0.0.4");
        assert!(evicted);
        assert_eq!(total(&a), 6);
        let b = Admission::new(2, 8);
        let _x = open(&b, "10.0.0.1");
        let _y = open(&b, "10.0.0.2");
        assert!(open(&b, "10.0.0.3").1);
    }

    #[test]
    fn when_every_connection_is_being_answered_a_newcomer_is_refused() {
        let a = Admission::new(2, 8);
        let (x, _) = open(&a, "10.0.0.1");
        let (y, _) = open(&a, "10.0.0.1");
        x.slot().answering();
        y.slot().answering();
        assert_eq!(refused(&a, "10.0.0.2"), Reject::Cap);
    }
}
