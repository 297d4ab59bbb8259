//! The `run` status line: on a terminal, one line a second rewritten in place (rates in,
//! captured, drops, NIC misses); off a terminal (a service's journal), one line a minute.
#![forbid(unsafe_code)]
use crate::dpdk::NicStats;
use crate::pipeline::StatSlot;
use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Default)]
struct Totals {
    rx: u64,
    captured: u64,
    captured_bytes: u64,
    dropped: u64,
}

impl Totals {
    fn read(slots: &[StatSlot]) -> Self {
        let mut t = Totals::default();
        for s in slots {
            t.rx += s.rx_packets.load(Ordering::Relaxed);
            t.captured += s.captured_packets.load(Ordering::Relaxed);
            t.captured_bytes += s.captured_bytes.load(Ordering::Relaxed);
            t.dropped += s
                .drops
                .iter()
                .map(|d| d.load(Ordering::Relaxed))
                .sum::<u64>();
        }
        t
    }
}

/// Prints the periodic status line; `finish` ends a terminal's rewritten line.
pub struct StatusLine {
    tty: bool,
    every: Duration,
    last: Instant,
    prev: Totals,
    printed: bool,
}

fn rate(n: u64, secs: f64) -> String {
    let r = n as f64 / secs.max(1e-9);
    if r >= 1e6 {
        format!("{:.2} Mpps", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1} kpps", r / 1e3)
    } else {
        format!("{r:.0} pps")
    }
}

impl Default for StatusLine {
    fn default() -> Self {
        Self::new()
    }
}

impl StatusLine {
    pub fn new() -> Self {
        let tty = std::io::stderr().is_terminal();
        StatusLine {
            tty,
            every: if tty {
                Duration::from_secs(1)
            } else {
                Duration::from_secs(60)
            },
            last: Instant::now(),
            prev: Totals::default(),
            printed: false,
        }
    }

    /// Prints a line when its interval has passed.
    pub fn tick(&mut self, slots: &[StatSlot], nic: &NicStats) {
        let dt = self.last.elapsed();
        if dt < self.every {
            return;
        }
        let now = Totals::read(slots);
        let secs = dt.as_secs_f64();
        let gbps = (now.captured_bytes - self.prev.captured_bytes.min(now.captured_bytes)) as f64
            * 8.0
            / secs
            / 1e9;
        let line = format!(
            "mirrorcap: in {}, captured {} ({gbps:.2} Gbit/s), dropped {} (total {}), NIC missed {} nombuf {}",
            rate(now.rx.saturating_sub(self.prev.rx), secs),
            rate(now.captured.saturating_sub(self.prev.captured), secs),
            rate(now.dropped.saturating_sub(self.prev.dropped), secs),
            now.dropped,
            nic.imissed,
            nic.rx_nombuf,
        );
        let mut err = std::io::stderr().lock();
        let _ = if self.tty {
            write!(err, "\r\x1b[K{line}")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
        self.printed = true;
        self.prev = now;
        self.last = Instant::now();
    }

    /// Ends the rewritten line on a terminal so the next message starts on its own line.
    pub fn finish(&mut self) {
        if self.tty && self.printed {
            eprintln!();
            self.printed = false;
        }
    }
}
