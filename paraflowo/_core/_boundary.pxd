# cython: language_level=3
"""The Python boundary of every component: one place that checks what comes in.

Every ``.pyx`` in ``paraflowo/_core`` validates its Python arguments with these
functions and nothing else, so a fix lands once and one wording is used for each
kind of error.  The messages follow the house template of
``paraflowo/_checks.py``: ``"<name> must be <what>, got <value>"``; wrong kind
of object -> ``TypeError``, wrong value -> ``ValueError``.

Each check has an inline fast test here (the success path: a few compares, no
Python call) and, in ``_boundary.pyx``, a slow path that finds out what is
wrong and raises.  All functions need the GIL.

API
---

Buffers (1-D numpy arrays handed to a burst)::

    cdef Py_buffer b              # set b.shape = NULL first if you release in a finally
    pfo_bind(&b, arr, "psns", _u32, 0)                 # read-only uint32
    pfo_bind(&b, out, "out", _u64, PFO_WRITABLE)       # written by the burst
    pfo_bind(&b, st, "status_out", _u8, PFO_WRITABLE | PFO_OPTIONAL)  # None allowed
    ... <const uint32_t*>b.buf, b.shape[0] ... (with nogil: ...)
    pfo_release(&b)               # safe on a buffer never bound (b.shape NULL)

  ``pfo_bind(b, arr, name, dtype, flags) except -1`` holds ``arr`` if it is
  a numpy.ndarray (or subclass) whose dtype equals ``dtype``, 1-D,
  C-contiguous and (with ``PFO_WRITABLE``) writable; returns 0.  The common
  case (an exact ndarray whose dtype *is* ``dtype``) is bound by reading the
  array's fields and holding a reference to it, inline in the calling module
  (``_bind.h``: ``pfo_bind_inline``, once the module has learnt
  ``numpy.ndarray`` from its first such binding, made by ``pfo_bind_array``;
  about 20 instructions fewer an array than the call); anything else gets a
  buffer request (with its release and the dtype test, numpy's costs about
  350).  Use ``b.buf`` and ``pfo_len(&b)``; ``b.len``, ``b.itemsize``,
  ``b.shape`` and ``b.strides`` are filled too.  Otherwise it holds nothing
  and raises:

  * ``TypeError`` "psns must be a numpy.ndarray of dtype uint32, got list"
    (not an array), "psns must have dtype uint32, got int64" (wrong dtype);
  * ``ValueError`` "psns must be 1-dimensional, got shape ()" (0-d, 2-d),
    "psns must be C-contiguous, got strides (8,) for shape (3,)",
    "out must be writable, got a read-only array".

  With ``PFO_OPTIONAL``, ``arr is None`` binds nothing: returns 0 with
  ``b.buf == NULL`` and ``b.shape == NULL``; ``pfo_bound(&b)`` tells (False
  then), ``pfo_len(&b)`` is 0.  The reference held (by either kind of
  binding: numpy counts references, not buffer exports) also stops the array
  from being resized by another thread while a burst runs without the GIL.

  ``pfo_try_bind(b, arr, dtype, ndim, flags)``: the common case alone, for a
  caller with its own checks (a 2-D array of rows; records of any dtype,
  ``dtype=None``): True and bound, or False with nothing held and no error.

  ``dtype`` is a ``numpy.dtype`` object (``np.dtype(np.uint32)``,
  ``META_DTYPE``); keep it in a module-level variable: the fast path is an
  identity test on it (numpy's native dtypes are singletons), any other
  equal dtype object is accepted too, a little slower.

  ``pfo_check_len(name, got, lo, hi) except -1``: ``lo <= got <= hi`` or
  ``ValueError`` "out must have length 8, got 3" (``lo == hi``), "out must
  have length >= 8, got 3" (``hi < 0``: no upper limit), "... length in
  [lo, hi] ...".

GIL: a burst releases the GIL (``with nogil:``) only from ``PFO_NOGIL_MIN``
(256) records on; a shorter one runs with the GIL held, since releasing and
taking it back costs more than 32 records of most bursts.  Either way it
runs between ``pfo_enter`` and ``pfo_leave``; with the GIL held no other
thread can see the busy flag set, so the results are the same::

    if n < PFO_NOGIL_MIN:
        c_burst(...)
    else:
        with nogil:
            c_burst(...)

Bytes (one packet, one RSS input)::

    pfo_bind_bytes(&b, data, "data")     # any C-contiguous buffer, read-only
    ... <const uint8_t*>b.buf, b.len ...
    pfo_release(&b)

  ``bytes``, ``bytearray``, ``memoryview`` and any object with a C-contiguous
  buffer (its raw bytes); anything else (``None``, ``str``, an int, a
  non-contiguous view) -> ``TypeError`` "data must be a contiguous bytes-like
  object, got NoneType".

Integers and times (per-packet arguments)::

    cdef int64_t t = pfo_time("now_ns", now_ns)          # [0, 2**63 - 1]
    cdef int64_t q = pfo_int("queue", queue, 0, n - 1)    # any int64 range
    cdef uint64_t h = pfo_uint("handle", handle, 0, 2**64 - 1)

  Accepted: ``int`` and numpy integer scalars (anything with ``__index__``)
  of any size.  ``bool`` / ``numpy.bool_`` -> ``TypeError`` (a component that
  documents bools as ints converts them itself).  Never ``OverflowError``:
  out of range is ``ValueError`` "queue must be in [0, 3], got 70000"; not an
  integer is ``TypeError`` "queue must be an integer, got 'a'".  ``pfo_int``
  is ``except? -1`` and ``pfo_uint`` ``except? 0``: a legal result equal to
  that value costs one ``PyErr_Occurred`` test, no more.

Time never goes backwards (one wording, "now_ns must not go backwards, got
49 after 50")::

    pfo_not_backwards("now_ns", t, self.last_ns)        # ValueError if t < last
    i = pfo_ns_first_backwards(times, n, last)          # scan (in _types.pxd) ...
    if i >= 0: pfo_raise_backwards("now_ns", times[i], prev, i)
    # -> "now_ns must not go backwards, got now_ns[2] = 51 after 52"

Busy guard (every object that releases the GIL has an ``int busy`` field)::

    pfo_enter(&self.busy, self)          # RuntimeError if busy, else busy = 1
    try:
        with nogil:
            ...
    finally:
        pfo_leave(&self.busy)
    # every other method of the object, first thing (cheap):
    pfo_guard(self.busy, self)

  The error is ``_checks.in_use_error(type(obj).__name__, type(obj).__name__)``
  (``obj`` may also be the name itself, a ``str``):
  "ReorderBuffer is in use by another thread (a burst is running without the
  GIL); give each thread its own ReorderBuffer".  Set the flag under the GIL
  only, before ``with nogil:``; clear it after, in ``finally``.  The one
  exception: when every call between ``pfo_enter`` and ``pfo_leave`` is
  ``noexcept`` (nothing there can raise), ``finally`` may go, and a comment
  at ``pfo_enter`` names those calls (``Policy.steer_burst``: ``_steer_loop``
  and ``c_steer``); make one of them raise and the ``finally`` must come
  back, or one error leaves the object busy for good.  A container
  that bursts over its parts (``ReorderQueues`` over its ``ReorderBuffer``
  objects) sets the parts' flags too, or exposes no mutable part.

Parts of a container (read-only views)::

    if self._part_of is not None:
        pfo_raise_part(self, self._part_of, "ReorderQueues.insert")
    # ValueError "ReorderBuffer is a read-only part of a ReorderQueues; use
    # ReorderQueues.insert" (as numpy's "assignment destination is read-only")

  A container whose parts are exposed (``ReorderQueues.buffers``,
  ``MetadataCache.queues`` / ``.store``) marks them owned, and their mutating
  methods refuse: a packet can then never be inserted behind the container's
  bookkeeping (and stranded).  Reads (properties, ``stats``) stay allowed.
  ``owner`` may be the container or its type name (a ``str``): a part that
  keeps only the name holds no reference cycle with its container.

Not initialised::

    pfo_raise_uninit(self)   # RuntimeError "X is not initialised: X.__init__ was
                             # not called (a subclass must call super().__init__)"

  for a type that allocates in ``__init__`` (prefer ``__cinit__``: then no
  method can see an unallocated object).
"""

from cpython.buffer cimport Py_buffer
from cpython.long cimport PyLong_AsLongLongAndOverflow
from libc.stdint cimport int64_t, uint64_t

from paraflowo._core._types cimport pfo_ns_t

cdef enum:
    PFO_WRITABLE = 1    # pfo_bind: the burst writes the array
    PFO_OPTIONAL = 2    # pfo_bind: None is accepted (binds nothing)

cdef enum:
    # Bursts of fewer records than this run with the GIL held: releasing and
    # taking it back costs about 400 instructions (100+ ns), more than a
    # 32-record burst of most components.  From this size on they release it.
    PFO_NOGIL_MIN = 256

cdef extern from "_boundary.h":
    const int64_t PFO_INT64_MAX      # 2**63 - 1, the largest time
    const uint64_t PFO_UINT64_MAX    # 2**64 - 1
    bint pfo_small_int(object v, long long* out) noexcept
    object pfo_bool(bint b)          # True/False without a branch on b
    void pfo_release_c(Py_buffer* b) noexcept   # pfo_release, in C

cdef extern from "_bind.h":
    # pfo_bind's common case, inline in each module (see _bind.h)
    bint pfo_bind_inline(Py_buffer* b, object arr, object dtype, int writable) noexcept
    void pfo_bind_learn(const Py_buffer* b, object arr) noexcept
    # A new array of a plain void dtype, only the caller's, given the dtype
    # object of records of the same size (see _bind.h): True, or False and
    # unchanged (then create it with that dtype).  Skips numpy's per-array
    # zero-fill setup of a structured dtype (about 5,000 instructions).
    bint pfo_retype_new(object arr, object descr) noexcept


# -- slow paths (in _boundary.pyx): raise the documented error --------------

cdef int pfo_bind_array(Py_buffer* b, object arr, str name, object dtype, int flags) except -1
    # pfo_bind without the None case: fast test first, then the checks that
    # name the problem.
cdef bint pfo_try_bind(Py_buffer* b, object arr, object dtype, int ndim, int flags) noexcept
    # The common case of pfo_bind alone, for a caller with its own slow path
    # (a 2-D array, a record array of any dtype): True with b bound if arr is
    # an exact numpy.ndarray with dtype object `dtype` (None: any dtype of
    # nonzero size without Python objects), `ndim` (1 or 2) dimensions,
    # C-contiguous and (PFO_WRITABLE) writable; release with pfo_release.
    # Else False: nothing held (b.shape NULL), no error set.
cdef int pfo_bind_bytes(Py_buffer* b, object data, str name) except -1
    # Bind b to data's bytes (see above); b.shape is then set (pfo_release
    # works as for pfo_bind).  0, or -1 with TypeError set and nothing held.
cdef int pfo_raise_len(str name, Py_ssize_t got, Py_ssize_t lo, Py_ssize_t hi) except -1
cdef int64_t pfo_int_slow(str name, object v, int64_t lo, int64_t hi) except? -1
cdef uint64_t pfo_uint_slow(str name, object v, uint64_t lo, uint64_t hi) except? 0
cdef int pfo_raise_backwards(str name, pfo_ns_t now, pfo_ns_t last,
                             Py_ssize_t index) except -1
cdef int pfo_raise_busy(object obj) except -1
cdef int pfo_raise_uninit(object obj) except -1
cdef int pfo_raise_part(object part, object owner, str use) except -1


# -- buffers -------------------------------------------------------------------

cdef inline int pfo_bind(Py_buffer* b, object arr, str name, object dtype,
                         int flags) except -1:
    # Bind b to arr (see the module docstring).  0, or -1 with the error set
    # and nothing held (b.shape NULL: pfo_release is then a no-op).  The
    # inline binding fills b itself, or leaves it untouched: b is cleared
    # after it fails, not before (two stores less an array).
    if pfo_bind_inline(b, arr, dtype, flags & PFO_WRITABLE):
        return 0
    b.buf = NULL
    b.shape = NULL
    if arr is None and flags & PFO_OPTIONAL:
        return 0
    pfo_bind_array(b, arr, name, dtype, flags)
    pfo_bind_learn(b, arr)          # the first binding of an ndarray teaches its type
    return 0


cdef inline bint pfo_bound(const Py_buffer* b) noexcept nogil:
    # True if pfo_bind holds a buffer in b (False: None was passed, or released).
    return b.shape != NULL


cdef inline Py_ssize_t pfo_len(const Py_buffer* b) noexcept nogil:
    # Elements in a buffer bound by pfo_bind (0 if nothing was bound).
    return 0 if b.shape == NULL else b.shape[0]


cdef inline void pfo_release(Py_buffer* b) noexcept:
    # Release a buffer bound by pfo_bind; a no-op if nothing is held.
    pfo_release_c(b)


cdef inline int pfo_check_len(str name, Py_ssize_t got, Py_ssize_t lo,
                              Py_ssize_t hi) except -1:
    # lo <= got and (hi < 0 or got <= hi), else ValueError naming `name`.
    if got >= lo and (hi < 0 or got <= hi):
        return 0
    return pfo_raise_len(name, got, lo, hi)


cdef inline int pfo_bind_n(Py_buffer* b, object arr, str name, object dtype, int flags,
                           Py_ssize_t n) except -1:
    # pfo_bind, then the length must be n (ValueError "out must have length 8,
    # got 3"); on that error the buffer stays held for the caller's release.
    pfo_bind(b, arr, name, dtype, flags)
    return pfo_check_len(name, pfo_len(b), n, n)


# -- integers and times --------------------------------------------------------

cdef inline int64_t pfo_int(str name, object v, int64_t lo, int64_t hi) except? -1:
    # v as an int64 in [lo, hi]; TypeError / ValueError otherwise (see above).
    cdef int overflow = 0
    cdef long long x
    if type(v) is int:
        if not pfo_small_int(v, &x):
            x = PyLong_AsLongLongAndOverflow(v, &overflow)
        if overflow == 0 and lo <= x <= hi:
            return x
    return pfo_int_slow(name, v, lo, hi)


cdef inline uint64_t pfo_uint(str name, object v, uint64_t lo, uint64_t hi) except? 0:
    # v as a uint64 in [lo, hi] (hi up to 2**64 - 1); errors as pfo_int.
    cdef int overflow = 0
    cdef long long x
    if type(v) is int:
        if not pfo_small_int(v, &x):
            x = PyLong_AsLongLongAndOverflow(v, &overflow)
        if overflow == 0 and x >= 0 and lo <= <uint64_t>x <= hi:
            return <uint64_t>x
    return pfo_uint_slow(name, v, lo, hi)


cdef inline pfo_ns_t pfo_time(str name, object v) except? -1:
    # A time in ns: an integer in [0, 2**63 - 1].
    return pfo_int(name, v, 0, PFO_INT64_MAX)


cdef inline int pfo_not_backwards(str name, pfo_ns_t now, pfo_ns_t last) except -1:
    # 0 if now >= last, else ValueError "now_ns must not go backwards, got 49 after 50".
    if now >= last:
        return 0
    return pfo_raise_backwards(name, now, last, -1)


# -- busy guard ----------------------------------------------------------------

cdef inline int pfo_guard(int busy, object obj) except -1:
    # 0 if the object is not in a GIL-free burst, else RuntimeError (in_use_error).
    if busy == 0:
        return 0
    return pfo_raise_busy(obj)


cdef inline int pfo_enter(int* busy, object obj) except -1:
    # Check, then mark the object busy (under the GIL, before `with nogil:`).
    if busy[0] != 0:
        return pfo_raise_busy(obj)
    busy[0] = 1
    return 0


cdef inline void pfo_leave(int* busy) noexcept:
    # Clear the busy mark (in the `finally` of the burst, or straight after
    # a stretch of noexcept calls: see the module docstring's busy guard).
    busy[0] = 0
