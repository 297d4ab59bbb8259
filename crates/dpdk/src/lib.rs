//! Safe wrappers over DPDK (the `dpdk-sys` crate): the EAL, mempools, ports and their RX
//! and TX queues, received bursts, lcore launch and xstats. Together with the ring's mmap module this is the
//! only place in mirrorcap with `unsafe`; each block says why it holds in a `// SAFETY:` note.
//!
//! Lifetimes fix the teardown order: a [`Mempool`] borrows the [`Eal`], a [`Port`] borrows its
//! mempools, an [`RxQueue`] borrows its port. Locals drop in reverse order of creation, so a
//! runtime built as `eal → pools → port → queues` tears down as queues → port (stop, close) →
//! pools (free) → EAL (cleanup); any other order does not compile:
//!
//! ```no_run
//! use mirrorcap_dpdk::*;
//! let eal = EalBuilder::new().vdev("net_null0").init().unwrap();
//! let pool = Mempool::new(&eal, "p", 1023, 0, 2176, -1).unwrap();
//! let port = PortBuilder::new(0, vec![&pool]).build().unwrap();
//! let queues = port.take_rx_queues();
//! drop(queues);
//! drop(port);
//! drop(pool);
//! drop(eal);
//! ```
//! A pool freed while its port runs is refused:
//! ```compile_fail,E0505
//! use mirrorcap_dpdk::*;
//! let eal = EalBuilder::new().vdev("net_null0").init().unwrap();
//! let pool = Mempool::new(&eal, "p", 1023, 0, 2176, -1).unwrap();
//! let port = PortBuilder::new(0, vec![&pool]).build().unwrap();
//! drop(pool);
//! drop(port);
//! ```
//! So is an EAL cleaned up under a live pool, or a port closed under a polled queue:
//! ```compile_fail,E0505
//! use mirrorcap_dpdk::*;
//! let eal = EalBuilder::new().vdev("net_null0").init().unwrap();
//! let pool = Mempool::new(&eal, "p", 1023, 0, 2176, -1).unwrap();
//! drop(eal);
//! drop(pool);
//! ```
//! ```compile_fail,E0505
//! use mirrorcap_dpdk::*;
//! let eal = EalBuilder::new().vdev("net_null0").init().unwrap();
//! let pool = Mempool::new(&eal, "p", 1023, 0, 2176, -1).unwrap();
//! let port = PortBuilder::new(0, vec![&pool]).build().unwrap();
//! let mut queues = port.take_rx_queues();
//! drop(port);
//! let mut burst = Burst::new();
//! queues[0].rx(&mut burst);
//! ```
//! And a queue has one poller: `RxQueue` is not `Clone`.
//! ```compile_fail,E0277
//! fn cloneable<T: Clone>() {}
//! cloneable::<mirrorcap_dpdk::RxQueue<'static>>();
//! ```
//! ```
//! fn sendable<T: Send>() {}
//! sendable::<mirrorcap_dpdk::RxQueue<'static>>();
//! ```

mod burst;
mod eal;
mod error;
mod events;
pub mod filter;
mod lcore;
mod mempool;
mod port;
mod time;
mod tx;
mod xstats;

pub use burst::{Burst, PacketView, MAX_BURST};
pub use eal::{hugepages_available, Eal, EalBuilder};
pub use error::DpdkError;
pub use events::{timers_init, timers_manage, PortEvents};
pub use lcore::{launch_workers, WorkerLcore};
pub use mempool::Mempool;
pub use port::{NicStats, Port, PortBuilder, PortInfo, Recovery, RxQueue};
pub use time::{rdtsc, tsc_hz, TscClock};
pub use tx::{TxBurst, TxQueue, MAX_TX_BURST};
pub use xstats::Xstats;

/// The DPDK version string of the library this binary runs against (e.g. "DPDK 22.11.11").
pub fn version() -> String {
    // SAFETY: rte_version returns a pointer to a static NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(dpdk_sys::shim_version()) }
        .to_string_lossy()
        .into_owned()
}

/// Bytes of headroom DPDK keeps at the front of each mbuf (RTE_PKTMBUF_HEADROOM).
/// DPDK's (year, month) release number, as compiled against (22.11: (22, 11)).
pub fn version_numbers() -> (u32, u32) {
    (dpdk_sys::RTE_VER_YEAR, dpdk_sys::RTE_VER_MONTH)
}

pub fn pktmbuf_headroom() -> u16 {
    // SAFETY: returns a compile-time constant.
    unsafe { dpdk_sys::shim_pktmbuf_headroom() }
}
