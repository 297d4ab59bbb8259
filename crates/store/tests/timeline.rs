//! The timeline export over a real ring (`RingWriter`, 4 segments of 1 MiB) and its store
//! (`Spooler`), set up so the seam has every case: segment 1 only in the store (the ring
//! overwrote it), segments 2-4 in both, segment 5 stored and then continued by a restarted
//! writer (its first part in both, its rest only in the ring). The output must be every record
//! written, once, in time order, whatever the directory order; a store alone gives what the
//! store holds; a ring alone what the ring's own export gives; `--vni` and `--from/--to` cut
//! it the same way, the time cut skipping store blocks by their index.

mod common;

use common::ring::{store_records, tempdir_in, TestRing, SEGMENT};
use mirrorcap_ring::reader::parse_records;
use mirrorcap_ring::{ExportFilter, Format, SessionFilter, Sink};
use mirrorcap_store::timeline::{export, TimelineStats};
use mirrorcap_store::{Compression, Record, SpoolOptions, Spooler, StoreOptions};
use std::path::PathBuf;

struct Fixture {
    ring: TestRing,
    store: PathBuf,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

fn fixture() -> Fixture {
    let ring_dir = tempdir_in("/var/tmp");
    let store = tempdir_in("/var/tmp");
    let mut ring = TestRing::open(ring_dir.path());
    let opts = SpoolOptions {
        store: StoreOptions {
            compression: Compression::DEFAULT_ZSTD,
            block_size: 64 << 10,
        },
        ..SpoolOptions::default()
    };
    let mut sp = Spooler::open(&ring.dir, 0, store.path(), opts).expect("open spooler");
    ring.write(SEGMENT * 5 / 2);
    assert_eq!(sp.poll().unwrap().segments_stored, 2);
    ring.write(SEGMENT * 2);
    ring.close();
    assert_eq!(sp.poll().unwrap().segments_stored, 3);
    ring.reopen();
    ring.write(SEGMENT / 4);
    ring.close();
    let in_ring = ring.contents();
    assert!(
        in_ring[0].ts_ns > ring.written[0].ts_ns,
        "segment 1 overwritten"
    );
    assert!(
        store_records(&store.path().join("worker-00")).len() < ring.written.len(),
        "the continued segment's rest is only in the ring"
    );
    Fixture {
        store: store.path().to_path_buf(),
        ring,
        _dirs: (ring_dir, store),
    }
}

fn run(dirs: &[&PathBuf], filter: &ExportFilter, format: Format) -> (Vec<u8>, TimelineStats) {
    let dirs: Vec<PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
    let mut out = Vec::new();
    let stats = export(&dirs, &mut out, filter, &mut Sink::new(format)).expect("export");
    (out, stats)
}

/// The output's records as (ts, orig_len, bytes).
fn records_of(pcap: &[u8]) -> Vec<(u64, u32, Vec<u8>)> {
    let (recs, torn) = parse_records(pcap);
    assert_eq!(torn, 0);
    recs.into_iter()
        .map(|r| (r.ts_ns, r.orig_len, r.data))
        .collect()
}

fn want(recs: &[Record], keep: impl Fn(&Record) -> bool) -> Vec<(u64, u32, Vec<u8>)> {
    recs.iter()
        .filter(|r| keep(r))
        .map(|r| (r.ts_ns, r.orig_len, r.data.clone()))
        .collect()
}

fn same(got: &[(u64, u32, Vec<u8>)], want: &[(u64, u32, Vec<u8>)], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: record count");
    if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
        panic!(
            "{what}: record {i} differs: ts {} vs {}",
            got[i].0, want[i].0
        );
    }
}

#[test]
fn ring_and_store_in_either_order_give_every_record_once_in_time_order() {
    let f = fixture();
    let all = ExportFilter::default();
    let (a, sa) = run(&[&f.ring.dir, &f.store], &all, Format::Pcap);
    let (b, _) = run(&[&f.store, &f.ring.dir], &all, Format::Pcap);
    same(
        &records_of(&a),
        &want(&f.ring.written, |_| true),
        "ring+store",
    );
    assert_eq!(a, b, "the directory order changes nothing");
    assert!(
        sa.ring_records_in_store > 0,
        "the seam was exercised: {sa:?}"
    );
    assert_eq!(sa.export.packets, f.ring.written.len() as u64);

    let (s, _) = run(&[&f.store], &all, Format::Pcap);
    let stored = store_records(&f.store.join("worker-00"));
    same(&records_of(&s), &want(&stored, |_| true), "store alone");

    let (r, _) = run(&[&f.ring.dir], &all, Format::Pcap);
    let mut old = Vec::new();
    mirrorcap_ring::export_pcap(&f.ring.dir, &mut old).unwrap();
    assert_eq!(r, old, "ring alone = the ring's own export");
    same(&records_of(&r), &want(&f.ring.contents(), |_| true), "ring");
}

#[test]
fn vni_and_time_range_cut_ring_and_store_alike() {
    let f = fixture();
    let vni = ExportFilter {
        sessions: SessionFilter { vnis: vec![42] },
        ..ExportFilter::default()
    };
    let (v, _) = run(&[&f.store, &f.ring.dir], &vni, Format::Pcap);
    let w = want(&f.ring.written, |r| r.meta.vni() == Some(42));
    assert!(!w.is_empty() && w.len() < f.ring.written.len());
    same(&records_of(&v), &w, "--vni 42");

    // From inside segment 1 (store only) to inside segment 3 (both).
    let n = f.ring.written.len();
    let (lo, hi) = (f.ring.written[n / 20].ts_ns, f.ring.written[n / 2].ts_ns);
    let range = ExportFilter {
        from_ns: Some(lo),
        to_ns: Some(hi),
        ..ExportFilter::default()
    };
    let (t, st) = run(&[&f.ring.dir, &f.store], &range, Format::Pcap);
    let w = want(&f.ring.written, |r| (lo..=hi).contains(&r.ts_ns));
    same(&records_of(&t), &w, "--from/--to");
    assert!(
        st.store_blocks_skipped > 0,
        "blocks skipped by index: {st:?}"
    );
    assert!(
        st.export.segments_skipped > 0,
        "ring segments skipped: {st:?}"
    );

    // pcapng: one interface per session, from the store's metadata words too.
    let (_, sn) = run(&[&f.store], &ExportFilter::default(), Format::Pcapng);
    assert!(sn.export.interfaces > 2, "{sn:?}");
}

#[test]
fn a_recreated_ring_beside_the_old_rings_store_is_stored_and_exported_apart() {
    let ring_dir = tempdir_in("/var/tmp");
    let store = tempdir_in("/var/tmp");
    let opts = SpoolOptions {
        store: StoreOptions {
            compression: Compression::DEFAULT_ZSTD,
            block_size: 64 << 10,
        },
        ..SpoolOptions::default()
    };
    let mut old = TestRing::open(ring_dir.path());
    old.write(SEGMENT * 7 / 2);
    old.close(); // seqs 1-4 sealed
    let mut sp = Spooler::open(&old.dir, 0, store.path(), opts).expect("open spooler");
    assert_eq!(sp.poll().unwrap().segments_stored, 4);
    let old_gen = sp.cursor().unwrap().generation;
    assert_ne!(old_gen, 0);

    // The ring is deleted and created again, and runs past the old ring's seqs (5 segments
    // into 4: its first seqs are overwritten) before the spooler polls: seqs alone (the newest is 5,
    // past the cursor's 4) would not tell it is another ring.
    std::fs::remove_dir_all(ring_dir.path().join("worker-00")).unwrap();
    let last = old.written.last().unwrap().ts_ns;
    let mut new = TestRing::open_after(ring_dir.path(), last);
    new.write(SEGMENT * 5);
    new.close();
    let rep = sp.poll().unwrap();
    assert_eq!(rep.ring_resets, 1, "{rep:?}");
    let r = mirrorcap_ring::reader::WorkerReader::open(&ring_dir.path().join("worker-00"));
    let oldest = r.unwrap().segments().iter().map(|s| s.seq).min().unwrap();
    assert!(oldest > 1);
    assert_eq!(
        rep.overrun_segments,
        oldest - 1,
        "the new ring's overwritten seqs: {rep:?}"
    );
    let c = sp.cursor().unwrap();
    assert!(
        c.generation > old_gen,
        "the cursor follows the new ring: {c:?}"
    );
    let names: Vec<String> = mirrorcap_store::storedir::list(&store.path().join("worker-00"))
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    for g in [old_gen, c.generation] {
        let tag = format!("-g{g:016x}-");
        assert!(names.iter().any(|n| n.contains(&tag)), "{tag} in {names:?}");
    }

    // Old ring's store + new ring: every old record (from the store) and every record the new
    // ring still has or stored, once each, in time order; none of the new ring's records is
    // mistaken for an old store file's with the same seq and offset.
    let (out, stats) = run(
        &[&new.dir, &store.path().to_path_buf()],
        &ExportFilter::default(),
        Format::Pcap,
    );
    let kept = new.contents();
    let stored_new: Vec<Record> = store_records(&store.path().join("worker-00"))
        .into_iter()
        .filter(|r| r.ts_ns > last)
        .collect();
    let first_new = stored_new
        .first()
        .map_or(kept[0].ts_ns, |r| r.ts_ns)
        .min(kept[0].ts_ns);
    let mut expect = want(&old.written, |_| true);
    expect.extend(want(&new.written, |r| r.ts_ns >= first_new));
    same(&records_of(&out), &expect, "old store + new ring");
    assert!(
        stats.ring_records_in_store + stats.ring_segments_in_store > 0,
        "the seam was exercised: {stats:?}"
    );
}
