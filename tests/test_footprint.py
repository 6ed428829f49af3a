"""One source of truth for memory: the planner asks the components.

``sram_fit`` / ``max_window`` / ``max_queues`` (whose default basis is the
component footprint) and ``paraflowo memory`` report exactly the bytes
``ReorderQueues`` allocates (``pfo_robq_footprint``), and every component's
footprint (reorder buffer and queues, packet store, Count-Min, Space-Saving)
follows its documented formula and equals what the built object holds.
"""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraflowo import (
    CountMinDetector,
    PacketStore,
    ReorderBuffer,
    ReorderQueues,
    SpaceSavingDetector,
)
from paraflowo.cli import main
from paraflowo.planning import get_profile, max_queues, max_window, sram_fit, sram_required


def _up64(n):
    return -(-n // 64) * 64


@settings(max_examples=40, deadline=None)
@given(q=st.integers(1, 300), wexp=st.integers(1, 12), bits=st.sampled_from([16, 32]))
def test_footprints_follow_their_formulas(q, wexp, bits):
    w = 1 << wexp
    assert ReorderBuffer.footprint(w, bits) == 32 * w == ReorderBuffer(w, None, bits).nbytes
    header = ReorderQueues.footprint(q, w, bits) - q * 32 * w
    assert header % 64 == 0 and header == _up64(30 * q) + _up64(q * (header - _up64(30 * q)) // q)
    assert 0 < header - _up64(30 * q) <= _up64(q * 256)         # q pfo_rob_t headers
    assert ReorderQueues(q, w, 10, bits).nbytes == ReorderQueues.footprint(q, w, bits)


def test_store_footprint_formula():
    for n, b in [(1, 1), (7, 1500), (4096, 2048)]:
        assert PacketStore.footprint(n, b) == _up64(9 * n) + _up64(n * b) == PacketStore(n, b).nbytes


@pytest.mark.parametrize("name,q,w", [("riscv-smartnic-128k", 16, 256), ("riscv-smartnic-256k", 16, 256),
                                      ("riscv-smartnic-512k", 3, 1024), ("riscv-smartnic-128k", 1, 2)])
def test_planner_uses_the_component_footprint(name, q, w):
    p = get_profile(name)
    fit = sram_fit(p, q, w)                     # the default basis
    assert fit.basis == "footprint" and fit == sram_fit(p, q, w, "footprint")
    assert max_window(p, q) == max_window(p, q, "footprint")
    assert max_queues(p, w) == max_queues(p, w, "footprint")
    assert fit.required_bytes == ReorderQueues.footprint(q, w) == ReorderQueues(q, w, None).nbytes
    assert fit.fits == (ReorderQueues.footprint(q, w) <= p.sram_bytes)
    mw = max_window(p, q)
    assert ReorderQueues.footprint(q, mw) <= p.sram_bytes < ReorderQueues.footprint(q, 2 * mw)
    mq = max_queues(p, w)
    assert ReorderQueues.footprint(mq, w) <= p.sram_bytes < ReorderQueues.footprint(mq + 1, w)
    # a window that is not a power of two is sized as the buffers size it
    assert sram_required(q, w - 1 if w > 2 else 1) == fit.required_bytes


@pytest.mark.parametrize("q,w", [(16, 256), (3, 1000), (1, 2)])
def test_memory_command_reports_the_footprint(capsys, q, w):
    # a window that is not a power of two is sized as the buffers size it
    pw = 1 << max(1, (w - 1).bit_length())
    built = ReorderQueues(q, pw, None).nbytes
    assert main(["memory", "--queues", str(q), "--window", str(w), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["sram_fit"]
    for r in data["sram_fit"]:
        p = get_profile(r["profile"])
        fit = sram_fit(p, q, w)
        assert r["footprint_bytes"] == fit.required_bytes == ReorderQueues.footprint(q, pw) == built
        assert r["footprint_fits"] == fit.fits == (built <= p.sram_bytes)
        mw, mq = r["footprint_max_window"], r["footprint_max_queues"]
        assert (mw, mq) == (max_window(p, q), max_queues(p, w))
        assert ReorderQueues.footprint(q, mw) <= p.sram_bytes < ReorderQueues.footprint(q, 2 * mw)
        assert ReorderQueues.footprint(mq, pw) <= p.sram_bytes < ReorderQueues.footprint(mq + 1, pw)
    if (q, w) == (16, 256):
        assert data["sram_fit"][0]["footprint_bytes"] == 134656
    assert main(["memory", "--queues", str(q), "--window", str(w)]) == 0
    out = capsys.readouterr().out
    # the footprint table comes first (the planner's default), the paper's model after
    assert 0 <= out.index("exact footprint") < out.index("paper's model")
    assert f"{built / 1024:.2f}" in out.split("exact footprint")[1].split("paper's model")[0]


@pytest.mark.parametrize("name", ["riscv-smartnic-128k", "riscv-smartnic-512k"])
def test_max_queues_is_the_largest_that_fits(name):
    p = get_profile(name)
    for w in (2, 256, 1024):
        mq = max_queues(p, w)
        assert ReorderQueues.footprint(mq, w) <= p.sram_bytes < ReorderQueues.footprint(mq + 1, w)


@settings(max_examples=40, deadline=None)
@given(wexp=st.integers(1, 14), depth=st.integers(1, 16), cap=st.integers(1, 5000))
def test_detector_footprints_follow_their_formulas(wexp, depth, cap):
    w = 1 << wexp
    cm = CountMinDetector.footprint(w, depth)
    assert cm == _up64(8 * w * depth)
    if wexp <= 10:
        assert CountMinDetector(w, depth, 5, 100).nbytes == cm
    slots = 2
    while slots < 2 * cap:
        slots *= 2
    ss = SpaceSavingDetector.footprint(cap)
    assert ss == 2 * _up64(32 * cap + 12 * slots) == SpaceSavingDetector(cap, 5, 100).nbytes
    assert 56 * cap <= ss / 2 <= 80 * cap + 64        # the docstring's 56 to 80 B per flow


def test_footprint_basis_errors():
    with pytest.raises(ValueError, match=r"^basis must be 'worst', 'expected' or 'footprint', got 'x'$"):
        sram_fit(1 << 20, 1, 2, "x")
    with pytest.raises(ValueError, match="at most"):
        sram_required(1, (1 << 24) + 1, "footprint")
    for bad in (0, 1 << 16):
        with pytest.raises(ValueError, match=r"^n_queues must be"):
            ReorderQueues.footprint(bad, 8)
    with pytest.raises(ValueError, match=r"^window must be"):
        ReorderBuffer.footprint(3)
    with pytest.raises(TypeError, match=r"^window must be"):
        ReorderBuffer.footprint(2.0)
    with pytest.raises(ValueError, match=r"^slot_bytes must be"):
        PacketStore.footprint(1, 0)
    with pytest.raises(ValueError, match=r"^width must be a power of two in \[2, 2\*\*24\], got 3$"):
        CountMinDetector.footprint(3, 4)
    with pytest.raises(TypeError, match=r"^width must be"):
        CountMinDetector.footprint(4.0, 4)
    with pytest.raises(ValueError, match=r"^depth must be in \[1, 16\], got 17$"):
        CountMinDetector.footprint(4, 17)
    with pytest.raises(ValueError, match=r"^capacity must be in \[1, 2\*\*24\], got 0$"):
        SpaceSavingDetector.footprint(0)
    with pytest.raises(TypeError, match=r"^capacity must be an integer, got '8'$"):
        SpaceSavingDetector.footprint("8")
