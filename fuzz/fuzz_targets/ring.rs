//! Fuzzes the ring's readers on corrupted files: arbitrary bytes as a pcap segment, a record
//! index and a control file. Parsing must never panic, return a record outside the bytes, or
//! read past the committed length; a reader on a corrupted ring returns records or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mirrorcap_ring::layout::{control_path, index_path, segment_path};
use mirrorcap_ring::record_meta::decode_index;
use mirrorcap_ring::reader::{parse_records, WorkerReader};
use std::path::PathBuf;
use std::sync::OnceLock;

fn dir() -> &'static PathBuf {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() { "/dev/shm" } else { "/tmp" };
        let d = PathBuf::from(format!("{base}/mirrorcap-fuzz-ring-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

fuzz_target!(|data: &[u8]| {
    // The bytes as a segment.
    let (records, torn) = parse_records(data);
    let used: usize = records.iter().map(|r| 16 + r.data.len()).sum::<usize>();
    assert!(records.is_empty() || 24 + used + torn == data.len());
    let _ = decode_index(data, data.len() / 4 + 3);

    // The bytes split into a control file (2 segments: 24 words), segment 0, its index.
    let (control, rest) = data.split_at(data.len().min(192));
    let (seg, idx) = rest.split_at(rest.len() / 2);
    let d = dir();
    std::fs::write(control_path(d), control).unwrap();
    std::fs::write(segment_path(d, 0), seg).unwrap();
    std::fs::write(index_path(d, 0), idx).unwrap();
    let _ = std::fs::remove_file(segment_path(d, 1));
    if let Ok(mut r) = WorkerReader::open(d) {
        // Only segment 0 has bytes; whatever is returned comes from them.
        while let Ok(Some(recs)) = r.next_segment() {
            let bytes: usize = recs.iter().map(|r| 16 + r.data.len()).sum();
            assert!(bytes <= seg.len(), "records beyond the segment's bytes");
        }
    }
});
