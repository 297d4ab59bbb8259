//! The per-burst pipeline without DPDK: 32 mirrored VXLAN frames decapsulated and their inner
//! frames appended (record header, frame, index word) to a tmpfs ring with its background
//! helper, one commit per burst — what a worker does between rx_burst and free_bulk, for 64
//! and 1500-byte inner frames.
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use mirrorcap::gen::{encapsulate, inner_frame, mirror_source_port, Encap, OuterAddrs};
use mirrorcap_decap::{decap, DecapConfig};
use mirrorcap_ring::{Geometry, RecordMeta, RingOptions, RingWriter};

fn bench(c: &mut Criterion) {
    let cfg = DecapConfig::default();
    let mut g = c.benchmark_group("pipeline");
    for size in [64usize, 1500] {
        let frames: Vec<Vec<u8>> = (0..32u16)
            .map(|flow| {
                let inner = inner_frame(flow as u64, flow, size);
                let sport = mirror_source_port(&inner);
                encapsulate(
                    Encap::Vxlan,
                    0,
                    &OuterAddrs::default_for(flow),
                    flow,
                    100,
                    sport,
                    &inner,
                )
            })
            .collect();
        let dir = std::path::Path::new("/dev/shm")
            .join(format!("mirrorcap-bench-pipeline-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let geometry = Geometry {
            segments: 4,
            segment_size: 64 << 20,
        };
        let opts = RingOptions {
            background: true,
            ..RingOptions::default()
        };
        let (mut w, _) = RingWriter::open_with(&dir, 0, geometry, opts).expect("ring");
        let mut ts = 1u64;
        g.throughput(Throughput::Elements(32));
        g.bench_function(format!("decap+write {size}B x32"), |b| {
            b.iter(|| {
                ts += 1;
                for f in &frames {
                    let d = decap(black_box(f), &cfg).expect("mirrored");
                    let inner = d.inner(f);
                    let meta = RecordMeta::tunnel(d.meta.vni, 0);
                    black_box(w.write_record(ts, meta, &[], inner, inner.len() as u32));
                }
                w.commit();
            })
        });
        drop(w);
        let _ = std::fs::remove_dir_all(&dir);
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
