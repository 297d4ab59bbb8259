//! `RING_DIR/sessions`: which configured session each record's session id (1..=254, stored
//! in the record index) stands for. A session keeps its id across reloads and restarts, so
//! records written before a reload or a restart keep their names. One `ID NAME` line each;
//! written whole to a temporary file and renamed over the old one.
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Ids available to configured sessions: 1..=254.
pub const CONFIGURED_IDS: usize = 254;

pub fn sessions_path(ring: &Path) -> PathBuf {
    ring.join("sessions")
}

/// Names by id (index 0 unused). A missing or unreadable file names nothing; malformed
/// lines are skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionNames {
    names: Vec<Option<String>>,
}

impl SessionNames {
    pub fn read(ring: &Path) -> SessionNames {
        let mut names = vec![None; CONFIGURED_IDS + 1];
        if let Ok(text) = std::fs::read_to_string(sessions_path(ring)) {
            for line in text.lines() {
                let Some((id, name)) = line.split_once(' ') else {
                    continue;
                };
                if let Ok(s) = id.parse::<usize>() {
                    if (1..=CONFIGURED_IDS).contains(&s) && !name.is_empty() {
                        names[s] = Some(name.to_string());
                    }
                }
            }
        }
        SessionNames { names }
    }

    /// The name of id `id`, if a session was given it.
    pub fn name(&self, id: u8) -> Option<&str> {
        self.names.get(id as usize).and_then(|n| n.as_deref())
    }

    /// Ids for `wanted` (in order): a name keeps the id it had; a new name takes a free
    /// id, else the id of a name no longer wanted.
    pub fn assign(&mut self, wanted: &[&str]) -> Result<Vec<u8>, String> {
        if wanted.len() > CONFIGURED_IDS {
            return Err(format!("at most {CONFIGURED_IDS} sessions"));
        }
        self.names.resize(CONFIGURED_IDS + 1, None);
        let mut out = Vec::with_capacity(wanted.len());
        for w in wanted {
            let id = match self.names.iter().position(|n| n.as_deref() == Some(w)) {
                Some(s) => s,
                None => {
                    let free = (1..=CONFIGURED_IDS)
                        .find(|&s| self.names[s].is_none())
                        .or_else(|| {
                            (1..=CONFIGURED_IDS).find(|&s| {
                                !wanted.contains(&self.names[s].as_deref().unwrap_or_default())
                            })
                        });
                    let s = free.ok_or_else(|| format!("no session id left for {w:?}"))?;
                    self.names[s] = Some(w.to_string());
                    s
                }
            };
            out.push(id as u8);
        }
        Ok(out)
    }

    /// Writes the file (mode 0640) atomically.
    pub fn write(&self, ring: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(ring)?;
        let tmp = ring.join(".sessions.tmp");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o640)
            .open(&tmp)?;
        super::group_access::adopt(&f, &tmp)?;
        for (s, n) in self.names.iter().enumerate() {
            if let Some(n) = n {
                writeln!(f, "{s} {n}")?;
            }
        }
        f.sync_all()?;
        std::fs::rename(&tmp, sessions_path(ring))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_their_slots_across_reloads_and_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let mut n = SessionNames::read(dir.path());
        assert_eq!(n.assign(&["web", "db"]).unwrap(), vec![1, 2]);
        n.write(dir.path()).unwrap();
        let mut again = SessionNames::read(dir.path());
        assert_eq!(again.name(2), Some("db"));
        // Reordered, one removed, one added: kept names keep ids, the new one a free id.
        assert_eq!(again.assign(&["db", "dns"]).unwrap(), vec![2, 3]);
        assert_eq!(again.name(1), Some("web"), "old records keep their name");
        std::fs::write(sessions_path(dir.path()), "x y\n300 big\n4 ok\n").unwrap();
        let r = SessionNames::read(dir.path());
        assert_eq!(r.name(4), Some("ok"));
        assert_eq!(r.name(0), None);
    }

    #[test]
    fn full_slots_are_reused_from_names_no_longer_wanted() {
        let mut n = SessionNames::default();
        let many: Vec<String> = (0..CONFIGURED_IDS).map(|i| format!("s{i}")).collect();
        let refs: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
        n.assign(&refs).unwrap();
        assert_eq!(n.assign(&["s5", "new"]).unwrap(), vec![6, 1]);
        let mut too_many = refs.clone();
        too_many.push("one-more");
        assert!(n.assign(&too_many).unwrap_err().contains("at most 254"));
    }
}
