//! Recovery rebuilds a crashed segment's index from the records it keeps: the packet count
//! and first/last timestamps are stored apart from the committed length, so a kill between
//! those stores must not leave a wrong index behind.
use mirrorcap_ring::layout::{
    control_path, worker_dir, E_FIRST_TS, E_LAST_TS, E_PACKETS, HEADER_WORDS,
};
use mirrorcap_ring::reader::WorkerReader;
use mirrorcap_ring::{Geometry, RingWriter};
use std::os::unix::fs::FileExt;

#[test]
fn recovery_recounts_the_index_of_a_crashed_segment() {
    let dir = tempfile::tempdir().unwrap();
    let g = Geometry {
        segments: 3,
        segment_size: 1 << 20,
    };
    let (mut w, _) = RingWriter::open(dir.path(), 0, g).unwrap();
    for i in 0..100u64 {
        assert!(w.write(1_000 + i, &[i as u8; 100], 100));
    }
    w.commit();
    std::mem::forget(w); // kill -9: no seal
                         // A kill between the index stores and `committed`: the index says something else.
    let control = std::fs::OpenOptions::new()
        .write(true)
        .open(control_path(&worker_dir(dir.path(), 0)))
        .unwrap();
    // Segment 0's entry starts right after the header.
    let word = |field: usize| ((HEADER_WORDS + field) * 8) as u64;
    control
        .write_all_at(&999u64.to_le_bytes(), word(E_PACKETS))
        .unwrap();
    control
        .write_all_at(&7u64.to_le_bytes(), word(E_FIRST_TS))
        .unwrap();
    control
        .write_all_at(&8u64.to_le_bytes(), word(E_LAST_TS))
        .unwrap();
    let (w, report) = RingWriter::open(dir.path(), 0, g).unwrap();
    assert_eq!(report.recovered_segments, 1);
    drop(w);
    let r = WorkerReader::open(&worker_dir(dir.path(), 0)).unwrap();
    let s = r.segments()[0];
    assert_eq!(
        (s.packets, s.first_ts, s.last_ts),
        (100, 1_000, 1_099),
        "index rebuilt from the records"
    );
}
