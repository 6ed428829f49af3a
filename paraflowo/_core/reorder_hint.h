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
 * NULL if out of memory; free() it. */
#ifndef PFO_REORDER_HINT_H
#define PFO_REORDER_HINT_H

#include <stdlib.h>
#if defined(__linux__)
#include <sys/mman.h>
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

#endif
