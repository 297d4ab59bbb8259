//! The flow index's build cost per packet, in isolation: `IndexBuilder::push` over inner frames
//! laid out one after the other as in a ring segment (a 16-byte pcap record header before each),
//! in blocks of 64 KiB and of 1 MiB (the store's default), best of 7 passes over 64 MiB.
//!
//! `cargo run --release -p mirrorcap-index --example build_speed [-- MB [gen|trains|churn]]`
//!
//! Mixes:
//! * `gen`: what `scripts/bench-store.sh` stores (`mirrorcap gen -w --count 4096`): 64 IPv4/UDP
//!   flows round-robin, the VNIs 100/200/300 round-robin over frames (192 keys in turn, never
//!   two of one in a row), 60-1514 B.
//! * `trains`: 2 000 live flows (10 % IPv6; 85 % TCP, 12 % UDP, 3 % ICMP; 5 % behind a VLAN
//!   tag; 4 VNIs), each packet of a train of 1-16 (mean 8.5) of one flow in either direction,
//!   1 % churn (a new client port, often a new peer), 42 % 66 B, 42 % 1514 B, 16 % 100-600 B.
//! * `churn`: 20 000 live flows, trains of 1-3, 10 % churn, 20 % public peers.
//!
//! Prints per mix and block size: ns per packet for the pushes and `finish` (best of 7),
//! `FlowKey::extract` alone, and the index bytes' length and FNV-1a hash (an unchanged hash
//! after a change to the builder: the same index).

use mirrorcap_index::{FlowKey, IndexBuilder};
use std::time::Instant;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn skewed(&mut self, n: u64) -> u64 {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((u * u * u) * n as f64) as u64
    }
}

#[derive(Clone, Copy)]
struct Flow {
    client: [u8; 16],
    server: [u8; 16],
    v6: bool,
    cport: u16,
    sport: u16,
    proto: u8,
    meta: u32,
    vlan: Option<u16>,
}

const SERVER_PORTS: [u16; 10] = [443, 80, 53, 5432, 6379, 8080, 22, 3306, 9092, 8443];
const VNIS: [u32; 4] = [4242, 17, 900_001, 12_345];

fn new_flow(rng: &mut Rng, clients: u64, servers: u64, public_pct: u64) -> Flow {
    let v6 = rng.below(100) < 10;
    let c = rng.skewed(clients) as u32;
    let s = rng.skewed(servers) as u32;
    let public = rng.below(100) < public_pct;
    let (client, server) = if v6 {
        let c = 0xfd00_0000_0000_0001_0000_0000_0000_0000u128 | u128::from(c);
        let s = if public {
            0x2600_0000_0000_0000_0000_0000_0000_0000u128 | u128::from(rng.next())
        } else {
            0xfd00_0000_0000_0002_0000_0000_0000_0000u128 | u128::from(s)
        };
        (c.to_be_bytes(), s.to_be_bytes())
    } else {
        let c = 0x0a10_0000 | c;
        let s = if public {
            rng.next() as u32 | 0x0100_0000
        } else {
            0x0a20_0000 | s
        };
        let mut a = [0u8; 16];
        let mut b = [0u8; 16];
        a[..4].copy_from_slice(&c.to_be_bytes());
        b[..4].copy_from_slice(&s.to_be_bytes());
        (a, b)
    };
    let r = rng.below(100);
    let (proto, sport) = match r {
        0..=84 => (6, SERVER_PORTS[rng.skewed(10) as usize]),
        85..=96 => (17, if r.is_multiple_of(2) { 53 } else { 123 }),
        _ => (if v6 { 58 } else { 1 }, 0),
    };
    Flow {
        client,
        server,
        v6,
        cport: 32768 + rng.below(28232) as u16,
        sport,
        proto,
        meta: VNIS[rng.skewed(4) as usize] | 1 << 24,
        vlan: (rng.below(100) < 5).then_some(100 + rng.below(4) as u16),
    }
}

/// Appends `f`'s frame of `len` bytes (headers at least) with a 16-byte record header.
fn put_frame(out: &mut Vec<u8>, f: &Flow, len: usize, to_server: bool, seq: u32) {
    let start = out.len();
    out.extend_from_slice(&[0u8; 16]);
    let b0 = out.len();
    out.extend_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]);
    if let Some(v) = f.vlan {
        out.extend_from_slice(&[0x81, 0, (v >> 8) as u8, v as u8]);
    }
    let (src, dst, sp, dp) = if to_server {
        (&f.client, &f.server, f.cport, f.sport)
    } else {
        (&f.server, &f.client, f.sport, f.cport)
    };
    let l4 = if f.proto == 6 { 20 } else { 8 };
    if f.v6 {
        out.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
        let pl = len.saturating_sub(out.len() - b0 + 36).max(l4) as u16;
        out.extend_from_slice(&pl.to_be_bytes());
        out.extend_from_slice(&[f.proto, 64]);
        out.extend_from_slice(src);
        out.extend_from_slice(dst);
    } else {
        out.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
        let tl = len.saturating_sub(out.len() - b0 - 2).max(20 + l4) as u16;
        out.extend_from_slice(&tl.to_be_bytes());
        out.extend_from_slice(&(seq as u16).to_be_bytes());
        out.extend_from_slice(&[0x40, 0, 63, f.proto, 0, 0]);
        out.extend_from_slice(&src[..4]);
        out.extend_from_slice(&dst[..4]);
    }
    match f.proto {
        6 => {
            out.extend_from_slice(&sp.to_be_bytes());
            out.extend_from_slice(&dp.to_be_bytes());
            out.extend_from_slice(&seq.wrapping_mul(1448).to_be_bytes());
            out.extend_from_slice(&seq.to_be_bytes());
            out.extend_from_slice(&[0x50, 0x18, 1, 0xf5, 0, 0, 0, 0]);
        }
        17 => {
            out.extend_from_slice(&sp.to_be_bytes());
            out.extend_from_slice(&dp.to_be_bytes());
            out.extend_from_slice(&[0, 0, 0, 0]);
        }
        _ => out.extend_from_slice(&[8, 0, 0, 0, 0, 1, 0, 1]),
    }
    while out.len() - b0 < len {
        out.push((out.len() % 251) as u8);
    }
    let n = (out.len() - b0) as u32;
    out[start + 8..start + 12].copy_from_slice(&n.to_le_bytes());
    out[start + 12..start + 16].copy_from_slice(&n.to_le_bytes());
}

fn size(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..=41 => 66,
        42..=83 => 1514,
        _ => 100 + rng.below(500) as usize,
    }
}

/// What runs per record: (buffer, record number, offset, length, metadata word).
type PerRecord<'a> = dyn FnMut(&[u8], usize, usize, usize, u32) + 'a;

/// Frames as a segment holds them: (offset, length, meta) per record into one buffer.
struct Segment {
    bytes: Vec<u8>,
    recs: Vec<(usize, usize, u32)>,
}

impl Segment {
    fn new() -> Self {
        Segment {
            bytes: Vec::new(),
            recs: Vec::new(),
        }
    }
    fn push(&mut self, f: &Flow, len: usize, to_server: bool, seq: u32) {
        let at = self.bytes.len() + 16;
        put_frame(&mut self.bytes, f, len, to_server, seq);
        self.recs.push((at, self.bytes.len() - at, f.meta));
    }
}

fn gen_mix(bytes: usize) -> Segment {
    let mut rng = Rng(1);
    let mut s = Segment::new();
    let mut seq = 0u32;
    while s.bytes.len() < bytes {
        let flow = seq % 64;
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[192, 0, 2, flow as u8 + 1]);
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&[203, 0, 113, 7]);
        let f = Flow {
            client: a,
            server: b,
            v6: false,
            cport: 10_000 + flow as u16,
            sport: 443,
            proto: 17,
            meta: [100, 200, 300][(seq % 3) as usize],
            vlan: None,
        };
        s.push(&f, 60 + rng.below(1455) as usize, true, seq);
        seq += 1;
    }
    s
}

fn train_mix(
    bytes: usize,
    live: usize,
    train_max: u64,
    churn_pct: u64,
    public_pct: u64,
    seed: u64,
) -> Segment {
    let mut rng = Rng(seed);
    let (clients, servers) = (live as u64, live as u64 / 10);
    let mut flows: Vec<Flow> = (0..live)
        .map(|_| new_flow(&mut rng, clients, servers, public_pct))
        .collect();
    let mut s = Segment::new();
    let mut seq = 0u32;
    while s.bytes.len() < bytes {
        if rng.below(100) < churn_pct {
            let i = rng.below(live as u64) as usize;
            flows[i] = new_flow(&mut rng, clients, servers, public_pct);
        }
        let f = flows[rng.skewed(live as u64) as usize];
        for _ in 0..1 + rng.below(train_max) {
            let to_server = rng.below(2) == 0;
            let len = size(&mut rng);
            s.push(&f, len, to_server, seq);
            seq += 1;
        }
    }
    s
}

fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Records of at most `step` bytes at a time, as the store writer reads a segment (`read()` into
/// its buffer in 2 MiB steps, then cuts and indexes the records while they are in the cache).
fn chunks(seg: &Segment, step: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut first = 0;
    for (i, &(at, len, _)) in seg.recs.iter().enumerate() {
        if at + len - (seg.recs[first].0 - 16) > step && i > first {
            out.push(first..i);
            first = i;
        }
    }
    out.push(first..seg.recs.len());
    out
}

/// Best of 7 of `f`, in ns per packet.
fn best(n: usize, mut f: impl FnMut()) -> f64 {
    best_of(|| {
        let t = Instant::now();
        f();
        t.elapsed().as_nanos() as f64 / n as f64
    })
}

/// Best of 7 of what `f` measured.
fn best_of(mut f: impl FnMut() -> f64) -> f64 {
    (0..7).map(|_| f()).fold(f64::MAX, f64::min)
}

fn main() {
    let mb: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("MB: a number"))
        .unwrap_or(64);
    let only: Option<String> = std::env::args().nth(2);
    let want = |m: &str| only.as_deref().is_none_or(|o| o == m);
    let mut mixes = Vec::new();
    if want("gen") {
        mixes.push(("gen", gen_mix(mb << 20)));
    }
    if want("trains") {
        mixes.push(("trains", train_mix(mb << 20, 2_000, 16, 1, 5, 7)));
    }
    if want("churn") {
        mixes.push(("churn", train_mix(mb << 20, 20_000, 3, 10, 20, 8)));
    }
    println!("{mb} MiB of records per mix, best of 7 passes. warm: each 2 MiB of records copied into a buffer just before (as the store writer's read), only the pushes timed (and finish); cold: the records read where they lie in the {mb} MiB.\n");
    println!("| mix | block | packets | avg B | blocks | pkts/block | build ns/pkt warm | build ns/pkt cold | extract ns/pkt warm / cold | index B | fnv |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for (name, seg) in &mixes {
        let n = seg.recs.len();
        let steps = chunks(seg, 2 << 20);
        let mut buf = vec![0u8; (2 << 20) + 16];
        // Runs `per` over each chunk's records copied into `buf` (offsets relative to it);
        // gives the ns per packet spent in `per` (the copies not counted).
        let mut warm = |per: &mut PerRecord| {
            let mut ns = 0u128;
            for r in &steps {
                let base = seg.recs[r.start].0 - 16;
                let end = seg.recs[r.end - 1].0 + seg.recs[r.end - 1].1;
                buf[..end - base].copy_from_slice(&seg.bytes[base..end]);
                let t = Instant::now();
                for (i, &(at, len, meta)) in seg.recs[r.clone()].iter().enumerate() {
                    per(&buf, r.start + i, at - base, len, meta);
                }
                ns += t.elapsed().as_nanos();
            }
            ns as f64 / n as f64
        };
        let extract_warm = best_of(|| {
            warm(&mut |b: &[u8], _, at, len, meta| {
                std::hint::black_box(FlowKey::extract(&b[at..at + len], meta));
            })
        });
        let extract_cold = best(n, || {
            for &(at, len, meta) in &seg.recs {
                std::hint::black_box(FlowKey::extract(&seg.bytes[at..at + len], meta));
            }
        });
        for block_size in [64usize << 10, 1 << 20] {
            let block_of: Vec<u32> = seg
                .recs
                .iter()
                .map(|&(at, _, _)| ((at - 16) / block_size) as u32)
                .collect();
            let blocks = block_of.last().map_or(0, |b| b + 1);
            let mut bytes = Vec::new();
            let build_warm = best_of(|| {
                let mut b = IndexBuilder::new();
                let pushes = warm(&mut |buf: &[u8], i, at, len, meta| {
                    b.push(block_of[i], &buf[at..at + len], meta);
                });
                let t = Instant::now();
                bytes = b.finish();
                pushes + t.elapsed().as_nanos() as f64 / n as f64
            });
            let warm_bytes = std::mem::take(&mut bytes);
            let build_cold = best(n, || {
                let mut b = IndexBuilder::new();
                for (&(at, len, meta), &k) in seg.recs.iter().zip(&block_of) {
                    b.push(k, &seg.bytes[at..at + len], meta);
                }
                bytes = b.finish();
            });
            assert_eq!(warm_bytes, bytes);
            println!(
                "| {name} | {} KiB | {n} | {:.0} | {blocks} | {:.0} | {build_warm:.1} | {build_cold:.1} | {extract_warm:.1} / {extract_cold:.1} | {} | {:016x} |",
                block_size >> 10,
                seg.bytes.len() as f64 / n as f64 - 16.0,
                n as f64 / f64::from(blocks),
                bytes.len(),
                fnv(&bytes),
            );
        }
    }
}
