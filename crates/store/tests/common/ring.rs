//! A real ring for the spooler tests: written with `mirrorcap_ring::RingWriter` (4 segments of
//! 1 MiB per worker), remembering every record written so a test can say which of them the
//! store must hold, and reading the store back in its time order.
#![allow(dead_code)]

use super::{frame, Rng};
use mirrorcap_ring::layout::worker_dir;
use mirrorcap_ring::reader::WorkerReader;
use mirrorcap_ring::{Geometry, RingWriter};
use mirrorcap_store::storedir::list;
use mirrorcap_store::{Record, RecordMeta, StoreFile};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const GEOMETRY: Geometry = Geometry {
    segments: 4,
    segment_size: 1 << 20,
};
pub const SEGMENT: usize = 1 << 20;

/// A temporary directory under `base` (`/var/tmp`: the real disk, so O_DIRECT is exercised;
/// `/dev/shm`: tmpfs).
pub fn tempdir_in(base: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("mc-spool-")
        .tempdir_in(base)
        .unwrap_or_else(|e| panic!("temporary directory in {base}: {e}"))
}

pub struct TestRing {
    pub dir: PathBuf,
    pub writer: Option<RingWriter>,
    /// Every record written, in order.
    pub written: Vec<Record>,
    rng: Rng,
    ts: u64,
}

impl TestRing {
    pub fn open(dir: &Path) -> Self {
        let (w, _) = RingWriter::open(dir, 0, GEOMETRY).expect("open ring");
        TestRing {
            dir: dir.to_path_buf(),
            writer: Some(w),
            written: Vec::new(),
            rng: Rng(99),
            ts: 1_700_000_000_000_000_000,
        }
    }

    /// A new ring in `dir` (a recreated one: its seqs start at 1 again, under a new
    /// generation) whose records are stamped after `after_ns`.
    pub fn open_after(dir: &Path, after_ns: u64) -> Self {
        let mut r = TestRing::open(dir);
        r.ts = after_ns;
        r
    }

    /// Writes records (Ethernet/UDP frames of 60 to 9000 bytes, varied metadata words) until
    /// `bytes` more bytes are in the ring, committing every 16 records as a worker's burst.
    pub fn write(&mut self, bytes: usize) {
        let w = self.writer.as_mut().expect("ring open");
        let mut done = 0;
        while done < bytes {
            let i = self.written.len();
            let len = [60, 590, 1514, 128, 9000, 64][i % 6];
            let data = frame(len, &mut self.rng);
            self.ts += 1_000 + self.rng.next() % 100_000;
            let meta = match i % 3 {
                0 => RecordMeta::UNTAGGED,
                1 => RecordMeta::tunnel(i as u32 % 5000, 0),
                _ => RecordMeta::tunnel(42, 7),
            };
            assert!(w.write_record(self.ts, meta, &[], &data, len as u32));
            if i % 16 == 15 {
                w.commit();
            }
            done += 16 + len;
            self.written.push(Record {
                ts_ns: self.ts,
                orig_len: len as u32,
                meta,
                data,
            });
        }
        w.commit();
    }

    /// Opens the ring again after [`close`](Self::close), as a restarted worker does: the
    /// writer continues its newest segment.
    pub fn reopen(&mut self) {
        assert!(self.writer.is_none());
        self.writer = Some(
            RingWriter::open(&self.dir, 0, GEOMETRY)
                .expect("reopen ring")
                .0,
        );
    }

    /// Seals the live segment (a clean shutdown).
    pub fn close(&mut self) {
        self.writer
            .take()
            .expect("ring open")
            .close()
            .expect("close ring");
    }

    /// Every record the ring holds now, oldest first.
    pub fn contents(&self) -> Vec<Record> {
        let mut r = WorkerReader::open(&worker_dir(&self.dir, 0)).expect("read ring");
        let mut out = Vec::new();
        while let Some(seg) = r.next_segment().expect("read segment") {
            out.extend(seg.into_iter().map(|x| Record {
                ts_ns: x.ts_ns,
                orig_len: x.orig_len,
                meta: x.meta,
                data: x.data,
            }));
        }
        out
    }
}

/// Every record of a worker's store directory, files in time order.
pub fn store_records(dir: &Path) -> Vec<Record> {
    let mut out = Vec::new();
    for f in list(dir).expect("list store") {
        let mut s = StoreFile::open(&f.data, &f.index).expect("open store file");
        out.extend(s.read_all().expect("read store file"));
    }
    out
}

/// Checks every visible store file of `dir` with the stock tools: `zstdcat F | tcpdump -r -`
/// (or `tcpdump -r F` for a plain one) prints one line per record the index counts, and no
/// complaint. Returns how many files were checked (0 when the tools are missing, outside CI).
pub fn check_with_stock_tools(dir: &Path) -> usize {
    if !super::have("zstdcat") || !super::have("tcpdump") {
        return 0;
    }
    let files = list(dir).expect("list store");
    for f in &files {
        let records = StoreFile::open(&f.data, &f.index)
            .unwrap()
            .index()
            .record_count();
        let out = Command::new("sh")
            .arg("-c")
            .arg("case \"$1\" in *.zst) zstdcat \"$1\" | tcpdump -r - -nn;; *) tcpdump -r \"$1\" -nn;; esac")
            .arg("sh")
            .arg(&f.data)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{:?}: {stderr}", f.data);
        assert!(!stderr.contains("truncated"), "{:?}: {stderr}", f.data);
        let lines = String::from_utf8_lossy(&out.stdout).lines().count();
        assert_eq!(lines, records, "{:?}: {stderr}", f.data);
    }
    files.len()
}
