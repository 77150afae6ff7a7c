//! What a segment reports about itself: operating-system facts from the
//! backend (`fstat`, `IPC_STAT`, `VirtualQuery`) and the facts in its header.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::escape::Escaped;

/// The status of a segment ([`Shared::status`](crate::Shared::status),
/// [`RawSegment::status`](crate::RawSegment::status)). Facts a backend
/// cannot know are `None` and print as `unknown (...)` rather than an
/// invented value; which backend knows what is said at each item.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// The segment, e.g. `posix:/MyShare`.
    pub name: String,
    /// `posix`, `sysv`, `windows`, `file`, `memfd` or `memory`.
    pub backend: &'static str,
    /// Size of the object in bytes, as the OS reports it (`fstat`,
    /// `IPC_STAT`; Win32: the mapped view, in whole pages; `memory`: the
    /// allocation).
    pub size: u64,
    /// Permission bits (`fstat`'s `0o7777`, System V's `0o777`).
    pub mode: Option<u32>,
    /// Owner user id (`fstat`, `IPC_STAT`).
    pub owner_user: Option<u32>,
    /// Owner group id (`fstat`, `IPC_STAT`).
    pub owner_group: Option<u32>,
    /// Creator user id (System V only).
    pub creator_user: Option<u32>,
    /// Creator group id (System V only).
    pub creator_group: Option<u32>,
    /// Number of attached processes (System V only).
    pub number_attached: Option<u64>,
    /// Process id of the creator, as the OS records it (System V only;
    /// the header's record is [`HeaderStatus::creator_pid`]).
    pub creator_process: Option<u32>,
    /// Process id of the last attach or detach (System V only).
    pub last_op_process: Option<u32>,
    /// Time of the last attach (System V only).
    pub last_attach_time: Option<SystemTime>,
    /// Time of the last detach (System V only).
    pub last_detach_time: Option<SystemTime>,
    /// Time of the last status change: `st_ctime` for POSIX, file and
    /// memfd segments (a change of mode, owner or size; stores through a
    /// mapping need not update it), `shm_ctime` for System V (creation or
    /// the last `IPC_SET`).
    pub last_change_time: Option<SystemTime>,
    /// System V key (System V only).
    pub key: Option<i32>,
    /// Facts from the segment's header (always there in the status of an
    /// open segment, whose header was validated when it was opened).
    pub header: Option<HeaderStatus>,
}

/// The facts a segment's header records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeaderStatus {
    /// Schema name.
    pub schema_name: String,
    /// Schema version.
    pub schema_version: u32,
    /// Layout fingerprint.
    pub fingerprint: u64,
    /// Offset of the payload.
    pub payload_offset: u64,
    /// Size of the payload.
    pub payload_size: u64,
    /// Process id of the creator (from the header).
    pub creator_pid: u32,
    /// Creation time (from the header).
    pub created: Option<SystemTime>,
    /// The larger of the two copies' sequence counters: twice the number
    /// of completed writes (a take-over's repair and an upgrade count as
    /// writes), plus one while a write is in progress. `seq / 2` is
    /// [`Shared::version`](crate::Shared::version).
    pub seq: u64,
    /// Process id of the process holding write access, if any (or of the
    /// dead process that held it, until the next writer takes over).
    pub writer_pid: Option<u32>,
    /// Whether that process is alive, judged by its pid and start time
    /// (`false`: it died holding write access, and the next process that
    /// claims it takes over; also `false` when nobody holds it). Where the
    /// start time is unknown a reused pid looks alive, and a writer in
    /// another PID namespace looks dead (see the README's limits).
    pub writer_alive: bool,
}

/// Seconds and nanoseconds since the epoch, as a time, if positive.
#[cfg_attr(not(unix), allow(dead_code))]
pub(crate) fn epoch_time(secs: i64, nanos: i64) -> Option<SystemTime> {
    if secs < 0 || !(0..1_000_000_000).contains(&nanos) {
        return None;
    }
    UNIX_EPOCH.checked_add(Duration::new(secs as u64, nanos as u32))
}

fn opt<T: fmt::Display>(v: &Option<T>, why: &str) -> String {
    match v {
        Some(v) => v.to_string(),
        None => format!("unknown ({why})"),
    }
}

fn time(t: &Option<SystemTime>, why: &str) -> String {
    match t.and_then(|t| t.duration_since(UNIX_EPOCH).ok()) {
        Some(d) if d.is_zero() => "never".into(),
        Some(d) => format!("{}.{:09} (Unix time)", d.as_secs(), d.subsec_nanos()),
        None => format!("unknown ({why})"),
    }
}

impl fmt::Display for Status {
    /// One `name: value` line per item, with the item names the `status`
    /// example uses, then the header's facts (`schema`, `payload`,
    /// `header_creator_pid`, `created`, `writes`, `writer`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nb = match self.backend {
            "sysv" => "IPC_STAT did not report it",
            "windows" => "Win32 does not report it",
            "posix" => "POSIX shared-memory objects do not record it",
            "file" => "regular files do not record it",
            _ => "this backend does not record it",
        };
        writeln!(f, "segment: {}", Escaped(&self.name))?;
        writeln!(f, "size: {}", self.size)?;
        writeln!(f, "number_attached: {}", opt(&self.number_attached, nb))?;
        writeln!(f, "creator_process: {}", opt(&self.creator_process, nb))?;
        writeln!(f, "last_op_process: {}", opt(&self.last_op_process, nb))?;
        writeln!(f, "last_attach_time: {}", time(&self.last_attach_time, nb))?;
        writeln!(f, "last_detach_time: {}", time(&self.last_detach_time, nb))?;
        writeln!(f, "last_change_time: {}", time(&self.last_change_time, nb))?;
        writeln!(f, "creator_user: {}", opt(&self.creator_user, nb))?;
        writeln!(f, "creator_group: {}", opt(&self.creator_group, nb))?;
        writeln!(f, "owner_user: {}", opt(&self.owner_user, nb))?;
        writeln!(f, "owner_group: {}", opt(&self.owner_group, nb))?;
        match self.mode {
            Some(m) => writeln!(f, "mode: {m:o}")?,
            None => writeln!(f, "mode: unknown ({nb})")?,
        }
        write!(
            f,
            "key: {}",
            opt(&self.key, "only System V segments have keys")
        )?;
        if let Some(h) = &self.header {
            write!(
                f,
                "\nschema: {} v{} (fingerprint {:016x})\npayload: {} bytes at offset {}\nheader_creator_pid: {}\ncreated: {}\nwrites: {}\nwriter: {}",
                Escaped(&h.schema_name),
                h.schema_version,
                h.fingerprint,
                h.payload_size,
                h.payload_offset,
                h.creator_pid,
                time(&h.created, "not recorded"),
                h.seq / 2,
                match (h.writer_pid, h.writer_alive) {
                    (None, _) => "none".to_owned(),
                    (Some(p), true) => p.to_string(),
                    (Some(p), false) => format!("{p} (dead: the next writer takes over)"),
                },
            )?;
        }
        Ok(())
    }
}
