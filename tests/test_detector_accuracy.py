"""Count-Min accuracy on a seeded Zipf(1.1) stream, plain vs conservative, vs exact counts.

The issue's figure is for 20M packets over 1M flows; that takes a few seconds
of sketching but ~10 s to generate, so the test suite runs a 2M / 100k stream
by default.  Full size::

    PARAFLOWO_ACCURACY_PACKETS=20000000 PARAFLOWO_ACCURACY_FLOWS=1000000 \\
        pytest tests/test_detector_accuracy.py -s

or run this file as a script (``python tests/test_detector_accuracy.py``),
which prints the full-size table.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from paraflowo import CountMinDetector, ThresholdDetector

N_PACKETS = int(os.environ.get("PARAFLOWO_ACCURACY_PACKETS", 2_000_000))
N_FLOWS = int(os.environ.get("PARAFLOWO_ACCURACY_FLOWS", 100_000))
SEED = 20240611
THRESHOLD_FRACTION = 1e-4          # an elephant carries >= 0.01 % of the packets


def zipf_stream(n_packets: int, n_flows: int, seed: int = SEED, s: float = 1.1):
    """Keys of a Zipf(s) stream over n_flows flows, and each flow's key.

    Flow of rank i (1-based) has probability proportional to i**-s; its key is
    a random 64-bit value (distinct), so the sketch sees unstructured keys.
    Returns ``(stream_keys, flow_keys, ranks)``, ``ranks`` 0-based per packet.
    """
    rng = np.random.default_rng(seed)
    weights = np.arange(1, n_flows + 1, dtype=np.float64) ** -s
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    ranks = np.searchsorted(cdf, rng.random(n_packets), side="right")
    np.minimum(ranks, n_flows - 1, out=ranks)
    flow_keys = rng.integers(0, 2**64 - 1, n_flows, dtype=np.uint64, endpoint=True)
    while len(np.unique(flow_keys)) != n_flows:          # practically never
        flow_keys = rng.integers(0, 2**64 - 1, n_flows, dtype=np.uint64, endpoint=True)
    return flow_keys[ranks], flow_keys, ranks


def accuracy(det, stream, flow_keys, ranks, threshold):
    """Feed the stream (one window); compare estimates with the exact counts."""
    det.update_burst(stream, 0)
    true = np.bincount(ranks, minlength=len(flow_keys)).astype(np.int64)
    est = det.estimate_burst(flow_keys).astype(np.int64)
    is_el, flagged = true >= threshold, est >= threshold
    tp = int(np.sum(is_el & flagged))
    top = np.argsort(true)[::-1][:100]
    return {
        "elephants": int(is_el.sum()),
        "flagged": int(flagged.sum()),
        "recall": tp / max(int(is_el.sum()), 1),
        "precision": tp / max(int(flagged.sum()), 1),
        "mre_top100": float(np.mean(np.abs(est[top] - true[top]) / true[top])),
        "max_over": int(np.max(est - true)),
        "over": est - true,
        "true": true,
        "est": est,
    }


def configurations(threshold):
    """Detectors compared, each pair of Count-Min at the same memory."""
    out = []
    for width, depth in ((4096, 4), (65536, 4)):
        for cons in (False, True):
            name = f"count-min {width}x{depth} {'conservative' if cons else 'plain'}"
            out.append((name, CountMinDetector(width, depth, threshold, 2**62,
                                               conservative=cons, seed=1)))
    # the same memory with one independently drawn hash per row
    for cons in (False, True):
        name = f"count-min 4096x4 {'conservative' if cons else 'plain'} independent"
        out.append((name, CountMinDetector(4096, 4, threshold, 2**62, conservative=cons,
                                           seed=1, row_hashes="independent")))
    # Space-Saving at about the memory of the 4096x4 sketch (128 KiB, two windows)
    out.append(("space-saving 1024 flows", ThresholdDetector(1024, threshold, 2**62)))
    return out


@pytest.fixture(scope="module")
def stream():
    return zipf_stream(N_PACKETS, N_FLOWS)


@pytest.fixture(scope="module")
def results(stream):
    keys, flow_keys, ranks = stream
    threshold = max(1, int(THRESHOLD_FRACTION * N_PACKETS))
    res = {name: accuracy(det, keys, flow_keys, ranks, threshold)
           for name, det in configurations(threshold)}
    print(format_table(res, threshold))
    return res, threshold


def format_table(res, threshold):
    lines = [f"Zipf(1.1), {N_PACKETS:,} packets, {N_FLOWS:,} flows, seed {SEED}, "
             f"threshold {threshold} packets ({THRESHOLD_FRACTION:.2%} of the stream)",
             f"{'detector':42} {'elephants':>9} {'flagged':>8} {'recall':>7} "
             f"{'precision':>9} {'MRE top100':>10}"]
    for name, r in res.items():
        lines.append(f"{name:42} {r['elephants']:9d} {r['flagged']:8d} {r['recall']:7.4f} "
                     f"{r['precision']:9.4f} {r['mre_top100']:10.2e}")
    return "\n".join(lines)


def test_count_min_finds_every_elephant(results):
    res, _ = results
    for name, r in res.items():
        if name.startswith("count-min"):
            assert r["recall"] == 1.0, name            # never underestimates
            assert r["over"].min() >= 0, name


def test_conservative_beats_plain_at_same_memory(results):
    res, _ = results
    for plain_name in ("count-min 4096x4 plain", "count-min 65536x4 plain",
                       "count-min 4096x4 plain independent"):
        plain, cons = res[plain_name], res[plain_name.replace("plain", "conservative")]
        assert cons["precision"] >= plain["precision"]
        assert cons["mre_top100"] <= plain["mre_top100"]
        assert np.all(cons["over"] <= plain["over"])
    assert res["count-min 65536x4 conservative"]["precision"] > 0.9
    assert res["count-min 65536x4 conservative"]["mre_top100"] < 0.01


def test_error_bound_holds(results):
    # estimate - true <= eps * N for all but about delta of the flows
    res, _ = results
    for name, width in (("count-min 4096x4 plain", 4096), ("count-min 65536x4 plain", 65536),
                        ("count-min 4096x4 plain independent", 4096)):
        over = res[name]["over"]
        bad = np.mean(over > math.e / width * N_PACKETS)
        assert bad <= math.exp(-4), (name, bad)


def test_space_saving_finds_big_elephants(results):
    res, threshold = results
    r = res["space-saving 1024 flows"]
    # every flow above N / capacity is tracked (flagged: N / 1024 > threshold);
    # below that, at this memory, Space-Saving cannot tell elephants apart
    big = r["true"] > N_PACKETS / 1024
    assert big.sum() > 50
    assert np.all(r["est"][big] >= r["true"][big])
    assert r["mre_top100"] < 0.01


if __name__ == "__main__":
    N_PACKETS = int(os.environ.get("PARAFLOWO_ACCURACY_PACKETS", 20_000_000))
    N_FLOWS = int(os.environ.get("PARAFLOWO_ACCURACY_FLOWS", 1_000_000))
    keys, flow_keys, ranks = zipf_stream(N_PACKETS, N_FLOWS)
    threshold = max(1, int(THRESHOLD_FRACTION * N_PACKETS))
    res = {name: accuracy(det, keys, flow_keys, ranks, threshold)
           for name, det in configurations(threshold)}
    print(format_table(res, threshold))
