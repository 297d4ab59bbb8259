//! `mirrorcap gen` over DPDK: brings up the EAL and a port with one TX queue per TX lcore,
//! builds the frame templates, launches one sender per queue (flow f on queue f % queues) and
//! keeps the main lcore for the progress line and signals. Teardown as in `run`: senders
//! finish, then port (which flushes a net_pcap tx_pcap file), pools and EAL go.
#![forbid(unsafe_code)]
mod plan;
mod report;
mod worker;

pub use report::TxReport;

use crate::app::startup::{self, AppError, EalPlan, PortSource};
use crate::cli::GenArgs;
use crate::gen::factory::Factory;
use crate::gen::Rng;
use mirrorcap_dpdk::{
    launch_workers, pktmbuf_headroom, tsc_hz, PortBuilder, TscClock, WorkerLcore,
};
use plan::{Limit, Plan, Rate};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use worker::{LiveCounters, QueueJob};

/// Mbufs per TX queue's pool: descriptors held by a real NIC until completion, a burst being
/// filled and the per-lcore cache.
const POOL_MBUFS: u32 = 4095;
const POOL_CACHE: u32 = 256;
const TX_DESC: u16 = 1024;

/// A run id: random per run (from the clock and the process id; no dependency needed).
pub fn new_run_id() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut r = Rng::new(t ^ ((std::process::id() as u64) << 32));
    r.next_u64() as u32
}

/// Checks `a`, transmits, and returns the report (also printed on stderr, and written as JSON
/// with `--report-json`).
pub fn gen_tx(a: &GenArgs, stop: &AtomicBool) -> Result<TxReport, AppError> {
    let run_id = new_run_id();
    let plan = plan::plan(a, run_id).map_err(AppError::Usage)?;
    if let Some(p) = &a.report_json {
        // Refuse an unwritable report path before sending anything.
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(p)
            .map_err(|e| AppError::Usage(format!("--report-json {}: {e}", p.display())))?;
    }
    let factory = Factory::new(&plan.factory);
    let nq = plan.tx_queues as usize;
    let max_frame = factory.full_len(plan.sizes.max());
    let headroom = u32::from(pktmbuf_headroom());
    let data_room = (max_frame as u32 + headroom).max(2048 + headroom);
    let data_room = u16::try_from(data_room)
        .map_err(|_| AppError::Usage("frames too large for an mbuf".into()))?;

    let source = PortSource {
        devices: &a.devices,
        vdevs: &a.vdevs,
        eal_args: &a.eal_args,
    };
    let eal = startup::bring_up_eal(&EalPlan {
        source,
        lcores: nq,
        no_huge_mb_per_lcore: (POOL_MBUFS as u64 * (data_room as u64 + 512)) >> 20,
        announce_no_huge: false,
    })?;
    let port_id = startup::one_port(&eal, &source, "gen transmits on one")?;
    let lcores = startup::worker_lcores(&eal, nq, "--tx-queues")?;
    let pools = startup::pools(&eal, &lcores, "mc_tx", POOL_MBUFS, POOL_CACHE, data_room)
        .map_err(|e| AppError::Environment(format!("mempool: {e}")))?;
    let port = PortBuilder::new(port_id, Vec::new())
        .tx_queues(nq as u16, TX_DESC)
        // The L3 MTU the largest outer frame needs (the port caps it to what it allows).
        .mtu((max_frame.saturating_sub(14)).clamp(1500, 9216) as u16)
        .build()
        .map_err(|e| {
            AppError::Environment(format!(
                "port: {e} (net_pcap has one TX queue per tx_pcap= argument)"
            ))
        })?;
    let info = port.info().clone();
    eprintln!(
        "mirrorcap: gen on port {} ({}): {} TX queue(s) x {} descriptors, {} flow(s), rate {}, run id {:08x}",
        info.name,
        info.driver,
        nq,
        port.tx_desc(),
        factory.flow_count(),
        plan.rate.describe(),
        run_id
    );

    let hz = tsc_hz();
    let clock = TscClock::calibrate();
    let live: Vec<LiveCounters> = (0..nq).map(|_| LiveCounters::default()).collect();
    let vnis = if plan.factory.vnis.is_empty() {
        vec![100]
    } else {
        plan.factory.vnis.clone()
    };
    let noise: Vec<Vec<u8>> = crate::gen::NOISE_KINDS
        .iter()
        .enumerate()
        .map(|(n, &k)| crate::gen::noise_frame(k, n as u64))
        .collect();
    let go = AtomicBool::new(false);
    let mut jobs = Vec::with_capacity(nq);
    let (tx, rx) = std::sync::mpsc::channel();
    for (q, txq) in port.take_tx_queues().into_iter().enumerate() {
        let flows: Vec<u32> = (0..factory.flow_count())
            .filter(|f| *f as usize % nq == q)
            .collect();
        let vni_index = flows
            .iter()
            .map(|&f| {
                let v = factory.vni(f);
                vnis.iter().position(|&x| x == v).unwrap_or(0)
            })
            .collect();
        let job = QueueJob {
            txq,
            pool: &pools[q],
            factory: &factory,
            flows,
            vni_index,
            vnis: vnis.len(),
            sizes: plan.sizes,
            rng: Rng::new(plan.seed.wrapping_add(q as u64)),
            limit: share_limit(&plan, q),
            rate: share_rate(plan.rate, nq),
            burst: plan.burst as usize,
            noise_every: plan.noise_every,
            noise: &noise,
            go: &go,
            hz,
            clock,
            stop,
            live: &live[q],
        };
        let tx = tx.clone();
        jobs.push(WorkerLcore {
            lcore: lcores[q],
            job: Box::new(move || {
                let _ = tx.send(job.run());
                0
            }),
        });
    }
    drop(tx);
    let started = Instant::now();
    let (_, codes) = launch_workers(&eal, jobs, || {
        go.store(true, Ordering::Release);
        control(&plan, &live, stop, started)
    })
    .map_err(|e| AppError::Runtime(format!("launching TX lcores: {e}")))?;
    let mut queues: Vec<worker::QueueResult> = rx.try_iter().collect();
    queues.sort_by_key(|q| q.queue);
    let report = TxReport {
        run_id,
        port: info.name.clone(),
        driver: info.driver.clone(),
        encap: a.encap.clone(),
        flows: factory.flow_count(),
        target: Some(plan.rate),
        duration_ns: queues
            .iter()
            .map(|q| clock.ticks_ns(q.end_tsc.saturating_sub(q.start_tsc)))
            .max()
            .unwrap_or(0),
        queues,
        vnis,
    };
    drop(port);
    drop(pools);
    drop(eal);
    if codes.iter().any(|&c| c < 0) || report.queues.len() != nq {
        return Err(AppError::Runtime("a TX lcore panicked".into()));
    }
    eprintln!("{}", report.human());
    if let Some(p) = &a.report_json {
        std::fs::write(p, report.json())
            .map_err(|e| AppError::Runtime(format!("--report-json {}: {e}", p.display())))?;
    }
    Ok(report)
}

/// Queue `q`'s part of the limit: a count split as evenly as possible; a duration as is.
fn share_limit(plan: &Plan, q: usize) -> Limit {
    let nq = plan.tx_queues as u64;
    match plan.limit {
        Limit::Count(n) => Limit::Count(n / nq + u64::from((q as u64) < n % nq)),
        d => d,
    }
}

fn share_rate(r: Rate, nq: usize) -> Rate {
    match r {
        Rate::Max => Rate::Max,
        Rate::Pps(p) => Rate::Pps(p / nq as f64),
        Rate::Bps(b) => Rate::Bps(b / nq as f64),
    }
}

/// The main lcore while senders run: a progress line every `plan.progress`, until every
/// queue is done (a signal sets `stop`, which the senders see).
fn control(plan: &Plan, live: &[LiveCounters], stop: &AtomicBool, started: Instant) {
    let tty = std::io::stderr().is_terminal();
    let mut last = (Instant::now(), 0u64, 0u64);
    let mut printed = false;
    loop {
        if live.iter().all(|l| l.done.load(Ordering::Acquire)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        let Some(every) = plan.progress else { continue };
        if last.0.elapsed() < every {
            continue;
        }
        let now = Instant::now();
        let pk: u64 = live.iter().map(|l| l.packets.load(Ordering::Relaxed)).sum();
        let by: u64 = live.iter().map(|l| l.bytes.load(Ordering::Relaxed)).sum();
        let line = report::progress_line(
            started.elapsed().as_secs_f64(),
            pk,
            pk - last.1,
            by - last.2,
            now.duration_since(last.0).as_secs_f64(),
        );
        if tty {
            eprint!("\r{line}\x1b[K");
            printed = true;
        } else {
            eprintln!("{line}");
        }
        last = (now, pk, by);
        let _ = stop;
    }
    if printed {
        eprintln!();
    }
}
