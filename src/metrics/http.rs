//! The metrics listener: `/metrics` (Prometheus text format) and `/healthz`, nothing else.
//! HTTP is hyper's (HTTP/1.1 only) on a one-thread tokio runtime in its own thread,
//! `mc-metrics`, which enforces the limits ([`Limits`]): a connection cap, a header size
//! limit, a header read timeout and a connection lifetime. The answers themselves come from
//! the control loop: each request is handed over a channel and [`MetricsServer::serve_for`],
//! called by the control loop between its other duties, renders it there. So a scrape is as
//! fresh as on a direct call, a slow or hostile client only ever holds the `mc-metrics`
//! thread's attention, and workers are never touched.
use super::listener;
use super::listener_stats::ListenerStats;
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Largest request head (request line and headers) accepted, in bytes: hyper's read buffer
/// limit (and its minimum). A larger head is answered 431 and the connection closed.
pub const MAX_HEAD_BYTES: usize = 8192;

/// The listener's limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections open at once; one more is closed right after accept (counted `cap`).
    pub max_connections: usize,
    /// A connection must deliver a complete request head this soon after it opens or after
    /// its previous response (so this is also the keep-alive idle limit).
    pub header_timeout: Duration,
    /// A connection is shut down (gracefully: the response in flight finishes, for at most
    /// [`Limits::grace`] more) this long after it opened, whatever it is doing.
    pub lifetime: Duration,
    /// How long a connection past its lifetime may take to finish its response.
    pub grace: Duration,
    /// How long a request waits for the control loop's answer before a 503.
    pub reply_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 32,
            header_timeout: Duration::from_secs(5),
            lifetime: Duration::from_secs(30),
            grace: Duration::from_secs(5),
            reply_timeout: Duration::from_secs(5),
        }
    }
}

/// What `/healthz` reports: healthy only when every part is.
#[derive(Clone, Debug, Default)]
pub struct HealthState {
    pub problems: Vec<String>,
}

/// Which answer a request needs from the control loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Endpoint {
    Metrics,
    Health,
}

/// A request handed to the control loop, and where its answer (status, body) goes.
pub(super) struct Job {
    pub endpoint: Endpoint,
    pub reply: tokio::sync::oneshot::Sender<(u16, Vec<u8>)>,
}

struct Running {
    thread: JoinHandle<()>,
    stop: tokio::sync::oneshot::Sender<()>,
}

pub struct MetricsServer {
    addr: SocketAddr,
    limits: Limits,
    stats: Arc<ListenerStats>,
    /// Until [`MetricsServer::start`] hands them to the `mc-metrics` thread.
    pending: Option<(TcpListener, mpsc::Sender<Job>)>,
    jobs: mpsc::Receiver<Job>,
    running: Option<Running>,
}

impl MetricsServer {
    /// Binds the listener; the error names the address (busy port, bad address). Nothing is
    /// served until [`MetricsServer::start`]: connections wait in the kernel's backlog.
    pub fn bind(addr: &str, limits: Limits) -> Result<Self, String> {
        let listener = TcpListener::bind(addr)
            .map_err(|e| format!("--metrics-addr {addr}: cannot listen: {e}"))?;
        let local = listener
            .local_addr()
            .map_err(|e| format!("--metrics-addr {addr}: cannot listen: {e}"))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("--metrics-addr {addr}: cannot listen: {e}"))?;
        let (tx, rx) = mpsc::channel();
        Ok(MetricsServer {
            addr: local,
            limits,
            stats: Arc::new(ListenerStats::default()),
            pending: Some((listener, tx)),
            jobs: rx,
            running: None,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The listener's counters (requests by code, early closes by reason, open connections).
    pub fn stats(&self) -> &ListenerStats {
        &self.stats
    }

    /// Starts the `mc-metrics` thread. It inherits the calling thread's CPU affinity, so call
    /// this from the control thread once the EAL has pinned it to the main lcore: the
    /// listener then shares the control core and never runs on a worker's.
    pub fn start(&mut self) -> Result<(), String> {
        let Some((listener, jobs)) = self.pending.take() else {
            return Ok(());
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| format!("metrics listener: cannot start its runtime: {e}"))?;
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let (limits, stats) = (self.limits, Arc::clone(&self.stats));
        let thread = std::thread::Builder::new()
            .name("mc-metrics".into())
            .spawn(move || {
                rt.block_on(listener::serve(listener, limits, stats, jobs, stopped));
            })
            .map_err(|e| format!("metrics listener: cannot start its thread: {e}"))?;
        self.running = Some(Running { thread, stop });
        Ok(())
    }

    /// Answers the requests that arrive within `wait` (returns after `wait`). `render` is
    /// called per scrape, `health` per health check.
    pub fn serve_for(
        &self,
        wait: Duration,
        render: &mut dyn FnMut() -> Vec<u8>,
        health: &dyn Fn() -> HealthState,
    ) {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let job = match self.jobs.recv_timeout(left) {
                Ok(j) => j,
                Err(mpsc::RecvTimeoutError::Timeout) => return,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // The listener thread is gone: keep the control loop's pace.
                    std::thread::sleep(left);
                    return;
                }
            };
            let answer = match job.endpoint {
                Endpoint::Metrics => (200, render()),
                Endpoint::Health => {
                    let h = health();
                    if h.problems.is_empty() {
                        (200, b"ok\n".to_vec())
                    } else {
                        (
                            503,
                            format!("unhealthy: {}\n", h.problems.join("; ")).into_bytes(),
                        )
                    }
                }
            };
            // The client may have gone (or timed out) meanwhile: nothing to do then.
            let _ = job.reply.send(answer);
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            let _ = r.stop.send(());
            let _ = r.thread.join();
        }
    }
}
