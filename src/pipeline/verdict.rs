//! The outcome of one packet: [`Verdict`], and for every packet not captured exactly one
//! [`Drop`], which carries its pipeline [`Stage`], its metric label
//! (`mirrorcap_dropped_packets_total{stage, reason}`) and its operator help. Decap's reasons
//! come from `mirrorcap-decap`; the session and capture stages' are here. The counters,
//! the metric catalogue, the summary line and docs/drop-reasons.md (checked by
//! `tests/docs.rs`) all read [`Drop::ALL`].
#![forbid(unsafe_code)]
use mirrorcap_decap::DropReason;

/// Where in the pipeline a packet was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Decap,
    Session,
    Capture,
    /// After capture: the store threads' losses (`run --store-dir`), not a worker's.
    Store,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Decap => "decap",
            Stage::Session => "session",
            Stage::Capture => "capture",
            Stage::Store => "store",
        }
    }
}

/// Why a received packet was not captured. Each variant has its own counter, at
/// [`index`](Drop::index); new variants go at the end of their stage's list in [`Drop::ALL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drop {
    /// Not a well-formed mirror copy (see `DropReason`).
    Decap(DropReason),
    /// The packet's session (or the default) has `action = "drop"`.
    SessionDrop,
    /// The session's filter did not select the inner frame.
    Filtered,
    /// The session's de-duplication saw the same inner frame within its window.
    Duplicate,
    /// The session keeps 1 packet in N and this was not it.
    SampledOut,
    /// The frame did not fit one buffer.
    OversizeFrame,
    /// The ring could not rotate to its next segment (I/O error).
    RingWriteError,
    /// The ring is full and its policy is `stop`.
    RingFull,
}

/// Reasons counted after capture, by the store threads rather than a worker, in the same
/// metric family: packets the ring committed but overwrote before the store took them. Not
/// in [`Drop`], whose per-reason arrays the workers own; the pipeline never returns them.
pub const AFTER_CAPTURE: [(&str, Stage); 1] = [("store_overrun", Stage::Store)];

const AFTER_DECAP: [Drop; 7] = [
    Drop::SessionDrop,
    Drop::Filtered,
    Drop::Duplicate,
    Drop::SampledOut,
    Drop::OversizeFrame,
    Drop::RingWriteError,
    Drop::RingFull,
];

impl Drop {
    /// How many reasons there are (the length of every per-reason counter array).
    pub const COUNT: usize = DropReason::COUNT + AFTER_DECAP.len();

    /// Every reason in counter order: decap's, then the session stage's, then the capture
    /// stage's (`ALL[d.index()] == d`).
    pub const ALL: [Drop; Drop::COUNT] = {
        let mut all = [Drop::RingFull; Drop::COUNT];
        let mut i = 0;
        while i < DropReason::COUNT {
            all[i] = Drop::Decap(DropReason::ALL[i]);
            i += 1;
        }
        let mut j = 0;
        while j < AFTER_DECAP.len() {
            all[DropReason::COUNT + j] = AFTER_DECAP[j];
            j += 1;
        }
        all
    };

    /// The reason's counter slot.
    #[inline(always)]
    pub const fn index(self) -> usize {
        let after = match self {
            Drop::Decap(r) => return r as usize,
            Drop::SessionDrop => 0,
            Drop::Filtered => 1,
            Drop::Duplicate => 2,
            Drop::SampledOut => 3,
            Drop::OversizeFrame => 4,
            Drop::RingWriteError => 5,
            Drop::RingFull => 6,
        };
        DropReason::COUNT + after
    }

    pub fn stage(self) -> Stage {
        match self {
            Drop::Decap(_) => Stage::Decap,
            Drop::SessionDrop | Drop::Filtered | Drop::Duplicate | Drop::SampledOut => {
                Stage::Session
            }
            Drop::OversizeFrame | Drop::RingWriteError | Drop::RingFull => Stage::Capture,
        }
    }

    /// The stable metric label (`reason="…"`).
    pub fn label(self) -> &'static str {
        match self {
            Drop::Decap(r) => r.as_str(),
            Drop::SessionDrop => "session_drop",
            Drop::Filtered => "filtered",
            Drop::Duplicate => "duplicate",
            Drop::SampledOut => "sampled_out",
            Drop::OversizeFrame => "oversize_frame",
            Drop::RingWriteError => "ring_write_error",
            Drop::RingFull => "ring_full",
        }
    }

    /// One sentence for operators: what the reason means and what to do about it.
    pub fn help(self) -> &'static str {
        match self {
            Drop::Decap(r) => r.help(),
            Drop::SessionDrop => "The packet's session (or the default, for VNIs no session names) has action = \"drop\".",
            Drop::Filtered => "The session's filter did not select the inner frame.",
            Drop::Duplicate => "The session's de-duplication saw the same inner frame within its window (mirrored at both ends).",
            Drop::SampledOut => "The session keeps 1 packet in N (sample = N) and this was not it.",
            Drop::OversizeFrame => "The frame did not fit one mbuf (larger than a 9001-byte MTU frame plus tunnel headers); check the sender's MTU.",
            Drop::RingWriteError => "The ring could not rotate to its next segment (I/O error); check the ring directory's disk and the log.",
            Drop::RingFull => "The ring is full and --ring-policy is stop: it keeps what it holds; export it and clear the ring directory, or use overwrite.",
        }
    }

    /// The reason with metric label `label`.
    pub fn from_label(label: &str) -> Option<Drop> {
        Drop::ALL.into_iter().find(|d| d.label() == label)
    }
}

/// What the pipeline did with one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The mirrored frame (or the part the session keeps) is in the ring.
    Captured,
    /// Not mirror traffic, captured as it is (`--keep-unencapsulated`).
    Unencapsulated,
    /// Not captured, for this reason.
    Dropped(Drop),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_own_slot_label_and_stage_in_counter_order() {
        for (i, d) in Drop::ALL.into_iter().enumerate() {
            assert_eq!(d.index(), i, "{d:?}");
            assert_eq!(Drop::from_label(d.label()), Some(d));
            assert!(!d.help().is_empty());
        }
        let labels: std::collections::BTreeSet<_> = Drop::ALL.iter().map(|d| d.label()).collect();
        assert_eq!(labels.len(), Drop::COUNT, "labels are unique");
        // Stages come in pipeline order, so the counters read decap, session, capture.
        let stages: Vec<Stage> = Drop::ALL.iter().map(|d| d.stage()).collect();
        let mut sorted = stages.clone();
        sorted.sort_by_key(|s| *s as u8);
        assert_eq!(stages, sorted);
    }
}
