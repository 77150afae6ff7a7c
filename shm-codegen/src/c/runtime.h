/* What a check validated, kept private: a copy of the header and the
 * mapping it describes. Reads use only these offsets, never the live
 * header again: whatever any process writes into the segment after the
 * check, a read stays inside base..base+len. */
typedef struct shm_view {
    shm_segment_header header; /* private copy, as checked */
    const unsigned char *base; /* the mapping */
    size_t len;                /* its length */
} shm_view;

/* Copies the header at `base` (at least SHM_HEADER_SIZE bytes mapped) into
 * *out, one relaxed atomic 8-byte load per word; the last word (`waiters`
 * and `notify`, 4-byte futex words) is left zero. */
static inline void shm_copy_header(const void *base, shm_segment_header *out)
{
    const unsigned char *b = (const unsigned char *)base;
    unsigned char *dst = (unsigned char *)out;
    size_t i;
    for (i = 0; i + 8 < SHM_HEADER_SIZE; i += 8) {
        uint64_t w = SHM_LOAD_RELAXED(b + i);
        memcpy(dst + i, &w, 8);
    }
    memset(dst + i, 0, SHM_HEADER_SIZE - i);
}

/* The header checks every schema shares, on the private copy in `v`
 * (filled by the caller) of a `len`-byte mapping: NULL, or what is wrong.
 * `size` and `align` are the schema's. Both copies of the payload must lie
 * after the header, 8-aligned, with room for `size` bytes rounded up to
 * whole 8-byte words (reads load whole words), inside the mapping. */
static inline const char *shm_check_view(const shm_view *v, uint64_t fingerprint,
                                         size_t size, size_t align)
{
    const shm_segment_header *h = &v->header;
    uint64_t room = ((uint64_t)size + 7u) & ~(uint64_t)7u;
    uint64_t len = (uint64_t)v->len;
    if (memcmp(h->magic, SHM_MAGIC, 8) != 0)
        return "not a typed shared-memory segment (wrong magic)";
    if (h->header_version != SHM_HEADER_VERSION || h->header_size != SHM_HEADER_SIZE)
        return "unsupported segment header version";
    if (h->state != SHM_STATE_READY)
        return "the segment is not initialised";
    if (h->fingerprint != fingerprint)
        return "the segment holds another schema (its fingerprint differs)";
    if (h->payload_size != size || h->payload_offset % align != 0 || h->payload_offset % 8 != 0
        || h->payload_offset < SHM_HEADER_SIZE)
        return "the segment's payload is not laid out as this schema's";
    if (h->payload_offset > len || len - h->payload_offset < room)
        return "the segment's payload lies outside the object";
    if (h->backup_offset % align != 0 || h->backup_offset % 8 != 0
        || h->backup_offset < h->payload_offset || h->backup_offset - h->payload_offset < room
        || h->backup_offset > len || len - h->backup_offset < room)
        return "the backup copy of the segment's payload is misplaced or lies outside the object";
    return NULL;
}

/* Fills *v from the `len`-byte mapping at `base`: the state is loaded
 * (acquire) before the header is copied, so a published header is copied
 * whole. NULL, or what is wrong. */
static inline const char *shm_view_open(const void *base, size_t len, shm_view *v)
{
    memset(v, 0, sizeof(*v));
    if (base == NULL || len < SHM_HEADER_SIZE)
        return "the object is smaller than the 256-byte segment header";
    if ((uintptr_t)base % 8 != 0)
        return "the mapping is not 8-byte aligned";
    /* The word at offset 8 holds header_version, header_size and state:
     * loaded with acquire first, and that very value is the copy's, so a
     * copy whose state says ready was published before any of it was
     * loaded. */
    uint64_t word8 = SHM_LOAD_ACQUIRE((const unsigned char *)base + 8);
    shm_copy_header(base, &v->header);
    memcpy((unsigned char *)&v->header + 8, &word8, 8);
    v->base = (const unsigned char *)base;
    v->len = len;
    return NULL;
}

/* One attempt at a consistent copy of the payload. Writes alternate
 * between the two copies, each with its counter (odd while it is being
 * written): the latest copy is the one whose counter is even and larger
 * (equal: the primary; if the larger is odd, the other; "larger" in
 * serial-number order, q - p wrapping and positive as a signed number, for
 * a damaged segment with counters next to the end). Both counters are
 * loaded with acquire, the latest copy's bytes as whole aligned 8-byte
 * words with relaxed atomic loads (the last word whole too, of which only
 * the first bytes are kept: the check made room for it), then an acquire
 * fence and a second load of its counter: equal means `dst` holds one
 * write's value. Returns 1 and stores the counter in *seq_out then, else
 * 0. */
static inline int shm_try_copy(const unsigned char *b, const shm_view *v, unsigned char *dst,
                               size_t len, uint64_t *seq_out)
{
    const unsigned char *seq_p = b + offsetof(shm_segment_header, seq);
    const unsigned char *seq_b = b + offsetof(shm_segment_header, backup_seq);
    uint64_t p = SHM_LOAD_ACQUIRE(seq_p);
    uint64_t q = SHM_LOAD_ACQUIRE(seq_b);
    int backup = (q & 1u) == 0 && ((p & 1u) != 0 || (int64_t)(q - p) > 0);
    const unsigned char *seq = backup ? seq_b : seq_p;
    const unsigned char *src = b + (backup ? v->header.backup_offset : v->header.payload_offset);
    uint64_t s1 = backup ? q : p;
    size_t i = 0;
    if (s1 & 1u)
        return 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w = SHM_LOAD_RELAXED(src + i);
        memcpy(dst + i, &w, 8);
    }
    if (i < len) {
        uint64_t w = SHM_LOAD_RELAXED(src + i);
        memcpy(dst + i, &w, len - i);
    }
    SHM_FENCE_ACQUIRE();
    if (SHM_LOAD_RELAXED(seq) != s1)
        return 0;
    *seq_out = s1;
    return 1;
}

/* A consistent snapshot of the `len`-byte payload of the checked view `v`
 * into `out`: the latest of the two copies (shm_try_copy). The offsets are
 * the view's, as checked. It never waits for a writer, and a writer killed
 * in the middle of a write leaves the latest complete value behind, in the
 * copy it was not writing. Another attempt is made only when the copy read
 * was rewritten during one, at most `max_tries` attempts. Returns 0, and
 * the version (the copy's counter / 2: the number of the write that
 * produced the value) in *version unless it is NULL; SHM_ERR_NO_COPY (-1)
 * if every attempt failed or `len` is not the checked payload size. Never
 * stores to the segment. It does not validate the values: the generated
 * `<schema>_read` does. */
static inline int shm_read_snapshot(const shm_view *v, void *out, size_t len,
                                    unsigned long max_tries, uint64_t *version)
{
    const unsigned char *b = v->base;
    unsigned char *dst = (unsigned char *)out;
    uint64_t s = 0;
    if (b == NULL || len != v->header.payload_size)
        return SHM_ERR_NO_COPY;
    unsigned long t;
    for (t = 0; t < max_tries; t++) {
        if (shm_try_copy(b, v, dst, len, &s)) {
            if (version != NULL)
                *version = s / 2;
            return SHM_OK;
        }
    }
    return SHM_ERR_NO_COPY;
}


/* The version of the value in the segment: max(seq, backup_seq) / 2, in
 * serial-number order (sequentially consistent loads, as waiters need). */
static inline uint64_t shm_version(const shm_view *v)
{
    uint64_t p, q;
    if (v->base == NULL)
        return 0;
    p = SHM_LOAD_SEQCST(v->base + offsetof(shm_segment_header, seq));
    q = SHM_LOAD_SEQCST(v->base + offsetof(shm_segment_header, backup_seq));
    return ((int64_t)(q - p) > 0 ? q : p) / 2;
}

/* Writes `text` into msg (msg_cap bytes, cut if longer); returns `code`. */
static inline int shm_fail(char *msg, size_t msg_cap, int code, const char *text)
{
    if (msg != NULL && msg_cap > 0)
        snprintf(msg, msg_cap, "%s", text);
    return code;
}

/* Appends `.field` (or `field` at the start) to the path of `at` bytes in
 * `path` (SHM_PATH_CAP bytes); the new length. */
static inline size_t shm_path_field(char *path, size_t at, const char *field)
{
    int n = at == 0 ? snprintf(path, SHM_PATH_CAP, "%s", field)
                    : snprintf(path + at, SHM_PATH_CAP - at, ".%s", field);
    if (n < 0)
        return at;
    return at + (size_t)n >= SHM_PATH_CAP ? SHM_PATH_CAP - 1 : at + (size_t)n;
}

/* Appends `[i]` to the path; the new length. */
static inline size_t shm_path_index(char *path, size_t at, size_t i)
{
    int n = snprintf(path + at, SHM_PATH_CAP - at, "[%lu]", (unsigned long)i);
    if (n < 0)
        return at;
    return at + (size_t)n >= SHM_PATH_CAP ? SHM_PATH_CAP - 1 : at + (size_t)n;
}

/* Appends `text` to the message of `at` bytes in msg (msg_cap > at bytes),
 * cut if longer, and ends it with a NUL; the new length. */
static inline size_t shm_msg_append(char *msg, size_t msg_cap, size_t at, const char *text)
{
    while (*text != '\0' && at + 1 < msg_cap)
        msg[at++] = *text++;
    msg[at] = '\0';
    return at;
}

/* The message of the Rust runtime's Error::InvalidValue, without the
 * segment's name: `field `path` holds an invalid value: what`. (Put
 * together by hand rather than by snprintf, which GCC's
 * -Wformat-truncation, in -Wall, warns about for a path and a message
 * buffer of the same size.) */
static inline int shm_invalid(char *msg, size_t msg_cap, const char *path, const char *what)
{
    if (msg != NULL && msg_cap > 0) {
        size_t at = 0;
        if (path[0] != '\0') {
            at = shm_msg_append(msg, msg_cap, at, "field `");
            at = shm_msg_append(msg, msg_cap, at, path);
            at = shm_msg_append(msg, msg_cap, at, "` holds an invalid value: ");
        } else {
            at = shm_msg_append(msg, msg_cap, at, "invalid value: ");
        }
        shm_msg_append(msg, msg_cap, at, what);
    }
    return SHM_ERR_INVALID;
}

/* A bool is one byte, 0 (false) or 1 (true). */
static inline int shm_check_bool(uint8_t b, const char *path, char *msg, size_t msg_cap)
{
    char what[80];
    if (b <= 1)
        return SHM_OK;
    snprintf(what, sizeof what, "byte 0x%02x is not a bool (0 = false, 1 = true)", (unsigned)b);
    return shm_invalid(msg, msg_cap, path, what);
}

/* A char is a uint32_t holding a Unicode scalar value. */
static inline int shm_check_char(uint32_t c, const char *path, char *msg, size_t msg_cap)
{
    char what[120];
    if (c <= 0x10ffffu && (c < 0xd800u || c > 0xdfffu))
        return SHM_OK;
    snprintf(what, sizeof what,
             "0x%lx is not a Unicode scalar value (a char: 0 to 0x10ffff, not 0xd800 to 0xdfff)",
             (unsigned long)c);
    return shm_invalid(msg, msg_cap, path, what);
}

/* How many of the `len` bytes at `s` are valid UTF-8 before the first
 * invalid or incomplete sequence (`len` if all are): the rules of Rust's
 * str::from_utf8 (no overlong forms, no surrogates, nothing above
 * U+10FFFF). */
static inline size_t shm_utf8_valid_up_to(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        unsigned lo = 0x80u, hi = 0xbfu;
        size_t n, k;
        if (c < 0x80u) {
            i++;
            continue;
        }
        if (c >= 0xc2u && c <= 0xdfu) {
            n = 1;
        } else if (c >= 0xe0u && c <= 0xefu) {
            n = 2;
            if (c == 0xe0u)
                lo = 0xa0u;
            else if (c == 0xedu)
                hi = 0x9fu;
        } else if (c >= 0xf0u && c <= 0xf4u) {
            n = 3;
            if (c == 0xf0u)
                lo = 0x90u;
            else if (c == 0xf4u)
                hi = 0x8fu;
        } else {
            return i;
        }
        if (len - i - 1 < n || s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (k = 2; k <= n; k++)
            if ((s[i + k] & 0xc0u) != 0x80u)
                return i;
        i += n + 1;
    }
    return len;
}

/* Checks a FixedStr<capacity> (`capacity + 2` bytes at `raw`: a
 * little-endian u16 length, then the bytes): its length is at most its
 * capacity and its first `length` bytes are UTF-8. SHM_OK and the length
 * in *len (unless NULL), or SHM_ERR_INVALID. */
static inline int shm_check_str(const void *raw, size_t capacity, size_t *len, const char *path,
                                char *msg, size_t msg_cap)
{
    const unsigned char *r = (const unsigned char *)raw;
    size_t n = (size_t)r[0] | (size_t)r[1] << 8;
    size_t at;
    char what[120];
    if (n > capacity) {
        snprintf(what, sizeof what, "string length %lu exceeds its capacity %lu",
                 (unsigned long)n, (unsigned long)capacity);
        return shm_invalid(msg, msg_cap, path, what);
    }
    at = shm_utf8_valid_up_to(r + 2, n);
    if (at != n) {
        snprintf(what, sizeof what, "string of length %lu is not UTF-8: byte %lu is 0x%02x",
                 (unsigned long)n, (unsigned long)at, (unsigned)r[2 + at]);
        return shm_invalid(msg, msg_cap, path, what);
    }
    if (len != NULL)
        *len = n;
    return SHM_OK;
}

/* Stores `len` bytes of UTF-8 at `text` into a FixedStr<capacity> at
 * `raw`, the rest zeroed: SHM_OK, or SHM_ERR_INVALID (nothing stored) if
 * they are longer than `capacity` or not UTF-8. */
static inline int shm_set_str(void *raw, size_t capacity, const char *text, size_t len)
{
    unsigned char *r = (unsigned char *)raw;
    if (len > capacity || (len > 0 && text == NULL)
        || shm_utf8_valid_up_to((const unsigned char *)text, len) != len)
        return SHM_ERR_INVALID;
    r[0] = (unsigned char)(len & 0xffu);
    r[1] = (unsigned char)(len >> 8);
    if (len > 0)
        memcpy(r + 2, text, len);
    memset(r + 2 + len, 0, capacity - len);
    return SHM_OK;
}

