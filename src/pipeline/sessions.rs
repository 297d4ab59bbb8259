//! Mirror sessions at run time: the configured [`SessionSet`] compiled once (filters compiled
//! by the caller's compiler: rte_bpf in the appliance, libpcap in tests; a VNI index) and
//! shared read-only by the workers ([`SharedSet`]), plus each worker's own mutable part
//! (sampling counters, de-duplication tables: [`WorkerSessions`]).
//! A packet's session is the first one, in file order, that names its VNI and (if the session
//! lists sources) whose source prefixes hold the outer source address; otherwise the default.
#![forbid(unsafe_code)]
use super::dedup::{frame_hash, DedupTable};
use super::packet::FrameFilter;
use crate::config::sessions::{Action, Cidr, Policy, SessionSet, MAX_SNAPLEN};
use mirrorcap_filter::LinkType;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// Compiles one filter expression for a link type and snaplen into the filter type `F`.
pub type FilterCompiler<'c, F> = &'c mut dyn FnMut(&str, LinkType, u32) -> Result<F, String>;

/// What a session keeps, ready to run.
pub struct CompiledPolicy<F> {
    pub action: Action,
    /// Bytes kept per frame (`u32::MAX` keeps whole frames).
    pub snaplen: u32,
    pub sample: u64,
    /// The filter for Ethernet inner frames and for bare IP ones; a session with a filter
    /// whose expression has no meaning for bare IP (`ether host …`) keeps no bare-IP frame.
    pub filter: Option<(F, Option<F>)>,
    pub dedup_ns: u64,
}

impl<F> CompiledPolicy<F> {
    fn compile(p: &Policy, make: FilterCompiler<F>) -> Result<Self, String> {
        let snap = if p.snaplen == 0 {
            MAX_SNAPLEN
        } else {
            p.snaplen
        };
        let filter = match &p.filter {
            Some(expr) => {
                let eth = make(expr, LinkType::Ethernet, snap)
                    .map_err(|e| format!("filter {expr:?}: {e}"))?;
                let raw = make(expr, LinkType::Raw, snap).ok();
                Some((eth, raw))
            }
            None => None,
        };
        Ok(CompiledPolicy {
            action: p.action,
            snaplen: if p.snaplen == 0 { u32::MAX } else { p.snaplen },
            sample: p.sample.max(1) as u64,
            filter,
            dedup_ns: p.dedup.map_or(0, |d| d.as_nanos() as u64),
        })
    }

    /// Keeps everything as it is: no work per packet beyond counting.
    fn is_plain(&self) -> bool {
        self.action == Action::Capture
            && self.snaplen == u32::MAX
            && self.sample == 1
            && self.filter.is_none()
            && self.dedup_ns == 0
    }

    /// Whether the filter keeps bytes `off..off + len` of `pkt` (`ethernet`: the window
    /// starts with an Ethernet header, else with an IP header).
    #[inline]
    pub fn filter_keeps<P: ?Sized>(&self, pkt: &P, off: usize, len: usize, ethernet: bool) -> bool
    where
        F: FrameFilter<P>,
    {
        match &self.filter {
            None => true,
            Some((eth, raw)) => {
                if ethernet {
                    eth.keeps(pkt, off, len)
                } else {
                    raw.as_ref().is_some_and(|r| r.keeps(pkt, off, len))
                }
            }
        }
    }
}

pub struct CompiledSession<F> {
    pub name: String,
    /// The session id stored with each record and indexing the session's counters (1..=254).
    pub id: u8,
    pub sources: Vec<Cidr>,
    pub policy: CompiledPolicy<F>,
}

/// The compiled sessions, shared by every worker.
pub struct SharedSet<F> {
    by_vni: HashMap<u32, Vec<u16>>,
    pub sessions: Vec<CompiledSession<F>>,
    pub default: CompiledPolicy<F>,
    /// No sessions and a default that keeps everything: the pipeline skips session work.
    pub plain: bool,
}

/// Index of the default policy in per-worker arrays (after the sessions).
pub const DEFAULT_SESSION_ID: u8 = 0;

impl<F> SharedSet<F> {
    /// Compiles `set` with `make` for each filter; `ids[i]` is session `i`'s id.
    pub fn compile(
        set: &SessionSet,
        ids: &[u8],
        make: FilterCompiler<F>,
    ) -> Result<SharedSet<F>, String> {
        let mut by_vni: HashMap<u32, Vec<u16>> = HashMap::new();
        let mut sessions = Vec::with_capacity(set.sessions.len());
        for (i, s) in set.sessions.iter().enumerate() {
            for v in &s.vni {
                let e = by_vni.entry(*v).or_default();
                if !e.contains(&(i as u16)) {
                    e.push(i as u16);
                }
            }
            sessions.push(CompiledSession {
                name: s.name.clone(),
                id: ids[i],
                sources: s.source.clone(),
                policy: CompiledPolicy::compile(&s.policy, &mut *make)
                    .map_err(|e| format!("session {:?}: {e}", s.name))?,
            });
        }
        let default =
            CompiledPolicy::compile(&set.default, make).map_err(|e| format!("default: {e}"))?;
        let plain = sessions.is_empty() && default.is_plain();
        Ok(SharedSet {
            by_vni,
            sessions,
            default,
            plain,
        })
    }

    /// The session of a packet of `vni` from `src`: its index, or None for the default.
    #[inline]
    pub fn lookup(&self, vni: u32, src: IpAddr) -> Option<usize> {
        let list = self.by_vni.get(&vni)?;
        list.iter().map(|&i| i as usize).find(|&i| {
            let s = &self.sessions[i];
            s.sources.is_empty() || s.sources.iter().any(|c| c.contains(src))
        })
    }
}

/// A worker's view of a session set: the shared part and its own mutable state, built by
/// the control core (allocations happen there) and handed to the worker whole.
pub struct WorkerSessions<F> {
    pub shared: Arc<SharedSet<F>>,
    /// Per session index, then the default last.
    dedup: Vec<Option<DedupTable>>,
    sample: Vec<u64>,
}

/// Why a session did not keep a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    Dropped,
    Filtered,
    Duplicate,
    SampledOut,
}

impl<F> WorkerSessions<F> {
    pub fn new(shared: Arc<SharedSet<F>>) -> Self {
        let n = shared.sessions.len() + 1;
        let policies = shared
            .sessions
            .iter()
            .map(|s| &s.policy)
            .chain(std::iter::once(&shared.default));
        let dedup = policies
            .map(|p| (p.dedup_ns > 0).then(|| DedupTable::new(p.dedup_ns)))
            .collect();
        WorkerSessions {
            shared,
            dedup,
            sample: vec![0; n],
        }
    }

    /// The policy and session id of session `idx` (None: the default).
    #[inline]
    pub fn policy(&self, idx: Option<usize>) -> (&CompiledPolicy<F>, u8) {
        match idx {
            Some(i) => {
                let s = &self.shared.sessions[i];
                (&s.policy, s.id)
            }
            None => (&self.shared.default, DEFAULT_SESSION_ID),
        }
    }

    /// Applies session `idx`'s policy (after its action and filter said keep): duplicates
    /// within the window, then 1-in-N sampling.
    #[inline]
    pub fn admit(
        &mut self,
        idx: Option<usize>,
        inner: &[u8],
        ethernet: bool,
        ts_ns: u64,
    ) -> Result<(), Refused> {
        let k = idx.unwrap_or(self.shared.sessions.len());
        if let Some(t) = &mut self.dedup[k] {
            if t.seen(frame_hash(inner, ethernet), ts_ns) {
                return Err(Refused::Duplicate);
            }
        }
        let p = match idx {
            Some(i) => self.shared.sessions[i].policy.sample,
            None => self.shared.default.sample,
        };
        if p > 1 {
            self.sample[k] += 1;
            if !self.sample[k].is_multiple_of(p) {
                return Err(Refused::SampledOut);
            }
        }
        Ok(())
    }
}
