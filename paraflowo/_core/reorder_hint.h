/* Reorder queues: memory hints for the burst paths (paraflowo/_core/reorder.pyx).
 *
 * pfo_prefetch(p): ask for the cache line at p ahead of a write to it (the
 * slot a record goes to), so that the misses of one burst's records overlap
 * when many queues' rings do not fit in the cache.  A no-op where the
 * compiler has no prefetch builtin.  Never faults: p may be any address.
 *
 * pfo_block_alloc(size): the memory block of a ReorderQueues, 64-byte
 * aligned (every queue header starts a cache line); from 2 MiB up, aligned to
 * 2 MiB and, where the system has transparent huge pages, marked for them
 * (madvise MADV_HUGEPAGE: a hint, ignored where refused), so that a burst
 * spread over a thousand queues does not miss the TLB on every record.
 * NULL if out of memory; free() it.
 *
 * pfo_order_skip(e, n, head, pmask, window): how many of e[0:n], from the
 * front, lie outside the window [head, head + window) of pmask + 1 serial
 * numbers (((e[i] - head) & pmask) >= window): the index of the first one
 * inside it, or n.  The walk of a queue's order FIFO over the entries whose
 * packet the head passed; four entries at a time with SSE2 (x86-64), one by
 * one elsewhere.  Reads e[0:n] only. */
#ifndef PFO_REORDER_HINT_H
#define PFO_REORDER_HINT_H

#include <stdint.h>
#include <stdlib.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif
#if defined(__SSE2__) && (defined(__GNUC__) || defined(__clang__))
#include <emmintrin.h>
#define PFO_ORDER_SKIP_SSE2 1
#endif

#if defined(__GNUC__) || defined(__clang__)
#define pfo_prefetch(p) __builtin_prefetch((const void *)(p), 1, 3)
#else
#define pfo_prefetch(p) ((void)(p))
#endif

#define PFO_HUGE_BYTES ((size_t)2 << 20)

static inline void *pfo_block_alloc(size_t size)
{
    void *p = NULL;
    size_t align = size >= PFO_HUGE_BYTES ? PFO_HUGE_BYTES : 64;
    if (size == 0)
        size = 64;
    if (posix_memalign(&p, align, size) != 0)
        return NULL;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (align == PFO_HUGE_BYTES)
        (void)madvise(p, size, MADV_HUGEPAGE);
#endif
    return p;
}

static inline uint32_t pfo_order_skip(const uint32_t *e, uint32_t n, uint32_t head,
                                      uint32_t pmask, uint32_t window)
{
    uint32_t i = 0;
#ifdef PFO_ORDER_SKIP_SSE2
    /* d < window unsigned is (d ^ 2**31) < (window ^ 2**31) signed */
    const __m128i vh = _mm_set1_epi32((int)head), vm = _mm_set1_epi32((int)pmask);
    const __m128i sign = _mm_set1_epi32(INT32_MIN);
    const __m128i vw = _mm_set1_epi32((int)(window ^ 0x80000000u));
    for (; n - i >= 4; i += 4) {
        __m128i d = _mm_and_si128(_mm_sub_epi32(_mm_loadu_si128((const __m128i *)(e + i)), vh), vm);
        int in = _mm_movemask_ps(_mm_castsi128_ps(_mm_cmplt_epi32(_mm_xor_si128(d, sign), vw)));
        if (in != 0)
            return i + (uint32_t)__builtin_ctz((unsigned)in);
    }
#endif
    for (; i < n; i++)
        if (((e[i] - head) & pmask) < window)
            break;
    return i;
}

#endif
