//! Sessions at run time on the control core: assigning their ids (kept in the ring's
//! `sessions` file), compiling their filters, and SIGHUP's reload, which re-reads the
//! configuration file and hands every worker the new set at a burst boundary.
#![forbid(unsafe_code)]
use crate::config::sessions::SessionSet;
use crate::config::RunConfig;
use crate::pipeline::{PublishedSessionCounts, PublishedStampCounts, Reload};
use mirrorcap_dpdk::filter::{Filter, LinkType};
use mirrorcap_dpdk::Eal;

/// The appliance's sessions: filters loaded into rte_bpf.
pub(super) type SharedSet = crate::pipeline::SharedSet<Filter>;
type WorkerSessions = crate::pipeline::WorkerSessions<Filter>;
use mirrorcap_ring::session_names::{self, SessionNames};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Assigns the sessions their ids (kept in the ring's `sessions` file) and compiles them.
pub(super) fn compile_sessions(
    eal: &Eal,
    set: &SessionSet,
    names: &mut SessionNames,
    ring: &std::path::Path,
) -> Result<Arc<SharedSet>, String> {
    let wanted: Vec<&str> = set.sessions.iter().map(|s| s.name.as_str()).collect();
    let ids = names.assign(&wanted)?;
    let mut jit =
        |expr: &str, link: LinkType, snaplen: u32| Filter::new(eal, expr, link, snaplen, true);
    let shared = SharedSet::compile(set, &ids, &mut jit)?;
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

pub(super) fn describe_jit(s: &SharedSet) -> String {
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
pub(super) struct Reloader<'a, 'e> {
    pub(super) eal: &'e Eal,
    pub cfg: &'a RunConfig,
    pub(super) reload: &'a Reload<WorkerSessions>,
    pub(super) hup: &'a AtomicBool,
    pub(super) names: std::cell::RefCell<SessionNames>,
    pub(super) workers: usize,
    pub(super) session_counts: &'a [PublishedSessionCounts],
    pub(super) stamp_counts: Option<&'a [PublishedStampCounts]>,
    pub(super) current: std::cell::RefCell<Arc<SharedSet>>,
}

impl Reloader<'_, '_> {
    /// Called by the control loop: reloads if SIGHUP arrived; frees sets workers gave back.
    /// Some(whether it succeeded) when a reload was tried.
    pub(super) fn tick(&self) -> Option<bool> {
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
        let Some(path) = &self.cfg.config_file else {
            return Err("run was started without --config".into());
        };
        let loaded = crate::config::file::Loaded::read(path).map_err(|e| e.to_string())?;
        let set =
            crate::config::sessions::sessions(&loaded, &crate::config::sessions::check_filter)
                .map_err(|e| e.to_string())?;
        let shared = compile_sessions(
            self.eal,
            &set,
            &mut self.names.borrow_mut(),
            &self.cfg.ring_dir,
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

    /// (id, name) of every session counted so far, the default first.
    pub(super) fn named_ids(&self) -> Vec<(u8, String)> {
        let names = self.names.borrow();
        std::iter::once((0u8, "default".to_string()))
            .chain((1..=254u8).filter_map(|s| names.name(s).map(|n| (s, n.to_string()))))
            .collect()
    }
}
