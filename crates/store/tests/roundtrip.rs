//! Round trips of the store format: records and metadata words written by `BlockWriter` come
//! back exactly from `StoreFile`, in both modes and at several block sizes; blocks read on their
//! own return exactly their records; compressed blocks and every writer buffer sit on 4096-byte
//! boundaries; blocks respect the block size.

mod common;

use common::{records, LENS};
use mirrorcap_store::{
    file_paths, write_file, BlockWriter, Compression, Record, StoreFile, StoreOptions, ALIGN,
};
use std::path::Path;

const MODES: [Compression; 3] = [
    Compression::None,
    Compression::Zstd { level: 1 },
    Compression::Zstd { level: 3 },
];
const BLOCK_SIZES: [usize; 3] = [4096, 64 << 10, 1 << 20];

fn write(dir: &Path, name: &str, opts: StoreOptions, recs: &[Record]) -> StoreFile {
    let (data, idx) = file_paths(dir, name, opts.compression);
    write_file(&data, &idx, opts, recs).expect("write store file");
    StoreFile::open(&data, &idx).expect("open store file")
}

#[test]
fn records_and_metas_round_trip_in_every_mode_and_block_size() {
    let dir = tempfile::tempdir().unwrap();
    let recs = records(3000, LENS, 7);
    for compression in MODES {
        for block_size in BLOCK_SIZES {
            let opts = StoreOptions {
                compression,
                block_size,
            };
            let name = format!("rt-{block_size}-{compression:?}").replace([' ', '{', '}', ':'], "");
            let mut f = write(dir.path(), &name, opts, &recs);
            let got = f.read_all().unwrap();
            assert_eq!(got.len(), recs.len(), "{opts:?}");
            assert!(got == recs, "{opts:?}: records differ");
            let idx = f.index();
            assert_eq!(idx.compressed, compression != Compression::None);
            assert_eq!(idx.metas, recs.iter().map(|r| r.meta).collect::<Vec<_>>());
            // 3000 records of ~1.3 KB average cannot fit one block at these sizes.
            assert!(f.block_count() > 1, "{opts:?}");
        }
    }
}

#[test]
fn a_plain_store_file_is_the_pcap_of_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let recs = records(500, LENS, 3);
    let opts = StoreOptions {
        compression: Compression::None,
        block_size: 64 << 10,
    };
    let (data, _) = file_paths(dir.path(), "plain", opts.compression);
    write(dir.path(), "plain", opts, &recs);
    let mut want = mirrorcap_ring::pcapfmt::file_header().to_vec();
    for r in &recs {
        let h = mirrorcap_ring::pcapfmt::RecordHeader {
            ts_ns: r.ts_ns,
            incl_len: r.data.len() as u32,
            orig_len: r.orig_len,
        };
        want.extend_from_slice(&h.encode());
        want.extend_from_slice(&r.data);
    }
    assert!(std::fs::read(&data).unwrap() == want);
}

#[test]
fn each_block_read_alone_returns_exactly_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let recs = records(2000, LENS, 11);
    for compression in [Compression::None, Compression::DEFAULT_ZSTD] {
        let opts = StoreOptions {
            compression,
            block_size: 16 << 10,
        };
        let name = if compression == Compression::None {
            "a"
        } else {
            "b"
        };
        let mut f = write(dir.path(), name, opts, &recs);
        let n = f.block_count();
        assert!(n > 10);
        // Out of order on purpose: nothing may depend on having read the block before.
        for k in (0..n).rev().chain([n / 2, 0, n - 1]) {
            let first = f.index().first_record(k);
            let e = f.index().blocks[k];
            let got = f.read_block(k).unwrap();
            assert_eq!(got.len(), e.records as usize);
            assert!(got[..] == recs[first..first + got.len()], "block {k}");
            assert_eq!(e.min_ts_ns, got.iter().map(|r| r.ts_ns).min().unwrap());
            assert_eq!(e.max_ts_ns, got.iter().map(|r| r.ts_ns).max().unwrap());
        }
        assert!(f.read_block(n).is_err());
    }
}

#[test]
fn compressed_blocks_start_on_4096_and_the_file_is_aligned() {
    let dir = tempfile::tempdir().unwrap();
    let recs = records(3000, LENS, 5);
    for block_size in BLOCK_SIZES {
        let opts = StoreOptions {
            compression: Compression::DEFAULT_ZSTD,
            block_size,
        };
        let f = write(dir.path(), &format!("al-{block_size}"), opts, &recs);
        let idx = f.index();
        for (k, b) in idx.blocks.iter().enumerate() {
            assert_eq!(b.offset % ALIGN as u64, 0, "block {k} at {}", b.offset);
        }
        assert_eq!(idx.data_len % ALIGN as u64, 0);
        assert_eq!(std::fs::metadata(f.path()).unwrap().len(), idx.data_len);
    }
}

#[test]
fn writer_buffers_are_aligned_but_the_last_and_in_order() {
    let recs = records(1500, LENS, 9);
    for compression in MODES {
        for block_size in BLOCK_SIZES {
            let opts = StoreOptions {
                compression,
                block_size,
            };
            let mut w = BlockWriter::new(opts).unwrap();
            let mut bufs = Vec::new();
            for r in &recs {
                w.push(r.ts_ns, r.orig_len, &r.data, r.meta).unwrap();
                bufs.extend(std::iter::from_fn(|| w.pop_ready()));
            }
            let fin = w.finish().unwrap();
            bufs.extend(fin.tail);
            let mut at = 0u64;
            for (i, b) in bufs.iter().enumerate() {
                assert_eq!(b.offset, at, "{opts:?} buffer {i}");
                assert_eq!(b.offset % ALIGN as u64, 0, "{opts:?} buffer {i}");
                let last = i + 1 == bufs.len();
                let plain_tail = last && compression == Compression::None;
                assert!(
                    plain_tail || b.bytes.len() % ALIGN == 0,
                    "{opts:?} buffer {i}"
                );
                at += b.bytes.len() as u64;
            }
            assert_eq!(at, fin.index.data_len);
        }
    }
}

#[test]
fn blocks_keep_to_the_block_size_unless_one_record_is_larger() {
    let recs = records(2000, LENS, 13);
    for block_size in [4096, 8192] {
        let opts = StoreOptions {
            compression: Compression::None,
            block_size,
        };
        let mut w = BlockWriter::new(opts).unwrap();
        for r in &recs {
            w.push(r.ts_ns, r.orig_len, &r.data, r.meta).unwrap();
        }
        let idx = w.finish().unwrap().index;
        for b in &idx.blocks {
            assert!(b.raw_len as usize <= block_size || b.records == 1, "{b:?}");
        }
        // A 9000-byte record is larger than a 4096 or 8192-byte block: it got one of its own.
        assert!(idx.blocks.iter().any(|b| b.raw_len as usize > block_size));
    }
}

#[test]
fn an_empty_file_is_a_valid_pcap_with_one_empty_block() {
    let dir = tempfile::tempdir().unwrap();
    for compression in [Compression::None, Compression::DEFAULT_ZSTD] {
        let opts = StoreOptions {
            compression,
            block_size: 4096,
        };
        let name = format!("empty-{}", compression == Compression::None);
        let mut f = write(dir.path(), &name, opts, &[]);
        assert_eq!(f.block_count(), 1);
        assert_eq!(f.index().blocks[0].records, 0);
        assert_eq!(f.read_all().unwrap(), vec![]);
        assert_eq!(f.read_block_raw(0).unwrap().len(), 24);
    }
}

#[test]
fn end_block_cuts_where_the_caller_says_and_bad_input_is_refused() {
    let recs = records(10, LENS, 17);
    let mut w = BlockWriter::new(StoreOptions::default()).unwrap();
    for r in &recs {
        w.push(r.ts_ns, r.orig_len, &r.data, r.meta).unwrap();
        w.end_block().unwrap();
        w.end_block().unwrap(); // a second cut with nothing in the block adds nothing
    }
    let counts: Vec<u32> = w
        .finish()
        .unwrap()
        .index
        .blocks
        .iter()
        .map(|b| b.records)
        .collect();
    assert_eq!(counts, vec![1; 10]);

    let mut w = BlockWriter::new(StoreOptions::default()).unwrap();
    let meta = recs[0].meta;
    assert!(w.push(1, 0, &vec![0; 262_145], meta).is_err());
    assert!(w
        .push((u32::MAX as u64 + 1) * 1_000_000_000, 0, &[], meta)
        .is_err());
    for block_size in [0, 4095, (64 << 20) + 1] {
        let opts = StoreOptions {
            block_size,
            ..StoreOptions::default()
        };
        assert!(BlockWriter::new(opts).is_err(), "{block_size}");
    }
}

#[test]
fn open_name_finds_either_mode_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let recs = records(50, LENS, 19);
    for (name, compression) in [("z", Compression::DEFAULT_ZSTD), ("p", Compression::None)] {
        let opts = StoreOptions {
            compression,
            block_size: 4096,
        };
        write(dir.path(), name, opts, &recs);
        let mut f = StoreFile::open_name(dir.path(), name).unwrap();
        assert_eq!(f.index().compressed, compression != Compression::None);
        assert!(f.read_all().unwrap() == recs);
    }
    assert!(StoreFile::open_name(dir.path(), "absent").is_err());
}

#[test]
fn a_version_1_index_with_the_single_chain_checksum_still_reads_and_checks_its_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let recs = records(2000, LENS, 3);
    for compression in [Compression::None, Compression::Zstd { level: 1 }] {
        let opts = StoreOptions {
            compression,
            block_size: 64 << 10,
        };
        let name = format!("v1-{}", compression != Compression::None);
        let mut f = write(dir.path(), &name, opts, &recs);
        let raws: Vec<Vec<u8>> = (0..f.block_count())
            .map(|k| f.read_block_raw(k).unwrap())
            .collect();
        // The index as version 1 wrote it: its block checksums are the single-chain ones.
        let mut old = f.index().clone();
        old.version = 1;
        for (b, raw) in old.blocks.iter_mut().zip(&raws) {
            b.checksum = mirrorcap_store::checksum::checksum(raw);
        }
        let (data, idx) = file_paths(dir.path(), &name, compression);
        std::fs::write(&idx, old.encode().unwrap()).unwrap();
        let mut g = StoreFile::open(&data, &idx).unwrap();
        assert_eq!(g.index().version, 1);
        assert!(g.read_all().unwrap() == recs, "{compression:?}");
        // And a block that does not match its version-1 checksum is still caught.
        let mut bad = old.clone();
        bad.blocks[1].checksum ^= 1;
        std::fs::write(&idx, bad.encode().unwrap()).unwrap();
        let mut h = StoreFile::open(&data, &idx).unwrap();
        assert!(h.read_block_raw(1).is_err());
    }
}
