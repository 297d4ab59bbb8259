//! The workers' real per-packet decision on plain bytes: [`process_packet`] over [`Frame`]s,
//! with session filters run by libpcap's interpreter, into a real ring in a temporary
//! directory — no EAL. Each test reads the ring back and checks the counters against it.
use super::*;
use crate::config::sessions::{Policy, Session, SessionSet};
use crate::gen::{inner_frame, mirrored_vxlan as mirrored};
use mirrorcap_filter::PcapFilter;
use mirrorcap_ring::reader::WorkerReader;
use mirrorcap_ring::{Geometry, RingOptions};
use std::sync::Arc;

fn compile(set: &SessionSet) -> Arc<SharedSet<PcapFilter>> {
    let slots: Vec<u8> = (1..=set.sessions.len() as u8).collect();
    let mut pcap = |e: &str, l, _snap| PcapFilter::new(e, l);
    // WorkerSessions takes an Arc; libpcap's program is not Sync, and one thread uses it here.
    #[allow(clippy::arc_with_non_send_sync)]
    Arc::new(SharedSet::compile(set, &slots, &mut pcap).expect("compiles"))
}

fn session(name: &str, vni: u32, policy: Policy) -> Session {
    Session {
        name: name.into(),
        vni: vec![vni],
        source: vec![],
        policy,
    }
}

/// A worker's state with a small ring in `dir` and `set`'s sessions.
fn worker<'a>(
    dir: &std::path::Path,
    vnis: &'a VniTable,
    set: &SessionSet,
) -> WorkerState<'a, PcapFilter> {
    let geometry = Geometry {
        segments: 2,
        segment_size: 1 << 20,
    };
    let (ring, _) = RingWriter::open_with(dir, 0, geometry, RingOptions::default()).expect("ring");
    WorkerState::new(ring, vnis, WorkerSessions::new(compile(set)))
}

/// Runs `frames` through the pipeline with `set`; returns the counters and the records the
/// ring kept (data, orig_len, session id).
fn run(set: &SessionSet, frames: &[Vec<u8>]) -> (WorkerStats, Vec<(Vec<u8>, u32, u8)>) {
    let dir = tempfile::tempdir().unwrap();
    let vnis = VniTable::new();
    let mut w = worker(dir.path(), &vnis, set);
    let cfg = PipelineConfig::default();
    for (i, f) in frames.iter().enumerate() {
        process_packet(&Frame(f), 1_000 + i as u64, &cfg, &mut w);
    }
    w.ring.commit();
    let st = w.st;
    w.ring.close().expect("close");
    let mut r = WorkerReader::open(&mirrorcap_ring::layout::worker_dir(dir.path(), 0)).unwrap();
    let mut out = Vec::new();
    while let Some(seg) = r.next_segment().unwrap() {
        out.extend(
            seg.into_iter()
                .map(|r| (r.data, r.orig_len, r.meta.session())),
        );
    }
    (st, out)
}

fn drops(st: &WorkerStats, label: &str) -> u64 {
    st.dropped(Drop::from_label(label).expect("a known reason"))
}

#[test]
fn plain_set_captures_every_inner_frame_and_counts_what_is_not_mirror() {
    let mut frames: Vec<Vec<u8>> = (0..8).map(|f| mirrored(f, 100, 200)).collect();
    frames.push(inner_frame(1, 1, 100)); // not tunnelled
    let (st, recs) = run(&SessionSet::default(), &frames);
    assert_eq!(st.rx_packets, 9);
    assert_eq!(st.captured_packets, 8);
    assert_eq!(drops(&st, "not_mirror"), 1);
    assert_eq!(recs.len(), 8);
    for (f, (data, orig, _)) in (0..8).zip(&recs) {
        assert_eq!(data, &inner_frame(f as u64, f, 200));
        assert_eq!(*orig, 200);
    }
}

#[test]
fn sessions_filter_drop_and_sample_as_configured() {
    let set = SessionSet {
        sessions: vec![
            session(
                "one-flow",
                100,
                Policy {
                    filter: Some("udp src port 10003".into()),
                    ..Policy::default()
                },
            ),
            session(
                "dropped",
                200,
                Policy {
                    action: crate::config::sessions::Action::Drop,
                    ..Policy::default()
                },
            ),
            session(
                "half",
                300,
                Policy {
                    sample: 2,
                    snaplen: 64,
                    ..Policy::default()
                },
            ),
        ],
        default: Policy::default(),
    };
    let mut frames = Vec::new();
    for f in 0..6u16 {
        frames.push(mirrored(f, 100, 300));
        frames.push(mirrored(f, 200, 300));
        frames.push(mirrored(f, 300, 300));
    }
    frames.push(mirrored(9, 400, 300)); // no session: the default keeps it
    let (st, recs) = run(&set, &frames);
    assert_eq!(st.rx_packets, 19);
    assert_eq!(drops(&st, "filtered"), 5);
    assert_eq!(drops(&st, "session_drop"), 6);
    assert_eq!(drops(&st, "sampled_out"), 3);
    assert_eq!(st.captured_packets, 1 + 3 + 1);
    let by_slot = |s: u8| recs.iter().filter(|r| r.2 == s).collect::<Vec<_>>();
    let one = by_slot(1);
    assert_eq!(one.len(), 1);
    assert_eq!(
        one[0].0,
        inner_frame(3, 3, 300),
        "the filter's one flow, whole"
    );
    let half = by_slot(3);
    assert_eq!(half.len(), 3);
    for r in &half {
        assert_eq!(r.0.len(), 64, "snaplen cuts the record");
        assert_eq!(r.1, 300, "original length kept");
    }
    assert_eq!(by_slot(0).len(), 1, "the default's record");
}

/// A frame that spans two buffers: what a jumbo frame in small mbufs looks like.
struct Chained<'a>(&'a [u8]);

impl Packet for Chained<'_> {
    fn data(&self) -> &[u8] {
        &self.0[..self.0.len() / 2]
    }
    fn wire_len(&self) -> u32 {
        self.0.len() as u32
    }
    fn segments(&self) -> u16 {
        2
    }
}

#[test]
fn a_frame_in_several_buffers_is_counted_oversize_not_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let vnis = VniTable::new();
    let mut w = worker(dir.path(), &vnis, &SessionSet::default());
    let f = mirrored(1, 100, 1000);
    process_packet(&Chained(&f), 1, &PipelineConfig::default(), &mut w);
    assert_eq!(w.st.rx_packets, 1);
    assert_eq!(w.st.rx_bytes, f.len() as u64);
    assert_eq!(drops(&w.st, "oversize_frame"), 1);
    assert_eq!(w.st.captured_packets, 0);
}
