# cython: language_level=3
"""Steering policies as objects with one C-level interface: the cimport API.

A policy decides, at ingress, which core (worker) gets a packet, and at
egress, in which order completed packets leave.  ``rss``, ``spray``,
``rsspp`` and ``paraflowo`` are each defined once here, behind five methods,
so that any event loop (the live dataplane's vSwitch thread today; the
simulator's event loop is designed to adopt the same objects) drives them the
same way::

    from paraflowo._core.policies cimport Policy
    cdef Policy p = make_policy("paraflowo", 2)      # built from Python
    cdef pfo_meta_t m
    cdef pfo_handle_t out[256]
    cdef Py_ssize_t n
    with nogil:
        p.c_steer(key, flow_hash, port, length, now, handle, &m)   # -> m.core
        while not p.c_ready(&m):                    # reorder window: wait
            complete_some()
        ...                                         # core m.core works on it
        while p.c_complete(&m, later, out, 256, &n):   # 1: out was full
            emit(out, n)                            #    emit, call again
        emit(out, n)
        if later >= p.c_next_deadline():
            n = p.c_poll(later, out, 256)           # released by time
        n = p.c_flush(out, 256)                     # at shutdown, until < 256

Handles are emitted at most once each.  A record completed with
``PFO_FLAG_DROP`` is never emitted: the caller frees it after c_complete has
consumed it.  Every other completed packet is emitted exactly once (by
c_complete, c_poll or c_flush).

Threading: a policy belongs to one thread (the vSwitch thread) while it runs.
Time ``now`` never decreases from call to call.
"""

from libc.stdint cimport int32_t, uint16_t, uint32_t, uint64_t
from paraflowo._core._types cimport pfo_handle_t, pfo_hash_t, pfo_meta_t, pfo_ns_t
from paraflowo._core.breakup cimport Breakup
from paraflowo._core.reorder cimport ReorderQueues


cdef class Policy:
    cdef readonly uint32_t n_cores
    cdef readonly str name
    cdef readonly uint64_t steered        # packets through c_steer
    cdef readonly uint64_t completed      # records consumed by c_complete
    cdef readonly uint64_t emitted        # handles returned (complete/poll/flush)
    cdef readonly bint claimed            # a running Dataplane drives it
    cdef pfo_ns_t py_last_ns              # latest time of a Python-level call
    cdef int busy                         # private: a Python burst runs without the GIL

    cdef int c_claim(self, bint on) except -1
        # Python level (needs the GIL): mark the policy (and its components)
        # as driven by a running event loop, or free again.  Raises
        # RuntimeError if `on` and it is already claimed, or a component is
        # in use by a burst elsewhere; nothing changes then.  While claimed,
        # the components' own Python methods refuse to run (their in-use
        # guard), so nothing else can drive them under the vSwitch's feet.

    cdef void c_steer(self, uint64_t key, pfo_hash_t flow_hash, uint16_t port,
                      uint16_t length, pfo_ns_t now, pfo_handle_t handle,
                      pfo_meta_t* out) noexcept nogil
        # Fill *out (every field; ingress_ns = now) for one packet; out.core
        # (< n_cores) is the worker that gets it.  Cannot fail (and must not:
        # steer_burst clears its busy flag without a finally around it).

    cdef bint c_ready(self, const pfo_meta_t* m) noexcept nogil
        # May the record c_steer just filled be dispatched now?  False: hold
        # it (stop ingress) and ask again after completions; it becomes True
        # once earlier packets have left.  paraflowo: False while the
        # record's PSN is a window or more ahead of its reorder queue's head
        # (its insert would push the window past packets still in flight and
        # make them LATE).  Others: always True.

    cdef int c_complete(self, pfo_meta_t* m, pfo_ns_t now, pfo_handle_t* out,
                        Py_ssize_t cap, Py_ssize_t* n_out) noexcept nogil
        # Core m.core has finished the packet of record m at now.  Writes the
        # handles that may leave now into out[0:*n_out] (cap >= 1).
        # Returns 0: the record is consumed.  Returns 1: out filled up before
        # the record could be taken; emit out[0:*n_out] and call again with
        # the same record.  Never emits a PFO_FLAG_DROP record.

    cdef pfo_ns_t c_next_deadline(self) noexcept nogil
        # Earliest time at which c_poll releases something (PFO_NS_NEVER:
        # nothing held), or a rebalance is due (rsspp).

    cdef Py_ssize_t c_poll(self, pfo_ns_t now, pfo_handle_t* out, Py_ssize_t cap) noexcept nogil
        # Release what time allows (reorder timeouts) into out[0:cap]; returns
        # the number written: if that is cap, call again.

    cdef Py_ssize_t c_flush(self, pfo_handle_t* out, Py_ssize_t cap) noexcept nogil
        # Release everything still held (shutdown), in order per queue,
        # skipping holes.  Returns the number written; if that is cap, call again.

    cdef uint64_t c_held(self) noexcept nogil
        # Packets completed but not yet emitted.


cdef class RSSPolicy(Policy):
    cdef readonly object reta           # IndirectionTable
    cdef const uint16_t* entries
    cdef uint32_t mask


cdef class SprayPolicy(Policy):
    cdef uint32_t next_core


cdef class RSSPPPolicy(RSSPolicy):
    cdef uint16_t* table        # owned working copy of the RETA (migrated)
    cdef uint64_t* bucket_load  # packets per RETA bucket this period
    cdef uint64_t* core_load    # packets per core this period
    cdef readonly pfo_ns_t period_ns
    cdef pfo_ns_t period_end
    cdef readonly uint64_t migrations
    cdef void c_rebalance(self) noexcept nogil


cdef class ParaFlowOPolicy(Policy):
    cdef readonly Breakup breakup
    cdef readonly ReorderQueues reorder
    cdef readonly uint64_t late           # tagged packets released past their turn (LATE)
    cdef readonly uint64_t tombstones     # tagged drops turned into tombstones
    cdef uint64_t held
    cdef Py_ssize_t _drain(self, pfo_ns_t now, pfo_handle_t* out, Py_ssize_t cap) noexcept nogil
        # reorder.c_drain into out[0:cap], keeping held and emitted in step
