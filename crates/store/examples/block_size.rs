//! Measures the store format at several block sizes and zstd levels on generated mirror traffic
//! (decapsulated inner frames, as the ring holds them), to choose the default block size:
//! compression ratio (padding included), compression MB/s of captured bytes, decompression
//! MB/s, and the time to read one block (the cost of random access).
//!
//! `cargo run --release -p mirrorcap-store --example block_size [-- MB [PCAP...]]`
//! MB: captured bytes per traffic mix (default 64); PCAP: also measure these captures (classic
//! little-endian pcap), each as its own mix.

use mirrorcap_ring::pcapfmt::{parse_file_header, RecordHeader, FILE_HEADER_LEN};
use mirrorcap_store::{BlockWriter, Compression, RecordMeta, StoreOptions};
use std::time::Instant;

struct Rec {
    ts_ns: u64,
    data: Vec<u8>,
    meta: RecordMeta,
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const WORDS: &[&str] = &[
    "GET ",
    "POST ",
    "/api/v1/orders",
    "HTTP/1.1\r\n",
    "Host: shop.example.com\r\n",
    "Content-Type: application/json\r\n",
    "{\"id\":",
    "\"status\":\"ok\"",
    ",\"items\":[",
    "\"price\":",
    "\"user\":\"",
    "Accept-Encoding: gzip\r\n",
    "User-Agent: curl/8.5\r\n",
    "}",
];

/// One flow's fixed headers: Ethernet, IPv4, TCP (the sequence number is filled per packet).
fn tcp_frame(flow: u64, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![
        0x0a,
        0,
        0,
        0,
        (flow >> 8) as u8,
        flow as u8,
        0x0a,
        0,
        0,
        0,
        0,
        1,
        8,
        0,
    ];
    let ip_len = (40 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&ip_len.to_be_bytes());
    f.extend_from_slice(&[(seq >> 3) as u8, seq as u8, 0x40, 0, 63, 6, 0x12, 0x34]);
    f.extend_from_slice(&[10, 1, (flow >> 8) as u8, flow as u8, 10, 2, 0, 10]);
    f.extend_from_slice(&(32768 + (flow % 20000) as u16).to_be_bytes());
    f.extend_from_slice(&443u16.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&(flow as u32 * 7919).to_be_bytes());
    f.extend_from_slice(&[0x50, 0x18, 0x01, 0xf5, 0xab, 0xcd, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// A traffic mix of about `bytes` captured bytes. `text` is the share (0..=100) of data
/// packets whose payload is text (HTTP/JSON-like) rather than random (TLS-like); `sizes` the
/// frame sizes, drawn in turn.
fn mix(bytes: usize, text: u64, sizes: &[usize], seed: u64) -> Vec<Rec> {
    let mut rng = Rng(seed);
    let mut seqs = vec![0u32; 1000];
    let (mut out, mut total, mut ts) = (Vec::new(), 0, 1_700_000_000_000_000_000u64);
    let mut i = 0;
    while total < bytes {
        let flow = rng.next() % seqs.len() as u64;
        let size = sizes[i % sizes.len()].max(54);
        let mut payload = Vec::with_capacity(size - 54);
        let is_text = rng.next() % 100 < text;
        while payload.len() < size - 54 {
            if is_text {
                payload.extend_from_slice(
                    WORDS[(rng.next() % WORDS.len() as u64) as usize].as_bytes(),
                );
                payload.extend_from_slice((rng.next() % 100_000).to_string().as_bytes());
            } else {
                payload.extend_from_slice(&rng.next().to_le_bytes());
            }
        }
        payload.truncate(size - 54);
        let seq = seqs[flow as usize];
        seqs[flow as usize] = seq.wrapping_add(payload.len() as u32);
        let data = tcp_frame(flow, seq, &payload);
        ts += 200 + rng.next() % 2000;
        total += data.len();
        let meta = RecordMeta::tunnel(100 + (flow % 4) as u32, (flow % 4) as u8 + 1);
        out.push(Rec {
            ts_ns: ts,
            data,
            meta,
        });
        i += 1;
    }
    out
}

fn read_pcap(path: &str) -> Vec<Rec> {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let res = parse_file_header(&b).unwrap_or_else(|| panic!("{path}: not an Ethernet pcap"));
    let (mut pos, mut out) = (FILE_HEADER_LEN, Vec::new());
    while let Some(h) = b
        .get(pos..pos + 16)
        .and_then(|h| RecordHeader::decode(h, res))
    {
        let Some(data) = b.get(pos + 16..pos + 16 + h.incl_len as usize) else {
            break;
        };
        out.push(Rec {
            ts_ns: h.ts_ns,
            data: data.to_vec(),
            meta: RecordMeta::UNTAGGED,
        });
        pos += 16 + h.incl_len as usize;
    }
    out
}

fn measure(name: &str, recs: &[Rec], block_size: usize, level: i32) {
    let raw: usize = recs.iter().map(|r| r.data.len() + 16).sum::<usize>() + 24;
    let opts = StoreOptions {
        compression: Compression::Zstd { level },
        block_size,
    };
    let t = Instant::now();
    let mut w = BlockWriter::new(opts).unwrap();
    let mut file = Vec::with_capacity(raw);
    for r in recs {
        w.push(r.ts_ns, r.data.len() as u32, &r.data, r.meta)
            .unwrap();
        while let Some(b) = w.pop_ready() {
            file.extend_from_slice(&b.bytes);
        }
    }
    let fin = w.finish().unwrap();
    for b in fin.tail {
        file.extend_from_slice(&b.bytes);
    }
    let ct = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut d = zstd::bulk::Decompressor::new().unwrap();
    let mut check = 0usize;
    for b in &fin.index.blocks {
        let s = &file[b.offset as usize..(b.offset + b.stored_len) as usize];
        check += d.decompress(s, b.raw_len as usize).unwrap().len();
    }
    let dt = t.elapsed().as_secs_f64();
    assert_eq!(check, raw);
    let nblocks = fin.index.blocks.len();
    println!(
        "| {name} | {} KiB | {level} | {:.2} | {:.0} | {:.0} | {:.2} | {nblocks} |",
        block_size >> 10,
        raw as f64 / file.len() as f64,
        raw as f64 / ct / 1e6,
        raw as f64 / dt / 1e6,
        dt / nblocks as f64 * 1e3,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mb: usize = args.first().map_or(64, |a| a.parse().expect("MB"));
    let bytes = mb << 20;
    let mut mixes = vec![
        // Encrypted bulk transfer: full-size segments and their ACKs.
        ("tls-bulk", mix(bytes, 0, &[1514, 66], 1)),
        // IMIX sizes, half the data packets plain text (internal HTTP, logs, JSON APIs).
        (
            "imix-half-text",
            mix(
                bytes,
                50,
                &[64, 64, 64, 64, 64, 64, 64, 590, 590, 590, 590, 1514],
                2,
            ),
        ),
        // Small packets only: headers, ACKs, DNS-sized requests.
        ("small-64-128", mix(bytes, 50, &[64, 66, 74, 128], 3)),
    ];
    for p in args.iter().skip(1) {
        let recs = read_pcap(p);
        let name = p.rsplit('/').next().unwrap_or(p).to_string();
        mixes.push((Box::leak(name.into_boxed_str()), recs));
    }
    println!("| mix | block | zstd level | ratio | compress MB/s | decompress MB/s | ms per block | blocks |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, recs) in &mixes {
        for level in [1, 3] {
            for block_size in [64 << 10, 256 << 10, 1 << 20, 4 << 20] {
                measure(name, recs, block_size, level);
            }
        }
    }
}
