//! The packet seam: what the per-packet pipeline needs from a received frame ([`Packet`]) and
//! from a filter ([`FrameFilter`]). A DPDK mbuf (in `app/worker.rs`, filtered by rte_bpf's
//! JIT) and plain bytes ([`Frame`], filtered by libpcap's interpreter) both implement them, so
//! tests and benches run the workers' real decision on `&[u8]` without an EAL.
#![forbid(unsafe_code)]
use mirrorcap_filter::PcapFilter;

/// A received frame.
pub trait Packet {
    /// The bytes of the first segment (the whole frame unless [`segments`](Self::segments)
    /// is above 1).
    fn data(&self) -> &[u8];
    /// The frame's length over all segments.
    fn wire_len(&self) -> u32;
    /// How many buffers the frame spans (the pipeline keeps single-buffer frames only).
    fn segments(&self) -> u16;
}

/// A frame as plain bytes: one segment, all of it present.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a>(pub &'a [u8]);

impl Packet for Frame<'_> {
    #[inline]
    fn data(&self) -> &[u8] {
        self.0
    }
    #[inline]
    fn wire_len(&self) -> u32 {
        self.0.len().min(u32::MAX as usize) as u32
    }
    #[inline]
    fn segments(&self) -> u16 {
        1
    }
}

/// A compiled tcpdump-syntax filter that runs on a window of a packet of type `P`.
pub trait FrameFilter<P: ?Sized> {
    /// Whether the filter keeps bytes `off..off + len` of `pkt`'s first segment (the inner
    /// frame after decapsulation; callers pass a window that lies in it).
    fn keeps(&self, pkt: &P, off: usize, len: usize) -> bool;
}

/// libpcap's interpreter over any packet's bytes.
impl<P: Packet + ?Sized> FrameFilter<P> for PcapFilter {
    #[inline]
    fn keeps(&self, pkt: &P, off: usize, len: usize) -> bool {
        let d = pkt.data();
        let end = off.saturating_add(len).min(d.len());
        self.matches(&d[off.min(end)..end])
    }
}
