//! The start-up that `run` and `gen` share: the error type and its exit codes, stop signals,
//! the EAL (lcore map, hugepages or `--no-huge`, no shared files), the one probed port, the
//! lcore check and one mempool per lcore on that lcore's socket.
#![forbid(unsafe_code)]
use crate::config::run_config::eal_has;
use mirrorcap_dpdk::{hugepages_available, DpdkError, Eal, EalBuilder, Mempool};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Why a DPDK command stopped short: `Usage` and `Environment` exit 2, `Runtime` exits 1.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Environment(String),
    #[error("{0}")]
    Runtime(String),
}

impl AppError {
    /// The process exit code, after printing the one line.
    pub fn exit(r: Result<(), AppError>) -> ExitCode {
        match r {
            Ok(()) => ExitCode::SUCCESS,
            Err(e @ (AppError::Usage(_) | AppError::Environment(_))) => {
                eprintln!("mirrorcap: error: {e}");
                ExitCode::from(2)
            }
            Err(e @ AppError::Runtime(_)) => {
                eprintln!("mirrorcap: error: {e}");
                ExitCode::from(1)
            }
        }
    }
}

/// A flag SIGINT and SIGTERM set (a second one exits at once, code 130).
pub fn stop_on_signals() -> Result<Arc<AtomicBool>, AppError> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&stop));
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| AppError::Environment(format!("cannot handle signal {sig}: {e}")))?;
    }
    Ok(stop)
}

/// The `--lcores` map: main lcore 0 and worker lcores 1..=n on the CPUs this process may use,
/// wrapping around when there are fewer CPUs than lcores.
pub fn lcore_map(workers: usize) -> String {
    let mut cpus: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    if cpus.is_empty() {
        cpus.push(0);
    }
    (0..=workers)
        .map(|l| {
            let cpu = cpus[l % cpus.len()];
            format!("{l}@{cpu}")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Where the port comes from and what the user added for the EAL.
#[derive(Clone, Copy)]
pub struct PortSource<'a> {
    pub devices: &'a [String],
    pub vdevs: &'a [String],
    pub eal_args: &'a [String],
}

/// How the EAL is brought up.
pub struct EalPlan<'a> {
    pub source: PortSource<'a>,
    /// Worker (or TX) lcores besides the main one.
    pub lcores: usize,
    /// Without hugepages: MiB of memory each lcore's pool needs (plus 256 MiB for the EAL).
    pub no_huge_mb_per_lcore: u64,
    /// Say so on stderr when falling back to `--no-huge`.
    pub announce_no_huge: bool,
}

/// Brings up the EAL: hugepages if the machine has them, else `--no-huge` with enough memory;
/// no shared files (`--in-memory`, or `--no-shconf` without hugepages), so several instances
/// and tests run side by side. The user's EAL arguments win over each default.
pub fn bring_up_eal(plan: &EalPlan) -> Result<Eal, AppError> {
    let args = plan.source.eal_args;
    let mut eb = EalBuilder::new()
        .log_level("5")
        .extra(["--log-level=lib.eal:4"]);
    if !eal_has(args, &["-l", "-c", "--lcores"]) {
        eb = eb.lcores(lcore_map(plan.lcores));
    }
    let no_huge = eal_has(args, &["--no-huge"]) || !hugepages_available();
    if no_huge && !eal_has(args, &["--no-huge"]) {
        if plan.announce_no_huge {
            eprintln!("mirrorcap: no free hugepages: running with --no-huge (slower; scripts/setup.sh reserves hugepages as root)");
        }
        eb = eb
            .no_huge(true)
            .memory_mb((256 + plan.no_huge_mb_per_lcore * plan.lcores as u64) as u32);
    }
    if !eal_has(
        args,
        &["--file-prefix", "--proc-type", "--in-memory", "--no-shconf"],
    ) {
        eb = if no_huge {
            eb.extra(["--no-shconf"])
        } else {
            eb.in_memory(true)
        };
    }
    let dpdk = mirrorcap_dpdk::version_numbers();
    for d in plan.source.devices {
        let arg = super::ena::device_arg(d, std::path::Path::new("/sys"), dpdk)
            .map_err(AppError::Usage)?;
        eb = eb.allow(arg);
    }
    for v in plan.source.vdevs {
        eb = eb.vdev(v.clone());
    }
    let eal = eb
        .extra(args.iter().cloned())
        .init()
        .map_err(|e| AppError::Environment(format!("DPDK EAL: {e}")))?;
    // Drivers arm their timers (ENA's watchdog) when a port starts: the library first.
    mirrorcap_dpdk::timers_init()
        .map_err(|e| AppError::Environment(format!("DPDK timers: {e}")))?;
    Ok(eal)
}

/// The one port the EAL probed from `source`; `one` says why only one (for the error when
/// there are several). No port: names what the driver refused.
pub fn one_port(eal: &Eal, source: &PortSource, one: &str) -> Result<u16, AppError> {
    let (vdevs, devices) = (source.vdevs, source.devices);
    match eal.port_ids().as_slice() {
        [] if !vdevs.is_empty() || !devices.is_empty() => Err(AppError::Environment(format!(
            "DPDK found no port: the driver refused {} (its reason is logged above)",
            vdevs
                .iter()
                .map(|v| format!("--vdev {v}"))
                .chain(
                    devices
                        .iter()
                        .map(|d| format!("--device {d} (bound to vfio-pci?)"))
                )
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        [] => Err(AppError::Environment(
            "DPDK found no port: check --device (bound to vfio-pci?) or --vdev".into(),
        )),
        [p] => Ok(*p),
        many => Err(AppError::Usage(format!(
            "{} ports were probed; {one}: pass a single --device or --vdev",
            many.len()
        ))),
    }
}

/// The EAL's first `need` worker lcores; refuses `flag N` when it has fewer.
pub fn worker_lcores(eal: &Eal, need: usize, flag: &str) -> Result<Vec<u32>, AppError> {
    let have = eal.worker_lcores();
    if have.len() < need {
        return Err(AppError::Usage(format!(
            "{flag} {need} needs {need} worker lcores; the EAL has {} (check -l/--lcores)",
            have.len()
        )));
    }
    Ok(have[..need].to_vec())
}

/// One pool per lcore, on the lcore's socket, named `{prefix}{i}`; an error names the pool.
pub fn pools<'e>(
    eal: &'e Eal,
    lcores: &[u32],
    prefix: &str,
    mbufs: u32,
    cache: u32,
    data_room: u16,
) -> Result<Vec<Mempool<'e>>, DpdkError> {
    lcores
        .iter()
        .enumerate()
        .map(|(i, &lcore)| {
            Mempool::new(
                eal,
                &format!("{prefix}{i}"),
                mbufs,
                cache,
                data_room,
                eal.lcore_socket(lcore),
            )
        })
        .collect()
}
