//! Per-burst write time of one ring writer across N rotations, in both rotation modes back to
//! back: (a) synchronous (the worker trims and extends files itself at rotation, nothing
//! pre-faulted: `RingWriter::open`) and (b) background (the ring's helper thread trims sealed
//! segments and extends and pre-faults the next one ahead of need: `RingOptions::background`).
//! Bursts of 32 records are appended and committed into a tmpfs ring of 4 segments, each
//! burst timed, for frames of 64, 1500 and 9001 bytes; prints p50, p99, p99.9 and the worst
//! burst, separately for bursts that rotated to a new segment and bursts that did not. This is
//! the stall a worker sees (a real NIC drops what arrives meanwhile beyond its RX ring).
//! Usage: cargo run --release --example ring_rotation_latency -- [SEGMENT_MIB=16] [ROTATIONS=100]
use mirrorcap_ring::{Geometry, RingOptions, RingWriter};
use std::time::Instant;

const SIZES: [usize; 3] = [64, 1500, 9001];
const SEGMENTS: u32 = 4;

fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// "p50 p99 p99.9 max" in microseconds.
fn summary(v: &mut [u64]) -> String {
    v.sort_unstable();
    let us = |ns: u64| ns as f64 / 1000.0;
    format!(
        "{:>5} {:>8.1} {:>8.1} {:>8.1} {:>8.1}",
        v.len(),
        us(pct(v, 0.5)),
        us(pct(v, 0.99)),
        us(pct(v, 0.999)),
        us(*v.last().unwrap_or(&0))
    )
}

struct Run {
    rotating: Vec<u64>,
    plain: Vec<u64>,
    unprepared: u64,
    prefault: String,
}

fn run(
    dir: &std::path::Path,
    g: Geometry,
    options: RingOptions,
    size: usize,
    rotations: u64,
) -> Run {
    let _ = std::fs::remove_dir_all(dir);
    let (mut w, _) = RingWriter::open_with(dir, 0, g, options).expect("ring");
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
    let prefault = match w.background_stats() {
        Some(b) => format!("{:?}", b.prefault),
        None => "-".into(),
    };
    let stats = w.close().expect("close");
    let _ = std::fs::remove_dir_all(dir);
    Run {
        rotating,
        plain,
        unprepared: stats.rotations_unprepared,
        prefault,
    }
}

fn main() {
    let mut a = std::env::args()
        .skip(1)
        .map(|s| s.parse::<u64>().expect("numbers"));
    let seg_mib = a.next().unwrap_or(16);
    let rotations = a.next().unwrap_or(100);
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    };
    let dir = std::path::PathBuf::from(format!("{base}/mirrorcap-rotation-{}", std::process::id()));
    let g = Geometry {
        segments: SEGMENTS,
        segment_size: seg_mib << 20,
    };
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "{seg_mib} MiB segments x {SEGMENTS} on {base}, {rotations} rotations, bursts of 32, \
         {cpus} CPUs; burst times in us"
    );
    println!(
        "{:<11} {:>5} | rotating: {:>5} {:>8} {:>8} {:>8} {:>8} | plain: {:>5} {:>8} {:>8} {:>8} {:>8} | unprepared prefault",
        "mode", "frame", "n", "p50", "p99", "p99.9", "max", "n", "p50", "p99", "p99.9", "max"
    );
    for (name, options) in [
        ("sync", RingOptions::default()),
        ("background", RingOptions::background()),
    ] {
        for size in SIZES {
            let mut r = run(&dir, g, options, size, rotations);
            println!(
                "{name:<11} {size:>5} | rotating: {} | plain: {} | {:>10} {}",
                summary(&mut r.rotating),
                summary(&mut r.plain),
                r.unprepared,
                r.prefault
            );
        }
    }
}
