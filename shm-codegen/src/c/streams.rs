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
                "recv_timeout",
                "publish",
            ]
        };
        for suffix in suffixes {
            let f = format!("{lower}_{p}_{suffix}");
            out.push((f.clone(), what(&f)));
        }
        let m = format!("{upper}_{}_CAPACITY", p.to_ascii_uppercase());
        out.push((m.clone(), what(&m)));
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
        let cap_macro = format!("{upper}_{}_CAPACITY", p.to_ascii_uppercase());
        let size = s.elem.size();
        let t = format!("{x}_msg");
        let place = format!(
            "UINT64_C({}), UINT64_C({}), {cap_macro}, sizeof({t})",
            s.region_offset, s.region_len
        );
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
        let _ = writeln!(out, "#define {cap_macro} UINT64_C({})\n", s.cap);
        // The message check, as the Rust reader checks a received message.
        let _ = writeln!(
            out,
            "/* Checks a message (a private copy) as the Rust runtime does: SHM_OK or\n * SHM_ERR_INVALID naming the field and the value in msg. */\nstatic inline int {x}_check(const void *m, char *msg, size_t msg_cap)\n{{"
        );
        if needs_check(s.elem) {
            out.push_str("    int r;\n    char path[SHM_PATH_CAP];\n    path[0] = '\\0';\n");
            emit_check(out, s.elem, &format!("(*(const {t} *)m)"), "0", 0, names);
            out.push_str("    (void)r;\n    return SHM_OK;\n}\n\n");
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

fn emit_ring(out: &mut String, x: &str, t: &str, place: &str) {
    let _ = write!(
        out,
        r#"/* Makes *sub a subscriber of this ring in the segment of the checked view
 * (any mapping, read-only will do), at the next new message
 * (shm_subscriber_start_oldest: the oldest kept). SHM_OK or SHM_ERR_CHECK. */
static inline int {x}_subscribe(const shm_view *view, shm_subscriber *sub, char *msg,
                               size_t msg_cap)
{{
    return shm_ring_subscribe(view, {place}, sub, msg, msg_cap);
}}

/* The next message or loss, never waiting: SHM_MSG (*out), SHM_LOST (their
 * number in *lost: the subscriber fell more than the capacity behind, and
 * goes on at the oldest message kept), SHM_EMPTY; SHM_ERR_INVALID (a
 * message that fails its check: the subscriber moves past it) or
 * SHM_ERR_CORRUPT (counters that cannot be right: the cursor stays). */
static inline int {x}_try_recv(shm_subscriber *sub, {t} *out, uint64_t *lost, char *msg,
                              size_t msg_cap)
{{
    int r = shm_ring_try_next(sub, out, sizeof(*out), lost, msg, msg_cap);
    if (r == SHM_MSG && (r = {x}_check(out, msg, msg_cap)) == SHM_OK)
        return SHM_MSG;
    return r;
}}

#if defined(__linux__)
/* {x}_try_recv, waiting at most `timeout_ms` for a message or a loss
 * (SHM_EMPTY then), as sub->how says (set sub->how = SHM_WAIT_FUTEX on a
 * read-write mapping, or sub->bell to an attached doorbell). */
static inline int {x}_recv_timeout(shm_subscriber *sub, {t} *out, uint64_t *lost,
                                  uint64_t timeout_ms, char *msg, size_t msg_cap)
{{
    int r = shm_ring_next_timeout(sub, out, sizeof(*out), lost, timeout_ms, msg, msg_cap);
    if (r == SHM_MSG && (r = {x}_check(out, msg, msg_cap)) == SHM_OK)
        return SHM_MSG;
    return r;
}}

/* Publishes *m (checked first) as the holder of write access `w`,
 * overwriting the oldest message if the ring is full; its number in
 * *number unless NULL. SHM_OK, SHM_ERR_INVALID, SHM_ERR_NOT_WRITER,
 * SHM_ERR_CHECK or SHM_ERR_CORRUPT. */
static inline int {x}_publish(shm_writer *w, const {t} *m, uint64_t *number, char *msg,
                             size_t msg_cap)
{{
    int r = {x}_check(m, msg, msg_cap);
    if (r != SHM_OK)
        return r;
    return shm_ring_publish(w, {place}, m, number, msg, msg_cap);
}}
#endif /* __linux__ */

"#
    );
}

fn emit_queue(out: &mut String, x: &str, t: &str, place: &str, name: &str, upper: &str) {
    let _ = write!(
        out,
        r#"#if defined(__linux__)
/* Claims this queue as its one consumer (shm_consumer_claim) in the segment
 * mapped read-write at `base` (`len` bytes, `fd` its object or -1),
 * waiting up to `wait_ms` for a live consumer; the pid of a dead one taken
 * over in *took_over_from (0: none). SHM_OK, SHM_ERR_CHECK or
 * SHM_ERR_BUSY. Give it back with {x}_release. */
static inline int {x}_consumer_claim(shm_consumer *c, int fd, void *base, size_t len,
                                    uint64_t wait_ms, uint32_t *took_over_from, char *msg,
                                    size_t msg_cap)
{{
    return shm_consumer_claim(c, fd, base, len, {upper}_FINGERPRINT, sizeof({name}),
                              SHM_ALIGNOF({name}), {place}, wait_ms, took_over_from, msg,
                              msg_cap);
}}

/* The next message without taking it (at least once: {x}_ack takes it):
 * SHM_MSG (*out), SHM_EMPTY, SHM_ERR_INVALID (a bad message, taken),
 * SHM_ERR_CORRUPT or SHM_ERR_NOT_WRITER. */
static inline int {x}_peek(shm_consumer *c, {t} *out, char *msg, size_t msg_cap)
{{
    return shm_consumer_recv(c, out, sizeof(*out), {x}_check, 0, msg, msg_cap);
}}

/* Takes the message the last {x}_peek returned. SHM_OK or SHM_ERR_CORRUPT. */
static inline int {x}_ack(shm_consumer *c, char *msg, size_t msg_cap)
{{
    return shm_consumer_ack(c, msg, msg_cap);
}}

/* The next message, taken before it returns (at most once): as {x}_peek. */
static inline int {x}_try_recv(shm_consumer *c, {t} *out, char *msg, size_t msg_cap)
{{
    return shm_consumer_recv(c, out, sizeof(*out), {x}_check, 1, msg, msg_cap);
}}

/* {x}_try_recv, waiting at most `timeout_ms` for a message (SHM_EMPTY
 * then). */
static inline int {x}_recv_timeout(shm_consumer *c, {t} *out, uint64_t timeout_ms, char *msg,
                                  size_t msg_cap)
{{
    return shm_consumer_recv_timeout(c, out, sizeof(*out), {x}_check, timeout_ms, msg, msg_cap);
}}

/* Lets go of the queue (shm_consumer_release). */
static inline void {x}_release(shm_consumer *c)
{{
    shm_consumer_release(c);
}}

/* Sends *m (checked first) as the producer, the holder of write access
 * `w`, if the queue has room; its number in *number unless NULL. SHM_OK,
 * SHM_ERR_FULL, SHM_ERR_INVALID, SHM_ERR_NOT_WRITER, SHM_ERR_CHECK or
 * SHM_ERR_CORRUPT. */
static inline int {x}_try_send(shm_writer *w, const {t} *m, uint64_t *number, char *msg,
                              size_t msg_cap)
{{
    int r = {x}_check(m, msg, msg_cap);
    if (r != SHM_OK)
        return r;
    return shm_queue_send(w, {place}, m, number, msg, msg_cap);
}}

/* {x}_try_send, waiting at most `timeout_ms` for room (SHM_ERR_FULL after
 * it). */
static inline int {x}_send_timeout(shm_writer *w, const {t} *m, uint64_t timeout_ms,
                                  uint64_t *number, char *msg, size_t msg_cap)
{{
    int r = {x}_check(m, msg, msg_cap);
    if (r != SHM_OK)
        return r;
    return shm_queue_send_timeout(w, {place}, m, timeout_ms, number, msg, msg_cap);
}}
#endif /* __linux__ */

"#
    );
}
