//! The metrics listener's server: [`MetricsServer`] binds `/metrics` and `/healthz`, runs
//! hyper (HTTP/1.1 only) on a one-thread tokio runtime in its own thread, `mc-metrics`, and
//! handles the connections there under the limits ([`Limits`]): a connection cap shared out
//! between sources (`admission`), a header size limit, a header read timeout and a connection
//! lifetime. What each request gets is
//! `routes`' business; the answers themselves come from the control loop: each request is
//! handed over a channel and [`MetricsServer::serve_for`], called by the control loop between
//! its other duties, renders it there. So a scrape is as fresh as on a direct call, a slow or
//! hostile client only ever holds the `mc-metrics` thread's attention, and workers are never
//! touched.
use super::admission::{Admission, Admit, Ticket};
use super::listener_stats::{ListenerStats, Reject};
use super::routes::{Endpoint, Job, Router};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Largest request head (request line and headers) accepted, in bytes: hyper's read buffer
/// limit (and its minimum). A larger head is answered 431 and the connection closed.
pub const MAX_HEAD_BYTES: usize = 8192;

/// The listener's limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections open at once. When they are all open, a newcomer takes the slot of the
    /// longest-waiting connection (one waiting for a request head) of the source holding the
    /// most, if that source holds more than the newcomer's (counted `evicted`); otherwise it
    /// is closed right after accept (counted `cap`).
    pub max_connections: usize,
    /// Connections open at once from one source (an IPv4 address or an IPv6 /64); one more is
    /// closed right after accept (counted `per_source`). 8 by default: Prometheus needs one
    /// per scrape, an HA pair or a person with curl a few more; a client that opens dozens is
    /// not scraping. Not a flag: with the eviction above, any value below the cap keeps a
    /// single source from filling the listener.
    pub max_per_source: usize,
    /// A connection must deliver a complete request head this soon after it opens or after
    /// its previous response (so this is also the keep-alive idle limit). 2 s: a scraper
    /// sends its head in one packet right after connecting, and the shorter this is, the
    /// sooner a slow-loris connection gives its slot back.
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
            max_per_source: 8,
            header_timeout: Duration::from_secs(2),
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

struct Running {
    thread: JoinHandle<()>,
    stop: tokio::sync::oneshot::Sender<()>,
}

pub struct MetricsServer {
    addr: SocketAddr,
    limits: Limits,
    stats: Arc<ListenerStats>,
    /// Until [`MetricsServer::start`] hands them to the `mc-metrics` thread.
    pending: Option<(std::net::TcpListener, mpsc::Sender<Job>)>,
    jobs: mpsc::Receiver<Job>,
    running: Option<Running>,
}

impl MetricsServer {
    /// Binds the listener; the error names the address (busy port, bad address). Nothing is
    /// served until [`MetricsServer::start`]: connections wait in the kernel's backlog.
    pub fn bind(addr: &str, limits: Limits) -> Result<Self, String> {
        let listener = std::net::TcpListener::bind(addr)
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
                rt.block_on(serve(listener, limits, stats, jobs, stopped));
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

/// Accepts and serves until `stop` fires (or its sender is dropped).
async fn serve(
    listener: std::net::TcpListener,
    limits: Limits,
    stats: Arc<ListenerStats>,
    jobs: mpsc::Sender<Job>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("mirrorcap: metrics listener stopped: {e}");
            return;
        }
    };
    let admission = Admission::new(limits.max_connections, limits.max_per_source);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut stop => return,
            r = listener.accept() => match r {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: let them drain, then accept again.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let ticket = match admission.admit(peer.ip()) {
            Admit::Open { ticket, evicted } => {
                if evicted {
                    stats.rejected(Reject::Evicted);
                }
                ticket
            }
            Admit::Refuse(why) => {
                stats.rejected(why);
                drop(stream);
                continue;
            }
        };
        stats.opened();
        tokio::spawn(connection(
            stream,
            ticket,
            http.clone(),
            limits,
            Arc::clone(&stats),
            jobs.clone(),
        ));
    }
}

/// Counts a connection closed when its task ends, however it ends (its [`Ticket`] gives the
/// slot back the same way).
struct ConnectionGuard(Arc<ListenerStats>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// What one connection's handler shares with its task.
struct Conn {
    router: Router,
    ticket: Ticket,
    /// Bytes read from the client so far.
    read: Arc<AtomicU64>,
    /// `read` when the last request head was complete; `u64::MAX` before the first.
    at_last_head: AtomicU64,
}

async fn connection(
    stream: TcpStream,
    ticket: Ticket,
    http: http1::Builder,
    limits: Limits,
    stats: Arc<ListenerStats>,
    jobs: mpsc::Sender<Job>,
) {
    let _slot = ConnectionGuard(Arc::clone(&stats));
    let read = Arc::new(AtomicU64::new(0));
    let conn = Arc::new(Conn {
        router: Router {
            stats: Arc::clone(&stats),
            jobs,
            reply_timeout: limits.reply_timeout,
        },
        ticket,
        read: Arc::clone(&read),
        at_last_head: AtomicU64::new(u64::MAX),
    });
    let io = TokioIo::new(Counted {
        inner: stream,
        read,
    });
    let handler = Arc::clone(&conn);
    let svc = hyper::service::service_fn(move |req| {
        let c = Arc::clone(&handler);
        async move {
            c.at_last_head
                .store(c.read.load(Ordering::Relaxed), Ordering::Relaxed);
            c.ticket.slot().answering();
            let resp = c.router.answer(req).await;
            c.ticket.answered();
            Ok::<_, Infallible>(resp)
        }
    });
    let mut served = std::pin::pin!(http.serve_connection(io, svc));
    let result = tokio::select! {
        r = served.as_mut() => r,
        // A newcomer took the slot (counted then); this connection was waiting for a request
        // head, so there is no answer to finish: dropping it closes it.
        _ = conn.ticket.slot().evicted() => return,
        _ = tokio::time::sleep(limits.lifetime) => {
            stats.rejected(Reject::Lifetime);
            served.as_mut().graceful_shutdown();
            tokio::time::timeout(limits.grace, served.as_mut()).await.unwrap_or(Ok(()))
        }
    };
    if let Err(e) = result {
        if e.is_parse_too_large() {
            stats.rejected(Reject::Oversize);
        } else if e.is_timeout() {
            // Idle after a complete request is keep-alive ending, not a rejection; a silent
            // client or one stuck in the middle of a request head is.
            let last = conn.at_last_head.load(Ordering::Relaxed);
            if last != conn.read.load(Ordering::Relaxed) {
                stats.rejected(Reject::Timeout);
            }
        }
    }
}

/// The client's stream, counting the bytes read (to tell a stalled request head from an
/// idle keep-alive connection when the header timeout fires).
struct Counted {
    inner: TcpStream,
    read: Arc<AtomicU64>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = (buf.filled().len() - before) as u64;
        self.read.fetch_add(n, Ordering::Relaxed);
        r
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
