//! Storing one segment: the spooler encodes it ([`Encoder`], fed while the segment is read)
//! and hands the file to its disk thread ([`IoThread`]), which writes and publishes it while
//! the spooler goes on to the next segment; [`Spooler::settle`] waits for that file and counts
//! it, or on failure removes what it left (its temporary files, and its data file if the index
//! did not follow: the cursor did not move, so the next poll stores the segment again under
//! the same name). A reader never sees a partial file, and a full disk keeps no half-written
//! file taking its space.

use super::io::{IoThread, Job};
use super::{SpoolReport, Spooler};
use crate::file_paths;
use crate::odirect::AlignedBuf;
use crate::segment::Encoder;
use crate::storedir::{io_err, temp_path, Cursor};
use mirrorcap_ring::reader::SegmentRead;
use std::path::{Path, PathBuf};

impl Spooler {
    /// Finishes the encoding of the records `read.spans[skip..]` of the segment read into
    /// `seg` as store file `name` (zstd: into `out`) and hands it to the disk thread, once the
    /// file before it is in place; `cursor` is where storing stands when this one is.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn submit_file(
        &mut self,
        name: String,
        mut seg: AlignedBuf,
        mut out: AlignedBuf,
        enc: Encoder,
        read: &SegmentRead,
        skip: usize,
        cursor: Cursor,
        rep: &mut SpoolReport,
    ) -> crate::Result<()> {
        let (spans, metas) = (&read.spans[skip..], &read.metas[skip..]);
        let encoded = enc.finish(
            &mut seg,
            read.canonical,
            spans,
            metas,
            self.compressor.as_mut(),
            &mut out,
        );
        let (buf, spare) = match &encoded {
            Ok(e) if !e.in_place => (out, seg),
            _ => (seg, out),
        };
        self.bufs.push(spare);
        let encoded = match encoded {
            Ok(e) => e,
            Err(e) => {
                self.bufs.push(buf);
                return Err(e);
            }
        };
        // The CPU's work on this file is done: now the disk must be free for it.
        if let Err(e) = self.settle(rep) {
            self.bufs.push(buf);
            return Err(e);
        }
        let (data, index) = file_paths(&self.dir, &name, self.opts.store.compression);
        let job = Job {
            data,
            index,
            dir: self.dir.clone(),
            direct: self.opts.direct,
            buf,
            write_len: encoded.write_len,
            data_len: encoded.data_len,
            index_bytes: encoded.index_bytes,
            fidx_bytes: encoded.fidx_bytes,
            flows_bytes: encoded.flows_bytes,
            cursor,
            records: spans.len() as u64,
            captured: spans.iter().map(|s| s.record_len() as u64).sum(),
            newest_ns: spans.iter().map(|s| s.ts_ns).max(),
        };
        self.io()?.submit(job);
        Ok(())
    }

    /// Waits for the file in flight (if any) and counts it, or cleans up after it and returns
    /// its error.
    pub(super) fn settle(&mut self, rep: &mut SpoolReport) -> crate::Result<()> {
        let Some(io) = self.io.as_mut() else {
            return Ok(());
        };
        let Some(done) = io.wait()? else {
            return Ok(());
        };
        let job = done.job;
        let result = done.result;
        let sidecars: Vec<PathBuf> = job.sidecars().into_iter().map(|(p, _)| p).collect();
        self.bufs.push(job.buf);
        match result {
            Ok(mode) => {
                rep.io_mode = Some(mode);
                rep.bytes_data += job.data_len;
                rep.bytes_index += job.index_bytes.len() as u64;
                rep.bytes_flow_index += job.fidx_bytes.as_ref().map_or(0, |b| b.len() as u64);
                rep.bytes_flow_records += job.flows_bytes.as_ref().map_or(0, |b| b.len() as u64);
                rep.segments_stored += 1;
                rep.records_stored += job.records;
                rep.bytes_captured += job.captured;
                self.newest_ns = self.newest_ns.max(job.newest_ns);
                // Not written to the cursor file: the newest store file says the same (see
                // `open`), and one fsync less per file is disk time for the data.
                self.cursor = Some(job.cursor);
                Ok(())
            }
            Err(e) => {
                self.discard(&temp_path(&job.data), None);
                self.discard(&temp_path(&job.index), None);
                for path in &sidecars {
                    self.discard(&temp_path(path), None);
                    if done.published {
                        self.discard(path, Some(&job.index));
                    }
                }
                if done.published {
                    self.discard(&job.data, Some(&job.index));
                }
                Err(e)
            }
        }
    }

    /// A buffer for a segment or a compressed file: a spare one, else a new mapping (at most
    /// three are ever in use: the segment read, the file it is compressed into, the file in
    /// flight).
    pub(super) fn take_buf(&mut self) -> crate::Result<AlignedBuf> {
        match self.bufs.pop() {
            Some(b) => Ok(b),
            None => AlignedBuf::new().map_err(io_err("map aligned buffer", Path::new("anon"))),
        }
    }

    /// The disk thread, started at first use: from the store thread, whose CPU it inherits.
    fn io(&mut self) -> crate::Result<&mut IoThread> {
        if self.io.is_none() {
            let name = format!("mc-store-{:02}-io", self.worker);
            let t = IoThread::start(name).map_err(io_err("start store disk thread", &self.dir))?;
            self.io = Some(t);
        }
        Ok(self.io.as_mut().expect("just started"))
    }
}
