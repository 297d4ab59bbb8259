//! Writing one store file and putting it into view: data under a temporary name (O_DIRECT where
//! the file system allows), fsync, rename, directory fsync, then the index the same way, so an
//! index in view always has its complete data file; on failure, nothing partial stays.

use super::{SpoolReport, Spooler};
use crate::odirect::{DataFile, IoMode};
use crate::storedir::{io_err, sync_dir, temp_path, write_atomic};
use crate::{file_paths, BlockWriter};
use mirrorcap_ring::reader::Record;
use std::path::Path;

impl Spooler {
    /// Writes and publishes one store file; on failure (disk full, read-only, directory
    /// gone) removes what it left: the temporary files, and the data file if its index did
    /// not follow (the cursor did not move, so the next poll stores the segment again under
    /// the same name). A reader never sees a partial file, and a full disk keeps no
    /// half-written file taking its space.
    pub(super) fn write_file(
        &mut self,
        name: String,
        part: &[Record],
        rep: &mut SpoolReport,
    ) -> crate::Result<()> {
        let (data, index) = file_paths(&self.dir, &name, self.opts.store.compression);
        let mut published = false;
        match self.publish(&data, &index, part, &mut published) {
            Ok((mode, data_len, index_len)) => {
                rep.io_mode = Some(mode);
                rep.bytes_data += data_len;
                rep.bytes_index += index_len;
                Ok(())
            }
            Err(e) => {
                self.discard(&temp_path(&data), None);
                self.discard(&temp_path(&index), None);
                if published {
                    self.discard(&data, Some(&index));
                }
                Err(e)
            }
        }
    }

    /// [`write_file`](Self::write_file)'s steps; sets `published` once the data file is in
    /// view. Returns how it wrote and the data and index lengths.
    fn publish(
        &mut self,
        data: &Path,
        index: &Path,
        part: &[Record],
        published: &mut bool,
    ) -> crate::Result<(IoMode, u64, u64)> {
        let tmp = temp_path(data);
        let mut f = DataFile::create(&tmp, self.opts.direct)?;
        let mut w = BlockWriter::new(self.opts.store)?;
        for r in part {
            w.push(r.ts_ns, r.orig_len, &r.data, r.meta)?;
            while let Some(b) = w.pop_ready() {
                f.write_at(b.offset, &b.bytes, &mut self.buf)?;
            }
        }
        let fin = w.finish()?;
        for b in fin.tail {
            f.write_at(b.offset, &b.bytes, &mut self.buf)?;
        }
        let mode = f.mode();
        let data_len = f.finish()?;
        std::fs::rename(&tmp, data).map_err(io_err("rename into place", data))?;
        *published = true;
        // The data's rename is durable before the index can appear: an index in view always
        // has its complete data file, on any file system (one more fsync per file).
        sync_dir(&self.dir)?;
        write_atomic(index, &fin.index_bytes)?;
        sync_dir(&self.dir)?;
        Ok((mode, data_len, fin.index_bytes.len() as u64))
    }
}
