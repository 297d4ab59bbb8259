//! Records for the store tests: Ethernet/IPv4/UDP frames of chosen lengths (so stock tools
//! decode them), with increasing timestamps and a mix of metadata words, generated from a seed
//! so every run is the same.
#![allow(dead_code)]

pub mod ring;

use mirrorcap_store::{Record, RecordMeta};
use std::process::{Command, Stdio};

/// Whether `tool` is on PATH. Without it a test skips with a note, except under CI=true,
/// where a missing tool fails the test (so CI never passes by skipping the oracle).
pub fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is missing and CI=true: install it (packages zstd, tcpdump, wireshark-common)"
        );
        eprintln!("skipped: {tool} is not installed");
    }
    found
}

/// A small deterministic generator (xorshift): the tests need variety, not quality.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// An Ethernet/IPv4/UDP frame of exactly `len` bytes (cut short below 42 bytes).
pub fn frame(len: usize, rng: &mut Rng) -> Vec<u8> {
    let mut f = Vec::with_capacity(len.max(42));
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00]);
    let ip_len = (len.max(42) - 14) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&ip_len.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    let port = 1024 + (rng.next() % 1000) as u16;
    f.extend_from_slice(&port.to_be_bytes());
    f.extend_from_slice(&53u16.to_be_bytes());
    f.extend_from_slice(&(ip_len - 20).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    // Half text-like (compressible), half random (like TLS): realistic for a ratio.
    let random = rng.next().is_multiple_of(2);
    while f.len() < len {
        let b = if random {
            rng.next() as u8
        } else {
            b"GET /index.html "[f.len() % 16]
        };
        f.push(b);
    }
    f.truncate(len);
    f
}

fn meta(i: usize) -> RecordMeta {
    match i % 5 {
        0 => RecordMeta::UNTAGGED,
        1 => RecordMeta::tunnel(42, 0),
        2 => RecordMeta::tunnel(0xff_fffe, 254),
        _ => RecordMeta::tunnel(i as u32 & 0xffff, (i % 7) as u8),
    }
}

/// `n` records whose lengths cycle through `lens`, starting at 2023-11-14.
pub fn records(n: usize, lens: &[usize], seed: u64) -> Vec<Record> {
    let mut rng = Rng(seed | 1);
    let mut ts = 1_700_000_000_000_000_000u64;
    (0..n)
        .map(|i| {
            ts += 1 + rng.next() % 50_000;
            let len = lens[i % lens.len()];
            Record {
                ts_ns: ts,
                // Some records were cut by a snapshot length: orig_len > bytes kept.
                orig_len: (len + if i % 11 == 3 { 100 } else { 0 }) as u32,
                meta: meta(i),
                data: frame(len, &mut rng),
            }
        })
        .collect()
}

/// The lengths the round trips cycle through: empty, tiny, minimum frame, typical, MTU, jumbo.
pub const LENS: &[usize] = &[0, 1, 60, 64, 200, 590, 1514, 9000, 128];
