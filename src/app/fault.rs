//! What happens when something inside `run` panics, and the one fault that can be injected to
//! test it.
//!
//! There is no panic path in normal operation. Should one happen anyway (a bug), the process
//! must not go on half-working: the panic hook prints one line naming the thread (worker N,
//! the ring helper, the control core) and the message, then aborts, in every build profile
//! (release has `panic = "abort"`; debug builds behave the same). The service's
//! `Restart=always` starts it again, and the next start recovers the ring as after a kill.
//!
//! Test hook: `MIRRORCAP_FAULT=worker-panic:N` makes worker N panic once it has processed
//! 64 bursts. It is read once at start; any other value of the variable is refused (exit 2),
//! so it cannot be set by accident and go unnoticed.
#![forbid(unsafe_code)]
use std::cell::Cell;

/// The environment variable read at start.
pub const FAULT_ENV: &str = "MIRRORCAP_FAULT";

/// A fault injected for a test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Worker N panics after 64 bursts.
    WorkerPanic(usize),
}

/// Reads [`FAULT_ENV`]: None when unset or empty.
pub fn from_env() -> Result<Option<Fault>, String> {
    match std::env::var(FAULT_ENV) {
        Err(_) => Ok(None),
        Ok(v) if v.is_empty() => Ok(None),
        Ok(v) => parse(&v).map(Some),
    }
}

fn parse(v: &str) -> Result<Fault, String> {
    v.strip_prefix("worker-panic:")
        .and_then(|n| n.parse().ok())
        .map(Fault::WorkerPanic)
        .ok_or_else(|| {
            format!("{FAULT_ENV}={v}: unknown fault (the test hook takes worker-panic:N); unset it")
        })
}

thread_local! {
    /// The worker this thread runs (set once on each worker lcore).
    static WORKER: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Marks the calling thread as worker `w` (named in a panic's line).
pub fn set_worker(w: usize) {
    WORKER.with(|c| c.set(Some(w)));
}

/// Installs the panic hook: one line on stderr, then abort.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let who = match WORKER.with(|c| c.get()) {
            Some(w) => format!("worker {w}"),
            None => match std::thread::current().name() {
                Some("main") | None => "the control core".to_string(),
                Some(n) => format!("thread {n}"),
            },
        };
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "mirrorcap: fatal: {who} panicked{at}: {msg}; aborting (a restart recovers the ring)"
        );
        std::process::abort();
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_documented_fault_parses() {
        assert_eq!(parse("worker-panic:1"), Ok(Fault::WorkerPanic(1)));
        for bad in ["worker-panic", "worker-panic:x", "panic", "worker-panic:-1"] {
            assert!(parse(bad).unwrap_err().contains(FAULT_ENV), "{bad}");
        }
    }
}
