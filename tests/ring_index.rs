//! The per-record metadata index (`seg-NNN.idx`) through the ring's public API: every record
//! read back carries the word it was written with, across rotations, overwrite laps and a
//! crash; a segment of tiny records rotates when its index is full, before its bytes are; the
//! index files are sized, reserved and created 0640 like the segments.
use mirrorcap_ring::layout::{current_path, segment_path, worker_dir, SlotFile};
use mirrorcap_ring::reader::WorkerReader;
use mirrorcap_ring::{Geometry, RecordMeta, RingWriter};
use std::os::unix::fs::PermissionsExt;

const MIB: u64 = 1 << 20;

fn meta_of(seq: u64) -> RecordMeta {
    match seq % 5 {
        4 => RecordMeta::UNTAGGED,
        k => RecordMeta::tunnel(1000 + k as u32 * 7, (seq % 3) as u8),
    }
}

fn frame(seq: u64, len: usize) -> Vec<u8> {
    let mut f = vec![0xa5u8; len];
    f[..8].copy_from_slice(&seq.to_be_bytes());
    f
}

/// Every retained record of worker 0 as (seq, meta), oldest first.
fn read_back(ring: &std::path::Path) -> Vec<(u64, RecordMeta)> {
    let mut r = WorkerReader::open(&worker_dir(ring, 0)).unwrap();
    let mut out = Vec::new();
    while let Some(recs) = r.next_segment().unwrap() {
        out.extend(
            recs.iter()
                .map(|r| (u64::from_be_bytes(r.data[..8].try_into().unwrap()), r.meta)),
        );
    }
    out
}

#[test]
fn every_record_keeps_its_word_across_laps_and_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("ring");
    let g = Geometry {
        segments: 3,
        segment_size: MIB,
    };
    let (mut w, _) = RingWriter::open(&ring, 0, g).unwrap();
    let mut seq = 0u64;
    // Three laps of a 3 MiB ring with 200-1400-byte records.
    while w.stats.segments_sealed < 9 {
        let len = 200 + (seq as usize * 131) % 1200;
        assert!(w.write_record(seq, meta_of(seq), &[], &frame(seq, len), len as u32));
        seq += 1;
        if seq.is_multiple_of(16) {
            w.commit();
        }
    }
    w.commit();
    let committed = seq;
    // Written but never committed, then the process dies.
    for s in seq..seq + 10 {
        w.write_record(s, RecordMeta::tunnel(1, 1), &[], &frame(s, 300), 300);
    }
    std::mem::forget(w);
    let got = read_back(&ring);
    assert!(got.len() > 1000);
    let first = got[0].0;
    assert_eq!(
        got.last().unwrap().0,
        committed - 1,
        "uncommitted records are not read"
    );
    for (i, (s, m)) in got.iter().enumerate() {
        assert_eq!(*s, first + i as u64, "contiguous");
        assert_eq!(*m, meta_of(*s), "record {s}");
    }
    // Recovery keeps them; writing goes on after them with their words intact.
    let (mut w, report) = RingWriter::open(&ring, 0, g).unwrap();
    assert_eq!(report.recovered_segments, 1);
    for s in committed..committed + 100 {
        assert!(w.write_record(s, meta_of(s), &[], &frame(s, 500), 500));
    }
    w.close().unwrap();
    let again = read_back(&ring);
    assert_eq!(again.last().unwrap().0, committed + 99);
    assert!(again.iter().all(|(s, m)| *m == meta_of(*s)));
}

#[test]
fn tiny_records_rotate_when_the_index_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("ring");
    let g = Geometry {
        segments: 4,
        segment_size: MIB,
    };
    let cap = g.index_entries();
    assert_eq!(cap, MIB / 64);
    let (mut w, _) = RingWriter::open(&ring, 0, g).unwrap();
    // 14-byte frames: 30-byte records, so the index (16384 words) fills at ~480 KiB.
    let n = cap * 2 + 100;
    for s in 0..n {
        assert!(w.write_record(s, meta_of(s), &[], &frame(s, 14), 14));
    }
    assert_eq!(w.stats.segments_sealed, 2);
    w.close().unwrap();
    let r = WorkerReader::open(&worker_dir(&ring, 0)).unwrap();
    let packets: Vec<u64> = r.segments().iter().map(|s| s.packets).collect();
    assert_eq!(packets, vec![cap, cap, 100]);
    let wd = worker_dir(&ring, 0);
    assert_eq!(
        std::fs::metadata(segment_path(&wd, 0)).unwrap().len(),
        24 + cap * 30,
        "the segment was sealed with its bytes far from full"
    );
    let got = read_back(&ring);
    assert_eq!(got.len() as u64, n);
    assert!(got.iter().all(|(s, m)| *m == meta_of(*s)));
    for i in 0..4 {
        let md = std::fs::metadata(current_path(&wd, i, SlotFile::Index)).unwrap();
        assert_eq!(md.len(), g.index_len(), "index {i} is full size");
        assert_eq!(
            md.permissions().mode() & 0o027,
            0,
            "index {i} is not world-readable"
        );
    }
    assert_eq!(
        g.worker_bytes(),
        4 * (MIB + MIB / 16) + g.control_len(),
        "the disk check counts the index files"
    );
}
