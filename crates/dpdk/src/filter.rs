//! Packet filters in tcpdump syntax: compiled by libpcap (`pcap_compile`), converted to eBPF
//! by DPDK (`rte_bpf_convert`) and run by `rte_bpf` — JIT-compiled where DPDK has a JIT for
//! the CPU, its interpreter otherwise. A filter runs on a window of a received mbuf (the inner
//! frame after decapsulation) without copying it.
use super::{Burst, Eal};
use std::ffi::CString;
use std::ptr::NonNull;

/// What a filter's bytes start with: the same type the libpcap-only filters and the
/// pipeline's filter compiler use.
pub use mirrorcap_filter::LinkType;

/// The shim's code for `link`.
fn code(link: LinkType) -> i32 {
    match link {
        LinkType::Ethernet => dpdk_sys::SHIM_LINKTYPE_ETHERNET as i32,
        LinkType::Raw => dpdk_sys::SHIM_LINKTYPE_RAW as i32,
    }
}

fn c_expr(expr: &str) -> Result<CString, String> {
    CString::new(expr).map_err(|_| "the filter holds a NUL byte".to_string())
}

fn message(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Checks that libpcap compiles `expr` for `link` and `snaplen` (no EAL needed): the
/// configuration's validation.
pub fn check(expr: &str, link: LinkType, snaplen: u32) -> Result<(), String> {
    let e = c_expr(expr)?;
    let mut err = [0u8; 512];
    // SAFETY: e is a valid C string; err is a writable buffer of the length passed.
    let rc = unsafe {
        dpdk_sys::shim_filter_check(
            e.as_ptr(),
            code(link),
            snaplen,
            err.as_mut_ptr() as *mut std::os::raw::c_char,
            err.len(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(message(&err))
    }
}

/// A loaded filter.
pub struct Filter {
    ptr: NonNull<dpdk_sys::shim_filter>,
    link: LinkType,
}

// SAFETY: a loaded rte_bpf program (and its JIT code) is immutable after load; running it
// reads only the program and the mbuf passed in, so it may move between and be shared by
// threads. Each mbuf is owned by the one worker that runs a filter on it.
unsafe impl Send for Filter {}
// SAFETY: as above.
unsafe impl Sync for Filter {}

impl Filter {
    /// Compiles and loads `expr` (the EAL must be up: DPDK allocates the converted program
    /// from its heap). `jit = false` forces the interpreter (for comparison).
    pub fn new(
        _eal: &Eal,
        expr: &str,
        link: LinkType,
        snaplen: u32,
        jit: bool,
    ) -> Result<Filter, String> {
        let e = c_expr(expr)?;
        let mut err = [0u8; 512];
        // SAFETY: e is a valid C string; err is writable for its length; the EAL is up.
        let p = unsafe {
            dpdk_sys::shim_filter_new(
                e.as_ptr(),
                code(link),
                snaplen,
                jit as i32,
                err.as_mut_ptr() as *mut std::os::raw::c_char,
                err.len(),
            )
        };
        NonNull::new(p)
            .map(|ptr| Filter { ptr, link })
            .ok_or_else(|| message(&err))
    }

    pub fn link(&self) -> LinkType {
        self.link
    }

    /// Whether the filter runs JIT-compiled code.
    pub fn jitted(&self) -> bool {
        // SAFETY: ptr is a live filter.
        unsafe { dpdk_sys::shim_filter_jitted(self.ptr.as_ptr()) != 0 }
    }

    /// Runs the filter on bytes `off..off + len` of packet `i` of `burst` (i < len, a
    /// single-segment mbuf); true keeps the packet.
    #[inline]
    pub fn matches(&self, burst: &Burst, i: usize, off: usize, len: usize) -> bool {
        let m = burst.mbuf(i);
        let (off, len) = (off.min(u16::MAX as usize), len.min(u16::MAX as usize));
        // SAFETY: m is an mbuf the burst owns (i < len, checked by `mbuf`); the window lies in
        // its first segment (callers pass a slice of its data). The shim changes the mbuf's
        // data offset and lengths only for the call and restores them; Rust holds no reference
        // into the rte_mbuf struct (views hold copies), and the packet bytes are not written.
        unsafe { dpdk_sys::shim_filter_run(self.ptr.as_ptr(), m, off as u16, len as u16) != 0 }
    }
}

impl Drop for Filter {
    fn drop(&mut self) {
        // SAFETY: ptr came from shim_filter_new and is freed once.
        unsafe { dpdk_sys::shim_filter_free(self.ptr.as_ptr()) }
    }
}
