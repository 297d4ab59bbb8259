//! The ring's only `unsafe`: mapping segment and control files, viewing the control file as
//! atomics, reserving disk blocks with `fallocate`, renaming through a directory descriptor
//! (`renameat`), pre-faulting a segment's mapping, and
//! handing a boxed segment between the worker and the ring's helper thread ([`HandOff`]).
//! Everything else in the ring (`mirrorcap-ring`, which forbids `unsafe`) is safe. Every block
//! here carries a `// SAFETY:` note.
#![deny(clippy::undocumented_unsafe_blocks)]
use memmap2::{Mmap, MmapMut, MmapRaw};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::Arc;

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

/// Renames `from` to `to`, both names in the directory open as `dir` (`renameat`). Resolved
/// through that descriptor's mount, not the path's: a read-only mount put over the ring
/// directory after it was opened does not stop the ring renaming its files, as it does not
/// stop it writing through the descriptors it holds.
pub fn rename_at(dir: &File, from: &std::ffi::OsStr, to: &std::ffi::OsStr) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let cstr = |n: &std::ffi::OsStr| {
        std::ffi::CString::new(n.as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a file name"))
    };
    let (from, to) = (cstr(from)?, cstr(to)?);
    // SAFETY: renameat on a valid open descriptor with two NUL-terminated strings that live
    // across the call; the kernel only reads them.
    let r = unsafe { libc::renameat(dir.as_raw_fd(), from.as_ptr(), dir.as_raw_fd(), to.as_ptr()) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A writable mapping of `len` bytes of a segment file, kept for the writer's lifetime so
/// page-table entries survive rotation (re-mapping each lap costs a minor fault per page).
/// The file may be shorter than the mapping while the segment is sealed: its bytes are touched
/// only after the file was extended to the full length (by `RingWriter::activate`, or ahead of
/// need by the ring's helper thread, see `mirrorcap-ring`'s `maintainer/`).
///
/// Its bytes are reached only through `&mut SegmentMap` (it is not `Clone`); a [`Populator`]
/// of the same mapping only keeps it alive and asks the kernel to fault pages in.
pub struct SegmentMap {
    raw: Arc<MmapRaw>,
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain shared memory, usable from any thread; `ptr` points into
// `raw`, which this value keeps alive. Bytes are reached only through `&mut self`, so moving
// the value to another thread moves the only access with it.
unsafe impl Send for SegmentMap {}
// SAFETY: `&SegmentMap` reaches no byte of the mapping (only its length and a `Populator`).
unsafe impl Sync for SegmentMap {}

impl SegmentMap {
    pub fn map(file: &File, len: u64) -> io::Result<Self> {
        let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let raw = memmap2::MmapOptions::new().len(len).map_raw(file)?;
        Ok(SegmentMap {
            ptr: raw.as_mut_ptr(),
            len: raw.len(),
            raw: Arc::new(raw),
        })
    }

    #[inline(always)]
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: `ptr..ptr+len` is the mapping `raw` keeps alive. `&mut self` is the only way
        // to its bytes (a `Populator` never reads or writes them), so this is the only
        // reference. The ring directory belongs to this worker: no other process truncates or
        // writes the file while it is mapped (readers only read committed bytes). Bytes beyond
        // the file's end are never accessed: a segment's file is extended to `len` before its
        // mapping is written, and shrunk only by whoever holds the segment (the worker or the
        // ring's helper, one at a time through `HandOff`) while nobody writes there. The
        // file's blocks are reserved, so stores cannot fault for lack of space.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A handle that pre-faults this mapping from another thread without holding it.
    pub fn populator(&self) -> Populator {
        Populator {
            raw: self.raw.clone(),
        }
    }

    /// Pre-faults bytes `from..to` of the mapping (widened to whole pages, cut to the
    /// mapping) so later stores there take no page fault. The file must already be at least
    /// `to` bytes long.
    ///
    /// `madvise(MADV_POPULATE_WRITE)` (Linux >= 5.14) faults the pages in writable without
    /// touching their contents. On older kernels it falls back to touching one byte per page
    /// with a volatile write of the value already there, which takes the same write fault
    /// (`&mut self`: nobody else touches these bytes meanwhile); [`Prefault`] says which ran.
    pub fn prefault(&mut self, from: usize, to: usize) -> io::Result<Prefault> {
        if self.populator().populate(from, to)? {
            return Ok(Prefault::Populated);
        }
        let page = page_size();
        let to = to.min(self.len);
        for off in (from / page * page..to).step_by(page) {
            // SAFETY: `off < to <= len`: inside the mapping, which `self` keeps alive;
            // `&mut self` makes this the only access to the byte; rewriting the value read
            // keeps the contents; volatile so the compiler keeps the store that takes the
            // fault. The caller extended the file to `to`, so no store lands past its end.
            unsafe {
                let p = self.ptr.add(off);
                ptr::write_volatile(p, ptr::read_volatile(p));
            }
        }
        Ok(Prefault::Touched)
    }
}

/// Pre-faults a segment's mapping from the ring's helper thread while the worker may be
/// writing it: it never reads or writes a byte, so it needs no hold on the segment.
pub struct Populator {
    raw: Arc<MmapRaw>,
}

impl Populator {
    /// `madvise(MADV_POPULATE_WRITE)` on bytes `from..to` (widened to whole pages, cut to the
    /// mapping): faults the pages in writable as a store would, without storing. Ok(false) on
    /// a kernel without it (before 5.14). Where the file is shorter than `to` it fails with
    /// EFAULT instead of the SIGBUS a store would raise.
    pub fn populate(&self, from: usize, to: usize) -> io::Result<bool> {
        let page = page_size();
        let to = to.min(self.raw.len());
        let from = from / page * page;
        if from >= to {
            return Ok(true);
        }
        // SAFETY: `from` is page-aligned (the mapping starts on a page) and `from..to` lies in
        // the mapping `raw` keeps alive. The advice reads and writes no byte (it only fills
        // page tables, as the kernel would on a store), so it cannot race with the thread
        // that writes these bytes.
        let r = unsafe {
            libc::madvise(
                self.raw.as_mut_ptr().add(from) as *mut libc::c_void,
                to - from,
                libc::MADV_POPULATE_WRITE,
            )
        };
        if r == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINVAL) {
            return Ok(false);
        }
        Err(e)
    }
}

/// How [`SegmentMap::prefault`] faulted pages in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefault {
    /// `madvise(MADV_POPULATE_WRITE)`.
    Populated,
    /// One volatile write per page (kernel older than 5.14).
    Touched,
}

/// The system page size (4 KiB when it cannot be read).
/// Hints the CPU to fetch the cache line holding `bytes[at]`, so a record's
/// stores a few records later do not stall on the line's read-for-ownership. Nothing when
/// `at` is past the end.
#[inline(always)]
pub fn prefetch_write(bytes: &[u8], at: usize) {
    if at < bytes.len() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is a hint: it never faults, reads nothing into Rust values and
        // writes nothing; the address is inside the mapping (checked above).
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>(bytes.as_ptr().add(at) as *const i8);
        }
    }
}

pub fn page_size() -> usize {
    // SAFETY: sysconf reads a constant of the system; no memory is passed.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as usize
    } else {
        4096
    }
}

/// A place where one boxed value is handed between two threads without a lock: whoever
/// [`take`](Self::take)s it owns it (and may use `&mut` on it) until it
/// [`put`](Self::put)s it back. One atomic swap each way, no allocation after the first box.
pub struct HandOff<T> {
    ptr: AtomicPtr<T>,
}

// SAFETY: the cell owns at most one `Box<T>`, moved whole between threads through the atomic
// pointer (acquire/release), never shared: the same rules as sending a `Box<T>`.
unsafe impl<T: Send> Send for HandOff<T> {}
// SAFETY: as above; `&HandOff<T>` only moves boxes in and out atomically.
unsafe impl<T: Send> Sync for HandOff<T> {}

impl<T> HandOff<T> {
    pub fn new(value: Box<T>) -> Self {
        HandOff {
            ptr: AtomicPtr::new(Box::into_raw(value)),
        }
    }

    /// Takes the value out, or None while someone else holds it.
    #[inline]
    pub fn take(&self) -> Option<Box<T>> {
        let p = self.ptr.swap(ptr::null_mut(), Ordering::AcqRel);
        if p.is_null() {
            None
        } else {
            // SAFETY: a non-null pointer in the cell came from `Box::into_raw` in `new` or
            // `put`, and the swap removed it from the cell: this thread is its only owner.
            Some(unsafe { Box::from_raw(p) })
        }
    }

    /// Puts the value back; hands it back in `Err` if the cell is already full.
    #[inline]
    pub fn put(&self, value: Box<T>) -> Result<(), Box<T>> {
        let p = Box::into_raw(value);
        match self
            .ptr
            .compare_exchange(ptr::null_mut(), p, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Ok(()),
            // SAFETY: the exchange failed, so `p` never entered the cell: still ours alone.
            Err(_) => Err(unsafe { Box::from_raw(p) }),
        }
    }
}

impl<T> Drop for HandOff<T> {
    fn drop(&mut self) {
        drop(self.take());
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
