//! Session filter cost per packet: a tcpdump expression compiled by libpcap, converted and run
//! by rte_bpf on mbufs (the inner frames of 32 generated packets, 64 and 1500 bytes), JIT
//! against the interpreter, for a simple and a complex expression. Needs a DPDK EAL (runs as
//! root with hugepages, else with --no-huge).
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use mirrorcap::gen::inner_frame;
use mirrorcap_dpdk::filter::{Filter, LinkType};
use mirrorcap_dpdk::{Burst, EalBuilder, Mempool};

const SIMPLE: &str = "tcp port 443";
const COMPLEX: &str = "(tcp or udp) and (port 443 or portrange 8000-8100) and src net 192.0.2.0/24 and len > 100 and not host 10.1.2.3";

fn bench(c: &mut Criterion) {
    let eal = EalBuilder::standalone().init().expect("EAL init");
    let pool = Mempool::new(&eal, "bench", 1023, 0, 2048 + 128, -1).expect("pool");
    let mut g = c.benchmark_group("filter");
    for size in [64usize, 1500] {
        let frames: Vec<Vec<u8>> = (0..32u16).map(|f| inner_frame(f as u64, f, size)).collect();
        let refs: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
        let mut burst = Burst::new();
        burst.fill_from(&pool, &refs).expect("burst");
        for (name, expr) in [("simple", SIMPLE), ("complex", COMPLEX)] {
            for jit in [true, false] {
                let f = Filter::new(&eal, expr, LinkType::Ethernet, 262_144, jit).expect(expr);
                let mode = if f.jitted() { "jit" } else { "interpreter" };
                g.throughput(Throughput::Elements(32));
                g.bench_function(format!("{name}/{mode}/{size}B x32"), |bch| {
                    bch.iter(|| {
                        let mut kept = 0;
                        for i in 0..32 {
                            kept += f.matches(&burst, i, 0, size) as usize;
                        }
                        black_box(kept)
                    })
                });
            }
        }
        burst.free_all();
    }
    g.finish();
    drop(pool);
}

criterion_group!(benches, bench);
criterion_main!(benches);
