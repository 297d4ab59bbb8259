//! `run --store-dir`: one store thread per worker ring, `mc-store-NN`, each owning that
//! worker's [`Spooler`] and polling it every [`POLL_EVERY`]. The threads run on the control
//! core, never a worker's: compression and disk writes (and the stalls of a slow disk) stay off
//! the hot path, which keeps writing only to the RAM ring. A poll that fails does not stop
//! capture: the error is counted, logged once per kind of fault, published for `/healthz`
//! (which fails, naming the worker, the directory and the reason, until a poll succeeds), and
//! the next poll retries (the spooler's cursor says what is already stored), backing off to
//! [`RETRY_MAX`] while it keeps failing. At shutdown, after the workers sealed their rings,
//! each thread polls once more, so the last segments reach the store too.
#![forbid(unsafe_code)]
use super::startup::AppError;
use crate::config::human_bytes;
use crate::config::run_config::StoreConfig;
use crate::metrics::{PublishedStore, StoreFault};
use mirrorcap_store::{
    Compression, MinFree, Retention, SpoolOptions, Spooler, StoreError, StoreOptions,
};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often a store thread looks for newly sealed segments: short next to a segment's
/// lifetime at any useful rate, long enough that an idle poll (a read of the control file)
/// costs nothing.
pub const POLL_EVERY: Duration = Duration::from_millis(200);

/// The longest wait between polls while they fail: each failed poll doubles the wait from
/// [`POLL_EVERY`] up to this. A failing poll may compress a whole segment before the disk
/// refuses it, which must not take the control core it shares; and storing still resumes
/// within a second of the disk coming back.
pub const RETRY_MAX: Duration = Duration::from_secs(1);

/// Opens every worker's store directory (before the EAL, so a store that cannot be created
/// costs nothing and exits 2), with its share of `--store-size`.
pub fn open_spoolers(
    ring_dir: &Path,
    workers: usize,
    st: &StoreConfig,
) -> Result<Vec<Spooler>, AppError> {
    let opts = SpoolOptions {
        store: StoreOptions {
            compression: st.compression,
            ..StoreOptions::default()
        },
        retention: Retention {
            max_bytes: st.per_worker(workers),
            max_age: st.max_age,
            min_free: st.min_free,
        },
        direct: true,
        flow_index: st.flow_index,
        flow_records: st.flow_records,
    };
    (0..workers)
        .map(|w| {
            let fail = |e: mirrorcap_store::StoreError| {
                AppError::Environment(format!(
                    "--store-dir {}: {e} (give a writable directory on a local disk)",
                    st.dir.display()
                ))
            };
            let mut sp = Spooler::open(ring_dir, w, &st.dir, opts).map_err(fail)?;
            // From the ring as it is at start: whatever the ring overwrites before the first
            // poll is counted, not silently skipped.
            sp.anchor().map_err(fail)?;
            if sp.cleaned > 0 {
                eprintln!(
                    "mirrorcap: store worker {w}: removed {} incomplete file(s) left by an unclean stop",
                    sp.cleaned
                );
            }
            Ok(sp)
        })
        .collect()
}

/// The running store threads.
pub struct StoreThreads {
    handles: Vec<JoinHandle<()>>,
    finish: Arc<AtomicBool>,
}

impl StoreThreads {
    /// Starts one thread per spooler, pinned to `cpu` (the control core) when given;
    /// `published[w]` receives worker `w`'s numbers after every poll.
    pub fn start(
        spoolers: Vec<Spooler>,
        published: Arc<[PublishedStore]>,
        cpu: Option<usize>,
    ) -> Result<Self, AppError> {
        let finish = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::with_capacity(spoolers.len());
        for (w, sp) in spoolers.into_iter().enumerate() {
            let finish = Arc::clone(&finish);
            let published = Arc::clone(&published);
            let h = std::thread::Builder::new()
                .name(format!("mc-store-{w:02}"))
                .spawn(move || {
                    if let Some(id) = cpu {
                        core_affinity::set_for_current(core_affinity::CoreId { id });
                    }
                    store_loop(w, sp, &published[w], &finish);
                })
                .map_err(|e| {
                    AppError::Environment(format!("start store thread mc-store-{w:02}: {e}"))
                })?;
            handles.push(h);
        }
        Ok(StoreThreads { handles, finish })
    }

    /// After the workers sealed their rings: each thread polls once more and exits. Waits for
    /// them (the last segments must be on disk before `run` returns).
    pub fn finish(self) -> Vec<String> {
        self.finish.store(true, Ordering::Release);
        let mut errors = Vec::new();
        for h in self.handles {
            h.thread().unpark();
            let name = h.thread().name().unwrap_or("mc-store").to_string();
            if h.join().is_err() {
                errors.push(format!("store thread {name} panicked"));
            }
        }
        errors
    }
}

/// One store thread: poll, publish, sleep; a last poll once `finish` is set.
fn store_loop(w: usize, mut sp: Spooler, out: &PublishedStore, finish: &AtomicBool) {
    let mut errors = 0u64;
    let mut failing: Option<(StoreFault, String)> = None;
    let mut wait = POLL_EVERY;
    loop {
        // Read before polling: a poll that starts after the flag is the final one.
        let last = finish.load(Ordering::Acquire);
        let started = Instant::now();
        let recreated = sp.totals().dirs_recreated;
        let result = sp.poll();
        if result.is_err() {
            errors += 1;
        }
        out.publish(sp.totals(), errors);
        if sp.totals().dirs_recreated > recreated {
            eprintln!(
                "mirrorcap: store worker {w}: {} had been removed: created it again; storing on after ring seq {}",
                sp.dir().display(),
                sp.cursor().map_or(0, |c| c.seq)
            );
        }
        match result {
            Ok(rep) => {
                if let Some((_, e)) = failing.take() {
                    eprintln!("mirrorcap: store worker {w}: storing again after: {e}");
                }
                out.publish_fault(None);
                // Segments sealed while this poll stored others: on at once, so a backlog is
                // worked off with the disk busy throughout, not in bursts between sleeps (only
                // while polls make progress: never a busy loop).
                let progress = rep.segments_stored + rep.empty_segments + rep.overrun_segments;
                wait = if rep.lag_segments > 0 && progress > 0 {
                    Duration::ZERO
                } else {
                    POLL_EVERY
                };
            }
            Err(e) => {
                let fault = fault_of(&e, &sp, failing.as_ref().map(|f| f.0));
                // One line per kind of fault, not one per poll (up to 5 a second) nor one per
                // segment (each has its own file name).
                if failing.as_ref().map(|f| (f.0.fault, f.0.errno))
                    != Some((fault.fault, fault.errno))
                {
                    eprintln!(
                        "mirrorcap: store worker {w}: {e} (capture goes on; retrying every {POLL_EVERY:?}, backing off to {RETRY_MAX:?})"
                    );
                }
                failing = Some((fault, e.to_string()));
                out.publish_fault(Some(fault));
                wait = (wait * 2).min(RETRY_MAX);
            }
        }
        if last {
            return;
        }
        // Parked rather than slept, so `finish` wakes the thread at once.
        if let Some(rest) = wait.checked_sub(started.elapsed()) {
            std::thread::park_timeout(rest);
        }
    }
}

/// What `/healthz` publishes of a failed poll: the kind and errno of `e`, and whether it is the
/// store directory itself; since when and from which overrun count it keeps from `before`
/// while the kind stays the same.
fn fault_of(e: &StoreError, sp: &Spooler, before: Option<StoreFault>) -> StoreFault {
    let (fault, errno) = (e.fault(), e.errno());
    let store_dir = matches!(e, StoreError::Io { path, .. } if path == sp.store_dir());
    match before {
        Some(b) if (b.fault, b.errno) == (fault, errno) => StoreFault { store_dir, ..b },
        _ => StoreFault {
            fault,
            errno,
            store_dir,
            since_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            overruns_before: sp.totals().overrun_segments,
        },
    }
}

/// The start-up line saying where the store is and how it is kept.
pub fn describe(st: &StoreConfig, workers: usize) -> String {
    format!(
        "mirrorcap: store {} ({}, {}{}{}), one thread per worker on the control core",
        st.dir.display(),
        match st.compression {
            Compression::None => "plain pcap",
            Compression::Zstd { .. } => "zstd blocks",
        },
        st.per_worker(workers)
            .map_or("no size limit".into(), |b| format!(
                "{} per worker",
                human_bytes(b)
            )),
        st.max_age
            .map_or(String::new(), |a| format!(", files kept {a:?}")),
        match st.min_free {
            Some(MinFree::Percent(p)) => format!(", {p}% of its disk kept free"),
            Some(MinFree::Bytes(b)) => format!(", {} of its disk kept free", human_bytes(b)),
            None => String::new(),
        }
    )
}

/// One line per worker's store at stop, after the final poll: what reached the disk and what
/// did not (and why, if the final poll failed).
pub fn print_store_summary(stores: &[PublishedStore]) {
    for (w, p) in stores.iter().enumerate() {
        let c = p.read();
        let ratio = c.compression_ratio().unwrap_or(0.0);
        eprintln!(
            "mirrorcap: store worker {w}: {} segments, {} packets, {} captured in {} on disk (ratio {ratio:.2}), lag {} segments, {} overrun segments ({} packets, store_overrun), {} files deleted, {} errors{}",
            c.segments,
            c.packets,
            human_bytes(c.bytes_captured),
            human_bytes(c.bytes_disk),
            c.lag_segments,
            c.overrun_segments,
            c.overrun_packets,
            c.deleted_files,
            c.errors,
            p.read_fault().map_or(String::new(), |f| format!(
                "; failing at stop: {}{}",
                f.fault.what(),
                f.errno.map_or(String::new(), |e| format!(
                    " ({})",
                    mirrorcap_store::errno_name(e)
                ))
            ))
        );
    }
}
