//! `mirrorcap run`: opens the rings and the metrics listener, brings up the EAL, mempools and
//! port, compiles the sessions, launches one worker per RX queue and keeps the main lcore for
//! control (see `control.rs`) until asked to stop. Teardown runs in reverse: workers seal their
//! rings, then port, pools and EAL go.
#![forbid(unsafe_code)]
use super::control::{ring_identity, Control};
use super::fault;
use super::reload::{compile_sessions, describe_jit, Reloader};
use super::startup::{self, AppError, EalPlan, PortSource};
use super::store::{describe, open_spoolers, print_store_summary, StoreThreads};
use super::summary::{print_summary, RunSummary};
use super::worker::Worker;
use crate::config::human_bytes;
use crate::config::sessions::Action;
use crate::config::RunConfig;
use crate::control::Poller;
use crate::metrics::{BuildInfo, Limits, Metrics, MetricsServer, PublishedStore};
use crate::pipeline::{Latency, PipelineConfig, VniTable, WorkerStats};
use crate::pipeline::{
    PublishedSessionCounts, PublishedStampCounts, PublishedStats, Reload, WorkerSessions,
    WorkerState,
};
use crate::sizing::PoolSizing;
use mirrorcap_dpdk::{launch_workers, tsc_hz, PortBuilder, WorkerLcore, MAX_BURST};
use mirrorcap_ring::session_names::SessionNames;
use mirrorcap_ring::{RingOptions, RingWriter};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Largest frame a worker receives in one mbuf: a 9001-byte MTU inner packet with its inner
/// Ethernet and two VLAN tags, plus outer Ethernet, two tags, IPv6, UDP, Geneve with options
/// and a nested IPv4/UDP/VXLAN (GWLB layering), rounded up.
pub const MAX_FRAME: u16 = 9728;
const POOL_CACHE: u32 = 256;
/// RX descriptors asked for per queue (the port adjusts to the driver's limits).
const RX_DESC: u16 = 1024;

fn pool_sizing(mbufs: u32, rx_desc: u16) -> PoolSizing {
    PoolSizing::new(
        rx_desc.into(),
        MAX_BURST as u32,
        POOL_CACHE,
        mbufs,
        u32::from(MAX_FRAME) + 128,
    )
}

/// One ring per worker; rotation's file work runs on each ring's helper thread, so a worker's
/// rotation never waits for a syscall or a page fault.
fn open_rings(cfg: &RunConfig) -> Result<Vec<RingWriter>, AppError> {
    (0..cfg.workers)
        .map(|w| {
            let (mut ring, rep) =
                RingWriter::open_with(&cfg.ring_dir, w, cfg.geometry, RingOptions::background())
                    .map_err(|e| AppError::Environment(format!("ring: {e}")))?;
            if rep.recovered_segments > 0 {
                eprintln!(
                    "mirrorcap: ring worker {w}: recovered {} segment(s) left live by an unclean stop (kept their committed records)",
                    rep.recovered_segments
                );
            }
            ring.set_policy(cfg.ring_policy);
            Ok(ring)
        })
        .collect()
}

pub fn run(cfg: &RunConfig, stop: Arc<AtomicBool>) -> Result<RunSummary, AppError> {
    // 1. Everything that can be checked without DPDK, so mistakes cost nothing.
    let in_flight = crate::sizing::in_flight(RX_DESC.into(), MAX_BURST as u32, POOL_CACHE);
    let mbufs =
        crate::sizing::pool_mbufs(cfg.mbufs, &cfg.vdevs, in_flight).map_err(AppError::Usage)?;
    pool_sizing(mbufs, RX_DESC)
        .check()
        .map_err(AppError::Usage)?;
    let workers = cfg.workers;
    let pipeline = PipelineConfig {
        decap: cfg.decap.clone(),
        keep_unencapsulated: cfg.keep_unencapsulated,
    };
    let inject = fault::from_env().map_err(AppError::Environment)?;
    fault::install_panic_hook();
    if let Some(name) = &cfg.ring_group {
        mirrorcap_ring::group_access::set_group(
            mirrorcap_ring::group_access::lookup(name).map_err(AppError::Usage)?,
        );
    }
    let mut server = MetricsServer::bind(
        &cfg.metrics_addr,
        Limits {
            max_connections: cfg.metrics_max_connections,
            ..Limits::default()
        },
    )
    .map_err(AppError::Environment)?;
    let rings = open_rings(cfg)?;
    let mut spoolers = match &cfg.store {
        Some(st) => Some(open_spoolers(&cfg.ring_dir, workers, st)?),
        None => None,
    };
    let archive = match (&cfg.archive, &cfg.store, &mut spoolers) {
        (Some(a), Some(st), Some(sp)) => {
            let p = super::archive::prepare(a, &st.dir, workers)?;
            for (s, m) in sp.iter_mut().zip(&p.marks) {
                s.set_archive_mark(m.clone());
            }
            Some(p)
        }
        _ => None,
    };

    // 2. The EAL. Torn down (rte_eal_cleanup) only after a run that got as far as the
    // workers: on an early error return it is not, since drivers' close paths are not safe
    // after a half-done set-up (net_pcap in 22.11 crashes in rte_eal_cleanup after a failed
    // queue set-up). The process exits right after such an error; the kernel frees what the
    // EAL held.
    let source = PortSource {
        devices: &cfg.devices,
        vdevs: &cfg.vdevs,
        eal_args: &cfg.eal_args,
    };
    let eal = std::mem::ManuallyDrop::new(startup::bring_up_eal(&EalPlan {
        source,
        lcores: workers,
        no_huge_mb_per_lcore: (mbufs as u64 * (MAX_FRAME as u64 + 512)) >> 20,
        announce_no_huge: true,
    })?);
    // The EAL has pinned this thread to the main lcore: the listener's thread, started now,
    // inherits that and so shares the control core, never a worker's; the rings' helper
    // threads, started before, move there too.
    server.start().map_err(AppError::Environment)?;
    let control_cpu = core_affinity::get_core_ids()
        .and_then(|c| c.first().copied())
        .map(|c| c.id);
    if let Some(cpu) = control_cpu {
        for r in &rings {
            r.pin_helper(cpu);
        }
    }

    // 3. The port and one pool per worker, on the worker's socket.
    let port_id = startup::one_port(&eal, &source, "mirrorcap captures from one")?;
    let lcores = startup::worker_lcores(&eal, workers, "--workers")?;
    let headroom = u32::from(mirrorcap_dpdk::pktmbuf_headroom());
    let data_room = (u32::from(MAX_FRAME) + headroom) as u16;
    let pools = startup::pools(&eal, &lcores, "mc_rx", mbufs, POOL_CACHE, data_room).map_err(|e| {
        AppError::Environment(format!(
            "mempool: {e} (not enough hugepage memory? each worker needs about {}: lower --mbufs or reserve more hugepages)",
            human_bytes(mbufs as u64 * data_room as u64)
        ))
    })?;
    let queues_offered = mirrorcap_dpdk::PortInfo::query(port_id)
        .map(|i| (i.max_rx_queues, i.name))
        .ok();
    if let Some((max, name)) = queues_offered.filter(|(max, _)| usize::from(*max) < workers) {
        return Err(AppError::Usage(format!(
            "--workers {workers}: port {name} offers {max} RX queue(s), one per worker: use --workers {max} or fewer"
        )));
    }
    let port = PortBuilder::new(port_id, pools.iter().collect())
        .rx_desc(RX_DESC)
        .mtu(9001)
        .build()
        .map_err(|e| {
            AppError::Environment(format!(
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
            .map(|&l| eal.lcore_socket(l).to_string())
            .collect::<Vec<_>>()
            .join(","),
        pool_sizing(mbufs, port.rx_desc()).describe()
    );
    eprintln!(
        "mirrorcap: ring {} ({} worker(s) x {} segments x {} = {} with record indexes)",
        cfg.ring_dir.display(),
        workers,
        cfg.geometry.segments,
        human_bytes(cfg.geometry.segment_size),
        human_bytes(cfg.geometry.worker_bytes() * workers as u64)
    );
    if let Some(st) = &cfg.store {
        eprintln!("{}", describe(st, workers));
    }
    if let (Some(a), Some(p)) = (&cfg.archive, &archive) {
        eprintln!(
            "mirrorcap: archive {} as appliance {} ({}), one uploader thread on the control core",
            a.url,
            p.appliance,
            if a.required {
                "local files deleted only once uploaded"
            } else {
                "local retention first; files deleted before upload are counted"
            }
        );
    }
    eprintln!(
        "mirrorcap: metrics on http://{}/metrics and /healthz",
        server.local_addr()
    );

    // 4. Sessions: slots kept in the ring, filters loaded into rte_bpf.
    let mut names = SessionNames::read(&cfg.ring_dir);
    let shared = compile_sessions(&eal, &cfg.sessions, &mut names, &cfg.ring_dir)
        .map_err(AppError::Usage)?;
    if !cfg.sessions.sessions.is_empty() || !shared.plain {
        eprintln!(
            "mirrorcap: {} session(s){}; VNIs no session names: {}",
            shared.sessions.len(),
            describe_jit(&shared),
            match cfg.sessions.default.action {
                Action::Capture => "captured as vni-<n>",
                Action::Drop => "dropped",
            }
        );
    }
    let reload = Reload::new(workers);
    let session_counts: Vec<PublishedSessionCounts> = (0..workers)
        .map(|_| PublishedSessionCounts::default())
        .collect();
    let stamp_counts: Vec<PublishedStampCounts> = (0..workers)
        .map(|_| PublishedStampCounts::default())
        .collect();
    let hup = Arc::new(AtomicBool::new(false));
    let hup_id = signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&hup))
        .map_err(|e| AppError::Environment(format!("cannot handle SIGHUP: {e}")))?;

    // 5. Workers on their lcores; control here.
    let slots: Vec<PublishedStats> = (0..workers).map(|_| PublishedStats::default()).collect();
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
    // The store threads start with the workers: from here on nothing can fail before the
    // workers run, so no thread is left behind by an early error return.
    let store_counts: Arc<[PublishedStore]> =
        (0..workers).map(|_| PublishedStore::default()).collect();
    let store_threads = match spoolers {
        Some(s) => Some(StoreThreads::start(
            s,
            Arc::clone(&store_counts),
            control_cpu,
        )?),
        None => None,
    };
    let archive_thread = match archive {
        Some(p) => Some(super::archive::ArchiveThread::start(p, control_cpu)?),
        None => None,
    };
    // Reset requests and link changes from the driver, handled by the control loop.
    let events = mirrorcap_dpdk::PortEvents::register(port.id())
        .map_err(|e| AppError::Environment(format!("port events: {e}")))?;
    let pause = super::pause::PortPause::new(workers);
    let pause_ref = &pause;
    let queues = port.take_rx_queues();
    let stop_ref: &AtomicBool = &stop;
    let mut jobs = Vec::with_capacity(workers);
    let mut results: Vec<Option<WorkerStats>> = vec![None; workers];
    let (tx, rx) = std::sync::mpsc::channel::<(usize, WorkerStats, Latency, Option<String>)>();
    for (w, (((((rxq, ring), slot), vnis), scounts), tcounts)) in queues
        .into_iter()
        .zip(rings)
        .zip(slots.iter())
        .zip(vni_tables.iter())
        .zip(session_counts.iter())
        .zip(stamp_counts.iter())
        .enumerate()
    {
        let tx = tx.clone();
        let mut state = WorkerState::new(ring, vnis, WorkerSessions::new(Arc::clone(&shared)));
        if cfg.stamps {
            state.stamps = Some(Box::default());
        }
        let worker = Worker {
            index: w,
            rxq,
            state,
            cfg: pipeline.clone(),
            published: slot,
            session_counts: scounts,
            stamp_counts: tcounts,
            reload: &reload,
            stop: stop_ref,
            pause: pause_ref,
            inject_panic: inject == Some(fault::Fault::WorkerPanic(w)),
            inject_stall: inject == Some(fault::Fault::WorkerStall(w)),
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
        .map(|w| ring_identity(&mirrorcap_ring::layout::worker_dir(&cfg.ring_dir, w)))
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
            events: &events,
            pause: pause_ref,
            inject_reset_after: match inject {
                Some(fault::Fault::PortReset(s)) => Some(std::time::Duration::from_secs(s)),
                _ => None,
            },
            idle: cfg.exit_when_idle,
            reloader: Reloader {
                eal: &eal,
                cfg,
                reload: &reload,
                hup: &hup,
                names: std::cell::RefCell::new(names),
                workers,
                session_counts: &session_counts,
                stamp_counts: cfg.stamps.then_some(&stamp_counts[..]),
                current: std::cell::RefCell::new(shared),
            },
            poller: Poller::new(
                &port,
                &pools,
                &cfg.ring_dir,
                cfg.geometry.segments as u64 * cfg.geometry.segment_size,
            ),
            log_every: cfg.log_interval,
            ring_ids,
            stores: store_threads.as_ref().map(|_| &store_counts[..]),
            archive: archive_thread.as_ref().map(|t| &*t.counters),
        }
        .run()
    })
    .map_err(|e| AppError::Runtime(format!("launching workers: {e}")))?;
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
    // The workers have sealed their rings: the store threads take the last segments.
    if let Some(t) = store_threads {
        errors.extend(t.finish());
        print_store_summary(&store_counts);
    }
    if let Some(t) = archive_thread {
        errors.extend(t.finish());
    }
    let summary = RunSummary {
        workers: results.into_iter().map(|r| r.unwrap_or_default()).collect(),
        latency,
        nic,
    };
    print_summary(&summary);
    drop(events);
    drop(port);
    drop(pools);
    drop(std::mem::ManuallyDrop::into_inner(eal));
    if errors.is_empty() {
        Ok(summary)
    } else {
        Err(AppError::Runtime(errors.join("; ")))
    }
}
