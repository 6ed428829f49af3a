/*
 * Packet I/O of the live dataplane: the flow tuple of an Ethernet frame, and
 * AF_PACKET sockets with batched receive (recvmmsg) and send (sendmmsg).
 * Linux only for the sockets; the parser is portable C.
 */
#ifndef PFO_DP_IO_H
#define PFO_DP_IO_H

#include <stdint.h>
#include <string.h>

/* Prefetch n bytes from p for writing, one cache line at a time (the next
 * packet store slot the vSwitch will copy a frame into). */
static inline void pfo_prefetch_w(const void *p, uint32_t n)
{
    const char *c = (const char *)p;
    uint32_t o;
    for (o = 0; o < n; o += 64)
        __builtin_prefetch(c + o, 1, 3);
}

/* ---- flow tuple -------------------------------------------------------- */

/* The RSS input and the 64-bit flow key of one frame.
 * rss[0:rss_len] is the Toeplitz input the NIC hashes: IPv4 src, dst, sport,
 * dport (12 bytes) or IPv6 src, dst, sport, dport (36 bytes), network order;
 * the ports are omitted (8 / 32 bytes) when the protocol is not TCP/UDP or
 * the packet is a non-first fragment.  rss_len 0: not IP (one "flow" per
 * EtherType).  key: FNV-1a 64 of proto and rss[0:rss_len], never 0. */
typedef struct {
    uint8_t rss[36];
    uint32_t rss_len;
    uint64_t key;
} pfo_tuple_t;

static inline uint16_t pfo_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static inline void pfo_parse_tuple(const uint8_t *f, uint32_t len, pfo_tuple_t *t)
{
    uint32_t off = 14, ihl, l4 = 0;
    uint16_t et;
    uint8_t proto = 0;
    uint64_t h = 1469598103934665603ULL;
    uint32_t i;
    int ports = 0;
    t->rss_len = 0;
    if (len < 14) {
        et = 0;
        goto key;
    }
    et = pfo_be16(f + 12);
    while ((et == 0x8100 || et == 0x88a8) && len >= off + 4) {  /* VLAN tags */
        et = pfo_be16(f + off + 2);
        off += 4;
    }
    if (et == 0x0800 && len >= off + 20 && (f[off] >> 4) == 4) {
        ihl = (uint32_t)(f[off] & 15) * 4;
        proto = f[off + 9];
        memcpy(t->rss, f + off + 12, 8);
        t->rss_len = 8;
        l4 = off + ihl;
        /* a fragment with offset != 0 carries no ports */
        ports = ihl >= 20 && (pfo_be16(f + off + 6) & 0x1fff) == 0;
    } else if (et == 0x86dd && len >= off + 40) {
        proto = f[off + 6];
        memcpy(t->rss, f + off + 8, 32);
        t->rss_len = 32;
        l4 = off + 40;
        ports = 1;
    }
    if (t->rss_len && ports && (proto == 6 || proto == 17) && len >= l4 + 4) {
        memcpy(t->rss + t->rss_len, f + l4, 4);
        t->rss_len += 4;
    }
key:
    h ^= proto;
    h *= 1099511628211ULL;
    h ^= et;
    h *= 1099511628211ULL;
    for (i = 0; i < t->rss_len; i++) {
        h ^= t->rss[i];
        h *= 1099511628211ULL;
    }
    t->key = h ? h : 1;
}

/* ---- AF_PACKET --------------------------------------------------------- */
#ifdef __linux__
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <errno.h>
#include <fcntl.h>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

#define PFO_AFP_BATCH 32
#define PFO_AFP_OUTGOING 0xFFFFFFFFu

/* Open a raw AF_PACKET socket on interface `ifname`, bound to it, promiscuous,
 * non-blocking, and (where the kernel has it, Linux >= 4.20) told to ignore
 * outgoing packets, so the frames this socket (or anyone) sends on the
 * interface are never received again.  *ignoring = 1 when that option took;
 * otherwise the receive path filters PACKET_OUTGOING itself.
 * Returns the fd, or -1 with errno set (nothing left open). */
static inline int pfo_afp_open(const char *ifname, int rcvbuf, int *ignoring)
{
    struct sockaddr_ll sll;
    struct packet_mreq mr;
    int one = 1, fd, e;
    unsigned int idx = if_nametoindex(ifname);
    if (!idx)
        return -1;
    fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (fd < 0)
        return -1;
    *ignoring = setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) == 0;
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    memset(&sll, 0, sizeof sll);
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = (int)idx;
    if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0)
        goto fail;
    memset(&mr, 0, sizeof mr);
    mr.mr_ifindex = (int)idx;
    mr.mr_type = PACKET_MR_PROMISC;
    if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0)
        goto fail;
    return fd;
fail:
    e = errno;
    close(fd);
    errno = e;
    return -1;
}

static inline void pfo_afp_close(int fd)
{
    if (fd >= 0)
        close(fd);
}

/* Receive up to n (<= PFO_AFP_BATCH) frames without blocking into bufs[i]
 * (each cap bytes).  lens[i] gets each frame's length; a frame longer than cap
 * (truncated) gets lens[i] = 0, and an outgoing frame (seen only when the
 * kernel could not be told to ignore them) gets PFO_AFP_OUTGOING: the caller
 * skips both and counts them.  Returns the number of entries filled (0: nothing waiting),
 * or -1 with errno on a socket error. */
static inline int pfo_afp_recv(int fd, uint8_t *const *bufs, uint32_t cap, uint32_t *lens, int n)
{
    struct mmsghdr m[PFO_AFP_BATCH];
    struct iovec iov[PFO_AFP_BATCH];
    struct sockaddr_ll from[PFO_AFP_BATCH];
    int i, got;
    if (n > PFO_AFP_BATCH)
        n = PFO_AFP_BATCH;
    memset(m, 0, sizeof(m[0]) * (size_t)n);
    for (i = 0; i < n; i++) {
        iov[i].iov_base = bufs[i];
        iov[i].iov_len = cap;
        m[i].msg_hdr.msg_iov = &iov[i];
        m[i].msg_hdr.msg_iovlen = 1;
        m[i].msg_hdr.msg_name = &from[i];
        m[i].msg_hdr.msg_namelen = sizeof from[i];
    }
    got = recvmmsg(fd, m, (unsigned)n, MSG_DONTWAIT | MSG_TRUNC, NULL);
    if (got < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
    for (i = 0; i < got; i++) {
        lens[i] = m[i].msg_len;
        if (from[i].sll_pkttype == PACKET_OUTGOING)
            lens[i] = PFO_AFP_OUTGOING;
        else if (m[i].msg_len > cap || (m[i].msg_hdr.msg_flags & MSG_TRUNC))
            lens[i] = 0;
    }
    return got;
}

/* Send frames bufs[0:n] (lengths lens) on the socket's interface, in order,
 * batched.  A frame the kernel refuses with a transient error (ENOBUFS, EAGAIN)
 * is retried a few times, then counted as failed.  Returns the number sent;
 * n - return were not sent (the caller counts them). */
static inline int pfo_afp_send(int fd, uint8_t *const *bufs, const uint32_t *lens, int n)
{
    struct mmsghdr m[PFO_AFP_BATCH];
    struct iovec iov[PFO_AFP_BATCH];
    int i, done = 0, r, tries = 0;
    while (done < n) {
        int k = n - done > PFO_AFP_BATCH ? PFO_AFP_BATCH : n - done;
        memset(m, 0, sizeof(m[0]) * (size_t)k);
        for (i = 0; i < k; i++) {
            iov[i].iov_base = bufs[done + i];
            iov[i].iov_len = lens[done + i];
            m[i].msg_hdr.msg_iov = &iov[i];
            m[i].msg_hdr.msg_iovlen = 1;
        }
        r = sendmmsg(fd, m, (unsigned)k, MSG_DONTWAIT);
        if (r > 0) {
            done += r;
            tries = 0;
            continue;
        }
        if (r < 0 && (errno == ENOBUFS || errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            && tries++ < 200) {
            struct pollfd p = {fd, POLLOUT, 0};
            poll(&p, 1, 1);
            continue;
        }
        if (r < 0 && errno == EMSGSIZE) {  /* skip the one frame that cannot go */
            done += 1;
            continue;
        }
        break;
    }
    return done;
}

/* Drops counted by the kernel on this socket since the last call (its
 * receive buffer was full: the dataplane fell behind). */
static inline uint64_t pfo_afp_drops(int fd)
{
    struct tpacket_stats st;
    socklen_t l = sizeof st;
    if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &l) < 0)
        return 0;
    return st.tp_drops;
}

/* Wait up to timeout_ns for either socket to become readable. */
static inline void pfo_afp_wait(int fd_a, int fd_b, int64_t timeout_ns)
{
    struct pollfd p[2] = {{fd_a, POLLIN, 0}, {fd_b, POLLIN, 0}};
    struct timespec ts;
    ts.tv_sec = timeout_ns / 1000000000LL;
    ts.tv_nsec = timeout_ns % 1000000000LL;
    ppoll(p, 2, &ts, NULL);
}
#else
static inline int pfo_afp_open(const char *ifname, int rcvbuf, int *ignoring)
{ (void)ifname; (void)rcvbuf; *ignoring = 0; errno = ENOSYS; return -1; }
static inline void pfo_afp_close(int fd) { (void)fd; }
static inline int pfo_afp_recv(int fd, uint8_t *const *bufs, uint32_t cap, uint32_t *lens, int n)
{ (void)fd; (void)bufs; (void)cap; (void)lens; (void)n; return -1; }
static inline int pfo_afp_send(int fd, uint8_t *const *bufs, const uint32_t *lens, int n)
{ (void)fd; (void)bufs; (void)lens; (void)n; return 0; }
static inline uint64_t pfo_afp_drops(int fd) { (void)fd; return 0; }
static inline void pfo_afp_wait(int a, int b, int64_t t) { (void)a; (void)b; (void)t; }
#define PFO_AFP_BATCH 32
#define PFO_AFP_OUTGOING 0xFFFFFFFFu
#endif

#endif /* PFO_DP_IO_H */
