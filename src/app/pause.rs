//! Parking the workers at a burst boundary while the control lcore reconfigures the port (a
//! device reset): the control side raises [`PortPause::hold`], each worker sees it between two
//! bursts (one relaxed load per loop, no lock on the hot path), publishes its counters and
//! waits, owning no mbuf and in no RX call, until [`PortPause::release`]. The ring is left as
//! it is: a parked worker keeps its live segment open.
#![forbid(unsafe_code)]
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub struct PortPause {
    requested: AtomicBool,
    parked: Vec<AtomicBool>,
}

impl PortPause {
    pub fn new(workers: usize) -> Self {
        PortPause {
            requested: AtomicBool::new(false),
            parked: (0..workers).map(|_| AtomicBool::new(false)).collect(),
        }
    }

    /// Worker side: whether to park now.
    #[inline]
    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::Relaxed)
    }

    /// Worker side: parks worker `w` until released (or stopped). Sleeps in short steps: a
    /// reset takes milliseconds to seconds, and a parked worker has nothing to poll.
    pub fn park(&self, w: usize, stop: &AtomicBool) {
        self.parked[w].store(true, Ordering::Release);
        while self.requested.load(Ordering::Acquire) && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_micros(200));
        }
        self.parked[w].store(false, Ordering::Release);
    }

    /// Control side: asks every worker to park and waits until each has (or has `finished`)
    /// for up to `timeout`; false if one did not (it is stuck in a burst: the port must not be
    /// touched).
    pub fn hold(&self, finished: impl Fn(usize) -> bool, timeout: Duration) -> bool {
        self.requested.store(true, Ordering::Release);
        let deadline = Instant::now() + timeout;
        loop {
            let all = (0..self.parked.len())
                .all(|w| self.parked[w].load(Ordering::Acquire) || finished(w));
            if all {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Control side: lets the workers poll again.
    pub fn release(&self) {
        self.requested.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn workers_park_until_released() {
        let p = Arc::new(PortPause::new(2));
        let stop = Arc::new(AtomicBool::new(false));
        let polls = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let (p, stop, polls) = (p.clone(), stop.clone(), polls.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        if p.requested() {
                            p.park(w, &stop);
                        }
                        polls.fetch_add(1, Ordering::Relaxed);
                        std::thread::yield_now();
                    }
                })
            })
            .collect();
        assert!(p.hold(|_| false, Duration::from_secs(5)));
        let before = polls.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(50));
        // Parked: at most the burst each was in when asked.
        assert!(polls.load(Ordering::Relaxed) <= before + 2);
        p.release();
        std::thread::sleep(Duration::from_millis(50));
        assert!(polls.load(Ordering::Relaxed) > before + 2, "polling again");
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            w.join().unwrap();
        }
        // A worker that never parks (stuck in a burst) makes hold give up.
        let stuck = PortPause::new(1);
        assert!(!stuck.hold(|_| false, Duration::from_millis(20)));
        assert!(
            stuck.hold(|_| true, Duration::from_millis(20)),
            "a finished worker counts"
        );
    }
}
