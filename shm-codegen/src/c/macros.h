/* C11 and C++ spellings of the same checks. */
#ifdef __cplusplus
#define SHM_STATIC_ASSERT(c, m) static_assert(c, m)
#define SHM_ALIGNOF(t) alignof(t)
#define SHM_ALIGNAS(n) alignas(n)
#else
#define SHM_STATIC_ASSERT(c, m) _Static_assert(c, m)
#define SHM_ALIGNOF(t) _Alignof(t)
#define SHM_ALIGNAS(n) _Alignas(n)
#endif

SHM_STATIC_ASSERT(sizeof(float) == 4 && sizeof(double) == 8, "IEEE 754 float and double");

/* Every access to the segment is a whole, aligned 8-byte atomic access, the
 * size of the Rust runtime's (docs/FORMAT.md), except `waiters` and `notify`
 * (offsets 248 and 252), 4-byte atomics: GCC/Clang builtins, else C11
 * atomics. */
#if defined(__GNUC__) || defined(__clang__)
#define SHM_LOAD_RELAXED(p) __atomic_load_n((const uint64_t *)(const void *)(p), __ATOMIC_RELAXED)
#define SHM_LOAD_ACQUIRE(p) __atomic_load_n((const uint64_t *)(const void *)(p), __ATOMIC_ACQUIRE)
#define SHM_LOAD_SEQCST(p) __atomic_load_n((const uint64_t *)(const void *)(p), __ATOMIC_SEQ_CST)
#define SHM_STORE_RELAXED(p, v) __atomic_store_n((uint64_t *)(void *)(p), (v), __ATOMIC_RELAXED)
#define SHM_STORE_RELEASE(p, v) __atomic_store_n((uint64_t *)(void *)(p), (v), __ATOMIC_RELEASE)
#define SHM_CAS(p, expected, desired) \
    __atomic_compare_exchange_n((uint64_t *)(void *)(p), (expected), (desired), 0, \
                                __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)
#define SHM_FENCE_ACQUIRE() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define SHM_FENCE_RELEASE() __atomic_thread_fence(__ATOMIC_RELEASE)
#define SHM_LOAD32(p) __atomic_load_n((const uint32_t *)(const void *)(p), __ATOMIC_SEQ_CST)
#define SHM_ADD32(p, v) __atomic_fetch_add((uint32_t *)(void *)(p), (v), __ATOMIC_SEQ_CST)
#define SHM_SUB32(p, v) __atomic_fetch_sub((uint32_t *)(void *)(p), (v), __ATOMIC_SEQ_CST)
#elif !defined(__cplusplus) && defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L \
    && !defined(__STDC_NO_ATOMICS__)
#include <stdatomic.h>
#define SHM_A64(p) ((_Atomic uint64_t *)(void *)(p))
#define SHM_CA64(p) ((const _Atomic uint64_t *)(const void *)(p))
#define SHM_A32(p) ((_Atomic uint32_t *)(void *)(p))
#define SHM_CA32(p) ((const _Atomic uint32_t *)(const void *)(p))
#define SHM_LOAD_RELAXED(p) atomic_load_explicit(SHM_CA64(p), memory_order_relaxed)
#define SHM_LOAD_ACQUIRE(p) atomic_load_explicit(SHM_CA64(p), memory_order_acquire)
#define SHM_LOAD_SEQCST(p) atomic_load_explicit(SHM_CA64(p), memory_order_seq_cst)
#define SHM_STORE_RELAXED(p, v) atomic_store_explicit(SHM_A64(p), (v), memory_order_relaxed)
#define SHM_STORE_RELEASE(p, v) atomic_store_explicit(SHM_A64(p), (v), memory_order_release)
#define SHM_CAS(p, expected, desired) \
    atomic_compare_exchange_strong_explicit(SHM_A64(p), (expected), (desired), \
                                            memory_order_acq_rel, memory_order_acquire)
#define SHM_FENCE_ACQUIRE() atomic_thread_fence(memory_order_acquire)
#define SHM_FENCE_RELEASE() atomic_thread_fence(memory_order_release)
#define SHM_LOAD32(p) atomic_load_explicit(SHM_CA32(p), memory_order_seq_cst)
#define SHM_ADD32(p, v) atomic_fetch_add_explicit(SHM_A32(p), (v), memory_order_seq_cst)
#define SHM_SUB32(p, v) atomic_fetch_sub_explicit(SHM_A32(p), (v), memory_order_seq_cst)
#else
#error "a segment needs GCC/Clang atomic builtins or C11 <stdatomic.h>"
#endif

/* What the functions below return: 0, or one of these. Functions that take
 * `msg` and `msg_cap` also write a one-line message there (when msg is not
 * NULL): never a byte of the segment as text, only numbers. */
#define SHM_OK 0
#define SHM_ERR_NO_COPY (-1)    /* no complete copy of the payload (a damaged segment) */
#define SHM_ERR_INVALID (-2)    /* a field holds a value invalid for its type */
#define SHM_ERR_CHECK (-3)      /* not a ready segment of this schema */
#define SHM_ERR_BUSY (-4)       /* another live writer holds write access */
#define SHM_ERR_SYSTEM (-5)     /* a system call failed (errno says why) */
#define SHM_ERR_CORRUPT (-6)    /* both copies marked as being written */
#define SHM_ERR_NOT_WRITER (-7) /* this handle (or process) does not hold write access */

/* Field paths in messages (`joints[2].mode`) are cut at this length. */
#define SHM_PATH_CAP 256u
