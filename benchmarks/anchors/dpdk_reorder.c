/* DPDK rte_reorder on the vSwitch egress shape: the anchor of reorder_vs_dpdk.py.
 *
 *   dpdk_reorder EAL-ARGS -- SEQFILE QUEUES RECORDS [DATA_ROOM]
 *
 * SEQFILE holds the PSN sequence (uint32, native order) every queue sees
 * (bench_reorder.displaced).  QUEUES rte_reorder buffers of REORDER_SIZE slots;
 * records interleaved round-robin (record i: queue i % QUEUES, PSN
 * seq[i / QUEUES]), at most RECORDS of them (a whole number of rounds); bursts
 * of BURST records: each record's mbuf comes off a stack filled by one
 * rte_mempool_get_bulk before timing (drained mbufs go back on it), gets its
 * sequence number through rte_reorder_seqn and is inserted into its queue's
 * buffer; then rte_reorder_drain on every queue the burst touched (a flag per
 * queue keeps each once).  The mbufs have DATA_ROOM bytes of data room
 * (default RTE_MBUF_DEFAULT_BUF_SIZE, 2176, what a vSwitch allocates; 0, the
 * mbuf header only, is DPDK's fastest case: about twice the figure at 64
 * queues and three times at 1,024, the mbufs then packed in far fewer cache
 * lines and pages); the pool holds what the sequence can keep waiting at
 * once in every queue, plus a burst.  The minimum thread CPU time of REPEATS runs, the buffers created
 * (or reset) outside the timing.  Prints key=value pairs:
 * records, queues, released (in the timed run), refused (inserts that
 * failed), seconds, mpps.  Exit status 1 on any error, with a message.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_reorder.h>

#define REORDER_SIZE 1024u   /* slots per buffer, as the benchmark's window */
#define BURST 32u            /* records per burst */
#define REPEATS 3            /* timed runs; the minimum counts */
#define DRAIN_MAX (2u * REORDER_SIZE)  /* most one drain can return (order + ready) */

static void die(const char *what)
{
    fprintf(stderr, "dpdk_reorder: %s\n", what);
    exit(1);
}

static double thread_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    int used = rte_eal_init(argc, argv);
    if (used < 0)
        die("rte_eal_init failed (root? hugepages flags?)");
    argc -= used;
    argv += used;
    if (argc != 4 && argc != 5)
        die("usage: dpdk_reorder EAL-ARGS -- SEQFILE QUEUES RECORDS [DATA_ROOM]");
    unsigned long room = argc == 5 ? strtoul(argv[4], NULL, 10) : RTE_MBUF_DEFAULT_BUF_SIZE;
    if (room > UINT16_MAX)
        die("DATA_ROOM must be at most 65535");
    unsigned q = (unsigned)strtoul(argv[2], NULL, 10);
    uint64_t want = strtoull(argv[3], NULL, 10);
    if (q == 0 || q > 65535)
        die("QUEUES must be in [1, 65535]");

    FILE *f = fopen(argv[1], "rb");
    if (f == NULL)
        die("cannot open SEQFILE");
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (bytes <= 0 || bytes % 4 != 0)
        die("SEQFILE is empty or not a uint32 array");
    uint64_t per = (uint64_t)bytes / 4;
    uint32_t *seq = malloc((size_t)bytes);
    if (seq == NULL || fread(seq, 4, per, f) != per)
        die("cannot read SEQFILE");
    fclose(f);
    if (per > want / q)
        per = want / q;
    if (per == 0)
        die("RECORDS is smaller than QUEUES");
    uint64_t n = per * q;

    /* mbufs: the most a queue holds at once (the sequence's longest wait:
     * inserted minus released in order, over its prefixes) times the queues,
     * plus one burst */
    uint64_t most = 0, next = 0, seen = 0;
    uint8_t *have = calloc(per + 1, 1);
    if (have == NULL)
        die("out of memory");
    for (uint64_t k = 0; k < per; k++) {
        if (seq[k] < per)
            have[seq[k]] = 1;
        seen++;
        while (next < per && have[next])
            next++;
        if (seen - next > most)
            most = seen - next;
    }
    free(have);
    unsigned n_mbufs = (unsigned)(q * (most + 1) + BURST);
    struct rte_mempool *pool = rte_pktmbuf_pool_create("anchor_pool", n_mbufs, 0, 0,
                                                       (uint16_t)room, (int)rte_socket_id());
    if (pool == NULL)
        die("rte_pktmbuf_pool_create failed (not enough memory?)");
    struct rte_mbuf **stack = malloc(sizeof(*stack) * n_mbufs);
    struct rte_reorder_buffer **bufs = calloc(q, sizeof(*bufs));
    uint8_t *touched_flag = calloc(q, 1);
    unsigned *touched = malloc(sizeof(*touched) * BURST);
    struct rte_mbuf **drained = malloc(sizeof(*drained) * DRAIN_MAX);
    if (stack == NULL || bufs == NULL || touched_flag == NULL || touched == NULL
            || drained == NULL)
        die("out of memory");
    for (unsigned i = 0; i < q; i++) {
        char name[32];
        snprintf(name, sizeof(name), "rob%u", i);
        bufs[i] = rte_reorder_create(name, (unsigned)rte_socket_id(), REORDER_SIZE);
        if (bufs[i] == NULL)
            die("rte_reorder_create failed");
    }

    double best = 1e300;
    uint64_t released = 0, refused = 0;
    for (int rep = 0; rep < REPEATS; rep++) {
        if (rep)
            for (unsigned i = 0; i < q; i++)
                rte_reorder_reset(bufs[i]);
        if (rte_mempool_get_bulk(pool, (void **)stack, n_mbufs) != 0)
            die("rte_mempool_get_bulk failed");
        unsigned top = n_mbufs;       /* stack[0:top] are free mbufs */
        released = 0;
        refused = 0;
        double t0 = thread_seconds();
        uint64_t i = 0;
        unsigned qi = 0;              /* i % q */
        uint64_t pi = 0;              /* i / q */
        while (i < n) {
            uint64_t end = n - i < BURST ? n : i + BURST;
            unsigned nt = 0;
            for (; i < end; i++) {
                if (top == 0)
                    die("the mbuf stack ran empty");
                struct rte_mbuf *m = stack[--top];
                *rte_reorder_seqn(m) = seq[pi];
                if (rte_reorder_insert(bufs[qi], m) != 0) {
                    refused++;
                    stack[top++] = m;
                } else if (!touched_flag[qi]) {
                    touched_flag[qi] = 1;
                    touched[nt++] = qi;
                }
                if (++qi == q) {
                    qi = 0;
                    pi++;
                }
            }
            for (unsigned t = 0; t < nt; t++) {
                unsigned b = touched[t];
                touched_flag[b] = 0;
                unsigned k = rte_reorder_drain(bufs[b], drained, DRAIN_MAX);
                released += k;
                for (unsigned j = 0; j < k; j++)
                    stack[top++] = drained[j];
            }
        }
        double dt = thread_seconds() - t0;
        if (dt < best)
            best = dt;
        /* the rest (none in this workload, nothing missing) back on the stack */
        for (unsigned b = 0; b < q; b++) {
            unsigned k;
            while ((k = rte_reorder_drain(bufs[b], drained, DRAIN_MAX)) > 0)
                for (unsigned j = 0; j < k; j++)
                    stack[top++] = drained[j];
        }
        if (top != n_mbufs)
            fprintf(stderr, "dpdk_reorder: %u mbufs still held after the run\n",
                    n_mbufs - top);
        rte_mempool_put_bulk(pool, (void **)stack, top);
    }
    if (rte_mempool_avail_count(pool) != n_mbufs)
        die("mbufs were lost (the pool is not full again)");
    printf("records=%llu queues=%u released=%llu refused=%llu seconds=%.6f mpps=%.3f\n",
           (unsigned long long)n, q, (unsigned long long)released,
           (unsigned long long)refused, best, (double)n / best / 1e6);
    for (unsigned b = 0; b < q; b++)
        rte_reorder_free(bufs[b]);
    rte_mempool_free(pool);
    free(seq);
    free(stack);
    free(bufs);
    free(touched_flag);
    free(touched);
    free(drained);
    rte_eal_cleanup();
    return 0;
}
