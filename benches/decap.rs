//! Decapsulation cost per packet (no DPDK): VXLAN over IPv4, VXLAN over IPv6 and a GWLB's
//! Geneve → IPv4 → VXLAN, on 64-byte and 1500-byte inner frames built by the generator.
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use mirrorcap::gen::{encapsulate, inner_frame, mirror_source_port, Encap, OuterAddrs};
use mirrorcap_decap::{decap, DecapConfig};

fn frames(encap: Encap, size: usize) -> Vec<Vec<u8>> {
    (0..32u16)
        .map(|flow| {
            let inner = inner_frame(flow as u64, flow, size);
            encapsulate(
                encap,
                0,
                &OuterAddrs::default_for(flow),
                flow,
                100,
                mirror_source_port(&inner),
                &inner,
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let cfg = DecapConfig::default();
    let mut g = c.benchmark_group("decap");
    for (name, encap) in [
        ("vxlan4", Encap::Vxlan),
        ("vxlan6", Encap::Vxlan6),
        ("gwlb_geneve_vxlan", Encap::Gwlb),
    ] {
        for size in [64usize, 1500] {
            let fs = frames(encap, size);
            for f in &fs {
                assert!(decap(f, &cfg).is_ok(), "{name} must decapsulate");
            }
            g.throughput(Throughput::Elements(fs.len() as u64));
            g.bench_function(format!("{name}/{size}B x32"), |b| {
                b.iter(|| {
                    let mut n = 0usize;
                    for f in &fs {
                        if let Ok(d) = decap(black_box(f), &cfg) {
                            n += d.inner_len;
                        }
                    }
                    black_box(n)
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
