//! How far one worker's store files are archived (uploaded to S3): the mark the uploader
//! moves forward as each file's objects are complete, and retention reads before it deletes.
//!
//! Files are uploaded oldest first, one at a time per worker, so one position says it all:
//! every store file at or before the mark (in the store's own order: first packet time, seq,
//! from) is archived. The mark is kept in `STORE/worker-NN/archived` (written atomically and
//! synced after each file), so a restarted uploader goes on from the file after it; a file
//! whose upload was cut off is uploaded again whole under the same keys, which replaces the
//! objects rather than duplicating them.

use crate::storedir::{io_err, parse_name, write_atomic, StoredFile};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The mark's file in a worker's store directory.
pub const MARK_FILE: &str = "archived";
const MAGIC: &str = "mirrorcap-archive-mark 1";

/// (first packet ns, seq, from): the store's order of files.
type Position = (u64, u64, u64);

/// A worker's archive mark, shared by its uploader and its store thread's retention.
#[derive(Clone, Debug, Default)]
pub struct ArchiveMark {
    at: Arc<Mutex<Option<Position>>>,
    /// Retention may not delete a file before it is archived.
    required: bool,
}

impl ArchiveMark {
    /// The mark kept in `dir` (none yet: nothing archived).
    pub fn load(dir: &Path, required: bool) -> crate::Result<Self> {
        let path = dir.join(MARK_FILE);
        let at = match std::fs::read_to_string(&path) {
            Ok(s) => {
                let mut lines = s.lines();
                let pos = (lines.next() == Some(MAGIC))
                    .then(|| lines.next().and_then(parse_name))
                    .flatten();
                match pos {
                    Some((ts, _, seq, from)) => Some((ts, seq, from)),
                    None => {
                        return Err(crate::StoreError::Corrupt {
                            op: "read archive mark",
                            path,
                            what: "not a mirrorcap archive mark".into(),
                        })
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err("read archive mark", &path)(e)),
        };
        Ok(ArchiveMark {
            at: Arc::new(Mutex::new(at)),
            required,
        })
    }

    pub fn required(&self) -> bool {
        self.required
    }

    /// Whether `f` is archived.
    pub fn archived(&self, f: &StoredFile) -> bool {
        let at = *self.at.lock().unwrap_or_else(|e| e.into_inner());
        at.is_some_and(|at| position(f) <= at)
    }

    /// Records that `f` (in `dir`) and every file before it are archived: on disk first, so
    /// retention never deletes on a mark a crash would take back.
    pub fn advance(&self, dir: &Path, f: &StoredFile) -> crate::Result<()> {
        write_atomic(
            &dir.join(MARK_FILE),
            format!("{MAGIC}\n{}\n", f.name).as_bytes(),
        )?;
        let mut at = self.at.lock().unwrap_or_else(|e| e.into_inner());
        *at = Some(position(f).max(at.unwrap_or_default()));
        Ok(())
    }
}

fn position(f: &StoredFile) -> Position {
    (f.first_ts_ns, f.seq, f.from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storedir::file_name;
    use std::path::PathBuf;

    fn file(ts: u64, seq: u64) -> StoredFile {
        StoredFile {
            name: file_name(ts, 0x17, seq, 24),
            first_ts_ns: ts,
            generation: 0x17,
            seq,
            from: 24,
            data: PathBuf::new(),
            index: PathBuf::new(),
            remote: None,
        }
    }

    #[test]
    fn the_mark_survives_a_restart_and_only_moves_forward() {
        let d = tempfile::tempdir().unwrap();
        let m = ArchiveMark::load(d.path(), true).unwrap();
        assert!(!m.archived(&file(10, 1)));
        m.advance(d.path(), &file(20, 2)).unwrap();
        assert!(m.archived(&file(10, 1)) && m.archived(&file(20, 2)));
        assert!(!m.archived(&file(30, 3)));
        let again = ArchiveMark::load(d.path(), true).unwrap();
        assert!(again.archived(&file(20, 2)) && !again.archived(&file(30, 3)));
        std::fs::write(d.path().join(MARK_FILE), "junk").unwrap();
        assert!(ArchiveMark::load(d.path(), true).is_err());
    }
}
