//! What happens when something inside `run` panics, and the one fault that can be injected to
//! test it.
//!
//! There is no panic path in normal operation. Should one happen anyway (a bug), the process
//! must not go on half-working: the panic hook prints one line naming the thread (worker N,
//! the ring helper, the control core) and the message, then aborts, in every build profile
//! (release has `panic = "abort"`; debug builds behave the same). The service's
//! `Restart=always` starts it again, and the next start recovers the ring as after a kill.
//!
//! Test hooks: `MIRRORCAP_FAULT=worker-panic:N` makes worker N panic once it has processed
//! 64 bursts; `MIRRORCAP_FAULT=worker-stall:N` makes it stop polling then (it sleeps until
//! the appliance stops: a wedged worker); `MIRRORCAP_FAULT=port-reset:S` raises a device reset request S seconds after
//! the workers start, as ENA's watchdog would (`RTE_ETH_EVENT_INTR_RESET`), so the whole
//! recovery (workers parked, the port reset or restarted and set up again) runs on a vdev. The
//! variable is read once at start; any other value is refused (exit 2), so it cannot be set by
//! accident and go unnoticed.
#![forbid(unsafe_code)]
use std::cell::Cell;

/// The environment variable read at start.
pub const FAULT_ENV: &str = "MIRRORCAP_FAULT";

/// A fault injected for a test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Worker N panics after 64 bursts.
    WorkerPanic(usize),
    /// A device reset request this many seconds after the workers start.
    PortReset(u64),
    /// Worker N stops polling after 64 bursts, until the appliance stops.
    WorkerStall(usize),
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
    let num = |p: &str| v.strip_prefix(p).and_then(|n| n.parse().ok());
    num("worker-panic:")
        .map(Fault::WorkerPanic)
        .or_else(|| num("port-reset:").map(|s| Fault::PortReset(s as u64)))
        .or_else(|| num("worker-stall:").map(Fault::WorkerStall))
        .ok_or_else(|| {
            format!(
                "{FAULT_ENV}={v}: unknown fault (the test hook takes worker-panic:N, worker-stall:N or port-reset:SECONDS); unset it"
            )
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
        assert_eq!(parse("port-reset:3"), Ok(Fault::PortReset(3)));
        assert_eq!(parse("worker-stall:0"), Ok(Fault::WorkerStall(0)));
        for bad in [
            "worker-panic",
            "worker-panic:x",
            "panic",
            "worker-panic:-1",
            "port-reset:",
        ] {
            assert!(parse(bad).unwrap_err().contains(FAULT_ENV), "{bad}");
        }
    }
}
