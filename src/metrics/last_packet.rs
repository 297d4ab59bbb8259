//! The "no traffic" signal, `mirrorcap_last_packet_timestamp_seconds`: when each worker last
//! received a packet. It costs the workers nothing: no timestamp is taken or stored per
//! packet; the control side compares each worker's published received counter (which it
//! reads at every scrape anyway) with the value it saw at the previous look, and when it has
//! moved, a packet arrived since then: the time of this look is recorded. So the value is
//! late by at most the time between two scrapes, which is what an alert over minutes needs.
#![forbid(unsafe_code)]
use std::sync::Mutex;

/// What the looks so far saw of one worker.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    rx: u64,
    at_s: Option<f64>,
}

/// Per worker, the received counter at the last look and when it last moved.
#[derive(Debug, Default)]
pub(super) struct LastPacket(Mutex<Vec<Seen>>);

impl LastPacket {
    /// Looks at `worker`'s received counter `rx` at Unix time `now_s`: when, as far as the
    /// looks can tell, it last received a packet (`None` before its first).
    pub(super) fn look(&self, worker: usize, rx: u64, now_s: f64) -> Option<f64> {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() <= worker {
            seen.resize(worker + 1, Seen::default());
        }
        let s = &mut seen[worker];
        // Any change, not only a rise: a counter that started again counts as traffic too.
        if rx != s.rx {
            s.rx = rx;
            s.at_s = Some(now_s);
        }
        s.at_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_with_the_counter_and_stays_when_it_stops() {
        let l = LastPacket::default();
        // Nothing received yet: no time.
        assert_eq!(l.look(0, 0, 100.0), None);
        assert_eq!(l.look(1, 0, 100.0), None);
        // Worker 1 received something by the second look; worker 0 did not.
        assert_eq!(l.look(0, 0, 115.0), None);
        assert_eq!(l.look(1, 7, 115.0), Some(115.0));
        // Worker 1 stopped: its time stays; worker 0 starts.
        assert_eq!(l.look(1, 7, 130.0), Some(115.0));
        assert_eq!(l.look(0, 3, 130.0), Some(130.0));
        assert_eq!(l.look(1, 7, 900.0), Some(115.0));
        // A worker first looked at with packets already counted (the first scrape after
        // traffic began) gets the time of that look.
        assert_eq!(l.look(5, 42, 901.0), Some(901.0));
        assert_eq!(l.look(3, 0, 901.0), None);
    }
}
