//! The Environment Abstraction Layer: initialised once per process from a typed builder plus
//! pass-through arguments, cleaned up when the [`Eal`] value drops (after everything that
//! borrows it).
use super::DpdkError;
use std::ffi::{c_char, CString};
use std::sync::atomic::{AtomicBool, Ordering};

static INITIALISED: AtomicBool = AtomicBool::new(false);

/// Typed EAL options. Anything not covered goes through [`EalBuilder::extra`] verbatim.
#[derive(Clone, Debug, Default)]
pub struct EalBuilder {
    lcores: Option<String>,
    vdevs: Vec<String>,
    allow: Vec<String>,
    no_pci: bool,
    no_huge: bool,
    memory_mb: Option<u32>,
    in_memory: bool,
    log_level: Option<String>,
    extra: Vec<String>,
}

impl EalBuilder {
    pub fn new() -> Self {
        Self::default()
    }
    /// An EAL for work without a port (filters, benchmarks, tests): one lcore, no PCI scan,
    /// hugepages in memory when free ones exist, else `--no-huge` with 256 MiB.
    pub fn standalone() -> Self {
        let b = Self::new().lcores("0@0").log_level("4").no_pci(true);
        if super::hugepages_available() {
            b.in_memory(true)
        } else {
            b.no_huge(true).memory_mb(256).extra(["--no-shconf"])
        }
    }

    /// `--lcores` mapping, e.g. "0@0,1@1" (lcore 0 is the main lcore).
    pub fn lcores(mut self, map: impl Into<String>) -> Self {
        self.lcores = Some(map.into());
        self
    }
    /// A virtual device, e.g. "net_pcap0,rx_pcap=in.pcap".
    pub fn vdev(mut self, spec: impl Into<String>) -> Self {
        self.vdevs.push(spec.into());
        self
    }
    /// A PCI device to use (`-a`); with none and some vdevs, PCI scanning is turned off.
    pub fn allow(mut self, pci: impl Into<String>) -> Self {
        self.allow.push(pci.into());
        self
    }
    pub fn no_pci(mut self, yes: bool) -> Self {
        self.no_pci = yes;
        self
    }
    pub fn no_huge(mut self, yes: bool) -> Self {
        self.no_huge = yes;
        self
    }
    /// Memory to reserve in MiB (`-m`); needed with `--no-huge`.
    pub fn memory_mb(mut self, mb: u32) -> Self {
        self.memory_mb = Some(mb);
        self
    }
    /// `--in-memory`: no shared files under /var/run or hugetlbfs, several processes side by side.
    pub fn in_memory(mut self, yes: bool) -> Self {
        self.in_memory = yes;
        self
    }
    pub fn log_level(mut self, level: impl Into<String>) -> Self {
        self.log_level = Some(level.into());
        self
    }
    /// Arguments passed through to the EAL as they are (after the typed ones).
    pub fn extra<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.extra.extend(args.into_iter().map(Into::into));
        self
    }

    /// The argument vector the EAL will see (argv[0] included).
    pub fn args(&self) -> Vec<String> {
        let mut a = vec!["mirrorcap".to_string()];
        if let Some(l) = &self.lcores {
            a.push(format!("--lcores={l}"));
        }
        if let Some(l) = &self.log_level {
            a.push(format!("--log-level={l}"));
        }
        if self.no_pci || (self.allow.is_empty() && !self.vdevs.is_empty()) {
            a.push("--no-pci".into());
        }
        for d in &self.allow {
            a.push("-a".into());
            a.push(d.clone());
        }
        for v in &self.vdevs {
            a.push(format!("--vdev={v}"));
        }
        if self.no_huge {
            a.push("--no-huge".into());
        }
        if let Some(m) = self.memory_mb {
            a.push("-m".into());
            a.push(m.to_string());
        }
        if self.in_memory {
            a.push("--in-memory".into());
        }
        a.extend(self.extra.iter().cloned());
        a
    }

    /// Initialises the EAL. Fails if it was already initialised in this process.
    pub fn init(self) -> Result<Eal, DpdkError> {
        let args = self.args();
        if INITIALISED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::from_errno("rte_eal_init", libc::EALREADY));
        }
        let cargs: Vec<CString> = args
            .iter()
            .map(|s| {
                CString::new(s.as_str())
                    .map_err(|_| DpdkError::from_errno("EAL argument", libc::EINVAL))
            })
            .collect::<Result<_, _>>()?;
        // The EAL may keep pointers into argv (and permutes it): both live as long as the Eal.
        let mut argv: Vec<*mut c_char> = cargs.iter().map(|c| c.as_ptr() as *mut c_char).collect();
        // SAFETY: argv holds argc valid NUL-terminated strings that outlive the EAL (kept in
        // the returned Eal); the INITIALISED flag ensures a single call per process.
        let ret = unsafe { dpdk_sys::rte_eal_init(argv.len() as i32, argv.as_mut_ptr()) };
        if ret < 0 {
            return Err(DpdkError::from_ret(
                format!("rte_eal_init({})", args[1..].join(" ")),
                ret,
            ));
        }
        Ok(Eal {
            _args: cargs,
            _argv: argv,
        })
    }
}

/// The initialised EAL. Dropping it calls `rte_eal_cleanup`.
pub struct Eal {
    _args: Vec<CString>,
    _argv: Vec<*mut c_char>,
}

// SAFETY: the EAL is process-global; the pointers kept here are only held so that their
// strings outlive it, never dereferenced by Rust.
unsafe impl Sync for Eal {}

impl Eal {
    /// Number of lcores the EAL enabled (main included).
    pub fn lcore_count(&self) -> u32 {
        // SAFETY: valid after rte_eal_init.
        unsafe { dpdk_sys::rte_lcore_count() }
    }

    /// The worker lcores (every enabled lcore but the main one), in order.
    pub fn worker_lcores(&self) -> Vec<u32> {
        let mut out = Vec::new();
        let mut id = u32::MAX; // -1: start before the first lcore
        loop {
            // SAFETY: valid after rte_eal_init; returns RTE_MAX_LCORE when done.
            id = unsafe { dpdk_sys::rte_get_next_lcore(id, 1, 0) };
            // SAFETY: no preconditions.
            if id >= unsafe { dpdk_sys::shim_max_lcore() } {
                return out;
            }
            out.push(id);
        }
    }

    /// The NUMA socket of an lcore.
    pub fn lcore_socket(&self, lcore: u32) -> i32 {
        // SAFETY: any lcore id is accepted; out-of-range ids give SOCKET_ID_ANY-like values.
        unsafe { dpdk_sys::rte_lcore_to_socket_id(lcore) as i32 }
    }

    /// Ethernet ports the EAL probed.
    pub fn port_ids(&self) -> Vec<u16> {
        let mut out = Vec::new();
        let mut p: u64 = 0;
        loop {
            // SAFETY: valid after EAL init; returns RTE_MAX_ETHPORTS when no port is left.
            let next = unsafe { dpdk_sys::rte_eth_find_next(p as u16) };
            if next as u32 >= dpdk_sys::RTE_MAX_ETHPORTS {
                return out;
            }
            out.push(next);
            p = next as u64 + 1;
        }
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: everything that used the EAL borrowed it and has been dropped already.
        unsafe {
            dpdk_sys::rte_eal_cleanup();
        }
    }
}

/// Whether 2 MiB or 1 GiB hugepages are mounted and free on this machine.
pub fn hugepages_available() -> bool {
    let mounted = std::fs::read_to_string("/proc/mounts")
        .map(|m| {
            m.lines()
                .any(|l| l.split_whitespace().nth(2) == Some("hugetlbfs"))
        })
        .unwrap_or(false);
    if !mounted {
        return false;
    }
    let Ok(dirs) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return false;
    };
    dirs.flatten().any(|d| {
        std::fs::read_to_string(d.path().join("free_hugepages"))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .is_some_and(|n| n > 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_orders_arguments() {
        let a = EalBuilder::new()
            .lcores("0@0,1@1")
            .vdev("net_null0")
            .no_huge(true)
            .memory_mb(512)
            .in_memory(true)
            .extra(["--log-level=8"])
            .args();
        assert_eq!(
            a,
            [
                "mirrorcap",
                "--lcores=0@0,1@1",
                "--no-pci",
                "--vdev=net_null0",
                "--no-huge",
                "-m",
                "512",
                "--in-memory",
                "--log-level=8"
            ]
        );
    }

    #[test]
    fn pci_devices_keep_pci_scanning() {
        let a = EalBuilder::new()
            .allow("0000:00:06.0")
            .vdev("net_null0")
            .args();
        assert!(!a.contains(&"--no-pci".to_string()));
        assert!(a.windows(2).any(|w| w == ["-a", "0000:00:06.0"]));
    }
}
