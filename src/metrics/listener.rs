//! The `mc-metrics` thread's work: accepts connections up to the cap, serves each with
//! hyper's HTTP/1 server under the header size and time limits and the connection lifetime,
//! routes requests (GET/HEAD of `/metrics` and `/healthz` only, no request bodies) and hands
//! the answerable ones to the control loop ([`super::http::Job`]).
use super::http::{Endpoint, Job, Limits, MAX_HEAD_BYTES};
use super::listener_stats::{ListenerStats, Reject};
use http_body_util::Full;
use hyper::body::{Body, Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

const METRICS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
const TEXT_TYPE: &str = "text/plain; charset=utf-8";

/// Accepts and serves until `stop` fires (or its sender is dropped).
pub(super) async fn serve(
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
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    loop {
        let stream = tokio::select! {
            _ = &mut stop => return,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                // Out of file descriptors and the like: let them drain, then accept again.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        if !stats.try_open(limits.max_connections) {
            stats.rejected(Reject::Cap);
            drop(stream);
            continue;
        }
        tokio::spawn(connection(
            stream,
            http.clone(),
            limits,
            Arc::clone(&stats),
            jobs.clone(),
        ));
    }
}

/// Gives a connection's slot back when its task ends, however it ends.
struct Slot(Arc<ListenerStats>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// What one connection's handler shares with its task.
struct Conn {
    stats: Arc<ListenerStats>,
    jobs: mpsc::Sender<Job>,
    reply_timeout: Duration,
    /// Bytes read from the client so far.
    read: Arc<AtomicU64>,
    /// `read` when the last request head was complete; `u64::MAX` before the first.
    at_last_head: AtomicU64,
}

async fn connection(
    stream: TcpStream,
    http: http1::Builder,
    limits: Limits,
    stats: Arc<ListenerStats>,
    jobs: mpsc::Sender<Job>,
) {
    let _slot = Slot(Arc::clone(&stats));
    let read = Arc::new(AtomicU64::new(0));
    let conn = Arc::new(Conn {
        stats: Arc::clone(&stats),
        jobs,
        reply_timeout: limits.reply_timeout,
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
        async move { Ok::<_, Infallible>(c.answer(req).await) }
    });
    let mut served = std::pin::pin!(http.serve_connection(io, svc));
    let result = tokio::select! {
        r = served.as_mut() => r,
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

impl Conn {
    async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        self.at_last_head
            .store(self.read.load(Ordering::Relaxed), Ordering::Relaxed);
        let has_body = !req.body().is_end_stream();
        let (code, body, close) = match (req.method(), req.uri().path()) {
            (m, _) if m != Method::GET && m != Method::HEAD => (
                StatusCode::METHOD_NOT_ALLOWED,
                b"method not allowed: GET or HEAD\n".to_vec(),
                has_body,
            ),
            // Never read: the connection closes after the answer.
            _ if has_body => (
                StatusCode::PAYLOAD_TOO_LARGE,
                b"request bodies are not accepted\n".to_vec(),
                true,
            ),
            (_, "/metrics") => self.ask(Endpoint::Metrics).await,
            (_, "/healthz") => self.ask(Endpoint::Health).await,
            _ => (
                StatusCode::NOT_FOUND,
                b"not found: try /metrics or /healthz\n".to_vec(),
                false,
            ),
        };
        self.stats.answered(code.as_u16());
        let is_metrics = code == StatusCode::OK && req.uri().path() == "/metrics";
        let mut resp = Response::new(Full::new(Bytes::from(body)));
        *resp.status_mut() = code;
        let h = resp.headers_mut();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static(if is_metrics { METRICS_TYPE } else { TEXT_TYPE }),
        );
        if code == StatusCode::METHOD_NOT_ALLOWED {
            h.insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        }
        if close {
            h.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }

    /// The control loop's answer, or a 503 when it does not come in time.
    async fn ask(&self, endpoint: Endpoint) -> (StatusCode, Vec<u8>, bool) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let busy = |why: &str| {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("unavailable: {why}\n").into_bytes(),
                false,
            )
        };
        if self
            .jobs
            .send(Job {
                endpoint,
                reply: tx,
            })
            .is_err()
        {
            return busy("the control loop has stopped");
        }
        match tokio::time::timeout(self.reply_timeout, rx).await {
            Ok(Ok((code, body))) => (
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                body,
                false,
            ),
            Ok(Err(_)) => busy("the control loop has stopped"),
            Err(_) => busy("the control loop did not answer in time"),
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
