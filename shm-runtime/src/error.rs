//! The one error type of the runtime.

use std::time::Duration;

use crate::escape::Escaped;

/// What went wrong, with the segment's name and the facts.
///
/// Every variant carries `name`, the segment as the user named it, shown
/// with its backend (`posix:/MyShare`, `sysv:key=10`, `file:/tmp/x`,
/// `windows:Local\MyShare`, `memory:<anon>`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The segment does not exist.
    #[error("{name}: no such shared-memory segment (create it first, or use create-or-open)", name = Escaped(name))]
    NotFound {
        /// The segment.
        name: String,
    },
    /// Create-new was asked for and the segment exists.
    #[error("{name}: the segment already exists (open it, use create-or-open, or remove it first)", name = Escaped(name))]
    AlreadyExists {
        /// The segment.
        name: String,
    },
    /// The operating system refused access.
    #[error(
        "{name}: permission denied while trying to {op}{}",
        if op.starts_with("lock") { "" } else { " (check the segment's mode and owner)" },
        name = Escaped(name)
    )]
    PermissionDenied {
        /// The segment.
        name: String,
        /// What was being done.
        op: &'static str,
    },
    /// `create_or_open` found an existing object under the name that other
    /// users control: owned by another user (for System V, also created by
    /// one), or granting group or others more access than `mode` asks for.
    /// Adopting it would let them read every value written and write values
    /// this program trusts. [`Options::allow_foreign`](crate::Options::allow_foreign)
    /// accepts it anyway.
    #[error(
        "{name}: refusing to adopt an existing object: {reason} (owner uid {owner}, mode {mode:o}); \
         remove it, or accept it with Options::allow_foreign(true)",
        name = Escaped(name),
        reason = Escaped(reason)
    )]
    Foreign {
        /// The segment.
        name: String,
        /// The object's owner (user id).
        owner: u32,
        /// The object's permission bits.
        mode: u32,
        /// What makes it untrusted.
        reason: String,
    },
    /// [`Shared::remove`](crate::Shared::remove): the name no longer names
    /// the object this handle has open (it was removed and another object
    /// was created under it since), so nothing was removed.
    #[error(
        "{name}: not removed: the name now names another object than the one this handle has \
         open (it was removed and re-created since)",
        name = Escaped(name)
    )]
    Replaced {
        /// The segment.
        name: String,
    },
    /// The name cannot be used on this backend.
    #[error("{name}: invalid segment name: {reason}", name = Escaped(name), reason = Escaped(reason))]
    InvalidName {
        /// The segment.
        name: String,
        /// Why.
        reason: String,
    },
    /// The object exists but does not start with this project's header.
    #[error(
        "{name}: not a typed shared-memory segment (magic is {found:02x?}, expected {expected:02x?}); \
         another program may use this name",
        name = Escaped(name)
    )]
    NotASegment {
        /// The segment.
        name: String,
        /// The magic this crate writes.
        expected: [u8; 8],
        /// The first bytes of the object.
        found: [u8; 8],
    },
    /// The header was written by an incompatible version of this crate.
    #[error(
        "{name}: segment header version {found} is not supported (this program reads version {expected})",
        name = Escaped(name)
    )]
    UnsupportedVersion {
        /// The segment.
        name: String,
        /// The version this crate writes.
        expected: u32,
        /// The version in the segment.
        found: u32,
    },
    /// The segment holds a different schema than this program expects.
    #[error(
        "{name}: layout mismatch: this program expects {expected}, the segment has {found}{}",
        detail.as_deref().map(|d| format!(" ({})", Escaped(d))).unwrap_or_default(),
        name = Escaped(name), expected = Escaped(expected), found = Escaped(found)
    )]
    LayoutMismatch {
        /// The segment.
        name: String,
        /// The schema this program was compiled with (name, version, size, fingerprint).
        expected: String,
        /// The schema recorded in the segment.
        found: String,
        /// The first difference, when the segment's descriptor tells it.
        detail: Option<String>,
    },
    /// The segment holds an older version of this program's schema, and was
    /// not upgraded (see `Options::upgrade`; `reason` says why).
    #[error(
        "{name}: the segment holds schema `{schema}` v{segment_version}, older than this program's \
         v{program_version}: {reason}",
        name = Escaped(name), reason = Escaped(reason), schema = Escaped(schema)
    )]
    OlderSchema {
        /// The segment.
        name: String,
        /// The schema name.
        schema: String,
        /// The version in the segment.
        segment_version: u32,
        /// The version this program was built with.
        program_version: u32,
        /// Why it was not upgraded, and what to do.
        reason: String,
    },
    /// The segment holds a newer version of this program's schema, which
    /// does not let older programs write it (they may open it read-only).
    #[error(
        "{name}: the segment holds schema `{schema}` v{segment_version}, newer than this program's \
         v{program_version}, and that version does not let older programs write it: open it \
         read-only (it extends this program's version, so this program can read its fields)",
        name = Escaped(name), schema = Escaped(schema)
    )]
    NewerSchema {
        /// The segment.
        name: String,
        /// The schema name.
        schema: String,
        /// The version in the segment.
        segment_version: u32,
        /// The version this program was built with.
        program_version: u32,
    },
    /// The object is smaller than its header says or than the schema needs.
    #[error("{name}: the object is {actual} bytes, but {needed} bytes are needed ({what})", name = Escaped(name))]
    TooSmall {
        /// The segment.
        name: String,
        /// Bytes needed.
        needed: u64,
        /// Bytes the object has.
        actual: u64,
        /// What needs them.
        what: &'static str,
    },
    /// The creator has not finished initialising the header in time.
    #[error(
        "{name}: the segment was not initialised within {waited:?} (its creator may have died \
         before finishing; remove it, or open with create-or-open and `reinit_abandoned`)",
        name = Escaped(name)
    )]
    NotInitialized {
        /// The segment.
        name: String,
        /// How long this process waited.
        waited: Duration,
    },
    /// A header or descriptor field is out of range.
    #[error("{name}: corrupt segment: {what}", name = Escaped(name), what = Escaped(what))]
    Corrupt {
        /// The segment.
        name: String,
        /// Which field and how it is wrong.
        what: String,
    },
    /// A snapshot holds a value that is not valid for its type (a `bool`
    /// that is neither 0 nor 1, an enum discriminant that names no variant,
    /// a `char` that is not a Unicode scalar value, a `FixedStr` longer
    /// than its capacity or not UTF-8): whoever wrote it did not use this
    /// schema's types. Nothing was returned or changed.
    #[error(
        "{name}: field `{path}` holds an invalid value: {what}",
        name = Escaped(name),
        path = Escaped(path),
        what = Escaped(what)
    )]
    InvalidValue {
        /// The segment.
        name: String,
        /// The field path, e.g. `joints[2].mode`.
        path: String,
        /// The type and the raw value.
        what: String,
    },
    /// Another live writer holds write access (one writer at a time).
    #[error(
        "{name}: {} holds write access{}; wait for it with `Options::writer_wait`, or open \
         with `claim_writer(false)` (or read-only) to only read",
        if *this_process { format!("another handle in this process (pid {pid})") } else { format!("another process (pid {pid})") },
        if waited.is_zero() { String::new() } else { format!(" (waited {waited:?})") },
        name = Escaped(name)
    )]
    WriterBusy {
        /// The segment.
        name: String,
        /// The writer's process id.
        pid: u32,
        /// Whether the writer is this very process (another handle).
        this_process: bool,
        /// How long this process waited for it.
        waited: Duration,
    },
    /// A write was attempted through a handle that does not hold write
    /// access.
    #[error(
        "{name}: this handle does not hold write access (it was opened with \
         `claim_writer(false)` or released it); call `claim_writer` first",
        name = Escaped(name)
    )]
    NotWriter {
        /// The segment.
        name: String,
    },
    /// A method that takes the handle's write lock was called on the same
    /// thread inside `update` or `modify` of the same handle, which hold
    /// that lock until they return: waiting for it would wait forever.
    #[error(
        "{name}: `{op}` was called inside `update` or `modify` on the same handle, which holds \
         the handle's write lock until it returns (this call would wait for itself forever); \
         call it after `update`/`modify` returns, or change the value through the closure",
        name = Escaped(name)
    )]
    Reentrant {
        /// The segment.
        name: String,
        /// The method called: `write`, `update`, `modify`, `claim_writer`
        /// or `release_writer`.
        op: &'static str,
    },
    /// No complete copy of the value could be read and the process that
    /// holds write access no longer exists. (A writer killed at any point
    /// of a write leaves a complete copy, so this needs both copies damaged
    /// by someone else.)
    #[error(
        "{name}: no complete copy of the value, and the writer (pid {pid}) is dead; a new \
         writer must take over and write a whole value",
        name = Escaped(name)
    )]
    WriterDied {
        /// The segment.
        name: String,
        /// The dead writer's process id.
        pid: u32,
    },
    /// A bounded wait ran out.
    #[error("{name}: timed out after {waited:?} waiting for {what}", name = Escaped(name))]
    Timeout {
        /// The segment.
        name: String,
        /// What was awaited.
        what: &'static str,
        /// How long.
        waited: Duration,
    },
    /// A queue has no free slot: its consumer has not taken the messages
    /// (at once for `try_send`, after the wait for `send_timeout`).
    #[error("{name}: the queue is full ({capacity} messages not yet taken by its consumer)", name = Escaped(name))]
    QueueFull {
        /// The segment.
        name: String,
        /// The queue's capacity.
        capacity: u64,
    },
    /// Another live consumer holds a queue (one consumer at a time).
    #[error(
        "{name}: {} consumes this queue; one consumer at a time",
        if *this_process { format!("another consumer in this process (pid {pid})") } else { format!("process {pid}") },
        name = Escaped(name)
    )]
    ConsumerBusy {
        /// The segment.
        name: String,
        /// The consumer's process id.
        pid: u32,
        /// Whether it is this process (another `Consumer` of the queue).
        this_process: bool,
    },
    /// The operation is not available on this backend or platform.
    #[error("{name}: {what} is not supported here", name = Escaped(name), what = Escaped(what))]
    Unsupported {
        /// The segment.
        name: String,
        /// What was asked for.
        what: String,
    },
    /// The system has not enough room for the segment.
    #[error("{name}: cannot allocate {size} bytes for the segment: {reason}", name = Escaped(name), reason = Escaped(reason))]
    NoSpace {
        /// The segment.
        name: String,
        /// Bytes asked for.
        size: u64,
        /// What limit was hit.
        reason: String,
    },
    /// Any other operating-system error.
    #[error("{name}: {op} failed: {source}", name = Escaped(name))]
    Io {
        /// The segment.
        name: String,
        /// The system call or step.
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// `Result<T, Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The segment the error is about.
    pub fn segment_name(&self) -> &str {
        match self {
            Error::NotFound { name }
            | Error::AlreadyExists { name }
            | Error::PermissionDenied { name, .. }
            | Error::InvalidName { name, .. }
            | Error::Foreign { name, .. }
            | Error::Replaced { name }
            | Error::NotASegment { name, .. }
            | Error::UnsupportedVersion { name, .. }
            | Error::LayoutMismatch { name, .. }
            | Error::OlderSchema { name, .. }
            | Error::NewerSchema { name, .. }
            | Error::TooSmall { name, .. }
            | Error::NotInitialized { name, .. }
            | Error::Corrupt { name, .. }
            | Error::InvalidValue { name, .. }
            | Error::WriterBusy { name, .. }
            | Error::NotWriter { name }
            | Error::Reentrant { name, .. }
            | Error::WriterDied { name, .. }
            | Error::Timeout { name, .. }
            | Error::QueueFull { name, .. }
            | Error::ConsumerBusy { name, .. }
            | Error::Unsupported { name, .. }
            | Error::NoSpace { name, .. }
            | Error::Io { name, .. } => name,
        }
    }

    /// Maps an OS error from `op` to the matching variant.
    #[cfg_attr(not(unix), allow(dead_code))]
    pub(crate) fn from_io(name: &str, op: &'static str, e: std::io::Error) -> Error {
        let name = name.to_owned();
        match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound { name },
            std::io::ErrorKind::AlreadyExists => Error::AlreadyExists { name },
            std::io::ErrorKind::PermissionDenied => Error::PermissionDenied { name, op },
            _ => Error::Io {
                name,
                op,
                source: e,
            },
        }
    }
}
