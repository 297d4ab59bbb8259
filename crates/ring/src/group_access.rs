//! The ring's group (`run --ring-group NAME`): when set, every directory and file of the ring
//! is given that group as it is created, directories mode 0750 and files 0640, so the group's
//! members (an analyst running `tcpdump -r`, `mirrorcap export`) read captures without root
//! and nobody else does. Set once per process by `run` before any ring file exists; the ring's
//! creation points call [`adopt`] / [`adopt_dir`], which do nothing when no group is set.
use std::fs::{File, Permissions};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::OnceLock;

/// Mode of ring directories.
pub const DIR_MODE: u32 = 0o750;
/// Mode of ring files.
pub const FILE_MODE: u32 = 0o640;

static GROUP: OnceLock<u32> = OnceLock::new();

/// Resolves a group name from `/etc/group` (a number is taken as a GID, which also covers
/// groups that only a directory service knows). Read in-process: no subprocess, so the name
/// never reaches another program.
pub fn lookup(name: &str) -> Result<u32, String> {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
        return name
            .parse()
            .map_err(|_| format!("--ring-group {name}: not a valid GID"));
    }
    if name.is_empty() || name.contains([':', '\n', '/']) {
        return Err(format!("--ring-group {name:?}: not a group name"));
    }
    let groups = std::fs::read_to_string("/etc/group")
        .map_err(|e| format!("--ring-group {name}: cannot read /etc/group: {e}"))?;
    gid_in(&groups, name).ok_or_else(|| {
        format!(
            "--ring-group {name}: no such group in /etc/group (create it with groupadd --system {name}, or give its GID)"
        )
    })
}

/// The GID of `name` in the text of an `/etc/group` file.
fn gid_in(groups: &str, name: &str) -> Option<u32> {
    groups.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next() == Some(name))
            .then(|| f.nth(1)?.trim().parse().ok())
            .flatten()
    })
}

/// Sets the process's ring group. Only the first call counts (one ring per process).
pub fn set_group(gid: u32) {
    let _ = GROUP.set(gid);
}

/// The ring group, if one was set.
pub fn group() -> Option<u32> {
    GROUP.get().copied()
}

/// Gives a ring file just opened (or created) the ring group and mode 0640.
pub fn adopt(file: &File, path: &Path) -> std::io::Result<()> {
    let Some(gid) = group() else { return Ok(()) };
    let m = file.metadata()?;
    if m.gid() != gid {
        std::os::unix::fs::fchown(file, None, Some(gid)).map_err(|e| context("chown", path, e))?;
    }
    if m.mode() & 0o7777 != FILE_MODE {
        file.set_permissions(Permissions::from_mode(FILE_MODE))
            .map_err(|e| context("chmod", path, e))?;
    }
    Ok(())
}

/// Gives a ring directory the ring group and mode 0750.
pub fn adopt_dir(dir: &Path) -> std::io::Result<()> {
    let Some(gid) = group() else { return Ok(()) };
    let m = std::fs::metadata(dir)?;
    if m.gid() != gid {
        std::os::unix::fs::chown(dir, None, Some(gid)).map_err(|e| context("chown", dir, e))?;
    }
    if m.mode() & 0o7777 != DIR_MODE {
        std::fs::set_permissions(dir, Permissions::from_mode(DIR_MODE))
            .map_err(|e| context("chmod", dir, e))?;
    }
    Ok(())
}

fn context(op: &str, path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(
        e.kind(),
        format!("{op} {} to the ring group: {e}", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_gid_of_a_name_in_etc_group() {
        let g = "root:x:0:\nadm:x:4:syslog,ubuntu\nbad line\nmirrorcap-readers:x:997:\n";
        assert_eq!(gid_in(g, "adm"), Some(4));
        assert_eq!(gid_in(g, "mirrorcap-readers"), Some(997));
        assert_eq!(gid_in(g, "ad"), None);
        assert_eq!(gid_in(g, "nobody"), None);
    }

    #[test]
    fn groups_resolve_by_name_and_number_and_unknown_ones_are_refused() {
        assert_eq!(lookup("root"), Ok(0));
        assert_eq!(lookup("4242"), Ok(4242));
        let e = lookup("no-such-group-mc").unwrap_err();
        assert!(e.contains("no such group"), "{e}");
        assert!(lookup("a:b").is_err());
        assert!(lookup("").is_err());
    }
}
