#if defined(__linux__)
/* ---- Linux: waiting for a change, and writing ---------------------------
 *
 * The futex words `waiters` (248) and `notify` (252) and the claim word
 * (144) with its writer lock, as docs/FORMAT.md says ("Change
 * notification", "The claim word"). */

#if defined(__GLIBC__) && !defined(__USE_MISC)
/* Declared by <unistd.h> only with _DEFAULT_SOURCE or _GNU_SOURCE. */
extern long syscall(long number, ...);
#endif
#ifndef F_OFD_GETLK
#define F_OFD_GETLK 36
#define F_OFD_SETLK 37
#endif
#define SHM_FUTEX_WAIT 0
#define SHM_FUTEX_WAKE 1

/* Nanoseconds on clock `clk`. */
static inline uint64_t shm_clock_ns(clockid_t clk)
{
    struct timespec ts;
    if (clock_gettime(clk, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A wait of `ms` milliseconds in nanoseconds, at most UINT64_MAX / 2. */
static inline uint64_t shm_ms_to_ns(uint64_t ms)
{
    return ms > UINT64_MAX / 2000000u ? UINT64_MAX / 2 : ms * 1000000u;
}

/* Sleeps `ns` nanoseconds (less than a second). */
static inline void shm_sleep_ns(uint64_t ns)
{
    struct timespec ts;
    ts.tv_sec = 0;
    ts.tv_nsec = (long)ns;
    nanosleep(&ts, NULL);
}

/* The doorbell of a POSIX segment (docs/FORMAT.md, "Change
 * notification"): a 64-byte System V segment where read-only waiters count
 * themselves (`ro_waiters`, offset 16) so that writers wake them. Attached
 * only if it exists (a Rust writer that owns the segment makes it), is 64
 * bytes, its owner and creator own the segment, and its magic, version
 * and name hash match; otherwise there is none. Every word a 4-byte
 * atomic. */
typedef struct shm_doorbell {
    unsigned char *words; /* the attachment, NULL if none */
} shm_doorbell;

/* Attaches the doorbell of the POSIX segment whose object `fd` is open
 * (its name taken from /proc/self/fd/N, which must be /dev/shm/NAME):
 * SHM_OK, or SHM_ERR_SYSTEM with bell->words NULL when there is none. */
static inline int shm_doorbell_attach(int fd, shm_doorbell *bell)
{
    static const char prefix[] = "shm-runtime doorbell 1\0posix:";
    char link[64], target[512];
    ssize_t n;
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    size_t i;
    int key, shmid;
    struct shmid_ds ds;
    struct stat st;
    void *at;
    bell->words = NULL;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    n = readlink(link, target, sizeof target - 1);
    if (n <= 9 || memcmp(target, "/dev/shm/", 9) != 0 || fstat(fd, &st) != 0)
        return SHM_ERR_SYSTEM;
    /* FNV-1a 64 of the prefix (its NUL included), then `/NAME`. */
    for (i = 0; i < sizeof prefix - 1; i++)
        h = (h ^ (unsigned char)prefix[i]) * UINT64_C(0x100000001b3);
    for (i = 8; i < (size_t)n; i++)
        h = (h ^ (unsigned char)target[i]) * UINT64_C(0x100000001b3);
    key = (int)((h >> 32) & 0x7fffffffu);
    if (key == 0)
        key = 1;
    shmid = shmget((key_t)key, 0, 0);
    if (shmid < 0 || shmctl(shmid, IPC_STAT, &ds) != 0 || ds.shm_segsz != 64
        || ds.shm_perm.uid != st.st_uid || ds.shm_perm.cuid != st.st_uid)
        return SHM_ERR_SYSTEM;
    at = shmat(shmid, NULL, 0);
    if (at == (void *)-1)
        return SHM_ERR_SYSTEM;
    bell->words = (unsigned char *)at;
    if (SHM_LOAD32(bell->words) != UINT32_C(0x446d6873) /* "shmD" */
        || SHM_LOAD32(bell->words + 4) != 1u || SHM_LOAD32(bell->words + 8) != (uint32_t)h
        || SHM_LOAD32(bell->words + 12) != (uint32_t)(h >> 32)) {
        shmdt(at);
        bell->words = NULL;
        return SHM_ERR_SYSTEM;
    }
    return SHM_OK;
}

/* Detaches it. */
static inline void shm_doorbell_detach(shm_doorbell *bell)
{
    if (bell->words != NULL)
        shmdt(bell->words);
    bell->words = NULL;
}

/* How a waiter waits: SHM_WAIT_POLL on any mapping (a read-only one
 * included: it looks at the counters every 0.1 ms for the first 10 ms,
 * then every 1 ms); SHM_WAIT_FUTEX only on a read-write mapping (it counts
 * itself in `waiters` so that writers wake it, and sleeps on `notify`,
 * looking at the counters again at least every 50 ms whatever the futex
 * does). A read-only waiter that attached the segment's doorbell
 * (shm_doorbell_attach) passes it to shm_wait_for_change_with and sleeps on
 * the futex too. */
#define SHM_WAIT_POLL 0
#define SHM_WAIT_FUTEX 1

/* A wait on the segment mapped at `seg` in progress: the futex word
 * `notify`, where the waiter counts itself (`waiters`, or the doorbell's
 * `ro_waiters`) when `how` is SHM_WAIT_FUTEX, when it began (`start`,
 * CLOCK_MONOTONIC ns), how long it may last (`limit` ns) and how long a
 * futex sleep may last before it looks again (`recheck` ns). */
typedef struct shm_waiting {
    const unsigned char *notify;
    unsigned char *waiters;
    uint64_t start, limit, recheck;
    int how;
} shm_waiting;

/* Begins a wait of `timeout_ms` on the segment mapped at `seg`, as `how`
 * says; with SHM_WAIT_POLL and an attached doorbell `bell` (else NULL), on
 * the futex instead, counted in the doorbell and looking again at least
 * every 100 ms. Ends with shm_wait_end. */
static inline void shm_wait_begin(shm_waiting *w, const unsigned char *seg, shm_doorbell *bell,
                                  int how, uint64_t timeout_ms)
{
    w->notify = seg + offsetof(shm_segment_header, notify);
    w->waiters = (unsigned char *)(uintptr_t)(seg + offsetof(shm_segment_header, waiters));
    w->start = shm_clock_ns(CLOCK_MONOTONIC);
    w->limit = shm_ms_to_ns(timeout_ms);
    w->recheck = 50000000u;
    w->how = how;
    if (how != SHM_WAIT_FUTEX && bell != NULL && bell->words != NULL) {
        w->how = SHM_WAIT_FUTEX;
        w->waiters = bell->words + 16;
        w->recheck = 100000000u;
    }
    if (w->how == SHM_WAIT_FUTEX)
        SHM_ADD32(w->waiters, 1u);
}

/* One pause of the wait `w`: 0 once its time is up; else a sleep on the
 * futex while `notify` still holds `n` (at most `recheck`) with
 * SHM_WAIT_FUTEX, or a poll pause (0.1 ms for the first 10 ms, then 1 ms),
 * and 1. */
static inline int shm_wait_pause(const shm_waiting *w, uint32_t n)
{
    uint64_t spent = shm_clock_ns(CLOCK_MONOTONIC) - w->start, left;
    if (spent >= w->limit)
        return 0;
    left = w->limit - spent;
    if (w->how == SHM_WAIT_FUTEX) {
        struct timespec ts;
        if (left > w->recheck)
            left = w->recheck;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)left;
        syscall(SYS_futex, w->notify, SHM_FUTEX_WAIT, n, &ts, NULL, 0);
    } else {
        uint64_t step = spent < 10000000u ? 100000u : 1000000u;
        shm_sleep_ns(step < left ? step : left);
    }
    return 1;
}

/* Ends the wait `w` (the waiter no longer counts itself). */
static inline void shm_wait_end(const shm_waiting *w)
{
    if (w->how == SHM_WAIT_FUTEX)
        SHM_SUB32(w->waiters, 1u);
}

/* Waits until the version of the segment of the checked view `v`
 * (shm_version) differs from `since`, or `timeout_ms` milliseconds pass.
 * Returns 1 and the new version in *version (unless NULL), or 0 at the
 * timeout. With SHM_WAIT_FUTEX the view's mapping must be read-write.
 * With SHM_WAIT_POLL and an attached doorbell `bell` (else NULL), it
 * counts itself in the doorbell and sleeps on the futex instead of
 * polling, looking again at least every 100 ms, as the Rust runtime's
 * read-only waiters do. */
static inline int shm_wait_for_change_with(const shm_view *v, shm_doorbell *bell, uint64_t since,
                                           uint64_t timeout_ms, int how, uint64_t *version)
{
    shm_waiting w;
    int changed = 0;
    if (v->base == NULL)
        return 0;
    shm_wait_begin(&w, v->base, bell, how, timeout_ms);
    for (;;) {
        uint32_t n = SHM_LOAD32(w.notify);
        uint64_t ver = shm_version(v);
        if (ver != since) {
            changed = 1;
            if (version != NULL)
                *version = ver;
            break;
        }
        if (!shm_wait_pause(&w, n))
            break;
    }
    shm_wait_end(&w);
    return changed;
}

/* shm_wait_for_change_with, without a doorbell. */
static inline int shm_wait_for_change(const shm_view *v, uint64_t since, uint64_t timeout_ms,
                                      int how, uint64_t *version)
{
    return shm_wait_for_change_with(v, NULL, since, timeout_ms, how, version);
}

/* Field `index` of the `stat` file at `path` after the command name (0:
 * the state), which is parenthesised and may hold any character: fields
 * are counted from the last `)`. 0 and the field in out, or -1. */
static inline int shm_stat_field(const char *path, unsigned index, char *out, size_t out_cap)
{
    char buf[4096];
    size_t n, k;
    unsigned i;
    const char *p;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    p++;
    for (i = 0;; i++) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f')
            p++;
        if (*p == '\0')
            return -1;
        for (k = 0; p[k] != '\0' && p[k] != ' ' && p[k] != '\t' && p[k] != '\n' && p[k] != '\r'
                    && p[k] != '\f';
             k++) {
        }
        if (i == index) {
            if (k >= out_cap)
                return -1;
            memcpy(out, p, k);
            out[k] = '\0';
            return 0;
        }
        p += k;
    }
}

/* The start token of process `pid`: the low 32 bits of its start time
 * (`starttime`, clock ticks after boot, the 22nd field of
 * /proc/<pid>/stat), 0 if unknown. The same as the Rust runtime's. */
static inline uint32_t shm_start_token(uint32_t pid)
{
    char path[64], field[32];
    snprintf(path, sizeof path, "/proc/%lu/stat", (unsigned long)pid);
    if (shm_stat_field(path, 19, field, sizeof field) != 0)
        return 0;
    return (uint32_t)strtoull(field, NULL, 10);
}

/* This process's claim word: pid | start token << 32. */
static inline uint64_t shm_own_word(void)
{
    uint32_t pid = (uint32_t)getpid();
    return (uint64_t)pid | (uint64_t)shm_start_token(pid) << 32;
}

/* Whether `pid` has exited but is not reaped: its state and every
 * thread's (/proc/<pid>/task/<tid>/stat) is Z or X. */
static inline int shm_is_zombie(uint32_t pid)
{
    char path[96], state[8];
    DIR *d;
    struct dirent *e;
    int all = 1;
    snprintf(path, sizeof path, "/proc/%lu/stat", (unsigned long)pid);
    if (shm_stat_field(path, 0, state, sizeof state) != 0
        || (strcmp(state, "Z") != 0 && strcmp(state, "X") != 0))
        return 0;
    snprintf(path, sizeof path, "/proc/%lu/task", (unsigned long)pid);
    d = opendir(path);
    if (d == NULL)
        return 0;
    while (all && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/%lu/task/%.20s/stat", (unsigned long)pid, e->d_name);
        /* A thread that went away while we looked counts as dead. */
        if (shm_stat_field(path, 0, state, sizeof state) == 0 && strcmp(state, "Z") != 0
            && strcmp(state, "X") != 0)
            all = 0;
    }
    closedir(d);
    return all;
}

/* Whether the owner a claim word names is certainly gone: an id no
 * process can have, no process with its id (kill(pid, 0) fails with
 * ESRCH), a zombie, or a process with its id that started at another time
 * (the id was reused). */
static inline int shm_owner_dead(uint64_t word)
{
    uint32_t pid = (uint32_t)word, token = (uint32_t)(word >> 32), now;
    if (pid == 0 || pid > (uint32_t)INT32_MAX)
        return 1;
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        return 1;
    if (shm_is_zombie(pid))
        return 1;
    if (token != 0) {
        now = shm_start_token(pid);
        if (now != 0 && now != token)
            return 1;
    }
    return 0;
}

/* The writer lock's byte range: the claim word, 144..152. */
static inline struct flock shm_claim_range(short type)
{
    struct flock f;
    memset(&f, 0, sizeof f);
    f.l_type = type;
    f.l_whence = SEEK_SET;
    f.l_start = (off_t)offsetof(shm_segment_header, writer);
    f.l_len = 8;
    f.l_pid = 0; /* OFD locks require 0 */
    return f;
}

/* Tries the writer lock (F_OFD_SETLK, F_WRLCK) on a new open file
 * description of the object `object_fd` (opened read-write through
 * /proc/self/fd): 1 taken (its descriptor in *lock_fd), 0 another open
 * file description holds it, 2 a read lock keeps it from everybody, -1 a
 * system call failed (errno). */
static inline int shm_try_lock(int object_fd, int *lock_fd)
{
    char path[64];
    struct flock f = shm_claim_range(F_WRLCK);
    int fd, e;
    snprintf(path, sizeof path, "/proc/self/fd/%d", object_fd);
    fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -1;
    if (fcntl(fd, F_OFD_SETLK, &f) == 0) {
        *lock_fd = fd;
        return 1;
    }
    e = errno;
    if (e != EAGAIN && e != EACCES) {
        close(fd);
        errno = e;
        return -1;
    }
    f = shm_claim_range(F_WRLCK);
    e = fcntl(fd, F_OFD_GETLK, &f) == 0 && f.l_type == F_WRLCK ? 0 : 2;
    close(fd);
    return e;
}

/* What a claim found: took_over is 1 when write access was taken from a
 * dead owner or a write had been left unfinished (the Rust runtime's
 * `TakeOver`), and then the other fields say what. */
typedef struct shm_takeover {
    int took_over;
    int had_owner;            /* 1: a dead owner held write access */
    uint32_t previous_pid;    /* its process id */
    int last_write_complete;  /* 0: its last write was interrupted and is lost */
    uint64_t version;         /* the version after the repair */
} shm_takeover;

/* Write access to a segment: what the claim checked, the read-write
 * mapping, the writer lock and the claim word. Fill it with a generated
 * `<schema>_claim`; give it back with shm_writer_release. */
typedef struct shm_writer {
    shm_view view;       /* the checked private header copy */
    unsigned char *base; /* the read-write mapping (view.base) */
    int lock_fd;         /* the writer lock's descriptor, -1 if none */
    uint64_t word;       /* this process's claim word, 0 if not claimed */
    uint32_t pid;        /* the process that claimed */
    shm_doorbell bell;   /* the segment's doorbell, if it has one */
} shm_writer;

/* Makes a write begin: the counter of the copy that is not the latest
 * becomes odd (s + 1, release store, then a release fence). Returns that
 * copy (1: the backup, 0: the primary), `s` in *s_out. Only for the holder
 * of write access; shm_write_end publishes the copy. */
static inline int shm_write_begin(shm_writer *w, uint64_t *s_out)
{
    unsigned char *b = w->base;
    uint64_t p = SHM_LOAD_RELAXED(b + offsetof(shm_segment_header, seq));
    uint64_t q = SHM_LOAD_RELAXED(b + offsetof(shm_segment_header, backup_seq));
    int latest_backup = (q & 1u) == 0 && ((p & 1u) != 0 || (int64_t)(q - p) > 0);
    uint64_t s = ((int64_t)(q - p) > 0 ? q : p) & ~(uint64_t)1u;
    int target = !latest_backup;
    SHM_STORE_RELEASE(b + (target ? offsetof(shm_segment_header, backup_seq)
                                   : offsetof(shm_segment_header, seq)),
                      s + 1u);
    SHM_FENCE_RELEASE();
    *s_out = s;
    return target;
}

/* Where copy `which` (1: the backup) starts, at the checked offset. */
static inline unsigned char *shm_copy_at(shm_writer *w, int which)
{
    return w->base + (which ? w->view.header.backup_offset : w->view.header.payload_offset);
}

/* Stores `len` bytes from `src` into the copy at `dst` as whole 8-byte
 * words, relaxed atomic stores; the last word, if partial, is loaded,
 * merged and stored whole. */
static inline void shm_store_words(unsigned char *dst, const unsigned char *src, size_t len)
{
    size_t i;
    uint64_t x;
    for (i = 0; i + 8 <= len; i += 8) {
        memcpy(&x, src + i, 8);
        SHM_STORE_RELAXED(dst + i, x);
    }
    if (i < len) {
        x = SHM_LOAD_RELAXED(dst + i);
        memcpy(&x, src + i, len - i);
        SHM_STORE_RELAXED(dst + i, x);
    }
}

/* Publishes copy `which` after a write begun at `s`: its counter becomes
 * s + 2 (release). */
static inline void shm_write_end(shm_writer *w, int which, uint64_t s)
{
    SHM_STORE_RELEASE(w->base + (which ? offsetof(shm_segment_header, backup_seq)
                                       : offsetof(shm_segment_header, seq)),
                      s + 2u);
}

/* After a write: notify + 1, and FUTEX_WAKE for every sleeper if `waiters`
 * or the doorbell's `ro_waiters` is not 0. */
static inline void shm_notify(shm_writer *w)
{
    unsigned char *n = w->base + offsetof(shm_segment_header, notify);
    SHM_ADD32(n, 1u);
    if (SHM_LOAD32(w->base + offsetof(shm_segment_header, waiters)) != 0
        || (w->bell.words != NULL && SHM_LOAD32(w->bell.words + 16) != 0))
        syscall(SYS_futex, n, SHM_FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Gives write access back if this process holds it through `w`: the claim
 * word (only if it still holds this process's word), then the writer
 * lock; then closes the lock's descriptor. In a child made by fork it
 * only closes its copy of the descriptor. */
static inline void shm_writer_release(shm_writer *w)
{
    if (w->base != NULL && w->word != 0 && (uint32_t)getpid() == w->pid) {
        uint64_t expected = w->word;
        SHM_CAS(w->base + offsetof(shm_segment_header, writer), &expected, (uint64_t)0);
        if (w->lock_fd >= 0) {
            struct flock f = shm_claim_range(F_UNLCK);
            fcntl(w->lock_fd, F_OFD_SETLK, &f);
        }
    }
    if (w->lock_fd >= 0)
        close(w->lock_fd);
    shm_doorbell_detach(&w->bell);
    memset(w, 0, sizeof(*w));
    w->lock_fd = -1;
}

/* Writes the message for a failed system call `what` (errno) into msg. */
static inline int shm_fail_errno(char *msg, size_t msg_cap, const char *what)
{
    int e = errno;
    if (msg != NULL && msg_cap > 0)
        snprintf(msg, msg_cap, "%s: %s", what, strerror(e));
    return SHM_ERR_SYSTEM;
}

/* Claims write access to the segment mapped read-write at `base` (`len`
 * bytes; `fd` a descriptor of its object, opened O_RDWR; -1 for a System V
 * segment, which has no writer lock), of a schema with
 * that fingerprint, size and alignment: the check of `<schema>_check`,
 * then the writer lock and the claim word exactly as the Rust runtime
 * (docs/FORMAT.md, "The claim word"), waiting up to `wait_ms` for a live
 * owner, then `recover`; attaches the segment's doorbell if it has one.
 * SHM_OK (and what happened in *take unless NULL),
 * SHM_ERR_CHECK, SHM_ERR_BUSY, SHM_ERR_CORRUPT or SHM_ERR_SYSTEM. */
static inline int shm_writer_claim(shm_writer *w, int fd, void *base, size_t len,
                                   uint64_t fingerprint, size_t size, size_t align,
                                   uint64_t wait_ms, shm_takeover *take, char *msg,
                                   size_t msg_cap)
{
    unsigned char *b = (unsigned char *)base;
    unsigned char *word = b + offsetof(shm_segment_header, writer);
    const char *err;
    uint64_t me, current = 0, start, limit, p, q;
    int lock_fd = -1, lk, had_owner = 0, torn;
    memset(w, 0, sizeof(*w));
    w->lock_fd = -1;
    if (take != NULL)
        memset(take, 0, sizeof(*take));
    err = shm_view_open(base, len, &w->view);
    if (err == NULL)
        err = shm_check_view(&w->view, fingerprint, size, align);
    if (err != NULL) {
        memset(&w->view, 0, sizeof(w->view));
        return shm_fail(msg, msg_cap, SHM_ERR_CHECK, err);
    }
    me = shm_own_word();
    start = shm_clock_ns(CLOCK_MONOTONIC);
    limit = shm_ms_to_ns(wait_ms);
    for (;;) {
        uint64_t spent;
        int claimed = 0;
        /* No descriptor (a System V segment): the claim word decides. */
        lk = fd < 0 ? 2 : shm_try_lock(fd, &lock_fd);
        if (lk < 0) {
            memset(&w->view, 0, sizeof(w->view));
            return shm_fail_errno(msg, msg_cap, "the writer lock (open /proc/self/fd/N, fcntl F_OFD_SETLK)");
        }
        if (lk == 1) {
            /* Nobody else holds write access, unless the word names a live
             * process that claimed without the lock (a read lock kept it
             * from it), or another handle of this process. */
            current = SHM_LOAD_ACQUIRE(word);
            if (current != 0 && (current == me || !shm_owner_dead(current))) {
                struct flock f = shm_claim_range(F_UNLCK);
                fcntl(lock_fd, F_OFD_SETLK, &f);
                close(lock_fd);
                lock_fd = -1;
            } else {
                while (!SHM_CAS(word, &current, me)) {
                }
                claimed = 1;
            }
        } else if (lk == 2) {
            current = SHM_LOAD_ACQUIRE(word);
            if (current == 0 || (current != me && shm_owner_dead(current))) {
                uint64_t expected = current;
                if (!SHM_CAS(word, &expected, me))
                    continue;
                claimed = 1;
            }
        } else {
            current = SHM_LOAD_ACQUIRE(word);
        }
        if (claimed) {
            had_owner = current != 0;
            break;
        }
        spent = shm_clock_ns(CLOCK_MONOTONIC) - start;
        if (spent >= limit) {
            memset(&w->view, 0, sizeof(w->view));
            if (msg != NULL && msg_cap > 0)
                snprintf(msg, msg_cap, "%s (pid %lu) holds write access",
                         (uint32_t)current == (uint32_t)me ? "another handle in this process"
                                                            : "another process",
                         (unsigned long)(uint32_t)current);
            return SHM_ERR_BUSY;
        }
        shm_sleep_ns(spent < 10000000u ? 100000u : 1000000u);
    }
    SHM_STORE_RELAXED(b + offsetof(shm_segment_header, writer_since), shm_clock_ns(CLOCK_REALTIME));
    w->base = b;
    w->lock_fd = lock_fd;
    w->word = me;
    w->pid = (uint32_t)getpid();
    /* The doorbell, to wake read-only waiters too (attached if there is
     * one; never made here). */
    shm_doorbell_attach(fd, &w->bell);
    /* recover: one counter odd means a write was interrupted: copy the
     * latest copy into the torn one, as a write. */
    p = SHM_LOAD_ACQUIRE(b + offsetof(shm_segment_header, seq));
    q = SHM_LOAD_ACQUIRE(b + offsetof(shm_segment_header, backup_seq));
    if ((p & 1u) && (q & 1u)) {
        shm_writer_release(w);
        return shm_fail(msg, msg_cap, SHM_ERR_CORRUPT,
                        "both copies of the payload are marked as being written (a damaged segment)");
    }
    torn = (p & 1u) || (q & 1u);
    if (torn) {
        uint64_t s;
        int t = shm_write_begin(w, &s);
        unsigned char *dst = shm_copy_at(w, t);
        const unsigned char *src = shm_copy_at(w, !t);
        size_t i, n = (size_t)w->view.header.payload_size;
        uint64_t x;
        for (i = 0; i + 8 <= n; i += 8)
            SHM_STORE_RELAXED(dst + i, SHM_LOAD_RELAXED(src + i));
        if (i < n) {
            uint64_t y = SHM_LOAD_RELAXED(src + i);
            x = SHM_LOAD_RELAXED(dst + i);
            memcpy(&x, &y, n - i);
            SHM_STORE_RELAXED(dst + i, x);
        }
        shm_write_end(w, t, s);
        shm_notify(w);
    }
    if (take != NULL && (had_owner || torn)) {
        take->took_over = 1;
        take->had_owner = had_owner;
        take->previous_pid = had_owner ? (uint32_t)current : 0;
        take->last_write_complete = !torn;
        take->version = shm_version(&w->view);
    }
    return SHM_OK;
}

/* Writes the `len`-byte value at `value` (len: the payload size) into the
 * copy that is not the latest, as the Rust runtime does, then notifies.
 * Does not validate: the generated `<schema>_write` does first. SHM_OK or
 * SHM_ERR_NOT_WRITER. */
static inline int shm_writer_write(shm_writer *w, const void *value, size_t len, char *msg,
                                   size_t msg_cap)
{
    uint64_t s;
    int t;
    if (w->base == NULL || w->word == 0)
        return shm_fail(msg, msg_cap, SHM_ERR_NOT_WRITER, "this writer does not hold write access");
    if ((uint32_t)getpid() != w->pid)
        return shm_fail(msg, msg_cap, SHM_ERR_NOT_WRITER,
                        "write access belongs to the process that claimed it, not to a forked child");
    if (len != w->view.header.payload_size)
        return shm_fail(msg, msg_cap, SHM_ERR_NOT_WRITER, "the value's size is not the payload's");
    t = shm_write_begin(w, &s);
    shm_store_words(shm_copy_at(w, t), (const unsigned char *)value, len);
    shm_write_end(w, t, s);
    shm_notify(w);
    return SHM_OK;
}
#endif /* __linux__ */
