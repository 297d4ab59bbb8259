//! The workers' real per-packet function without DPDK: 32 mirrored VXLAN frames through
//! `pipeline::process_packet` (decap, session lookup, policy, counters, the ring's record
//! write) into a tmpfs ring with its background helper, one commit per burst — what a worker
//! does between rx_burst and free_bulk, for 64 and 1500-byte inner frames; plainly, and with a
//! session whose filter (libpcap's interpreter here; rte_bpf's JIT on the appliance) keeps
//! half the flows.
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use mirrorcap::config::sessions::{Policy, Session, SessionSet};
use mirrorcap::gen::mirrored_vxlan;
use mirrorcap::pipeline::{
    process_packet, Frame, PipelineConfig, SharedSet, VniTable, WorkerSessions, WorkerState,
};
use mirrorcap_filter::PcapFilter;
use mirrorcap_ring::{Geometry, RingOptions, RingWriter};
use std::sync::Arc;

/// No session (the plain path), or one session on VNI 100 whose filter keeps even flows.
fn sessions(filtered: bool) -> Arc<SharedSet<PcapFilter>> {
    let set = SessionSet {
        sessions: filtered
            .then(|| Session {
                name: "half".into(),
                vni: vec![100],
                source: vec![],
                policy: Policy {
                    filter: Some("udp and src portrange 10000-10015".into()),
                    ..Policy::default()
                },
            })
            .into_iter()
            .collect(),
        default: Policy::default(),
    };
    let mut pcap = |e: &str, l, _snap| PcapFilter::new(e, l);
    // WorkerSessions takes an Arc; libpcap's program is not Sync, and one thread uses it here.
    #[allow(clippy::arc_with_non_send_sync)]
    Arc::new(SharedSet::compile(&set, &[1], &mut pcap).expect("compiles"))
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipeline");
    for size in [64usize, 1500] {
        let frames: Vec<Vec<u8>> = (0..32u16)
            .map(|flow| mirrored_vxlan(flow, 100, size))
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
        let (w, _) = RingWriter::open_with(&dir, 0, geometry, opts).expect("ring");
        let vnis = VniTable::new();
        let cfg = PipelineConfig::default();
        let mut ring = Some(w);
        for filtered in [false, true] {
            let mut st = WorkerState::new(
                ring.take().expect("ring"),
                &vnis,
                WorkerSessions::new(sessions(filtered)),
            );
            let mut ts = 1u64;
            g.throughput(Throughput::Elements(32));
            let name = if filtered {
                "filter keeps half"
            } else {
                "plain"
            };
            g.bench_function(format!("process_packet {size}B x32, {name}"), |b| {
                b.iter(|| {
                    ts += 1;
                    for f in &frames {
                        process_packet(&Frame(black_box(f)), ts, &cfg, &mut st);
                    }
                    st.ring.commit();
                })
            });
            ring = Some(st.ring);
        }
        let w = ring.expect("ring");
        drop(w);
        let _ = std::fs::remove_dir_all(&dir);
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
