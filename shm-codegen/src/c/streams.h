#ifndef SHM_STREAMS_DEFINED
#define SHM_STREAMS_DEFINED
/* ---- Streams: rings and queues ------------------------------------------
 *
 * The regions of `Ring<M, N>` and `Queue<M, N>` fields in the segment's
 * stream area and their protocols, exactly as the Rust runtime's
 * (docs/FORMAT.md, "Streams: message rings" and "Queues"): every shared
 * access a whole aligned 8-byte atomic, the same orderings and fences, and
 * every counter read from the segment checked, so that a damaged or
 * hostile ring gives SHM_ERR_CORRUPT, never a hang or an access outside
 * its region. The generated `<schema>_<field>_...` functions call these
 * with the field's place and message size, and validate each message. */

/* What a receive returns besides the SHM_ERR_ codes. */
#define SHM_EMPTY 0 /* nothing new (no message, no loss) */
#define SHM_MSG 1   /* a message was copied into *out */
#define SHM_LOST 2  /* messages were overwritten before they were read: how many in *lost */
#define SHM_ERR_FULL (-8) /* the queue has no free slot */

/* Bytes of a ring's and of a queue's header lines. */
#define SHM_RING_HEADER 64u
#define SHM_QUEUE_HEADER 128u
/* The largest number of slots a ring or queue has (2^24). */
#define SHM_STREAM_CAP_MAX UINT64_C(16777216)

/* Whether `cap` is a stream's number of slots (a power of two, at most
 * SHM_STREAM_CAP_MAX) and `region_len` bytes hold its `header`-byte header
 * and `cap` slots of `slot` bytes. */
static inline int shm_stream_fits(uint64_t cap, uint64_t region_len, uint64_t header,
                                  uint64_t slot)
{
    return cap != 0 && (cap & (cap - 1u)) == 0 && cap <= SHM_STREAM_CAP_MAX
           && region_len >= header + cap * slot;
}

/* Checks a message copied out of a ring or queue (a generated
 * `<schema>_<field>_check`): SHM_OK or SHM_ERR_INVALID, as the Rust reader
 * checks it. */
typedef int (*shm_msg_check)(const void *m, char *msg, size_t msg_cap);

/* Where the region of a stream field lies: `region_offset` from the start
 * of the stream area and `region_len` bytes (the generated code's
 * constants, computed from the schema as the Rust runtime does), with the
 * stream area on the first 64-byte line after the backup copy's room
 * (`payload_capacity`, or `payload_size` when that is 0, in whole words),
 * all taken from the view's checked private header copy. The region must
 * lie inside `segment_size` and the mapping. SHM_OK and its offset in the
 * mapping in *start, or SHM_ERR_CHECK and why in msg. */
static inline int shm_stream_region(const shm_view *v, uint64_t region_offset, uint64_t region_len,
                                    size_t *start, char *msg, size_t msg_cap)
{
    const shm_segment_header *h = &v->header;
    uint64_t room = h->payload_capacity != 0 ? h->payload_capacity : h->payload_size;
    uint64_t s = h->backup_offset, e = 0;
    if (v->base == NULL)
        return shm_fail(msg, msg_cap, SHM_ERR_CHECK, "the view was not checked");
    if (h->payload_capacity != 0 && h->payload_capacity < h->payload_size)
        return shm_fail(msg, msg_cap, SHM_ERR_CHECK,
                        "the segment's payload capacity is below its payload size");
    int fits = room <= UINT64_MAX - 7u;
    if (fits) {
        room = (room + 7u) & ~(uint64_t)7u;
        fits = s <= UINT64_MAX - 63u && room <= UINT64_MAX - 63u - s;
    }
    if (fits) {
        s = (s + room + 63u) & ~(uint64_t)63u;
        fits = region_offset <= UINT64_MAX - s && region_len <= UINT64_MAX - s - region_offset;
    }
    if (fits) {
        s += region_offset;
        e = s + region_len;
        fits = e <= h->segment_size && e <= (uint64_t)v->len && s % 8u == 0;
    }
    if (!fits) {
        if (msg != NULL && msg_cap > 0)
            snprintf(msg, msg_cap,
                     "the segment (%lu bytes mapped) has no room for the stream at stream offset "
                     "%llu (%llu bytes) after the payload copies",
                     (unsigned long)v->len, (unsigned long long)region_offset,
                     (unsigned long long)region_len);
        return SHM_ERR_CHECK;
    }
    *start = (size_t)s;
    return SHM_OK;
}

/* Copies `len` bytes at `src` (8-aligned, with room for whole words) into
 * private memory at `dst` with relaxed atomic loads of whole 8-byte words,
 * the last one whole too. */
static inline void shm_load_words(const unsigned char *src, unsigned char *dst, size_t len)
{
    size_t i;
    uint64_t w;
    for (i = 0; i + 8 <= len; i += 8) {
        w = SHM_LOAD_RELAXED(src + i);
        memcpy(dst + i, &w, 8);
    }
    if (i < len) {
        w = SHM_LOAD_RELAXED(src + i);
        memcpy(dst + i, &w, len - i);
    }
}

/* A reader of one ring with its own cursor. Fill it with a generated
 * `<schema>_<ring>_subscribe`. It never stores to the segment: a
 * read-only mapping will do. */
typedef struct shm_subscriber {
    const unsigned char *seg;    /* the mapping (for `notify` and `waiters`) */
    const unsigned char *region; /* the ring's region: `head`, then the slots */
    uint64_t cap;                /* the number of slots, a power of two */
    size_t size;                 /* bytes of a message */
    size_t stride;               /* bytes of a slot: `seq`, then the message in whole words */
    uint64_t next;               /* the number of the next message to read, or to report lost */
    uint64_t pending;            /* a loss found by a batch after messages, reported next */
    int how;                     /* how recv_timeout waits: SHM_WAIT_POLL (0, the default)
                                    or SHM_WAIT_FUTEX (a read-write mapping only) */
    struct shm_doorbell *bell;   /* with SHM_WAIT_POLL: an attached doorbell to sleep on, or NULL */
} shm_subscriber;

/* Moves the cursor past every message published so far. */
static inline void shm_subscriber_start_new(shm_subscriber *s)
{
    s->pending = 0;
    s->next = SHM_LOAD_ACQUIRE(s->region);
}

/* Moves the cursor to the oldest message the ring still holds. */
static inline void shm_subscriber_start_oldest(shm_subscriber *s)
{
    uint64_t h = SHM_LOAD_ACQUIRE(s->region);
    s->pending = 0;
    s->next = h > s->cap ? h - s->cap : 0;
}

/* The number of the next message this subscriber will receive or report
 * lost (messages are numbered from 0 in publishing order). */
static inline uint64_t shm_subscriber_position(const shm_subscriber *s)
{
    return s->next - s->pending;
}

/* Makes *s a subscriber of the ring of `cap` slots of `size`-byte
 * messages whose region is at `region_offset` (`region_len` bytes) of the
 * stream area of the checked view `v`, starting at the next new message.
 * SHM_OK, or SHM_ERR_CHECK. */
static inline int shm_ring_subscribe(const shm_view *v, uint64_t region_offset,
                                     uint64_t region_len, uint64_t cap, size_t size,
                                     shm_subscriber *s, char *msg, size_t msg_cap)
{
    size_t start = 0;
    int r;
    memset(s, 0, sizeof(*s));
    if (size == 0
        || !shm_stream_fits(cap, region_len, SHM_RING_HEADER, 8u + ((size + 7u) & ~(size_t)7u)))
        return shm_fail(msg, msg_cap, SHM_ERR_CHECK, "not a ring of this size");
    r = shm_stream_region(v, region_offset, region_len, &start, msg, msg_cap);
    if (r != SHM_OK)
        return r;
    s->seg = v->base;
    s->region = v->base + start;
    s->cap = cap;
    s->size = size;
    s->stride = 8u + ((size + 7u) & ~(size_t)7u);
    shm_subscriber_start_new(s);
    return SHM_OK;
}

/* Reports a ring whose counters cannot be right (the Rust runtime's
 * words, numbers only). */
static inline int shm_ring_corrupt(char *msg, size_t msg_cap, int kind, uint64_t a, uint64_t b,
                                   uint64_t c, uint64_t d)
{
    if (msg != NULL && msg_cap > 0) {
        if (kind == 0)
            snprintf(msg, msg_cap,
                     "ring published count %llu is below this reader's position %llu (it never "
                     "goes back)",
                     (unsigned long long)a, (unsigned long long)b);
        else if (kind == 1)
            snprintf(msg, msg_cap, "ring message number %llu overflows its counters",
                     (unsigned long long)a);
        else
            snprintf(msg, msg_cap,
                     "ring slot %llu has sequence %llu, which is not message %llu or a later one "
                     "of that slot up to the published count %llu",
                     (unsigned long long)a, (unsigned long long)b, (unsigned long long)c,
                     (unsigned long long)d);
    }
    return SHM_ERR_CORRUPT;
}

/* One step of the reader: copies message `next` into `out` (`len` bytes,
 * the ring's message size) and returns SHM_MSG; or SHM_LOST and the number
 * of messages overwritten before this reader got to them in *lost (the
 * cursor moves past them, to the oldest message still complete); or
 * SHM_EMPTY; or SHM_ERR_CORRUPT (the cursor stays). The reader's side of
 * the protocol: `head` (acquire) first, then the slot's `seq` (acquire),
 * the message with relaxed whole-word loads, an acquire fence, `seq`
 * again. A bounded amount of work, whatever the segment holds. Does not
 * validate the message: the generated `<schema>_<ring>_try_recv` does. */
static inline int shm_ring_try_next(shm_subscriber *s, void *out, size_t len, uint64_t *lost,
                                    char *msg, size_t msg_cap)
{
    uint64_t n = s->cap, next = s->next, h, expect, s1, seq, m, h2, oldest;
    const unsigned char *slot;
    size_t k;
    if (s->region == NULL || len != s->size)
        return shm_fail(msg, msg_cap, SHM_ERR_CHECK, "not a subscriber of a ring of this type");
    if (s->pending != 0) {
        *lost = s->pending;
        s->pending = 0;
        return SHM_LOST;
    }
    h = SHM_LOAD_ACQUIRE(s->region);
    if (h < next)
        return shm_ring_corrupt(msg, msg_cap, 0, h, next, 0, 0);
    if (h == next)
        return SHM_EMPTY;
    if (h - next > n) {
        *lost = h - n - next;
        s->next = h - n;
        return SHM_LOST;
    }
    if (next > (UINT64_MAX - 2u) / 2u)
        return shm_ring_corrupt(msg, msg_cap, 1, next, 0, 0, 0);
    expect = 2u * next + 2u;
    k = (size_t)(next & (n - 1u));
    slot = s->region + SHM_RING_HEADER + k * s->stride;
    s1 = SHM_LOAD_ACQUIRE(slot);
    seq = s1;
    if (s1 == expect) {
        uint64_t s2;
        shm_load_words(slot + 8, (unsigned char *)out, len);
        SHM_FENCE_ACQUIRE();
        s2 = SHM_LOAD_ACQUIRE(slot);
        if (s2 == s1) {
            s->next = next + 1u;
            return SHM_MSG;
        }
        seq = s2;
    }
    if (seq < expect)
        return shm_ring_corrupt(msg, msg_cap, 2, k, seq, next, h);
    /* Overwritten by (or being overwritten with) message m. */
    m = (seq - 1u) / 2u;
    h2 = SHM_LOAD_ACQUIRE(s->region);
    if ((m & (n - 1u)) != (uint64_t)k || m < next || m - next < n || m > h2)
        return shm_ring_corrupt(msg, msg_cap, 2, k, seq, next, h2);
    oldest = m + 1u - n;
    *lost = oldest - next;
    s->next = oldest;
    return SHM_LOST;
}

/* Receives up to `n` messages of `len` bytes into `out` without waiting,
 * each checked with `check`: how many in *count (at the start of `out`)
 * and how many were lost just before the first of them in *lost. The
 * messages of a batch are consecutive: a loss found after some messages
 * ends the batch and is reported first by the next call (so they are the
 * numbers position - count .. position). SHM_OK, or an error (the
 * messages before it are in `out`, *count says how many). */
static inline int shm_ring_recv_batch(shm_subscriber *s, void *out, size_t len, size_t n,
                                      shm_msg_check check, size_t *count, uint64_t *lost,
                                      char *msg, size_t msg_cap)
{
    unsigned char *dst = (unsigned char *)out;
    unsigned losses = 0;
    *count = 0;
    *lost = 0;
    /* Losses in a row need a publisher that keeps overtaking this
     * subscriber: at most 64 of them per call. */
    while (*count < n && losses < 64) {
        uint64_t k = 0;
        int r = shm_ring_try_next(s, dst + *count * len, len, &k, msg, msg_cap);
        if (r == SHM_EMPTY)
            break;
        if (r == SHM_LOST && *count > 0) {
            s->pending = k;
            break;
        }
        if (r == SHM_LOST) {
            *lost = *lost > UINT64_MAX - k ? UINT64_MAX : *lost + k;
            losses++;
            continue;
        }
        if (r == SHM_MSG)
            r = check(dst + *count * len, msg, msg_cap);
        if (r != SHM_OK)
            return r;
        *count += 1;
    }
    return SHM_OK;
}

#if defined(__linux__)
/* Waits until the 8-byte counter at `word` in the segment mapped at `seg`
 * is no longer `seen`, or `timeout_ms` passes: 1 changed, 0 timeout. As
 * shm_wait_for_change_with (the same registration in `waiters` or the
 * doorbell, the same futex on `notify`, the same re-checks and polling),
 * with the counter in place of the version. */
static inline int shm_wait_word(const unsigned char *seg, struct shm_doorbell *bell, int how,
                                const unsigned char *word, uint64_t seen, uint64_t timeout_ms)
{
    shm_waiting w;
    int changed = 0;
    shm_wait_begin(&w, seg, bell, how, timeout_ms);
    for (;;) {
        uint32_t n = SHM_LOAD32(w.notify);
        if (SHM_LOAD_SEQCST(word) != seen) {
            changed = 1;
            break;
        }
        if (!shm_wait_pause(&w, n))
            break;
    }
    shm_wait_end(&w);
    return changed;
}

/* notify + 1, and FUTEX_WAKE for every sleeper if `waiters` or the
 * doorbell's `ro_waiters` is not 0 (shm_notify, for a process that is not
 * the writer: a queue's consumer). */
static inline void shm_wake(unsigned char *seg, const shm_doorbell *bell)
{
    unsigned char *n = seg + offsetof(shm_segment_header, notify);
    SHM_ADD32(n, 1u);
    if (SHM_LOAD32(seg + offsetof(shm_segment_header, waiters)) != 0
        || (bell != NULL && bell->words != NULL && SHM_LOAD32(bell->words + 16) != 0))
        syscall(SYS_futex, n, SHM_FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* shm_ring_try_next, waiting at most `timeout_ms` for a message or a loss
 * (SHM_EMPTY then), as the subscriber's `how` and `bell` say. */
static inline int shm_ring_next_timeout(shm_subscriber *s, void *out, size_t len, uint64_t *lost,
                                        uint64_t timeout_ms, char *msg, size_t msg_cap)
{
    uint64_t start = shm_clock_ns(CLOCK_MONOTONIC);
    uint64_t limit = shm_ms_to_ns(timeout_ms);
    for (;;) {
        uint64_t spent;
        int r = shm_ring_try_next(s, out, len, lost, msg, msg_cap);
        if (r != SHM_EMPTY)
            return r;
        spent = shm_clock_ns(CLOCK_MONOTONIC) - start;
        if (spent >= limit)
            return SHM_EMPTY;
        /* A changed head with nothing new means it went back: the next
         * try says it is corrupt. */
        if (!shm_wait_word(s->seg, s->bell, s->how, s->region, s->next,
                           (limit - spent + 999999u) / 1000000u))
            return shm_ring_try_next(s, out, len, lost, msg, msg_cap);
    }
}

/* The checks of a write through `w`: it holds write access, in this
 * process. */
static inline int shm_writer_held(const shm_writer *w, char *msg, size_t msg_cap)
{
    if (w->base == NULL || w->word == 0)
        return shm_fail(msg, msg_cap, SHM_ERR_NOT_WRITER, "this writer does not hold write access");
    if ((uint32_t)getpid() != w->pid)
        return shm_fail(msg, msg_cap, SHM_ERR_NOT_WRITER,
                        "write access belongs to the process that claimed it, not to a forked child");
    return SHM_OK;
}

/* Publishes the `size`-byte message at `src` into the ring of `cap` slots
 * at `region_offset` (`region_len` bytes) of the stream area, as its one
 * publisher (the holder of write access through `w`), then wakes waiters;
 * its number in *number unless NULL. The publisher's side: `head`
 * (relaxed: only the publisher stores it), the slot's `seq` = 2 head + 1
 * (release), a release fence, the message with relaxed whole-word stores,
 * `seq` = 2 head + 2 (release), `head` + 1 (release). Never waits for
 * readers. SHM_OK, SHM_ERR_NOT_WRITER, SHM_ERR_CHECK, or SHM_ERR_CORRUPT
 * if `head` is at the end of its range. */
static inline int shm_ring_publish(shm_writer *w, uint64_t region_offset, uint64_t region_len,
                                   uint64_t cap, size_t size, const void *src, uint64_t *number,
                                   char *msg, size_t msg_cap)
{
    size_t start = 0, stride = 8u + ((size + 7u) & ~(size_t)7u);
    unsigned char *region, *slot;
    uint64_t h;
    int r = shm_writer_held(w, msg, msg_cap);
    if (r != SHM_OK)
        return r;
    if (!shm_stream_fits(cap, region_len, SHM_RING_HEADER, stride))
        return shm_fail(msg, msg_cap, SHM_ERR_CHECK, "not a ring of this size");
    r = shm_stream_region(&w->view, region_offset, region_len, &start, msg, msg_cap);
    if (r != SHM_OK)
        return r;
    region = w->base + start;
    h = SHM_LOAD_RELAXED(region);
    if (h > (UINT64_MAX - 2u) / 2u)
        return shm_ring_corrupt(msg, msg_cap, 1, h, 0, 0, 0);
    slot = region + SHM_RING_HEADER + (size_t)(h & (cap - 1u)) * stride;
    SHM_STORE_RELEASE(slot, 2u * h + 1u);
    SHM_FENCE_RELEASE();
    shm_store_words(slot + 8, (const unsigned char *)src, size);
    SHM_STORE_RELEASE(slot, 2u * h + 2u);
    SHM_STORE_RELEASE(region, h + 1u);
    shm_notify(w);
    if (number != NULL)
        *number = h;
    return SHM_OK;
}

/* A queue's region: `tail` (+0), `head` (+64), the consumer's claim word
 * (+72), slots from +128 (the message in whole words). */
#define SHM_QUEUE_TAIL 0u
#define SHM_QUEUE_HEAD 64u
#define SHM_QUEUE_CLAIM 72u

/* `head` and `tail` of the queue at `region`, loaded with acquire (or
 * relaxed for `head` when `head_relaxed`, the consumer's own store, or for
 * `tail` when `tail_relaxed`, the producer's own) and checked: head <=
 * tail <= head + cap. SHM_OK, or SHM_ERR_CORRUPT. */
static inline int shm_queue_counts(const unsigned char *region, uint64_t cap, int head_relaxed,
                                   int tail_relaxed, uint64_t *head, uint64_t *tail, char *msg,
                                   size_t msg_cap)
{
    uint64_t h = head_relaxed ? SHM_LOAD_RELAXED(region + SHM_QUEUE_HEAD)
                              : SHM_LOAD_ACQUIRE(region + SHM_QUEUE_HEAD);
    uint64_t t = tail_relaxed ? SHM_LOAD_RELAXED(region + SHM_QUEUE_TAIL)
                              : SHM_LOAD_ACQUIRE(region + SHM_QUEUE_TAIL);
    if (h > t || t - h > cap) {
        if (msg != NULL && msg_cap > 0)
            snprintf(msg, msg_cap,
                     "queue counts taken %llu and sent %llu are not within its capacity %llu",
                     (unsigned long long)h, (unsigned long long)t, (unsigned long long)cap);
        return SHM_ERR_CORRUPT;
    }
    *head = h;
    *tail = t;
    return SHM_OK;
}

/* Sends the `size`-byte message at `src` into the queue of `cap` slots at
 * `region_offset` (`region_len` bytes) of the stream area, as its one
 * producer (the holder of write access through `w`), then wakes waiters;
 * its number in *number unless NULL. The producer's side: `head`
 * (acquire) and `tail` checked, a release fence, the message with
 * relaxed whole-word stores into slot `tail`, `tail` + 1 (release). SHM_OK, SHM_ERR_FULL (no
 * free slot), SHM_ERR_NOT_WRITER, SHM_ERR_CHECK or SHM_ERR_CORRUPT. */
static inline int shm_queue_send(shm_writer *w, uint64_t region_offset, uint64_t region_len,
                                 uint64_t cap, size_t size, const void *src, uint64_t *number,
                                 char *msg, size_t msg_cap)
{
    size_t start = 0, room = (size + 7u) & ~(size_t)7u;
    unsigned char *region;
    uint64_t h, t;
    int r = shm_writer_held(w, msg, msg_cap);
    if (r != SHM_OK)
        return r;
    if (!shm_stream_fits(cap, region_len, SHM_QUEUE_HEADER, room))
        return shm_fail(msg, msg_cap, SHM_ERR_CHECK, "not a queue of this size");
    r = shm_stream_region(&w->view, region_offset, region_len, &start, msg, msg_cap);
    if (r != SHM_OK)
        return r;
    region = w->base + start;
    r = shm_queue_counts(region, cap, 0, 1, &h, &t, msg, msg_cap);
    if (r != SHM_OK)
        return r;
    if (t - h == cap) {
        if (msg != NULL && msg_cap > 0)
            snprintf(msg, msg_cap, "the queue is full (%llu messages)", (unsigned long long)cap);
        return SHM_ERR_FULL;
    }
    if (t == UINT64_MAX) {
        if (msg != NULL && msg_cap > 0)
            snprintf(msg, msg_cap, "queue sent count %llu is at the end of its range",
                     (unsigned long long)t);
        return SHM_ERR_CORRUPT;
    }
    /* For readers that do not take (`shm watch`): the consumer's store of
     * `head` happens before this fence, so a reader that copied a word of
     * this message and fences with acquire sees that the slot was taken. */
    SHM_FENCE_RELEASE();
    shm_store_words(region + SHM_QUEUE_HEADER + (size_t)(t & (cap - 1u)) * room,
                    (const unsigned char *)src, size);
    SHM_STORE_RELEASE(region + SHM_QUEUE_TAIL, t + 1u);
    shm_notify(w);
    if (number != NULL)
        *number = t;
    return SHM_OK;
}

/* shm_queue_send, waiting at most `timeout_ms` for a free slot (woken when
 * the consumer takes a message); SHM_ERR_FULL after it. */
static inline int shm_queue_send_timeout(shm_writer *w, uint64_t region_offset,
                                         uint64_t region_len, uint64_t cap, size_t size,
                                         const void *src, uint64_t timeout_ms, uint64_t *number,
                                         char *msg, size_t msg_cap)
{
    uint64_t start = shm_clock_ns(CLOCK_MONOTONIC);
    uint64_t limit = shm_ms_to_ns(timeout_ms);
    for (;;) {
        size_t at = 0;
        uint64_t spent, head;
        int r = shm_queue_send(w, region_offset, region_len, cap, size, src, number, msg,
                               msg_cap);
        if (r != SHM_ERR_FULL)
            return r;
        spent = shm_clock_ns(CLOCK_MONOTONIC) - start;
        if (spent >= limit)
            return r;
        /* (shm_queue_send checked the region.) Full: `head` was `tail` -
         * cap, and room comes only from the consumer moving it. */
        shm_stream_region(&w->view, region_offset, region_len, &at, NULL, 0);
        head = SHM_LOAD_RELAXED(w->base + at + SHM_QUEUE_TAIL) - cap;
        if (!shm_wait_word(w->base, NULL, SHM_WAIT_FUTEX, w->base + at + SHM_QUEUE_HEAD, head,
                           (limit - spent + 999999u) / 1000000u))
            return shm_queue_send(w, region_offset, region_len, cap, size, src, number, msg,
                                  msg_cap);
    }
}

/* The one consumer of a queue: the checked header copy, the read-write
 * mapping, the queue and the claim. Fill it with a generated
 * `<schema>_<queue>_consumer_claim`; give it back with
 * shm_consumer_release. */
typedef struct shm_consumer {
    shm_view view;         /* the checked private header copy */
    unsigned char *base;   /* the read-write mapping (view.base) */
    unsigned char *region; /* the queue's region */
    uint64_t cap;          /* the number of slots, a power of two */
    size_t size;           /* bytes of a message */
    uint64_t word;         /* this process's claim word, 0 if not claimed */
    uint32_t pid;          /* the process that claimed */
    int peeked;            /* a message was peeked and not yet acknowledged */
    shm_doorbell bell;     /* the segment's doorbell, if it has one (to wake read-only waiters) */
} shm_consumer;

/* Gives the queue back if this process holds it through `c`: its own
 * claim word swapped for 0 (a word that is not its own is left alone). */
static inline void shm_consumer_release(shm_consumer *c)
{
    if (c->region != NULL && c->word != 0 && (uint32_t)getpid() == c->pid) {
        uint64_t expected = c->word;
        SHM_CAS(c->region + SHM_QUEUE_CLAIM, &expected, (uint64_t)0);
    }
    shm_doorbell_detach(&c->bell);
    memset(c, 0, sizeof(*c));
}

/* Claims the queue of `cap` slots of `size`-byte messages at
 * `region_offset` (`region_len` bytes) of the stream area of the segment
 * mapped read-write at `base` (`len` bytes; `fd` a descriptor of its
 * object, or -1: used only to attach the doorbell), of a schema with that
 * fingerprint, size and alignment, as its one consumer, exactly as the
 * Rust runtime: the claim word (+72) is swapped by compare-and-swap from 0,
 * or from a word naming a dead process (shm_owner_dead: a take-over, its
 * pid in *took_over_from unless NULL, else 0 there), for this process's
 * own; a live consumer is waited for up to `wait_ms` (looking every 1 ms),
 * this process's own word fails at once. The consumer goes on at `head`.
 * SHM_OK, SHM_ERR_CHECK or SHM_ERR_BUSY. */
static inline int shm_consumer_claim(shm_consumer *c, int fd, void *base, size_t len,
                                     uint64_t fingerprint, size_t payload_size, size_t align,
                                     uint64_t region_offset, uint64_t region_len, uint64_t cap,
                                     size_t size, uint64_t wait_ms, uint32_t *took_over_from,
                                     char *msg, size_t msg_cap)
{
    size_t start = 0, room = (size + 7u) & ~(size_t)7u;
    const char *err;
    uint64_t me, w, t0, limit;
    int r;
    memset(c, 0, sizeof(*c));
    if (took_over_from != NULL)
        *took_over_from = 0;
    err = shm_view_open(base, len, &c->view);
    if (err == NULL)
        err = shm_check_view(&c->view, fingerprint, payload_size, align);
    if (err == NULL && !shm_stream_fits(cap, region_len, SHM_QUEUE_HEADER, room))
        err = "not a queue of this size";
    if (err != NULL) {
        memset(c, 0, sizeof(*c));
        return shm_fail(msg, msg_cap, SHM_ERR_CHECK, err);
    }
    r = shm_stream_region(&c->view, region_offset, region_len, &start, msg, msg_cap);
    if (r != SHM_OK) {
        memset(c, 0, sizeof(*c));
        return r;
    }
    me = shm_own_word();
    t0 = shm_clock_ns(CLOCK_MONOTONIC);
    limit = shm_ms_to_ns(wait_ms);
    for (;;) {
        unsigned char *claim = (unsigned char *)base + start + SHM_QUEUE_CLAIM;
        w = SHM_LOAD_ACQUIRE(claim);
        if (w == 0 || (w != me && shm_owner_dead(w))) {
            uint64_t expected = w;
            if (SHM_CAS(claim, &expected, me))
                break;
        }
        if (w == me || shm_clock_ns(CLOCK_MONOTONIC) - t0 >= limit) {
            memset(c, 0, sizeof(*c));
            if (msg != NULL && msg_cap > 0)
                snprintf(msg, msg_cap, "%s (pid %lu) consumes this queue; one consumer at a time",
                         w == me ? "this process" : "another process",
                         (unsigned long)(uint32_t)w);
            return SHM_ERR_BUSY;
        }
        shm_sleep_ns(1000000u);
    }
    if (took_over_from != NULL && w != 0)
        *took_over_from = (uint32_t)w;
    c->base = (unsigned char *)base;
    c->region = c->base + start;
    c->cap = cap;
    c->size = size;
    c->word = me;
    c->pid = (uint32_t)getpid();
    if (fd >= 0)
        shm_doorbell_attach(fd, &c->bell);
    return SHM_OK;
}

/* Whether `c` still holds its queue, as the Rust runtime checks before
 * each peek and acknowledgement: the claim word still this consumer's
 * own. SHM_OK; SHM_ERR_BUSY naming the process whose word is there now
 * (someone stored it: a process with write permission, or a consumer that
 * judged this one dead), so that a consumer never goes on beside another;
 * SHM_ERR_CORRUPT if the word was zeroed. */
static inline int shm_consumer_owns(const shm_consumer *c, char *msg, size_t msg_cap)
{
    uint64_t w = SHM_LOAD_ACQUIRE(c->region + SHM_QUEUE_CLAIM);
    if (w == c->word)
        return SHM_OK;
    if (w == 0)
        return shm_fail(msg, msg_cap, SHM_ERR_CORRUPT,
                        "queue consumer claim word is 0 while this consumer holds the queue");
    if (msg != NULL && msg_cap > 0)
        snprintf(msg, msg_cap, "another process (pid %lu) consumes this queue; one consumer at a time",
                 (unsigned long)(uint32_t)w);
    return SHM_ERR_BUSY;
}

/* Copies the next message into `out` (`len` bytes) without taking it:
 * SHM_MSG (the next peek returns it again until shm_consumer_ack),
 * SHM_EMPTY, SHM_ERR_NOT_WRITER (not claimed in this process),
 * SHM_ERR_BUSY (the claim word names another process now: see
 * shm_consumer_owns) or SHM_ERR_CORRUPT. `head` and `tail` loaded with acquire, then the message
 * with relaxed whole-word loads. Does not validate: the generated
 * `<schema>_<queue>_peek` does. */
static inline int shm_consumer_peek(shm_consumer *c, void *out, size_t len, char *msg,
                                    size_t msg_cap)
{
    uint64_t h, t;
    int r;
    if (c->region == NULL || c->word == 0 || (uint32_t)getpid() != c->pid || len != c->size)
        return shm_fail(msg, msg_cap, SHM_ERR_NOT_WRITER,
                        "this process does not consume this queue through this handle");
    r = shm_consumer_owns(c, msg, msg_cap);
    if (r != SHM_OK)
        return r;
    r = shm_queue_counts(c->region, c->cap, 0, 0, &h, &t, msg, msg_cap);
    if (r != SHM_OK)
        return r;
    if (h == t)
        return SHM_EMPTY;
    shm_load_words(c->region + SHM_QUEUE_HEADER
                       + (size_t)(h & (c->cap - 1u)) * ((c->size + 7u) & ~(size_t)7u),
                   (unsigned char *)out, len);
    c->peeked = 1;
    return SHM_MSG;
}

/* Acknowledges the message the last peek returned (the producer may then
 * reuse its slot): `head` + 1 (release), then wakes waiters. Does nothing
 * if there is none. SHM_OK, SHM_ERR_BUSY or SHM_ERR_CORRUPT (see
 * shm_consumer_owns). */
static inline int shm_consumer_ack(shm_consumer *c, char *msg, size_t msg_cap)
{
    uint64_t h, t;
    int r;
    if (!c->peeked)
        return SHM_OK;
    c->peeked = 0;
    r = shm_consumer_owns(c, msg, msg_cap);
    if (r != SHM_OK)
        return r;
    r = shm_queue_counts(c->region, c->cap, 1, 0, &h, &t, msg, msg_cap);
    if (r != SHM_OK)
        return r;
    if (h == t)
        return SHM_OK;
    SHM_STORE_RELEASE(c->region + SHM_QUEUE_HEAD, h + 1u);
    shm_wake(c->base, &c->bell);
    return SHM_OK;
}

/* The next message into `out` (`len` bytes), checked with `check`: SHM_MSG
 * (acknowledged before it returns when `ack` is 1: at most once across a
 * crash; not when 0: a peek, acknowledged by shm_consumer_ack), SHM_EMPTY,
 * or an error. A message that fails its check is taken (so that the queue
 * goes on) and gives SHM_ERR_INVALID, as in the Rust runtime. */
static inline int shm_consumer_recv(shm_consumer *c, void *out, size_t len, shm_msg_check check,
                                    int ack, char *msg, size_t msg_cap)
{
    int r = shm_consumer_peek(c, out, len, msg, msg_cap);
    if (r != SHM_MSG)
        return r;
    r = check(out, msg, msg_cap);
    if (r != SHM_OK) {
        shm_consumer_ack(c, NULL, 0);
        return r;
    }
    if (ack && (r = shm_consumer_ack(c, msg, msg_cap)) != SHM_OK)
        return r;
    return SHM_MSG;
}

/* shm_consumer_recv (acknowledged), waiting at most `timeout_ms` for a
 * message (woken by a send); SHM_EMPTY after it. */
static inline int shm_consumer_recv_timeout(shm_consumer *c, void *out, size_t len,
                                            shm_msg_check check, uint64_t timeout_ms, char *msg,
                                            size_t msg_cap)
{
    uint64_t start = shm_clock_ns(CLOCK_MONOTONIC);
    uint64_t limit = shm_ms_to_ns(timeout_ms);
    for (;;) {
        uint64_t spent, t;
        int r = shm_consumer_recv(c, out, len, check, 1, msg, msg_cap);
        if (r != SHM_EMPTY)
            return r;
        spent = shm_clock_ns(CLOCK_MONOTONIC) - start;
        if (spent >= limit)
            return SHM_EMPTY;
        /* Empty: `tail` was `head` (this consumer's own word), and a
         * send moves `tail`. */
        t = SHM_LOAD_RELAXED(c->region + SHM_QUEUE_HEAD);
        if (!shm_wait_word(c->base, NULL, SHM_WAIT_FUTEX, c->region + SHM_QUEUE_TAIL, t,
                           (limit - spent + 999999u) / 1000000u))
            return shm_consumer_recv(c, out, len, check, 1, msg, msg_cap);
    }
}
#endif /* __linux__ */
#endif /* SHM_STREAMS_DEFINED */
