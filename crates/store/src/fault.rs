//! Why a store cannot be written, in the few kinds an operator acts on differently: what
//! `/healthz` says in one line while a store thread's polls fail (the full error, with the
//! file and the operation, goes to the log).

use crate::StoreError;

/// The kind of a store failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Fault {
    /// ENOSPC, EDQUOT: the file system (or the quota) is full. Free space: storing resumes.
    DiskFull = 1,
    /// EROFS: the file system is read-only (remounted so, often by the kernel after an I/O
    /// error). Storing resumes once it is writable again.
    ReadOnly = 2,
    /// EACCES, EPERM: the store or worker directory may not be written.
    Denied = 3,
    /// ENOENT, ENOTDIR: the store directory is gone or no longer mounted (a removed *worker*
    /// directory is recreated by the spooler; the store directory itself never is).
    Missing = 4,
    /// Anything else: EIO, a damaged store file, the ring unreadable.
    Other = 5,
}

impl Fault {
    /// The kind of an OS error number (`None`: not an OS error).
    pub fn of_errno(errno: Option<i32>) -> Fault {
        match errno {
            Some(libc::ENOSPC | libc::EDQUOT) => Fault::DiskFull,
            Some(libc::EROFS) => Fault::ReadOnly,
            Some(libc::EACCES | libc::EPERM) => Fault::Denied,
            Some(libc::ENOENT | libc::ENOTDIR) => Fault::Missing,
            _ => Fault::Other,
        }
    }

    /// A few words for `/healthz`: "disk full", "read-only file system", ...
    pub fn what(self) -> &'static str {
        match self {
            Fault::DiskFull => "disk full",
            Fault::ReadOnly => "read-only file system",
            Fault::Denied => "permission denied",
            Fault::Missing => "directory missing or not mounted",
            Fault::Other => "failing",
        }
    }

    /// For publishing in an atomic: [`Fault::from_u8`] reads it back (0 is no fault).
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    pub fn from_u8(v: u8) -> Option<Fault> {
        Some(match v {
            1 => Fault::DiskFull,
            2 => Fault::ReadOnly,
            3 => Fault::Denied,
            4 => Fault::Missing,
            5 => Fault::Other,
            _ => return None,
        })
    }
}

/// The symbolic name of the OS error numbers a store meets (`errno 123` for others).
pub fn errno_name(errno: i32) -> String {
    let name = match errno {
        libc::ENOSPC => "ENOSPC",
        libc::EDQUOT => "EDQUOT",
        libc::EROFS => "EROFS",
        libc::EACCES => "EACCES",
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ENOTDIR => "ENOTDIR",
        libc::EIO => "EIO",
        libc::EINVAL => "EINVAL",
        libc::EBUSY => "EBUSY",
        _ => return format!("errno {errno}"),
    };
    name.to_string()
}

impl StoreError {
    /// The OS error number behind this error, if it is an I/O error.
    pub fn errno(&self) -> Option<i32> {
        match self {
            StoreError::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// What kind of failure this is.
    pub fn fault(&self) -> Fault {
        Fault::of_errno(self.errno())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn io(errno: i32) -> StoreError {
        StoreError::Io {
            op: "write store file",
            path: PathBuf::from("/s/worker-00/.x.tmp"),
            source: std::io::Error::from_raw_os_error(errno),
        }
    }

    #[test]
    fn os_errors_are_classified_by_what_the_operator_does_about_them() {
        for (errno, fault, name) in [
            (libc::ENOSPC, Fault::DiskFull, "ENOSPC"),
            (libc::EDQUOT, Fault::DiskFull, "EDQUOT"),
            (libc::EROFS, Fault::ReadOnly, "EROFS"),
            (libc::EACCES, Fault::Denied, "EACCES"),
            (libc::EPERM, Fault::Denied, "EPERM"),
            (libc::ENOENT, Fault::Missing, "ENOENT"),
            (libc::ENOTDIR, Fault::Missing, "ENOTDIR"),
            (libc::EIO, Fault::Other, "EIO"),
        ] {
            let e = io(errno);
            assert_eq!((e.fault(), e.errno()), (fault, Some(errno)), "{name}");
            assert_eq!(errno_name(errno), name);
            assert_eq!(Fault::from_u8(fault.as_u8()), Some(fault));
        }
        assert_eq!(errno_name(libc::EXDEV), format!("errno {}", libc::EXDEV));
        assert_eq!(Fault::from_u8(0), None);
    }

    #[test]
    fn errors_without_an_errno_are_other() {
        let corrupt = StoreError::Corrupt {
            op: "read store index",
            path: PathBuf::from("x.idx"),
            what: "checksum".into(),
        };
        assert_eq!((corrupt.fault(), corrupt.errno()), (Fault::Other, None));
        assert_eq!(StoreError::Ring("gone".into()).fault(), Fault::Other);
        // An io::Error made without an OS errno (e.g. a short write's WriteZero) too.
        let custom = StoreError::Io {
            op: "write store file",
            path: PathBuf::from("x"),
            source: std::io::Error::new(std::io::ErrorKind::WriteZero, "short"),
        };
        assert_eq!(custom.fault(), Fault::Other);
    }
}
