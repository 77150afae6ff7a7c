//! `shm`: look at typed shared-memory segments from a terminal, without
//! their Rust types (everything comes from each segment's header and schema
//! descriptor), and generate C, C# and Python bindings.
//!
//! Exit status 0 on success; 1 with one line on stderr otherwise.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::{Value as Json, json};
use shm_runtime::descriptor::{FieldInfo, Schema, TypeInfo};
use shm_runtime::tools::Escaped;
use shm_runtime::{Error, Options, RawSegment};

mod ls;
mod rm;
mod safe_json;
mod schema_source;
mod streams;
mod watch;
mod watch_streams;

/// Look at typed shared-memory segments (made with shm-runtime) and
/// generate bindings for them.
///
/// A segment is named as `NAME` or `posix:NAME` (a POSIX object, as in
/// /dev/shm, with or without the leading `/`), `sysv:KEY` (a System V key)
/// or `file:PATH` (a file-backed segment).
#[derive(Parser)]
#[command(name = "shm", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the shared-memory segments on this machine (POSIX objects in
    /// /dev/shm and System V segments), marking those with this project's
    /// header.
    Ls {
        /// Print one JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Show a segment's header, status and field table.
    Inspect {
        /// The segment (`NAME`, `posix:NAME`, `sysv:KEY` or `file:PATH`).
        segment: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Print a consistent snapshot of a segment's values, by field name,
    /// and the counters and latest messages of its rings and queues.
    Dump {
        /// The segment (`NAME`, `posix:NAME`, `sysv:KEY` or `file:PATH`).
        segment: String,
        /// Print one JSON object (arrays as arrays, nested structs as
        /// objects, and each ring's or queue's field as an object with its
        /// counters and latest kept messages).
        #[arg(long)]
        json: bool,
        /// Show at most this many of the latest kept messages of each ring
        /// and queue.
        #[arg(long, default_value_t = 16)]
        messages: u64,
    },
    /// Print every change of a segment's values, and every message of
    /// its rings and queues, as it happens.
    ///
    /// Watching never stores to the segment: each ring is read with a
    /// private cursor (as a subscriber reads it), and a queue is looked at
    /// without taking its messages, so its consumer still receives all of
    /// them. A ring's messages overwritten before watch read them are
    /// counted exactly (`lost`); a queue's messages that the consumer took
    /// before watch saw them are counted, not shown (`unseen`). Counters
    /// that cannot be right give one `corrupt` line and watch goes on from
    /// the current position.
    Watch {
        /// The segment (`NAME`, `posix:NAME`, `sysv:KEY` or `file:PATH`).
        segment: String,
        /// Stop after this many changes of the values and messages of the
        /// streams, counted together (loss, unseen and corrupt lines do not
        /// count).
        #[arg(long)]
        count: Option<u64>,
        /// Stop after this many seconds (fractions allowed); with --count,
        /// running out of time before that many is an error.
        #[arg(long)]
        timeout: Option<f64>,
        /// How often to look for a change or new messages, in milliseconds.
        #[arg(long, default_value_t = 2)]
        interval_ms: u64,
        /// Start each ring at its oldest kept message and each queue at its
        /// oldest message not yet taken, instead of the next new message.
        #[arg(long)]
        from_oldest: bool,
        /// Print one JSON object per line: the first with every value, one
        /// per stream with where it starts (`{"stream", "kind",
        /// "capacity", "from"}`), then one per change (`{"seq", "writes",
        /// "changed"}`), per message (`{"stream", "kind", "seq",
        /// "message"}`) and per loss (`{"stream", "kind", "lost"}` or
        /// `"unseen"`, or `"corrupt"` with a description).
        #[arg(long)]
        json: bool,
    },
    /// Print the fields, offsets, sizes and padding of a schema.
    Layout {
        /// A schema of the demo crate `schemas` (all of them if omitted).
        schema: Option<String>,
        /// Take the layout from a live segment's descriptor instead.
        #[arg(long, conflicts_with = "schema")]
        segment: Option<String>,
        /// Take the layout from a descriptor file written by `shm describe`
        /// (`-`: standard input) instead.
        #[arg(long, conflicts_with_all = ["schema", "segment"])]
        descriptor: Option<std::path::PathBuf>,
    },
    /// Write a segment's schema descriptor (binary, docs/FORMAT.md "Schema
    /// descriptor") to standard output or a file, for `shm codegen
    /// --descriptor` and `shm layout --descriptor`:
    /// `shm describe NAME > name.shmschema`.
    Describe {
        /// The segment (`NAME`, `posix:NAME`, `sysv:KEY` or `file:PATH`).
        segment: String,
        /// Write to this file instead of standard output.
        #[arg(short, long)]
        output: Option<std::path::PathBuf>,
    },
    /// Remove a segment's name (processes that have it mapped keep it), or
    /// this user's orphaned doorbells.
    Rm {
        /// The segment (`NAME`, `posix:NAME`, `sysv:KEY` or `file:PATH`).
        #[arg(required_unless_present = "orphaned_doorbells")]
        segment: Option<String>,
        /// Remove it even if it is not a typed segment.
        #[arg(long)]
        force: bool,
        /// Instead: remove this user's doorbells (Linux: the 64-byte System
        /// V segments of read-only waiters) that nobody has attached and
        /// whose POSIX or System V segment is gone.
        #[arg(long, conflicts_with_all = ["segment", "force"])]
        orphaned_doorbells: bool,
    },
    /// Generate C, C# or Python bindings for a schema.
    Codegen {
        /// The language.
        #[arg(long, value_enum)]
        lang: Lang,
        /// A schema of the demo crate `schemas`, e.g. `MySharedData`.
        #[arg(required_unless_present_any = ["segment", "descriptor"])]
        schema: Option<String>,
        /// Generate from a live segment's descriptor instead.
        #[arg(long, conflicts_with = "schema")]
        segment: Option<String>,
        /// Generate from a descriptor file written by `shm describe` (`-`:
        /// standard input) instead.
        #[arg(long, conflicts_with_all = ["schema", "segment"])]
        descriptor: Option<std::path::PathBuf>,
        /// Write to this file instead of standard output.
        #[arg(short, long)]
        output: Option<std::path::PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Lang {
    C,
    Csharp,
    Python,
}

impl From<Lang> for shm_codegen::Lang {
    fn from(l: Lang) -> Self {
        match l {
            Lang::C => shm_codegen::Lang::C,
            Lang::Csharp => shm_codegen::Lang::CSharp,
            Lang::Python => shm_codegen::Lang::Python,
        }
    }
}

/// A failure: one line for stderr.
#[derive(Debug)]
struct Failure(String);

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure(e.to_string())
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure(format!("cannot write the output: {e}"))
    }
}

impl From<shm_codegen::Error> for Failure {
    fn from(e: shm_codegen::Error) -> Self {
        Failure(e.0)
    }
}

type Res<T = ()> = Result<T, Failure>;

fn main() -> ExitCode {
    // A bug must still end with one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("shm: internal error: {info}");
    }));
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind::*;
            if matches!(e.kind(), DisplayHelp | DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            let text = e.to_string();
            let line = text.lines().next().unwrap_or("invalid arguments");
            let line = line.strip_prefix("error: ").unwrap_or(line);
            eprintln!("shm: {line} (see `shm --help`)");
            return ExitCode::FAILURE;
        }
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(cli))) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(Failure(msg))) => {
            eprintln!("shm: {msg}");
            ExitCode::FAILURE
        }
        Err(_) => ExitCode::FAILURE,
    }
}

fn run(cli: Cli) -> Res {
    let out = io::stdout();
    let mut out = out.lock();
    let r = match cli.command {
        Command::Ls { json } => ls::run(&mut out, json),
        Command::Inspect { segment, json } => inspect(&mut out, &segment, json),
        Command::Dump {
            segment,
            json,
            messages,
        } => dump(&mut out, &segment, json, messages),
        Command::Watch {
            segment,
            count,
            timeout,
            interval_ms,
            from_oldest,
            json,
        } => watch::run(
            &mut out,
            &watch::Args {
                name: &segment,
                count,
                timeout,
                interval_ms,
                as_json: json,
                from_oldest,
            },
        ),
        Command::Layout {
            schema,
            segment,
            descriptor,
        } => layout(&mut out, schema, segment, descriptor),
        Command::Describe { segment, output } => {
            schema_source::describe(&mut out, &segment, output)
        }
        Command::Rm {
            segment,
            force,
            orphaned_doorbells,
        } => match segment {
            Some(segment) if !orphaned_doorbells => rm::run(&mut out, &segment, force),
            _ => rm::orphaned_doorbells(&mut out),
        },
        Command::Codegen {
            lang,
            schema,
            segment,
            descriptor,
            output,
        } => codegen(&mut out, lang.into(), schema, segment, descriptor, output),
    };
    match r {
        // `shm dump | head` closes the pipe early: not an error.
        Err(Failure(m)) if m.contains("Broken pipe") => Ok(()),
        r => r,
    }
}

/// `NAME`, `posix:NAME`, `sysv:KEY` or `file:PATH`.
pub(crate) fn target(s: &str) -> Res<Options> {
    if let Some(k) = s.strip_prefix("sysv:") {
        let k = k.strip_prefix("key=").unwrap_or(k);
        let key = if let Some(hex) = k.strip_prefix("0x") {
            u32::from_str_radix(hex, 16).map(|v| v as i32)
        } else {
            k.parse::<i32>()
        }
        .map_err(|_| {
            Failure(format!(
                "`{}` is not a System V key (a number, or 0x...)",
                Escaped(k)
            ))
        })?;
        return Ok(Options::sysv(key));
    }
    if let Some(p) = s.strip_prefix("file:") {
        return Ok(Options::file(p));
    }
    let n = s.strip_prefix("posix:").unwrap_or(s);
    // Validate now, so a bad name is reported as such.
    shm_runtime::tools::check_posix_name(n)?;
    Ok(Options::posix(n))
}

pub(crate) fn open(s: &str) -> Res<RawSegment> {
    Ok(RawSegment::open(&target(s)?)?)
}

fn hex(v: u64) -> String {
    format!("0x{v:016x}")
}

/// The JSON field table: name, offset, size, type; nested structs carry
/// their own `fields`, arrays their `len` and `elem`.
fn fields_json(s: &Schema) -> Json {
    Json::Array(s.fields.iter().map(field_json).collect())
}

fn field_json(f: &FieldInfo) -> Json {
    let mut o = json!({
        "name": f.name,
        "offset": f.offset,
        "size": f.size,
        "type": f.ty.to_string(),
    });
    let (base, _) = innermost(&f.ty);
    if let TypeInfo::Array { len, elem } = &f.ty {
        o["len"] = json!(len);
        o["elem"] = json!(elem.to_string());
    }
    if let TypeInfo::Struct(s) = base {
        o["fields"] = fields_json(s);
    }
    o
}

fn innermost(t: &TypeInfo) -> (&TypeInfo, u64) {
    let mut t = t;
    let mut n = 1u64;
    while let TypeInfo::Array { elem, len } = t {
        n = n.saturating_mul(*len);
        t = elem;
    }
    (t, n)
}

fn inspect(out: &mut impl Write, name: &str, as_json: bool) -> Res {
    let seg = open(name)?;
    let st = seg.status()?;
    let h = seg.header();
    let s = seg.schema();
    let hs = st.header.clone().unwrap_or_default();
    if as_json {
        let created = h.created_nanos;
        let v = json!({
            "segment": seg.name(),
            "backend": st.backend,
            "schema": {
                "name": s.name,
                "version": s.version,
                "fingerprint": hex(h.fingerprint),
                "size": s.size,
                "align": s.align,
            },
            "header_version": h.header_version,
            "payload_offset": h.payload_offset,
            "payload_size": h.payload_size,
            "payload_align": h.payload_align,
            "descriptor_offset": h.descriptor_offset,
            "descriptor_len": h.descriptor_len,
            "segment_size": h.segment_size,
            "object_size": st.size,
            "creator_pid": h.creator_pid,
            "created_unix_nanos": created,
            "seq": hs.seq,
            "writes": hs.seq / 2,
            "write_in_progress": hs.seq % 2 == 1,
            "writer_pid": hs.writer_pid,
            "writer_alive": hs.writer_alive,
            "mode": st.mode.map(|m| format!("{m:o}")),
            "owner_user": st.owner_user,
            "owner_group": st.owner_group,
            "key": st.key,
            "fields": fields_json(s),
            "streams": streams::inspect_json(&seg)?,
        });
        safe_json::pretty(out, &v)?;
        return Ok(());
    }
    writeln!(out, "segment:      {}", Escaped(seg.name()))?;
    writeln!(out, "schema:       {} v{}", Escaped(&s.name), s.version)?;
    writeln!(out, "fingerprint:  {}", hex(h.fingerprint))?;
    writeln!(
        out,
        "payload:      {} bytes at offset {} (alignment {})",
        h.payload_size, h.payload_offset, h.payload_align
    )?;
    writeln!(
        out,
        "descriptor:   {} bytes at offset {}",
        h.descriptor_len, h.descriptor_offset
    )?;
    writeln!(out, "object size:  {} bytes", st.size)?;
    writeln!(
        out,
        "writes:       {}{}",
        hs.seq / 2,
        if hs.seq % 2 == 1 {
            " (one in progress)"
        } else {
            ""
        }
    )?;
    writeln!(
        out,
        "writer:       {}",
        match (hs.writer_pid, hs.writer_alive) {
            (None, _) => "none".to_owned(),
            (Some(p), true) => format!("pid {p}"),
            (Some(p), false) => format!("pid {p} (dead: the next writer takes over)"),
        }
    )?;
    writeln!(out, "created by:   pid {}", h.creator_pid)?;
    writeln!(out)?;
    write_table(out, s)?;
    streams::write(out, &seg, None)?;
    writeln!(out)?;
    writeln!(out, "{st}")?;
    Ok(())
}

/// The layout table: offset, size, type and name of every field, with
/// padding rows.
fn write_table(out: &mut impl Write, s: &Schema) -> Res {
    writeln!(
        out,
        "{} v{}: {} bytes, alignment {}, fingerprint {}",
        Escaped(&s.name),
        s.version,
        s.size,
        s.align,
        hex(s.fingerprint())
    )?;
    let mut rows: Vec<(u64, u64, String, String)> = s
        .fields
        .iter()
        .map(|f| {
            (
                f.offset,
                f.size,
                Escaped(&f.ty.to_string()).to_string(),
                Escaped(&f.name).to_string(),
            )
        })
        .collect();
    let gaps = s.gaps();
    let padding: u64 = gaps.iter().map(|g| g.1).sum();
    rows.extend(
        gaps.into_iter()
            .map(|(at, len)| (at, len, "(padding)".into(), String::new())),
    );
    rows.sort_by_key(|r| (r.0, r.3.is_empty()));
    let tw = rows.iter().map(|r| r.2.len()).max().unwrap_or(4).max(4);
    writeln!(
        out,
        "{:>8}  {:>8}  {:<tw$}  field",
        "offset", "size", "type"
    )?;
    for (o, sz, t, n) in rows {
        writeln!(out, "{o:>8}  {sz:>8}  {t:<tw$}  {n}")?;
    }
    writeln!(
        out,
        "padding: {padding} bytes{}",
        if padding == 0 { " (none)" } else { "" }
    )?;
    // Nested structs, each once.
    let mut seen = Vec::new();
    for f in &s.fields {
        if let (TypeInfo::Struct(inner), _) = innermost(&f.ty)
            && !seen.contains(&inner.name)
        {
            seen.push(inner.name.clone());
            writeln!(out)?;
            write_table(out, inner)?;
        }
    }
    Ok(())
}

/// Prints a snapshot by field name, read in place from the payload copy
/// (memory: the copy, whatever the number of fields and the length of
/// their names).
fn dump(out: &mut impl Write, name: &str, as_json: bool, messages: u64) -> Res {
    let seg = open(name)?;
    let bytes = seg.read_bytes()?;
    let v = seg.view(&bytes)?;
    if as_json {
        if streams::streams(&seg)?.is_empty() {
            safe_json::pretty(out, &v)?;
        } else {
            let mut tree = json!(v);
            streams::dump_with_streams(&seg, &mut tree, messages)?;
            safe_json::pretty(out, &tree)?;
        }
        return Ok(());
    }
    for (k, v) in v.fields().into_iter().flatten() {
        writeln!(out, "{} = {v}", Escaped(k))?;
    }
    streams::write(out, &seg, Some(messages))?;
    Ok(())
}

/// The schema named on the command line: `--segment`, `--descriptor` or
/// a demo schema's name (`None` for `shm layout` without arguments).
fn find_schema(
    schema: Option<String>,
    segment: Option<String>,
    descriptor: Option<std::path::PathBuf>,
) -> Res<Option<schema_source::Found>> {
    Ok(match (schema, segment, descriptor) {
        (_, Some(seg), _) => Some(schema_source::from_segment(&seg)?),
        (_, _, Some(file)) => Some(schema_source::from_descriptor(&file)?),
        (Some(n), None, None) => Some(schema_source::by_name(&n)?),
        (None, None, None) => None,
    })
}

fn layout(
    out: &mut impl Write,
    schema: Option<String>,
    segment: Option<String>,
    descriptor: Option<std::path::PathBuf>,
) -> Res {
    let list = match find_schema(schema, segment, descriptor)? {
        Some(found) => vec![found.schema],
        None => schema_source::all()?,
    };
    for (i, s) in list.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        write_table(out, s)?;
    }
    Ok(())
}

fn codegen(
    out: &mut impl Write,
    lang: shm_codegen::Lang,
    schema: Option<String>,
    segment: Option<String>,
    descriptor: Option<std::path::PathBuf>,
    output: Option<std::path::PathBuf>,
) -> Res {
    let Some(schema_source::Found { schema: s, source }) =
        find_schema(schema, segment, descriptor)?
    else {
        return Err(Failure(
            "give a SCHEMA, --segment NAME or --descriptor FILE".into(),
        ));
    };
    let text = shm_codegen::generate(lang, &s, &source)?;
    match output {
        Some(p) => std::fs::write(&p, text).map_err(|e| {
            Failure(format!(
                "cannot write {}: {e}",
                shm_runtime::tools::EscapedBytes(p.as_os_str().as_encoded_bytes())
            ))
        })?,
        None => out.write_all(text.as_bytes())?,
    }
    Ok(())
}
