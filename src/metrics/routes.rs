//! What each request to the metrics listener gets: GET or HEAD of `/metrics` and `/healthz`
//! only, no request bodies, everything else a 404, 405 or 413; the answerable requests are
//! handed to the control loop as [`Job`]s and their answer (or a 503 when it does not come in
//! time) is the response. Knows nothing of connections: `server` calls [`Router::answer`] per
//! request.
use super::listener_stats::ListenerStats;
use http_body_util::Full;
use hyper::body::{Body, Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use std::sync::{mpsc, Arc};
use std::time::Duration;

const METRICS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
const TEXT_TYPE: &str = "text/plain; charset=utf-8";

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

/// Answers requests: one per connection, shared by its requests.
pub(super) struct Router {
    pub stats: Arc<ListenerStats>,
    pub jobs: mpsc::Sender<Job>,
    pub reply_timeout: Duration,
}

impl Router {
    /// The response to `req`; its status is counted in the listener's stats.
    pub(super) async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
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
