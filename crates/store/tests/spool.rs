//! The spooler against a real ring (`RingWriter`, 4 segments of 1 MiB): the store holds
//! exactly the ring's records and metadata words in order, in files stock tools read; a
//! second poll stores nothing twice; a kill -9 at any step of publishing a file resumes with
//! no loss and no duplicate; a ring that laps the spooler counts the segments it lost; retention
//! deletes the oldest files first. On /var/tmp (ext4: O_DIRECT) and /dev/shm (tmpfs).

mod common;

use common::ring::{check_with_stock_tools, store_records, tempdir_in, TestRing, SEGMENT};
use mirrorcap_store::flowidx::{build_for_file, fidx_path, load, Sidecar};
use mirrorcap_store::storedir::{list, write_cursor};
use mirrorcap_store::{
    Compression, IoMode, Record, Retention, SpoolOptions, Spooler, StoreFile, StoreOptions,
};
use std::path::Path;
use std::time::Duration;

fn opts(compression: Compression) -> SpoolOptions {
    SpoolOptions {
        store: StoreOptions {
            compression,
            block_size: 64 << 10,
        },
        ..SpoolOptions::default()
    }
}

fn open(ring: &TestRing, store: &Path, o: SpoolOptions) -> Spooler {
    Spooler::open(&ring.dir, 0, store, o).expect("open spooler")
}

/// `got` equals `want`, said briefly when not (records are large).
fn same(got: &[Record], want: &[Record], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: record count");
    if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
        panic!(
            "{what}: record {i} differs: ts {} vs {}",
            got[i].ts_ns, want[i].ts_ns
        );
    }
}

fn spools_sealed_segments_exactly_once(base: &str, compression: Compression, mode: IoMode) {
    let ring_dir = tempdir_in(base);
    let store = tempdir_in(base);
    let mut ring = TestRing::open(ring_dir.path());
    let mut sp = open(&ring, store.path(), opts(compression));
    ring.write(SEGMENT * 5 / 2); // two sealed segments, the third live
    let rep = sp.poll().unwrap();
    assert_eq!(rep.segments_stored, 2, "{rep:?}");
    assert_eq!(rep.io_mode, Some(mode));
    let stored = store_records(sp.dir());
    assert!(!stored.is_empty() && stored.len() < ring.written.len());
    same(&stored, &ring.written[..stored.len()], "sealed prefix");
    assert_eq!(rep.records_stored, stored.len() as u64);
    assert_eq!((rep.lag_segments, rep.overrun_segments), (0, 0));

    let again = sp.poll().unwrap();
    assert_eq!(
        (again.segments_stored, again.records_stored),
        (0, 0),
        "{again:?}"
    );

    ring.close();
    let last = sp.poll().unwrap();
    assert_eq!(last.segments_stored, 1, "{last:?}");
    same(
        &store_records(sp.dir()),
        &ring.written,
        "everything after close",
    );
    let t = sp.totals();
    assert_eq!(t.records_stored, ring.written.len() as u64);
    // Nothing was deleted: the store spans the first to the last packet written.
    let ts = |i: usize| Some(ring.written[i].ts_ns);
    assert_eq!(t.oldest_stored_ns, ts(0), "{t:?}");
    assert_eq!(t.newest_stored_ns, ts(ring.written.len() - 1), "{t:?}");
    // A restarted spooler takes the newest packet from the newest file's index.
    let mut reopened = open(&ring, store.path(), opts(compression));
    assert_eq!(
        reopened.poll().unwrap().newest_stored_ns,
        ts(ring.written.len() - 1)
    );
    let ratio = t.compression_ratio().unwrap();
    match compression {
        // Half the payloads are text: zstd must gain, and a plain file is the bytes themselves.
        Compression::Zstd { .. } => assert!(ratio > 1.2, "ratio {ratio}"),
        Compression::None => assert!((ratio - 1.0).abs() < 0.001, "ratio {ratio}"),
    }
    let checked = check_with_stock_tools(sp.dir());
    assert!(
        checked == 3 || checked == 0,
        "3 files, or no tools outside CI"
    );
}

#[test]
fn ext4_with_o_direct_stores_each_sealed_segment_once_both_modes() {
    for c in [Compression::DEFAULT_ZSTD, Compression::None] {
        spools_sealed_segments_exactly_once("/var/tmp", c, IoMode::Direct);
    }
}

#[test]
fn tmpfs_and_buffered_writes_store_the_same() {
    // Linux >= 6.6 gives tmpfs O_DIRECT; older kernels refuse it (EINVAL) and the spooler
    // falls back. Either is right here; forcing buffered exercises the fallback's writes.
    let probe = tempdir_in("/dev/shm");
    let f = probe.path().join("probe");
    let direct = mirrorcap_store::odirect::DataFile::create(&f, true)
        .unwrap()
        .mode();
    eprintln!("O_DIRECT on tmpfs here: {direct:?}");
    spools_sealed_segments_exactly_once("/dev/shm", Compression::DEFAULT_ZSTD, direct);
    let ring_dir = tempdir_in("/var/tmp");
    let store = tempdir_in("/var/tmp");
    let mut ring = TestRing::open(ring_dir.path());
    let o = SpoolOptions {
        direct: false,
        ..opts(Compression::None)
    };
    let mut sp = open(&ring, store.path(), o);
    ring.write(SEGMENT * 3 / 2);
    ring.close();
    assert_eq!(sp.poll().unwrap().io_mode, Some(IoMode::Buffered));
    same(&store_records(sp.dir()), &ring.written, "buffered");
}

#[test]
fn kill_at_each_publication_step_resumes_without_loss_or_duplicates() {
    let ring_dir = tempdir_in("/var/tmp");
    let store = tempdir_in("/var/tmp");
    let mut ring = TestRing::open(ring_dir.path());
    let o = opts(Compression::DEFAULT_ZSTD);
    let mut sp = open(&ring, store.path(), o);
    ring.write(SEGMENT * 3 / 2);
    sp.poll().unwrap();
    let before = sp.cursor().unwrap();
    ring.write(SEGMENT);
    assert_eq!(sp.poll().unwrap().segments_stored, 1);
    let dir = sp.dir().to_path_buf();
    drop(sp);

    // Killed after the index was published, before the cursor: the cursor lags one file,
    // and a half-written temporary file and a stray data file are left.
    write_cursor(&dir, before).unwrap();
    std::fs::write(dir.join(".x.pcap.zst.tmp"), b"partial").unwrap();
    let newest = list(&dir).unwrap().pop().unwrap();
    let stray = dir.join("01800000000000000000-0000000099.pcap.zst");
    std::fs::copy(&newest.data, &stray).unwrap();
    let mut sp = open(&ring, store.path(), o);
    assert_eq!(sp.cleaned, 2);
    assert!(
        sp.cursor().unwrap() > before,
        "the newest file moves the cursor on"
    );
    assert_eq!(sp.poll().unwrap().segments_stored, 0, "stored once only");
    drop(sp);

    // Killed after the data file was renamed, before its index: the data file is not
    // complete to readers, is deleted at open, and its segment is stored again.
    std::fs::remove_file(&newest.index).unwrap();
    write_cursor(&dir, before).unwrap();
    let mut sp = open(&ring, store.path(), o);
    assert_eq!(
        sp.cleaned, 3,
        "the data file and its sidecars (flow index, flow records)"
    );
    assert_eq!(sp.cursor(), Some(before));
    assert_eq!(sp.poll().unwrap().segments_stored, 1);

    ring.write(SEGMENT);
    ring.close();
    sp.poll().unwrap();
    same(&store_records(&dir), &ring.written, "after two kills");
    check_with_stock_tools(&dir);
}

#[test]
fn a_segment_continued_by_a_restarted_ring_writer_stores_only_its_new_records() {
    let ring_dir = tempdir_in("/var/tmp");
    let store = tempdir_in("/var/tmp");
    let mut ring = TestRing::open(ring_dir.path());
    let mut sp = open(&ring, store.path(), opts(Compression::DEFAULT_ZSTD));
    ring.write(SEGMENT * 3 / 2);
    ring.close();
    assert_eq!(sp.poll().unwrap().segments_stored, 2);
    // A restarted writer continues its newest segment under the same seq.
    ring.reopen();
    ring.write(SEGMENT / 4);
    ring.close();
    let rep = sp.poll().unwrap();
    assert_eq!(rep.segments_stored, 1, "{rep:?}");
    let files = list(sp.dir()).unwrap();
    assert_eq!(files[2].seq, files[1].seq, "{files:?}");
    assert!(
        files[2].from > 24,
        "named by the byte it starts at: {files:?}"
    );
    same(&store_records(sp.dir()), &ring.written, "continued segment");
    drop(sp);
    // Reopened, the cursor comes back to the continued part's end: nothing stored again.
    let mut sp = open(&ring, store.path(), opts(Compression::DEFAULT_ZSTD));
    assert_eq!(sp.poll().unwrap().segments_stored, 0);
    check_with_stock_tools(sp.dir());
}

#[test]
fn a_ring_that_laps_the_spooler_counts_the_lost_segments() {
    let ring_dir = tempdir_in("/var/tmp");
    let store = tempdir_in("/var/tmp");
    let mut ring = TestRing::open(ring_dir.path());
    let mut sp = open(&ring, store.path(), opts(Compression::DEFAULT_ZSTD));
    ring.write(SEGMENT * 5 / 2);
    assert_eq!(sp.poll().unwrap().segments_stored, 2);
    let first = store_records(sp.dir());
    // Ten more segments' worth into a ring of four: the spooler (not polled) falls behind.
    ring.write(SEGMENT * 10);
    ring.close();
    let rep = sp.poll().unwrap();
    let kept = ring.contents();
    let lost = ring.written.len() - first.len() - kept.len();
    assert!(lost > 0);
    // Segments 1-2 stored; the ring now holds its four newest; the ones between are lost.
    let r = mirrorcap_ring::reader::WorkerReader::open(&ring_dir.path().join("worker-00"));
    let oldest = r.unwrap().segments().iter().map(|s| s.seq).min().unwrap();
    assert_eq!(rep.overrun_segments, oldest - 3, "{rep:?}");
    assert_eq!(rep.segments_stored, 4);
    same(
        &store_records(sp.dir()),
        &[first, kept].concat(),
        "stored around the gap",
    );
    // Counted once: a later poll does not count the same gap again.
    assert_eq!(sp.poll().unwrap().overrun_segments, 0);
}

#[test]
fn overrun_segments_a_poll_saw_are_counted_in_packets() {
    let ring_dir = tempdir_in("/var/tmp");
    let store = tempdir_in("/var/tmp");
    let mut ring = TestRing::open(ring_dir.path());
    let mut sp = open(&ring, store.path(), opts(Compression::DEFAULT_ZSTD));
    ring.write(SEGMENT * 5 / 2); // 1 and 2 sealed, 3 live
    let worker = ring_dir.path().join("worker-00");
    let live = mirrorcap_ring::reader::WorkerReader::open(&worker).unwrap();
    let seen = live.segments().iter().find(|s| s.seq == 3).unwrap().packets;
    assert!(seen > 0);
    assert_eq!(sp.poll().unwrap().segments_stored, 2);
    // The ring laps the spooler: 3 (seen live, with `seen` packets) and the segments after
    // it (never seen) are overwritten before the next poll.
    ring.write(SEGMENT * 10);
    ring.close();
    let rep = sp.poll().unwrap();
    assert!(rep.overrun_segments > 1, "{rep:?}");
    assert_eq!(rep.overrun_packets, seen, "{rep:?}");
}

#[test]
fn lag_in_time_is_the_span_of_sealed_segments_not_yet_stored() {
    let ring_dir = tempdir_in("/var/tmp");
    let store = tempdir_in("/var/tmp");
    let mut ring = TestRing::open(ring_dir.path());
    let mut sp = open(&ring, store.path(), opts(Compression::DEFAULT_ZSTD));
    ring.write(SEGMENT * 3 / 2); // 1 sealed, 2 live
    let rep = sp.poll().unwrap();
    assert_eq!(
        (rep.segments_stored, rep.lag_segments, rep.lag_ns),
        (1, 0, 0)
    );
    ring.write(SEGMENT * 2); // 2 and 3 sealed
    let r = mirrorcap_ring::reader::WorkerReader::open(&ring_dir.path().join("worker-00"));
    let segs = r.unwrap().segments().to_vec();
    let stored_newest = segs.iter().find(|s| s.seq == 1).unwrap().last_ts;
    let pending_newest = segs
        .iter()
        .filter(|s| s.seq == 2 || s.seq == 3)
        .map(|s| s.last_ts)
        .max()
        .unwrap();
    let lag = sp.lag().unwrap();
    assert_eq!(lag.segments, 2, "{lag:?}");
    assert!(lag.bytes > SEGMENT as u64, "{lag:?}");
    assert_eq!(lag.ns, pending_newest - stored_newest, "{lag:?}");
    let rep = sp.poll().unwrap();
    assert_eq!(rep.segments_stored, 2, "{rep:?}");
    assert_eq!(
        (rep.lag_segments, rep.lag_bytes, rep.lag_ns),
        (0, 0, 0),
        "{rep:?}"
    );
}

#[test]
fn an_anchored_store_counts_segments_lost_before_its_first_poll() {
    let ring_dir = tempdir_in("/var/tmp");
    let store = tempdir_in("/var/tmp");
    let mut ring = TestRing::open(ring_dir.path());
    let mut sp = open(&ring, store.path(), opts(Compression::DEFAULT_ZSTD));
    sp.anchor().unwrap();
    // Ten segments' worth into a ring of four before the first poll.
    ring.write(SEGMENT * 10);
    ring.close();
    let rep = sp.poll().unwrap();
    let r = mirrorcap_ring::reader::WorkerReader::open(&ring_dir.path().join("worker-00"));
    let seqs: Vec<u64> = r.unwrap().segments().iter().map(|s| s.seq).collect();
    let (oldest, newest) = (seqs[0], *seqs.last().unwrap());
    assert_eq!(rep.overrun_segments, oldest - 1, "{rep:?}");
    assert_eq!(
        rep.segments_stored + rep.empty_segments + rep.overrun_segments,
        newest,
        "every seq stored or counted: {rep:?}"
    );
    same(
        &store_records(sp.dir()),
        &ring.contents(),
        "the ring's four",
    );
    // Anchoring again keeps the cursor: nothing is stored or counted twice.
    sp.anchor().unwrap();
    let again = sp.poll().unwrap();
    assert_eq!((again.segments_stored, again.overrun_segments), (0, 0));
}

#[test]
fn retention_deletes_oldest_first_and_keeps_the_newest() {
    let ring_dir = tempdir_in("/var/tmp");
    let store = tempdir_in("/var/tmp");
    let mut ring = TestRing::open(ring_dir.path());
    let max = 3 * SEGMENT as u64 + SEGMENT as u64 / 2;
    let o = SpoolOptions {
        retention: Retention {
            max_bytes: Some(max),
            ..Retention::default()
        },
        ..opts(Compression::None)
    };
    let mut sp = open(&ring, store.path(), o);
    let mut names = Vec::new();
    let mut deleted = Vec::new();
    for _ in 0..8 {
        ring.write(SEGMENT);
        let rep = sp.poll().unwrap();
        assert!(rep.store_bytes <= max, "{rep:?}");
        deleted.extend(rep.deleted);
        names.extend(list(sp.dir()).unwrap().into_iter().map(|f| f.name));
    }
    names.dedup();
    let mut all: Vec<String> = names.clone();
    all.sort();
    all.dedup();
    let left: Vec<String> = list(sp.dir())
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(sp.totals().deleted_files, deleted.len() as u64);
    assert_eq!(left.len(), 3, "{left:?}");
    assert_eq!(
        [deleted, left.clone()].concat(),
        all,
        "oldest deleted first"
    );
    let stored = store_records(sp.dir());
    let n = ring.written.len();
    // What is left is a contiguous run of the newest sealed records.
    let start = (0..n).find(|&i| ring.written[i] == stored[0]).unwrap();
    same(&stored, &ring.written[start..start + stored.len()], "kept");

    // A budget smaller than one file still keeps the newest file.
    let newest = left.last().unwrap().clone();
    let tight = Retention {
        max_bytes: Some(1),
        ..Retention::default()
    };
    let d = mirrorcap_store::retention::apply(sp.dir(), tight, 0, None).unwrap();
    assert_eq!(d.names, left[..2].to_vec());
    assert_eq!(list(sp.dir()).unwrap()[0].name, newest);

    // By age: everything older than the newest file's first packet goes (none here: one left),
    // then a fresh file makes the previous one old.
    ring.write(SEGMENT);
    sp.poll().unwrap();
    let files = list(sp.dir()).unwrap();
    let newest_ts = files.last().unwrap().first_ts_ns;
    let by_age = Retention {
        max_age: Some(Duration::from_secs(1)),
        ..Retention::default()
    };
    let d = mirrorcap_store::retention::apply(sp.dir(), by_age, newest_ts + 1_000_000_000, None)
        .unwrap();
    assert_eq!(d.names, vec![newest]);
    check_with_stock_tools(sp.dir());
}

#[test]
fn retention_waits_for_the_archive_when_required_and_counts_what_it_deletes_otherwise() {
    use mirrorcap_store::archived::ArchiveMark;
    let ring_dir = tempdir_in("/var/tmp");
    let store = tempdir_in("/var/tmp");
    let mut ring = TestRing::open(ring_dir.path());
    let mut sp = open(&ring, store.path(), opts(Compression::None));
    for _ in 0..5 {
        ring.write(SEGMENT);
        sp.poll().unwrap();
    }
    let files = list(sp.dir()).unwrap();
    assert_eq!(files.len(), 5);
    let tight = Retention {
        max_bytes: Some(1),
        ..Retention::default()
    };
    // Required: the first two are uploaded, retention stops at the third.
    let required = ArchiveMark::load(sp.dir(), true).unwrap();
    required.advance(sp.dir(), &files[1]).unwrap();
    let d = mirrorcap_store::retention::apply(sp.dir(), tight, 0, Some(&required)).unwrap();
    assert_eq!(d.names, vec![files[0].name.clone(), files[1].name.clone()]);
    assert!(d.held_for_archive && d.unarchived == 0, "{d:?}");
    assert_eq!(list(sp.dir()).unwrap().len(), 3, "kept until uploaded");
    // The mark is on disk: a restarted run reads the same position.
    let again = ArchiveMark::load(sp.dir(), false).unwrap();
    assert!(again.archived(&files[1]) && !again.archived(&files[2]));
    // Not required: local retention wins, and the two deleted before upload are counted.
    let d = mirrorcap_store::retention::apply(sp.dir(), tight, 0, Some(&again)).unwrap();
    assert_eq!(d.names, vec![files[2].name.clone(), files[3].name.clone()]);
    assert_eq!(d.unarchived, 2, "{d:?}");
    assert!(d.unarchived_bytes > 0 && !d.held_for_archive);
    assert_eq!(
        list(sp.dir()).unwrap().len(),
        1,
        "the newest is always kept"
    );
}

#[test]
fn a_store_chasing_the_rings_tail_skips_ahead_and_accounts_for_every_segment() {
    // The ring in RAM, written as fast as the writer can: it laps a store that compresses and
    // fsyncs each file, so segments are overwritten while the spooler reads them.
    let ring_dir = tempdir_in("/dev/shm");
    let store = tempdir_in("/var/tmp");
    let ring = TestRing::open(ring_dir.path());
    let mut sp = open(&ring, store.path(), opts(Compression::DEFAULT_ZSTD));
    sp.anchor().unwrap();
    let writer = std::thread::spawn(move || {
        let mut ring = ring;
        for _ in 0..100 {
            ring.write(SEGMENT);
        }
        ring.close();
    });
    while !writer.is_finished() {
        sp.poll().unwrap();
    }
    writer.join().unwrap();
    sp.poll().unwrap();
    let t = sp.totals().clone();
    let r = mirrorcap_ring::reader::WorkerReader::open(&ring_dir.path().join("worker-00"));
    let newest = r.unwrap().segments().iter().map(|s| s.seq).max().unwrap();
    assert_eq!(
        t.segments_stored + t.empty_segments + t.overrun_segments,
        newest,
        "every seq stored or counted: {t:?}"
    );
    assert!(t.overrun_segments > 0, "the ring lapped the store: {t:?}");
    assert!(
        t.segments_stored >= 4,
        "it still stores while lapped: {t:?}"
    );
    if t.skips_ahead == 0 {
        eprintln!("note: no segment was overwritten while read this run: {t:?}");
    }
    check_with_stock_tools(sp.dir());
}

#[test]
fn each_store_file_gets_the_flow_index_its_records_give_and_none_when_turned_off() {
    for compression in [Compression::None, Compression::DEFAULT_ZSTD] {
        let ring_dir = tempdir_in("/var/tmp");
        let store = tempdir_in("/var/tmp");
        let mut ring = TestRing::open(ring_dir.path());
        let mut sp = open(&ring, store.path(), opts(compression));
        ring.write(SEGMENT * 5 / 2);
        let rep = sp.poll().unwrap();
        assert_eq!(rep.segments_stored, 2);
        let files = list(sp.dir()).unwrap();
        assert_eq!(files.len(), 2);
        let mut written = 0;
        for f in &files {
            let fidx = std::fs::read(fidx_path(&f.index)).expect("a .fidx beside each file");
            written += fidx.len() as u64;
            // What the records of the file, read back block by block, give.
            let mut sf = StoreFile::open(&f.data, &f.index).unwrap();
            assert!(fidx == build_for_file(&mut sf).unwrap(), "{}", f.name);
            assert!(matches!(
                load(&f.index, sf.block_count()),
                Sidecar::Present(_)
            ));
        }
        assert_eq!(rep.bytes_flow_index, written);

        let store = tempdir_in("/var/tmp");
        let o = SpoolOptions {
            flow_index: false,
            ..opts(compression)
        };
        let mut sp = open(&ring, store.path(), o);
        assert_eq!(sp.poll().unwrap().bytes_flow_index, 0);
        for f in list(sp.dir()).unwrap() {
            assert!(!fidx_path(&f.index).exists());
        }
    }
}
