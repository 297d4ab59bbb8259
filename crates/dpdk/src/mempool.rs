//! A packet-mbuf pool (`rte_pktmbuf_pool_create`), freed when the [`Mempool`] drops.
use super::{DpdkError, Eal};
use std::ffi::CString;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// A pool of packet buffers. Borrows the EAL so it is freed before `rte_eal_cleanup`.
pub struct Mempool<'eal> {
    ptr: NonNull<dpdk_sys::rte_mempool>,
    name: String,
    size: u32,
    data_room: u16,
    _eal: PhantomData<&'eal Eal>,
}

// SAFETY: DPDK mempools are multi-producer/multi-consumer safe by default (the ring ops we
// create them with); the pointer is only passed to DPDK functions.
unsafe impl Send for Mempool<'_> {}
// SAFETY: as above: every operation on the pool through this type is thread-safe in DPDK.
unsafe impl Sync for Mempool<'_> {}

impl<'eal> Mempool<'eal> {
    /// Creates a pool of `size` mbufs each with `data_room` bytes (headroom included) on
    /// `socket` (-1 for any), with a per-lcore cache of `cache` mbufs.
    pub fn new(
        _eal: &'eal Eal,
        name: &str,
        size: u32,
        cache: u32,
        data_room: u16,
        socket: i32,
    ) -> Result<Self, DpdkError> {
        let cname =
            CString::new(name).map_err(|_| DpdkError::from_errno("mempool name", libc::EINVAL))?;
        // SAFETY: cname is a valid C string; DPDK copies the name. The EAL is initialised (we
        // hold a borrow of it).
        let p = unsafe {
            dpdk_sys::rte_pktmbuf_pool_create(cname.as_ptr(), size, cache, 0, data_room, socket)
        };
        let ptr = NonNull::new(p).ok_or_else(|| {
            DpdkError::from_rte_errno(format!(
                "rte_pktmbuf_pool_create({name}, {size} mbufs of {data_room} B)"
            ))
        })?;
        Ok(Mempool {
            ptr,
            name: name.to_string(),
            size,
            data_room,
            _eal: PhantomData,
        })
    }

    pub fn as_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.ptr.as_ptr()
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn size(&self) -> u32 {
        self.size
    }
    /// Bytes of data room per mbuf, headroom included.
    pub fn data_room(&self) -> u16 {
        self.data_room
    }
    /// Mbufs currently taken from the pool (by RX descriptors, bursts, caches).
    pub fn in_use(&self) -> u32 {
        // SAFETY: ptr is a live mempool.
        unsafe { dpdk_sys::rte_mempool_in_use_count(self.ptr.as_ptr()) }
    }
    /// Mbufs available in the pool.
    pub fn available(&self) -> u32 {
        // SAFETY: ptr is a live mempool.
        unsafe { dpdk_sys::rte_mempool_avail_count(self.ptr.as_ptr()) }
    }
}

impl Drop for Mempool<'_> {
    fn drop(&mut self) {
        // SAFETY: every port and burst that used this pool borrowed it and is gone, so no
        // mbuf of it is referenced by a device any more.
        unsafe { dpdk_sys::rte_mempool_free(self.ptr.as_ptr()) }
    }
}
