//! The error every DPDK wrapper returns: the operation, the errno and DPDK's text for it.
use std::ffi::CStr;

/// A failed DPDK call: `op` names what was attempted, `errno` is the positive error code.
#[derive(Debug, thiserror::Error)]
#[error("{op}: {msg} (errno {errno})")]
pub struct DpdkError {
    pub op: String,
    pub errno: i32,
    pub msg: String,
}

impl DpdkError {
    /// From a DPDK return value `ret` (negative errno) or, when `ret` is -1, from `rte_errno`.
    pub fn from_ret(op: impl Into<String>, ret: i32) -> Self {
        let errno = if ret == -1 {
            // SAFETY: reads the calling thread's rte_errno; no preconditions.
            unsafe { dpdk_sys::shim_errno() }
        } else {
            -ret
        };
        Self::from_errno(op, errno)
    }

    /// From `rte_errno` after a call that signals failure by a null pointer.
    pub fn from_rte_errno(op: impl Into<String>) -> Self {
        // SAFETY: reads the calling thread's rte_errno; no preconditions.
        let errno = unsafe { dpdk_sys::shim_errno() };
        Self::from_errno(op, errno)
    }

    pub fn from_errno(op: impl Into<String>, errno: i32) -> Self {
        // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated
        // string for any value; we copy it out at once.
        let msg = unsafe { CStr::from_ptr(dpdk_sys::rte_strerror(errno)) }
            .to_string_lossy()
            .into_owned();
        DpdkError {
            op: op.into(),
            errno,
            msg,
        }
    }
}
