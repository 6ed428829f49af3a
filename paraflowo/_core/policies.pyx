"""Steering policies behind one C-level interface (see ``policies.pxd``)."""

cimport cython

from libc.stdint cimport int64_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy, memset

import numpy as np

from paraflowo._checks import (
    in_use_error, require_int, require_number, require_pow2, require_same_length)
from cpython.buffer cimport Py_buffer
from paraflowo._core._boundary cimport (
    PFO_NOGIL_MIN, PFO_WRITABLE, pfo_bind, pfo_bind_n, pfo_enter, pfo_guard, pfo_leave, pfo_len,
    pfo_raise_busy, pfo_raise_uninit, pfo_release, pfo_retype_new, pfo_time,
)
from paraflowo.metadata import META_DTYPE

cdef object _U64 = np.dtype(np.uint64)
cdef object _U32 = np.dtype(np.uint32)
cdef object _U16 = np.dtype(np.uint16)
cdef object _I64 = np.dtype(np.int64)
cdef object _META = META_DTYPE
cdef object _META_RAW = np.dtype((np.void, META_DTYPE.itemsize))   # same size, no fields
cdef object _np_empty = np.empty

from paraflowo._core._types cimport (
    PFO_FLAG_DROP, PFO_FLAG_PARA, pfo_handle_t, pfo_hash_t, pfo_meta_t, pfo_ns_first_backwards,
    pfo_ns_t)
from paraflowo._core.breakup cimport Breakup, _brk_busy_part, _brk_mark
from paraflowo._core.hashing cimport IndirectionTable, pfo_reta_lookup
from paraflowo._core.reorder cimport (
    PFO_NS_NEVER, PFO_ROB_BUFFERED, PFO_ROB_DROPPED, PFO_ROB_DUPLICATE, PFO_ROB_FULL,
    PFO_ROB_LATE, ReorderQueues, pfo_rob_flush, pfo_rob_t, pfo_robq_touch)


cdef object _new_meta(Py_ssize_t n):
    # np.empty(n, META_DTYPE), without numpy's zero-fill setup of a structured
    # dtype (_bind.h: pfo_retype_new): about 5,000 instructions less a call.
    arr = _np_empty(n, _META_RAW)
    if pfo_retype_new(arr, _META):
        return arr
    return _np_empty(n, _META)


POLICY_NAMES = ("rss", "spray", "paraflowo", "rsspp")


cdef inline void _fill(pfo_meta_t* m, pfo_handle_t handle, pfo_ns_t now, pfo_hash_t h,
                       uint16_t core, uint16_t length) noexcept nogil:
    m.handle = handle
    m.ingress_ns = now
    m.psn = 0
    m.flow_hash = h
    m.queue = 0
    m.core = core
    m.length = length
    m.flags = 0


cdef inline int _py_live(Policy p) except -1:
    # Every Python method, first: initialised (n_cores is set last by each
    # __init__, so 0 means __init__ never ran or failed) and not claimed by a
    # running Dataplane (whose vSwitch thread drives the policy without the GIL).
    # Inline: three tests when all is well; _py_refuse raises.
    if p.n_cores != 0 and p.busy == 0 and not p.claimed:
        return 0
    return _py_refuse(p)


cdef int _py_refuse(Policy p) except -1:
    # _py_live's error, in the order of its tests
    if p.n_cores == 0:
        pfo_raise_uninit(p)
    pfo_guard(p.busy, p)
    if p.claimed:
        raise RuntimeError(f"policy {p.name!r} is in use by a running Dataplane; "
                           f"give each Dataplane its own policy")
    return 0


cdef pfo_ns_t _py_check(Policy p, now_ns) except? -1:
    # The Python methods' checks: _py_live, then the time, an integer in
    # [0, 2**63 - 1] that never goes backwards; returns it.
    _py_live(p)
    cdef pfo_ns_t now = pfo_time("now_ns", now_ns)
    if now < p.py_last_ns:
        raise ValueError(f"now_ns must be >= the last time given ({p.py_last_ns}), "
                         f"got {now}")
    return now


cdef _one_record(record):
    # One META_DTYPE record (a 1-element array) from a record-like argument.
    from paraflowo.metadata import META_DTYPE
    if isinstance(record, np.ndarray) and record.ndim != 0:
        raise ValueError(f"record must be one META_DTYPE record, got an array of shape "
                         f"{record.shape}")
    if isinstance(record, (np.void, np.ndarray)):
        if record.dtype != META_DTYPE:
            raise TypeError(f"record must be a META_DTYPE record, got dtype {record.dtype}")
        return np.array([record], dtype=META_DTYPE)
    if not isinstance(record, tuple):
        raise TypeError(f"record must be a META_DTYPE record (or a tuple of its fields), "
                        f"got {type(record).__name__}")
    try:
        return np.array([record], dtype=META_DTYPE)
    except (TypeError, ValueError, OverflowError) as e:
        raise ValueError(f"record must be a META_DTYPE record (or a tuple of its fields), "
                         f"got {record!r} ({e})") from None


include "policies_bursts.pxi"


cdef class Policy:
    """Base class of the steering policies (not usable on its own).

    The Python face only builds and inspects policies; they are driven through
    the C-level interface of ``policies.pxd`` by an event loop such as
    :class:`paraflowo.dataplane.Dataplane`.
    """

    def __init__(self, n_cores):
        require_int("n_cores", n_cores, 1, 4096)
        raise TypeError("Policy is a base class: use make_policy() or a subclass")

    cdef void c_steer(self, uint64_t key, pfo_hash_t flow_hash, uint16_t port,
                      uint16_t length, pfo_ns_t now, pfo_handle_t handle,
                      pfo_meta_t* out) noexcept nogil:
        _fill(out, handle, now, flow_hash, 0, length)

    cdef int c_claim(self, bint on) except -1:
        if on and self.busy:
            pfo_raise_busy(self)
        if on and self.claimed:
            raise RuntimeError(f"policy {self.name!r} is in use by a running Dataplane; "
                               f"give each Dataplane its own policy")
        self.claimed = on
        return 0

    cdef bint c_ready(self, const pfo_meta_t* m) noexcept nogil:
        return True

    cdef int c_complete(self, pfo_meta_t* m, pfo_ns_t now, pfo_handle_t* out,
                        Py_ssize_t cap, Py_ssize_t* n_out) noexcept nogil:
        # pass-through egress: the packet leaves as it completes
        self.completed += 1
        n_out[0] = 0
        if not (m.flags & PFO_FLAG_DROP):
            out[0] = m.handle
            n_out[0] = 1
            self.emitted += 1
        return 0

    cdef pfo_ns_t c_next_deadline(self) noexcept nogil:
        return PFO_NS_NEVER

    cdef Py_ssize_t c_poll(self, pfo_ns_t now, pfo_handle_t* out, Py_ssize_t cap) noexcept nogil:
        return 0

    cdef Py_ssize_t c_flush(self, pfo_handle_t* out, Py_ssize_t cap) noexcept nogil:
        return 0

    cdef uint64_t c_held(self) noexcept nogil:
        return 0

    # ---- per-packet Python methods (the same calls as the C interface) ----

    def steer(self, key, flow_hash, port, length, handle, now_ns):
        """Steer one packet at `now_ns`; returns its metadata record
        (a ``paraflowo.META_DTYPE`` scalar: ``core`` is the worker).

        Parameters are checked as the C interface's preconditions (integers
        in range, time never going backwards); the object is unchanged when
        one is refused.

        >>> from paraflowo.dataplane import make_policy
        >>> p = make_policy("rss", 4)
        >>> int(p.steer(7, 0x51ccc178, 0, 64, 0, 1000)["core"])
        0
        """
        from paraflowo.metadata import empty_meta
        cdef pfo_ns_t now = _py_check(self, now_ns)
        k = require_int("key", key, 0, (1 << 64) - 1)
        h = require_int("flow_hash", flow_hash, 0, 0xFFFFFFFF)
        pt = require_int("port", port, 0, 0xFFFF)
        ln = require_int("length", length, 0, 0xFFFF)
        hd = require_int("handle", handle, 0, (1 << 64) - 1)
        out = empty_meta(1)
        cdef unsigned char[::1] raw = out.view(np.uint8)
        self.c_steer(k, h, pt, ln, now, hd, <pfo_meta_t*>&raw[0])
        self.py_last_ns = now
        return out[0]

    def ready(self, record):
        """Whether a steered `record` may be dispatched now (``c_ready``)."""
        _py_live(self)
        arr = _one_record(record)
        cdef unsigned char[::1] raw = arr.view(np.uint8)
        return bool(self.c_ready(<pfo_meta_t*>&raw[0]))

    def complete(self, record, now_ns):
        """Core ``record["core"]`` finished `record` at `now_ns` (set
        ``FLAG_DROP`` in its flags to report it dropped); returns the handles
        that leave now, in order (a list)."""
        now_ns = _py_check(self, now_ns)
        arr = _one_record(record)
        if int(arr[0]["core"]) >= self.n_cores:
            raise ValueError(f"record core must be in [0, {self.n_cores - 1}], "
                             f"got {int(arr[0]['core'])}")
        if not 0 <= int(arr[0]["ingress_ns"]) <= now_ns:
            raise ValueError(f"record ingress_ns must be in [0, now_ns={now_ns}], "
                             f"got {int(arr[0]['ingress_ns'])}")
        cdef unsigned char[::1] raw = arr.view(np.uint8)
        cdef pfo_handle_t buf[256]
        cdef Py_ssize_t n = 0
        out = []
        while self.c_complete(<pfo_meta_t*>&raw[0], now_ns, buf, 256, &n):
            out.extend([buf[i] for i in range(n)])
        out.extend([buf[i] for i in range(n)])
        self.py_last_ns = now_ns
        return out

    def poll(self, now_ns):
        """Handles released by time at `now_ns` (reorder timeouts), a list."""
        now_ns = _py_check(self, now_ns)
        cdef pfo_handle_t buf[256]
        cdef Py_ssize_t n = 256
        out = []
        while n == 256:
            n = self.c_poll(now_ns, buf, 256)
            out.extend([buf[i] for i in range(n)])
        self.py_last_ns = now_ns
        return out

    def flush(self):
        """Every handle still held, released in order per queue (a list)."""
        _py_check(self, self.py_last_ns)
        cdef pfo_handle_t buf[256]
        cdef Py_ssize_t n = 256
        out = []
        while n == 256:
            n = self.c_flush(buf, 256)
            out.extend([buf[i] for i in range(n)])
        return out

    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    def steer_burst(self, keys, hashes, ports, lengths, handles, now_ns, out=None):
        """:meth:`steer` for n packets in order (without the GIL from 256 on).

        Parameters
        ----------
        keys : uint64[n]
        hashes : uint32[n]
        ports, lengths : uint16[n]
        handles : uint64[n]
        now_ns : int64[n]
            Nondecreasing, and not before the last time given.
        out : META_DTYPE[n], optional
            Writable, C-contiguous: filled and returned instead of a new
            array (a loop of small bursts reuses one; a new structured array
            costs numpy several hundred ns).

        Returns
        -------
        numpy.ndarray
            ``META_DTYPE[n]`` records (``core``: each packet's worker): `out`
            if given.

        Raises
        ------
        TypeError, ValueError
            Wrong dtypes, lengths, or a time going backwards (the first bad
            index is named); the policy (and `out`) is unchanged then.
        """
        _py_live(self)
        cdef Py_buffer b[7]
        cdef int j
        for j in range(7):
            b[j].shape = NULL
        cdef Py_ssize_t n, i, bad
        cdef const int64_t* tv
        try:
            pfo_bind(&b[0], keys, "keys", _U64, 0)
            pfo_bind(&b[1], hashes, "hashes", _U32, 0)
            pfo_bind(&b[2], ports, "ports", _U16, 0)
            pfo_bind(&b[3], lengths, "lengths", _U16, 0)
            pfo_bind(&b[4], handles, "handles", _U64, 0)
            pfo_bind(&b[5], now_ns, "now_ns", _I64, 0)
            n = b[0].shape[0]
            if (b[1].shape[0] != n or b[2].shape[0] != n or b[3].shape[0] != n
                    or b[4].shape[0] != n or b[5].shape[0] != n):
                require_same_length(keys=keys, hashes=hashes, ports=ports,
                                    lengths=lengths, handles=handles, now_ns=now_ns)
            if out is None:
                out = _new_meta(n)
            pfo_bind_n(&b[6], out, "out", _META, PFO_WRITABLE, n)
            if n == 0:
                return out
            tv = <const int64_t*>b[5].buf
            bad = pfo_ns_first_backwards(tv, n, self.py_last_ns)
            if bad >= 0:
                raise ValueError(f"now_ns must be nondecreasing and >= the last time given "
                                 f"({self.py_last_ns}), got {tv[bad]} at index {bad}")
            # no finally: _steer_loop and the c_steer it calls are noexcept,
            # nothing between pfo_enter and pfo_leave can raise (should one
            # ever raise, the finally comes back: _boundary.pxd's busy guard)
            pfo_enter(&self.busy, self)
            if n < PFO_NOGIL_MIN:               # a short burst keeps the GIL
                _steer_loop(self, b, n)
            else:
                with nogil:
                    _steer_loop(self, b, n)
            pfo_leave(&self.busy)
            self.py_last_ns = tv[n - 1]
            return out
        finally:
            for j in range(7):
                pfo_release(&b[j])

    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    def complete_burst(self, records, now_ns):
        """:meth:`complete` for each of `records` (``META_DTYPE[n]``) in order,
        all at `now_ns` (without the GIL from 256 records on).  Returns the
        handles that leave, in order (``uint64``; they may be more than `n`:
        a completion can release packets held by earlier ones)."""
        cdef pfo_ns_t now = _py_check(self, now_ns)
        cdef Py_buffer rb
        cdef pfo_handle_t local[_CB_LOCAL]
        cdef _Handles h
        cdef Py_ssize_t n, bad = -1
        cdef const pfo_meta_t* src
        cdef pfo_meta_t* copy = NULL
        h.buf = local
        h.cap = _CB_LOCAL
        h.w = 0
        h.heap = False
        pfo_bind(&rb, records, "records", _META, 0)
        try:
            n = pfo_len(&rb)
            src = <const pfo_meta_t*>rb.buf
            if n >= PFO_NOGIL_MIN:
                # the burst runs without the GIL: check and use a private copy
                # (another thread could change `records` meanwhile)
                copy = <pfo_meta_t*>malloc(n * sizeof(pfo_meta_t))
                if copy == NULL:
                    raise MemoryError()
                memcpy(copy, src, n * sizeof(pfo_meta_t))
                src = copy
            bad = _first_bad_core(src, n, self.n_cores)
            if bad >= 0:
                raise ValueError(f"records core must be in [0, {self.n_cores - 1}], "
                                 f"got {src[bad].core} at index {bad}")
            bad = _first_bad_ingress(src, n, now)
            if bad >= 0:
                raise ValueError(f"records ingress_ns must be in [0, now_ns={now}], "
                                 f"got {src[bad].ingress_ns} at index {bad}")
            # room for every handle that can leave (the burst's and those
            # held) and a full step, so the common case never grows
            if not _room(&h, n + <Py_ssize_t>self.c_held() + _CB_STEP):
                raise MemoryError()
            if n:
                pfo_enter(&self.busy, self)
                try:
                    if n < PFO_NOGIL_MIN:
                        bad = _complete_loop(self, src, n, now, &h)
                    else:
                        with nogil:
                            bad = _complete_loop(self, src, n, now, &h)
                finally:
                    pfo_leave(&self.busy)
            self.py_last_ns = now
            if bad >= 0:
                raise MemoryError(f"complete_burst: no memory for the handles released; "
                                  f"records[:{bad}] were completed, their handles lost")
            return _handles_array(&h)
        finally:
            pfo_release(&rb)
            free(copy)
            if h.heap:
                free(h.buf)

    @property
    def next_deadline(self):
        """Earliest time ``poll`` releases something, or None."""
        _py_live(self)
        cdef pfo_ns_t t = self.c_next_deadline()
        return None if t == PFO_NS_NEVER else t

    def stats(self):
        """Counters as a dict (``steered``, ``completed``, ``emitted`` and the
        policy's own)."""
        _py_live(self)
        return {"policy": self.name, "steered": self.steered, "completed": self.completed,
                "emitted": self.emitted, "held": self.c_held()}

    def __repr__(self):
        return f"<{type(self).__name__} {self.name} n_cores={self.n_cores}>"


cdef class RSSPolicy(Policy):
    """``rss``: every packet to ``reta[flow_hash & mask]`` (flow pinning)."""

    def __init__(self, n_cores, IndirectionTable reta=None):
        if self.claimed:
            _py_live(self)
        cdef uint32_t nc = require_int("n_cores", n_cores, 1, 4096)
        if reta is None:
            reta = IndirectionTable(nc)
        if reta.n_queues != nc:
            raise ValueError(f"reta must have {nc} queues, got {reta.n_queues}")
        self.reta = reta
        self.entries = reta.entries
        self.mask = reta.mask
        self.name = "rss"
        self.n_cores = nc

    cdef void c_steer(self, uint64_t key, pfo_hash_t flow_hash, uint16_t port,
                      uint16_t length, pfo_ns_t now, pfo_handle_t handle,
                      pfo_meta_t* out) noexcept nogil:
        self.steered += 1
        _fill(out, handle, now, flow_hash,
              pfo_reta_lookup(self.entries, self.mask, flow_hash), length)


cdef class SprayPolicy(Policy):
    """``spray``: per-packet round robin over the cores; no reorder buffer, so a
    flow's packets may leave out of order."""

    def __init__(self, n_cores):
        if self.claimed:
            _py_live(self)
        cdef uint32_t nc = require_int("n_cores", n_cores, 1, 4096)
        self.next_core = 0
        self.name = "spray"
        self.n_cores = nc

    cdef void c_steer(self, uint64_t key, pfo_hash_t flow_hash, uint16_t port,
                      uint16_t length, pfo_ns_t now, pfo_handle_t handle,
                      pfo_meta_t* out) noexcept nogil:
        self.steered += 1
        _fill(out, handle, now, flow_hash, <uint16_t>self.next_core, length)
        self.next_core += 1
        if self.next_core == self.n_cores:
            self.next_core = 0


cdef class RSSPPPolicy(RSSPolicy):
    """``rsspp``: RSS with RSS++-style rebalancing of RETA buckets.

    Every `period_ns` it moves whole buckets from the most to the least loaded
    core (load = packets steered in the period), each move choosing the bucket
    that best halves the gap, until no move narrows it.  A bucket is the unit:
    one elephant never spreads over cores, and a moved flow may be reordered
    while its old core drains (as in RSS++).
    """

    def __init__(self, n_cores, IndirectionTable reta=None, period_ns=10_000_000):
        if self.claimed:
            _py_live(self)
        cdef pfo_ns_t period = pfo_time("period_ns", period_ns)
        if period < 1:
            raise ValueError(f"period_ns must be >= 1, got {period}")
        RSSPolicy.__init__(self, n_cores, reta)
        # not usable until the working table is allocated (a second __init__
        # frees the first's)
        cdef uint32_t nc = self.n_cores
        self.n_cores = 0
        self.period_ns = period
        cdef uint32_t n = self.mask + 1, i
        free(self.table)
        free(self.bucket_load)
        free(self.core_load)
        self.table = <uint16_t*>calloc(n, sizeof(uint16_t))
        self.bucket_load = <uint64_t*>calloc(n, sizeof(uint64_t))
        self.core_load = <uint64_t*>calloc(nc, sizeof(uint64_t))
        if not (self.table and self.bucket_load and self.core_load):
            raise MemoryError()
        self.n_cores = nc
        for i in range(n):
            self.table[i] = self.entries[i]
        self.entries = self.table
        self.period_end = -1
        self.name = "rsspp"

    def __dealloc__(self):
        free(self.table)
        free(self.bucket_load)
        free(self.core_load)

    def table_array(self):
        """The working RETA (after migrations) as a list."""
        _py_live(self)
        return [self.table[i] for i in range(self.mask + 1)]

    cdef void c_rebalance(self) noexcept nogil:
        cdef uint32_t nb = self.mask + 1, b, best, it, c, src, dst
        cdef uint64_t gap, bl, best_gain, gain
        for it in range(nb):
            src = dst = 0
            for c in range(self.n_cores):
                if self.core_load[c] > self.core_load[src]:
                    src = c
                if self.core_load[c] < self.core_load[dst]:
                    dst = c
            gap = self.core_load[src] - self.core_load[dst]
            best = nb
            best_gain = 0
            for b in range(nb):
                bl = self.bucket_load[b]
                if self.table[b] != src or bl == 0 or bl >= gap:
                    continue
                gain = bl if 2 * bl <= gap else gap - bl   # how much the gap shrinks
                if gain > best_gain:
                    best_gain = gain
                    best = b
            if best == nb:
                break
            self.table[best] = <uint16_t>dst
            self.core_load[src] -= self.bucket_load[best]
            self.core_load[dst] += self.bucket_load[best]
            self.migrations += 1
        memset(self.bucket_load, 0, nb * sizeof(uint64_t))
        memset(self.core_load, 0, self.n_cores * sizeof(uint64_t))

    cdef void c_steer(self, uint64_t key, pfo_hash_t flow_hash, uint16_t port,
                      uint16_t length, pfo_ns_t now, pfo_handle_t handle,
                      pfo_meta_t* out) noexcept nogil:
        cdef uint32_t b = flow_hash & self.mask
        if self.period_end < 0:
            self.period_end = now + self.period_ns
        elif now >= self.period_end:
            self.c_rebalance()
            self.period_end = now + self.period_ns
        self.steered += 1
        self.bucket_load[b] += 1
        self.core_load[self.table[b]] += 1
        _fill(out, handle, now, flow_hash, self.table[b], length)

    def stats(self):
        _py_live(self)
        d = Policy.stats(self)
        d["migrations"] = self.migrations
        return d


cdef class ParaFlowOPolicy(Policy):
    """``paraflowo``: Breakup at ingress (detection, PSN, flowlets), reorder
    queues at egress, delay feedback (Eq. 1-2) from each completion.

    Parameters
    ----------
    breakup : Breakup
        The ingress pipeline; its scheduler has ``n_cores`` cores.
    reorder : ReorderQueues
        One queue per PSN queue of the breakup's allocator (same count, same
        ``psn_bits``).

    Notes
    -----
    Per completion: tagged records are inserted into their reorder queue
    (tombstoned when dropped), then every releasable packet is drained; the
    delay ``now - ingress_ns`` is fed back to the scheduler for the record's
    core (``Breakup.c_feedback``).  Untagged records leave as they complete.
    """

    def __init__(self, Breakup breakup not None, ReorderQueues reorder not None):
        if self.claimed:
            _py_live(self)
        if (breakup.scheduler is None or breakup.allocator is None
                or breakup.detector is None):
            pfo_raise_uninit(breakup)
        if reorder.n_queues == 0 or not reorder.buffers:
            pfo_raise_uninit(reorder)
        if reorder.n_queues != breakup.allocator.n_queues:
            raise ValueError(f"reorder must have {breakup.allocator.n_queues} queues "
                             f"(the allocator's), got {reorder.n_queues}")
        if reorder.buffers[0].psn_bits != breakup.allocator.psn_bits:
            raise ValueError(f"reorder must have psn_bits {breakup.allocator.psn_bits} "
                             f"(the allocator's), got {reorder.buffers[0].psn_bits}")
        self.breakup = breakup
        self.reorder = reorder
        self.name = "paraflowo"
        self.n_cores = breakup.scheduler.n_cores

    cdef void c_steer(self, uint64_t key, pfo_hash_t flow_hash, uint16_t port,
                      uint16_t length, pfo_ns_t now, pfo_handle_t handle,
                      pfo_meta_t* out) noexcept nogil:
        self.steered += 1
        self.breakup.c_ingress(key, flow_hash, port, length, now, handle, out)

    cdef bint c_ready(self, const pfo_meta_t* m) noexcept nogil:
        # Worked example (psn_bits 16, window 4096): head 65000, psn 3000 ->
        # distance (3000 - 65000) & 0xFFFF = 3536 < 4096: ready; psn 3600 ->
        # 4136: wait until the head has moved past 65040.
        cdef const pfo_rob_t* r
        if not (m.flags & PFO_FLAG_PARA) or m.queue >= self.reorder.n_queues:
            return True
        r = self.reorder.q.robs[m.queue]
        return ((m.psn - r.head) & r.psn_mask) < r.window

    cdef Py_ssize_t _drain(self, pfo_ns_t now, pfo_handle_t* out,
                           Py_ssize_t cap) noexcept nogil:
        cdef Py_ssize_t k = self.reorder.c_drain(now, out, NULL, cap)
        if k < 0:
            return 0
        self.held -= k
        self.emitted += k
        return k

    cdef int c_complete(self, pfo_meta_t* m, pfo_ns_t now, pfo_handle_t* out,
                        Py_ssize_t cap, Py_ssize_t* n_out) noexcept nogil:
        cdef Py_ssize_t n = 0
        cdef int st
        cdef bint drop = (m.flags & PFO_FLAG_DROP) != 0
        n_out[0] = 0
        if m.flags & PFO_FLAG_PARA:
            st = self.reorder.c_insert(m.queue, m.psn, m.handle, now, drop)
            if st == PFO_ROB_FULL:
                # the window must advance past packets nobody drained yet
                n = self._drain(now, out, cap)
                if n == cap:
                    n_out[0] = n
                    return 1
                st = self.reorder.c_insert(m.queue, m.psn, m.handle, now, drop)
                if st == PFO_ROB_FULL:
                    n_out[0] = n
                    return 1
            if st == PFO_ROB_BUFFERED:
                self.held += 1
            elif st == PFO_ROB_DROPPED:
                self.tombstones += 1
            elif not drop:
                # LATE (its turn passed: a timeout skipped it), DUPLICATE or
                # EINVAL: never lose it, send it on now
                if st == PFO_ROB_LATE:
                    self.late += 1
                out[n] = m.handle
                n += 1
                self.emitted += 1
            n += self._drain(now, out + n, cap - n)
        elif not drop:
            out[0] = m.handle
            n = 1
            self.emitted += 1
        self.completed += 1
        self.breakup.c_feedback(m.core, m.ingress_ns, now)
        n_out[0] = n
        return 0

    cdef pfo_ns_t c_next_deadline(self) noexcept nogil:
        return self.reorder.c_next_deadline()

    cdef Py_ssize_t c_poll(self, pfo_ns_t now, pfo_handle_t* out, Py_ssize_t cap) noexcept nogil:
        return self._drain(now, out, cap)

    cdef Py_ssize_t c_flush(self, pfo_handle_t* out, Py_ssize_t cap) noexcept nogil:
        cdef uint32_t q
        cdef Py_ssize_t n = 0, k
        for q in range(self.reorder.n_queues):
            if n == cap:
                break
            k = pfo_rob_flush(self.reorder.q.robs[q], out + n, cap - n)
            if k > 0:
                n += k
            pfo_robq_touch(&self.reorder.q, q)   # changed outside pfo_robq_*
        self.held -= n
        self.emitted += n
        return n

    cdef uint64_t c_held(self) noexcept nogil:
        return self.held

    cdef int c_claim(self, bint on) except -1:
        cdef Breakup b = self.breakup
        if on:
            if not self.claimed and _brk_busy_part(b, True) is not None:
                raise in_use_error("its Breakup", "policy")
            if not self.claimed and self.reorder.busy:
                raise in_use_error("its ReorderQueues", "policy")
            Policy.c_claim(self, True)
        else:
            self.claimed = False
        _brk_mark(b, True, on)
        self.reorder.busy = on     # and its buffers (they check their owner's flag)
        return 0

    def stats(self):
        _py_live(self)
        d = Policy.stats(self)
        b = self.breakup
        d.update(late=self.late, tombstones=self.tombstones, para_packets=b.para_packets,
                 para_flows=b.para_flows, holds=b.holds, switches=b.scheduler.switches,
                 t_cpu_ns=[b.scheduler.t_cpu(c) for c in range(self.n_cores)])
        return d


def make_policy(name, n_cores, *, reta=None, n_para=None, alpha=1.0, threshold=64,
                detector_window_ns=1_000_000, idle_ns=500_000_000, n_queues=64,
                window=4096, psn_bits=16, timeout_ns=None, table_size=1024,
                t_switch_init_ns=50_000, smoothing=0.125, period_ns=10_000_000, seed=0):
    """Build a policy by name: ``rss``, ``spray``, ``paraflowo`` or ``rsspp``.

    The keyword knobs configure ``paraflowo`` (detector threshold in packets
    per `detector_window_ns`, flowlet ``n_para`` and ``alpha``, reorder
    `window` and `timeout_ns`) and ``rsspp`` (`period_ns`); the others ignore
    them.  `idle_ns` (how long a flow must be idle before it leaves
    para_flow and its reorder queue may be reused) must exceed the longest
    dispatch-to-egress delay, or a flow that goes idle and returns could
    overtake its own packets still in flight; the dataplane reports the
    longest delay it saw (``max_delay_ns``) so this can be checked.
    `timeout_ns` defaults to None (no reorder timeout): the live dataplane
    never loses a packet between steering and egress, so a hole in a reorder
    queue always fills; a timeout would only release packets out of order
    when a worker is slow (descheduled).  Set one when the host can lose
    packets between the two.

    >>> from paraflowo.dataplane import make_policy
    >>> make_policy("rss", 2).name
    'rss'
    """
    from paraflowo._core.breakup import Breakup as _Breakup
    from paraflowo._core.detectors import CountMinDetector
    from paraflowo._core.psn import PSNAllocator
    from paraflowo._core.scheduler import FlowletScheduler

    if not isinstance(name, str):
        raise TypeError(f"name (the policy) must be a str, got {name!r}")
    n_cores = require_int("n_cores", n_cores, 1, 4096)
    # every knob is checked whatever the policy (one that ignores a knob must
    # not accept a wrong one silently); ranges are the components' own
    for k, v in (("threshold", threshold), ("detector_window_ns", detector_window_ns),
                 ("idle_ns", idle_ns), ("n_queues", n_queues), ("window", window),
                 ("psn_bits", psn_bits), ("table_size", table_size),
                 ("t_switch_init_ns", t_switch_init_ns), ("period_ns", period_ns)):
        require_int(k, v, 0, (1 << 63) - 1)
    if timeout_ns is not None:
        require_int("timeout_ns", timeout_ns, 0, (1 << 63) - 1)
    if n_para is not None:
        require_int("n_para", n_para, 1, n_cores)
    require_int("seed", seed, 0, (1 << 64) - 1)
    require_number("alpha", alpha)
    require_number("smoothing", smoothing)
    if reta is not None and not isinstance(reta, IndirectionTable):
        raise TypeError(f"reta must be an IndirectionTable or None, got {reta!r}")
    if name == "rss":
        return RSSPolicy(n_cores, reta)
    if name == "spray":
        return SprayPolicy(n_cores)
    if name == "rsspp":
        return RSSPPPolicy(n_cores, reta, period_ns)
    if name == "paraflowo":
        if reta is None:
            reta = IndirectionTable(n_cores)
        n_para = n_cores if n_para is None else require_int("n_para", n_para, 1, n_cores)
        det = CountMinDetector(4096, 4, require_int("threshold", threshold, 1),
                               require_int("detector_window_ns", detector_window_ns, 1),
                               True, seed)
        alloc = PSNAllocator(n_queues, psn_bits, require_int("idle_ns", idle_ns, 1))
        sched = FlowletScheduler(n_cores, n_para, alpha, reta, smoothing,
                                 t_switch_init_ns=t_switch_init_ns)
        rq = ReorderQueues(n_queues, window, timeout_ns, psn_bits)
        return ParaFlowOPolicy(_Breakup(det, alloc, sched, table_size), rq)
    raise ValueError(f"policy must be one of {', '.join(POLICY_NAMES)}, got {name!r}")
