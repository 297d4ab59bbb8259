//! What the flow records cost the store writer: ns per record for `FlowTable::push` and µs per
//! file for the Parquet encoding (and what reading them back costs `flows`), on frames shaped like mirrored traffic (IPv4 and IPv6,
//! TCP and UDP, flows in trains of 1-8 packets over F flows per 64 MiB segment).
//!
//! `cargo run --release -p mirrorcap-flows --example flows_speed [FLOWS]` (default 20000).

use mirrorcap_flows::{decode, encode, FlowTable};
use std::time::Instant;

fn frame(i: u32) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    if i % 4 == 3 {
        f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, 0, 6, 64]);
        f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0]);
        f.extend_from_slice(&i.to_be_bytes());
        f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    } else {
        let p = if i.is_multiple_of(2) { 6 } else { 17 };
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 0, 0, 0, 0, 0, 64, p, 0, 0]);
        f.extend_from_slice(&(0x0a00_0000 | i).to_be_bytes());
        f.extend_from_slice(&[10, 255, 0, 1]);
    }
    f.extend_from_slice(&(1024 + (i % 60000) as u16).to_be_bytes());
    f.extend_from_slice(&[1, 187, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0, 0, 0, 0]);
    f.resize(f.len() + 200, 0);
    f
}

fn main() {
    let flows: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let frames: Vec<Vec<u8>> = (0..flows).map(frame).collect();
    // A 64 MiB segment of 1500-byte frames holds ~45k records; of 700-byte ~95k.
    let per_file = 95_000u32;
    let files = 40;
    let mut t = FlowTable::new();
    let (mut push_ns, mut enc_ns, mut dec_ns, mut rows, mut bytes) =
        (0u128, 0u128, 0u128, 0usize, 0usize);
    let mut x = 1u32;
    for _ in 0..files {
        let start = Instant::now();
        let mut k = 0;
        while k < per_file {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let f = &frames[(x >> 8) as usize % frames.len()];
            for _ in 0..(1 + (x >> 4) % 8).min(per_file - k) {
                t.push(u64::from(k), f, f.len() as u32, 100);
                k += 1;
            }
        }
        push_ns += start.elapsed().as_nanos();
        let r = t.take();
        rows += r.len();
        let start = Instant::now();
        let file = encode(&r).expect("encode");
        enc_ns += start.elapsed().as_nanos();
        bytes += file.len();
        let start = Instant::now();
        assert_eq!(decode(file).expect("decode").len(), r.len());
        dec_ns += start.elapsed().as_nanos();
    }
    let records = u128::from(per_file) * files;
    println!(
        "{flows} flows, {files} files of {per_file} records: push {:.1} ns/record, encode {:.0} us/file \
         ({:.2} ns/record, {:.1} M rows/s), decode {:.1} M rows/s, {} rows/file, {} bytes/file ({:.1} B/row)",
        push_ns as f64 / records as f64,
        enc_ns as f64 / files as f64 / 1000.0,
        enc_ns as f64 / records as f64,
        rows as f64 / enc_ns as f64 * 1000.0,
        rows as f64 / dec_ns as f64 * 1000.0,
        rows / files as usize,
        bytes / files as usize,
        bytes as f64 / rows as f64
    );
}
