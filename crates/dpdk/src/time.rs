//! The TSC and a clock that turns TSC readings into Unix-epoch nanoseconds without a syscall,
//! so workers timestamp packets on the hot path with one `rdtsc`.
use std::time::{SystemTime, UNIX_EPOCH};

/// The time-stamp counter of the calling core.
#[inline(always)]
pub fn rdtsc() -> u64 {
    // SAFETY: rte_rdtsc reads the TSC; no preconditions.
    unsafe { dpdk_sys::shim_rdtsc() }
}

/// TSC ticks per second as the EAL measured them (valid after EAL init).
pub fn tsc_hz() -> u64 {
    // SAFETY: no preconditions; returns the value the EAL calibrated at init.
    unsafe { dpdk_sys::shim_get_tsc_hz() }
}

/// Unix nanoseconds from TSC readings: one wall-clock sample at calibration, then
/// `base_ns + (tsc - base_tsc) * 1e9 / hz` with a fixed-point multiplier.
#[derive(Clone, Copy, Debug)]
pub struct TscClock {
    base_tsc: u64,
    base_ns: u64,
    /// nanoseconds per tick as a 32.32 fixed-point number
    mult: u64,
}

impl TscClock {
    /// Samples the wall clock and the TSC now.
    pub fn calibrate() -> Self {
        Self::with_hz(tsc_hz(), rdtsc())
    }

    fn with_hz(hz: u64, base_tsc: u64) -> Self {
        let base_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let hz = hz.max(1);
        let mult = ((1_000_000_000u128 << 32) / hz as u128) as u64;
        TscClock {
            base_tsc,
            base_ns,
            mult,
        }
    }

    /// Nanoseconds in `ticks` TSC ticks (a difference of two readings).
    #[inline(always)]
    pub fn ticks_ns(&self, ticks: u64) -> u64 {
        ((ticks as u128 * self.mult as u128) >> 32) as u64
    }

    /// Unix nanoseconds for a TSC reading taken after calibration.
    #[inline(always)]
    pub fn ns(&self, tsc: u64) -> u64 {
        let d = tsc.wrapping_sub(self.base_tsc) as u128;
        self.base_ns + ((d * self.mult as u128) >> 32) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_ticks_to_nanoseconds() {
        let c = TscClock::with_hz(2_000_000_000, 1000);
        assert_eq!(c.ns(1000), c.base_ns);
        // 2e9 ticks at 2 GHz = 1 s
        let one_s = c.ns(1000 + 2_000_000_000) - c.base_ns;
        assert!((999_999_990..=1_000_000_000).contains(&one_s), "{one_s}");
    }
}
