"""Capture reading in C: the record walk and the header decoder of the fast trace reader.

A classic pcap file is a chain of records, each a 16-byte header (seconds,
fraction, captured length, original length) and ``caplen`` bytes of frame;
where one record ends is known only once the previous header is read:
:func:`pcap_walk` follows that chain without the GIL, :func:`pcapng_walk`
the blocks of a pcapng section.  :func:`frame_keys`
then reads each frame's link, IP and TCP/UDP headers into a fixed 38-byte
flow key, also without the GIL.  :mod:`paraflowo.sim.pcap` does the rest
(record headers, flow numbering, hashes) with numpy.
"""

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.string cimport memcpy

import numpy as np

from paraflowo._checks import require_int


cdef inline uint32_t _u32(const uint8_t* p, bint big) noexcept nogil:
    if big:
        return ((<uint32_t>p[0]) << 24) | ((<uint32_t>p[1]) << 16) | ((<uint32_t>p[2]) << 8) | p[3]
    return ((<uint32_t>p[3]) << 24) | ((<uint32_t>p[2]) << 16) | ((<uint32_t>p[1]) << 8) | p[0]


cdef Py_ssize_t pfo_pcap_walk(const uint8_t* buf, Py_ssize_t size, Py_ssize_t* off,
                              bint big_endian, int64_t* out, Py_ssize_t cap) noexcept nogil:
    cdef Py_ssize_t n = 0, o = off[0], nxt
    while n < cap and o <= size - 16:
        nxt = o + 16 + <Py_ssize_t>_u32(buf + o + 8, big_endian)
        if nxt > size:
            break
        out[n] = o + 16
        n += 1
        o = nxt
    off[0] = o
    return n


def pcap_walk(buf, offset, big_endian, out):
    """Data offsets of the whole records of a pcap file, from byte ``offset`` on.

    Parameters
    ----------
    buf : numpy.ndarray
        The file's bytes (``uint8``, C-contiguous; a read-only memory map is
        fine).
    offset : int
        Where the first record header starts (24 after the global header).
    big_endian : bool
        The file's byte order (from its magic number).
    out : numpy.ndarray
        ``int64`` array, C-contiguous and writable: receives the offsets.

    Returns
    -------
    (int, int)
        ``(n, stop)``: ``n`` offsets written to ``out[:n]``; ``stop`` is the
        byte where the walk stopped: ``len(buf)`` when the file ends on a
        record boundary, the start of a record that does not fit when the
        capture is truncated, or the next record when ``out`` filled up (call
        again from ``stop``).

    Raises
    ------
    TypeError, ValueError
        A wrong dtype, layout or a negative ``offset``.

    Examples
    --------
    >>> import numpy as np, struct
    >>> rec = lambda n: struct.pack("<IIII", 0, 0, n, n) + bytes(n)
    >>> buf = np.frombuffer(bytes(24) + rec(60) + rec(14) + b"\\0" * 5, np.uint8)
    >>> out = np.empty(8, np.int64)
    >>> n, stop = pcap_walk(buf, 24, False, out)
    >>> out[:n].tolist(), stop, len(buf)
    ([40, 116], 130, 135)
    """
    cdef Py_ssize_t o = require_int("offset", offset, 0)
    if not isinstance(buf, np.ndarray) or buf.dtype != np.uint8 or buf.ndim != 1 \
            or not buf.flags.c_contiguous:
        raise TypeError(f"buf must be a 1-D C-contiguous uint8 array, got {buf!r:.60}")
    if not isinstance(out, np.ndarray) or out.dtype != np.int64 or out.ndim != 1 \
            or not out.flags.c_contiguous or not out.flags.writeable:
        raise TypeError(f"out must be a writable 1-D C-contiguous int64 array, got {out!r:.60}")
    cdef const uint8_t[::1] b = buf
    cdef int64_t[::1] ov = out
    cdef Py_ssize_t size = b.shape[0], cap = ov.shape[0], n = 0
    cdef bint big = bool(big_endian)
    if size and cap:
        with nogil:
            n = pfo_pcap_walk(&b[0], size, &o, big, &ov[0], cap)
    return n, o


# -------------------------------------------------------------- flow keys
cdef inline uint32_t _b(const uint8_t* p, int64_t cap, int64_t i) noexcept nogil:
    # byte i of a frame of cap bytes; 0 past its end
    return p[i] if i < cap else 0


cdef inline uint32_t _w(const uint8_t* p, int64_t cap, int64_t i) noexcept nogil:
    # big-endian 16-bit word at byte i (each byte 0 past the end)
    return (_b(p, cap, i) << 8) | _b(p, cap, i + 1)


cdef inline bint _vlan(uint32_t et) noexcept nogil:
    return et == 0x8100 or et == 0x88A8 or et == 0x9100 or et == 0x9200


cdef inline bint _ip6_ext(uint32_t nxt) noexcept nogil:
    # extension headers (and ESP), left to the full decoder
    return (nxt == 0 or nxt == 43 or nxt == 44 or nxt == 50 or nxt == 51 or nxt == 60
            or nxt == 135 or nxt == 139 or nxt == 140 or nxt == 253 or nxt == 254)


cdef Py_ssize_t pfo_pcap_keys(const uint8_t* buf, const int64_t* off, const int64_t* cap,
                              const int64_t* link, Py_ssize_t n, uint8_t* keys,
                              int64_t* rest) noexcept nogil:
    cdef Py_ssize_t i, r = 0
    cdef const uint8_t* p
    cdef uint8_t* k
    cdef int64_t c, lt, l3, l4, l4_len, ihl, tot, plen
    cdef uint32_t et, ver, proto
    cdef int kind, t
    for i in range(n):
        p = buf + off[i]
        c = cap[i]
        lt = link[i]
        k = keys + <Py_ssize_t>PFO_PCAP_KEY_LEN * i
        kind = 0
        l3 = l4 = l4_len = 0
        proto = 0
        if lt == 1 or lt == 113:
            if lt == 1:
                l3 = 14
                et = _w(p, c, 12)
                if c < 14:
                    continue
                for t in range(2):
                    if not _vlan(et):
                        break
                    et = _w(p, c, l3 + 2)
                    l3 += 4
                    if c < l3:
                        break
                if c < l3:
                    continue                    # flowless: cut inside a tag
            else:
                l3 = 16
                et = _w(p, c, 14)
                if c < 16:
                    continue
            if et < 0x600 or et == 0x8847 or et == 0x8848 or et == 0x8864 or _vlan(et):
                kind = -1
            elif et == 0x0800:
                kind = 4
            elif et == 0x86DD:
                kind = 6
            else:
                continue                        # ARP, LLDP, ...: flowless
        elif lt == 12 or lt == 14 or lt == 101 or lt == 228 or lt == 229:
            if c <= 0:
                continue
            ver = p[0] >> 4
            kind = 4 if ver == 4 else (6 if ver == 6 else -1)
        else:
            continue                            # unknown link type: flowless
        if kind == 4:
            ihl = (_b(p, c, l3) & 15) * 4
            tot = _w(p, c, l3 + 2)
            # the IP header must be whole; the rest may be cut by the snap
            # length (tcpdump -s 128): the ports are read when captured
            if not (_b(p, c, l3) >> 4 == 4 and ihl >= 20 and tot >= ihl and l3 + ihl <= c):
                kind = -1
            elif _w(p, c, l3 + 6) & 0x1FFF:
                continue                        # a fragment past the first: flowless
            else:
                proto = p[l3 + 9]
                k[0] = 4
                memcpy(k + 1, p + l3 + 12, 4)
                memcpy(k + 17, p + l3 + 16, 4)
                l4 = l3 + ihl
                l4_len = tot - ihl
        elif kind == 6:
            plen = _w(p, c, l3 + 4)
            proto = _b(p, c, l3 + 6)
            if not (_b(p, c, l3) >> 4 == 6 and l3 + 40 <= c and plen > 0
                    and not _ip6_ext(proto)):
                kind = -1
            else:
                k[0] = 6
                memcpy(k + 1, p + l3 + 8, 16)
                memcpy(k + 17, p + l3 + 24, 16)
                l4 = l3 + 40
                l4_len = plen
        if kind == -1:
            rest[r] = i
            r += 1
            continue
        k[37] = <uint8_t>proto
        if (proto == 6 or proto == 17) and l4_len >= 4 and l4 + 4 <= c:
            memcpy(k + 33, p + l4, 4)
    return r


def frame_keys(buf, off, cap, link, keys, rest):
    """:c:func:`pfo_pcap_keys` on numpy arrays: the flow key record of each frame.

    Parameters
    ----------
    buf : numpy.ndarray
        The capture's bytes (``uint8``, C-contiguous).
    off, cap, link : numpy.ndarray
        ``int64``, one per frame: where it starts in ``buf``, its captured
        length, its link type.
    keys : numpy.ndarray
        ``uint8`` of shape ``(n, 38)``, zeroed, C-contiguous: receives the
        records (see ``pcapread.pxd``).
    rest : numpy.ndarray
        ``int64`` of length ``n``: receives the indices left to a full decoder.

    Returns
    -------
    int
        How many indices went to ``rest``.

    Raises
    ------
    TypeError, ValueError
        A wrong dtype, shape or layout, lengths that differ, or a frame past
        the end of ``buf`` (nothing written).

    Examples
    --------
    >>> import numpy as np
    >>> ip = bytes.fromhex("450000200000000040110000" "0a000001" "0a000002")
    >>> frame = ip + bytes.fromhex("1388003500080000") + b"abcd"   # UDP 5000 -> 53
    >>> buf = np.frombuffer(frame, np.uint8)
    >>> one = lambda v: np.array([v], np.int64)
    >>> keys, rest = np.zeros((1, 38), np.uint8), np.empty(1, np.int64)
    >>> frame_keys(buf, one(0), one(len(frame)), one(101), keys, rest)
    0
    >>> keys[0, :5].tolist(), keys[0, 33:].tolist()
    ([4, 10, 0, 0, 1], [19, 136, 0, 53, 17])
    """
    for name, a, dt in (("buf", buf, np.uint8), ("off", off, np.int64), ("cap", cap, np.int64),
                        ("link", link, np.int64), ("keys", keys, np.uint8),
                        ("rest", rest, np.int64)):
        if not isinstance(a, np.ndarray) or a.dtype != dt or not a.flags.c_contiguous:
            raise TypeError(f"{name} must be a C-contiguous {np.dtype(dt).name} array, "
                            f"got {a!r:.60}")
    cdef Py_ssize_t n = off.shape[0]
    if off.ndim != 1 or cap.shape != (n,) or link.shape != (n,) or rest.shape != (n,) \
            or keys.shape != (n, PFO_PCAP_KEY_LEN):
        raise ValueError(f"off, cap, link, rest must have one entry per frame and keys "
                         f"shape ({n}, {PFO_PCAP_KEY_LEN}), got {cap.shape}, {link.shape}, "
                         f"{rest.shape}, {keys.shape}")
    if not keys.flags.writeable or not rest.flags.writeable:
        raise ValueError("keys and rest must be writable")
    if n and ((off < 0).any() or (cap < 0).any() or (off + cap > buf.shape[0]).any()):
        raise ValueError(f"every frame must lie in buf ({buf.shape[0]} bytes)")
    if n == 0:
        return 0
    cdef const uint8_t[::1] b = buf
    cdef const int64_t[::1] ov = off
    cdef const int64_t[::1] cv = cap
    cdef const int64_t[::1] lv = link
    cdef uint8_t[:, ::1] kv = keys
    cdef int64_t[::1] rv = rest
    cdef Py_ssize_t r
    with nogil:
        r = pfo_pcap_keys(&b[0], &ov[0], &cv[0], &lv[0], n, &kv[0, 0], &rv[0])
    return r


# ----------------------------------------------------------- pcapng blocks
cdef inline uint32_t _u16(const uint8_t* p, bint big) noexcept nogil:
    if big:
        return ((<uint32_t>p[0]) << 8) | p[1]
    return ((<uint32_t>p[1]) << 8) | p[0]


cdef Py_ssize_t pfo_pcapng_walk(const uint8_t* buf, Py_ssize_t size, Py_ssize_t* off,
                                bint big_endian, uint32_t n_ifaces, uint32_t snap0,
                                int64_t* iface, uint64_t* ticks, int64_t* data,
                                int64_t* caplen, int64_t* origlen, Py_ssize_t cap,
                                int* why) noexcept nogil:
    cdef Py_ssize_t n = 0, o = off[0], end, frame
    cdef uint32_t btype, blen, ifc, cl, ol
    cdef const uint8_t* b
    why[0] = PFO_PCAPNG_END
    while o < size:
        if n == cap:
            why[0] = PFO_PCAPNG_FULL
            break
        if o > size - 12 or (buf[o] == 0x0A and buf[o + 1] == 0x0D and buf[o + 2] == 0x0D
                             and buf[o + 3] == 0x0A):
            why[0] = PFO_PCAPNG_BLOCK
            break
        btype = _u32(buf + o, big_endian)
        blen = _u32(buf + o + 4, big_endian)
        if btype == 1 or blen < 12 or blen % 4 or <Py_ssize_t>blen > size - o:
            why[0] = PFO_PCAPNG_BLOCK
            break
        b = buf + o + 8
        end = o + blen - 4
        if btype == 6 or btype == 2:
            if end - (o + 8) < 20:
                why[0] = PFO_PCAPNG_BLOCK
                break
            ifc = _u32(b, big_endian) if btype == 6 else _u16(b, big_endian)
            cl = _u32(b + 12, big_endian)
            ol = _u32(b + 16, big_endian)
            frame = o + 28
            if ifc >= n_ifaces or <Py_ssize_t>cl > end - frame:
                why[0] = PFO_PCAPNG_BLOCK
                break
            iface[n] = ifc
            ticks[n] = ((<uint64_t>_u32(b + 4, big_endian)) << 32) | _u32(b + 8, big_endian)
        elif btype == 3:
            if end - (o + 8) < 4 or n_ifaces == 0:
                why[0] = PFO_PCAPNG_BLOCK
                break
            ol = _u32(b, big_endian)
            frame = o + 12
            cl = ol if <Py_ssize_t>ol < end - frame else <uint32_t>(end - frame)
            if snap0 and cl > snap0:
                cl = snap0
            iface[n] = -1
            ticks[n] = 0
        else:
            o += blen
            continue
        data[n] = frame
        caplen[n] = cl
        origlen[n] = ol
        n += 1
        o += blen
    off[0] = o
    return n


def pcapng_walk(buf, offset, big_endian, n_ifaces, snap0, int cap=1 << 18):
    """The packets of a pcapng section's run of packet blocks, from byte ``offset`` on.

    Parameters
    ----------
    buf : numpy.ndarray
        The file's bytes (``uint8``, C-contiguous).
    offset : int
        Where the first block to walk starts.
    big_endian : bool
        The section's byte order.
    n_ifaces : int
        Interfaces described so far in the section.
    snap0 : int
        Snap length of interface 0 (bounds Simple Packet Blocks; 0: none).
    cap : int, default 2**18
        At most this many packets per call.

    Returns
    -------
    (dict, int, int)
        The packets (``iface`` int64, -1 for a Simple Packet Block; ``ticks``
        uint64; ``data``, ``caplen``, ``origlen`` int64), where the walk
        stopped, and why: 0 the end of ``buf``, 1 ``cap`` packets (call
        again), 2 a block for the caller at the offset returned (see
        ``pcapread.pxd``).

    Raises
    ------
    TypeError, ValueError
        ``buf`` is not a C-contiguous uint8 array, or a negative argument.

    Examples
    --------
    >>> import numpy as np, struct
    >>> epb = lambda ts, n: struct.pack("<IIIIIII", 6, 32 + n, 0, 0, ts, n, n) + bytes(n) \\
    ...     + struct.pack("<I", 32 + n)
    >>> buf = np.frombuffer(epb(5, 4) + epb(9, 8), np.uint8)
    >>> pk, stop, why = pcapng_walk(buf, 0, False, 1, 0)
    >>> pk["ticks"].tolist(), pk["data"].tolist(), pk["caplen"].tolist(), stop, why
    ([5, 9], [28, 64], [4, 8], 76, 0)
    """
    cdef Py_ssize_t o = require_int("offset", offset, 0)
    cdef uint32_t ni = require_int("n_ifaces", n_ifaces, 0, 0xFFFFFFFF)
    cdef uint32_t s0 = require_int("snap0", snap0, 0, 0xFFFFFFFF)
    if cap < 1:
        raise ValueError(f"cap must be >= 1, got {cap}")
    if not isinstance(buf, np.ndarray) or buf.dtype != np.uint8 or buf.ndim != 1 \
            or not buf.flags.c_contiguous:
        raise TypeError(f"buf must be a 1-D C-contiguous uint8 array, got {buf!r:.60}")
    cdef const uint8_t[::1] b = buf
    cdef Py_ssize_t size = b.shape[0], n = 0
    cdef Py_ssize_t m = min(cap, max(1, (size - o) // 16)) if size > o else 1
    out = {"iface": np.empty(m, np.int64), "ticks": np.empty(m, np.uint64),
           "data": np.empty(m, np.int64), "caplen": np.empty(m, np.int64),
           "origlen": np.empty(m, np.int64)}
    cdef int64_t[::1] fv = out["iface"]
    cdef uint64_t[::1] tv = out["ticks"]
    cdef int64_t[::1] dv = out["data"]
    cdef int64_t[::1] cv = out["caplen"]
    cdef int64_t[::1] ov = out["origlen"]
    cdef int why = PFO_PCAPNG_END
    cdef bint big = bool(big_endian)
    if size > o:
        with nogil:
            n = pfo_pcapng_walk(&b[0], size, &o, big, ni, s0, &fv[0], &tv[0], &dv[0],
                                &cv[0], &ov[0], m, &why)
    return {k: v[:n] for k, v in out.items()}, o, why
