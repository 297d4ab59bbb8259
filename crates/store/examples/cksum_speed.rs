//! Speed of the block checksums over 64 MiB (warm memory): `cargo run --release -p
//! mirrorcap-store --example cksum_speed`.
use mirrorcap_store::checksum::{checksum, checksum_lanes};
use std::time::Instant;

fn main() {
    let data: Vec<u8> = (0..64u32 << 20)
        .map(|i| ((i.wrapping_mul(2_654_435_761)) >> 13) as u8)
        .collect();
    for (name, f) in [
        ("checksum", checksum as fn(&[u8]) -> u64),
        ("checksum_lanes", checksum_lanes),
    ] {
        let mut best = f64::MAX;
        let mut x = 0;
        for _ in 0..5 {
            let t = Instant::now();
            for b in data.chunks(1 << 20) {
                x ^= f(b);
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!(
            "{name}: {:.2} GB/s (best of 5 over 64 MiB in 1 MiB blocks; {x:x})",
            data.len() as f64 / best / 1e9
        );
    }
}
