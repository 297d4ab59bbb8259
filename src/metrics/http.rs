//! The metrics listener: `/metrics` (Prometheus text format) and `/healthz`, nothing else.
//! Served by tiny_http, polled from the control loop so every request is answered on the
//! control core between its other duties.
use std::net::SocketAddr;
use std::time::Duration;
use tiny_http::{Header, Response, Server};

/// What `/healthz` reports: healthy only when every part is.
#[derive(Clone, Debug, Default)]
pub struct HealthState {
    pub problems: Vec<String>,
}

pub struct MetricsServer {
    server: Server,
    addr: SocketAddr,
}

impl MetricsServer {
    /// Binds the listener; the error names the address (busy port, bad address).
    pub fn bind(addr: &str) -> Result<Self, String> {
        let server =
            Server::http(addr).map_err(|e| format!("--metrics-addr {addr}: cannot listen: {e}"))?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| format!("--metrics-addr {addr}: not an IP listener"))?;
        Ok(MetricsServer { server, addr })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers the requests that arrive within `wait`. `render` is called per scrape.
    pub fn serve_for(
        &self,
        wait: Duration,
        render: &mut dyn FnMut() -> Vec<u8>,
        health: &dyn Fn() -> HealthState,
    ) {
        let deadline = std::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let req = match self.server.recv_timeout(left) {
                Ok(Some(r)) => r,
                _ => return,
            };
            let path = req.url().split('?').next().unwrap_or("").to_string();
            let resp = match (req.method(), path.as_str()) {
                (tiny_http::Method::Get, "/metrics") => Response::from_data(render()).with_header(
                    Header::from_bytes("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                        .expect("static header"),
                ),
                (tiny_http::Method::Get, "/healthz") => {
                    let h = health();
                    if h.problems.is_empty() {
                        Response::from_data(b"ok\n".to_vec())
                    } else {
                        Response::from_data(
                            format!("unhealthy: {}\n", h.problems.join("; ")).into_bytes(),
                        )
                        .with_status_code(503)
                    }
                }
                (tiny_http::Method::Get, _) => {
                    Response::from_data(b"not found: try /metrics or /healthz\n".to_vec())
                        .with_status_code(404)
                }
                _ => Response::from_data(b"method not allowed\n".to_vec()).with_status_code(405),
            };
            let _ = req.respond(resp);
        }
    }
}
