"""Built-in network functions of the live dataplane (see ``nf.pxd``)."""

from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free

from paraflowo._checks import require_int, require_number
from paraflowo._core._boundary cimport pfo_int, pfo_raise_uninit
from paraflowo._core._types cimport PFO_FLAG_DROP, pfo_fmix64, pfo_meta_t

import numpy as np

from paraflowo._core._spsc cimport pfo_add64, pfo_claim64, pfo_ld64, pfo_now_ns, pfo_spin_chain


cdef void pfo_spin(uint64_t iterations) noexcept nogil:
    cdef volatile uint64_t sink
    sink = pfo_spin_chain(iterations, iterations)


cdef int pfo_nf_forward(void* state, pfo_meta_t* meta, uint8_t* data,
                        uint32_t length, uint32_t worker) noexcept nogil:
    return 0


cdef class NF:
    """A network function: the per-packet work the dataplane's workers run.

    The base class forwards every packet unchanged (the built-in ``forward``).
    Subclass it in Cython to run your own ``pfo_nf_fn`` (see ``nf.pxd`` and the
    "Live dataplane" docs page for the thread contract).
    """

    def __cinit__(self, *args, **kwargs):
        self.fn = pfo_nf_forward
        self.state = NULL
        self.name = "forward"

    def __repr__(self):
        return f"<NF {self.name}>"


def calibrate_spin(target_ns=2_000_000, trials=5):
    """Spin steps per nanosecond on this machine (best of `trials` runs).

    Each trial times ``pfo_spin`` over about `target_ns`; the fastest trial is
    taken, since a trial preempted by another thread only ever looks slower.
    """
    cdef uint64_t n = 1 << 16
    cdef int64_t t0, t1
    cdef double best = 0.0, rate
    cdef int i
    cdef int64_t target = pfo_int("target_ns", target_ns, 10_000, 10**9)
    cdef int n_trials = <int>pfo_int("trials", trials, 1, 100)
    with nogil:
        while True:                      # grow n until one run takes >= target / 4
            t0 = pfo_now_ns()
            pfo_spin(n)
            t1 = pfo_now_ns()
            if t1 - t0 >= target // 4 or n >= (<uint64_t>1 << 40):
                break
            n *= 2
        for i in range(n_trials):
            t0 = pfo_now_ns()
            pfo_spin(n)
            t1 = pfo_now_ns()
            rate = <double>n / <double>(t1 - t0 if t1 > t0 else 1)
            if rate > best:
                best = rate
    return best


ctypedef struct pfo_spin_state_t:
    uint64_t steps_fp        # spin steps per unit (ns, or ns per 1000 bytes), * 2**16
    int per_bytes


cdef int pfo_nf_spin(void* state, pfo_meta_t* meta, uint8_t* data,
                     uint32_t length, uint32_t worker) noexcept nogil:
    cdef pfo_spin_state_t* s = <pfo_spin_state_t*>state
    cdef uint64_t steps
    if s.per_bytes:
        # steps_fp is per 1000 bytes: worked example, 3 steps/ns, NS = 500:
        # steps_fp = 1500 * 2**16; a 1448-byte packet -> 1500 * 1448 / 1000 = 2172
        steps = (s.steps_fp * length // 1000) >> 16
    else:
        steps = s.steps_fp >> 16
    pfo_spin(steps)
    return 0


cdef class SpinNF(NF):
    """Busy work of `ns` nanoseconds per packet (``spin:NS``), or per 1,000
    bytes of packet (``spin-bytes:NS``, `per_bytes` True).

    The work is a fixed number of CPU steps, calibrated once at construction
    (:func:`calibrate_spin`, or `steps_per_ns` if given): a worker preempted
    by another thread does not finish its packets any sooner, so the NF
    emulates a VNF of ``1e3 / ns`` Mpps per core, not a timer.
    """
    cdef pfo_spin_state_t st
    cdef readonly int64_t ns
    cdef readonly bint per_bytes
    cdef readonly double steps_per_ns

    def __init__(self, ns, per_bytes=False, steps_per_ns=None):
        cdef int64_t n = require_int("ns", ns, 0, 10**9)
        if not isinstance(per_bytes, (bool, np.bool_, int, np.integer)):
            raise TypeError(f"per_bytes must be a bool, got {per_bytes!r}")
        cdef double rate
        if steps_per_ns is None:
            rate = calibrate_spin()
        else:
            rate = require_number("steps_per_ns", steps_per_ns)
            if not 0 < rate < 1e6:
                raise ValueError(f"steps_per_ns must be in (0, 1e6), got {steps_per_ns!r}")
        self.ns = n
        self.per_bytes = bool(per_bytes)
        self.steps_per_ns = rate
        self.st.steps_fp = <uint64_t>(self.steps_per_ns * self.ns * 65536.0)
        self.st.per_bytes = self.per_bytes
        self.fn = pfo_nf_spin
        self.state = &self.st
        self.name = f"{'spin-bytes' if self.per_bytes else 'spin'}:{self.ns}"


cdef extern from "<time.h>" nogil:
    cdef struct timespec:
        long tv_sec
        long tv_nsec
    int nanosleep(const timespec* req, timespec* rem)


cdef int pfo_nf_sleep(void* state, pfo_meta_t* meta, uint8_t* data,
                      uint32_t length, uint32_t worker) noexcept nogil:
    cdef timespec ts
    cdef int64_t ns = (<int64_t*>state)[0]
    ts.tv_sec = ns // 1000000000
    ts.tv_nsec = ns % 1000000000
    nanosleep(&ts, NULL)
    return 0


cdef class SleepNF(NF):
    """Waits `ns` nanoseconds per packet without using the CPU (``sleep:NS``):
    a VNF bound by I/O (a remote lookup, a device), not by its core.  The
    wait is a ``nanosleep``, so it lasts at least `ns` and longer by the
    scheduler's wake-up latency.  With it the workers' capacity does not
    depend on the CPU share the machine gives them."""
    cdef int64_t st
    cdef readonly int64_t ns

    def __init__(self, ns):
        self.st = require_int("ns", ns, 1, 10**9)
        self.ns = self.st
        self.fn = pfo_nf_sleep
        self.state = &self.st
        self.name = f"sleep:{self.ns}"


ctypedef struct pfo_counter_state_t:
    uint64_t* keys        # capacity; 0 = free, else flow_hash + 1
    uint64_t* packets
    uint64_t* nbytes
    uint64_t mask
    uint64_t overflow     # packets of flows that found no slot (atomic)


cdef int pfo_nf_counter(void* state, pfo_meta_t* meta, uint8_t* data,
                        uint32_t length, uint32_t worker) noexcept nogil:
    # Open addressing on the flow hash, claimed with compare-and-swap: all
    # workers share one table and never lock.  A slot, once claimed, belongs
    # to its flow for the NF's lifetime.
    cdef pfo_counter_state_t* s = <pfo_counter_state_t*>state
    cdef uint64_t key = <uint64_t>meta.flow_hash + 1
    cdef uint64_t i = pfo_fmix64(key) & s.mask, probe, held
    for probe in range(64):
        held = pfo_claim64(&s.keys[i], key)
        if held == key:
            pfo_add64(&s.packets[i], 1)
            pfo_add64(&s.nbytes[i], length)
            return 0
        i = (i + 1) & s.mask
    pfo_add64(&s.overflow, 1)
    return 0


cdef class CounterNF(NF):
    """Per-flow packet and byte counters shared by all workers (``counter``).

    Flows are told apart by their RSS hash; the table holds `capacity` flows
    (a power of two), claimed lock-free with compare-and-swap and updated with
    atomic adds.  Packets of flows that find no slot within 64 probes are
    counted in :attr:`overflow`.
    """
    cdef pfo_counter_state_t st
    cdef readonly uint64_t capacity

    def __init__(self, capacity=65536):
        from paraflowo._checks import require_pow2
        cap = require_pow2("capacity", capacity, 2, 1 << 24)
        if self.st.keys != NULL:
            # a second __init__ (the table may be in use by running workers)
            if cap != self.capacity:
                raise ValueError(f"capacity must stay {self.capacity} (this CounterNF is "
                                 f"already initialised), got {cap}")
            return
        self._alloc(cap)

    def __cinit__(self, *args, **kwargs):
        # no table yet: fn stays NULL (a Dataplane refuses the NF) until _alloc
        self.fn = NULL
        self.state = &self.st
        self.name = "counter"

    cdef _alloc(self, uint64_t n):
        self.st.keys = <uint64_t*>calloc(n, sizeof(uint64_t))
        self.st.packets = <uint64_t*>calloc(n, sizeof(uint64_t))
        self.st.nbytes = <uint64_t*>calloc(n, sizeof(uint64_t))
        if not (self.st.keys and self.st.packets and self.st.nbytes):
            free(self.st.keys)
            free(self.st.packets)
            free(self.st.nbytes)
            self.st.keys = self.st.packets = self.st.nbytes = NULL
            raise MemoryError()
        self.st.mask = n - 1
        self.capacity = n
        self.fn = pfo_nf_counter

    def __dealloc__(self):
        free(self.st.keys)
        free(self.st.packets)
        free(self.st.nbytes)

    @property
    def overflow(self):
        return pfo_ld64(&self.st.overflow)

    def counts(self):
        """``{flow_hash: (packets, bytes)}`` of every flow counted so far."""
        out = {}
        if self.st.keys == NULL:
            return out
        cdef uint64_t i, k
        for i in range(self.capacity):
            k = pfo_ld64(&self.st.keys[i])
            if k:
                out[int(k - 1)] = (int(pfo_ld64(&self.st.packets[i])),
                                   int(pfo_ld64(&self.st.nbytes[i])))
        return out


ctypedef struct pfo_drop_state_t:
    uint64_t threshold          # drop when the draw < threshold (P * 2**64)
    uint64_t rng[PFO_NF_MAX_WORKERS * 8]   # one SplitMix64 stream per worker,
                                           # 64 bytes apart (no false sharing)


cdef int pfo_nf_drop(void* state, pfo_meta_t* meta, uint8_t* data,
                     uint32_t length, uint32_t worker) noexcept nogil:
    cdef pfo_drop_state_t* s = <pfo_drop_state_t*>state
    cdef uint64_t* x = &s.rng[(worker % PFO_NF_MAX_WORKERS) * 8]
    x[0] += <uint64_t>0x9e3779b97f4a7c15ULL
    if pfo_fmix64(x[0]) < s.threshold:
        meta.flags |= PFO_FLAG_DROP
    return 0


cdef class DropNF(NF):
    """Marks a fraction `p` of packets dropped (``drop:P``), from a seeded
    SplitMix64 stream per worker (which packets depends on the steering)."""
    cdef pfo_drop_state_t st
    cdef readonly double p
    cdef readonly uint64_t seed

    def __init__(self, p, seed=0):
        cdef double pp = require_number("p", p)
        if not 0.0 <= pp <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p!r}")
        self.seed = require_int("seed", seed, 0, (1 << 64) - 1)
        self.p = pp
        self.st.threshold = (<uint64_t>0xFFFFFFFFFFFFFFFFULL if self.p >= 1.0
                             else <uint64_t>(self.p * 18446744073709551616.0))
        cdef int w
        for w in range(PFO_NF_MAX_WORKERS):
            self.st.rng[w * 8] = pfo_fmix64(self.seed ^ (<uint64_t>(w + 1) << 32))
        self.fn = pfo_nf_drop
        self.state = &self.st
        self.name = f"drop:{self.p:g}"


NF_NAMES = ("forward", "spin:NS", "spin-bytes:NS", "sleep:NS", "counter", "drop:P")


def make_nf(spec, *, seed=0, steps_per_ns=None):
    """The built-in NF named by `spec`: ``forward``, ``spin:NS``,
    ``spin-bytes:NS``, ``sleep:NS``, ``counter`` or ``drop:P``.

    >>> from paraflowo.dataplane import make_nf
    >>> make_nf("drop:0.25").p
    0.25
    """
    seed = require_int("seed", seed, 0, (1 << 64) - 1)
    if steps_per_ns is not None:
        steps_per_ns = require_number("steps_per_ns", steps_per_ns)
        if not 0 < steps_per_ns < 1e6:
            raise ValueError(f"steps_per_ns must be in (0, 1e6), got {steps_per_ns!r}")
    if isinstance(spec, NF):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"spec (the nf) must be a str or an NF, got {spec!r}")
    name, _, arg = spec.partition(":")
    try:
        if name == "forward" and not arg:
            return NF()
        if name == "counter" and not arg:
            return CounterNF()
        if name in ("spin", "spin-bytes") and arg:
            return SpinNF(int(arg), name == "spin-bytes", steps_per_ns)
        if name == "drop" and arg:
            return DropNF(float(arg), seed)
        if name == "sleep" and arg:
            return SleepNF(int(arg))
    except ValueError:
        pass
    raise ValueError(f"nf must be one of {', '.join(NF_NAMES)} "
                     f"(NS an integer in [0, 1e9], P in [0, 1]), got {spec!r}")
