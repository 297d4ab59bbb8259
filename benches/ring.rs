//! Ring write throughput per worker (no DPDK): records of 64, 1500 and 9001-byte frames
//! appended in bursts of 32 with one commit per burst, into a tmpfs ring of 4 x 64 MiB (so
//! rotations are included), next to plain memcpy of the same bytes into a mapping of the
//! same kind in the same run — the ceiling the ring's bookkeeping is measured against.
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use mirrorcap_ring::mmap::SegmentMap;
use mirrorcap_ring::{Geometry, RingWriter};
use std::path::PathBuf;

fn tmp_dir(name: &str) -> PathBuf {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let d = base.join(format!("mirrorcap-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn bench(c: &mut Criterion) {
    let g = Geometry {
        segments: 4,
        segment_size: 64 << 20,
    };
    let mut group = c.benchmark_group("ring");
    for size in [64usize, 1500, 9001] {
        let frame = vec![0xabu8; size];
        group.throughput(Throughput::Bytes((size * 32) as u64));

        let dir = tmp_dir("ring");
        let (mut w, _) = RingWriter::open(&dir, 0, g).expect("ring");
        let mut ts = 1u64;
        group.bench_function(format!("write+commit {size}B x32"), |b| {
            b.iter(|| {
                for _ in 0..32 {
                    ts += 1;
                    black_box(w.write(ts, black_box(&frame), size as u32));
                }
                w.commit();
            })
        });
        drop(w);
        let _ = std::fs::remove_dir_all(&dir);

        // The ceiling: the same bytes copied into a file mapping of the same size, wrapping.
        let dir = tmp_dir("memcpy");
        std::fs::create_dir_all(&dir).unwrap();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.join("m"))
            .unwrap();
        let total = (g.segments as u64 * g.segment_size) as usize;
        f.set_len(total as u64).unwrap();
        let mut map = SegmentMap::map(&f, total as u64).unwrap();
        let hdr = [0x5au8; 16];
        let rec = size + 16;
        let mut off = 0usize;
        group.bench_function(format!("memcpy {size}B x32"), |b| {
            b.iter(|| {
                for _ in 0..32 {
                    if off + rec > total {
                        off = 0;
                    }
                    let m = map.bytes_mut();
                    m[off..off + 16].copy_from_slice(&hdr);
                    m[off + 16..off + rec].copy_from_slice(black_box(&frame));
                    off += rec;
                }
                black_box(map.bytes_mut()[off.saturating_sub(1)]);
            })
        });
        drop(map);
        let _ = std::fs::remove_dir_all(&dir);
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
