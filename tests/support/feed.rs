//! What the tests feed the appliance: captures written by `mirrorcap gen`, and a named pipe
//! that delivers a capture at a chosen pace.
use super::{mirrorcap, tool};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Writes `dir/name` with `mirrorcap gen` and the given generator arguments.
pub fn gen_fixture(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let mut a = vec!["gen", "-w", out.to_str().unwrap()];
    a.extend_from_slice(args);
    let (st, err) = mirrorcap(&a);
    assert!(st.success(), "gen {args:?} failed: {err}");
    out
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
