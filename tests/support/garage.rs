//! A real S3-compatible server for the archive tests: Garage (crates.io, installed by
//! scripts/setup.sh), one single-node instance per test in its own directory on free loopback
//! ports, with a bucket and a key of known secrets; stoppable and restartable on the same data
//! (the outage test). And boto3 (PyPI, /opt/boto3), a client independent of mirrorcap's, to
//! list and read what the bucket holds.
use super::ci::{find_tool, skip_or_fail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BUCKET: &str = "mirrorcap-test";
pub const KEY_ID: &str = "GK0123456789abcdef01234567";
pub const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const BOTO3_PYTHON: &str = "/opt/boto3/bin/python3";

pub struct Garage {
    bin: PathBuf,
    conf: PathBuf,
    pub port: u16,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

/// A loopback port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Garage {
    /// A running server with [`BUCKET`] and the key [`KEY_ID`]/[`SECRET`]; `None` (after a
    /// note, or a panic under CI) when Garage or boto3 is not installed.
    pub fn start() -> Option<Garage> {
        let bin = find_tool("garage").or_else(|| {
            let p =
                PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo/bin/garage");
            p.is_file().then_some(p)
        });
        let Some(bin) = bin else {
            skip_or_fail(
                "garage not installed (scripts/setup.sh builds it: cargo install garage --locked)",
            );
            return None;
        };
        if !Path::new(BOTO3_PYTHON).is_file() {
            skip_or_fail("boto3 not installed in /opt/boto3 (scripts/setup.sh)");
            return None;
        }
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        let (port, rpc) = (free_port(), free_port());
        let conf = dir.path().join("garage.toml");
        let secret: String = (0..32)
            .map(|i| format!("{:02x}", (i * 37 + port as usize) % 256))
            .collect();
        std::fs::write(
            &conf,
            format!(
                "metadata_dir = \"{d}/meta\"\ndata_dir = \"{d}/data\"\ndb_engine = \"sqlite\"\n\
                 replication_factor = 1\nrpc_bind_addr = \"127.0.0.1:{rpc}\"\n\
                 rpc_public_addr = \"127.0.0.1:{rpc}\"\nrpc_secret = \"{secret}\"\n\
                 [s3_api]\ns3_region = \"garage\"\napi_bind_addr = \"127.0.0.1:{port}\"\n\
                 root_domain = \".s3.garage.localhost\"\n",
                d = dir.path().display()
            ),
        )
        .unwrap();
        let mut g = Garage {
            bin,
            conf,
            port,
            child: None,
            _dir: dir,
        };
        g.resume();
        let status = g.cli(&["status"]);
        let node = status
            .lines()
            .skip_while(|l| !l.contains("HEALTHY NODES"))
            .nth(2)
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("garage status: {status}"))
            .to_string();
        g.cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &node]);
        g.cli(&["layout", "apply", "--version", "1"]);
        g.cli(&["bucket", "create", BUCKET]);
        g.cli(&["key", "import", "-n", "test", "--yes", KEY_ID, SECRET]);
        g.cli(&[
            "bucket", "allow", "--read", "--write", "--owner", BUCKET, "--key", "test",
        ]);
        Some(g)
    }

    /// Runs the Garage CLI against this server; its stdout (panics on failure).
    pub fn cli(&self, args: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = Command::new(&self.bin)
                .arg("-c")
                .arg(&self.conf)
                .args(args)
                .output()
                .unwrap();
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).into_owned();
            }
            // The node needs a moment after start (and after a layout change) to answer.
            assert!(
                Instant::now() < deadline,
                "garage {args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// The S3 endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment a mirrorcap process reads this server with.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", KEY_ID.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET.into()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_REGION", "garage".into()),
        ]
    }

    /// Stops the server (SIGKILL: an outage, not a clean stop).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server (again) on the same data and ports; returns once S3 answers.
    pub fn resume(&mut self) {
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(&self.conf)
            .arg("server")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start garage");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "garage did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every object under `prefix` with its size and SHA-256, as boto3 lists and reads them.
    pub fn objects(&self, prefix: &str) -> Vec<(String, u64, String)> {
        let script = format!(
            "import boto3, hashlib\n\
             s3 = boto3.client('s3', endpoint_url='{ep}', region_name='garage',\n\
                 aws_access_key_id='{KEY_ID}', aws_secret_access_key='{SECRET}')\n\
             for page in s3.get_paginator('list_objects_v2').paginate(Bucket='{BUCKET}', Prefix='{prefix}'):\n\
             \x20   for o in page.get('Contents', []):\n\
             \x20       body = s3.get_object(Bucket='{BUCKET}', Key=o['Key'])['Body'].read()\n\
             \x20       print(o['Key'], o['Size'], hashlib.sha256(body).hexdigest())\n",
            ep = self.endpoint()
        );
        let out = Command::new(BOTO3_PYTHON)
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "boto3: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let v: Vec<&str> = l.split(' ').collect();
                (v[0].to_string(), v[1].parse().unwrap(), v[2].to_string())
            })
            .collect()
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        self.stop();
    }
}
