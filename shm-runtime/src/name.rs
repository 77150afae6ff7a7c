//! Segment identities and their validation, done before any system call.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Which kind of named segment, and its name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SegmentId {
    /// A POSIX shared-memory object (`shm_open`), stored normalised with one
    /// leading `/`.
    Posix(String),
    /// A System V segment identified by a key.
    SysV(i32),
    /// A Win32 named file mapping backed by the paging file.
    Windows(String),
    /// A mapping over a regular file.
    File(PathBuf),
    /// A sealed anonymous memory file (Linux `memfd_create`); the name is
    /// only a label (it shows in `/proc/<pid>/fd` as `/memfd:<name>`).
    Memfd(String),
    /// Process-private memory (tests, Miri, loom).
    Memory,
}

impl fmt::Display for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SegmentId::Posix(n) if n.starts_with('/') => write!(f, "posix:{n}"),
            SegmentId::Posix(n) => write!(f, "posix:/{n}"),
            SegmentId::SysV(k) => write!(f, "sysv:key={k}"),
            SegmentId::Windows(n) => write!(f, "windows:{n}"),
            SegmentId::File(p) => write!(f, "file:{}", p.display()),
            SegmentId::Memfd(n) => write!(f, "memfd:{n}"),
            SegmentId::Memory => f.write_str("memory:<anonymous>"),
        }
    }
}

impl SegmentId {
    /// The kind of segment: `posix`, `sysv`, `windows`, `file`, `memfd` or
    /// `memory` (the prefix of its display name).
    pub fn kind(&self) -> &'static str {
        match self {
            SegmentId::Posix(_) => "posix",
            SegmentId::SysV(_) => "sysv",
            SegmentId::Windows(_) => "windows",
            SegmentId::File(_) => "file",
            SegmentId::Memfd(_) => "memfd",
            SegmentId::Memory => "memory",
        }
    }
}

/// Longest POSIX name accepted, not counting the leading `/`.
///
/// The name passed to `shm_open`, its leading `/` included, may be at most
/// `NAME_MAX` (255) bytes: so 254 after the slash (on Linux the object is
/// the file `/dev/shm/<name>`, and the `shm_open` used here counts the
/// slash). macOS allows only 31 bytes including the slash.
pub const POSIX_NAME_MAX: usize = if cfg!(target_vendor = "apple") {
    30
} else {
    254
};

/// Longest Win32 object name accepted (`MAX_PATH`).
#[cfg_attr(not(windows), allow(dead_code))]
pub const WINDOWS_NAME_MAX: usize = 260;

/// Normalises and validates a POSIX name: `MyShare` and `/MyShare` both
/// become `/MyShare`.
pub fn posix(name: &str) -> Result<String> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let invalid = |reason: String| Error::InvalidName {
        name: format!("posix:{name}"),
        reason,
    };
    if bare.is_empty() {
        return Err(invalid("the name is empty".into()));
    }
    if bare == "." || bare == ".." {
        return Err(invalid("`.` and `..` are not object names".into()));
    }
    if bare.contains('/') {
        return Err(invalid(
            "a POSIX name may not contain `/` after the leading one".into(),
        ));
    }
    if bare.contains('\0') {
        return Err(invalid("the name contains a NUL byte".into()));
    }
    if bare.len() > POSIX_NAME_MAX {
        return Err(invalid(format!(
            "the name is {} bytes; at most {POSIX_NAME_MAX} are allowed here",
            bare.len()
        )));
    }
    Ok(format!("/{bare}"))
}

/// Validates a Win32 mapping name: an optional `Local\` or `Global\`
/// namespace prefix, then a name without `\`.
#[cfg_attr(not(windows), allow(dead_code))]
pub fn windows(name: &str) -> Result<String> {
    let invalid = |reason: String| Error::InvalidName {
        name: format!("windows:{name}"),
        reason,
    };
    let bare = name
        .strip_prefix("Local\\")
        .or_else(|| name.strip_prefix("Global\\"))
        .unwrap_or(name);
    if bare.is_empty() {
        return Err(invalid("the name is empty".into()));
    }
    if bare.contains('\\') {
        return Err(invalid(
            "only the namespace prefix (`Local\\` or `Global\\`) may contain `\\`".into(),
        ));
    }
    if bare.contains('\0') {
        return Err(invalid("the name contains a NUL byte".into()));
    }
    if name.encode_utf16().count() > WINDOWS_NAME_MAX {
        return Err(invalid(format!(
            "the name is longer than {WINDOWS_NAME_MAX} UTF-16 units"
        )));
    }
    Ok(name.to_owned())
}

/// Longest memfd label accepted (`memfd_create` allows 249 bytes).
pub const MEMFD_NAME_MAX: usize = 249;

/// Validates a memfd label: at most [`MEMFD_NAME_MAX`] bytes, no NUL.
pub fn memfd(name: &str) -> Result<String> {
    let invalid = |reason: String| Error::InvalidName {
        name: format!("memfd:{name}"),
        reason,
    };
    if name.contains('\0') {
        return Err(invalid("the name contains a NUL byte".into()));
    }
    if name.len() > MEMFD_NAME_MAX {
        return Err(invalid(format!(
            "the name is {} bytes; at most {MEMFD_NAME_MAX} are allowed",
            name.len()
        )));
    }
    Ok(name.to_owned())
}

/// Validates a System V key: `IPC_PRIVATE` (0) names no shared segment.
pub fn sysv(key: i32) -> Result<i32> {
    if key == 0 {
        return Err(Error::InvalidName {
            name: "sysv:key=0".into(),
            reason: "key 0 is IPC_PRIVATE, which other processes cannot find; use a non-zero key or ftok".into(),
        });
    }
    Ok(key)
}

/// Validates the path of a file-backed segment: not empty, no NUL byte, no
/// trailing `/` (a directory), and at most [`FILE_PATH_MAX`] bytes.
pub fn file(path: &Path) -> Result<PathBuf> {
    let invalid = |reason: &str| Error::InvalidName {
        name: format!("file:{}", path.display()),
        reason: reason.to_owned(),
    };
    let bytes = path.as_os_str().as_encoded_bytes();
    if bytes.is_empty() {
        return Err(invalid("the path is empty"));
    }
    if bytes.contains(&0) {
        return Err(invalid("the path contains a NUL byte"));
    }
    if bytes.ends_with(b"/") {
        return Err(invalid(
            "the path ends with `/`: it names a directory, not a file",
        ));
    }
    if bytes.len() > FILE_PATH_MAX {
        return Err(invalid("the path is longer than 4095 bytes (PATH_MAX)"));
    }
    Ok(path.to_owned())
}

/// Longest path of a file-backed segment accepted (Linux `PATH_MAX` less
/// the terminating NUL).
pub const FILE_PATH_MAX: usize = 4095;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posix_names() {
        assert_eq!(posix("MyShare").unwrap(), "/MyShare");
        assert_eq!(posix("/MyShare").unwrap(), "/MyShare");
        for bad in ["", "/", "a/b", "/a/b", "..", "a\0b"] {
            assert!(
                matches!(posix(bad), Err(Error::InvalidName { .. })),
                "{bad:?}"
            );
        }
        assert!(posix(&"x".repeat(POSIX_NAME_MAX)).is_ok());
        let err = posix(&"x".repeat(POSIX_NAME_MAX + 1))
            .unwrap_err()
            .to_string();
        assert!(err.contains("at most"), "{err}");
    }

    #[test]
    fn windows_names() {
        assert!(windows("Local\\MyShare").is_ok());
        assert!(windows("Global\\MyShare").is_ok());
        assert!(windows("MyShare").is_ok());
        for bad in ["", "Local\\", "Local\\a\\b", "Other\\x"] {
            assert!(windows(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn file_paths() {
        assert!(file(Path::new("/tmp/seg")).is_ok());
        assert!(file(Path::new("seg")).is_ok());
        for bad in ["", "/tmp/", "a\0b"] {
            assert!(
                matches!(file(Path::new(bad)), Err(Error::InvalidName { .. })),
                "{bad:?}"
            );
        }
        assert!(file(Path::new(&"x".repeat(FILE_PATH_MAX + 1))).is_err());
    }

    #[test]
    fn sysv_keys() {
        assert!(sysv(0).is_err());
        assert_eq!(sysv(10).unwrap(), 10);
    }
}
