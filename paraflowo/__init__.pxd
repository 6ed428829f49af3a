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

# -- elephant detectors and manual tags (_core/detectors.pxd) ----------------
# The c_ methods of ElephantDetector (c_update, c_estimate, c_advance,
# c_update_burst, c_forced) are virtual: a caller holding an ElephantDetector
# gets the subclass's behaviour.  Time never goes backwards; one detector per
# thread (nothing locks).  SpaceSavingDetector is Python's ThresholdDetector.
# In memory the host owns: pfo_cm_t (Count-Min) and pfo_ss_t (Space-Saving)
# with *_footprint / *_init / *_fini and the update/estimate/advance calls;
# CountMinDetector.cm and SpaceSavingDetector.ss are the classes' own structs
# (the manual tags belong to the classes only).
from paraflowo._core.detectors cimport (
    PFO_CM_MAX_DEPTH, PFO_TAG_NONE, PFO_TAG_OFF, PFO_TAG_ON,
    pfo_cm_t, pfo_cm_footprint, pfo_cm_init, pfo_cm_fini,
    pfo_cm_update, pfo_cm_update_burst, pfo_cm_estimate, pfo_cm_advance, pfo_cm_reset,
    pfo_ss_t, pfo_ss_footprint, pfo_ss_init, pfo_ss_fini,
    pfo_ss_update, pfo_ss_update_burst, pfo_ss_estimate, pfo_ss_advance, pfo_ss_reset,
    ElephantDetector, CountMinDetector, SpaceSavingDetector,
)

# -- PSN allocation: reorder queues for elephant flows (_core/psn.pxd) -------
# PSNAllocator.c_acquire / c_next_psn / c_tag / c_tag_burst; pfo_psn_next is
# c_next_psn inlined; pfo_psn_home the first queue probed for (port, hash).
# c_tag returns PFO_PSN_NO_QUEUE (-1) when no queue is free: send the packet
# untagged by plain flow affinity.
from paraflowo._core.psn cimport (
    PFO_PSN_MAX_PROBES, PFO_PSN_NO_QUEUE,
    pfo_psn_home, pfo_psn_next,
    PSNAllocator,
)

# -- flowlet scheduler, paper Eq. 1-2 (_core/scheduler.pxd) ------------------
# pfo_flowlet_t is the per-flow state the caller keeps (16 bytes, the numpy
# twin paraflowo.FLOWLET_DTYPE); FlowletScheduler.c_observe / c_t_avg /
# c_t_switch / c_start / c_steer / c_steer_burst; pfo_sched_steer is c_steer
# inlined, split into pfo_sched_due (would it switch now?) and
# pfo_sched_switch (switch now).
from paraflowo._core.scheduler cimport (
    PFO_SCHED_ALPHA_SHIFT, PFO_SCHED_MAX_DELAY, PFO_SCHED_NEVER,
    pfo_flowlet_t, pfo_sched_due, pfo_sched_switch, pfo_sched_steer,
    FlowletScheduler,
)

# -- the Breakup ingress pipeline, paper 4.1 (_core/breakup.pxd) -------------
# Breakup.c_ingress / c_ingress_detected / c_ingress_burst fill one
# pfo_meta_t per packet (core, queue, PSN, flags) and cannot fail;
# c_feedback(core, ingress_ns, egress_ns) reports a packet done at egress;
# c_find returns a live para_flow entry (pfo_para_entry_t) or NULL.  The
# detector, allocator and scheduler belong to the Breakup: do not drive
# them from elsewhere at the same time.
from paraflowo._core.breakup cimport (
    PFO_BRK_MAX_PROBES, PFO_BRK_CHUNK, PFO_BRK_EMPTY,
    pfo_para_entry_t,
    Breakup,
)

# -- network functions of the live dataplane (_core/nf.pxd) -----------------
# pfo_nf_fn is the per-packet function type; an NF subclass sets fn and
# state in its __cinit__ (see the thread contract in docs/cython.rst and
# _core/nf.pxd).  The packet's metadata is pfo_meta_t (above) and its
# PFO_FLAG_DROP bit marks a drop.
from paraflowo._core.nf cimport (
    PFO_NF_MAX_WORKERS,
    pfo_nf_fn, pfo_nf_forward,
    NF,
)

# -- steering policies (_core/policies.pxd) ----------------------------------
# Policy.c_steer / c_ready / c_complete / c_next_deadline / c_poll / c_flush /
# c_held: one interface for every policy (RSS, spray, RSS++-style,
# ParaFlowO); a policy belongs to one thread while it runs.
from paraflowo._core.policies cimport (
    Policy, RSSPolicy, SprayPolicy, RSSPPPolicy, ParaFlowOPolicy,
)

# -- the live dataplane's counters (_core/dataplane.pxd) ---------------------
from paraflowo._core.dataplane cimport pfo_dp_counters_t

# -- the simulator's event loop (_core/sim.pxd) ------------------------------
# SimCore.c_run(times, flows, expd, n, tr_core, tr_finish) and c_flush();
# pfo_sim_hist_index maps a latency to its histogram bucket.
from paraflowo._core.sim cimport (
    PFO_SIM_RSS, PFO_SIM_SPRAY, PFO_SIM_RSSPP, PFO_SIM_PARAFLOWO,
    PFO_SIM_HIST_LEN, pfo_sim_hist_index,
    SimCore,
)

# -- capture reading (_core/pcapread.pxd) ------------------------------------
# pfo_pcap_walk / pfo_pcapng_walk find the records of a pcap / pcapng image
# in memory; pfo_pcap_keys decodes each frame's flow key.
from paraflowo._core.pcapread cimport (
    PFO_PCAP_KEY_LEN, PFO_PCAPNG_END, PFO_PCAPNG_FULL, PFO_PCAPNG_BLOCK,
    pfo_pcap_walk, pfo_pcap_keys, pfo_pcapng_walk,
)
