//! The spooler's side of a failing disk: the worker directory created again when it was
//! removed (the store directory never is), and the files a failed write left behind removed,
//! at once or, on a read-only file system, at a later poll.

use super::{SpoolReport, Spooler};
use crate::storedir::{io_err, sync_dir, write_cursor};
use crate::StoreError;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

impl Spooler {
    /// Before each poll: the worker directory exists, or is created again inside the store
    /// directory (with the cursor, so storing goes on where it was). The store directory
    /// itself is never created here, nor written when it was a mount point at open and is
    /// no longer one: either may be a mount point whose file system went away, and the
    /// directory left below is on another disk (the root's). Storing resumes when it is back.
    pub(super) fn ensure_dir(&mut self, rep: &mut SpoolReport) -> crate::Result<()> {
        if self.dir.is_dir() {
            return Ok(());
        }
        let gone = |op| StoreError::Io {
            op,
            path: self.store_dir.clone(),
            source: std::io::Error::from_raw_os_error(libc::ENOENT),
        };
        if !self.store_dir.is_dir() {
            return Err(gone(
                "store directory removed (not created again: it may be an unmounted mount point)",
            ));
        }
        if self.mount_dev.is_some() && mount_dev(&self.store_dir).is_none() {
            return Err(gone(
                "store directory no longer a mount point (unmounted? nothing is written to the disk below it)",
            ));
        }
        std::fs::create_dir(&self.dir)
            .map_err(io_err("create worker store directory again", &self.dir))?;
        sync_dir(&self.store_dir)?;
        rep.dirs_recreated += 1;
        if let Some(c) = self.cursor {
            write_cursor(&self.dir, c)?;
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Removes `path` (unless `keep_if` exists), or remembers it for the next poll when the
    /// file system refuses now (read-only).
    pub(super) fn discard(&mut self, path: &Path, keep_if: Option<&Path>) {
        if keep_if.is_some_and(Path::exists) {
            return;
        }
        let refused =
            std::fs::remove_file(path).is_err_and(|e| e.kind() != std::io::ErrorKind::NotFound);
        if refused && !self.leftovers.iter().any(|(p, _)| p == path) {
            self.leftovers
                .push((path.to_path_buf(), keep_if.map(Path::to_path_buf)));
        }
    }

    pub(super) fn remove_leftovers(&mut self) {
        for (path, keep_if) in std::mem::take(&mut self.leftovers) {
            self.discard(&path, keep_if.as_deref());
        }
    }
}

/// The device of `store_dir` when it is a mount point (on another device than its parent).
pub(super) fn mount_dev(store_dir: &Path) -> Option<u64> {
    let dev = |p: &Path| std::fs::metadata(p).ok().map(|m| m.dev());
    let parent = store_dir.canonicalize().ok()?.parent()?.to_path_buf();
    let d = dev(store_dir)?;
    (Some(d) != dev(&parent)).then_some(d)
}
