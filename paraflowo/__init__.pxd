# cython: language_level=3
# The public C-level API of ParaFlowO: ``cimport paraflowo`` or
# ``from paraflowo cimport pfo_rob_t, pfo_rob_insert, ...``.
#
# Everything a user may call from Cython, without the GIL, is re-exported
# here by name, one block per component.  The declarations, with each
# function's contract (return codes, the caller's next step), live in the
# private implementation files paraflowo/_core/<component>.pxd; only the
# names listed below are public and covered by the ABI policy (see
# docs/cython.rst, "ABI policy").  A name not listed here (a ``_``-prefixed
# attribute or method, a helper such as pfo_rob_insert_slow) is private and
# may change in any release.
#
# Adding a component: append one block, in the same form, importing only its
# struct types, constants, pfo_<component>_* functions and cdef classes.

# -- shared types, return codes and flags (paraflowo/_core/_types.pxd) -------
from paraflowo._core._types cimport (
    pfo_psn_t, pfo_handle_t, pfo_hash_t, pfo_ns_t, pfo_meta_t,
    PFO_FLAG_PARA, PFO_FLAG_DROP,
    PFO_OK, PFO_EINVAL, PFO_ENOSPC, PFO_ALIGN,
)

# -- hashing: Toeplitz RSS and the indirection table (_core/hashing.pxd) -----
from paraflowo._core.hashing cimport (
    PFO_RSS_MAX_KEY, PFO_RSS_MIN_KEY, PFO_RSS_MAX_INPUT,
    pfo_rss_tbl_t, pfo_rss_init, pfo_rss_hash, pfo_rss_hash_burst,
    pfo_reta_lookup,
    ToeplitzHasher, IndirectionTable,
)

# -- reorder buffer and reorder queues (_core/reorder.pxd) -------------------
from paraflowo._core.reorder cimport (
    PFO_ROB_BUFFERED, PFO_ROB_LATE, PFO_ROB_DUPLICATE, PFO_ROB_DROPPED,
    PFO_ROB_FULL, PFO_ROB_PASSED, PFO_ROB_EINVAL,
    PFO_ROB_SLOT_EMPTY, PFO_ROB_SLOT_TOMB, PFO_NS_NEVER,
    PFO_ROB_MAX_WINDOW, PFO_ROBQ_MAX_QUEUES,
    pfo_rob_slot_t, pfo_rob_stats_t, pfo_rob_t,
    pfo_rob_footprint, pfo_rob_init, pfo_rob_fini,
    pfo_rob_insert, pfo_rob_pass, pfo_rob_insert_burst, pfo_rob_process,
    pfo_rob_drain, pfo_rob_flush, pfo_rob_next_deadline, pfo_rob_held,
    ReorderBuffer,
    pfo_robq_t, pfo_robq_footprint, pfo_robq_init, pfo_robq_fini,
    pfo_robq_touch, pfo_robq_insert, pfo_robq_process, pfo_robq_drain,
    ReorderQueues,
)

# -- packet store of the metadata cache (_core/metacache.pxd) ----------------
from paraflowo._core.metacache cimport (
    PFO_STORE_MAX_SLOTS,
    pfo_store_t, pfo_store_footprint, pfo_store_init, pfo_store_fini,
    pfo_store_next, pfo_store_put, pfo_store_free,
    PacketStore,
)
