//! What the spooler says about its work: [`SpoolReport`] for one poll and, summed, for all of
//! them, and [`Lag`], how far the store is behind the ring, which every poll measures (even one
//! that failed: a failing store shows what waits for it).

use super::{pending, Spooler};
use crate::odirect::IoMode;
use mirrorcap_ring::pcapfmt::FILE_HEADER_LEN;
use mirrorcap_ring::reader::WorkerReader;

/// What one [`Spooler::poll`] did (or, from [`Spooler::totals`], all polls so far).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpoolReport {
    /// Store files written: one per ring segment (or continued part of one).
    pub segments_stored: u64,
    pub records_stored: u64,
    /// Captured bytes stored: the segments' pcap records, headers included.
    pub bytes_captured: u64,
    /// Bytes of the data files written (what the disk took), and of their indexes.
    pub bytes_data: u64,
    pub bytes_index: u64,
    /// Bytes of the flow index sidecars written (`NAME.fidx`).
    pub bytes_flow_index: u64,
    /// Bytes of the flow records written (`NAME.flows.parquet`).
    pub bytes_flow_records: u64,
    /// Sealed segments that held no record (nothing to store).
    pub empty_segments: u64,
    /// Segments the ring overwrote before they were stored (`store_overrun`).
    pub overrun_segments: u64,
    /// Packets of those: the count the control file gave when a poll last saw the segment
    /// (a segment the ring started and overwrote between two polls, never seen, counts only
    /// in `overrun_segments`; a segment last seen live counts what it held then).
    pub overrun_packets: u64,
    /// The ring's seqs went back below the cursor (the ring was recreated): storing restarted.
    pub ring_resets: u64,
    /// Times the store, chasing the ring's tail (a segment overwritten while it was read),
    /// skipped to the newest sealed segment (the skipped ones are in `overrun_segments`).
    pub skips_ahead: u64,
    /// Store files deleted by retention in this poll, oldest first (empty in the totals), and
    /// their bytes (data and index).
    pub deleted: Vec<String>,
    /// How many files retention deleted (in [`Spooler::totals`], which keeps the count and not
    /// the names: a store that runs for weeks deletes files by the hundred thousand).
    pub deleted_files: u64,
    pub deleted_bytes: u64,
    /// Of those, files not yet archived (an archive that is not `required`), and their bytes.
    pub deleted_unarchived: u64,
    pub deleted_unarchived_bytes: u64,
    /// After the poll: retention kept files over the budget because they are not archived
    /// yet (a `required` archive).
    pub held_for_archive: bool,
    /// After the poll: bytes of the store directory and its oldest packet (Unix ns).
    pub store_bytes: u64,
    pub oldest_stored_ns: Option<u64>,
    /// After the poll: the newest packet the store holds (Unix ns), so newest minus oldest is
    /// the store's retention (`mirrorcap_store_retention_seconds`).
    pub newest_stored_ns: Option<u64>,
    /// After the poll: sealed segments (and their bytes) not yet stored.
    pub lag_segments: u64,
    pub lag_bytes: u64,
    /// After the poll: how far the store is behind the ring's sealed segments in capture
    /// time, ns: the newest sealed packet not yet stored minus the newest stored one (0 when
    /// the store has every sealed segment).
    pub lag_ns: u64,
    /// How the last data file was written.
    pub io_mode: Option<IoMode>,
    /// Times the worker directory had been removed and was created again (storing goes on
    /// from the cursor; what the ring overwrote meanwhile is counted as overrun).
    pub dirs_recreated: u64,
}

impl SpoolReport {
    /// Captured bytes per byte of data file (padding included); `None` before any file.
    pub fn compression_ratio(&self) -> Option<f64> {
        (self.bytes_data > 0).then(|| self.bytes_captured as f64 / self.bytes_data as f64)
    }

    pub(super) fn add(&mut self, p: &SpoolReport) {
        self.segments_stored += p.segments_stored;
        self.records_stored += p.records_stored;
        self.bytes_captured += p.bytes_captured;
        self.bytes_data += p.bytes_data;
        self.bytes_index += p.bytes_index;
        self.bytes_flow_index += p.bytes_flow_index;
        self.bytes_flow_records += p.bytes_flow_records;
        self.empty_segments += p.empty_segments;
        self.overrun_segments += p.overrun_segments;
        self.overrun_packets += p.overrun_packets;
        self.ring_resets += p.ring_resets;
        self.skips_ahead += p.skips_ahead;
        self.deleted_files += p.deleted_files;
        self.deleted_bytes += p.deleted_bytes;
        self.deleted_unarchived += p.deleted_unarchived;
        self.deleted_unarchived_bytes += p.deleted_unarchived_bytes;
        self.held_for_archive = p.held_for_archive;
        self.store_bytes = p.store_bytes;
        self.oldest_stored_ns = p.oldest_stored_ns;
        self.newest_stored_ns = p.newest_stored_ns;
        self.lag_segments = p.lag_segments;
        self.lag_bytes = p.lag_bytes;
        self.lag_ns = p.lag_ns;
        self.io_mode = p.io_mode.or(self.io_mode);
        self.dirs_recreated += p.dirs_recreated;
    }
}

/// What [`Spooler::lag`] measures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lag {
    pub segments: u64,
    pub bytes: u64,
    /// Capture time, ns: newest sealed packet not stored minus newest stored (0: caught up).
    pub ns: u64,
}

impl Spooler {
    pub(super) fn measure_lag(&self, rep: &mut SpoolReport) -> crate::Result<()> {
        let lag = self.lag()?;
        rep.lag_segments = lag.segments;
        rep.lag_bytes = lag.bytes;
        rep.lag_ns = lag.ns;
        Ok(())
    }

    /// How far the store is behind the ring now: sealed segments not yet stored, their bytes,
    /// and the capture time between the newest of their packets and the newest stored one.
    pub fn lag(&self) -> crate::Result<Lag> {
        let mut lag = Lag::default();
        if !mirrorcap_ring::layout::control_path(&self.ring).exists() {
            return Ok(lag);
        }
        let reader = WorkerReader::open(&self.ring)?;
        let mut span: Option<(u64, u64)> = None; // oldest first_ts, newest last_ts pending
        for s in reader.segments().iter().filter(|s| pending(s, self.cursor)) {
            let done = match self.cursor {
                Some(c) if c.seq == s.seq => c.committed,
                _ => FILE_HEADER_LEN as u64,
            };
            lag.segments += 1;
            lag.bytes += s.committed.saturating_sub(done);
            if s.packets > 0 {
                let (lo, hi) = span.unwrap_or((s.first_ts, s.last_ts));
                span = Some((lo.min(s.first_ts), hi.max(s.last_ts)));
            }
        }
        if let Some((oldest, newest)) = span {
            lag.ns = newest.saturating_sub(self.newest_ns.unwrap_or(oldest));
        }
        Ok(lag)
    }
}
