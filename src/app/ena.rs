//! What DPDK's ENA driver needs from the application, checked against its guide
//! (`doc/guides/nics/ena.rst` of 22.11 and 24.11) and source, for a `--device` that is an ENA
//! (PCI 1d0f:ec20 or 1d0f:ec21):
//!
//! - The admin queue and the AENQ (keep-alives, link events) are serviced by interrupts, or,
//!   since DPDK 24.03, by polling when the devarg `control_path_poll_interval` (ms) is set:
//!   "mandatory when using uio_pci_generic", which has no MSI-X. 24.x takes 1..1000; later
//!   versions clamp it to 500..1000 (below 500 the device was falsely found unresponsive), so
//!   [`POLL_INTERVAL_MS`] is 1000. DPDK 22.11 has no polling mode: with uio_pci_generic its
//!   keep-alive watchdog would fire and reset the device over and over, so a device bound to
//!   it is refused there (exit 2) with the fix: vfio-pci (what `mirrorcap-bind` picks for
//!   DPDK < 24.03) or igb_uio.
//! - The driver's watchdog is an `rte_timer` armed on the lcore that started the port, once a
//!   second: the application must run `rte_timer_manage()` there. `run` initialises the timer
//!   library after the EAL and calls it from the control loop every 50 ms or less.
//! - A watchdog that fires (missing keep-alives or TX completions, admin queue errors) raises
//!   `RTE_ETH_EVENT_INTR_RESET`; the application must stop, `rte_eth_dev_reset()`,
//!   reconfigure and start the port: `run` does (workers parked at a burst boundary, the ring
//!   kept), counts it and logs one line (`control.rs`, `mirrorcap_port_resets_total`).
#![forbid(unsafe_code)]
use std::path::Path;

/// `control_path_poll_interval` passed for an ENA bound to uio_pci_generic, ms.
pub const POLL_INTERVAL_MS: u32 = 1000;
/// The first DPDK with the ENA control-path polling mode.
const POLLING_SINCE: (u32, u32) = (24, 3);

/// The EAL `-a` argument for `--device dev` (`BDF[,devargs]`): ENA devargs added where the
/// driver needs them; an error (a usage error, exit 2) where it cannot work. `sysfs` is
/// `/sys` (a test gives its own tree); `dpdk` is DPDK's (year, month).
pub fn device_arg(dev: &str, sysfs: &Path, dpdk: (u32, u32)) -> Result<String, String> {
    let bdf = dev.split(',').next().unwrap_or(dev);
    let full = if bdf.matches(':').count() == 1 {
        format!("0000:{bdf}")
    } else {
        bdf.to_string()
    };
    let pci = sysfs.join("bus/pci/devices").join(&full);
    let read = |f: &str| std::fs::read_to_string(pci.join(f)).unwrap_or_default();
    let is_ena =
        read("vendor").trim() == "0x1d0f" && matches!(read("device").trim(), "0xec20" | "0xec21");
    if !is_ena {
        return Ok(dev.to_string());
    }
    let driver = std::fs::read_link(pci.join("driver"))
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    if driver != "uio_pci_generic" || dev.contains("control_path_poll_interval=") {
        return Ok(dev.to_string());
    }
    if dpdk < POLLING_SINCE {
        return Err(format!(
            "--device {dev}: this ENA is bound to uio_pci_generic, which cannot deliver the MSI-X interrupts DPDK {}.{:02}'s ENA driver services its admin queue and keep-alives with (its polling mode came in 24.03): bind it to vfio-pci (mirrorcap-bind does for DPDK < 24.03) or igb_uio",
            dpdk.0, dpdk.1
        ));
    }
    Ok(format!(
        "{dev},control_path_poll_interval={POLL_INTERVAL_MS}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake(dir: &Path, bdf: &str, vendor: &str, device: &str, driver: &str) {
        let d = dir.join("bus/pci/devices").join(bdf);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("vendor"), format!("{vendor}\n")).unwrap();
        std::fs::write(d.join("device"), format!("{device}\n")).unwrap();
        let drv = dir.join("bus/pci/drivers").join(driver);
        std::fs::create_dir_all(&drv).unwrap();
        std::os::unix::fs::symlink(&drv, d.join("driver")).unwrap();
    }

    #[test]
    fn ena_on_uio_pci_generic_polls_its_control_path_or_is_refused_on_22_11() {
        let t = tempfile::tempdir().unwrap();
        fake(
            t.path(),
            "0000:00:06.0",
            "0x1d0f",
            "0xec20",
            "uio_pci_generic",
        );
        fake(t.path(), "0000:00:07.0", "0x1d0f", "0xec21", "vfio-pci");
        fake(
            t.path(),
            "0000:00:08.0",
            "0x8086",
            "0x10fb",
            "uio_pci_generic",
        );
        let s = t.path();
        assert_eq!(
            device_arg("00:06.0", s, (24, 11)).unwrap(),
            "00:06.0,control_path_poll_interval=1000"
        );
        assert_eq!(
            device_arg("0000:00:06.0,enable_llq=1", s, (24, 3)).unwrap(),
            "0000:00:06.0,enable_llq=1,control_path_poll_interval=1000"
        );
        let set = "0000:00:06.0,control_path_poll_interval=500";
        assert_eq!(
            device_arg(set, s, (24, 11)).unwrap(),
            set,
            "the user's value kept"
        );
        let e = device_arg("0000:00:06.0", s, (22, 11)).unwrap_err();
        assert!(e.contains("vfio-pci") && e.contains("24.03"), "{e}");
        // vfio-pci has interrupts; not an ENA; not in sysfs: as given.
        for d in ["0000:00:07.0", "0000:00:08.0", "0000:00:09.0"] {
            assert_eq!(device_arg(d, s, (22, 11)).unwrap(), d);
        }
    }
}
