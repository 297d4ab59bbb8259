//! A received burst: mbuf pointers and their views on the stack, read-only slices over the
//! packet data, and one bulk free.
use dpdk_sys::{rte_mbuf, shim_mbuf_view};

/// Packets per `rx_burst` call.
pub const MAX_BURST: usize = 32;

/// Up to [`MAX_BURST`] received mbufs. Owned: dropping a non-empty burst frees its mbufs.
pub struct Burst {
    mbufs: [*mut rte_mbuf; MAX_BURST],
    views: [shim_mbuf_view; MAX_BURST],
    len: usize,
}

/// One packet of a burst as the pipeline reads it.
#[derive(Clone, Copy)]
pub struct PacketView<'b> {
    /// The bytes of the first segment (the whole packet unless `nb_segs > 1`).
    pub data: &'b [u8],
    /// Length of the whole packet over all segments.
    pub pkt_len: u32,
    pub nb_segs: u16,
}

impl Default for Burst {
    fn default() -> Self {
        Self::new()
    }
}

impl Burst {
    pub fn new() -> Self {
        Burst {
            mbufs: [std::ptr::null_mut(); MAX_BURST],
            views: [shim_mbuf_view {
                data: std::ptr::null(),
                pkt_len: 0,
                data_len: 0,
                nb_segs: 0,
            }; MAX_BURST],
            len: 0,
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The i-th packet (i < len).
    #[inline(always)]
    pub fn packet(&self, i: usize) -> PacketView<'_> {
        let v = &self.views[i];
        // SAFETY: views[..len] were filled by shim_mbuf_views from mbufs this burst owns;
        // data points at data_len readable bytes that live until the mbuf is freed, which
        // needs &mut self.
        let data = unsafe { std::slice::from_raw_parts(v.data, v.data_len as usize) };
        PacketView {
            data,
            pkt_len: v.pkt_len,
            nb_segs: v.nb_segs,
        }
    }

    /// Asks the CPU to start loading the first cache line of packet `i`'s data (the outer
    /// headers), so it arrives while the packet before it is processed. No-op past the end.
    #[inline(always)]
    pub fn prefetch(&self, i: usize) {
        if i < self.len {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: a prefetch is a hint: it never faults and reads nothing into Rust values;
            // the address is a filled view's data pointer.
            unsafe {
                use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                _mm_prefetch::<_MM_HINT_T0>(self.views[i].data as *const i8);
            }
        }
    }

    /// The mbuf of packet `i` (for filters that run on it in place).
    #[inline(always)]
    pub(super) fn mbuf(&self, i: usize) -> *mut rte_mbuf {
        assert!(i < self.len, "packet index within the burst");
        self.mbufs[i]
    }

    /// Returns every mbuf of the burst to its pool in one call.
    #[inline]
    pub fn free_all(&mut self) {
        if self.len > 0 {
            // SAFETY: mbufs[..len] are owned mbufs, each freed exactly once here.
            unsafe { dpdk_sys::shim_pktmbuf_free_bulk(self.mbufs.as_mut_ptr(), self.len as u32) };
            self.len = 0;
        }
    }

    /// Fills the (emptied) burst with copies of `frames` in mbufs from `pool`, as if
    /// received: for benchmarks and tests of the per-packet work without a port. Frames past
    /// [`MAX_BURST`] are ignored.
    pub fn fill_from(
        &mut self,
        pool: &super::Mempool<'_>,
        frames: &[&[u8]],
    ) -> Result<usize, super::DpdkError> {
        self.free_all();
        let n = frames.len().min(MAX_BURST);
        for (i, f) in frames.iter().take(n).enumerate() {
            // SAFETY: the pool is live (borrowed); a NULL result is checked.
            let m = unsafe { dpdk_sys::shim_pktmbuf_alloc(pool.as_ptr()) };
            if m.is_null() {
                return Err(super::DpdkError::from_errno("mbuf alloc", libc::ENOMEM));
            }
            self.mbufs[i] = m;
            // Count it as owned at once, so an error below frees it.
            // SAFETY: mbufs[..=i] are owned mbufs (views filled below before any read).
            unsafe { self.set_len(i + 1) };
            let len = u16::try_from(f.len())
                .map_err(|_| super::DpdkError::from_errno("frame size", libc::EMSGSIZE))?;
            // SAFETY: m is a fresh single-segment mbuf; append returns room for len bytes or
            // NULL (checked), and the copy stays within it.
            unsafe {
                let dst = dpdk_sys::shim_pktmbuf_append(m, len);
                if dst.is_null() {
                    return Err(super::DpdkError::from_errno("mbuf append", libc::EMSGSIZE));
                }
                std::ptr::copy_nonoverlapping(f.as_ptr(), dst as *mut u8, f.len());
            }
        }
        // SAFETY: mbufs[..n] are owned, filled mbufs; views has room for n.
        unsafe {
            dpdk_sys::shim_mbuf_views(self.mbufs.as_ptr(), n as u16, self.views.as_mut_ptr())
        };
        Ok(n)
    }

    pub(super) fn raw_parts(&mut self) -> (*mut *mut rte_mbuf, *mut shim_mbuf_view) {
        (self.mbufs.as_mut_ptr(), self.views.as_mut_ptr())
    }

    /// # Safety
    /// The first `n` mbufs and views must have been written by a receive call.
    pub(super) unsafe fn set_len(&mut self, n: usize) {
        self.len = n;
    }
}

impl Drop for Burst {
    fn drop(&mut self) {
        self.free_all();
    }
}
