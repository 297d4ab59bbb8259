//! Port events the driver raises from DPDK's interrupt thread (or, with ENA's control-path
//! polling, its alarm): a device reset request (`RTE_ETH_EVENT_INTR_RESET`, what ENA's watchdog
//! raises when keep-alives or TX completions stop) and a link status change
//! (`RTE_ETH_EVENT_INTR_LSC`). The callbacks only raise flags; the control loop takes them
//! ([`PortEvents::take`]) and does the work on the main lcore, where it is safe to reconfigure
//! the port ([`crate::Port::recover`]).
use super::DpdkError;
use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicU32, Ordering};

const PORTS: usize = dpdk_sys::RTE_MAX_ETHPORTS as usize;

/// Per port: reset requests and link changes raised since the last take.
static RESETS: [AtomicU32; PORTS] = [const { AtomicU32::new(0) }; PORTS];
static LINK_CHANGES: [AtomicU32; PORTS] = [const { AtomicU32::new(0) }; PORTS];

/// What was raised since the last [`PortEvents::take`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Raised {
    pub resets: u32,
    pub link_changes: u32,
}

/// The event callbacks of one port, unregistered on drop.
pub struct PortEvents {
    port_id: u16,
    /// Which events the driver accepted callbacks for.
    pub reset_registered: bool,
    pub lsc_registered: bool,
}

extern "C" fn on_event(
    port_id: u16,
    event: dpdk_sys::rte_eth_event_type,
    _cb_arg: *mut c_void,
    _ret_param: *mut c_void,
) -> c_int {
    let i = port_id as usize;
    if i >= PORTS {
        return 0;
    }
    if event == dpdk_sys::RTE_ETH_EVENT_INTR_RESET {
        RESETS[i].fetch_add(1, Ordering::Release);
    } else if event == dpdk_sys::RTE_ETH_EVENT_INTR_LSC {
        LINK_CHANGES[i].fetch_add(1, Ordering::Release);
    }
    0
}

impl PortEvents {
    /// Registers for `port_id`'s reset and link events. A driver without them (most vdevs)
    /// simply never raises them; registration itself only fails for an invalid port.
    pub fn register(port_id: u16) -> Result<Self, DpdkError> {
        let mut ev = PortEvents {
            port_id,
            reset_registered: false,
            lsc_registered: false,
        };
        for (event, flag) in [
            (dpdk_sys::RTE_ETH_EVENT_INTR_RESET, &mut ev.reset_registered),
            (dpdk_sys::RTE_ETH_EVENT_INTR_LSC, &mut ev.lsc_registered),
        ] {
            // SAFETY: on_event is a plain function that only touches static atomics, valid
            // for the whole process; the null argument is never read.
            let ret = unsafe {
                dpdk_sys::rte_eth_dev_callback_register(
                    port_id,
                    event,
                    Some(on_event),
                    std::ptr::null_mut(),
                )
            };
            if ret != 0 {
                return Err(DpdkError::from_ret(
                    format!("rte_eth_dev_callback_register(port {port_id}, event {event})"),
                    ret,
                ));
            }
            *flag = true;
        }
        Ok(ev)
    }

    /// The events raised since the last call.
    pub fn take(&self) -> Raised {
        let i = self.port_id as usize;
        Raised {
            resets: RESETS[i].swap(0, Ordering::Acquire),
            link_changes: LINK_CHANGES[i].swap(0, Ordering::Acquire),
        }
    }

    /// Raises a reset request as the driver would (the `port-reset` test hook).
    pub fn inject_reset(&self) {
        RESETS[self.port_id as usize].fetch_add(1, Ordering::Release);
    }
}

impl Drop for PortEvents {
    fn drop(&mut self) {
        for (event, registered) in [
            (dpdk_sys::RTE_ETH_EVENT_INTR_RESET, self.reset_registered),
            (dpdk_sys::RTE_ETH_EVENT_INTR_LSC, self.lsc_registered),
        ] {
            if registered {
                // SAFETY: the same function and argument as registered.
                unsafe {
                    dpdk_sys::rte_eth_dev_callback_unregister(
                        self.port_id,
                        event,
                        Some(on_event),
                        std::ptr::null_mut(),
                    )
                };
            }
        }
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
