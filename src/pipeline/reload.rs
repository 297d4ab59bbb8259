//! Handing a new session set to running workers without stopping them (SIGHUP). The control
//! core builds each worker's set (a `WorkerSessions`; all allocation happens there), puts it in the
//! worker's mailbox and bumps the generation; each worker compares the generation with its own
//! once per burst (one relaxed load) and, when it moved, swaps the new set in at that burst
//! boundary and leaves the old one in the mailbox for the control core to free. The mailbox
//! lock is taken only on those two occasions, never per packet or per burst.
#![forbid(unsafe_code)]
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

struct Mailbox<T> {
    next: Option<Box<T>>,
    retired: Option<Box<T>>,
    /// The generation the worker runs.
    adopted: u64,
}

impl<T> Default for Mailbox<T> {
    fn default() -> Self {
        Mailbox {
            next: None,
            retired: None,
            adopted: 0,
        }
    }
}

/// Every worker's mailbox and the generation of the newest set.
pub struct Reload<T> {
    generation: AtomicU64,
    boxes: Vec<Mutex<Mailbox<T>>>,
}

impl<T> Reload<T> {
    pub fn new(workers: usize) -> Self {
        Reload {
            generation: AtomicU64::new(0),
            boxes: (0..workers)
                .map(|_| Mutex::new(Mailbox::default()))
                .collect(),
        }
    }

    /// The newest generation (workers compare it with theirs once per burst).
    #[inline(always)]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// Control core: hands one new set per worker (in worker order) and returns the new
    /// generation. Sets not yet taken from an earlier reload are replaced (freed here).
    pub fn publish(&self, sets: Vec<T>) -> u64 {
        assert_eq!(sets.len(), self.boxes.len(), "one set per worker");
        for (b, s) in self.boxes.iter().zip(sets) {
            let mut m = b.lock().unwrap_or_else(|p| p.into_inner());
            m.next = Some(Box::new(s));
        }
        self.generation.fetch_add(1, Ordering::Release) + 1
    }

    /// Worker `w`: swaps in the newest set if there is one; returns the generation it runs.
    pub fn adopt(&self, w: usize, current: &mut Box<T>) -> u64 {
        let g = self.generation.load(Ordering::Acquire);
        let mut m = self.boxes[w].lock().unwrap_or_else(|p| p.into_inner());
        if let Some(mut next) = m.next.take() {
            std::mem::swap(current, &mut next);
            // The old set goes back for the control core to free (no free on the worker).
            m.retired = Some(next);
        }
        m.adopted = g;
        g
    }

    /// Control core: frees sets the workers gave back; returns whether every worker runs
    /// generation `g` or newer.
    pub fn collect(&self, g: u64) -> bool {
        let mut all = true;
        for b in &self.boxes {
            let mut m = b.lock().unwrap_or_else(|p| p.into_inner());
            drop(m.retired.take());
            all &= m.adopted >= g;
        }
        all
    }
}
