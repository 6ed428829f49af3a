# cython: language_level=3
"""Reorder buffer (one queue) and reorder queues (many): the cimport API.

This file is the private implementation path; users cimport the public names
from ``paraflowo`` (``paraflowo/__init__.pxd``, see docs/cython.rst)::

    from paraflowo cimport (
        ReorderBuffer, pfo_rob_insert, pfo_rob_drain, pfo_rob_next_deadline,
        PFO_ROB_BUFFERED, PFO_NS_NEVER)

    cdef ReorderBuffer rb = ReorderBuffer(1024, 50_000)   # built from Python
    cdef pfo_handle_t out[64]
    cdef Py_ssize_t n
    with nogil:
        rb.c_insert(psn, handle, now, False)            # or pfo_rob_insert(rb.rob, ...)
        n = rb.c_drain(now, out, 64)                    # n handles in out[0:n]
        wake_at = rb.c_next_deadline()                  # when to drain next

or, in memory the host owns (no Python object at all)::

    cdef pfo_rob_t r                                     # the header: anywhere
    cdef size_t size = pfo_rob_footprint(1024, 32)       # 0: bad parameters
    cdef void* mem = malloc(size)                        # or shm, hugepages, ...
    if pfo_rob_init(&r, mem, size, 1024, 50_000, 32, 0) != PFO_OK: ...
    ...                                                  # pfo_rob_insert(&r, ...)
    pfo_rob_fini(&r); free(mem)

``pfo_rob_insert`` is inline (its in-window fast path compiles into your
module); the ``c_*`` methods are the same calls through the object.  Keep a
reference to the Python object for as long as you use ``rb.rob``.

Serial-number arithmetic, worked example (psn_bits = 8, window = 16,
head = 250): PSN p is at distance d = (p - head) & 0xFF from the head.
p = 3 gives d = 9 (< 16: inside the window, slot 3 & 15 = 3); p = 10 gives
d = 16 (too far ahead: the head moves to 10 - 16 + 1 = 251); p = 200 gives
d = 206 >= 128 (behind the head: LATE).
"""

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from paraflowo._core._types cimport (
    pfo_psn_t, pfo_handle_t, pfo_ns_t, pfo_meta_t, PFO_OK, PFO_EINVAL, PFO_ENOSPC, PFO_ALIGN)

# Status of one insert (values of paraflowo.ReorderStatus).
cdef enum:
    PFO_ROB_BUFFERED = 0    # held; released in PSN order by a later drain
    PFO_ROB_LATE = 1        # behind the head: not kept, the caller forwards or frees it
    PFO_ROB_DUPLICATE = 2   # PSN already held (or tombstoned): not kept, caller frees it
    PFO_ROB_DROPPED = 3     # dropped=True accepted: a tombstone holds the slot; caller frees it
    PFO_ROB_FULL = 4        # not accepted, nothing changed: drain, then insert again
    PFO_ROB_PASSED = 5      # (ReorderQueues) untagged: passed straight through
    PFO_ROB_EINVAL = -1     # bad argument (time backwards, PSN too wide): nothing changed

# Largest window (slots) of one reorder buffer, and most queues of a pfo_robq_t.
cdef enum:
    PFO_ROB_MAX_WINDOW = 1 << 24
    PFO_ROBQ_MAX_QUEUES = 0xFFFF

# Slot markers stored in pfo_rob_slot_t.ts when the slot holds no packet
# (a packet's ts is its insert time, >= 0).
cdef enum:
    PFO_ROB_SLOT_EMPTY = -1
    PFO_ROB_SLOT_TOMB = -2

cdef extern from *:
    """
    #define PFO_NS_NEVER ((long long)0x7fffffffffffffffLL)
    """
    # "never" as a time: the deadline when nothing is held, the "no timeout" value
    const pfo_ns_t PFO_NS_NEVER


ctypedef struct pfo_rob_slot_t:
    pfo_handle_t handle       # the packet's handle (valid when ts >= 0)
    pfo_ns_t ts               # insert time, or PFO_ROB_SLOT_EMPTY / PFO_ROB_SLOT_TOMB

ctypedef struct pfo_rob_stats_t:
    uint64_t inserted         # every accepted insert call (not FULL, not EINVAL)
    uint64_t released         # handles emitted by drain / flush
    uint64_t dropped          # tombstones accepted (dropped=True)
    uint64_t late             # LATE outcomes
    uint64_t duplicates       # DUPLICATE outcomes
    uint64_t skipped          # PSNs the head passed without a packet or tombstone
    uint64_t timeouts         # times the timeout rule skipped a run of missing PSNs
    uint64_t full             # FULL refusals (not counted in inserted)
    uint64_t peak_held        # most packets held at once (updated by drain and flush;
                              # max(peak_held, pfo_rob_held(r)) is exact at any time)

# One reorder queue: this header (sizeof(pfo_rob_t) = 160 bytes) and
# pfo_rob_footprint(window, psn_bits) = window * (16 + 8 + 8) bytes of slots
# and FIFOs that pfo_rob_init places in the caller's memory.
# Invariants: held = in_ring + ready_n; every packet in slots lies in
# [head, head + window); the order FIFO's front entry is a packet still in
# slots (or the FIFO is empty).  inserted == released + dropped + late +
# duplicates + held.
# Field order (an ABI matter: code that cimports this struct is recompiled
# against it): the first 64 bytes hold everything an in-window insert and
# the common drain of a queue of a pfo_robq_t touch (its window, masks and
# timeout come from queue 0, the same for all), st.inserted and st.released
# included; placed at a 64-byte boundary (as the queues of a ReorderQueues
# are, and those of pfo_robq_init in 64-byte aligned memory), such an insert
# touches one line of the header.
ctypedef struct pfo_rob_t:
    pfo_rob_slot_t* slots     # window slots; PSN p lives in slot p & mask
    pfo_psn_t* order          # insertion-order FIFO of held PSNs, 2*window entries
    pfo_psn_t head            # next PSN to release
    uint32_t in_ring          # slots holding a packet
    uint32_t order_head, order_n
    uint32_t n_tomb           # slots holding a tombstone
    uint32_t ready_n          # handles in the ready FIFO
    pfo_ns_t last_ns          # latest time seen; earlier times are EINVAL
    pfo_rob_stats_t st        # (inserted and released in the first 64 bytes)
    pfo_handle_t* ready       # FIFO of handles the head passed (window entries)
    uint32_t window           # power of two, <= 2**(psn_bits - 1)
    uint32_t mask             # window - 1
    uint32_t psn_mask         # 2**psn_bits - 1
    uint32_t half             # 2**(psn_bits - 1)
    uint32_t order_mask       # 2*window - 1
    uint32_t ready_head       # front of the ready FIFO
    pfo_ns_t timeout_ns       # PFO_NS_NEVER: no timeout


cdef size_t pfo_rob_footprint(uint32_t window, int psn_bits) noexcept nogil
    # Bytes of memory pfo_rob_init needs for a buffer of `window` slots and
    # `psn_bits`-bit PSNs: 32 * window (slots, insertion-order FIFO, ready
    # FIFO; a multiple of PFO_ALIGN), not counting the pfo_rob_t header,
    # which the caller places where it likes.  Returns 0 if the parameters
    # are invalid: window not a power of two in
    # [2, min(PFO_ROB_MAX_WINDOW, 2**(psn_bits-1))], or psn_bits outside [8, 32].

cdef int pfo_rob_init(pfo_rob_t* r, void* mem, size_t size, uint32_t window,
                      pfo_ns_t timeout_ns, int psn_bits, pfo_psn_t first_psn) noexcept nogil
    # Make r an empty reorder buffer whose slots and FIFOs live in mem[0:size].
    # timeout_ns: >= 0, PFO_NS_NEVER for no timeout; first_psn: the first PSN
    # expected (< 2**psn_bits).  Returns PFO_OK; PFO_EINVAL (r or mem NULL,
    # mem not 8-byte aligned, a parameter out of range); or PFO_ENOSPC (size <
    # pfo_rob_footprint(window, psn_bits)).  On an error nothing is written.
    # Never allocates: the caller owns r and mem, and frees mem after
    # pfo_rob_fini.  mem must stay at the same address while r is in use.

cdef void pfo_rob_fini(pfo_rob_t* r) noexcept nogil
    # End r's life (the handles it still holds are forgotten: flush first to
    # get them back).  r is unusable afterwards until pfo_rob_init again; its
    # memory is the caller's to free.  pfo_rob_fini(NULL) is a no-op.

cdef int pfo_rob_insert_slow(pfo_rob_t* r, pfo_psn_t psn, pfo_handle_t handle,
                             pfo_ns_t now, bint dropped) noexcept nogil
    # Insert of a PSN outside [head, head + window): LATE, or the window
    # advances (returns as pfo_rob_insert).  Called by pfo_rob_insert only,
    # after its checks.


cdef inline int pfo_rob_insert(pfo_rob_t* r, pfo_psn_t psn, pfo_handle_t handle,
                               pfo_ns_t now, bint dropped) noexcept nogil:
    # Insert one packet (or, with dropped, its tombstone) at time now.
    # Returns PFO_ROB_BUFFERED / _DROPPED (held / tombstoned), _LATE or
    # _DUPLICATE (not kept: the caller owns the packet), _FULL (not accepted,
    # nothing changed but st.full: the window had to advance and the ready
    # FIFO cannot take the packets it passes; drain, then insert again), or
    # PFO_ROB_EINVAL (now < r.last_ns or psn >= 2**psn_bits; nothing changed).
    # O(1) inside the window; O(distance moved) when the window advances.
    cdef pfo_rob_slot_t* s
    if now < r.last_ns or (psn & ~r.psn_mask) != 0:
        return PFO_ROB_EINVAL
    r.last_ns = now
    if ((psn - r.head) & r.psn_mask) >= r.window:
        return pfo_rob_insert_slow(r, psn, handle, now, dropped)
    s = &r.slots[psn & r.mask]
    r.st.inserted += 1
    if s.ts != PFO_ROB_SLOT_EMPTY:
        r.st.duplicates += 1
        return PFO_ROB_DUPLICATE
    if dropped:
        s.ts = PFO_ROB_SLOT_TOMB
        r.n_tomb += 1
        r.st.dropped += 1
        return PFO_ROB_DROPPED
    s.handle = handle
    s.ts = now
    r.order[(r.order_head + r.order_n) & r.order_mask] = psn
    r.order_n += 1
    r.in_ring += 1
    return PFO_ROB_BUFFERED


cdef inline bint pfo_rob_pass(pfo_rob_t* r, pfo_psn_t psn, pfo_ns_t now) noexcept nogil:
    # In-order fast path.  If psn is the head and the queue holds nothing (no
    # packet, tombstone or passed handle) and now >= r.last_ns, the packet may
    # leave at once: the head advances, the packet counts as inserted and
    # released (it is never held: peak_held does not see it), and True is
    # returned.  Otherwise nothing changes and False is returned: insert the
    # packet with pfo_rob_insert.  Same releases, in the same order, as
    # pfo_rob_insert followed by pfo_rob_drain at now.
    if psn != r.head or r.in_ring or r.ready_n or r.n_tomb or now < r.last_ns:
        return False
    r.last_ns = now
    r.head = (psn + 1) & r.psn_mask
    r.st.inserted += 1
    r.st.released += 1
    return True


cdef Py_ssize_t pfo_rob_insert_burst(pfo_rob_t* r, const pfo_psn_t* psns,
                                     const pfo_handle_t* handles, Py_ssize_t n,
                                     pfo_ns_t now, const uint8_t* dropped,
                                     uint8_t* status_out) noexcept nogil
    # pfo_rob_insert on each of n packets at time now, in order.  dropped may
    # be NULL (none dropped), else nonzero marks a tombstone; status_out (may
    # be NULL) gets each status.  Returns the number BUFFERED, or -1 (nothing
    # changed) if now < r.last_ns or a PSN is >= 2**psn_bits (the whole burst
    # is checked first).

cdef Py_ssize_t pfo_rob_process(pfo_rob_t* r, const pfo_psn_t* psns,
                                const pfo_handle_t* handles, Py_ssize_t n, pfo_ns_t now,
                                const uint8_t* dropped, uint8_t* status_out,
                                Py_ssize_t drain_every, pfo_handle_t* out,
                                Py_ssize_t cap) noexcept nogil
    # pfo_rob_insert_burst of n packets at time now, with a pfo_rob_drain into
    # out after every drain_every packets (0: only at the end) and at the end,
    # as a dataplane's poll loop does.  An insert that would be PFO_ROB_FULL
    # drains into out first (when out has room), then inserts: with
    # cap >= n + pfo_rob_held(r) no packet is ever refused; with a smaller cap
    # a packet may be refused FULL (reported in status_out; the caller still
    # owns it).  Returns the number written to out (what does not fit stays
    # held), or -1 (nothing changed) on a bad time or PSN, as
    # pfo_rob_insert_burst.

cdef Py_ssize_t pfo_rob_drain(pfo_rob_t* r, pfo_ns_t now, pfo_handle_t* out,
                              Py_ssize_t cap) noexcept nogil
    # Release, in order, into out[0:cap]: the handles the head already passed,
    # the contiguous run at the head, and, while the earliest-inserted packet
    # still held was inserted at or before now - timeout_ns, skip the missing
    # PSNs at the head and continue.  Returns the number written.
    # If cap is too small nothing is lost: the rest stays held, in order, for
    # the next call (call again while it returns cap).  Returns -1 (nothing
    # changed) if now < r.last_ns.

cdef Py_ssize_t pfo_rob_flush(pfo_rob_t* r, pfo_handle_t* out, Py_ssize_t cap) noexcept nogil
    # Release everything held into out[0:cap], in PSN order, skipping holes and
    # tombstones; the head ends past the last occupied slot.  Returns the
    # number written; if that is cap, call again (the rest stays held).

cdef inline pfo_ns_t pfo_rob_next_deadline(const pfo_rob_t* r) noexcept nogil:
    # Earliest time at which pfo_rob_drain has something to do:
    # r.last_ns if it can release now, the timeout deadline of the
    # earliest-inserted packet held otherwise, PFO_NS_NEVER if nothing is held.
    cdef pfo_ns_t ts
    if r.ready_n or (r.in_ring + r.n_tomb and r.slots[r.head & r.mask].ts != PFO_ROB_SLOT_EMPTY):
        return r.last_ns
    if r.order_n == 0:
        return PFO_NS_NEVER
    ts = r.slots[r.order[r.order_head] & r.mask].ts
    if ts > PFO_NS_NEVER - r.timeout_ns:
        return PFO_NS_NEVER
    return ts + r.timeout_ns

cdef inline uint64_t pfo_rob_held(const pfo_rob_t* r) noexcept nogil:
    # Packets held (in slots or passed by the head and not yet drained).
    return r.in_ring + r.ready_n


cdef class ReorderBuffer:
    cdef pfo_rob_t* rob             # the buffer (never NULL while the object lives):
                                    # &_own, or a queue inside a ReorderQueues' block
    cdef pfo_rob_t _own             # private: the header of a standalone buffer
    cdef void* _mem                 # private: memory this object owns (NULL for a part)
    cdef object _owner              # private: keeps the memory of a part's rob alive
    cdef readonly int psn_bits
    cdef readonly pfo_psn_t first_psn
    cdef int busy                   # private: set while a burst runs without the GIL
    cdef str _part_of               # private: "ReorderQueues" for a read-only part, else None
    cdef int* _owner_busy           # private: the container's busy flag while it lives, else NULL
    cdef int c_insert(self, pfo_psn_t psn, pfo_handle_t handle, pfo_ns_t now_ns,
                      bint dropped) noexcept nogil
        # pfo_rob_insert(self.rob, ...)
    cdef Py_ssize_t c_drain(self, pfo_ns_t now_ns, pfo_handle_t* out,
                            Py_ssize_t cap) noexcept nogil
        # pfo_rob_drain(self.rob, ...): never loses a packet when cap is small
    cdef Py_ssize_t c_flush(self, pfo_handle_t* out, Py_ssize_t cap) noexcept nogil
    cdef pfo_ns_t c_next_deadline(self) noexcept nogil
        # pfo_rob_next_deadline(self.rob); PFO_NS_NEVER when nothing is held


# Many reorder queues (one ReorderBuffer each) fed by metadata records.
# A drain visits the queues inserted into since their last drain (the touched
# list), and scans the other queues that hold packets (the active set) only
# when the earliest of their cached timeout deadlines has come.
# Memory: this header and pfo_robq_footprint(n_queues, window, psn_bits)
# bytes, one block holding the per-queue arrays and the n_queues buffers
# (their pfo_rob_t headers, slots and FIFOs).
ctypedef struct pfo_robq_t:
    pfo_rob_t** robs          # n_queues pointers (to the buffers inside the block)
    uint32_t n_queues
    uint32_t* active          # ids of queues that hold packets, n_active of them
    uint32_t* pos             # pos[q]: index of q in active (valid if is_active[q])
    uint8_t* is_active        # n_queues flags
    uint32_t n_active
    uint32_t* touched         # ids of queues inserted into since their last drain
    uint8_t* is_touched       # n_queues flags
    uint32_t n_touched
    pfo_ns_t* deadline        # per queue: pfo_rob_next_deadline after its last drain
                              # (0 while the queue is not active)
    pfo_ns_t min_deadline     # <= every deadline[q] of an active, untouched queue
    pfo_ns_t last_ns          # latest time seen by any queue (one clock); earlier
                              # times are EINVAL.  >= every robs[i].last_ns.


cdef size_t pfo_robq_footprint(uint32_t n_queues, uint32_t window, int psn_bits) noexcept nogil
    # Bytes of memory pfo_robq_init needs: round_up(30 * n_queues, PFO_ALIGN)
    # (bookkeeping) + n_queues * round_up(sizeof(pfo_rob_t), PFO_ALIGN) (the
    # queues' headers, one every 192 bytes) + n_queues *
    # pfo_rob_footprint(window, psn_bits); a multiple of PFO_ALIGN, not
    # counting the pfo_robq_t header.  Returns 0 if n_queues is outside
    # [1, PFO_ROBQ_MAX_QUEUES] or pfo_rob_footprint is 0.

cdef int pfo_robq_init(pfo_robq_t* q, void* mem, size_t size, uint32_t n_queues,
                       uint32_t window, pfo_ns_t timeout_ns, int psn_bits,
                       pfo_psn_t first_psn) noexcept nogil
    # Make q a set of n_queues empty reorder queues (each as pfo_rob_init)
    # living in mem[0:size].  Returns PFO_OK, PFO_EINVAL (as pfo_rob_init, or
    # n_queues out of range) or PFO_ENOSPC (size < pfo_robq_footprint); on an
    # error nothing is written.  Never allocates.  With mem aligned to
    # PFO_ALIGN (64) bytes, as ReorderQueues allocates it, every queue's
    # header starts a cache line (an 8-byte aligned mem works, slower).

cdef void pfo_robq_fini(pfo_robq_t* q) noexcept nogil
    # pfo_rob_fini on every queue, then end q's life (flush first to get the
    # handles back).  pfo_robq_fini(NULL) is a no-op.


cdef inline void pfo_robq_touch(pfo_robq_t* q, uint32_t queue) noexcept nogil:
    # Record that queue `queue` changed (an insert): the next drain visits it.
    # Precondition: queue < q.n_queues.
    if not q.is_touched[queue]:
        q.is_touched[queue] = 1
        q.touched[q.n_touched] = queue
        q.n_touched += 1
    if not q.is_active[queue] and pfo_rob_held(q.robs[queue]):
        q.is_active[queue] = 1
        q.pos[queue] = q.n_active
        q.active[q.n_active] = queue
        q.n_active += 1


cdef inline int pfo_robq_insert(pfo_robq_t* q, uint32_t queue, pfo_psn_t psn,
                                pfo_handle_t handle, pfo_ns_t now, bint dropped) noexcept nogil:
    # pfo_rob_insert into queue `queue`, which the next drain then visits.
    # PFO_ROB_EINVAL (nothing changed) if queue >= n_queues, now < q.last_ns
    # (one clock for all the queues: a time earlier than one already seen on
    # any queue is refused, as pfo_robq_drain refuses it), or the PSN is too
    # wide for the queue.
    cdef int st
    if queue >= q.n_queues or now < q.last_ns:
        return PFO_ROB_EINVAL
    st = pfo_rob_insert(q.robs[queue], psn, handle, now, dropped)
    if st == PFO_ROB_EINVAL:
        return st
    q.last_ns = now
    if st == PFO_ROB_BUFFERED or st == PFO_ROB_DROPPED:
        pfo_robq_touch(q, queue)
    return st


cdef Py_ssize_t pfo_robq_process(pfo_robq_t* q, const pfo_meta_t* meta, Py_ssize_t n,
                                 pfo_ns_t now, pfo_handle_t* out, int32_t* out_queue,
                                 Py_ssize_t cap, uint8_t* status_out,
                                 Py_ssize_t drain_every) noexcept nogil
    # Insert a burst of metadata records at time now, draining the active
    # queues after every drain_every records (0: once, at the end) and at the
    # end.  Records without PFO_FLAG_PARA are written to out at once (status
    # PFO_ROB_PASSED, out_queue -1); tagged ones go to queue meta.queue with
    # meta.psn, tombstoned if PFO_FLAG_DROP.  out_queue (may be NULL) gets the
    # queue of each output; status_out (may be NULL) each record's status.
    # An insert that would be PFO_ROB_FULL drains its queue into out first
    # (when out has room), then inserts: with cap >= n + held nothing is ever
    # refused; with a smaller cap a record may be refused (status FULL, not
    # held: the caller still owns it; pass status_out to learn which).
    # Precondition: cap >= n (drains leave room for the pass-throughs still to
    # come).  Returns the number of outputs; handles that did not fit stay
    # held for the next drain.  Returns -1 (nothing changed) if a tagged
    # record has queue >= n_queues or a PSN too wide, or now < q.last_ns.
    # When no queue has two records in a chunk (the vSwitch egress shape),
    # each record is inserted and its queue visited in one pass, with the
    # same outputs, order, statuses and statistics as insert-then-drain.  As
    # for pfo_robq_drain, change the queues only through pfo_robq_*: it relies
    # on every queue having the window, PSN width and timeout pfo_robq_init
    # (or ReorderQueues.set_timeout) gave them all.

cdef Py_ssize_t pfo_robq_drain(pfo_robq_t* q, pfo_ns_t now, pfo_handle_t* out,
                               int32_t* out_queue, Py_ssize_t cap) noexcept nogil
    # pfo_rob_drain on every touched queue, then on every active queue whose
    # timeout deadline has come.  out_queue (may be NULL) gets the queue of
    # each handle.  Returns the number written: if that is cap, call again
    # (the rest stays held).  Returns -1 (nothing changed) if now < q.last_ns.
    # Change the queues only through pfo_robq_* (a queue changed directly
    # must be announced with pfo_robq_touch, and its times must not pass
    # q.last_ns).


cdef class ReorderQueues:
    cdef pfo_robq_t q               # the queues (their memory: _mem)
    cdef readonly tuple buffers     # the ReorderBuffer of each queue (read-only parts)
    cdef readonly uint32_t n_queues
    cdef object _block              # private: owns the memory q's arrays and buffers live in
    cdef int busy                   # private: set while a burst runs without the GIL
    cdef str _part_of               # private: "MetadataCache" for a read-only part, else None
    # private: insert / drain / flush without the read-only-part check, for
    # the owning MetadataCache (another module, hence declared here)
    cdef object _insert(self, queue, psn, handle, now_ns, dropped, bint commit=*)
    cdef tuple _drain(self, now_ns)
    cdef tuple _flush(self)
    cdef int c_insert(self, uint32_t queue, pfo_psn_t psn, pfo_handle_t handle,
                      pfo_ns_t now_ns, bint dropped) noexcept nogil
        # pfo_robq_insert(&self.q, ...): PFO_ROB_EINVAL if queue >= n_queues
    cdef Py_ssize_t c_drain(self, pfo_ns_t now_ns, pfo_handle_t* out, int32_t* out_queue,
                            Py_ssize_t cap) noexcept nogil
        # pfo_robq_drain(&self.q, ...): the rest stays held when cap is too small
    cdef pfo_ns_t c_next_deadline(self) noexcept nogil
        # earliest pfo_rob_next_deadline over the queues holding packets
        # (O(queues holding packets)); PFO_NS_NEVER when none holds any
