//! `tail --from-start` over stores: each worker's store files older than where the ring's
//! tail starts, streamed as history before (and merged with) the ring.

use super::{next_block, workers, ToRead};
use crate::storedir::{list, same_ring};
use crate::StoreIndex;
use mirrorcap_ring::reader::Record;
use mirrorcap_ring::tail::{History, StartAt};
use mirrorcap_ring::{RingError, SessionFilter};
use std::collections::VecDeque;
use std::path::PathBuf;

/// One worker's store files as `tail --from-start` history: the files of segments older than
/// the one the tail starts the ring at, in (seq, from) order, records of `sessions` only.
struct StoreHistory {
    files: VecDeque<ToRead>,
    pending: VecDeque<Record>,
    sessions: SessionFilter,
}

impl History for StoreHistory {
    fn peek_ts(&mut self) -> Result<Option<u64>, RingError> {
        while self.pending.is_empty() {
            let Some((recs, _)) =
                next_block(&mut self.files).map_err(|e| RingError::Config(e.to_string()))?
            else {
                return Ok(None);
            };
            let keep = recs.into_iter().filter(|r| self.sessions.keeps(r.meta));
            self.pending.extend(keep);
        }
        Ok(self.pending.front().map(|r| r.ts_ns))
    }

    fn pop(&mut self) -> Option<Record> {
        self.pending.pop_front()
    }
}

/// The history `tail --from-start` streams from the stores in `dirs` before (and merged with)
/// the ring: for each worker, the store files of seqs before the one the ring's tail starts at
/// (`starts`; every file of a worker the ring does not have). The ring holds the rest: a
/// segment in both is read from the ring, which is where the tail goes on.
pub fn tail_history(
    dirs: &[PathBuf],
    starts: &[StartAt],
    sessions: &SessionFilter,
) -> crate::Result<Vec<Box<dyn History>>> {
    let mut out: Vec<Box<dyn History>> = Vec::new();
    for d in dirs {
        for (n, w) in workers(d)? {
            let start = starts.iter().find(|s| s.worker == n);
            let mut files = list(&w)?;
            // Before the ring's start: its earlier seqs, and every file of an older ring.
            files.retain(|f| {
                start.is_none_or(|s| !same_ring(f.generation, s.generation) || f.seq < s.seq)
            });
            files.sort_by_key(|f| (f.generation, f.seq, f.from));
            let mut to_read = VecDeque::new();
            for f in files {
                let index = StoreIndex::read(&f.index)?;
                to_read.push_back(ToRead::new(f, index, |b| b.records > 0));
            }
            out.push(Box::new(StoreHistory {
                files: to_read,
                pending: VecDeque::new(),
                sessions: sessions.clone(),
            }));
        }
    }
    Ok(out)
}
