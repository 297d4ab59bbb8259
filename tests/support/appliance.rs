//! The real `mirrorcap run` as a child process: a builder for its long argument lists, its
//! stderr collected as it runs, its metrics endpoint found from the line it prints, and the
//! replay of a capture through it end to end.
use super::tools::assert_readable_by_tools;
use super::{bin, export_ring, http_get, metric, read_pcap, read_pcap_records};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running appliance: the child, its stderr so far, and the metrics address it printed.
pub struct Appliance {
    child: Child,
    stderr: Arc<Mutex<String>>,
    pub metrics: String,
}

/// The arguments of one `mirrorcap run`, named as the CLI names them, so tests read as the
/// command line they run (`--metrics-addr 127.0.0.1:0` is always added).
#[derive(Default)]
pub struct Builder {
    args: Vec<String>,
    env: Vec<(String, String)>,
    wrap: Vec<String>,
}

impl Builder {
    /// `--vdev SPEC`.
    pub fn vdev(self, spec: impl Into<String>) -> Self {
        self.arg("--vdev").arg(spec)
    }

    /// A net_pcap vdev with one RX queue per file (queue `i` replays `inputs[i]`), each file
    /// replayed once, or forever when `infinite`.
    pub fn pcap_vdev(self, inputs: &[&Path], infinite: bool) -> Self {
        let mut spec = String::from("net_pcap0");
        for i in inputs {
            spec.push_str(&format!(",rx_pcap={}", i.display()));
        }
        if infinite {
            spec.push_str(",infinite_rx=1");
        }
        self.vdev(spec)
    }

    /// `--ring-dir DIR`.
    pub fn ring_dir(self, dir: &Path) -> Self {
        self.arg("--ring-dir").arg(dir.to_str().unwrap())
    }

    /// `--segments N`.
    pub fn segments(self, n: u32) -> Self {
        self.arg("--segments").arg(n.to_string())
    }

    /// `--segment-size SIZE` (e.g. "1MiB").
    pub fn segment_size(self, size: &str) -> Self {
        self.arg("--segment-size").arg(size)
    }

    /// `--workers N`.
    pub fn workers(self, n: u32) -> Self {
        self.arg("--workers").arg(n.to_string())
    }

    /// `--config FILE`.
    pub fn config(self, file: &Path) -> Self {
        self.arg("--config").arg(file.to_str().unwrap())
    }

    /// Any other argument, as is.
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    /// Other arguments, as they are.
    pub fn args(mut self, a: &[&str]) -> Self {
        self.args.extend(a.iter().map(|s| s.to_string()));
        self
    }

    /// Runs `mirrorcap run ARGS --metrics-addr 127.0.0.1:0` to completion, for the runs that
    /// must refuse to start: (status, stderr).
    pub fn run_to_exit(self) -> (ExitStatus, String) {
        let mut args: Vec<&str> = vec!["run"];
        args.extend(self.args.iter().map(String::as_str));
        args.extend(["--metrics-addr", "127.0.0.1:0"]);
        super::mirrorcap(&args)
    }

    /// Runs the appliance under `cmd` (e.g. `ip netns exec NS`).
    pub fn wrap(mut self, cmd: &[&str]) -> Self {
        self.wrap = cmd.iter().map(|s| s.to_string()).collect();
        self
    }

    /// An environment variable of the process (the archive's credentials and endpoint).
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    /// Starts `mirrorcap run ARGS --metrics-addr 127.0.0.1:0` and waits for its metrics line.
    pub fn start(self) -> Appliance {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        Appliance::start_wrapped(&args, &self.env, &self.wrap)
    }
}

impl Appliance {
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Starts `mirrorcap run ARGS --metrics-addr 127.0.0.1:0` and waits for its metrics line.
    pub fn start(args: &[&str]) -> Appliance {
        Self::start_with(args, &[])
    }

    /// [`Appliance::start`] with environment variables.
    pub fn start_with(args: &[&str], env: &[(String, String)]) -> Appliance {
        Self::start_wrapped(args, env, &[])
    }

    /// [`Appliance::start_with`] under a wrapper command (`wrap`, may be empty).
    pub fn start_wrapped(args: &[&str], env: &[(String, String)], wrap: &[String]) -> Appliance {
        let mut cmd = match wrap.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(bin());
                c
            }
            None => Command::new(bin()),
        };
        let mut child = cmd
            .envs(env.iter().map(|(k, v)| (k, v)))
            .arg("run")
            .args(args)
            .args(["--metrics-addr", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mirrorcap run");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().expect("stderr piped");
        let buf = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("metrics on http://").nth(1) {
                    let addr = rest.split('/').next().unwrap_or("").to_string();
                    let _ = tx.send(addr);
                }
                let mut b = buf.lock().unwrap();
                b.push_str(&line);
                b.push('\n');
            }
        });
        let metrics = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "mirrorcap did not start; stderr:\n{}",
                    stderr.lock().unwrap()
                );
            }
        };
        Appliance {
            child,
            stderr,
            metrics,
        }
    }

    /// Starts the appliance on a net_pcap vdev reading `input` (forever when `infinite`)
    /// into `ring`, a ring of `segments` x 1 MiB per worker, plus `extra` run arguments.
    pub fn on_pcap(
        input: &Path,
        ring: &Path,
        infinite: bool,
        segments: u32,
        extra: &[&str],
    ) -> Appliance {
        Appliance::builder()
            .pcap_vdev(&[input], infinite)
            .ring_dir(ring)
            .segment_size("1MiB")
            .segments(segments)
            .args(extra)
            .start()
    }

    /// Replays `input` forever (net_pcap infinite_rx): rotations and overwrites of a small
    /// ring happen within milliseconds.
    pub fn looping(input: &Path, ring: &Path, segments: u32, extra: &[&str]) -> Appliance {
        Appliance::on_pcap(input, ring, true, segments, extra)
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The process id (to read /proc/PID/status).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// GET `path` from the metrics listener: (status code, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(&self.metrics, path)
    }

    /// `/healthz` once it answers `code`, or its last answer after `wait`.
    pub fn healthz_within(&self, code: u16, wait: Duration) -> (u16, String) {
        let deadline = Instant::now() + wait;
        loop {
            let (c, body) = self.get("/healthz");
            if c == code || Instant::now() > deadline {
                return (c, body);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Polls /metrics until `done` holds for a scrape, and returns that scrape. Fails the test
    /// when `timeout` passes first, showing the last scrape and the stderr: a condition that
    /// never came true must not let the test go on as if it had.
    pub fn scrape_until(&self, timeout: Duration, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let (code, body) = self.get("/metrics");
            if done(&body) {
                return body;
            }
            if Instant::now() > deadline {
                panic!(
                    "/metrics did not reach the awaited state within {timeout:?}; last scrape \
                     (HTTP {code}):\n{body}\nstderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(st.success());
    }

    /// Waits for the process to exit by itself; kills it after `timeout` and fails.
    pub fn wait(mut self, timeout: Duration) -> (ExitStatus, String) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                std::thread::sleep(Duration::from_millis(100));
                return (st, self.stderr());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "mirrorcap did not exit within {timeout:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Appliance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What [`replay`] leaves: the last /metrics scrape, the exported pcap (inside `dir`) and its
/// records.
pub struct Replay {
    pub dir: tempfile::TempDir,
    pub export: PathBuf,
    pub metrics: String,
    pub records: Vec<(Vec<u8>, u32)>,
}

/// Replays `input` once through a net_pcap vdev with `extra` run arguments; waits until every
/// packet is counted, stops, exports the ring and checks the export reads cleanly.
pub fn replay(input: &Path, extra: &[&str]) -> Replay {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("ring");
    let export = dir.path().join("export.pcap");
    let total = read_pcap(input).len() as f64;
    let mut args = vec!["--exit-when-idle", "2s"];
    args.extend_from_slice(extra);
    let app = Appliance::on_pcap(input, &ring, false, 4, &args);
    let metrics = app.scrape_until(Duration::from_secs(30), |m| {
        metric(m, "mirrorcap_rx_packets_total", &[]) == Some(total)
    });
    let (st, err) = app.wait(Duration::from_secs(30));
    assert!(st.success(), "run failed: {err}");
    export_ring(&ring, &export, &[]);
    assert_readable_by_tools(&export);
    let records = read_pcap_records(&export);
    Replay {
        dir,
        export,
        metrics,
        records,
    }
}
