//! Transmit: [`TxQueue`] is the one sender of one TX queue of a started port; [`TxBurst`]
//! holds mbufs allocated in bulk, lets the caller write each frame in place, and sends them
//! with `rte_eth_tx_burst`, keeping what the device did not take for the next try.
use super::{DpdkError, Mempool, Port};
use dpdk_sys::rte_mbuf;
use std::marker::PhantomData;

/// Most packets in one [`TxBurst`].
pub const MAX_TX_BURST: usize = 256;

/// One TX queue of a started port. `Send` (it moves to its lcore), not `Clone`: one sender
/// per queue by construction.
pub struct TxQueue<'a> {
    port_id: u16,
    queue_id: u16,
    _port: PhantomData<&'a Port<'a>>,
}

impl TxQueue<'_> {
    pub(super) fn new(port_id: u16, queue_id: u16) -> Self {
        TxQueue {
            port_id,
            queue_id,
            _port: PhantomData,
        }
    }
    pub fn queue_id(&self) -> u16 {
        self.queue_id
    }
}

/// Up to [`MAX_TX_BURST`] mbufs being filled or waiting to be sent. Dropping it frees the
/// unsent ones.
pub struct TxBurst {
    mbufs: [*mut rte_mbuf; MAX_TX_BURST],
    /// mbufs[sent..len] are owned and not yet taken by the device.
    len: usize,
    sent: usize,
}

// SAFETY: the mbufs are owned by the burst alone (allocated by it, not yet handed to a
// device); moving them to another lcore with the burst is how DPDK apps pass mbufs.
unsafe impl Send for TxBurst {}

impl Default for TxBurst {
    fn default() -> Self {
        Self::new()
    }
}

impl TxBurst {
    pub fn new() -> Self {
        TxBurst {
            mbufs: [std::ptr::null_mut(); MAX_TX_BURST],
            len: 0,
            sent: 0,
        }
    }

    /// Packets not yet taken by the device.
    #[inline]
    pub fn pending(&self) -> usize {
        self.len - self.sent
    }

    /// Takes `n` (≤ [`MAX_TX_BURST`]) fresh mbufs from `pool` in one call; the burst must have
    /// nothing pending. `false` when the pool has fewer free (nothing taken then).
    #[inline]
    pub fn alloc(&mut self, pool: &Mempool<'_>, n: usize) -> bool {
        debug_assert_eq!(self.pending(), 0);
        let n = n.min(MAX_TX_BURST);
        // SAFETY: the pool is live (borrowed); mbufs has room for n pointers; on failure
        // DPDK takes nothing.
        let r = unsafe {
            dpdk_sys::shim_pktmbuf_alloc_bulk(pool.as_ptr(), self.mbufs.as_mut_ptr(), n as u32)
        };
        if r != 0 {
            self.len = 0;
            self.sent = 0;
            return false;
        }
        self.len = n;
        self.sent = 0;
        true
    }

    /// The writable data room of packet `i` (fresh from [`TxBurst::alloc`]): the whole buffer
    /// after the headroom.
    #[inline]
    pub fn room(&mut self, i: usize) -> &mut [u8] {
        assert!(i >= self.sent && i < self.len, "an owned, unsent packet");
        let mut room = 0u16;
        // SAFETY: mbufs[i] is an owned single-segment mbuf; the pointer and room describe its
        // buffer from the data start to the end, which nothing else references while we hold
        // &mut self.
        unsafe {
            let p = dpdk_sys::shim_pktmbuf_room(self.mbufs[i], &mut room);
            std::slice::from_raw_parts_mut(p, room as usize)
        }
    }

    /// Sets packet `i`'s length (≤ its room).
    #[inline]
    pub fn set_len(&mut self, i: usize, len: usize) {
        assert!(i >= self.sent && i < self.len, "an owned, unsent packet");
        let len = u16::try_from(len).expect("frame fits an mbuf");
        // SAFETY: mbufs[i] is an owned single-segment mbuf and len fits its room (the caller
        // wrote that many bytes into room(i), whose length bounds it).
        unsafe { dpdk_sys::shim_pktmbuf_set_len(self.mbufs[i], len) }
    }

    /// Offers the pending packets to `q`; returns how many the device took (the rest stay
    /// pending for another call).
    #[inline]
    pub fn send(&mut self, q: &mut TxQueue<'_>) -> usize {
        let n = self.pending();
        if n == 0 {
            return 0;
        }
        // SAFETY: &mut q makes this the queue's only sender; mbufs[sent..len] are owned,
        // filled mbufs; the device takes ownership of the first `took` of them.
        let took = unsafe {
            dpdk_sys::shim_eth_tx_burst(
                q.port_id,
                q.queue_id,
                self.mbufs.as_mut_ptr().add(self.sent),
                n as u16,
            )
        } as usize;
        self.sent += took;
        took
    }

    /// Frees the packets still pending; returns how many.
    #[inline]
    pub fn drop_pending(&mut self) -> usize {
        let n = self.pending();
        if n > 0 {
            // SAFETY: mbufs[sent..len] are owned and freed exactly once here.
            unsafe {
                dpdk_sys::shim_pktmbuf_free_bulk(self.mbufs.as_mut_ptr().add(self.sent), n as u32)
            };
        }
        self.len = 0;
        self.sent = 0;
        n
    }
}

impl Drop for TxBurst {
    fn drop(&mut self) {
        self.drop_pending();
    }
}

/// A TX queue's setup failed.
pub(super) fn tx_setup_error(name: &str, q: u16, desc: u16, ret: i32) -> DpdkError {
    DpdkError::from_ret(
        format!("rte_eth_tx_queue_setup(port {name}, queue {q}, {desc} descriptors)"),
        ret,
    )
}
