//! [`DataFile`]: writes one store data file with O_DIRECT from a page-aligned buffer, so the
//! spooler streams sealed segments to disk without filling the page cache (whose writeback
//! is what stalled the workers in issue 16), falling back to buffered writes on a file
//! system that refuses O_DIRECT.
//!
//! The [`BlockWriter`](crate::BlockWriter) hands out buffers at 4096-multiple offsets whose
//! lengths are 4096 multiples, except a plain pcap's very last buffer. That one is written
//! padded with zeros to the next 4096 (still O_DIRECT) and the file is then cut to its real
//! length with `ftruncate`: one code path, and the cut happens before the fsync and the
//! rename, so no reader ever sees the padding.

use crate::{StoreError, ALIGN};
use memmap2::MmapMut;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Bytes per O_DIRECT write of [`DataFile::write_aligned_at`]: large, so the device gets
/// many requests at once (a 1 MiB write at a time leaves it idle between them), and the
/// measured rate no longer grew past it (docs/store.md).
pub const WRITE_PIECE: usize = 8 << 20;

/// [`AlignedBuf`] capacities are multiples of this (a multiple of [`ALIGN`]).
pub const GROW_STEP: usize = 2 << 20;

/// How a data file is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoMode {
    /// O_DIRECT from page-aligned memory: no page cache.
    Direct,
    /// Ordinary writes through the page cache (the file system refused O_DIRECT, or the
    /// spooler was told not to use it).
    Buffered,
}

/// Page-aligned memory for O_DIRECT writes: a ring segment is read into it and written from
/// it, or a write is copied into it. Anonymous mappings start on a page boundary, which is
/// what O_DIRECT needs of the buffer's address, and their pages cost memory only once touched.
pub struct AlignedBuf {
    map: MmapMut,
}

impl AlignedBuf {
    pub fn new() -> std::io::Result<Self> {
        Ok(AlignedBuf {
            map: MmapMut::map_anon(ALIGN)?,
        })
    }

    /// Capacity: a multiple of [`ALIGN`].
    pub fn capacity(&self) -> usize {
        self.map.len()
    }

    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.map
    }

    /// Grows the capacity to at least `len`, keeping the first `keep` bytes. In steps of a
    /// quarter at least, rounded up to [`GROW_STEP`]: segments differ in length by a few
    /// records, and a new mapping for each longer one cost a page fault and a page cleared per
    /// 4 KiB (28 % of the store thread's time in a profile).
    pub fn grow(&mut self, len: usize, keep: usize) -> std::io::Result<()> {
        if self.map.len() < len {
            let want = len.max(self.map.len() + self.map.len() / 4);
            let mut bigger = MmapMut::map_anon(want.div_ceil(GROW_STEP) * GROW_STEP)?;
            bigger[..keep].copy_from_slice(&self.map[..keep]);
            self.map = bigger;
        }
        Ok(())
    }

    /// `bytes` zero-padded to a multiple of [`ALIGN`], in aligned memory (grown as needed:
    /// compressed blocks are about one block size, so it settles after the first file).
    fn fill(&mut self, bytes: &[u8]) -> std::io::Result<&[u8]> {
        let len = bytes.len().div_ceil(ALIGN) * ALIGN;
        if self.map.len() < len {
            self.map = MmapMut::map_anon(len)?;
        }
        self.map[..bytes.len()].copy_from_slice(bytes);
        self.map[bytes.len()..len].fill(0);
        Ok(&self.map[..len])
    }
}

impl mirrorcap_ring::reader::SegmentBuf for AlignedBuf {
    fn space(&mut self, len: usize) -> std::io::Result<&mut [u8]> {
        self.grow(len, 0)?;
        Ok(&mut self.map[..len])
    }
}

/// One data file being written at increasing offsets.
pub struct DataFile {
    file: File,
    path: PathBuf,
    mode: IoMode,
    /// Bytes the file must end up with (padding of a short last buffer excluded).
    len: u64,
    padded: bool,
}

impl DataFile {
    /// Creates (truncating) `path`, with O_DIRECT when `direct` and the file system allows it.
    pub fn create(path: &Path, direct: bool) -> crate::Result<Self> {
        let open = |flags: i32| {
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o640)
                .custom_flags(flags)
                .open(path)
        };
        let (file, mode) = match direct {
            false => (open(0), IoMode::Buffered),
            true => match open(libc::O_DIRECT) {
                Ok(f) => (Ok(f), IoMode::Direct),
                Err(e) if refuses_direct(&e) => (open(0), IoMode::Buffered),
                Err(e) => (Err(e), IoMode::Direct),
            },
        };
        let file = file.map_err(|source| StoreError::Io {
            op: "create store file",
            path: path.to_path_buf(),
            source,
        })?;
        Ok(DataFile {
            file,
            path: path.to_path_buf(),
            mode,
            len: 0,
            padded: false,
        })
    }

    pub fn mode(&self) -> IoMode {
        self.mode
    }

    /// Writes `bytes` at `offset` (the writer's next offset, in order).
    pub fn write_at(
        &mut self,
        offset: u64,
        bytes: &[u8],
        buf: &mut AlignedBuf,
    ) -> crate::Result<()> {
        let io = |source| StoreError::Io {
            op: "write store file",
            path: self.path.clone(),
            source,
        };
        debug_assert_eq!(offset, self.len, "buffers come in file order");
        match self.mode {
            IoMode::Buffered => self.file.write_all_at(bytes, offset).map_err(io)?,
            IoMode::Direct => {
                // Only the last buffer of a plain pcap may be short; it gets padded here and
                // cut in `finish`.
                debug_assert!(!self.padded, "nothing follows a short buffer");
                self.padded = !bytes.len().is_multiple_of(ALIGN);
                let aligned = buf.fill(bytes).map_err(io)?;
                self.file.write_all_at(aligned, offset).map_err(io)?;
            }
        }
        self.len = offset + bytes.len() as u64;
        Ok(())
    }

    /// Writes at `offset` the first `len` bytes of `bytes`, which is page-aligned memory of a
    /// multiple of [`ALIGN`] (zeros past `len`): O_DIRECT writes it as it is, without a copy.
    /// Only the file's last write may have `len` short of `bytes.len()`.
    pub fn write_aligned_at(&mut self, offset: u64, bytes: &[u8], len: usize) -> crate::Result<()> {
        let io = |source| StoreError::Io {
            op: "write store file",
            path: self.path.clone(),
            source,
        };
        debug_assert_eq!(offset, self.len, "buffers come in file order");
        debug_assert!(bytes.len().is_multiple_of(ALIGN) && len <= bytes.len());
        match self.mode {
            IoMode::Buffered => self.file.write_all_at(&bytes[..len], offset).map_err(io)?,
            IoMode::Direct => {
                debug_assert!(!self.padded, "nothing follows a short buffer");
                self.padded = len < bytes.len();
                // In pieces: the kernel splits each into the device's largest requests and
                // queues them together, and a failure (a full disk) comes within one piece.
                for (i, piece) in bytes.chunks(WRITE_PIECE).enumerate() {
                    let at = offset + (i * WRITE_PIECE) as u64;
                    self.file.write_all_at(piece, at).map_err(io)?;
                }
            }
        }
        self.len = offset + len as u64;
        Ok(())
    }

    /// Cuts the padding of a short last buffer and makes the data durable (fsync). Returns the
    /// file's length.
    pub fn finish(self) -> crate::Result<u64> {
        let io = |op: &'static str| {
            let path = self.path.clone();
            move |source| StoreError::Io { op, path, source }
        };
        if self.padded {
            self.file
                .set_len(self.len)
                .map_err(io("truncate store file"))?;
        }
        self.file.sync_all().map_err(io("sync store file"))?;
        Ok(self.len)
    }
}

/// Whether an open with O_DIRECT failed because the file system does not do O_DIRECT (Linux
/// answers EINVAL; tmpfs did before Linux 6.6), rather than for a reason a buffered open
/// would share (no space, permissions), which must stay an error.
pub fn refuses_direct(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::EINVAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_einval_falls_back_to_buffered() {
        assert!(refuses_direct(&std::io::Error::from_raw_os_error(
            libc::EINVAL
        )));
        for errno in [libc::ENOSPC, libc::EACCES, libc::EROFS, libc::ENOENT] {
            assert!(!refuses_direct(&std::io::Error::from_raw_os_error(errno)));
        }
    }

    #[test]
    fn a_short_last_buffer_is_padded_for_o_direct_then_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut buf = AlignedBuf::new().unwrap();
        let mut f = DataFile::create(&path, true).unwrap();
        let a = vec![7u8; 2 * ALIGN];
        let b = vec![9u8; 100];
        f.write_at(0, &a, &mut buf).unwrap();
        f.write_at(a.len() as u64, &b, &mut buf).unwrap();
        assert_eq!(f.finish().unwrap(), (a.len() + b.len()) as u64);
        assert_eq!(std::fs::read(&path).unwrap(), [a, b].concat());
    }
}
