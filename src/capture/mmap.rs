//! The ring's only `unsafe`: mapping segment and control files, viewing the control file as
//! atomics, and reserving disk blocks with `fallocate`. Everything else in `capture` is safe.
use memmap2::{Mmap, MmapMut};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::AtomicU64;

/// Reserves bytes `from..to` of `file` on disk without changing its size
/// (FALLOC_FL_KEEP_SIZE), so later growth up to `to` cannot fail for lack of space (no SIGBUS
/// on a full disk). Its cost grows with the range (tmpfs walks every page of it), so callers
/// reserve only what is not already allocated.
pub fn reserve(file: &File, from: u64, to: u64) -> io::Result<()> {
    if to <= from {
        return Ok(());
    }
    // SAFETY: fallocate on a valid open descriptor; no memory is passed.
    let r = unsafe {
        libc::fallocate(
            file.as_raw_fd(),
            libc::FALLOC_FL_KEEP_SIZE,
            from as libc::off_t,
            (to - from) as libc::off_t,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    // File systems without fallocate: fall back to no reservation rather than refusing to run.
    if e.raw_os_error() == Some(libc::EOPNOTSUPP) {
        return Ok(());
    }
    Err(e)
}

/// A writable mapping of `len` bytes of a segment file, kept for the writer's lifetime so
/// page-table entries survive rotation (re-mapping each lap costs a minor fault per page).
/// The file may be shorter than the mapping while the segment is sealed: the writer touches
/// the mapping only after extending the file to the full length (see `RingWriter::activate`).
pub struct SegmentMap {
    map: MmapMut,
}

impl SegmentMap {
    pub fn map(file: &File, len: u64) -> io::Result<Self> {
        let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: the ring directory belongs to this worker: no other process truncates or
        // writes the file while it is mapped (readers only read committed bytes). Bytes beyond
        // the file's end are never accessed: the writer extends the file to `len` before it
        // writes a segment and only shrinks it when it stops writing there. The file's blocks
        // are reserved, so stores cannot fault for lack of space.
        let map = unsafe { memmap2::MmapOptions::new().len(len).map_mut(file)? };
        Ok(SegmentMap { map })
    }

    #[inline(always)]
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.map
    }
}

/// Words in a control file: `ControlMap::words()[i]`.
pub struct ControlMap {
    map: MmapMut,
}

impl ControlMap {
    /// Maps a control file read-write (the worker's writer).
    pub fn map_mut(file: &File) -> io::Result<Self> {
        // SAFETY: the control file has a fixed size set at creation, never truncated while
        // mapped; concurrent readers access it only through atomics.
        let map = unsafe { MmapMut::map_mut(file)? };
        Ok(ControlMap { map })
    }

    /// The file as 64-bit atomics (mappings are page-aligned; trailing bytes ignored).
    pub fn words(&self) -> &[AtomicU64] {
        let n = self.map.len() / 8;
        // SAFETY: the mapping is page-aligned, so aligned for AtomicU64, and n*8 bytes long;
        // AtomicU64 has the layout of u64; all access to the shared words goes through atomics.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr() as *const AtomicU64, n) }
    }
}

/// A read-only view of a control file (readers: export, tail).
pub struct ControlView {
    map: Mmap,
}

impl ControlView {
    pub fn map(file: &File) -> io::Result<Self> {
        // SAFETY: the file has a fixed size and is never truncated; we read it only through
        // atomic loads.
        let map = unsafe { Mmap::map(file)? };
        Ok(ControlView { map })
    }

    pub fn words(&self) -> &[AtomicU64] {
        let n = self.map.len() / 8;
        // SAFETY: as in ControlMap::words; loads through atomics on a shared read-only
        // mapping are sound while the writer stores to the same words.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr() as *const AtomicU64, n) }
    }
}
