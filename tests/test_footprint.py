"""One source of truth for reorder memory: the planner asks the components.

``sram_fit`` / ``max_window`` / ``max_queues`` on the ``"footprint"`` basis and
``paraflowo memory`` report exactly the bytes ``ReorderQueues`` allocates
(``pfo_robq_footprint``), and the footprints follow their documented formulas.
"""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraflowo import PacketStore, ReorderBuffer, ReorderQueues
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
    fit = sram_fit(p, q, w, "footprint")
    assert fit.required_bytes == ReorderQueues.footprint(q, w) == ReorderQueues(q, w, None).nbytes
    assert fit.fits == (ReorderQueues.footprint(q, w) <= p.sram_bytes)
    mw = max_window(p, q, "footprint")
    assert ReorderQueues.footprint(q, mw) <= p.sram_bytes < ReorderQueues.footprint(q, 2 * mw)
    mq = max_queues(p, w, "footprint")
    assert ReorderQueues.footprint(mq, w) <= p.sram_bytes < ReorderQueues.footprint(mq + 1, w)
    # a window that is not a power of two is sized as the buffers size it
    assert sram_required(q, w - 1 if w > 2 else 1, "footprint") == fit.required_bytes


def test_memory_command_reports_the_footprint(capsys):
    assert main(["memory", "--queues", "16", "--window", "256", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    for r in data["sram_fit"]:
        sram = get_profile(r["profile"]).sram_bytes
        assert r["footprint_bytes"] == ReorderQueues.footprint(16, 256) == 134144
        assert r["footprint_fits"] == (134144 <= sram)
        mw, mq = r["footprint_max_window"], r["footprint_max_queues"]
        assert ReorderQueues.footprint(16, mw) <= sram < ReorderQueues.footprint(16, 2 * mw)
        assert ReorderQueues.footprint(mq, 256) <= sram < ReorderQueues.footprint(mq + 1, 256)
    assert main(["memory", "--queues", "16", "--window", "256"]) == 0
    assert "exact footprint" in capsys.readouterr().out


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
