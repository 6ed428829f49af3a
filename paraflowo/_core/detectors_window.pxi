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
