/* Reorder queues: a cache hint for the burst paths (paraflowo/_core/reorder.pyx).
 *
 * pfo_prefetch(p): ask for the cache line at p ahead of a write to it (the
 * slot a record goes to), so that the misses of one burst's records overlap
 * when many queues' rings do not fit in the cache.  A no-op where the
 * compiler has no prefetch builtin.  Never faults: p may be any address. */
#ifndef PFO_REORDER_HINT_H
#define PFO_REORDER_HINT_H

#if defined(__GNUC__) || defined(__clang__)
#define pfo_prefetch(p) __builtin_prefetch((const void *)(p), 1, 3)
#else
#define pfo_prefetch(p) ((void)(p))
#endif

#endif
