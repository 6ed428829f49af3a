"""Toeplitz RSS hash (bit-exact with NIC RSS) and the RSS indirection table."""

cimport cython

from cpython.buffer cimport Py_buffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Calloc, PyMem_Free
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset

import numpy as np

from paraflowo._checks import IndexRangeError, require_array, require_int, require_pow2
from paraflowo._core._boundary cimport (
    PFO_NOGIL_MIN, PFO_OPTIONAL, PFO_WRITABLE, pfo_bind, pfo_bind_n, pfo_bind_bytes, pfo_bound,
    pfo_check_len, pfo_enter, pfo_guard, pfo_int, pfo_leave, pfo_len, pfo_release, pfo_try_bind,
    pfo_uint)

cdef object _u8 = np.dtype(np.uint8)
cdef object _u16 = np.dtype(np.uint16)
cdef object _u32 = np.dtype(np.uint32)
cdef object _ndarray = np.ndarray

#: The standard 40-byte Toeplitz key (Microsoft RSS specification, used by
#: most NICs and by DPDK's ``rss_intel_key``).
RSS_DEFAULT_KEY = bytes.fromhex(
    "6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa"
)


cdef void pfo_rss_init(pfo_rss_tbl_t* tbl, const uint8_t* key, Py_ssize_t key_len) noexcept nogil:
    # Worked example (default key 6d 5a 56 da 25 ...): the input bit 0 (MSB of
    # byte 0) selects the key window at bit 0, 0x6d5a56da; bit 1 selects the
    # window at bit 1, 0xdab4adb4 (= 0x6d5a56da25 >> 7, low 32 bits).  So
    # t[0][0x80] = 0x6d5a56da, t[0][0x40] = 0xdab4adb4, t[0][0xc0] = their XOR.
    cdef Py_ssize_t i, j, v, n = key_len - 4
    cdef uint64_t k40
    cdef uint32_t w[8]
    memset(tbl, 0, sizeof(pfo_rss_tbl_t))
    tbl.max_input = <uint32_t>n
    for i in range(n):
        # the 40 key bits starting at input byte i
        k40 = ((<uint64_t>key[i] << 32) | (<uint64_t>key[i + 1] << 24)
               | (<uint64_t>key[i + 2] << 16) | (<uint64_t>key[i + 3] << 8)
               | <uint64_t>key[i + 4])
        for j in range(8):
            w[j] = <uint32_t>(k40 >> (8 - j))   # window for bit j (MSB first)
        for v in range(1, 256):
            # t[i][v] = t[i][v without its lowest set bit] ^ window of that bit
            j = 7
            while not (v >> (7 - j)) & 1:
                j -= 1
            tbl.t[i][v] = tbl.t[i][v & (v - 1)] ^ w[j]


cdef void pfo_rss_hash_burst(const pfo_rss_tbl_t* tbl, const uint8_t* data,
                             Py_ssize_t n_rows, Py_ssize_t stride, Py_ssize_t length,
                             pfo_hash_t* out) noexcept nogil:
    cdef Py_ssize_t r, i
    cdef const uint8_t* d
    cdef uint32_t h0, h1, h2, h3
    cdef const uint32_t* t = &tbl.t[0][0]    # row i of the tables at t + 256*i
    if length == 12:
        # IPv4 with ports, the common case: fully unrolled, two XOR chains.
        for r in range(n_rows):
            d = data + r * stride
            out[r] = ((t[d[0]] ^ t[256 + d[1]] ^ t[512 + d[2]] ^ t[768 + d[3]]
                       ^ t[1024 + d[4]] ^ t[1280 + d[5]])
                      ^ (t[1536 + d[6]] ^ t[1792 + d[7]] ^ t[2048 + d[8]]
                         ^ t[2304 + d[9]] ^ t[2560 + d[10]] ^ t[2816 + d[11]]))
    else:
        # four independent XOR chains, so the table reads overlap
        for r in range(n_rows):
            d = data + r * stride
            h0 = h1 = h2 = h3 = 0
            i = 0
            while i + 4 <= length:
                h0 ^= t[(i << 8) + d[i]]
                h1 ^= t[((i + 1) << 8) + d[i + 1]]
                h2 ^= t[((i + 2) << 8) + d[i + 2]]
                h3 ^= t[((i + 3) << 8) + d[i + 3]]
                i += 4
            while i < length:
                h0 ^= t[(i << 8) + d[i]]
                i += 1
            out[r] = (h0 ^ h1) ^ (h2 ^ h3)


cdef class ToeplitzHasher:
    """Toeplitz hasher for one key, with its lookup tables precomputed.

    Parameters
    ----------
    key : bytes, default RSS_DEFAULT_KEY
        The Toeplitz key, 8 to 64 bytes.  A key of K bytes hashes inputs of up
        to K - 4 bytes (the standard 40-byte key: 36 bytes, an IPv6 4-tuple).

    Raises
    ------
    TypeError
        If ``key`` is not bytes-like.
    ValueError
        If ``key`` is shorter than 8 or longer than 64 bytes.

    Notes
    -----
    Building the tables costs about 15k table writes; a hash then costs one
    table read and one XOR per input byte.  The tables are immutable, so a
    hasher may be shared by threads: its bursts release the GIL and may run
    concurrently (it is the one object with no busy guard: nothing in it
    changes).

    Examples
    --------
    >>> from paraflowo import ToeplitzHasher
    >>> h = ToeplitzHasher()
    >>> hex(h.hash(bytes([66, 9, 149, 187, 161, 142, 100, 80])))
    '0x323e8fc2'
    """

    def __cinit__(self, key=RSS_DEFAULT_KEY):
        if not isinstance(key, (bytes, bytearray, memoryview)):
            raise TypeError(f"key must be bytes, got {type(key).__name__}")
        key = bytes(key)
        if not PFO_RSS_MIN_KEY <= len(key) <= PFO_RSS_MAX_KEY:
            raise ValueError(
                f"key must be {PFO_RSS_MIN_KEY} to {PFO_RSS_MAX_KEY} bytes long "
                f"(the standard RSS key has 40), got {len(key)} bytes")
        self.tbl = <pfo_rss_tbl_t*>PyMem_Calloc(1, sizeof(pfo_rss_tbl_t))
        if self.tbl is NULL:
            raise MemoryError("cannot allocate Toeplitz tables")
        self.key = key
        cdef const uint8_t* k = key
        pfo_rss_init(self.tbl, k, len(key))

    def __dealloc__(self):
        PyMem_Free(self.tbl)

    @property
    def max_input(self):
        """Longest input this key can hash, in bytes (key length - 4)."""
        return self.tbl.max_input

    def __repr__(self):
        return f"ToeplitzHasher(key=bytes.fromhex({self.key.hex()!r}))"

    def __reduce__(self):
        return (ToeplitzHasher, (self.key,))

    def hash(self, data):
        """Toeplitz hash of one input.

        Parameters
        ----------
        data : bytes-like
            The RSS input in network byte order, at most :attr:`max_input`
            bytes (source address, destination address, then optionally
            source port and destination port).

        Returns
        -------
        int
            The 32-bit hash.

        Raises
        ------
        TypeError
            If ``data`` does not support the buffer protocol.
        ValueError
            If ``data`` is longer than :attr:`max_input`.
        """
        return _th_hash_one(self, data)

    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    def hash_batch(self, data, out=None):
        """Toeplitz hash of each row of a ``(n, L)`` uint8 array.

        Parameters
        ----------
        data : numpy.ndarray
            C-contiguous ``uint8`` array of shape ``(n, L)``, one RSS input per
            row, ``L <= max_input``.
        out : numpy.ndarray, optional
            C-contiguous ``uint32`` array of shape ``(n,)`` to write into.

        Returns
        -------
        numpy.ndarray
            ``uint32`` hashes, shape ``(n,)`` (``out`` if given).

        Raises
        ------
        TypeError
            If ``data`` or ``out`` is not a numpy array of the right dtype.
        ValueError
            If ``data`` is not 2-D and C-contiguous, has rows longer than
            :attr:`max_input`, or ``out`` has the wrong length.
        """
        return _th_hash_batch(self, data, out)

    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    def hash_records(self, records, length, out=None):
        """Hash the leading ``length`` bytes of each record of a structured array.

        This is how the 5-tuple dtypes are hashed in place, without a copy:
        their leading bytes are the RSS input in network byte order.

        Parameters
        ----------
        records : numpy.ndarray
            1-D C-contiguous array of any dtype with ``itemsize >= length``.
        length : int
            Bytes of each record to hash, at most :attr:`max_input`.
        out : numpy.ndarray, optional
            ``uint32`` output of shape ``(n,)``.

        Returns
        -------
        numpy.ndarray
            ``uint32`` hashes, shape ``(n,)``.

        Raises
        ------
        TypeError
            ``records`` is not a numpy array, ``length`` not an integer, or
            ``out`` not a ``uint32`` array.
        ValueError
            ``records`` not 1-D and C-contiguous, ``length`` out of range,
            ``out`` of the wrong length or read-only.
        """
        cdef Py_buffer br
        cdef Py_ssize_t ln
        if pfo_try_bind(&br, records, None, 1, 0):     # the common case
            try:
                ln = pfo_int("length", length, 0, min(br.itemsize, self.tbl.max_input))
                return _th_run(self, <const uint8_t*>br.buf, br.shape[0], br.itemsize, ln, out)
            finally:
                pfo_release(&br)
        if not isinstance(records, _ndarray):
            raise TypeError(f"records must be a numpy.ndarray, got {type(records).__name__}")
        if records.ndim != 1 or not records.flags.c_contiguous:
            raise ValueError(
                f"records must be 1-D and C-contiguous, got shape {records.shape}, "
                f"strides {records.strides}")
        cdef Py_ssize_t stride = records.dtype.itemsize
        cdef Py_ssize_t n = records.shape[0]
        ln = pfo_int("length", length, 0, min(stride, self.tbl.max_input))
        flat = records.view(_u8) if n else np.empty(0, _u8)
        return _th_burst(self, flat, n, stride, ln, out)


cdef ToeplitzHasher _DEFAULT_HASHER = ToeplitzHasher(RSS_DEFAULT_KEY)
# Hashers for other keys, built on first use.  The tables are a pure function of
# the key, so this cache changes no result, only the cost of the first call.
_HASHERS = {RSS_DEFAULT_KEY: _DEFAULT_HASHER}


cdef object _th_hash_one(ToeplitzHasher self, object data):
    cdef Py_buffer b
    cdef pfo_hash_t h
    if type(data) is bytes:            # fast path: no buffer acquisition
        if PyBytes_GET_SIZE(data) <= self.tbl.max_input:
            return pfo_rss_hash(self.tbl, <const uint8_t*>PyBytes_AS_STRING(data),
                                PyBytes_GET_SIZE(data))
    pfo_bind_bytes(&b, data, "data")
    try:
        if b.len > self.tbl.max_input:
            raise ValueError(
                f"data must be at most {self.tbl.max_input} bytes for a "
                f"{len(self.key)}-byte key, got {b.len} bytes")
        h = pfo_rss_hash(self.tbl, <const uint8_t*>b.buf, b.len)
    finally:
        pfo_release(&b)
    return h

cdef object _th_run(ToeplitzHasher self, const uint8_t* data, Py_ssize_t n, Py_ssize_t stride,
                    Py_ssize_t length, object out):
    # Hash n records of `stride` bytes at data (held by the caller), the
    # leading `length` bytes of each, into out (None: a new uint32 array).
    cdef Py_buffer bo
    bo.shape = NULL
    if out is None:
        out = np.empty(n, _u32)
    try:
        pfo_bind_n(&bo, out, "out", _u32, PFO_WRITABLE, n)   # held on a length error
        if n < PFO_NOGIL_MIN:                  # a short burst keeps the GIL
            pfo_rss_hash_burst(self.tbl, data, n, stride, length, <pfo_hash_t*>bo.buf)
        else:
            with nogil:
                pfo_rss_hash_burst(self.tbl, data, n, stride, length, <pfo_hash_t*>bo.buf)
    finally:
        pfo_release(&bo)
    return out


cdef object _th_burst(ToeplitzHasher self, object flat, Py_ssize_t n, Py_ssize_t stride,
                      Py_ssize_t length, object out):
    # flat: 1-D C-contiguous uint8 view of the n records (checked by the
    # caller); out: None or a writable uint32 array of length n
    cdef Py_buffer bd
    if out is None:
        out = np.empty(n, _u32)
    pfo_bind(&bd, flat, "data", _u8, 0)
    try:
        return _th_run(self, <const uint8_t*>bd.buf, n, stride, length, out)
    finally:
        pfo_release(&bd)


cdef object _th_hash_batch(ToeplitzHasher self, object data, object out):
    # ToeplitzHasher.hash_batch and toeplitz_batch: the rows of a 2-D uint8 array.
    cdef Py_buffer bd
    cdef Py_ssize_t n, length
    if pfo_try_bind(&bd, data, _u8, 2, 0):      # the common case
        try:
            if bd.shape[1] <= self.tbl.max_input:
                return _th_run(self, <const uint8_t*>bd.buf, bd.shape[0], bd.shape[1],
                               bd.shape[1], out)
        finally:
            pfo_release(&bd)
    require_array("data", data, np.uint8, ndim=2)
    n = data.shape[0]
    length = data.shape[1]
    if length > self.tbl.max_input:
        raise ValueError(
            f"data rows must be at most {self.tbl.max_input} bytes for a "
            f"{len(self.key)}-byte key, got shape {data.shape}")
    return _th_burst(self, data.reshape(-1), n, length, length, out)


cpdef ToeplitzHasher hasher_for(key):
    """Return a :class:`ToeplitzHasher` for ``key``, reusing an earlier one.

    Up to 16 keys are kept (the default key always); their tables are a pure
    function of the key, so reuse never changes a result, only its cost.
    """
    if key is RSS_DEFAULT_KEY:
        return _DEFAULT_HASHER
    cdef ToeplitzHasher h
    if type(key) is not bytes:
        if not isinstance(key, (bytes, bytearray, memoryview)):
            raise TypeError(f"key must be bytes, got {type(key).__name__}")
        key = bytes(key)
    h = _HASHERS.get(key)
    if h is None:
        h = ToeplitzHasher(key)
        if len(_HASHERS) >= 16:
            for k in list(_HASHERS)[1:9]:   # keep the default key
                del _HASHERS[k]
        _HASHERS[h.key] = h
    return h


def toeplitz(data, key=RSS_DEFAULT_KEY):
    """Toeplitz RSS hash of raw input bytes, bit-exact with NIC RSS.

    Parameters
    ----------
    data : bytes-like
        The RSS input in network byte order: source address, destination
        address, then (for hashes with L4) source port and destination port.
        At most ``len(key) - 4`` bytes.
    key : bytes, default RSS_DEFAULT_KEY
        The Toeplitz key, 8 to 64 bytes.

    Returns
    -------
    int
        The 32-bit hash.

    Raises
    ------
    TypeError
        If ``data`` or ``key`` is not bytes-like.
    ValueError
        If ``key`` has the wrong length or ``data`` is too long for it.

    Examples
    --------
    The first IPv4 vector of the Microsoft RSS verification suite, source
    66.9.149.187:2794, destination 161.142.100.80:1766:

    >>> import socket, struct
    >>> from paraflowo import toeplitz
    >>> src, dst = socket.inet_aton("66.9.149.187"), socket.inet_aton("161.142.100.80")
    >>> hex(toeplitz(src + dst))
    '0x323e8fc2'
    >>> hex(toeplitz(src + dst + struct.pack("!HH", 2794, 1766)))
    '0x51ccc178'
    """
    if key is RSS_DEFAULT_KEY:
        return _th_hash_one(_DEFAULT_HASHER, data)
    return _th_hash_one(hasher_for(key), data)


@cython.binding(False)
@cython.embedsignature.format("clinic")
def toeplitz_batch(data, key=RSS_DEFAULT_KEY, out=None):
    """Toeplitz RSS hash of each row of a C-contiguous ``(n, L)`` uint8 array.

    Parameters
    ----------
    data : numpy.ndarray
        ``uint8``, shape ``(n, L)``, C-contiguous; one RSS input per row.
    key : bytes, default RSS_DEFAULT_KEY
        The Toeplitz key.
    out : numpy.ndarray, optional
        ``uint32`` array of shape ``(n,)`` to write into.

    Returns
    -------
    numpy.ndarray
        ``uint32`` hashes, shape ``(n,)``.

    Raises
    ------
    TypeError
        Wrong array type or dtype, or a key that is not bytes.
    ValueError
        Wrong shape, not C-contiguous, rows too long for the key, or a key of
        the wrong length.

    Notes
    -----
    Runs without the GIL from 256 rows on (a shorter burst keeps it);
    about one table read and one XOR per input byte.

    Examples
    --------
    >>> import numpy as np
    >>> from paraflowo import toeplitz_batch
    >>> rows = np.array([[66, 9, 149, 187, 161, 142, 100, 80]], dtype=np.uint8)
    >>> [hex(h) for h in toeplitz_batch(rows)]
    ['0x323e8fc2']
    """
    if key is RSS_DEFAULT_KEY:
        return _th_hash_batch(_DEFAULT_HASHER, data, out)
    return _th_hash_batch(hasher_for(key), data, out)


#: IPv4 5-tuple record, 16 bytes.  Bytes 0..11 are the RSS input with ports,
#: bytes 0..7 without.  Addresses are integers (``int(IPv4Address(...))``).
IPV4_TUPLE_DTYPE = np.dtype(
    {
        "names": ["src_ip", "dst_ip", "src_port", "dst_port", "proto"],
        "formats": [">u4", ">u4", ">u2", ">u2", "u1"],
        "offsets": [0, 4, 8, 10, 12],
        "itemsize": 16,
    }
)

#: IPv6 5-tuple record, 40 bytes.  Bytes 0..35 are the RSS input with ports,
#: bytes 0..31 without.  Addresses are 16 raw bytes (``IPv6Address(...).packed``).
IPV6_TUPLE_DTYPE = np.dtype(
    {
        "names": ["src_ip", "dst_ip", "src_port", "dst_port", "proto"],
        "formats": [("u1", (16,)), ("u1", (16,)), ">u2", ">u2", "u1"],
        "offsets": [0, 16, 32, 34, 36],
        "itemsize": 40,
    }
)

cdef object _ipv4 = IPV4_TUPLE_DTYPE
cdef object _ipv6 = IPV6_TUPLE_DTYPE

_RSS_LEN = {  # (dtype, with ports) -> bytes of RSS input
    (IPV4_TUPLE_DTYPE, True): 12,
    (IPV4_TUPLE_DTYPE, False): 8,
    (IPV6_TUPLE_DTYPE, True): 36,
    (IPV6_TUPLE_DTYPE, False): 32,
}


@cython.binding(False)
@cython.embedsignature.format("clinic")
def rss_hash_batch(tuples, ports=True, *, key=RSS_DEFAULT_KEY, out=None):
    """Toeplitz RSS hashes of an array of 5-tuples, computed in place.

    Parameters
    ----------
    tuples : numpy.ndarray
        1-D C-contiguous array of :data:`IPV4_TUPLE_DTYPE` or
        :data:`IPV6_TUPLE_DTYPE`.
    ports : bool, default True
        Include the L4 ports (4-tuple hash) or hash the addresses only
        (``bool`` or ``numpy.bool_``).
    key : bytes, default RSS_DEFAULT_KEY
    out : numpy.ndarray, optional
        ``uint32`` output of the same length.

    Returns
    -------
    numpy.ndarray
        ``uint32`` hashes.

    Raises
    ------
    TypeError
        Not an array of one of the two tuple dtypes, ``ports`` not a bool,
        or a bad ``key`` or ``out``.
    ValueError
        Not 1-D and C-contiguous, ``out`` of the wrong length, or a ``key``
        too short for the input (it needs 4 bytes more than the input: 16 for
        IPv4 with ports, 40 for IPv6 with ports).
    """
    cdef Py_buffer bt
    cdef Py_ssize_t length = -1
    if key is RSS_DEFAULT_KEY and (ports is True or ports is False):
        # the common case: the default key (long enough for both families)
        if pfo_try_bind(&bt, tuples, _ipv4, 1, 0):
            length = 12 if ports is True else 8
        elif pfo_try_bind(&bt, tuples, _ipv6, 1, 0):
            length = 36 if ports is True else 32
        if length >= 0:
            try:
                return _th_run(_DEFAULT_HASHER, <const uint8_t*>bt.buf, bt.shape[0],
                               bt.itemsize, length, out)
            finally:
                pfo_release(&bt)
    if not isinstance(ports, (bool, np.bool_)):
        raise TypeError(f"ports must be a bool, got {ports!r}")
    if not isinstance(tuples, np.ndarray):
        raise TypeError(f"tuples must be a numpy.ndarray, got {type(tuples).__name__}")
    rss_len = _RSS_LEN.get((tuples.dtype, bool(ports)))
    if rss_len is None:
        raise TypeError(
            f"tuples must have dtype IPV4_TUPLE_DTYPE or IPV6_TUPLE_DTYPE, got {tuples.dtype}")
    h = hasher_for(key)
    if rss_len > h.max_input:
        raise ValueError(f"key must be at least {rss_len + 4} bytes to hash "
                         f"{'ports and ' if ports else ''}"
                         f"{tuples.dtype.fields['src_ip'][0].itemsize * 8}-bit "
                         f"addresses ({rss_len}-byte input), got {len(h.key)} bytes")
    return h.hash_records(tuples, rss_len, out)


cdef class IndirectionTable:
    """RSS indirection table (RETA): hash bits -> RX queue.

    ``queue(hash) = table[hash & (size - 1)]``: the k least significant bits of
    the hash index a table of ``size = 2**k`` entries, each an RX queue.

    Parameters
    ----------
    n_queues : int
        Number of RX queues (cores), 1 to 65535.  Every entry is below it.
    size : int, default 128
        Number of entries, a power of two in [1, 65536] (most NICs: 128).

    Raises
    ------
    TypeError
        If an argument is not an integer.
    ValueError
        If ``size`` is not a power of two in range or ``n_queues`` is out of range.

    Notes
    -----
    The table starts filled round-robin, ``table[i] = i % n_queues``, like
    ``ethtool -X equal``.  Entries are settable like ``ethtool -X``.  The
    flowlet scheduler reuses this step: its RX id goes through the same table.

    One thread at a time: :meth:`queue_batch` releases the GIL, and any call
    on the table from another thread while it runs raises ``RuntimeError``.
    An index out of range raises :class:`~paraflowo._checks.IndexRangeError`
    (a ``ValueError`` that is also an ``IndexError``).

    Examples
    --------
    >>> from paraflowo import IndirectionTable
    >>> reta = IndirectionTable(4)
    >>> reta.queue(0x51ccc178)      # 0x78 = 120; 120 % 4
    0
    >>> reta[120] = 3
    >>> reta.queue(0x51ccc178)
    3
    """

    def __cinit__(self, n_queues, size=128):
        n_queues = require_int("n_queues", n_queues, 1, 0xFFFF)
        size = require_pow2("size", size, 1, 1 << 16)
        self.entries = <uint16_t*>PyMem_Calloc(size, sizeof(uint16_t))
        if self.entries is NULL:
            raise MemoryError("cannot allocate the indirection table")
        self.size = size
        self.mask = size - 1
        self.n_queues = n_queues
        self.reset()

    def __dealloc__(self):
        PyMem_Free(self.entries)

    def __len__(self):
        return self.size

    def __repr__(self):
        return f"IndirectionTable(n_queues={self.n_queues}, size={self.size})"

    def __reduce__(self):
        return (_rebuild_reta, (self.n_queues, self.size, self.entries_array()))

    def reset(self):
        """Refill round-robin: ``table[i] = i % n_queues``."""
        pfo_guard(self.busy, self)
        cdef uint32_t i
        for i in range(self.size):
            self.entries[i] = <uint16_t>(i % self.n_queues)

    def __getitem__(self, index):
        return self.entries[_it_index(self, index)]

    def __setitem__(self, index, queue):
        cdef uint32_t i = _it_index(self, index)
        self.entries[i] = <uint16_t>pfo_uint("queue", queue, 0, self.n_queues - 1)

    def entries_array(self):
        """A copy of the table as a ``uint16`` array of length :attr:`size`."""
        pfo_guard(self.busy, self)
        out = np.empty(self.size, dtype=_u16)
        cdef Py_buffer b
        pfo_bind(&b, out, "out", _u16, PFO_WRITABLE)
        memcpy(b.buf, self.entries, self.size * sizeof(uint16_t))
        pfo_release(&b)
        return out

    def set_entries(self, entries):
        """Replace every entry (like ``ethtool -X ... weight``).

        Parameters
        ----------
        entries : array-like of int
            Exactly :attr:`size` queue indices, each in ``[0, n_queues)``.

        Raises
        ------
        ValueError
            Wrong length, or an entry outside ``[0, n_queues)``; the table is
            unchanged.
        TypeError
            Entries that are not integers.
        """
        pfo_guard(self.busy, self)
        arr = np.asarray(entries)
        if arr.dtype.kind == "O" and arr.ndim == 1 and all(
                type(x) is int for x in arr.tolist()):
            # Python ints beyond int64/uint64: out of range, not the wrong kind
            bad = next(x for x in arr.tolist() if not 0 <= x < self.n_queues)
            raise ValueError(f"entries must be in [0, {self.n_queues - 1}], got {bad}")
        if arr.dtype.kind not in "iu":
            raise TypeError(f"entries must be integers, got dtype {arr.dtype}")
        if arr.shape != (self.size,):
            raise ValueError(f"entries must have shape ({self.size},), got {arr.shape}")
        if arr.size and (arr.min() < 0 or arr.max() >= self.n_queues):
            bad = arr[(arr < 0) | (arr >= self.n_queues)][0]
            raise ValueError(f"entries must be in [0, {self.n_queues - 1}], got {bad}")
        a = np.ascontiguousarray(arr, dtype=_u16)
        cdef Py_buffer b
        pfo_bind(&b, a, "entries", _u16, 0)
        memcpy(self.entries, b.buf, self.size * sizeof(uint16_t))
        pfo_release(&b)

    def queue(self, hash):
        """RX queue of one 32-bit hash: ``table[hash & (size - 1)]``.

        Raises
        ------
        TypeError, ValueError
            If ``hash`` is not an integer in ``[0, 2**32)``.
        """
        pfo_guard(self.busy, self)
        return pfo_reta_lookup(self.entries, self.mask,
                               <uint32_t>pfo_uint("hash", hash, 0, 0xFFFFFFFF))

    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    def queue_batch(self, hashes, out=None):
        """RX queues of a ``uint32`` array of hashes.

        Parameters
        ----------
        hashes : numpy.ndarray
            1-D C-contiguous ``uint32``.
        out : numpy.ndarray, optional
            1-D ``uint16`` of the same length to write into.

        Returns
        -------
        numpy.ndarray
            ``uint16`` queue indices.

        Raises
        ------
        TypeError, ValueError
            ``hashes`` or ``out`` of the wrong kind, dtype, shape or length,
            or a read-only ``out``.
        RuntimeError
            Another thread's :meth:`queue_batch` on this table is running.
        """
        cdef Py_buffer bh, bo
        cdef Py_ssize_t i, n
        cdef const uint32_t* h
        cdef uint16_t* o
        cdef const uint16_t* ent
        cdef uint32_t mask
        bo.shape = NULL
        pfo_bind(&bh, hashes, "hashes", _u32, 0)
        try:
            n = pfo_len(&bh)
            if out is None:
                out = np.empty(n, _u16)
            pfo_bind_n(&bo, out, "out", _u16, PFO_WRITABLE, n)
            h = <const uint32_t*>bh.buf
            o = <uint16_t*>bo.buf
            ent = self.entries          # locals: the loop reads no field of self
            mask = self.mask
            pfo_enter(&self.busy, self)
            if n < PFO_NOGIL_MIN:                # a short burst keeps the GIL
                _reta_lookup_short(ent, mask, h, o, n)
            else:
                with nogil:
                    for i in range(n):
                        o[i] = pfo_reta_lookup(ent, mask, h[i])
            pfo_leave(&self.busy)
        finally:
            pfo_release(&bo)
            pfo_release(&bh)
        return out


cdef inline void _reta_lookup_short(const uint16_t* ent, uint32_t mask, const uint32_t* h,
                                    uint16_t* o, Py_ssize_t n) noexcept nogil:
    # queue_batch's loop for a short burst (under PFO_NOGIL_MIN), four lookups
    # a step: 32 lookups cost about 150 instructions instead of 224 (the
    # loop's increment, compare and branch once per four; callgrind).
    cdef Py_ssize_t i = 0
    while i + 4 <= n:
        o[i] = pfo_reta_lookup(ent, mask, h[i])
        o[i + 1] = pfo_reta_lookup(ent, mask, h[i + 1])
        o[i + 2] = pfo_reta_lookup(ent, mask, h[i + 2])
        o[i + 3] = pfo_reta_lookup(ent, mask, h[i + 3])
        i += 4
    while i < n:
        o[i] = pfo_reta_lookup(ent, mask, h[i])
        i += 1


cdef uint32_t _it_index(IndirectionTable self, object index) except? 0xFFFFFFFF:
    pfo_guard(self.busy, self)
    if type(index) is int and 0 <= index < self.size:
        return index
    i = require_int("index", index)
    if not 0 <= i < self.size:
        raise IndexRangeError(f"index must be in [0, {self.size - 1}], got {i}")
    return i


def _rebuild_reta(n_queues, size, entries):
    t = IndirectionTable(n_queues, size)
    t.set_entries(entries)
    return t
