//! Ethernet ports: [`PortBuilder`] configures N RX queues (RSS on IP/UDP/TCP where the device
//! offers it, the MTU for 9001-byte frames plus outer headers where the device allows,
//! descriptor counts adjusted to the device) and starts the port; [`Port`] stops and closes it
//! on drop; [`RxQueue`] is the one poller of one queue.
use super::{Burst, DpdkError, Mempool};
use std::ffi::CStr;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::Mutex;

/// What the device says about itself, read before configuration.
#[derive(Clone, Debug)]
pub struct PortInfo {
    pub port_id: u16,
    pub name: String,
    pub driver: String,
    pub max_rx_queues: u16,
    pub max_tx_queues: u16,
    pub min_mtu: u16,
    pub max_mtu: u16,
    pub max_rx_pktlen: u32,
    pub rss_offloads: u64,
    pub rx_desc_max: u16,
    pub rx_desc_min: u16,
    pub socket: i32,
}

impl PortInfo {
    pub fn query(port_id: u16) -> Result<Self, DpdkError> {
        let mut info = dpdk_sys::rte_eth_dev_info::default();
        // SAFETY: info is a valid out-pointer for the call.
        let ret = unsafe { dpdk_sys::rte_eth_dev_info_get(port_id, &mut info) };
        if ret != 0 {
            return Err(DpdkError::from_ret(
                format!("rte_eth_dev_info_get(port {port_id})"),
                ret,
            ));
        }
        let driver = if info.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: non-null driver_name points at the driver's static name.
            unsafe { CStr::from_ptr(info.driver_name) }
                .to_string_lossy()
                .into_owned()
        };
        let mut name = [0 as std::ffi::c_char; dpdk_sys::RTE_ETH_NAME_MAX_LEN as usize];
        // SAFETY: name has RTE_ETH_NAME_MAX_LEN bytes as the API requires.
        let ret = unsafe { dpdk_sys::rte_eth_dev_get_name_by_port(port_id, name.as_mut_ptr()) };
        let name = if ret == 0 {
            // SAFETY: DPDK wrote a NUL-terminated string into name.
            unsafe { CStr::from_ptr(name.as_ptr()) }
                .to_string_lossy()
                .into_owned()
        } else {
            format!("port{port_id}")
        };
        // SAFETY: no preconditions for a valid port id.
        let socket = unsafe { dpdk_sys::rte_eth_dev_socket_id(port_id) };
        Ok(PortInfo {
            port_id,
            name,
            driver,
            max_rx_queues: info.max_rx_queues,
            max_tx_queues: info.max_tx_queues,
            min_mtu: info.min_mtu,
            max_mtu: info.max_mtu,
            max_rx_pktlen: info.max_rx_pktlen,
            rss_offloads: info.flow_type_rss_offloads,
            rx_desc_max: info.rx_desc_lim.nb_max,
            rx_desc_min: info.rx_desc_lim.nb_min,
            socket,
        })
    }
}

/// Port configuration; `build` configures, sets up the RX queues and starts the port.
pub struct PortBuilder<'p> {
    port_id: u16,
    pools: Vec<&'p Mempool<'p>>,
    rx_desc: u16,
    tx_queues: u16,
    tx_desc: u16,
    mtu: u16,
}

impl<'p> PortBuilder<'p> {
    /// `pools` gives one mempool per RX queue (queue i fills from pools[i]).
    pub fn new(port_id: u16, pools: Vec<&'p Mempool<'p>>) -> Self {
        PortBuilder {
            port_id,
            pools,
            rx_desc: 1024,
            tx_queues: 0,
            tx_desc: 1024,
            mtu: 9001,
        }
    }
    /// TX queues to set up (none by default: the appliance only receives), each with `desc`
    /// descriptors (adjusted to the device's limits). A port may have TX queues and no RX.
    pub fn tx_queues(mut self, n: u16, desc: u16) -> Self {
        self.tx_queues = n;
        self.tx_desc = desc;
        self
    }
    /// RX descriptors per queue (adjusted to the device's limits).
    pub fn rx_desc(mut self, n: u16) -> Self {
        self.rx_desc = n;
        self
    }
    /// The L3 MTU wanted; capped to what the device allows.
    pub fn mtu(mut self, mtu: u16) -> Self {
        self.mtu = mtu;
        self
    }

    pub fn build(self) -> Result<Port<'p>, DpdkError> {
        let id = self.port_id;
        let info = PortInfo::query(id)?;
        let nq = self.pools.len() as u16;
        let ntx = self.tx_queues;
        if ntx > info.max_tx_queues {
            return Err(DpdkError::from_errno(
                format!(
                    "port {} ({}) offers {} TX queues, {} asked",
                    info.name, info.driver, info.max_tx_queues, ntx
                ),
                libc::EINVAL,
            ));
        }
        if (nq == 0 && ntx == 0) || nq > info.max_rx_queues {
            return Err(DpdkError::from_errno(
                format!(
                    "port {} ({}) offers {} RX queues, {} asked",
                    info.name, info.driver, info.max_rx_queues, nq
                ),
                libc::EINVAL,
            ));
        }
        let mut conf = dpdk_sys::rte_eth_conf::default();
        // SAFETY: no preconditions.
        let rss_hf = unsafe { dpdk_sys::shim_rss_hf_ip_udp_tcp() } & info.rss_offloads;
        let rss = nq > 1 && rss_hf != 0;
        if rss {
            conf.rxmode.mq_mode = dpdk_sys::RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
        }
        // The MTU: the wanted one where the device allows it; devices reporting no maximum
        // (max_mtu 0 or u16::MAX with a small max_rx_pktlen) keep their default.
        let mtu = if info.max_mtu >= info.min_mtu && info.max_mtu > 0 {
            self.mtu.min(info.max_mtu).max(info.min_mtu)
        } else {
            self.mtu
        };
        conf.rxmode.mtu = mtu as u32;
        let mut setup = Setup {
            conf,
            nq,
            ntx,
            rxd: self.rx_desc,
            txd: if ntx > 0 { self.tx_desc } else { 0 },
            mtu,
            rss,
            pools: self.pools.iter().map(|p| p.as_ptr()).collect(),
        };
        let applied = setup.apply(&info)?;
        Ok(Port {
            info,
            nb_rx_queues: nq,
            nb_tx_queues: ntx,
            tx_desc: setup.txd,
            rx_desc: setup.rxd,
            mtu: AtomicU16::new(applied),
            rss,
            queues_taken: AtomicBool::new(false),
            tx_taken: AtomicBool::new(false),
            setup: Mutex::new(setup),
            _pools: PhantomData,
        })
    }
}

/// Everything a port's set-up used, kept so that a reset can set it up again exactly so.
struct Setup {
    conf: dpdk_sys::rte_eth_conf,
    nq: u16,
    ntx: u16,
    /// Descriptors asked for, then as adjusted to the device.
    rxd: u16,
    txd: u16,
    mtu: u16,
    rss: bool,
    /// The RX queues' pools (the port's `'p` borrow keeps them alive).
    pools: Vec<*mut dpdk_sys::rte_mempool>,
}

// SAFETY: the raw pointers (inside `conf` an RSS key, none set; the pools, which the port's
// `'p` borrow keeps alive) are never dereferenced here; they are only handed to DPDK, from the
// control lcore, under the port's mutex.
unsafe impl Send for Setup {}

impl Setup {
    /// Configures the device, sets up its queues, starts it, sets the MTU and promiscuous
    /// mode; the MTU applied.
    fn apply(&mut self, info: &PortInfo) -> Result<u16, DpdkError> {
        let id = info.port_id;
        let (nq, ntx, rss, mtu) = (self.nq, self.ntx, self.rss, self.mtu);
        let mut conf = self.conf;
        // SAFETY: conf is a fully initialised rte_eth_conf; DPDK copies it.
        let mut ret = unsafe { dpdk_sys::rte_eth_dev_configure(id, nq, ntx, &conf) };
        if ret == -libc::EINVAL {
            // Some PMDs reject an MTU they then accept through rte_eth_dev_set_mtu: retry with
            // the default and set it afterwards.
            conf.rxmode.mtu = 0;
            // SAFETY: as above.
            ret = unsafe { dpdk_sys::rte_eth_dev_configure(id, nq, ntx, &conf) };
        }
        if ret != 0 {
            return Err(DpdkError::from_ret(
                format!(
                    "rte_eth_dev_configure(port {}, {nq} RX queues, rss {rss})",
                    info.name
                ),
                ret,
            ));
        }
        let (mut rxd, mut txd) = (self.rxd, self.txd);
        // SAFETY: valid out-pointers.
        let ret = unsafe { dpdk_sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut rxd, &mut txd) };
        if ret != 0 {
            return Err(DpdkError::from_ret("rte_eth_dev_adjust_nb_rx_tx_desc", ret));
        }
        (self.rxd, self.txd) = (rxd, txd);
        for (q, pool) in self.pools.iter().enumerate() {
            // SAFETY: the pool outlives the port (lifetime 'p); a null rxconf selects the
            // device's defaults.
            let ret = unsafe {
                dpdk_sys::rte_eth_rx_queue_setup(
                    id,
                    q as u16,
                    rxd,
                    info.socket.max(0) as u32,
                    std::ptr::null(),
                    *pool,
                )
            };
            if ret != 0 {
                return Err(DpdkError::from_ret(
                    format!(
                        "rte_eth_rx_queue_setup(port {}, queue {q}, {rxd} descriptors)",
                        info.name
                    ),
                    ret,
                ));
            }
        }
        for q in 0..ntx {
            // SAFETY: the port is configured with ntx TX queues; a null txconf selects the
            // device's defaults.
            let ret = unsafe {
                dpdk_sys::rte_eth_tx_queue_setup(
                    id,
                    q,
                    txd,
                    info.socket.max(0) as u32,
                    std::ptr::null(),
                )
            };
            if ret != 0 {
                return Err(super::tx::tx_setup_error(&info.name, q, txd, ret));
            }
        }
        // SAFETY: the port is configured; no preconditions beyond that.
        let ret = unsafe { dpdk_sys::rte_eth_dev_start(id) };
        if ret != 0 {
            // SAFETY: close releases what configure set up.
            unsafe { dpdk_sys::rte_eth_dev_close(id) };
            return Err(DpdkError::from_ret(
                format!("rte_eth_dev_start(port {})", info.name),
                ret,
            ));
        }
        let mut applied: u16 = 0;
        // SAFETY: valid out-pointer.
        unsafe { dpdk_sys::rte_eth_dev_get_mtu(id, &mut applied) };
        if applied < mtu {
            // SAFETY: no preconditions; failure leaves the MTU as it was.
            if unsafe { dpdk_sys::rte_eth_dev_set_mtu(id, mtu) } == 0 {
                applied = mtu;
            }
        }
        // Mirror traffic is addressed to us; promiscuous mode only matters on test devices and
        // ENA does not offer it, so failure is not an error.
        // SAFETY: no preconditions on a started port.
        unsafe { dpdk_sys::rte_eth_promiscuous_enable(id) };
        Ok(applied)
    }
}

/// How [`Port::recover`] brought the port back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// `rte_eth_dev_reset` re-initialised the device (ENA), then it was set up again.
    Reset,
    /// The driver has no reset (most vdevs): the port was stopped and set up again.
    Restarted,
}

/// A started port. Dropping it stops and closes the device.
pub struct Port<'p> {
    info: PortInfo,
    nb_rx_queues: u16,
    nb_tx_queues: u16,
    tx_desc: u16,
    rx_desc: u16,
    mtu: AtomicU16,
    rss: bool,
    queues_taken: AtomicBool,
    tx_taken: AtomicBool,
    /// Taken only by [`Port::recover`], on the control lcore.
    setup: Mutex<Setup>,
    _pools: PhantomData<&'p Mempool<'p>>,
}

/// Port counters as `rte_eth_stats_get` gives them (read from the control core only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NicStats {
    pub ipackets: u64,
    pub ibytes: u64,
    pub imissed: u64,
    pub ierrors: u64,
    pub rx_nombuf: u64,
}

impl<'p> Port<'p> {
    pub fn info(&self) -> &PortInfo {
        &self.info
    }
    pub fn id(&self) -> u16 {
        self.info.port_id
    }
    pub fn rx_queue_count(&self) -> u16 {
        self.nb_rx_queues
    }
    pub fn rx_desc(&self) -> u16 {
        self.rx_desc
    }
    /// The MTU the device accepted.
    pub fn mtu(&self) -> u16 {
        self.mtu.load(Ordering::Relaxed)
    }
    pub fn rss(&self) -> bool {
        self.rss
    }

    /// The RX queues, each exactly once: a second call gets none.
    pub fn take_rx_queues(&self) -> Vec<RxQueue<'_>> {
        if self.queues_taken.swap(true, Ordering::AcqRel) {
            return Vec::new();
        }
        (0..self.nb_rx_queues)
            .map(|q| RxQueue {
                port_id: self.info.port_id,
                queue_id: q,
                _port: PhantomData,
            })
            .collect()
    }

    pub fn tx_queue_count(&self) -> u16 {
        self.nb_tx_queues
    }
    pub fn tx_desc(&self) -> u16 {
        self.tx_desc
    }

    /// The TX queues, each exactly once: a second call gets none.
    pub fn take_tx_queues(&self) -> Vec<super::TxQueue<'_>> {
        if self.tx_taken.swap(true, Ordering::AcqRel) {
            return Vec::new();
        }
        (0..self.nb_tx_queues)
            .map(|q| super::TxQueue::new(self.info.port_id, q))
            .collect()
    }

    /// Basic counters. Goes through the driver (on ENA the admin queue): control core only.
    pub fn stats(&self) -> Result<NicStats, DpdkError> {
        let mut s = dpdk_sys::rte_eth_stats::default();
        // SAFETY: valid out-pointer.
        let ret = unsafe { dpdk_sys::rte_eth_stats_get(self.info.port_id, &mut s) };
        if ret != 0 {
            return Err(DpdkError::from_ret("rte_eth_stats_get", ret));
        }
        Ok(NicStats {
            ipackets: s.ipackets,
            ibytes: s.ibytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    /// Brings the port back after the driver asked for a reset (`RTE_ETH_EVENT_INTR_RESET`):
    /// `rte_eth_dev_reset` (which stops the port and re-initialises the device), or, on a
    /// driver without one, a stop; then the same configuration, queues (same pools and
    /// descriptor counts), MTU and promiscuous mode as at start, and a start.
    ///
    /// Every RX and TX queue of the port must be idle (no lcore in a burst call on it) for the
    /// whole call: the caller parks the workers at a burst boundary first.
    pub fn recover(&self) -> Result<Recovery, DpdkError> {
        let id = self.info.port_id;
        // SAFETY: the caller guarantees no queue is polled during the call.
        let ret = unsafe { dpdk_sys::rte_eth_dev_reset(id) };
        let kind = if ret == 0 {
            Recovery::Reset
        } else if ret == -libc::ENOTSUP {
            // SAFETY: as above; stopping a stopped port is harmless.
            unsafe { dpdk_sys::rte_eth_dev_stop(id) };
            Recovery::Restarted
        } else {
            return Err(DpdkError::from_ret(
                format!("rte_eth_dev_reset(port {})", self.info.name),
                ret,
            ));
        };
        let mut setup = self.setup.lock().unwrap_or_else(|e| e.into_inner());
        let mtu = setup.apply(&self.info)?;
        self.mtu.store(mtu, Ordering::Relaxed);
        Ok(kind)
    }

    /// Link state and speed in Mbit/s.
    pub fn link(&self) -> Option<(bool, u32)> {
        let mut speed = 0u32;
        // SAFETY: valid out-pointer.
        let r = unsafe { dpdk_sys::shim_eth_link_up(self.info.port_id, &mut speed) };
        (r >= 0).then_some((r == 1, speed))
    }
}

impl Drop for Port<'_> {
    fn drop(&mut self) {
        // SAFETY: every RxQueue and TxQueue borrowed the port and is gone, so no lcore uses
        // it; stop
        // returns the descriptors' mbufs to their pools (which outlive the port), close frees
        // the queues.
        unsafe {
            dpdk_sys::rte_eth_dev_stop(self.info.port_id);
            dpdk_sys::rte_eth_dev_close(self.info.port_id);
        }
    }
}

/// One RX queue of a started port. `Send` (it moves to its worker lcore) but not `Clone`:
/// one poller per queue by construction.
pub struct RxQueue<'a> {
    port_id: u16,
    queue_id: u16,
    _port: PhantomData<&'a Port<'a>>,
}

impl RxQueue<'_> {
    pub fn port_id(&self) -> u16 {
        self.port_id
    }
    pub fn queue_id(&self) -> u16 {
        self.queue_id
    }

    /// Receives up to `MAX_BURST` packets into `burst`, which must be empty (freed).
    #[inline]
    pub fn rx(&mut self, burst: &mut Burst) -> usize {
        debug_assert!(burst.is_empty());
        let (mbufs, views) = burst.raw_parts();
        // SAFETY: &mut self guarantees this is the queue's only poller; mbufs has room for
        // MAX_BURST pointers.
        let n = unsafe {
            dpdk_sys::shim_eth_rx_burst(self.port_id, self.queue_id, mbufs, super::MAX_BURST as u16)
        };
        if n > 0 {
            // SAFETY: the first n entries of mbufs are mbufs we now own; views has room for n.
            unsafe { dpdk_sys::shim_mbuf_views(mbufs, n, views) };
        }
        // SAFETY: n mbufs and views were just written.
        unsafe { burst.set_len(n as usize) };
        n as usize
    }
}
