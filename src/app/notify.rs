//! systemd's notification protocol (`sd_notify`), without libsystemd: one datagram per state
//! to the socket in `NOTIFY_SOCKET` (a path, or an abstract name after `@`). `run` sends
//! `READY=1` once the workers poll, `WATCHDOG=1` from the control loop about once a second but
//! only while every worker polls (so `WatchdogSec=` in mirrorcap.service restarts a wedged
//! appliance, while a merely busy one keeps its service), and `STOPPING=1` at stop. Without
//! `NOTIFY_SOCKET` (not under systemd) nothing is sent.
#![forbid(unsafe_code)]
use std::os::unix::net::UnixDatagram;

pub struct Notifier {
    sock: UnixDatagram,
    addr: std::os::unix::net::SocketAddr,
}

impl Notifier {
    /// The notifier of `NOTIFY_SOCKET`, if systemd gave one.
    pub fn from_env() -> Option<Self> {
        Self::new(&std::env::var("NOTIFY_SOCKET").ok()?)
    }

    pub fn new(socket: &str) -> Option<Self> {
        use std::os::linux::net::SocketAddrExt;
        let addr = match socket.strip_prefix('@') {
            Some(name) => std::os::unix::net::SocketAddr::from_abstract_name(name).ok()?,
            None if socket.starts_with('/') => {
                std::os::unix::net::SocketAddr::from_pathname(socket).ok()?
            }
            None => return None,
        };
        Some(Notifier {
            sock: UnixDatagram::unbound().ok()?,
            addr,
        })
    }

    /// Sends `state` (e.g. `WATCHDOG=1`); a failure is ignored: systemd's side of a watchdog
    /// notices on its own, and nothing else depends on it.
    pub fn send(&self, state: &str) {
        let _ = self.sock.send_to_addr(state.as_bytes(), &self.addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_reach_the_socket_as_datagrams() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("notify");
        let rx = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::new(path.to_str().unwrap()).unwrap();
        n.send("READY=1");
        n.send("WATCHDOG=1");
        let mut buf = [0u8; 64];
        let k = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..k], b"READY=1");
        let k = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..k], b"WATCHDOG=1");
        assert!(Notifier::new("relative").is_none());
        assert!(Notifier::new("@mirrorcap-test-abstract").is_some());
    }
}
