//! Helpers shared by the integration tests: running the real `mirrorcap` binary, reading its
//! stderr, scraping its metrics endpoint, and running the external reference tools.
#![allow(dead_code)]
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mirrorcap")
}

/// The third-party corpus shared with the project (read in place, never copied).
pub fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/testdata/pcaps")
        .join(name)
}

/// Runs `mirrorcap ARGS` to completion; returns status and stderr.
pub fn mirrorcap(args: &[&str]) -> (ExitStatus, String) {
    let out = Command::new(bin())
        .args(args)
        .output()
        .expect("run mirrorcap");
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A running appliance: the child, its stderr so far, and the metrics address it printed.
pub struct Appliance {
    child: Child,
    stderr: Arc<Mutex<String>>,
    pub metrics: String,
}

impl Appliance {
    /// Starts `mirrorcap run ARGS --metrics-addr 127.0.0.1:0` and waits for its metrics line.
    pub fn start(args: &[&str]) -> Appliance {
        let mut child = Command::new(bin())
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

    /// Polls /metrics until `done` holds for the scrape or `timeout` passes; returns the last
    /// scrape.
    pub fn scrape_until(&self, timeout: Duration, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let (_, body) = self.get("/metrics");
            if done(&body) || Instant::now() > deadline {
                return body;
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

/// A minimal HTTP/1.0 GET for the tests (the server under test is hyper).
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = match TcpStream::connect(addr) {
        Ok(s) => s,
        Err(_) => return (0, String::new()),
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let code = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// The value of the sample `name{labels}` in Prometheus text, labels given as `k="v"` pairs
/// that must all be present. Sums over the samples that match.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut found = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = match line.rsplit_once(' ') {
            Some(x) => x,
            None => continue,
        };
        let (n, l) = match series.split_once('{') {
            Some((n, l)) => (n, l.trim_end_matches('}')),
            None => (series, ""),
        };
        if n != name
            || !labels
                .iter()
                .all(|(k, v)| l.split(',').any(|p| p == format!("{k}=\"{v}\"")))
        {
            continue;
        }
        let v: f64 = value.parse().ok()?;
        found = Some(found.unwrap_or(0.0) + v);
    }
    found
}

/// Every record of a pcap file, read with the `pcap-file` crate (an oracle independent of
/// mirrorcap's reader).
pub fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut r = pcap_file::pcap::PcapReader::new(f).expect("pcap header");
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        out.push(p.expect("pcap record").data.into_owned());
    }
    out
}

/// Runs an external tool; returns (success, stdout, stderr).
pub fn tool(cmd: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts tcpdump, tshark and capinfos all read `path` with no error or warning.
pub fn assert_readable_by_tools(path: &Path) {
    let p = path.to_str().unwrap();
    for (cmd, args) in [
        ("capinfos", vec![p]),
        ("tshark", vec!["-n", "-r", p]),
        ("tcpdump", vec!["-n", "-r", p]),
    ] {
        let (ok, _, err) = tool(cmd, &args);
        let err: Vec<&str> = err
            .lines()
            .filter(|l| {
                !l.starts_with("reading from file") && !l.contains("Running as user \"root\"")
            })
            .collect();
        assert!(ok && err.is_empty(), "{cmd} {p}: ok={ok} stderr={err:?}");
    }
}

/// Every record of a pcap file as (bytes, original length), read with `pcap-file`.
pub fn read_pcap_records(path: &Path) -> Vec<(Vec<u8>, u32)> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut r = pcap_file::pcap::PcapReader::new(f).expect("pcap header");
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.expect("pcap record");
        out.push((p.data.into_owned(), p.orig_len));
    }
    out
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

/// Writes `dir/name` with `mirrorcap gen` and the given generator arguments.
pub fn gen_fixture(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let mut a = vec!["gen", "-w", out.to_str().unwrap()];
    a.extend_from_slice(args);
    let (st, err) = mirrorcap(&a);
    assert!(st.success(), "gen {args:?} failed: {err}");
    out
}

impl Appliance {
    /// Starts the appliance on a net_pcap vdev reading `input` (forever when `infinite`)
    /// into `ring`, a ring of `segments` x 1 MiB per worker, plus `extra` run arguments.
    pub fn on_pcap(
        input: &Path,
        ring: &Path,
        infinite: bool,
        segments: u32,
        extra: &[&str],
    ) -> Appliance {
        let vdev = format!(
            "net_pcap0,rx_pcap={}{}",
            input.display(),
            if infinite { ",infinite_rx=1" } else { "" }
        );
        let segs = segments.to_string();
        let mut args = vec![
            "--vdev",
            &vdev,
            "--ring-dir",
            ring.to_str().unwrap(),
            "--segment-size",
            "1MiB",
            "--segments",
            &segs,
        ];
        args.extend_from_slice(extra);
        Appliance::start(&args)
    }

    /// Replays `input` forever (net_pcap infinite_rx): rotations and overwrites of a small
    /// ring happen within milliseconds.
    pub fn looping(input: &Path, ring: &Path, segments: u32, extra: &[&str]) -> Appliance {
        Appliance::on_pcap(input, ring, true, segments, extra)
    }
}

/// Runs `mirrorcap export RING -w OUT EXTRA...`, asserts it succeeded, returns its stderr.
pub fn export_ring(ring: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "export",
        ring.to_str().unwrap(),
        "-w",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (st, err) = mirrorcap(&args);
    assert!(st.success(), "export {extra:?} failed ({st}): {err}");
    err
}

/// One packet of a pcapng file: the name of its interface, its bytes, its original length.
pub struct NgPacket {
    pub interface: String,
    pub data: Vec<u8>,
    pub orig_len: u32,
}

/// Every packet of a pcapng file, read with `pcap-file`, each with its interface's `if_name`.
pub fn read_pcapng(path: &Path) -> Vec<NgPacket> {
    use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
    use pcap_file::pcapng::{Block, PcapNgReader};
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut r = PcapNgReader::new(f).expect("pcapng section header");
    let mut names: Vec<String> = Vec::new();
    let mut out = Vec::new();
    while let Some(b) = r.next_block() {
        match b.expect("pcapng block") {
            Block::InterfaceDescription(idb) => names.push(
                idb.options
                    .iter()
                    .find_map(|o| match o {
                        InterfaceDescriptionOption::IfName(n) => Some(n.to_string()),
                        _ => None,
                    })
                    .expect("interface has a name"),
            ),
            Block::EnhancedPacket(p) => out.push(NgPacket {
                interface: names
                    .get(p.interface_id as usize)
                    .expect("packet names a declared interface")
                    .clone(),
                data: p.data.into_owned(),
                orig_len: p.original_len,
            }),
            _ => {}
        }
    }
    out
}

/// A free TCP port on 127.0.0.1 (bound, then released for the caller to use).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A named pipe that `net_pcap`'s `rx_pcap` reads like a file while the test feeds it a
/// capture at a chosen pace: traffic that arrives over time, with exactly known counts.
pub struct PacedFifo {
    pub path: PathBuf,
    go: std::sync::mpsc::Sender<()>,
    writer: std::thread::JoinHandle<usize>,
}

impl PacedFifo {
    /// Creates the pipe and a writer thread that, once the appliance opens the pipe, writes
    /// `input`'s pcap header, waits for [`PacedFifo::start`], then writes its records at
    /// `pps` packets per second (in batches every 50 ms) and closes the pipe.
    pub fn new(dir: &Path, input: &Path, pps: u32) -> PacedFifo {
        let path = dir.join("paced.fifo");
        let (ok, _, err) = tool("mkfifo", &[path.to_str().unwrap()]);
        assert!(ok, "mkfifo: {err}");
        let data = std::fs::read(input).expect("read the capture to replay");
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let p = path.clone();
        let writer = std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(&p)
                .expect("open the fifo");
            f.write_all(&data[..24]).expect("pcap header");
            if wait.recv().is_err() {
                return 0;
            }
            let batch = (pps / 20).max(1) as usize;
            let start = Instant::now();
            let (mut off, mut sent) = (24usize, 0usize);
            while off + 16 <= data.len() {
                let caplen = u32::from_le_bytes(data[off + 8..off + 12].try_into().unwrap());
                let end = off + 16 + caplen as usize;
                if f.write_all(&data[off..end]).is_err() {
                    break;
                }
                off = end;
                sent += 1;
                if sent % batch == 0 {
                    let due = start + Duration::from_secs_f64(sent as f64 / pps as f64);
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                }
            }
            sent
        });
        PacedFifo { path, go, writer }
    }

    /// Starts the paced writing.
    pub fn start(&self) {
        let _ = self.go.send(());
    }

    /// Waits for the writer to finish and close the pipe; returns the packets written.
    pub fn finish(self) -> usize {
        self.writer.join().expect("fifo writer")
    }
}

/// A Prometheus server (Debian's `prometheus`) on a free loopback port, scraping `target`
/// every second into a temporary TSDB; killed on drop.
pub struct Prometheus {
    child: Child,
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    pub fn start(target: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("prometheus.yml");
        std::fs::write(
            &cfg,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: mirrorcap\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn prometheus (scripts/setup.sh installs it)");
        let p = Prometheus {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while http_get(&p.addr, "/-/ready").0 != 200 {
            assert!(Instant::now() < deadline, "prometheus did not become ready");
            std::thread::sleep(Duration::from_millis(200));
        }
        p
    }

    /// `GET /api/v1/query` of `expr` (at Unix time `at`, else now): the `data.result` array.
    pub fn query(&self, expr: &str, at: Option<f64>) -> Vec<serde_json::Value> {
        let mut path = format!("/api/v1/query?query={}", url_encode(expr));
        if let Some(t) = at {
            path.push_str(&format!("&time={t:.3}"));
        }
        let (code, body) = http_get(&self.addr, &path);
        let v: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("query {expr}: HTTP {code}, not JSON ({e}): {body}"));
        assert_eq!(v["status"], "success", "query {expr}: {body}");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// The single value of a query that yields one sample (`None` when it yields none).
    pub fn value(&self, expr: &str, at: Option<f64>) -> Option<f64> {
        let r = self.query(expr, at);
        assert!(r.len() <= 1, "{expr} gave {} series", r.len());
        r.first()
            .and_then(|s| s["value"][1].as_str())
            .and_then(|v| v.parse().ok())
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Percent-encodes a query parameter.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Unix time now, in seconds.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The families of a Prometheus text scrape, from its `# TYPE` lines: (name, type).
pub fn scrape_families(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.to_string()))
        })
        .collect()
}

/// The numbers of run's stop line: (received, captured, sum of every drop reason).
pub fn stop_line(stderr: &str) -> (u64, u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("mirrorcap: stopped: received"))
        .unwrap_or_else(|| panic!("no stop line in:\n{stderr}"));
    let num = |after: &str| number_after(line, after);
    let dropped = line
        .split("dropped:")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    let drops = dropped
        .split_whitespace()
        .filter_map(|kv| kv.split_once('=').map(|(_, v)| v.parse::<u64>().unwrap()))
        .sum();
    (num("received "), num("captured "), drops)
}

/// The number written right after `after` in `line`.
pub fn number_after(line: &str, after: &str) -> u64 {
    let i = line
        .find(after)
        .unwrap_or_else(|| panic!("{after:?} not in {line:?}"))
        + after.len();
    line[i..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {after:?} in {line:?}"))
}

/// The frames of `capture` that `tcpdump -r capture -w out EXPR` keeps (out goes in `dir`).
pub fn tcpdump_selects(capture: &Path, expr: &str, dir: &Path) -> Vec<Vec<u8>> {
    let out = dir.join("tcpdump-selected.pcap");
    let (ok, _, err) = tool(
        "tcpdump",
        &[
            "-r",
            capture.to_str().unwrap(),
            "-w",
            out.to_str().unwrap(),
            expr,
        ],
    );
    assert!(ok, "tcpdump {expr}: {err}");
    read_pcap(&out)
}

/// splitmix64: the test frames' byte generator.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A ring test frame of `len` bytes: the sequence number (LE), then bytes derived from it,
/// with the local experimental EtherType 0x88b5 so dissectors treat the rest as data.
pub fn seq_frame(seq: u64, len: usize) -> Vec<u8> {
    assert!(len >= 14, "frames hold an Ethernet header");
    let mut f = Vec::with_capacity(len + 8);
    f.extend_from_slice(&seq.to_le_bytes());
    let mut x = mix(seq);
    while f.len() < len {
        x = mix(x);
        f.extend_from_slice(&x.to_le_bytes());
    }
    f.truncate(len);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f
}
