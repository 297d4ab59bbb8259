//! The helper thread's side: its view of the ring ([`Helper`]) and its loop — trim what the
//! worker sealed, prepare (extend, pre-fault) the next segment ahead of need, retry after
//! errors — holding a segment only for one file operation at a time ([`Held`]).
use super::*;

/// A segment taken out of its cell by the helper; put back when dropped (also if the
/// helper panics, so the worker never waits for a segment nobody holds).
struct Held<'a> {
    cell: &'a HandOff<Segment>,
    seg: Option<Box<Segment>>,
}

impl std::ops::Deref for Held<'_> {
    type Target = Segment;
    fn deref(&self) -> &Segment {
        self.seg.as_ref().expect("held")
    }
}

impl std::ops::DerefMut for Held<'_> {
    fn deref_mut(&mut self) -> &mut Segment {
        self.seg.as_mut().expect("held")
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.seg.take() {
            // The cell was emptied by our take; only we put into it.
            let _ = self.cell.put(s);
        }
    }
}

/// The helper's view of the ring.
pub(super) struct Helper {
    pub(super) shared: Arc<Shared>,
    pub(super) control: ControlView,
    pub(super) segments: usize,
    pub(super) size: u64,
    /// The live segment at start and its seq: seq `s` is in segment
    /// `(base_index + s - base_seq) % segments` (each rotation moves on by one).
    pub(super) base_index: usize,
    pub(super) base_seq: u64,
    pub(super) prepare_ahead: bool,
}

impl Helper {
    fn index_of(&self, seq: u64) -> usize {
        ((self.base_index as u64 + (seq - self.base_seq)) % self.segments as u64) as usize
    }

    fn take(&self, i: usize) -> Option<Held<'_>> {
        let cell = &self.shared.cells[i];
        cell.take().map(|s| Held { cell, seg: Some(s) })
    }

    fn stopping(&self) -> bool {
        self.shared.stop.load(Ordering::Acquire)
    }

    fn count(&self, c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn run(self, base_off: u64) {
        // The live segment at start was extended by the worker at open, nothing pre-faulted:
        // pre-fault its free part while the worker writes it (the advice touches no byte).
        if self.prepare_ahead {
            let _ = self.populate(self.base_index, self.base_seq, base_off, false);
        }
        let mut next_trim = self.base_seq;
        // Seq of the live segment whose successor was prepared (or given up on).
        let mut prepared_for = 0u64;
        let mut last_retry = std::time::Instant::now();
        while !self.stopping() {
            let mut worked = false;
            let pin = self.shared.pin_to.swap(0, Ordering::Relaxed);
            if pin != 0 {
                core_affinity::set_for_current(core_affinity::CoreId {
                    id: pin as usize - 1,
                });
            }
            if last_retry.elapsed() >= RETRY_EVERY {
                last_retry = std::time::Instant::now();
                self.retry_failed();
            }
            let sealed = self.shared.sealed_seq.load(Ordering::Acquire);
            // Seqs older than the last `segments` seals are in reused segments.
            next_trim = next_trim.max((sealed + 1).saturating_sub(self.segments as u64));
            while next_trim <= sealed && !self.stopping() {
                self.trim(next_trim);
                next_trim += 1;
                worked = true;
            }
            let live = self.shared.live_seq.load(Ordering::Acquire);
            if self.prepare_ahead && live != 0 && live != prepared_for && self.half_full(live) {
                self.prepare_after(live);
                prepared_for = live;
                worked = true;
            }
            if !worked {
                std::thread::sleep(IDLE_SLEEP);
            }
        }
    }

    /// After a failed rotation (see `RingWriter::retry_rotation`): extends the segment the
    /// worker could not activate, which reserves its blocks again; once that succeeds it is
    /// marked ready for the worker (its pages fault in as the worker writes them).
    fn retry_failed(&self) {
        let next = self.shared.failed_next.load(Ordering::Acquire);
        if next == 0 || self.shared.retry_ready.load(Ordering::Acquire) {
            return;
        }
        let Some(mut seg) = self.take(next as usize - 1) else {
            return;
        };
        match seg.extend_ahead() {
            Ok(Ahead::Live) => {}
            Ok(_) => self.shared.retry_ready.store(true, Ordering::Release),
            Err(_) => self.count(&self.shared.errors),
        }
    }

    /// Trims the segment sealed with `seq`, unless it changed since.
    fn trim(&self, seq: u64) {
        let Some(mut seg) = self.take(self.index_of(seq)) else {
            // The worker writes it again.
            self.count(&self.shared.stale);
            return;
        };
        match seg.prep {
            Prep::Sealed { seq: s, len } if s == seq => match seg.trim(len) {
                Ok(()) => self.count(&self.shared.trimmed),
                Err(_) => self.count(&self.shared.errors),
            },
            _ => self.count(&self.shared.stale),
        }
    }

    /// Whether the live segment `live` holds half its size in committed records.
    fn half_full(&self, live: u64) -> bool {
        let e = Entry::of(self.control.words(), self.index_of(live)).expect("index in range");
        e.load(E_SEQ, Ordering::Acquire) == live
            && e.load(E_COMMITTED, Ordering::Acquire) >= self.size / 2
    }

    /// Prepares the segment after the live one `live`: extends its file (holding it for
    /// that one syscall), pre-faults the part of its mapping the trim released (without
    /// holding it: `madvise` touches no byte, and the file cannot shrink meanwhile since only
    /// this thread trims), then marks it ready. The worker that needs it meanwhile takes it
    /// as it is.
    fn prepare_after(&self, live: u64) {
        let next = (self.index_of(live) + 1) % self.segments;
        if self.shared.stop_policy.load(Ordering::Relaxed) {
            let e = Entry::of(self.control.words(), next).expect("index in range");
            if e.load(E_SEQ, Ordering::Acquire) != 0 {
                return; // a full Stop ring never reuses it
            }
        }
        let from = {
            let Some(mut seg) = self.take(next) else {
                return; // the worker moved on to it already
            };
            match seg.extend_ahead() {
                Ok(Ahead::Prefault(from)) => from,
                Ok(Ahead::Ready) => return self.count(&self.shared.prepared),
                Ok(Ahead::Live) => return,
                Err(_) => return self.count(&self.shared.errors),
            }
        };
        let how = match self.populate(next, live, from, true) {
            Ok(Some(how)) => how,
            Ok(None) => return, // stopping, or the worker moved on
            Err(_) => return self.count(&self.shared.errors),
        };
        self.shared.prefault.store(
            match how {
                Prefault::Populated => 1,
                Prefault::Touched => 2,
            },
            Ordering::Relaxed,
        );
        let Some(mut seg) = self.take(next) else {
            return;
        };
        // Still as this thread left it (only the helper extends ahead; the worker turns it
        // Live at once): ready now.
        if let Prep::Extended { len, faulted } = seg.prep {
            if faulted < self.size {
                seg.prep = Prep::Extended {
                    len,
                    faulted: self.size,
                };
                self.count(&self.shared.prepared);
            }
        }
    }

    /// Pre-faults segment `i` from byte `from` to its end, in steps, while the live segment
    /// is still `live`. None if it stopped early. `touch`: fall back to touching pages on
    /// kernels without MADV_POPULATE_WRITE (never for the live segment: that stores).
    fn populate(
        &self,
        i: usize,
        live: u64,
        from: u64,
        touch: bool,
    ) -> std::io::Result<Option<Prefault>> {
        let go_on = || !self.stopping() && self.shared.live_seq.load(Ordering::Acquire) == live;
        let mut at = from;
        while at < self.size {
            if !go_on() {
                return Ok(None);
            }
            let to = (at + POPULATE_STEP).min(self.size);
            if !self.shared.populators[i].populate(at as usize, to as usize)? {
                return if touch {
                    self.touch(i, live, at)
                } else {
                    Ok(None)
                };
            }
            at = to;
        }
        Ok(Some(Prefault::Populated))
    }

    /// The fallback for kernels without MADV_POPULATE_WRITE: touch one byte per page, which
    /// needs the segment held (it stores), so in small steps the worker can wait for.
    fn touch(&self, i: usize, live: u64, from: u64) -> std::io::Result<Option<Prefault>> {
        let mut at = from;
        while at < self.size {
            if self.stopping() || self.shared.live_seq.load(Ordering::Acquire) != live {
                return Ok(None);
            }
            let Some(mut seg) = self.take(i) else {
                return Ok(None);
            };
            if !matches!(seg.prep, Prep::Extended { .. }) {
                return Ok(None); // not as this thread left it: the file may not be full size
            }
            let to = (at + TOUCH_STEP).min(self.size);
            seg.map.prefault(at as usize, to as usize)?;
            at = to;
        }
        Ok(Some(Prefault::Touched))
    }
}
