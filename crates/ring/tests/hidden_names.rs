//! The ring's naming protocol (see `layout`): a slot's files have their visible names
//! (`seg-NNN.pcap`, `seg-NNN.idx`) only while they hold a sealed segment trimmed to its records;
//! live, prepared or never-written slots are hidden (`.seg-NNN.pcap.part`). So every visible
//! pcap is complete at every instant, a kill included; readers find the hidden ones through the
//! control file. Also the ring's generation word.
use mirrorcap_ring::layout::{
    control_path, hidden_segment_path, segment_path, worker_dir, Entry, SegState, W_GENERATION,
};
use mirrorcap_ring::mmap::ControlView;
use mirrorcap_ring::reader::{parse_records, WorkerReader};
use mirrorcap_ring::{Geometry, RingOptions, RingWriter};
use std::path::Path;

const G: Geometry = Geometry {
    segments: 4,
    segment_size: 1 << 20,
};

fn names(wdir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(wdir)
        .unwrap()
        .flatten()
        .map(|d| d.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Control entry of slot `i`: (seq, committed, packets, state).
fn entry(wdir: &Path, i: usize) -> (u64, u64, u64, SegState) {
    let f = std::fs::File::open(control_path(wdir)).unwrap();
    let c = ControlView::map(&f).unwrap();
    let s = Entry::of(c.words(), i).unwrap().snapshot(i);
    (s.seq, s.committed, s.packets, s.state)
}

/// Reads a visible `seg-NNN.pcap` whole; Err if it is not a complete pcap (a partial record,
/// or bytes after the last record).
fn complete_records(path: &Path) -> Result<usize, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let (records, torn) = parse_records(&bytes);
    if torn != 0 || bytes.len() < 24 {
        return Err(format!(
            "{}: {} bytes, {torn} after the last of {} records",
            path.display(),
            bytes.len(),
            records.len()
        ));
    }
    Ok(records.len())
}

/// Every visible pcap is complete, is a sealed slot trimmed to its committed length with all its
/// packets, has its index beside it; no hidden file is named like a pcap.
fn assert_visible_complete(wdir: &Path) {
    for n in names(wdir) {
        if n.starts_with('.') {
            assert!(
                n.ends_with(".part") && !n.ends_with(".pcap") && !n.ends_with(".pcapng"),
                "hidden file {n}"
            );
            continue;
        }
        let Some(num) = n.strip_prefix("seg-").and_then(|r| r.strip_suffix(".pcap")) else {
            continue;
        };
        let i: usize = num.parse().unwrap();
        let path = wdir.join(&n);
        let records = complete_records(&path).unwrap();
        let (seq, committed, packets, state) = entry(wdir, i);
        assert!(seq > 0, "{n} visible but never written");
        assert_eq!(state, SegState::Sealed, "{n} visible but {state:?}");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), committed, "{n}");
        assert_eq!(records as u64, packets, "{n}");
        assert!(
            wdir.join(format!("seg-{num}.idx")).exists(),
            "{n} without its index"
        );
    }
}

fn visible_pcaps(wdir: &Path) -> usize {
    names(wdir)
        .iter()
        .filter(|n| n.starts_with("seg-") && n.ends_with(".pcap"))
        .count()
}

fn write_n(w: &mut RingWriter, from: u64, n: u64) {
    for i in from..from + n {
        assert!(w.write(1_000 + i, &[i as u8; 1000], 1000));
        if i % 16 == 0 {
            w.commit();
        }
    }
    w.commit();
}

#[test]
fn only_sealed_trimmed_segments_are_visible_at_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let wdir = worker_dir(dir.path(), 0);
    let (mut w, _) = RingWriter::open(dir.path(), 0, G).unwrap();
    // A new ring: nothing sealed, nothing visible; the live slot is hidden at full size.
    assert_eq!(visible_pcaps(&wdir), 0, "{:?}", names(&wdir));
    assert!(hidden_segment_path(&wdir, 0).exists());
    assert_eq!(
        std::fs::metadata(hidden_segment_path(&wdir, 0))
            .unwrap()
            .len(),
        G.segment_size
    );
    // ~1000 records per segment: several laps, checked every 100 records.
    let mut seen_max = 0;
    for step in 0..100u64 {
        write_n(&mut w, step * 100, 100);
        assert_visible_complete(&wdir);
        seen_max = seen_max.max(visible_pcaps(&wdir));
        // The live slot is never visible.
        let live = (0..G.segments as usize)
            .find(|&i| entry(&wdir, i).3 == SegState::Live)
            .expect("a live segment");
        assert!(!segment_path(&wdir, live).exists());
        assert!(hidden_segment_path(&wdir, live).exists());
    }
    assert_eq!(
        seen_max,
        G.segments as usize - 1,
        "all but the live one shown"
    );
    // Readers find the live segment under its hidden name.
    let mut r = WorkerReader::open(&wdir).unwrap();
    let mut n = 0;
    while let Some(recs) = r.next_segment().unwrap() {
        n += recs.len();
    }
    let total: u64 = r.segments().iter().map(|s| s.packets).sum();
    assert_eq!(n as u64, total);
    assert_eq!(r.stats.raced, 0);
    w.close().unwrap();
    // Closed: every written segment is sealed and visible.
    assert_visible_complete(&wdir);
    assert_eq!(visible_pcaps(&wdir), G.segments as usize);
}

#[test]
fn a_kill_leaves_only_complete_visible_files_and_recovery_shows_the_live_one() {
    let dir = tempfile::tempdir().unwrap();
    let wdir = worker_dir(dir.path(), 0);
    let (mut w, _) = RingWriter::open(dir.path(), 0, G).unwrap();
    write_n(&mut w, 0, 1500); // segment 0 sealed, segment 1 live
    std::mem::forget(w); // kill -9: no seal, no trim
    assert_visible_complete(&wdir);
    assert_eq!(visible_pcaps(&wdir), 1);
    let (_, committed, packets, state) = entry(&wdir, 1);
    assert_eq!(state, SegState::Live);
    assert_eq!(
        std::fs::metadata(hidden_segment_path(&wdir, 1))
            .unwrap()
            .len(),
        G.segment_size,
        "the live segment at full size, hidden"
    );
    // Recovery trims it to its committed records and continues it; a clean close shows it.
    let (w, report) = RingWriter::open(dir.path(), 0, G).unwrap();
    assert_eq!(report.recovered_segments, 1);
    assert_visible_complete(&wdir);
    w.close().unwrap();
    assert_visible_complete(&wdir);
    assert_eq!(
        std::fs::metadata(segment_path(&wdir, 1)).unwrap().len(),
        committed
    );
    assert_eq!(
        complete_records(&segment_path(&wdir, 1)).unwrap() as u64,
        packets
    );
    // Never-written slots stay hidden.
    assert!(!segment_path(&wdir, 2).exists());
    assert!(hidden_segment_path(&wdir, 2).exists());
}

#[test]
fn a_ring_from_before_hidden_names_is_renamed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let wdir = worker_dir(dir.path(), 0);
    let (mut w, _) = RingWriter::open(dir.path(), 0, G).unwrap();
    write_n(&mut w, 0, 1500);
    std::mem::forget(w);
    // The old layout: every slot under its visible name, the live one at full size.
    for i in 0..G.segments as usize {
        for (hidden, shown) in [
            (format!(".seg-{i:03}.pcap.part"), format!("seg-{i:03}.pcap")),
            (format!(".seg-{i:03}.idx.part"), format!("seg-{i:03}.idx")),
        ] {
            if wdir.join(&hidden).exists() {
                std::fs::rename(wdir.join(&hidden), wdir.join(&shown)).unwrap();
            }
        }
    }
    let (w, report) = RingWriter::open(dir.path(), 0, G).unwrap();
    assert_eq!(report.recovered_segments, 1);
    assert_visible_complete(&wdir);
    w.close().unwrap();
    assert_visible_complete(&wdir);
    assert_eq!(visible_pcaps(&wdir), 2);
    let mut r = WorkerReader::open(&wdir).unwrap();
    let mut n = 0;
    while let Some(recs) = r.next_segment().unwrap() {
        n += recs.len();
    }
    assert_eq!(n, 1500);
}

/// With the helper thread (trims, renames and prepares on its own thread), an observer that
/// lists and reads the visible files while the worker writes never sees an incomplete one,
/// unless the writer hid it (renamed it away) while the observer was reading it.
#[test]
fn with_the_helper_an_observer_never_sees_an_incomplete_visible_file() {
    let dir = tempfile::tempdir().unwrap();
    let wdir = worker_dir(dir.path(), 0);
    let (mut w, _) = RingWriter::open_with(dir.path(), 0, G, RingOptions::background()).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let observer = {
        let (wdir, stop) = (wdir.clone(), stop.clone());
        std::thread::spawn(move || {
            let (mut checked, mut renamed_away) = (0u64, 0u64);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for n in names(&wdir) {
                    if n.starts_with('.') {
                        assert!(n.ends_with(".part"), "{n}");
                        continue;
                    }
                    if !(n.starts_with("seg-") && n.ends_with(".pcap")) {
                        continue;
                    }
                    let path = wdir.join(&n);
                    let i: usize = n[4..7].parse().unwrap();
                    let seq = entry(&wdir, i).0;
                    match complete_records(&path) {
                        Ok(_) => checked += 1,
                        Err(e) => {
                            // Only a file hidden since (extended for reuse while read), or
                            // hidden, rewritten and shown again (a new seq) meanwhile.
                            assert!(
                                !path.exists() || entry(&wdir, i).0 != seq,
                                "visible and incomplete: {e}"
                            );
                            renamed_away += 1;
                        }
                    }
                }
            }
            (checked, renamed_away)
        })
    };
    for round in 0..40u64 {
        write_n(&mut w, round * 500, 500);
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (checked, _) = observer.join().unwrap();
    assert!(checked > 0);
    w.close().unwrap();
    assert_visible_complete(&wdir);
    assert_eq!(visible_pcaps(&wdir), G.segments as usize);
}

#[test]
fn the_generation_is_set_at_creation_and_kept_across_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let wdir = worker_dir(dir.path(), 0);
    let (w, _) = RingWriter::open(dir.path(), 0, G).unwrap();
    w.close().unwrap();
    let g1 = WorkerReader::open(&wdir).unwrap().generation();
    assert_ne!(g1, 0);
    let (mut w, _) = RingWriter::open(dir.path(), 0, G).unwrap();
    write_n(&mut w, 0, 10);
    std::mem::forget(w); // a kill, then a restart: same ring, same generation
    let (w, _) = RingWriter::open(dir.path(), 0, G).unwrap();
    w.close().unwrap();
    assert_eq!(WorkerReader::open(&wdir).unwrap().generation(), g1);
    // Deleted and recreated: seqs start again at 1, under another generation.
    std::fs::remove_dir_all(dir.path().join("worker-00")).unwrap();
    let (w, _) = RingWriter::open(dir.path(), 0, G).unwrap();
    w.close().unwrap();
    let r = WorkerReader::open(&wdir).unwrap();
    assert_eq!(r.segments()[0].seq, 1);
    assert_ne!(r.generation(), 0);
    assert_ne!(r.generation(), g1);
    // A ring from before the word (0 there): readers say 0, a writer's reopen records one.
    let c = std::fs::OpenOptions::new()
        .write(true)
        .open(control_path(&wdir))
        .unwrap();
    std::os::unix::fs::FileExt::write_all_at(&c, &0u64.to_le_bytes(), (W_GENERATION * 8) as u64)
        .unwrap();
    assert_eq!(WorkerReader::open(&wdir).unwrap().generation(), 0);
    let (w, _) = RingWriter::open(dir.path(), 0, G).unwrap();
    w.close().unwrap();
    let g3 = WorkerReader::open(&wdir).unwrap().generation();
    assert!(g3 != 0 && g3 != g1);
}

/// `open_slot_file` finds a file the writer renames back and forth between its two names.
#[test]
fn open_slot_file_finds_a_file_renamed_between_its_tries() {
    use mirrorcap_ring::layout::SlotFile;
    use mirrorcap_ring::reader::open_slot_file;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let (shown, hidden) = SlotFile::Data.paths(&d, 7);
    std::fs::write(&hidden, b"x").unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let renamer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::fs::rename(&hidden, &shown).unwrap();
                std::fs::rename(&shown, &hidden).unwrap();
                n += 2;
            }
            n
        })
    };
    for _ in 0..20_000 {
        let (f, path) = open_slot_file(&d, 7, SlotFile::Data).unwrap();
        assert_eq!(f.metadata().unwrap().len(), 1, "{}", path.display());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(renamer.join().unwrap() > 0);
    let e = open_slot_file(&d, 8, SlotFile::Data).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
}

/// Readers (export's, the store spooler's) read a ring whose helper renames files as it trims
/// and prepares them: never an open error, every segment read whole or counted as raced.
#[test]
fn readers_follow_segments_across_renames_while_the_helper_works() {
    let dir = tempfile::tempdir().unwrap();
    let wdir = worker_dir(dir.path(), 0);
    let (mut w, _) = RingWriter::open_with(dir.path(), 0, G, RingOptions::background()).unwrap();
    write_n(&mut w, 0, 100);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (wdir, stop) = (wdir.clone(), stop.clone());
        std::thread::spawn(move || {
            let (mut passes, mut segments) = (0u64, 0u64);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut r = WorkerReader::open(&wdir).unwrap();
                while let Some(recs) = r.next_segment().expect("no open error across renames") {
                    // Records are numbered by timestamp: contiguous within a segment.
                    let ts: Vec<u64> = recs.iter().map(|r| r.ts_ns).collect();
                    assert!(ts.windows(2).all(|p| p[1] == p[0] + 1), "{ts:?}");
                    segments += 1;
                }
                passes += 1;
            }
            (passes, segments)
        })
    };
    for round in 0..60u64 {
        write_n(&mut w, 100 + round * 300, 300);
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (passes, segments) = reader.join().unwrap();
    assert!(passes > 0 && segments > 0);
    w.close().unwrap();
    assert_visible_complete(&wdir);
}
