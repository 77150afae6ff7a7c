//! The C functions of a schema's `Ring` and `Queue` fields: typed
//! wrappers, one set per field, of the stream runtime in `streams.h`.

use std::fmt::Write as _;

use shm_runtime::descriptor::{Schema, StreamInfo};

use super::{Error, Names, c_comment, decl, emit_check, needs_check};

/// The schema-independent stream runtime, emitted once (guarded) by each
/// header whose schema has a ring or a queue.
pub(super) const RUNTIME: &str = include_str!("streams.h");

/// The C identifier of a stream's field path: `events`, `arms[1].log` ->
/// `arms_1_log`.
fn path_ident(path: &str) -> String {
    let mut out = String::new();
    for c in path.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_owned()
}

/// The names the functions of `schema`'s streams declare at file scope,
/// with what each stands for (`lower`/`upper`: the root's name in snake
/// case and upper case). An empty list without streams.
pub(super) fn declared(schema: &Schema, lower: &str, upper: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for s in schema.streams().unwrap_or_default() {
        let p = path_ident(&s.path);
        let what = |f: &str| format!("the generated `{f}` of {} `{}`", kind(&s), s.path);
        let suffixes: &[&str] = if s.queue {
            &[
                "msg",
                "check",
                "consumer_claim",
                "peek",
                "ack",
                "try_recv",
                "recv_timeout",
                "release",
                "try_send",
                "send_timeout",
            ]
        } else {
            &[
                "msg",
                "check",
                "subscribe",
                "try_recv",
                "recv_batch",
                "recv_timeout",
                "publish",
            ]
        };
        for suffix in suffixes {
            let f = format!("{lower}_{p}_{suffix}");
            out.push((f.clone(), what(&f)));
        }
        for suffix in ["CAPACITY", "REGION_OFFSET", "REGION_SIZE"] {
            let m = format!("{upper}_{}_{suffix}", p.to_ascii_uppercase());
            out.push((m.clone(), what(&m)));
        }
    }
    out
}

fn kind(s: &StreamInfo) -> &'static str {
    if s.queue { "queue" } else { "ring" }
}

/// Emits the functions of every ring and queue of `schema` (root type
/// `name`, names `lower`/`upper`), after the root struct. `scope` is the
/// file scope (the names were declared with [`declared`]).
pub(super) fn emit(
    out: &mut String,
    schema: &Schema,
    name: &str,
    lower: &str,
    upper: &str,
    names: &Names,
) -> Result<(), Error> {
    let Some(streams) = schema.streams() else {
        return Err(Error(format!(
            "schema `{}`: the stream area's size overflows",
            schema.name
        )));
    };
    for s in &streams {
        let p = path_ident(&s.path);
        let x = format!("{lower}_{p}");
        let macro_prefix = format!("{upper}_{}", p.to_ascii_uppercase());
        let cap_macro = format!("{macro_prefix}_CAPACITY");
        let size = s.elem.size();
        let t = format!("{x}_msg");
        let place = [
            format!("{macro_prefix}_REGION_OFFSET"),
            format!("{macro_prefix}_REGION_SIZE"),
            cap_macro.clone(),
            format!("sizeof({t})"),
        ];
        let _ = writeln!(
            out,
            "/* ---- {kind} `{path}`: {ty}, {size}-byte messages, region at stream offset {ro}\n * ({rl} bytes). */",
            kind = if s.queue { "Queue" } else { "Ring" },
            path = c_comment(&s.path),
            ty = c_comment(&format!(
                "{}<{}, {}>",
                if s.queue { "Queue" } else { "Ring" },
                s.elem,
                s.cap
            )),
            ro = s.region_offset,
            rl = s.region_len,
        );
        let _ = writeln!(out, "typedef {};", decl(s.elem, &t, &schema.name, names)?);
        let _ = writeln!(
            out,
            "SHM_STATIC_ASSERT(sizeof({t}) == {size}, \"{t}: size must be {size}\");"
        );
        let _ = writeln!(out, "#define {cap_macro} UINT64_C({})", s.cap);
        let _ = writeln!(
            out,
            "/* Its region: where in the stream area, and how many bytes. */\n\
             #define {macro_prefix}_REGION_OFFSET UINT64_C({})\n\
             #define {macro_prefix}_REGION_SIZE UINT64_C({})\n",
            s.region_offset, s.region_len
        );
        // The message check, as the Rust reader checks a received message.
        let _ = writeln!(
            out,
            "/* Checks a message (a private copy) as the Rust runtime does: SHM_OK or\n * SHM_ERR_INVALID naming the field and the value in msg. */\nstatic inline int {x}_check(const void *m, char *msg, size_t msg_cap)\n{{"
        );
        if needs_check(s.elem) {
            out.push_str("    int r;\n    char path[SHM_PATH_CAP];\n    path[0] = '\\0';\n");
            emit_check(out, s.elem, &format!("(*(const {t} *)m)"), "0", 0, names);
            out.push_str("    return SHM_OK;\n}\n\n");
        } else {
            out.push_str(
                "    (void)m;\n    (void)msg;\n    (void)msg_cap;\n    return SHM_OK;\n}\n\n",
            );
        }
        if s.queue {
            emit_queue(out, &x, &t, &place, name, upper);
        } else {
            emit_ring(out, &x, &t, &place);
        }
    }
    Ok(())
}

/// `static inline RET NAME(PARAMS)`, wrapped at 100 columns with the
/// parameters aligned after the parenthesis.
fn sig(ret: &str, name: &str, params: &[&str]) -> String {
    let head = format!("static inline {ret} {name}(");
    let pad = " ".repeat(head.len());
    let mut out = head.clone();
    let mut line = head.len();
    for (i, p) in params.iter().enumerate() {
        let piece = if i + 1 == params.len() {
            format!("{p})")
        } else {
            format!("{p},")
        };
        if i > 0 {
            if line + 1 + piece.len() > 100 {
                out.push('\n');
                out.push_str(&pad);
                line = pad.len();
            } else {
                out.push(' ');
                line += 1;
            }
        }
        out.push_str(&piece);
        line += piece.len();
    }
    out
}

/// A call `f(args)` as a statement `return f(...);` wrapped like [`sig`].
fn ret_call(f: &str, args: &[String]) -> String {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let s = sig("", f, &args);
    // `static inline  f(` -> `    return f(`, continuation lines shifted.
    let head = "static inline  ";
    let ind = "    return ";
    let shift = ind.len() as isize - head.len() as isize;
    let mut out = String::new();
    for (i, l) in s.lines().enumerate() {
        if i == 0 {
            out.push_str(ind);
            out.push_str(&l[head.len()..]);
        } else {
            out.push('\n');
            let n = (l.len() - l.trim_start().len()) as isize + shift;
            out.push_str(&" ".repeat(n.max(4) as usize));
            out.push_str(l.trim_start());
        }
    }
    out.push(';');
    out
}

/// The arguments of a call into the stream runtime: `before`, the
/// stream's place (`place`: region offset, size, capacity, message size),
/// then `after`.
fn place_args(before: &[&str], place: &[String], after: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = before.iter().map(|s| s.to_string()).collect();
    v.extend(place.iter().cloned());
    v.extend(after.iter().map(|s| s.to_string()));
    v
}

fn emit_ring(out: &mut String, x: &str, t: &str, place: &[String]) {
    let args = |before: &[&str], after: &[&str]| place_args(before, place, after);
    let out_t = format!("{t} *out");
    let in_t = format!("const {t} *m");
    let check = format!("{x}_check");
    let _ = write!(
        out,
        r#"/* Makes *sub a subscriber of this ring in the segment of the checked view
 * (any mapping, read-only will do), at the next new message
 * (shm_subscriber_start_oldest: the oldest kept). SHM_OK or SHM_ERR_CHECK. */
{}
{{
{}
}}

/* The next message or loss, never waiting: SHM_MSG (*out), SHM_LOST (their
 * number in *lost: the subscriber fell more than the capacity behind, and
 * goes on at the oldest message kept), SHM_EMPTY; SHM_ERR_INVALID (a
 * message that fails its check: the subscriber moves past it) or
 * SHM_ERR_CORRUPT (counters that cannot be right: the cursor stays). */
{}
{{
    int r = shm_ring_try_next(sub, out, sizeof(*out), lost, msg, msg_cap);
    if (r == SHM_MSG && (r = {check}(out, msg, msg_cap)) == SHM_OK)
        return SHM_MSG;
    return r;
}}

/* Receives up to `n` messages into out[0..n] without waiting
 * (shm_ring_recv_batch): how many in *count, and how many were lost just
 * before the first of them in *lost. SHM_OK or an error, as {x}_try_recv. */
{}
{{
    return shm_ring_recv_batch(sub, out, sizeof(*out), n, {check}, count, lost, msg, msg_cap);
}}

#if defined(__linux__)
/* {x}_try_recv, waiting at most `timeout_ms` for a message or a loss
 * (SHM_EMPTY then), as sub->how says (set sub->how = SHM_WAIT_FUTEX on a
 * read-write mapping, or sub->bell to an attached doorbell). */
{}
{{
    int r = shm_ring_next_timeout(sub, out, sizeof(*out), lost, timeout_ms, msg, msg_cap);
    if (r == SHM_MSG && (r = {check}(out, msg, msg_cap)) == SHM_OK)
        return SHM_MSG;
    return r;
}}

/* Publishes *m (checked first) as the holder of write access `w`,
 * overwriting the oldest message if the ring is full; its number in
 * *number unless NULL. SHM_OK, SHM_ERR_INVALID, SHM_ERR_NOT_WRITER,
 * SHM_ERR_CHECK or SHM_ERR_CORRUPT. */
{}
{{
    int r = {check}(m, msg, msg_cap);
    if (r != SHM_OK)
        return r;
{}
}}
#endif /* __linux__ */

"#,
        sig(
            "int",
            &format!("{x}_subscribe"),
            &[
                "const shm_view *view",
                "shm_subscriber *sub",
                "char *msg",
                "size_t msg_cap"
            ]
        ),
        ret_call(
            "shm_ring_subscribe",
            &args(&["view"], &["sub", "msg", "msg_cap"])
        ),
        sig(
            "int",
            &format!("{x}_try_recv"),
            &[
                "shm_subscriber *sub",
                &out_t,
                "uint64_t *lost",
                "char *msg",
                "size_t msg_cap"
            ]
        ),
        sig(
            "int",
            &format!("{x}_recv_batch"),
            &[
                "shm_subscriber *sub",
                &out_t,
                "size_t n",
                "size_t *count",
                "uint64_t *lost",
                "char *msg",
                "size_t msg_cap"
            ]
        ),
        sig(
            "int",
            &format!("{x}_recv_timeout"),
            &[
                "shm_subscriber *sub",
                &out_t,
                "uint64_t *lost",
                "uint64_t timeout_ms",
                "char *msg",
                "size_t msg_cap"
            ]
        ),
        sig(
            "int",
            &format!("{x}_publish"),
            &[
                "shm_writer *w",
                &in_t,
                "uint64_t *number",
                "char *msg",
                "size_t msg_cap"
            ]
        ),
        ret_call(
            "shm_ring_publish",
            &args(&["w"], &["m", "number", "msg", "msg_cap"])
        ),
    );
}

fn emit_queue(out: &mut String, x: &str, t: &str, place: &[String], name: &str, upper: &str) {
    let args = |before: &[&str], after: &[&str]| place_args(before, place, after);
    let out_t = format!("{t} *out");
    let in_t = format!("const {t} *m");
    let check = format!("{x}_check");
    let fp = format!("{upper}_FINGERPRINT");
    let size = format!("sizeof({name})");
    let align = format!("SHM_ALIGNOF({name})");
    let _ = write!(
        out,
        r#"#if defined(__linux__)
/* Claims this queue as its one consumer (shm_consumer_claim) in the segment
 * mapped read-write at `base` (`len` bytes, `fd` its object or -1),
 * waiting up to `wait_ms` for a live consumer; the pid of a dead one taken
 * over in *took_over_from (0: none). SHM_OK, SHM_ERR_CHECK or
 * SHM_ERR_BUSY. Give it back with {x}_release. */
{}
{{
{}
}}

/* The next message without taking it (at least once: {x}_ack takes it):
 * SHM_MSG (*out), SHM_EMPTY, SHM_ERR_INVALID (a bad message, taken),
 * SHM_ERR_CORRUPT or SHM_ERR_NOT_WRITER. */
{}
{{
    return shm_consumer_recv(c, out, sizeof(*out), {check}, 0, msg, msg_cap);
}}

/* Takes the message the last {x}_peek returned. SHM_OK or SHM_ERR_CORRUPT. */
{}
{{
    return shm_consumer_ack(c, msg, msg_cap);
}}

/* The next message, taken before it returns (at most once): as {x}_peek. */
{}
{{
    return shm_consumer_recv(c, out, sizeof(*out), {check}, 1, msg, msg_cap);
}}

/* {x}_try_recv, waiting at most `timeout_ms` for a message (SHM_EMPTY
 * then). */
{}
{{
    return shm_consumer_recv_timeout(c, out, sizeof(*out), {check}, timeout_ms, msg, msg_cap);
}}

/* Lets go of the queue (shm_consumer_release). */
{}
{{
    shm_consumer_release(c);
}}

/* Sends *m (checked first) as the producer, the holder of write access
 * `w`, if the queue has room; its number in *number unless NULL. SHM_OK,
 * SHM_ERR_FULL, SHM_ERR_INVALID, SHM_ERR_NOT_WRITER, SHM_ERR_CHECK or
 * SHM_ERR_CORRUPT. */
{}
{{
    int r = {check}(m, msg, msg_cap);
    if (r != SHM_OK)
        return r;
{}
}}

/* {x}_try_send, waiting at most `timeout_ms` for room (SHM_ERR_FULL after
 * it). */
{}
{{
    int r = {check}(m, msg, msg_cap);
    if (r != SHM_OK)
        return r;
{}
}}
#endif /* __linux__ */

"#,
        sig(
            "int",
            &format!("{x}_consumer_claim"),
            &[
                "shm_consumer *c",
                "int fd",
                "void *base",
                "size_t len",
                "uint64_t wait_ms",
                "uint32_t *took_over_from",
                "char *msg",
                "size_t msg_cap"
            ]
        ),
        ret_call(
            "shm_consumer_claim",
            &args(
                &["c", "fd", "base", "len", &fp, &size, &align],
                &["wait_ms", "took_over_from", "msg", "msg_cap"]
            )
        ),
        sig(
            "int",
            &format!("{x}_peek"),
            &["shm_consumer *c", &out_t, "char *msg", "size_t msg_cap"]
        ),
        sig(
            "int",
            &format!("{x}_ack"),
            &["shm_consumer *c", "char *msg", "size_t msg_cap"]
        ),
        sig(
            "int",
            &format!("{x}_try_recv"),
            &["shm_consumer *c", &out_t, "char *msg", "size_t msg_cap"]
        ),
        sig(
            "int",
            &format!("{x}_recv_timeout"),
            &[
                "shm_consumer *c",
                &out_t,
                "uint64_t timeout_ms",
                "char *msg",
                "size_t msg_cap"
            ]
        ),
        sig("void", &format!("{x}_release"), &["shm_consumer *c"]),
        sig(
            "int",
            &format!("{x}_try_send"),
            &[
                "shm_writer *w",
                &in_t,
                "uint64_t *number",
                "char *msg",
                "size_t msg_cap"
            ]
        ),
        ret_call(
            "shm_queue_send",
            &args(&["w"], &["m", "number", "msg", "msg_cap"])
        ),
        sig(
            "int",
            &format!("{x}_send_timeout"),
            &[
                "shm_writer *w",
                &in_t,
                "uint64_t timeout_ms",
                "uint64_t *number",
                "char *msg",
                "size_t msg_cap"
            ]
        ),
        ret_call(
            "shm_queue_send_timeout",
            &args(&["w"], &["m", "timeout_ms", "number", "msg", "msg_cap"])
        ),
    );
}
