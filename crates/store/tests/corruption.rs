//! Damaged store files: a truncated or corrupted data file or index gives an error, never a
//! panic and never a record that was not written. Byte flips anywhere (proptest) may only
//! leave the records intact (a flip in padding) or fail; flips inside a block's stored bytes
//! must fail. Index bodies with consistent checksums but inconsistent fields must fail too, so
//! the checks behind the checksum are tested on their own.

mod common;

use common::{records, LENS};
use mirrorcap_store::checksum::checksum;
use mirrorcap_store::{
    file_paths, write_file, Compression, Record, StoreFile, StoreIndex, StoreOptions,
};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

struct Fixture {
    _dir: tempfile::TempDir,
    recs: Vec<Record>,
    /// (data, index) bytes for None and zstd.
    files: Vec<(Compression, Vec<u8>, Vec<u8>)>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let recs = records(300, LENS, 31);
        let files = [Compression::None, Compression::DEFAULT_ZSTD]
            .into_iter()
            .map(|compression| {
                let opts = StoreOptions {
                    compression,
                    block_size: 8192,
                };
                let (d, i) = file_paths(dir.path(), "f", compression);
                write_file(&d, &i, opts, &recs).unwrap();
                (
                    compression,
                    std::fs::read(d).unwrap(),
                    std::fs::read(i).unwrap(),
                )
            })
            .collect();
        Fixture {
            _dir: dir,
            recs,
            files,
        }
    })
}

/// Writes the given bytes as a store file and reads every record back.
fn read_back(
    dir: &Path,
    compression: Compression,
    data: &[u8],
    idx: &[u8],
) -> Result<Vec<Record>, String> {
    let (d, i): (PathBuf, PathBuf) = file_paths(dir, "x", compression);
    std::fs::write(&d, data).unwrap();
    std::fs::write(&i, idx).unwrap();
    let mut f = StoreFile::open(&d, &i).map_err(|e| e.to_string())?;
    f.read_all().map_err(|e| e.to_string())
}

#[test]
fn undamaged_files_read_back() {
    let fx = fixture();
    let dir = tempfile::tempdir().unwrap();
    for (c, data, idx) in &fx.files {
        assert!(read_back(dir.path(), *c, data, idx).unwrap() == fx.recs);
    }
}

#[test]
fn truncated_or_missing_files_are_errors() {
    let fx = fixture();
    let dir = tempfile::tempdir().unwrap();
    for (c, data, idx) in &fx.files {
        for cut in [0, 1, 23, 24, 4096, data.len() / 2, data.len() - 1] {
            let err = read_back(dir.path(), *c, &data[..cut], idx).unwrap_err();
            assert!(
                err.contains("corrupt store file"),
                "{c:?} data cut at {cut}: {err}"
            );
        }
        for cut in [0, 1, 4, idx.len() / 2, idx.len() - 1] {
            let err = read_back(dir.path(), *c, data, &idx[..cut]).unwrap_err();
            assert!(
                err.contains("read store index"),
                "{c:?} index cut at {cut}: {err}"
            );
        }
        let (d, i) = file_paths(dir.path(), "missing", *c);
        let err = StoreFile::open(&d, &i).err().expect("no files").to_string();
        assert!(
            err.contains("read store index") && err.contains("missing.idx"),
            "{err}"
        );
    }
    // The other mode's index does not describe this data file.
    let (c, data, _) = &fx.files[0];
    assert!(read_back(dir.path(), *c, data, &fx.files[1].2).is_err());
}

/// An index body re-encoded with a valid checksum after `edit`.
fn reencode(idx: &[u8], edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut body = zstd::decode_all(idx).unwrap();
    body.truncate(body.len() - 8);
    edit(&mut body);
    let sum = checksum(&body);
    body.extend_from_slice(&sum.to_le_bytes());
    zstd::encode_all(&body[..], 1).unwrap()
}

/// A change to an index body, for the table below.
type Edit = Box<dyn Fn(&mut Vec<u8>)>;

#[test]
fn inconsistent_index_fields_are_errors_even_with_a_good_checksum() {
    let fx = fixture();
    let put = |b: &mut Vec<u8>, at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
    let entry = |k: usize| 40 + k * 56;
    let edits: Vec<(&str, Edit)> = vec![
        ("magic", Box::new(|b| b[0] = b'X')),
        ("version", Box::new(move |b| put(b, 8, &3u32.to_le_bytes()))),
        ("flags", Box::new(move |b| put(b, 12, &4u32.to_le_bytes()))),
        (
            "data_len",
            Box::new(move |b| put(b, 16, &1u64.to_le_bytes())),
        ),
        (
            "block_size",
            Box::new(move |b| put(b, 24, &1u32.to_le_bytes())),
        ),
        (
            "block count",
            Box::new(move |b| put(b, 28, &u32::MAX.to_le_bytes())),
        ),
        (
            "record count",
            Box::new(move |b| put(b, 32, &u64::MAX.to_le_bytes())),
        ),
        (
            "offset",
            Box::new(move |b| put(b, entry(1), &1u64.to_le_bytes())),
        ),
        (
            "stored_len",
            Box::new(move |b| put(b, entry(1) + 8, &(u64::MAX / 2).to_le_bytes())),
        ),
        (
            "raw_len",
            Box::new(move |b| put(b, entry(1) + 16, &(1u64 << 40).to_le_bytes())),
        ),
        (
            "records",
            Box::new(move |b| put(b, entry(1) + 24, &7u32.to_le_bytes())),
        ),
        (
            "min > max",
            Box::new(move |b| put(b, entry(1) + 32, &u64::MAX.to_le_bytes())),
        ),
        ("no metas", Box::new(move |b| b.truncate(b.len() - 4))),
    ];
    for (c, _, idx) in &fx.files {
        for (what, edit) in &edits {
            let bad = reencode(idx, edit);
            assert!(StoreIndex::decode(&bad).is_err(), "{c:?}: {what} accepted");
        }
        // A changed block checksum or metadata word passes the index's own checks, so only
        // reading the block can tell; it must.
        let dir = tempfile::tempdir().unwrap();
        let bad = reencode(idx, |b| b[entry(2) + 48] ^= 1);
        assert!(read_back(
            dir.path(),
            *c,
            &fx.files.iter().find(|f| f.0 == *c).unwrap().1,
            &bad
        )
        .unwrap_err()
        .contains("checksum"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn a_flipped_data_byte_fails_or_changes_nothing(
        zstd in any::<bool>(), at in any::<prop::sample::Index>(), x in 1..=255u8,
    ) {
        let fx = fixture();
        let (c, data, idx) = &fx.files[zstd as usize];
        let index = StoreIndex::decode(idx).unwrap();
        let pos = at.index(data.len());
        let in_block = index
            .blocks
            .iter()
            .any(|b| (b.offset..b.offset + b.stored_len).contains(&(pos as u64)));
        let mut bad = data.clone();
        bad[pos] ^= x;
        let dir = tempfile::tempdir().unwrap();
        match read_back(dir.path(), *c, &bad, idx) {
            Ok(got) => {
                prop_assert!(!in_block, "flip at {} inside a block went unnoticed", pos);
                prop_assert!(got == fx.recs);
            }
            Err(e) => prop_assert!(e.contains("corrupt store file"), "{}", e),
        }
    }

    #[test]
    fn a_flipped_index_byte_fails_or_changes_nothing(
        zstd in any::<bool>(), at in any::<prop::sample::Index>(), x in 1..=255u8,
    ) {
        let fx = fixture();
        let (_, _, idx) = &fx.files[zstd as usize];
        let mut bad = idx.clone();
        let pos = at.index(bad.len());
        bad[pos] ^= x;
        if let Ok(got) = StoreIndex::decode(&bad) {
            prop_assert_eq!(got, StoreIndex::decode(idx).unwrap());
        }
    }
}
