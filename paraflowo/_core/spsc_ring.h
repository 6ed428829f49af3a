/*
 * Bounded single-producer / single-consumer ring of 32-byte records (the
 * pfo_meta_t metadata records of the live dataplane), plus the small helpers
 * the dataplane's threads share: a monotonic clock, relaxed counters and an
 * idle back-off.
 *
 * One thread only pushes and one thread only pops.  No locks, no allocation
 * after pfo_spsc_init.  Sizing is apart from initialisation (DPDK style), so
 * the host owns the memory:
 *
 *     size_t bytes = pfo_spsc_footprint(512);      // 0: capacity not a power of two
 *     void *mem = aligned_alloc(64, bytes);
 *     pfo_spsc_t *r = pfo_spsc_init(mem, 512);     // NULL: bad capacity
 *
 * Indices are free-running 64-bit counters (never wrapped by hand): the ring
 * holds head - tail records, slot i lives at i & mask.  Worked example,
 * capacity 8 (mask 7): head = 13, tail = 7 -> 6 records held in slots
 * 7, 0, 1, 2, 3, 4 (7 & 7 .. 12 & 7); room = 8 - 6 = 2.  A 64-bit counter at
 * 10**9 records per second wraps after 584 years.
 *
 * Memory order: the producer writes the records, then publishes head with a
 * release store; the consumer reads head with an acquire load, so the record
 * bytes it then reads are the ones written before the release.  Symmetrically
 * the consumer publishes tail (release) after it has copied the records out,
 * and the producer reads tail (acquire) before it overwrites those slots.
 * Each side caches the other side's index and reloads it only when the cache
 * says the ring looks full (producer) or empty (consumer).
 */
#ifndef PFO_SPSC_RING_H
#define PFO_SPSC_RING_H

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#define PFO_SPSC_REC_BYTES 32          /* sizeof(pfo_meta_t) */
#define PFO_SPSC_MAX_CAP (1u << 24)

typedef struct { uint64_t w[4]; } pfo_spsc_rec_t;

typedef struct pfo_spsc {
    /* producer's line */
    _Alignas(64) _Atomic uint64_t head;  /* next index to write */
    uint64_t tail_cache;                 /* producer's last view of tail */
    /* consumer's line */
    _Alignas(64) _Atomic uint64_t tail;  /* next index to read */
    uint64_t head_cache;                 /* consumer's last view of head */
    /* read-only after init */
    _Alignas(64) uint64_t mask;          /* capacity - 1 */
    pfo_spsc_rec_t *slots;               /* capacity records, after the header */
} pfo_spsc_t;

/* Bytes of memory (64-byte aligned) a ring of `capacity` records needs, or 0
 * if capacity is not a power of two in [2, PFO_SPSC_MAX_CAP]. */
static inline size_t pfo_spsc_footprint(uint32_t capacity)
{
    if (capacity < 2 || capacity > PFO_SPSC_MAX_CAP || (capacity & (capacity - 1)))
        return 0;
    return sizeof(pfo_spsc_t) + (size_t)capacity * sizeof(pfo_spsc_rec_t);
}

/* Initialise an empty ring in mem (pfo_spsc_footprint(capacity) bytes,
 * 64-byte aligned).  Returns the ring, or NULL (nothing written) if the
 * capacity is bad.  Not thread-safe: initialise before starting the threads
 * (thread start is the happens-before edge). */
static inline pfo_spsc_t *pfo_spsc_init(void *mem, uint32_t capacity)
{
    pfo_spsc_t *r = (pfo_spsc_t *)mem;
    if (!mem || !pfo_spsc_footprint(capacity))
        return NULL;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    r->tail_cache = 0;
    r->head_cache = 0;
    r->mask = capacity - 1;
    r->slots = (pfo_spsc_rec_t *)((char *)mem + sizeof(pfo_spsc_t));
    return r;
}

/* Producer only.  Copy up to n records from recs into the ring, in order.
 * Returns the number pushed (0..n): fewer than n means the ring is full; the
 * caller keeps the rest and pushes them again later (nothing is lost). */
static inline uint32_t pfo_spsc_push_burst(pfo_spsc_t *r, const void *recs, uint32_t n)
{
    const pfo_spsc_rec_t *src = (const pfo_spsc_rec_t *)recs;
    /* relaxed: only this thread writes head */
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t cap = r->mask + 1, room = cap - (head - r->tail_cache), i;
    if (room < n) {
        /* acquire: the consumer's reads of the slots it freed happened before */
        r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        room = cap - (head - r->tail_cache);
        if (room < n)
            n = (uint32_t)room;
    }
    for (i = 0; i < n; i++)
        r->slots[(head + i) & r->mask] = src[i];
    if (n)  /* release: the records written above are visible before head moves */
        atomic_store_explicit(&r->head, head + n, memory_order_release);
    return n;
}

/* Consumer only.  Copy up to n records out of the ring into recs, in order.
 * Returns the number popped (0: the ring is empty). */
static inline uint32_t pfo_spsc_pop_burst(pfo_spsc_t *r, void *recs, uint32_t n)
{
    pfo_spsc_rec_t *dst = (pfo_spsc_rec_t *)recs;
    /* relaxed: only this thread writes tail */
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint64_t avail = r->head_cache - tail, i;
    if (avail < n) {
        /* acquire: pairs with the producer's release of head */
        r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
        avail = r->head_cache - tail;
        if (avail < n)
            n = (uint32_t)avail;
    }
    for (i = 0; i < n; i++)
        dst[i] = r->slots[(tail + i) & r->mask];
    if (n)  /* release: our copies are done before the producer may reuse the slots */
        atomic_store_explicit(&r->tail, tail + n, memory_order_release);
    return n;
}

/* Records held, as seen by any thread (a snapshot; exact when both sides are
 * idle).  acquire on both indices: a consistent-enough view for statistics. */
static inline uint64_t pfo_spsc_count(pfo_spsc_t *r)
{
    uint64_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
    uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);
    return h - t;
}

/* ---- shared helpers ---------------------------------------------------- */

/* CLOCK_MONOTONIC in ns: the dataplane's only clock. */
static inline int64_t pfo_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* CPU time this thread has used, ns (CLOCK_THREAD_CPUTIME_ID): what a
 * thread's loop cost, apart from the time it was descheduled. */
static inline int64_t pfo_thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Statistics counters are written by one thread and read by others (the
 * Python thread printing live figures): relaxed atomics, no ordering needed
 * because each value is read on its own. */
static inline uint64_t pfo_ld64(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void pfo_st64(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
/* Counters written by many threads (the counter NF): relaxed fetch-add. */
static inline void pfo_add64(uint64_t *p, uint64_t v) { __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
/* Claim a zero 64-bit key (the counter NF's table): returns the key now held
 * there (== key if this call or an earlier one claimed it).  acq_rel: a thread
 * that sees the key also sees the claim. */
static inline uint64_t pfo_claim64(uint64_t *p, uint64_t key)
{
    uint64_t expected = 0;
    if (__atomic_compare_exchange_n(p, &expected, key, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return key;
    return expected;
}
/* Run flags (stop requests): release store by the requester, acquire load by
 * the loops, so whatever the requester wrote before is visible after. */
static inline int pfo_flag_get(const int *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void pfo_flag_set(int *p, int v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

static inline void pfo_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Idle back-off: spin briefly (work usually comes back within microseconds),
 * then yield, then sleep with a doubling delay capped at max_sleep_ns, so an
 * idle thread does not burn a core and N+1 threads make progress on fewer
 * cores.  Call pfo_backoff_reset whenever work was found. */
typedef struct {
    uint32_t spins;
    int64_t sleep_ns;
    int64_t max_sleep_ns;
} pfo_backoff_t;

#define PFO_BACKOFF_SPINS 32
#define PFO_BACKOFF_YIELDS 2
#define PFO_BACKOFF_MIN_SLEEP 4000

static inline void pfo_backoff_reset(pfo_backoff_t *b)
{
    b->spins = 0;
    b->sleep_ns = PFO_BACKOFF_MIN_SLEEP;
}

/* The delay the next pfo_backoff_idle would sleep, or 0 if it would not sleep. */
static inline int64_t pfo_backoff_next(const pfo_backoff_t *b)
{
    return b->spins < PFO_BACKOFF_SPINS + PFO_BACKOFF_YIELDS ? 0 : b->sleep_ns;
}

static inline void pfo_backoff_idle(pfo_backoff_t *b)
{
    struct timespec ts;
    if (b->spins < PFO_BACKOFF_SPINS) {
        b->spins++;
        pfo_cpu_relax();
    } else if (b->spins < PFO_BACKOFF_SPINS + PFO_BACKOFF_YIELDS) {
        b->spins++;
        sched_yield();
    } else {
        ts.tv_sec = b->sleep_ns / 1000000000LL;
        ts.tv_nsec = b->sleep_ns % 1000000000LL;
        nanosleep(&ts, NULL);
        b->sleep_ns *= 2;
        if (b->sleep_ns > b->max_sleep_ns)
            b->sleep_ns = b->max_sleep_ns;
    }
}

/* Sleep ns nanoseconds (a nap chosen by the caller, not a back-off step). */
static inline void pfo_nap_ns(int64_t ns)
{
    struct timespec ts;
    ts.tv_sec = ns / 1000000000LL;
    ts.tv_nsec = ns % 1000000000LL;
    nanosleep(&ts, NULL);
}

/* Let this thread's sleeps end close to their deadline (default slack 50 us). */
static inline void pfo_thread_timer_slack(unsigned long ns)
{
#ifdef PR_SET_TIMERSLACK
    prctl(PR_SET_TIMERSLACK, ns, 0, 0, 0);
#else
    (void)ns;
#endif
}

/* 64-byte aligned memory for rings, worker blocks and buffers: posix_memalign
 * of n rounded up to a whole number of cache lines (at least one); NULL when
 * the allocation fails.  Free with free(). */
#include <stdlib.h>
static inline void *pfo_spsc_aligned(size_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? (n + 63) / 64 * 64 : 64))
        return NULL;
    return p;
}

/* The spin NFs' busy work: n steps of a 64-bit LCG from x; the asm barrier
 * keeps the chain from being folded away or vectorised. */
static inline uint64_t pfo_spin_chain(uint64_t x, uint64_t n)
{
    uint64_t i;
    for (i = 0; i < n; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        __asm__ __volatile__("" : "+r"(x));
    }
    return x;
}

#endif /* PFO_SPSC_RING_H */
