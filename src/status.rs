//! The `run` status line: on a terminal, one line a second rewritten in place (rates in,
//! captured, drops, NIC misses, ring retention); off a terminal (a service's journal), one
//! line every `--log-interval` (a minute by default).
#![forbid(unsafe_code)]
use crate::control::Sample;
use crate::pipeline::PublishedStats;
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
    fn read(slots: &[PublishedStats]) -> Self {
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

/// A span of seconds as `5ms`, `2.4s`, `45s`, `12m30s`, `3h05m`.
pub fn human_span(secs: f64) -> String {
    let secs = secs.max(0.0);
    if secs < 1.0 {
        return format!("{:.0}ms", secs * 1e3);
    }
    if secs < 10.0 {
        return format!("{secs:.1}s");
    }
    let s = secs.round() as u64;
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

impl StatusLine {
    /// `log_every`: the interval off a terminal (on a terminal the line is rewritten each
    /// second).
    pub fn new(log_every: Duration) -> Self {
        let tty = std::io::stderr().is_terminal();
        StatusLine {
            tty,
            every: if tty {
                Duration::from_secs(1)
            } else {
                log_every
            },
            last: Instant::now(),
            prev: Totals::default(),
            printed: false,
        }
    }

    /// Prints a line when its interval has passed.
    pub fn tick(&mut self, slots: &[PublishedStats], sample: &Sample) {
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
        let nic = &sample.nic;
        let line = format!(
            "mirrorcap: in {}, captured {} ({gbps:.2} Gbit/s), dropped {} (total {}), NIC missed {} nombuf {}, ring holds {}",
            rate(now.rx.saturating_sub(self.prev.rx), secs),
            rate(now.captured.saturating_sub(self.prev.captured), secs),
            rate(now.dropped.saturating_sub(self.prev.dropped), secs),
            now.dropped,
            nic.imissed,
            nic.rx_nombuf,
            sample
                .min_retention_s()
                .map(human_span)
                .unwrap_or_else(|| "nothing yet".into()),
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

#[cfg(test)]
mod tests {
    use super::human_span;

    #[test]
    fn spans_read_at_a_glance() {
        assert_eq!(human_span(0.0053), "5ms");
        assert_eq!(human_span(2.44), "2.4s");
        assert_eq!(human_span(59.0), "59s");
        assert_eq!(human_span(750.0), "12m30s");
        assert_eq!(human_span(3600.0 * 3.0 + 300.0), "3h05m");
    }
}
