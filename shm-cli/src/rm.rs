//! `shm rm`: remove a segment's name. Without `--force`, only a typed
//! segment is removed: one that opens, or one whose header starts with this
//! project's magic but is damaged (removing it is then the fix). Anything
//! else needs `--force`: another program's object (foreign magic, or all
//! zero, as a fresh System V segment or an object another program has not
//! written yet), an object too short for a header, one that cannot be read,
//! and, for `file:`, anything that is not a regular file (a FIFO, a socket,
//! a device, a directory, a symbolic link), checked with `lstat` before
//! anything is opened.

use std::io::Write;
#[cfg(unix)]
use std::os::unix::fs::FileTypeExt;
use std::time::Duration;

use shm_runtime::header::HEADER_SIZE;
use shm_runtime::tools::Escaped;
use shm_runtime::{Error, Options, RawSegment, SegmentId};

use crate::{Failure, Res, target};

const NOT_REMOVED: &str = "not removed (use --force to remove it anyway)";

/// What a file that is not a regular file is.
fn kind(t: std::fs::FileType) -> &'static str {
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a directory"
    } else {
        special(t)
    }
}

#[cfg(unix)]
fn special(t: std::fs::FileType) -> &'static str {
    if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    }
}

#[cfg(not(unix))]
fn special(_: std::fs::FileType) -> &'static str {
    "not a regular file"
}

/// `Ok` if `opts` names a typed segment of this project (possibly
/// damaged); otherwise the one-line reason it is not removed.
fn check_typed(opts: &Options) -> Res {
    let id = opts.id().to_string();
    if let SegmentId::File(p) = opts.id() {
        // Before opening anything: what is at the path itself.
        match std::fs::symlink_metadata(p) {
            Ok(m) if m.file_type().is_file() => {}
            Ok(m) => {
                return Err(Failure(format!(
                    "{}: {}, not a regular file; {NOT_REMOVED}",
                    Escaped(&id),
                    kind(m.file_type())
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                shm_runtime::tools::remove_doorbell(opts.id());
                return Err(Error::NotFound { name: id }.into());
            }
            Err(_) => {} // The open below says why.
        }
    }
    match RawSegment::open(&opts.clone().open_timeout(Duration::ZERO)) {
        Ok(_) => Ok(()),
        // The magic is ours (these are only found after it was checked):
        // a damaged segment or one of another header version.
        Err(Error::Corrupt { .. } | Error::UnsupportedVersion { .. }) => Ok(()),
        Err(Error::TooSmall { needed, .. }) if needed > HEADER_SIZE as u64 => Ok(()),
        // The name is gone (removed by other means); its doorbell, if
        // left, goes all the same.
        Err(e @ Error::NotFound { .. }) => {
            shm_runtime::tools::remove_doorbell(opts.id());
            Err(e.into())
        }
        Err(Error::NotInitialized { .. }) => Err(Failure(format!(
            "{}: no typed-segment header (it is all zero: another program's object, or one \
             whose creator died before writing it); {NOT_REMOVED}",
            Escaped(&id)
        ))),
        Err(e) => Err(Failure(format!(
            "{e}; not a typed segment, or it cannot be checked: {NOT_REMOVED}"
        ))),
    }
}

pub(crate) fn run(out: &mut impl Write, name: &str, force: bool) -> Res {
    let opts = target(name)?;
    if !force {
        check_typed(&opts)?;
    }
    opts.remove()?;
    writeln!(out, "removed {}", Escaped(&opts.id().to_string()))?;
    Ok(())
}

/// `shm rm --orphaned-doorbells`: removes this user's doorbells whose
/// segment is gone (`tools::remove_orphaned_doorbells`).
pub(crate) fn orphaned_doorbells(out: &mut impl Write) -> Res {
    let n = shm_runtime::tools::remove_orphaned_doorbells();
    writeln!(
        out,
        "removed {n} orphaned doorbell{}",
        if n == 1 { "" } else { "s" }
    )?;
    Ok(())
}
