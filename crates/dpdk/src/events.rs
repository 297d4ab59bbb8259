//! Device reset requests the driver raises from DPDK's interrupt thread (or, with ENA's
//! control-path polling, its alarm): `RTE_ETH_EVENT_INTR_RESET`, what ENA's watchdog raises when
//! keep-alives or TX completions stop. The callback only counts; the control loop takes the
//! count ([`PortEvents::take_resets`]) and does the work on the main lcore, where it is safe to
//! reconfigure the port ([`crate::Port::recover`]). Link changes need no event: the control loop
//! reads the link every round, which also covers drivers without LSC interrupts (and LSC
//! callbacks only fire when the port is configured with `intr_conf.lsc`, which it is not).
use super::DpdkError;
use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicU32, Ordering};

const PORTS: usize = dpdk_sys::RTE_MAX_ETHPORTS as usize;

/// Per port: reset requests raised since the last take.
static RESETS: [AtomicU32; PORTS] = [const { AtomicU32::new(0) }; PORTS];

/// The reset callback of one port, unregistered on drop.
pub struct PortEvents {
    port_id: u16,
}

extern "C" fn on_reset(
    port_id: u16,
    event: dpdk_sys::rte_eth_event_type,
    _cb_arg: *mut c_void,
    _ret_param: *mut c_void,
) -> c_int {
    let i = port_id as usize;
    if i < PORTS && event == dpdk_sys::RTE_ETH_EVENT_INTR_RESET {
        RESETS[i].fetch_add(1, Ordering::Release);
    }
    0
}

impl PortEvents {
    /// Registers for `port_id`'s reset requests. A driver without them (most vdevs) simply
    /// never raises one; registration itself only fails for an invalid port.
    pub fn register(port_id: u16) -> Result<Self, DpdkError> {
        // SAFETY: on_reset is a plain function that only touches static atomics, valid for the
        // whole process; the null argument is never read.
        let ret = unsafe {
            dpdk_sys::rte_eth_dev_callback_register(
                port_id,
                dpdk_sys::RTE_ETH_EVENT_INTR_RESET,
                Some(on_reset),
                std::ptr::null_mut(),
            )
        };
        if ret != 0 {
            return Err(DpdkError::from_ret(
                format!("rte_eth_dev_callback_register(port {port_id}, INTR_RESET)"),
                ret,
            ));
        }
        Ok(PortEvents { port_id })
    }

    /// The reset requests raised since the last call.
    pub fn take_resets(&self) -> u32 {
        RESETS[self.port_id as usize].swap(0, Ordering::Acquire)
    }

    /// Raises a reset request as the driver would (the `port-reset` test hook).
    pub fn inject_reset(&self) {
        RESETS[self.port_id as usize].fetch_add(1, Ordering::Release);
    }
}

impl Drop for PortEvents {
    fn drop(&mut self) {
        // SAFETY: the same function and argument as registered.
        unsafe {
            dpdk_sys::rte_eth_dev_callback_unregister(
                self.port_id,
                dpdk_sys::RTE_ETH_EVENT_INTR_RESET,
                Some(on_reset),
                std::ptr::null_mut(),
            )
        };
    }
}

/// Starts DPDK's timer library, which drivers arm timers on (ENA's watchdog: once a second on
/// the lcore that started the port). Call once after the EAL, before a port starts.
pub fn timers_init() -> Result<(), DpdkError> {
    // SAFETY: no preconditions after rte_eal_init; a second call returns -EALREADY.
    let ret = unsafe { dpdk_sys::rte_timer_subsystem_init() };
    if ret != 0 && ret != -libc::EALREADY {
        return Err(DpdkError::from_ret("rte_timer_subsystem_init", ret));
    }
    Ok(())
}

/// Runs the timers due on the calling lcore (the main lcore: the one that started the port,
/// where ENA arms its watchdog). Cheap when none is due.
pub fn timers_manage() {
    // SAFETY: the timer library is initialised (timers_init) before any port starts.
    unsafe { dpdk_sys::rte_timer_manage() };
}
