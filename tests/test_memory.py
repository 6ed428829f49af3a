"""Eq. 3: the paper's worked examples and the documented errors."""

import re
import numpy as np
import pytest

from paraflowo import META_SIZE, reorder_memory
from paraflowo.memory import PAPER_META_BYTES


def test_paper_example_500_bytes():
    m = reorder_memory(256, 0.10, 500, meta_bytes=PAPER_META_BYTES)
    assert m.full_bytes == pytest.approx(12800.0)          # 12.5 KiB
    assert round(m.full_bytes / 1024, 1) == 12.5
    assert m.meta_bytes == pytest.approx(1638.4)           # 1.6 KiB
    assert round(m.meta_bytes / 1024, 1) == 1.6
    assert round(100 * m.saving, 1) == 87.2


def test_paper_example_1500_bytes_saves_over_95_7_percent():
    m = reorder_memory(256, 0.10, 1500, meta_bytes=PAPER_META_BYTES)
    assert m.saving > 0.957
    assert m.saving == pytest.approx(1 - 64 / 1500)


def test_default_metadata_size_is_this_librarys_record():
    m = reorder_memory(256, 0.10, 500)
    assert m.meta_bytes == pytest.approx(256 * 0.10 * META_SIZE)
    assert m.saving == pytest.approx(1 - META_SIZE / 500)


def test_zero_rate_holds_nothing():
    m = reorder_memory(1024, 0.0, 1500)
    assert (m.full_bytes, m.meta_bytes, m.saving) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize(
    "kwargs, exc, fragment",
    [
        (dict(window=0, ooo_rate=0.1, packet_bytes=500), ValueError, "window must be in [1, 2**53], got 0"),
        (dict(window=256, ooo_rate=1.5, packet_bytes=500), ValueError, "ooo_rate must be in [0, 1], got 1.5"),
        (dict(window=256, ooo_rate=-0.1, packet_bytes=500), ValueError, "got -0.1"),
        (dict(window=256, ooo_rate=0.1, packet_bytes=-1), ValueError, "packet_bytes must be > 0, got -1"),
        (dict(window=256, ooo_rate=0.1, packet_bytes=500, meta_bytes=0), ValueError, "meta_bytes must be > 0"),
        (dict(window=256, ooo_rate=float("nan"), packet_bytes=500), ValueError, "ooo_rate must be finite"),
        (dict(window="256", ooo_rate=0.1, packet_bytes=500), TypeError, "window must be an integer, got '256'"),
    ],
)
def test_bad_input(kwargs, exc, fragment):
    with pytest.raises(exc) as info:
        reorder_memory(**kwargs)
    assert fragment in str(info.value)


def test_reorder_memory_window_is_an_integer():
    from paraflowo import reorder_memory
    for bad, exc, msg in [
        (1.5, TypeError, "window must be an integer, got 1.5"),
        (256.0, TypeError, "window must be an integer, got 256.0"),
        (True, TypeError, "window must be an integer, got True"),
        ("256", TypeError, "window must be an integer, got '256'"),
        (0, ValueError, "window must be in [1, 2**53], got 0"),
        (2**600, ValueError, "window must be in [1, 2**53], got " + str(2**600)),
    ]:
        with pytest.raises(exc, match="^" + re.escape(msg) + "$"):
            reorder_memory(bad, 0.1, 500)
    assert reorder_memory(np.int64(256), 0.1, 500, 64) == reorder_memory(256, 0.1, 500, 64)
    assert reorder_memory(1, 0, 1).saving == 0.0
