//! The ring's group (`run --ring-group NAME`): when set, every directory and file of the ring
//! is given that group as it is created, directories mode 0750 and files 0640, so the group's
//! members (an analyst running `tcpdump -r`, `mirrorcap export`) read captures without root
//! and nobody else does. Set once per process by `run` before any ring file exists; the ring's
//! creation points call [`adopt`] / [`adopt_dir`], which do nothing when no group is set.
#![forbid(unsafe_code)]
use std::fs::{File, Permissions};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::OnceLock;

/// Mode of ring directories.
pub const DIR_MODE: u32 = 0o750;
/// Mode of ring files.
pub const FILE_MODE: u32 = 0o640;

static GROUP: OnceLock<u32> = OnceLock::new();

/// Resolves a group name (through NSS, as `getent group` does; a number is taken as a GID).
pub fn lookup(name: &str) -> Result<u32, String> {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
        return name
            .parse()
            .map_err(|_| format!("--ring-group {name}: not a valid GID"));
    }
    if name.is_empty() || name.contains([':', '\n', '/']) {
        return Err(format!("--ring-group {name:?}: not a group name"));
    }
    let out = std::process::Command::new("getent")
        .args(["group", name])
        .output()
        .map_err(|e| format!("--ring-group {name}: cannot run getent to look the group up: {e}"))?;
    let line = String::from_utf8_lossy(&out.stdout);
    match line.split(':').nth(2).map(|g| g.trim().parse::<u32>()) {
        Some(Ok(gid)) if out.status.success() => Ok(gid),
        _ => Err(format!(
            "--ring-group {name}: no such group (create it with groupadd --system {name}, or name an existing one)"
        )),
    }
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
    fn groups_resolve_by_name_and_number_and_unknown_ones_are_refused() {
        assert_eq!(lookup("root"), Ok(0));
        assert_eq!(lookup("4242"), Ok(4242));
        let e = lookup("no-such-group-mc").unwrap_err();
        assert!(e.contains("no such group"), "{e}");
        assert!(lookup("a:b").is_err());
        assert!(lookup("").is_err());
    }
}
