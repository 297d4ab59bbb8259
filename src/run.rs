//! `mirrorcap run`: validates the options, opens the rings and the metrics listener, brings
//! up the EAL, mempools and port, launches one worker per RX queue and keeps the main lcore
//! for control (metrics, 1 Hz NIC stats, idle and signal checks) until asked to stop.
//! Teardown runs in reverse: workers seal their rings, then port, pools and EAL go.
use crate::cli::RunArgs;
use crate::config::sessions::SessionSet;
use crate::config::{human_bytes, parse_duration, parse_size};
use crate::control::Poller;
use crate::metrics::{BuildInfo, HealthState, Limits, Metrics, MetricsServer};
use crate::pipeline::{drop_reason_label, StatSlot, Worker, WorkerStats, DROP_REASONS};
use crate::pipeline::{Latency, PipelineConfig, VniTable};
use crate::pipeline::{Reload, SessionSlots, SharedSet, StampSlots, WorkerSessions, WorkerState};
use crate::sizing::PoolSizing;
use crate::status::StatusLine;
use mirrorcap_decap::DecapConfig;
use mirrorcap_dpdk::MAX_BURST;
use mirrorcap_dpdk::{
    self, hugepages_available, launch_workers, tsc_hz, EalBuilder, Mempool, NicStats, PortBuilder,
    WorkerLcore,
};
use mirrorcap_ring::session_names::{self, SessionNames};
use mirrorcap_ring::{Geometry, RingOptions, RingPolicy, RingWriter};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod fault;
pub use fault::FAULT_ENV;

/// Largest frame a worker receives in one mbuf: a 9001-byte MTU inner packet with its inner
/// Ethernet and two VLAN tags, plus outer Ethernet, two tags, IPv6, UDP, Geneve with options
/// and a nested IPv4/UDP/VXLAN (GWLB layering), rounded up.
pub const MAX_FRAME: u16 = 9728;
const POOL_CACHE: u32 = 256;
/// RX descriptors asked for per queue (the port adjusts to the driver's limits).
const RX_DESC: u16 = 1024;

/// Why `run` stopped short: `Usage` and `Environment` exit 2, `Runtime` exits 1.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Environment(String),
    #[error("{0}")]
    Runtime(String),
}

/// Final counters of a run.
#[derive(Debug, Default)]
pub struct RunSummary {
    pub workers: Vec<WorkerStats>,
    /// Every worker's latency histograms, merged.
    pub latency: Latency,
    pub nic: NicStats,
}

pub(crate) fn eal_has(args: &[String], flags: &[&str]) -> bool {
    args.iter().any(|a| {
        flags
            .iter()
            .any(|f| a == f || a.starts_with(&format!("{f}=")))
    })
}

/// The `--lcores` map: main lcore 0 and worker lcores 1..=n on the CPUs this process may use,
/// wrapping around when there are fewer CPUs than lcores.
pub(crate) fn lcore_map(workers: usize) -> String {
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

/// The one port the EAL probed from `vdevs` and `devices`; `one` says why only one (for the
/// error when there are several). No port: names what the driver refused.
pub(crate) fn one_port(
    eal: &mirrorcap_dpdk::Eal,
    vdevs: &[String],
    devices: &[String],
    one: &str,
) -> Result<u16, RunError> {
    match eal.port_ids().as_slice() {
        [] if !vdevs.is_empty() || !devices.is_empty() => Err(RunError::Environment(format!(
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
        [] => Err(RunError::Environment(
            "DPDK found no port: check --device (bound to vfio-pci?) or --vdev".into(),
        )),
        [p] => Ok(*p),
        many => Err(RunError::Usage(format!(
            "{} ports were probed; {one}: pass a single --device or --vdev",
            many.len()
        ))),
    }
}

/// Refuses `flag N` when the EAL has fewer than N worker lcores.
pub(crate) fn enough_lcores(have: usize, need: usize, flag: &str) -> Result<(), RunError> {
    if have < need {
        return Err(RunError::Usage(format!(
            "{flag} {need} needs {need} worker lcores; the EAL has {have} (check -l/--lcores)"
        )));
    }
    Ok(())
}

/// Checks a session filter the way the workers will compile it: for Ethernet inner frames and
/// for bare IP ones (Geneve carrying IP). Only the Ethernet form must compile: link-layer
/// expressions (`ether host …`) match no bare-IP frame.
pub fn check_filter(expr: &str, snaplen: u32) -> Result<(), String> {
    mirrorcap_dpdk::filter::check(expr, mirrorcap_dpdk::filter::LinkType::Ethernet, snaplen)
}

pub fn run(args: &RunArgs, stop: Arc<AtomicBool>) -> Result<RunSummary, RunError> {
    // 1. Everything that can be checked without DPDK, so mistakes cost nothing.
    let geometry = Geometry {
        segments: args.segments,
        segment_size: parse_size(&args.segment_size)
            .map_err(|e| RunError::Usage(format!("--segment-size: {e}")))?,
    };
    geometry.validate().map_err(RunError::Usage)?;
    let in_flight = crate::sizing::in_flight(RX_DESC.into(), MAX_BURST as u32, POOL_CACHE);
    let mbufs =
        crate::sizing::pool_mbufs(args.mbufs, &args.vdevs, in_flight).map_err(RunError::Usage)?;
    let sizing = |rx_desc: u16| {
        PoolSizing::new(
            rx_desc.into(),
            MAX_BURST as u32,
            POOL_CACHE,
            mbufs,
            u32::from(MAX_FRAME) + 128,
        )
    };
    sizing(RX_DESC).check().map_err(RunError::Usage)?;
    let log_every = parse_duration(&args.log_interval)
        .ok()
        .filter(|d| *d >= Duration::from_secs(1))
        .ok_or_else(|| {
            RunError::Usage(format!(
                "--log-interval {}: give a duration of at least 1s, e.g. 30s, 5m",
                args.log_interval
            ))
        })?;
    let idle = match &args.exit_when_idle {
        Some(s) => {
            Some(parse_duration(s).map_err(|e| RunError::Usage(format!("--exit-when-idle: {e}")))?)
        }
        None => None,
    };
    if args.devices.is_empty()
        && args.vdevs.is_empty()
        && !eal_has(&args.eal_args, &["--vdev", "-a", "--allow"])
    {
        return Err(RunError::Usage(
            "no port: pass --device PCI (the mirror target ENI bound to DPDK) or --vdev SPEC (e.g. net_pcap0,rx_pcap=FILE)".into(),
        ));
    }
    let workers = args.workers as usize;
    let pipeline = pipeline_config(args)?;
    let inject = fault::from_env().map_err(RunError::Environment)?;
    fault::install_panic_hook();
    if let Some(name) = &args.ring_group {
        mirrorcap_ring::group_access::set_group(
            mirrorcap_ring::group_access::lookup(name).map_err(RunError::Usage)?,
        );
    }
    let mut server = MetricsServer::bind(
        &args.metrics_addr,
        Limits {
            max_connections: args.metrics_max_connections as usize,
            ..Limits::default()
        },
    )
    .map_err(RunError::Environment)?;
    let mut rings = Vec::with_capacity(workers);
    for w in 0..workers {
        // Rotation's file work on the ring's helper thread: a worker's rotation never waits
        // for a syscall or a page fault.
        let (mut ring, rep) =
            RingWriter::open_with(&args.ring_dir, w, geometry, RingOptions::background())
                .map_err(|e| RunError::Environment(format!("ring: {e}")))?;
        if rep.recovered_segments > 0 {
            eprintln!(
                "mirrorcap: ring worker {w}: recovered {} segment(s) left live by an unclean stop (kept their committed records)",
                rep.recovered_segments
            );
        }
        ring.set_policy(if args.ring_policy == "stop" {
            RingPolicy::Stop
        } else {
            RingPolicy::Overwrite
        });
        rings.push(ring);
    }

    // 2. The EAL: hugepages if the machine has them, else --no-huge with enough memory.
    let mut eb = EalBuilder::new()
        .log_level("5")
        .extra(["--log-level=lib.eal:4"]);
    if !eal_has(&args.eal_args, &["-l", "-c", "--lcores"]) {
        eb = eb.lcores(lcore_map(workers));
    }
    let no_huge = eal_has(&args.eal_args, &["--no-huge"]) || !hugepages_available();
    if no_huge && !eal_has(&args.eal_args, &["--no-huge"]) {
        eprintln!("mirrorcap: no free hugepages: running with --no-huge (slower; scripts/setup.sh reserves hugepages as root)");
        let per_worker = (mbufs as u64 * (MAX_FRAME as u64 + 512)) >> 20;
        eb = eb
            .no_huge(true)
            .memory_mb((256 + per_worker * workers as u64) as u32);
    }
    // No shared files, so several instances (and tests) run side by side: --in-memory with
    // hugepages; without them (legacy memory) --no-shconf.
    if !eal_has(
        &args.eal_args,
        &["--file-prefix", "--proc-type", "--in-memory", "--no-shconf"],
    ) {
        if no_huge {
            eb = eb.extra(["--no-shconf"]);
        } else {
            eb = eb.in_memory(true);
        }
    }
    for d in &args.devices {
        eb = eb.allow(d.clone());
    }
    for v in &args.vdevs {
        eb = eb.vdev(v.clone());
    }
    // Torn down (rte_eal_cleanup) only after a run that got as far as the workers: on an
    // early error return it is not, since drivers' close paths are not safe after a half-done
    // set-up (net_pcap in 22.11 crashes in rte_eal_cleanup after a failed queue set-up). The
    // process exits right after such an error; the kernel frees what the EAL held.
    let eal = std::mem::ManuallyDrop::new(
        eb.extra(args.eal_args.iter().cloned())
            .init()
            .map_err(|e| RunError::Environment(format!("DPDK EAL: {e}")))?,
    );
    // The EAL has pinned this thread to the main lcore: the listener's thread, started now,
    // inherits that and so shares the control core, never a worker's; the rings' helper
    // threads, started before, move there too.
    server.start().map_err(RunError::Environment)?;
    if let Some(cpu) = core_affinity::get_core_ids().and_then(|c| c.first().copied()) {
        for r in &rings {
            r.pin_helper(cpu.id);
        }
    }

    // 3. The port and one pool per worker, on the worker's socket.
    let port_id = one_port(
        &eal,
        &args.vdevs,
        &args.devices,
        "mirrorcap captures from one",
    )?;
    let lcores = eal.worker_lcores();
    enough_lcores(lcores.len(), workers, "--workers")?;
    let headroom = u32::from(mirrorcap_dpdk::pktmbuf_headroom());
    let data_room = (u32::from(MAX_FRAME) + headroom) as u16;
    let mut pools = Vec::with_capacity(workers);
    for (w, &lcore) in lcores.iter().take(workers).enumerate() {
        let p = Mempool::new(
            &eal,
            &format!("mc_rx{w}"),
            mbufs,
            POOL_CACHE,
            data_room,
            eal.lcore_socket(lcore),
        )
        .map_err(|e| {
            RunError::Environment(format!(
                "mempool: {e} (not enough hugepage memory? each worker needs about {}: lower --mbufs or reserve more hugepages)",
                human_bytes(mbufs as u64 * data_room as u64)
            ))
        })?;
        pools.push(p);
    }
    let queues_offered = mirrorcap_dpdk::PortInfo::query(port_id)
        .map(|i| (i.max_rx_queues, i.name))
        .ok();
    if let Some((max, name)) = queues_offered.filter(|(max, _)| usize::from(*max) < workers) {
        return Err(RunError::Usage(format!(
            "--workers {workers}: port {name} offers {max} RX queue(s), one per worker: use --workers {max} or fewer"
        )));
    }
    // An error returns without DPDK's teardown (see `eal` above).
    let port = PortBuilder::new(port_id, pools.iter().collect())
        .rx_desc(RX_DESC)
        .mtu(9001)
        .build()
        .map_err(|e| {
            RunError::Environment(format!(
                "port: {e} (a net_pcap vdev with infinite_rx needs --mbufs above the packet count of its file)"
            ))
        })?;
    let info = port.info().clone();
    eprintln!(
        "mirrorcap: capturing on port {} ({}): {} worker(s), {} RX descriptors/queue, MTU {}, RSS {}",
        info.name,
        info.driver,
        workers,
        port.rx_desc(),
        port.mtu(),
        if port.rss() { "on" } else { "off" }
    );
    eprintln!(
        "mirrorcap: mempools on the workers' sockets ({}): {}",
        lcores
            .iter()
            .take(workers)
            .map(|&l| eal.lcore_socket(l).to_string())
            .collect::<Vec<_>>()
            .join(","),
        sizing(port.rx_desc()).describe()
    );
    eprintln!(
        "mirrorcap: ring {} ({} worker(s) x {} segments x {} = {} with record indexes)",
        args.ring_dir.display(),
        workers,
        geometry.segments,
        human_bytes(geometry.segment_size),
        human_bytes(geometry.worker_bytes() * workers as u64)
    );
    eprintln!(
        "mirrorcap: metrics on http://{}/metrics and /healthz",
        server.local_addr()
    );

    // 4. Sessions: slots kept in the ring, filters loaded into rte_bpf.
    let mut names = SessionNames::read(&args.ring_dir);
    let shared = compile_sessions(&eal, &args.sessions, &mut names, &args.ring_dir)
        .map_err(RunError::Usage)?;
    if !args.sessions.sessions.is_empty() || !shared.plain {
        eprintln!(
            "mirrorcap: {} session(s){}; VNIs no session names: {}",
            shared.sessions.len(),
            describe_jit(&shared),
            match args.sessions.default.action {
                crate::config::sessions::Action::Capture => "captured as vni-<n>",
                crate::config::sessions::Action::Drop => "dropped",
            }
        );
    }
    let reload = Reload::new(workers);
    let session_slots: Vec<SessionSlots> = (0..workers).map(|_| SessionSlots::default()).collect();
    let stamp_slots: Vec<StampSlots> = (0..workers).map(|_| StampSlots::default()).collect();
    let hup = Arc::new(AtomicBool::new(false));
    let hup_id = signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&hup))
        .map_err(|e| RunError::Environment(format!("cannot handle SIGHUP: {e}")))?;

    // 5. Workers on their lcores; control here.
    let slots: Vec<StatSlot> = (0..workers).map(|_| StatSlot::default()).collect();
    for s in &slots {
        // Latency histograms reach the collector at most 4 times a second.
        s.latency
            .interval_ticks
            .store(tsc_hz() / 4, Ordering::Relaxed);
    }
    let vni_tables: Vec<VniTable> = (0..workers).map(|_| VniTable::new()).collect();
    let start_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let metrics = Metrics::new(
        &BuildInfo {
            version: env!("CARGO_PKG_VERSION"),
            dpdk: mirrorcap_dpdk::version(),
            driver: info.driver.clone(),
        },
        start_s,
    );
    let queues = port.take_rx_queues();
    let stop_ref: &AtomicBool = &stop;
    let mut jobs = Vec::with_capacity(workers);
    let mut results: Vec<Option<WorkerStats>> = vec![None; workers];
    let (tx, rx) = std::sync::mpsc::channel::<(usize, WorkerStats, Latency, Option<String>)>();
    for (w, (((((rxq, ring), slot), vnis), sslots), tslots)) in queues
        .into_iter()
        .zip(rings)
        .zip(slots.iter())
        .zip(vni_tables.iter())
        .zip(session_slots.iter())
        .zip(stamp_slots.iter())
        .enumerate()
    {
        let tx = tx.clone();
        let mut state = WorkerState::new(ring, vnis, WorkerSessions::new(Arc::clone(&shared)));
        if args.stamps {
            state.stamps = Some(Box::default());
        }
        let worker = Worker {
            index: w,
            rxq,
            state,
            cfg: pipeline.clone(),
            slot,
            session_slots: sslots,
            stamp_slots: tslots,
            reload: &reload,
            stop: stop_ref,
            inject_panic: inject == Some(fault::Fault::WorkerPanic(w)),
        };
        jobs.push(WorkerLcore {
            lcore: lcores[w],
            job: Box::new(move || {
                fault::set_worker(w);
                let (st, lat, res) = worker.run();
                let err = res.err().map(|e| e.to_string());
                let code = if err.is_some() { 1 } else { 0 };
                let _ = tx.send((w, st, lat, err));
                code
            }),
        });
    }
    drop(tx);
    let port_name = info.name.clone();
    let ring_ids: Vec<_> = (0..workers)
        .map(|w| ring_identity(&mirrorcap_ring::layout::worker_dir(&args.ring_dir, w)))
        .collect();
    let ((nic, fatal), codes) = launch_workers(&eal, jobs, || {
        Control {
            server: &server,
            metrics: &metrics,
            slots: &slots,
            vni_tables: &vni_tables,
            port: &port,
            port_name: &port_name,
            stop: stop_ref,
            idle,
            reloader: Reloader {
                eal: &eal,
                args,
                reload: &reload,
                hup: &hup,
                names: std::cell::RefCell::new(names),
                workers,
                session_slots: &session_slots,
                stamp_slots: args.stamps.then_some(&stamp_slots[..]),
                current: std::cell::RefCell::new(shared),
            },
            poller: Poller::new(
                &port,
                &pools,
                &args.ring_dir,
                geometry.segments as u64 * geometry.segment_size,
            ),
            log_every,
            ring_ids,
        }
        .run()
    })
    .map_err(|e| RunError::Runtime(format!("launching workers: {e}")))?;
    signal_hook::low_level::unregister(hup_id);
    let mut errors = Vec::new();
    let mut latency = Latency::default();
    for (w, st, lat, err) in rx.try_iter() {
        results[w] = Some(st);
        latency.merge(&lat);
        if let Some(e) = err {
            errors.push(format!("worker {w}: {e}"));
        }
    }
    if codes.iter().any(|&c| c < 0) {
        errors.push("a worker panicked".into());
    }
    errors.extend(fatal);
    let summary = RunSummary {
        workers: results.into_iter().map(|r| r.unwrap_or_default()).collect(),
        latency,
        nic,
    };
    print_summary(&summary);
    drop(port);
    drop(pools);
    drop(std::mem::ManuallyDrop::into_inner(eal));
    if errors.is_empty() {
        Ok(summary)
    } else {
        Err(RunError::Runtime(errors.join("; ")))
    }
}

/// The decap and pipeline options, checked.
fn pipeline_config(args: &RunArgs) -> Result<PipelineConfig, RunError> {
    for p in args.vxlan_ports.iter().chain(&args.geneve_ports) {
        if *p == 0 {
            return Err(RunError::Usage(
                "--vxlan-port/--geneve-port 0: use a UDP port from 1 to 65535".into(),
            ));
        }
    }
    if let Some(p) = args
        .vxlan_ports
        .iter()
        .find(|p| args.geneve_ports.contains(p))
    {
        return Err(RunError::Usage(format!(
            "port {p} is given as both --vxlan-port and --geneve-port"
        )));
    }
    Ok(PipelineConfig {
        decap: DecapConfig {
            vxlan_ports: args.vxlan_ports.clone(),
            geneve_ports: args.geneve_ports.clone(),
            max_depth: args.max_depth,
        },
        keep_unencapsulated: args.keep_unencapsulated,
    })
}

/// Assigns the sessions their slots (kept in the ring's `sessions` file) and compiles them.
fn compile_sessions(
    eal: &mirrorcap_dpdk::Eal,
    set: &SessionSet,
    names: &mut SessionNames,
    ring: &std::path::Path,
) -> Result<Arc<SharedSet>, String> {
    let wanted: Vec<&str> = set.sessions.iter().map(|s| s.name.as_str()).collect();
    let slots = names.assign(&wanted)?;
    let shared = SharedSet::compile(eal, set, &slots)?;
    if !wanted.is_empty() {
        names.write(ring).map_err(|e| {
            format!(
                "cannot write {}: {e}",
                session_names::sessions_path(ring).display()
            )
        })?;
    }
    Ok(Arc::new(shared))
}

fn describe_jit(s: &SharedSet) -> String {
    let filters = s
        .sessions
        .iter()
        .map(|x| &x.policy)
        .chain(std::iter::once(&s.default))
        .filter_map(|p| p.filter.as_ref())
        .collect::<Vec<_>>();
    if filters.is_empty() {
        String::new()
    } else {
        let jit = filters.iter().filter(|f| f.0.jitted()).count();
        format!(", {} filter(s), {jit} JIT-compiled", filters.len())
    }
}

/// SIGHUP: re-reads the configuration file's sessions and hands them to the workers.
struct Reloader<'a, 'e> {
    eal: &'e mirrorcap_dpdk::Eal,
    args: &'a RunArgs,
    reload: &'a Reload,
    hup: &'a AtomicBool,
    names: std::cell::RefCell<SessionNames>,
    workers: usize,
    session_slots: &'a [SessionSlots],
    stamp_slots: Option<&'a [StampSlots]>,
    current: std::cell::RefCell<Arc<SharedSet>>,
}

impl Reloader<'_, '_> {
    /// Called by the control loop: reloads if SIGHUP arrived; frees sets workers gave back.
    /// Some(whether it succeeded) when a reload was tried.
    fn tick(&self) -> Option<bool> {
        self.reload.collect(u64::MAX);
        if !self.hup.swap(false, Ordering::Relaxed) {
            return None;
        }
        match self.try_reload() {
            Ok((n, g)) => {
                eprintln!("mirrorcap: reloaded {n} session(s) (generation {g})");
                Some(true)
            }
            Err(e) => {
                eprintln!("mirrorcap: reload failed, keeping the running sessions: {e}");
                Some(false)
            }
        }
    }

    fn try_reload(&self) -> Result<(usize, u64), String> {
        let Some(path) = &self.args.config else {
            return Err("run was started without --config".into());
        };
        let loaded = crate::config::file::Loaded::read(path).map_err(|e| e.to_string())?;
        let set =
            crate::config::sessions::sessions(&loaded, &check_filter).map_err(|e| e.to_string())?;
        let shared = compile_sessions(
            self.eal,
            &set,
            &mut self.names.borrow_mut(),
            &self.args.ring_dir,
        )?;
        let n = shared.sessions.len();
        let g = self.reload.publish(
            (0..self.workers)
                .map(|_| WorkerSessions::new(Arc::clone(&shared)))
                .collect(),
        );
        *self.current.borrow_mut() = shared;
        Ok((n, g))
    }

    /// (slot, name) of every session counted so far, the default first.
    fn named_slots(&self) -> Vec<(u8, String)> {
        let names = self.names.borrow();
        std::iter::once((0u8, "default".to_string()))
            .chain((1..=254u8).filter_map(|s| names.name(s).map(|n| (s, n.to_string()))))
            .collect()
    }
}

/// What the main lcore's loop watches and serves.
struct Control<'a, 'p> {
    server: &'a MetricsServer,
    metrics: &'a Metrics,
    slots: &'a [StatSlot],
    vni_tables: &'a [VniTable],
    port: &'a mirrorcap_dpdk::Port<'p>,
    port_name: &'a str,
    stop: &'a AtomicBool,
    idle: Option<Duration>,
    reloader: Reloader<'a, 'p>,
    poller: Poller<'a>,
    log_every: Duration,
    /// Each worker ring's control file as opened at start (device, inode).
    ring_ids: Vec<Option<(u64, u64)>>,
}

/// The (device, inode) of a worker ring's control file.
fn ring_identity(worker_dir: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(mirrorcap_ring::layout::control_path(worker_dir))
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

/// A worker whose heartbeat has not moved for this long is reported unhealthy.
const STALL: Duration = Duration::from_secs(3);

impl Control<'_, '_> {
    /// The main lcore's loop: metrics requests, the 1 Hz poll (NIC stats and xstats,
    /// mempools, rings), the status line, stop and idle checks.
    fn run(mut self) -> (NicStats, Option<String>) {
        let mut fatal = None;
        self.poll();
        let mut last_poll = Instant::now();
        let mut last_rx = u64::MAX;
        let mut last_change = Instant::now();
        let mut beats: Vec<(u64, Instant)> = vec![(0, Instant::now()); self.slots.len()];
        let mut status = StatusLine::new(self.log_every);
        while !self.stop.load(Ordering::Relaxed) {
            let health = || self.health(&beats);
            let mut render = || {
                let healthy = self.health(&beats).problems.is_empty();
                self.metrics.update(self.slots, self.vni_tables, healthy);
                let named = self.reloader.named_slots();
                self.metrics
                    .update_sessions(self.reloader.session_slots, &named);
                if let Some(s) = self.reloader.stamp_slots {
                    self.metrics.update_stamps(s, &named);
                }
                self.metrics.update_listener(self.server.stats());
                self.metrics.render(self.slots)
            };
            self.server
                .serve_for(Duration::from_millis(50), &mut render, &health);
            if last_poll.elapsed() >= Duration::from_secs(1) {
                self.poll();
                last_poll = Instant::now();
                if let Some(gone) = self.ring_gone() {
                    fatal = Some(gone);
                    break;
                }
            }
            status.tick(self.slots, &self.poller.sample);
            if self.reloader.tick() == Some(false) {
                self.metrics.reload_failed();
            }
            for (s, b) in self.slots.iter().zip(beats.iter_mut()) {
                let now = s.heartbeat.load(Ordering::Relaxed);
                if now != b.0 {
                    *b = (now, Instant::now());
                }
            }
            if let Some(idle) = self.idle {
                let rx: u64 = self
                    .slots
                    .iter()
                    .map(|s| s.rx_packets.load(Ordering::Relaxed))
                    .sum();
                if rx != last_rx {
                    last_rx = rx;
                    last_change = Instant::now();
                } else if last_change.elapsed() >= idle {
                    status.finish();
                    eprintln!("mirrorcap: no packet for {idle:?}: stopping");
                    break;
                }
            }
        }
        status.finish();
        self.stop.store(true, Ordering::Relaxed);
        (self.port.stats().unwrap_or(self.poller.sample.nic), fatal)
    }

    /// A worker ring whose control file is no longer the one opened at start (the ring
    /// directory was removed, or removed and created again): the workers write into files
    /// nobody can read any more and whose space is only freed at exit, so the appliance stops
    /// and a restart creates a new ring.
    fn ring_gone(&self) -> Option<String> {
        let dir = &self.reloader.args.ring_dir;
        for (w, id) in self.ring_ids.iter().enumerate() {
            let wdir = mirrorcap_ring::layout::worker_dir(dir, w);
            if id.is_some() && ring_identity(&wdir) != *id {
                return Some(format!(
                    "the ring directory {} was removed while running (worker {w}'s files are gone): stopped; a restart creates a new ring",
                    wdir.display()
                ));
            }
        }
        None
    }

    /// The once-a-second poll, handed to the metrics.
    fn poll(&mut self) {
        self.poller.poll(self.slots);
        self.metrics
            .observe(self.port_name, &self.poller.sample, self.poller.xstats());
    }

    /// Healthy: link up, every worker polling (its heartbeat moved within [`STALL`]), every
    /// ring writable (as of the last poll).
    fn health(&self, beats: &[(u64, Instant)]) -> HealthState {
        let mut h = HealthState::default();
        if !self.poller.sample.link_up {
            h.problems
                .push(format!("port {} link down", self.port_name));
        }
        for (i, r) in self.poller.sample.rings.iter().enumerate() {
            if let Some(p) = &r.problem {
                h.problems.push(format!("ring of worker {i}: {p}"));
            }
        }
        for (i, (s, b)) in self.slots.iter().zip(beats).enumerate() {
            if s.finished.load(Ordering::Acquire) {
                h.problems.push(format!("worker {i} stopped"));
            } else if b.1.elapsed() > STALL {
                h.problems
                    .push(format!("worker {i} stalled for {:?}", b.1.elapsed()));
            }
        }
        h
    }
}

fn print_summary(s: &RunSummary) {
    let rx: u64 = s.workers.iter().map(|w| w.rx_packets).sum();
    let cap: u64 = s.workers.iter().map(|w| w.captured_packets).sum();
    let capb: u64 = s.workers.iter().map(|w| w.captured_bytes).sum();
    let mut drops = String::new();
    for r in 0..DROP_REASONS {
        let n: u64 = s.workers.iter().map(|w| w.drops[r]).sum();
        if n > 0 {
            drops.push_str(&format!(" {}={n}", drop_reason_label(r)));
        }
    }
    let truncated: u64 = s.workers.iter().map(|w| w.truncated).sum();
    let unencap: u64 = s.workers.iter().map(|w| w.unencapsulated).sum();
    eprintln!(
        "mirrorcap: stopped: received {rx} packets, captured {cap} ({}; {truncated} truncated by AWS, {unencap} unencapsulated), dropped:{}; NIC missed {} errors {} nombuf {}",
        human_bytes(capb),
        if drops.is_empty() { " none".to_string() } else { drops },
        s.nic.imissed,
        s.nic.ierrors,
        s.nic.rx_nombuf
    );
    if !s.latency.packet.is_empty() {
        eprintln!(
            "mirrorcap: latency RX to commit per packet: {}",
            s.latency.packet_summary()
        );
    }
}
