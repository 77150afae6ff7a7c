//! `shm ls`: POSIX objects in /dev/shm and System V segments, each probed
//! read-only for this project's header.

use std::io::Write;
use std::time::Duration;

use serde_json::json;
use shm_runtime::header::HEADER_SIZE;
use shm_runtime::tools::{DoorbellFound, Escaped, EscapedBytes, classify_doorbell};
use shm_runtime::{Error, Options, RawSegment};

use crate::{Failure, Res, safe_json};

struct Row {
    kind: &'static str,
    /// The name as text (for JSON; not UTF-8 bytes replaced).
    name: String,
    /// The name escaped for a terminal (for the table).
    shown: String,
    size: u64,
    probe: Probe,
}

enum Probe {
    Typed {
        schema: String,
        version: u32,
        writes: u64,
        writer_pid: Option<u32>,
        /// Whether the writer is alive.
        writer_alive: bool,
    },
    /// Not a typed segment, or not readable: why.
    Other { typed: bool, note: String },
}

/// Opens the segment read-only without waiting for a creator, and says
/// what it is.
fn probe(opts: Options) -> Probe {
    match RawSegment::open(&opts.open_timeout(Duration::ZERO)) {
        Ok(seg) => {
            let hs = seg.status().ok().and_then(|s| s.header);
            Probe::Typed {
                schema: seg.schema().name.clone(),
                version: seg.schema().version,
                writes: hs.as_ref().map_or(seg.version(), |h| h.seq / 2),
                writer_pid: hs.as_ref().and_then(|h| h.writer_pid),
                writer_alive: hs.is_some_and(|h| h.writer_alive),
            }
        }
        Err(e) => {
            let (typed, note) = match &e {
                Error::NotASegment { .. } => (false, "not a typed segment".to_owned()),
                Error::TooSmall { needed, .. } if *needed == HEADER_SIZE as u64 => (
                    false,
                    "not a typed segment (shorter than the header)".to_owned(),
                ),
                Error::PermissionDenied { .. } => (false, "permission denied".to_owned()),
                Error::NotInitialized { .. } => (true, "typed, not initialised".to_owned()),
                e => (true, format!("typed, unreadable: {}", short(e))),
            };
            Probe::Other { typed, note }
        }
    }
}

/// The error message without the segment name it starts with.
fn short(e: &Error) -> String {
    let s = e.to_string();
    let prefix = format!("{}: ", Escaped(e.segment_name()));
    s.strip_prefix(&prefix).map(str::to_owned).unwrap_or(s)
}

fn posix_rows(rows: &mut Vec<Row>) -> Res {
    let dir = match std::fs::read_dir("/dev/shm") {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Failure(format!("cannot list /dev/shm: {e}"))),
    };
    for entry in dir.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let name = entry.file_name();
        let probe = match name.to_str() {
            Some(n) => probe(Options::posix(n)),
            None => Probe::Other {
                typed: false,
                note: "name is not UTF-8".into(),
            },
        };
        rows.push(Row {
            kind: "posix",
            name: format!("/{}", name.to_string_lossy()),
            shown: format!("/{}", EscapedBytes(name.as_encoded_bytes())),
            size: meta.len(),
            probe,
        });
    }
    Ok(())
}

/// System V segments from /proc/sysvipc/shm (Linux).
fn sysv_rows(rows: &mut Vec<Row>) {
    let Ok(text) = std::fs::read_to_string("/proc/sysvipc/shm") else {
        return;
    };
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (Some(key), Some(id), Some(size)) = (
            cols.first().and_then(|k| k.parse::<i32>().ok()),
            cols.get(1),
            cols.get(3).and_then(|s| s.parse::<u64>().ok()),
        ) else {
            continue;
        };
        let bell = (size == 64)
            .then(|| id.parse().ok())
            .flatten()
            .and_then(|shmid| classify_doorbell(key, shmid));
        let probe = match bell {
            Some(DoorbellFound::Orphan) => Probe::Other {
                typed: false,
                note: "orphaned doorbell: its segment is gone (shm rm --orphaned-doorbells)".into(),
            },
            Some(DoorbellFound::Doorbell { kind }) => Probe::Other {
                typed: false,
                note: format!("doorbell of a {kind} segment"),
            },
            None if key == 0 => Probe::Other {
                typed: false,
                note: "private (IPC_PRIVATE, no key to open it by)".into(),
            },
            None => probe(Options::sysv(key)),
        };
        let name = format!("key={key} (0x{:08x}) id={}", key as u32, Escaped(id));
        rows.push(Row {
            kind: "sysv",
            shown: name.clone(),
            name,
            size,
            probe,
        });
    }
}

pub(crate) fn run(out: &mut impl Write, as_json: bool) -> Res {
    let mut rows = Vec::new();
    posix_rows(&mut rows)?;
    sysv_rows(&mut rows);
    rows.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    if as_json {
        let list: Vec<_> = rows
            .iter()
            .map(|r| match &r.probe {
                Probe::Typed {
                    schema,
                    version,
                    writes,
                    writer_pid,
                    writer_alive,
                } => json!({
                    "kind": r.kind, "name": r.name, "size": r.size, "typed": true,
                    "schema": {"name": schema, "version": version},
                    "writes": writes, "writer_pid": writer_pid, "writer_alive": writer_alive,
                }),
                Probe::Other { typed, note } => json!({
                    "kind": r.kind, "name": r.name, "size": r.size, "typed": typed, "note": note,
                }),
            })
            .collect();
        safe_json::pretty(out, &list)?;
        return Ok(());
    }
    let nw = rows.iter().map(|r| r.shown.len()).max().unwrap_or(4).max(4);
    writeln!(
        out,
        "{:<5}  {:<nw$}  {:>10}  {:<5}  SCHEMA / NOTE",
        "KIND", "NAME", "SIZE", "TYPED"
    )?;
    for r in &rows {
        let (typed, rest) = match &r.probe {
            Probe::Typed {
                schema,
                version,
                writes,
                writer_pid,
                writer_alive,
            } => (
                "yes",
                format!(
                    "{} v{version}, {writes} writes, writer {}",
                    Escaped(schema),
                    match (writer_pid, writer_alive) {
                        (None, _) => "none".to_owned(),
                        (Some(p), true) => format!("pid {p}"),
                        (Some(p), false) => format!("pid {p} (dead)"),
                    }
                ),
            ),
            Probe::Other { typed, note } => (if *typed { "yes" } else { "no" }, note.clone()),
        };
        writeln!(
            out,
            "{:<5}  {:<nw$}  {:>10}  {:<5}  {rest}",
            r.kind, r.shown, r.size, typed
        )?;
    }
    Ok(())
}
