//! The spooler when its disk fails under it, on real file systems it mounts itself (tmpfs with
//! `size=`, so root; without root the tests skip, and fail under CI=true): a disk that fills
//! mid-file leaves no temporary or partial file and storing resumes, from the cursor, once
//! space returns, and one that fills between a data file and its index takes the data file
//! out of view again; a read-only file system fails the poll until it is writable again; a
//! removed worker directory is created again; a removed or unmounted store directory is
//! never created again (it may be a mount point), only written once it is back. Each error
//! carries its [`Fault`]. A free-space floor (`--store-min-free`) deletes the oldest files so
//! a store that fills its own disk goes on, and makes room when something else fills it.

mod common;

use common::ring::{check_with_stock_tools, store_records, tempdir_in, TestRing, SEGMENT};
use mirrorcap_store::storedir::{list, CURSOR};
use mirrorcap_store::{
    fs_space, Compression, Fault, MinFree, Retention, SpoolOptions, Spooler, StoreError,
    StoreOptions,
};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether the tests can mount (they run as root in CI; elsewhere they skip with a note).
fn root() -> bool {
    let ok = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "these tests mount file systems: run them as root (CI=true)"
        );
        eprintln!("skipped: not root (the test mounts a tmpfs)");
    }
    ok
}

fn sh(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().expect(cmd);
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A tmpfs mounted on `path` (created if needed); unmounted, lazily, when dropped (even when
/// the test panics).
struct Tmpfs {
    path: PathBuf,
    mounted: bool,
}

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(path).unwrap();
        let o = format!("size={size}");
        sh(
            "mount",
            &["-t", "tmpfs", "-o", &o, "tmpfs", path.to_str().unwrap()],
        );
        Tmpfs {
            path: path.to_path_buf(),
            mounted: true,
        }
    }

    fn remount(&self, opts: &str) {
        let o = format!("remount,{opts}");
        sh("mount", &["-o", &o, self.path.to_str().unwrap()]);
    }

    fn umount(&mut self) {
        sh("umount", &[self.path.to_str().unwrap()]);
        self.mounted = false;
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount")
                .args(["-l", self.path.to_str().unwrap()])
                .status();
        }
    }
}

fn opts(compression: Compression) -> SpoolOptions {
    SpoolOptions {
        store: StoreOptions {
            compression,
            block_size: 64 << 10,
        },
        ..SpoolOptions::default()
    }
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// No temporary file, and every data file has its index: what a reader sees is complete.
fn assert_nothing_partial(dir: &Path) {
    let all = names(dir);
    for n in &all {
        assert!(!n.starts_with('.'), "left behind: {n} in {all:?}");
        if let Some(stem) = n
            .strip_suffix(".pcap.zst")
            .or_else(|| n.strip_suffix(".pcap"))
        {
            assert!(
                all.contains(&format!("{stem}.idx")),
                "data file without its index: {n} in {all:?}"
            );
        }
    }
}

fn expect_fault(
    r: mirrorcap_store::Result<mirrorcap_store::SpoolReport>,
    fault: Fault,
    errno: i32,
) -> StoreError {
    let e = r.expect_err("the poll must fail");
    assert_eq!((e.fault(), e.errno()), (fault, Some(errno)), "{e}");
    e
}

#[test]
fn disk_full_mid_file_leaves_no_partial_file_and_storing_resumes_when_space_returns() {
    if !root() {
        return;
    }
    for (compression, direct) in [
        (Compression::None, true),
        (Compression::DEFAULT_ZSTD, false),
    ] {
        let ring_dir = tempdir_in("/var/tmp");
        let base = tempdir_in("/var/tmp");
        // Room for one plain 1 MiB segment, not two: the second file fails mid-write.
        let fs = Tmpfs::mount(&base.path().join("store"), "1536k");
        let mut ring = TestRing::open(ring_dir.path());
        let o = SpoolOptions {
            direct,
            ..opts(compression)
        };
        let mut sp = Spooler::open(&ring.dir, 0, &fs.path, o).unwrap();
        // zstd shrinks the frames (half text): fill the ring with more sealed segments.
        ring.write(SEGMENT * 7 / 2);
        let e = expect_fault(sp.poll(), Fault::DiskFull, libc::ENOSPC);
        assert!(sp.totals().segments_stored >= 1, "{:?}: {e}", sp.totals());
        assert_nothing_partial(sp.dir());
        let stored = store_records(sp.dir());
        assert_eq!(stored.len() as u64, sp.totals().records_stored);
        assert!(stored == ring.written[..stored.len()], "the stored prefix");
        assert!(
            sp.totals().lag_segments >= 1,
            "the lag is measured while failing"
        );
        // Still full: the retry fails the same way and still leaves nothing behind.
        expect_fault(sp.poll(), Fault::DiskFull, libc::ENOSPC);
        assert_nothing_partial(sp.dir());

        fs.remount("size=32m");
        let rep = sp.poll().unwrap();
        assert!(rep.segments_stored >= 1, "{rep:?}");
        ring.close();
        sp.poll().unwrap();
        assert!(
            store_records(sp.dir()) == ring.written,
            "every record once, in order ({compression:?})"
        );
        assert_eq!(sp.totals().overrun_segments, 0);
        assert_nothing_partial(sp.dir());
        check_with_stock_tools(sp.dir());
    }
}

#[test]
fn a_read_only_store_fails_each_poll_until_it_is_writable_again() {
    if !root() {
        return;
    }
    let ring_dir = tempdir_in("/var/tmp");
    let base = tempdir_in("/var/tmp");
    let fs = Tmpfs::mount(&base.path().join("store"), "64m");
    let mut ring = TestRing::open(ring_dir.path());
    let mut sp = Spooler::open(&ring.dir, 0, &fs.path, opts(Compression::DEFAULT_ZSTD)).unwrap();
    ring.write(SEGMENT * 3 / 2);
    assert_eq!(sp.poll().unwrap().segments_stored, 1);
    fs.remount("ro");
    ring.write(SEGMENT);
    expect_fault(sp.poll(), Fault::ReadOnly, libc::EROFS);
    expect_fault(sp.poll(), Fault::ReadOnly, libc::EROFS);
    fs.remount("rw");
    assert_eq!(sp.poll().unwrap().segments_stored, 1);
    ring.close();
    sp.poll().unwrap();
    assert!(store_records(sp.dir()) == ring.written);
    assert_nothing_partial(sp.dir());
}

#[test]
fn a_removed_worker_directory_is_created_again_and_storing_goes_on_from_the_cursor() {
    let ring_dir = tempdir_in("/var/tmp");
    let store = tempdir_in("/var/tmp");
    let mut ring = TestRing::open(ring_dir.path());
    let mut sp =
        Spooler::open(&ring.dir, 0, store.path(), opts(Compression::DEFAULT_ZSTD)).unwrap();
    ring.write(SEGMENT * 3 / 2);
    sp.poll().unwrap();
    let first = store_records(sp.dir()).len();
    assert!(first > 0);
    std::fs::remove_dir_all(sp.dir()).unwrap();
    ring.write(SEGMENT);
    let rep = sp.poll().unwrap();
    assert_eq!((rep.dirs_recreated, rep.segments_stored), (1, 1), "{rep:?}");
    ring.close();
    sp.poll().unwrap();
    // The new directory holds what came after the cursor: nothing stored twice.
    assert!(store_records(sp.dir()) == ring.written[first..]);
    assert_eq!(sp.totals().dirs_recreated, 1);
    // The recreated directory's cursor file and files resume where storing stands.
    let want = sp.cursor();
    drop(sp);
    let again = Spooler::open(&ring.dir, 0, store.path(), opts(Compression::DEFAULT_ZSTD));
    assert_eq!(again.unwrap().cursor(), want);
}

#[test]
fn a_removed_store_directory_is_not_created_again_but_written_once_it_is_back() {
    let ring_dir = tempdir_in("/var/tmp");
    let base = tempdir_in("/var/tmp");
    let store = base.path().join("store");
    let mut ring = TestRing::open(ring_dir.path());
    let mut sp = Spooler::open(&ring.dir, 0, &store, opts(Compression::DEFAULT_ZSTD)).unwrap();
    ring.write(SEGMENT * 3 / 2);
    sp.poll().unwrap();
    std::fs::remove_dir_all(&store).unwrap();
    ring.write(SEGMENT);
    let e = expect_fault(sp.poll(), Fault::Missing, libc::ENOENT);
    assert!(e.to_string().contains("store directory removed"), "{e}");
    assert!(
        !store.exists(),
        "the store directory must not be created again"
    );
    assert!(sp.totals().lag_segments >= 1);
    std::fs::create_dir(&store).unwrap();
    let rep = sp.poll().unwrap();
    assert_eq!((rep.dirs_recreated, rep.segments_stored), (1, 1), "{rep:?}");
    assert!(sp.dir().join(CURSOR).exists());
}

#[test]
fn an_unmounted_store_is_not_written_to_the_disk_below_it() {
    if !root() {
        return;
    }
    let ring_dir = tempdir_in("/var/tmp");
    let base = tempdir_in("/var/tmp");
    let mount_point = base.path().join("store");
    let mut fs = Tmpfs::mount(&mount_point, "64m");
    let mut ring = TestRing::open(ring_dir.path());
    let mut sp =
        Spooler::open(&ring.dir, 0, &mount_point, opts(Compression::DEFAULT_ZSTD)).unwrap();
    ring.write(SEGMENT * 3 / 2);
    sp.poll().unwrap();
    fs.umount();
    ring.write(SEGMENT);
    let e = expect_fault(sp.poll(), Fault::Missing, libc::ENOENT);
    assert!(e.to_string().contains("no longer a mount point"), "{e}");
    assert!(
        names(&mount_point).is_empty(),
        "nothing written below the mount point"
    );
    // A file system mounted there again (here an empty one): storing resumes into it.
    let _fs = Tmpfs::mount(&mount_point, "64m");
    let rep = sp.poll().unwrap();
    assert_eq!((rep.dirs_recreated, rep.segments_stored), (1, 1), "{rep:?}");
    assert_eq!(list(sp.dir()).unwrap().len(), 1);
}

/// The disk fills between the data file's rename and its index: the data file, complete but
/// without its index, is removed again (the segment is stored again once there is room).
#[test]
fn an_index_that_does_not_fit_takes_its_data_file_out_of_view_again() {
    if !root() {
        return;
    }
    let ring_dir = tempdir_in("/var/tmp");
    let mut ring = TestRing::open(ring_dir.path());
    ring.write(SEGMENT * 3 / 2);
    // The data file's size, from a store on a roomy disk: a tmpfs of exactly its pages takes
    // the data file and has no page left for the index.
    let roomy = tempdir_in("/var/tmp");
    let mut dry = Spooler::open(&ring.dir, 0, roomy.path(), opts(Compression::None)).unwrap();
    assert_eq!(dry.poll().unwrap().segments_stored, 1);
    let data_len = std::fs::metadata(&list(dry.dir()).unwrap()[0].data)
        .unwrap()
        .len();
    let base = tempdir_in("/var/tmp");
    let size = data_len.div_ceil(4096) * 4096;
    let fs = Tmpfs::mount(&base.path().join("store"), &size.to_string());
    let mut sp = Spooler::open(&ring.dir, 0, &fs.path, opts(Compression::None)).unwrap();
    let e = expect_fault(sp.poll(), Fault::DiskFull, libc::ENOSPC);
    assert!(e.to_string().contains(".idx.tmp"), "the index failed: {e}");
    assert_eq!(
        names(sp.dir()),
        Vec::<String>::new(),
        "nothing in view, nothing left"
    );
    assert_eq!(sp.totals().segments_stored, 0);
    fs.remount("size=16m");
    assert_eq!(sp.poll().unwrap().segments_stored, 1);
    assert!(store_records(sp.dir()) == store_records(dry.dir()));
    assert_nothing_partial(sp.dir());
}

#[test]
fn a_free_space_floor_deletes_the_oldest_files_so_a_store_that_fills_its_disk_goes_on() {
    if !root() {
        return;
    }
    let ring_dir = tempdir_in("/var/tmp");
    let base = tempdir_in("/var/tmp");
    // 6 MiB, 40 % kept free: about three plain 1 MiB segments fit under the floor.
    let fs = Tmpfs::mount(&base.path().join("store"), "6m");
    let mut ring = TestRing::open(ring_dir.path());
    let o = SpoolOptions {
        retention: Retention {
            min_free: Some(MinFree::Percent(40)),
            ..Retention::default()
        },
        ..opts(Compression::None)
    };
    let mut sp = Spooler::open(&ring.dir, 0, &fs.path, o).unwrap();
    for i in 0..10 {
        ring.write(SEGMENT);
        let rep = sp.poll().unwrap_or_else(|e| panic!("poll {i}: {e}"));
        let (avail, total) = fs_space(&fs.path).unwrap();
        assert!(
            avail >= total / 100 * 40,
            "poll {i}: {avail} of {total} bytes free: {rep:?}"
        );
        assert_nothing_partial(sp.dir());
    }
    let t = sp.totals();
    assert!(t.deleted_files >= 4, "{t:?}");
    assert_eq!(t.overrun_segments, 0);
    // What is left is the newest stored records, contiguous.
    let stored = store_records(sp.dir());
    let start = ring.written.iter().position(|r| *r == stored[0]).unwrap();
    assert!(
        stored == ring.written[start..start + stored.len()],
        "the newest run"
    );
    assert!(start > 0, "the oldest went");

    // Something else fills the disk: the poll fails (disk full), but the floor deletes the
    // store's older files (never its newest), and once the filler goes storing resumes.
    let filler = fs.path.join("filler");
    let (avail, _) = fs_space(&fs.path).unwrap();
    std::fs::write(&filler, vec![0u8; avail as usize]).ok();
    ring.write(SEGMENT * 2);
    let before = sp.totals().deleted_files;
    expect_fault(sp.poll(), Fault::DiskFull, libc::ENOSPC);
    assert!(sp.totals().deleted_files > before, "{:?}", sp.totals());
    assert_eq!(
        list(sp.dir()).unwrap().len(),
        1,
        "only the newest file is kept"
    );
    assert_nothing_partial(sp.dir());
    std::fs::remove_file(&filler).unwrap();
    assert!(sp.poll().unwrap().segments_stored >= 1);
    check_with_stock_tools(sp.dir());
}
