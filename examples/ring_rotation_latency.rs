//! Per-burst write time of one ring writer across N rotations: bursts of 32 records appended
//! and committed into a tmpfs ring, each burst timed; prints the median, p99 and worst burst,
//! split into bursts that rotated to a new segment and bursts that did not. This is the stall
//! a worker sees at rotation (a real NIC drops what arrives meanwhile beyond its RX ring).
//! Usage: cargo run --release --example ring_rotation_latency -- [FRAME_BYTES=1500] [ROTATIONS=100] [SEGMENT_MIB=16]
use mirrorcap::capture::{Geometry, RingWriter};
use std::time::Instant;

fn pct(v: &mut [u64], p: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[((v.len() as f64 - 1.0) * p) as usize]
}

fn main() {
    let mut a = std::env::args()
        .skip(1)
        .map(|s| s.parse::<u64>().expect("numbers"));
    let size = a.next().unwrap_or(1500) as usize;
    let rotations = a.next().unwrap_or(100);
    let seg_mib = a.next().unwrap_or(16);
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    };
    let dir = std::path::PathBuf::from(format!("{base}/mirrorcap-rotation-{}", std::process::id()));
    let g = Geometry {
        segments: 4,
        segment_size: seg_mib << 20,
    };
    let (mut w, _) = RingWriter::open(&dir, 0, g).expect("ring");
    let frame = vec![0x5au8; size];
    let (mut plain, mut rotating) = (Vec::new(), Vec::new());
    let mut ts = 0u64;
    while w.stats.segments_sealed < rotations {
        let before = w.stats.segments_sealed;
        let t = Instant::now();
        for _ in 0..32 {
            ts += 1;
            w.write(ts, &frame, size as u32);
        }
        w.commit();
        let ns = t.elapsed().as_nanos() as u64;
        if w.stats.segments_sealed != before {
            rotating.push(ns)
        } else {
            plain.push(ns)
        }
    }
    drop(w);
    let _ = std::fs::remove_dir_all(&dir);
    let laps = rotations / 4;
    println!(
        "{size} B records, {seg_mib} MiB segments x 4 on {base}, {rotations} rotations ({laps} laps): \
         plain bursts p50 {} ns p99 {} ns max {} ns; rotating bursts ({}) p50 {} ns max {} ns",
        pct(&mut plain, 0.5),
        pct(&mut plain, 0.99),
        plain.iter().max().unwrap_or(&0),
        rotating.len(),
        pct(&mut rotating, 0.5),
        rotating.iter().max().unwrap_or(&0),
    );
}
