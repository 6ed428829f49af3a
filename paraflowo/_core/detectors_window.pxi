# Included by detectors.pyx.

# ---------------------------------------------------------------------------
# The two-window ageing rule, shared by every detector
# ---------------------------------------------------------------------------

cdef enum:
    _SAME_WINDOW = 0    # now_ns is in the current window: nothing to clear
    _NEXT_WINDOW = 1    # the next window: the current becomes the previous,
                        # the old previous is cleared and becomes the current
    _LATER_WINDOW = 2   # two or more windows ahead: both windows clear


cdef inline int _window_advance(pfo_ns_t* last_ns, uint64_t* win_end, pfo_ns_t window_ns,
                                pfo_ns_t now_ns) noexcept nogil:
    # Windows are aligned: [k*W, (k+1)*W), W = window_ns; the current one is
    # [win_end - W, win_end).  Records now_ns as the latest time seen, moves
    # win_end to the window holding now_ns and says what the caller clears.
    # A time before win_end (also a late one, before last_ns) counts in the
    # current window.
    cdef uint64_t start
    cdef int step
    if now_ns > last_ns[0]:
        last_ns[0] = now_ns
    if now_ns < 0 or <uint64_t>now_ns < win_end[0]:
        return _SAME_WINDOW
    start = <uint64_t>(now_ns - now_ns % window_ns)
    step = _NEXT_WINDOW if start == win_end[0] else _LATER_WINDOW
    win_end[0] = start + <uint64_t>window_ns
    return step


# ---------------------------------------------------------------------------
# One per-packet update, one compiled copy per call site
# ---------------------------------------------------------------------------
# Each detector's per-packet update (_cm_update, _ss_update) is written once
# and takes a _site_t* first argument (&_BY_CLASS, &_BY_HOST or &_BY_BURST): a
# fused type, so Cython compiles one copy per kind of caller -- the class's
# c_update, the host's pfo_*_update, the host's pfo_*_update_burst loop.
# Each copy then has one call site and the C compiler inlines it there, so
# the class's c_update is one function with no call inside (as it was before
# the host API existed: callgrind counted 14 more instructions per packet
# through a shared, out-of-line copy).
ctypedef struct _by_class_t:
    char unused
ctypedef struct _by_host_t:
    char unused
ctypedef struct _by_burst_t:
    char unused

ctypedef fused _site_t:
    _by_class_t
    _by_host_t
    _by_burst_t

cdef _by_class_t _BY_CLASS
cdef _by_host_t _BY_HOST
cdef _by_burst_t _BY_BURST
