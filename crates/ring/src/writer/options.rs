//! What a ring writer is opened with and reports: its options, its overwrite/stop policy,
//! what opening found, and the counters the worker owns.

/// Counters kept by the writer (plain integers: the worker owns them and publishes copies).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingStats {
    pub packets: u64,
    /// Bytes appended to segments, record headers included.
    pub bytes: u64,
    pub segments_sealed: u64,
    pub segments_overwritten: u64,
    /// Segments found live at open (left by a crash) and trimmed to their committed length.
    pub segments_recovered: u64,
    /// Records that could not be written because a rotation failed (I/O error, e.g. no
    /// space to reserve the next segment's blocks again).
    pub write_errors: u64,
    /// Failed rotations that later succeeded (the helper prepared the segment once space
    /// came back): writing resumed.
    pub rotations_recovered: u64,
    /// Records refused because the ring is full under [`RingPolicy::Stop`].
    pub ring_full: u64,
    /// Rotations (with the background helper) whose next segment was not prepared in time:
    /// the worker used it as it was (still full size: no syscall) or extended its file
    /// itself (one `ftruncate`), and its pages fault in as they are written.
    pub rotations_unprepared: u64,
}

/// How a writer rotates its segments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingOptions {
    /// Trim sealed segments and prepare the next one (extend, pre-fault) on a helper thread
    /// (`mc-ring-NN`), so rotation on the worker does no syscall. Off: the worker trims and
    /// extends the files itself when it rotates (what [`RingWriter::open`] does).
    pub background: bool,
    /// With `background`: prepare the next segment ahead of need (when the live one is half
    /// full). Off only to exercise the worker's fallback: the helper then only trims.
    pub prepare_ahead: bool,
}

impl Default for RingOptions {
    fn default() -> Self {
        RingOptions {
            background: false,
            prepare_ahead: true,
        }
    }
}

impl RingOptions {
    /// Rotation work on the helper thread, next segment prepared ahead.
    pub fn background() -> Self {
        RingOptions {
            background: true,
            prepare_ahead: true,
        }
    }
}

/// What happens when every segment holds data and the live one is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RingPolicy {
    /// Reuse the oldest segment: the ring keeps the newest data.
    #[default]
    Overwrite,
    /// Keep what the ring holds and refuse new records (counted as `ring_full` drops).
    Stop,
}

/// Result of opening a worker's ring: what was found.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenReport {
    pub existing_segments: u32,
    pub recovered_segments: u32,
}
