//! `run --archive`: the uploader thread, `mc-archive`, on the control core. It starts after
//! the store threads, uploads each worker's complete store files (the archive crate's
//! [`Uploader`]) and never touches a worker, a ring or a store thread: an S3 outage shows as
//! `mirrorcap_archive_lag_seconds`, pending files and failures by cause, while capture and
//! storing go on. Failures back off from [`POLL_EVERY`] to [`RETRY_MAX`], one log line per
//! change of cause. At stop, after the store threads' last poll, it uploads what is pending
//! for up to [`DRAIN_MAX`]; what it leaves is uploaded by the next run (the mark on disk says
//! where it was).
#![forbid(unsafe_code)]
use super::startup::AppError;
use crate::cli::archive::ArchiveConfig;
use mirrorcap_archive::{check, connect, Cause, Counters, Uploader};
use mirrorcap_store::archived::ArchiveMark;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the uploader looks for new store files while idle.
pub const POLL_EVERY: Duration = Duration::from_secs(1);
/// The longest wait between passes while uploads fail.
pub const RETRY_MAX: Duration = Duration::from_secs(30);
/// How long one pass may upload before the thread looks at its stop flag again.
const PASS_BUDGET: Duration = Duration::from_secs(5);
/// How long `run` waits at stop for pending uploads.
pub const DRAIN_MAX: Duration = Duration::from_secs(60);
/// How long the start-up check waits for the archive's first answer.
const CHECK_TIMEOUT: Duration = Duration::from_secs(15);

/// The uploader, connected and checked, with each worker's mark for its spooler.
pub struct Prepared {
    uploader: Uploader,
    /// What the start-up check met, already reported (not said again by the first pass).
    checked: Option<Cause>,
    pub marks: Vec<ArchiveMark>,
    pub appliance: String,
}

/// Connects to the archive and checks it before capture starts: a malformed setting or a
/// bucket that does not exist exits 2; refused credentials or no answer are reported (one
/// line, counted) and capture goes on while the uploader retries.
pub fn prepare(
    cfg: &ArchiveConfig,
    store_dir: &Path,
    workers: usize,
) -> Result<Prepared, AppError> {
    let appliance = super::appliance::resolve(cfg.appliance_id.as_deref());
    let archive = connect(&cfg.url, &cfg.settings).map_err(AppError::Usage)?;
    let marks = (0..workers)
        .map(|w| {
            let dir = mirrorcap_ring::layout::worker_dir(store_dir, w);
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("{}: {e}", dir.display()))
                .and_then(|()| ArchiveMark::load(&dir, cfg.required).map_err(|e| e.to_string()))
                .map_err(|e| AppError::Environment(format!("--archive: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let checked = check(&archive, CHECK_TIMEOUT);
    let uploader = Uploader::new(archive, &appliance, store_dir, marks.clone())
        .map_err(|e| AppError::Environment(format!("--archive: {e}")))?;
    let reported = checked.as_ref().err().map(|(c, _)| *c);
    match checked {
        Ok(()) => {}
        Err((Cause::Bucket, msg)) => {
            return Err(AppError::Usage(format!(
                "--archive: the bucket does not exist: {msg}"
            )))
        }
        Err((cause, msg)) => {
            uploader.counters.failures[cause.index()].fetch_add(1, Ordering::Relaxed);
            eprintln!(
                "mirrorcap: archive: {cause}: {msg} (capture goes on; uploads retry every {POLL_EVERY:?}, backing off to {RETRY_MAX:?})"
            );
        }
    }
    Ok(Prepared {
        uploader,
        checked: reported,
        marks,
        appliance,
    })
}

/// The running uploader.
pub struct ArchiveThread {
    handle: JoinHandle<()>,
    finish: Arc<AtomicBool>,
    pub counters: Arc<Counters>,
}

impl ArchiveThread {
    pub fn start(p: Prepared, cpu: Option<usize>) -> Result<Self, AppError> {
        let finish = Arc::new(AtomicBool::new(false));
        let counters = Arc::clone(&p.uploader.counters);
        let f = Arc::clone(&finish);
        let handle = std::thread::Builder::new()
            .name("mc-archive".into())
            .spawn(move || {
                if let Some(id) = cpu {
                    core_affinity::set_for_current(core_affinity::CoreId { id });
                }
                upload_loop(&p.uploader, &f, p.checked);
            })
            .map_err(|e| AppError::Environment(format!("start archive thread: {e}")))?;
        Ok(ArchiveThread {
            handle,
            finish,
            counters,
        })
    }

    /// After the store threads' last poll: uploads what is pending (up to [`DRAIN_MAX`]) and
    /// stops; one summary line.
    pub fn finish(self) -> Vec<String> {
        self.finish.store(true, Ordering::Release);
        self.handle.thread().unpark();
        let mut errors = Vec::new();
        if self.handle.join().is_err() {
            errors.push("archive thread mc-archive panicked".into());
        }
        let c = &self.counters;
        let (files, bytes, pending) = c.workers.iter().fold((0, 0, 0), |(f, b, p), w| {
            (
                f + w.files.load(Ordering::Relaxed),
                b + w.bytes.load(Ordering::Relaxed),
                p + w.pending_files.load(Ordering::Relaxed),
            )
        });
        let failures: u64 = c.failures.iter().map(|f| f.load(Ordering::Relaxed)).sum();
        let busy = c.busy_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let rate = if busy > 0.0 {
            format!(
                " in {busy:.2}s of uploading, {:.1} MB/s",
                bytes as f64 / busy / 1e6
            )
        } else {
            String::new()
        };
        eprintln!(
            "mirrorcap: archive: {files} store file(s) uploaded ({}){rate}, {pending} pending (uploaded by the next run), {failures} failed attempt(s)",
            crate::config::human_bytes(bytes)
        );
        errors
    }
}

fn upload_loop(up: &Uploader, finish: &AtomicBool, checked: Option<Cause>) {
    let mut failing: Option<Cause> = checked;
    let mut wait = POLL_EVERY;
    let mut drain_until: Option<Instant> = None;
    loop {
        if drain_until.is_none() && finish.load(Ordering::Acquire) {
            drain_until = Some(Instant::now() + DRAIN_MAX);
        }
        let budget =
            drain_until.map_or(PASS_BUDGET, |d| d.saturating_duration_since(Instant::now()));
        let p = up.pass(budget);
        match &p.failure {
            Some((cause, msg)) => {
                if failing != Some(*cause) {
                    eprintln!(
                        "mirrorcap: archive: upload failed: {cause}: {msg} (capture goes on; retrying, backing off to {RETRY_MAX:?})"
                    );
                }
                failing = Some(*cause);
                wait = (wait * 2).clamp(POLL_EVERY, RETRY_MAX);
            }
            None => {
                // Cleared by an upload, not by a pass that had nothing to upload.
                if p.uploaded > 0 && failing.take().is_some() {
                    eprintln!("mirrorcap: archive: uploading again");
                }
                wait = if p.pending > 0 && p.uploaded > 0 {
                    Duration::ZERO
                } else {
                    POLL_EVERY
                };
            }
        }
        if let Some(d) = drain_until {
            // At stop: done when nothing is pending, the time is up, or S3 refuses.
            if p.pending == 0 || p.failure.is_some() || Instant::now() >= d {
                return;
            }
            continue;
        }
        std::thread::park_timeout(wait);
    }
}
