"""ReorderQueues against DPDK's rte_reorder on the vSwitch egress shape (issue 17).

    python benchmarks/reorder_vs_dpdk.py [--rounds 3] [--records 10000000]

The shape: 64 or 1,024 reorder queues of 1,024 slots, records interleaved
round-robin, each queue seeing the same displaced PSN sequence (10 % displaced
by up to 64: ``bench_reorder.displaced``), bursts of 32, a drain of every queue
the burst touched after each burst.  Both sides run the same loop from the
same sequence file: the anchor takes an mbuf off its stack per record, writes
its sequence number and inserts it, then drains the touched queues, the
drained mbufs going back on the stack; ours (``bench_reorder``'s
``run_queues_seq``) writes each record into one reused burst array and makes
one ``pfo_robq_process`` per burst, into the start of one reused output array.
``--streamed`` also times ``test_reorder_queues_vswitch_c``'s loop, which reads
the records from a prebuilt array (320 MB for 10 M records) and keeps every
output (80 MB): memory traffic the anchor's loop does not have (its mbufs and
outputs stay in cache).
The anchor is ``anchors/dpdk_reorder.c`` against the installed DPDK (Debian's
``dpdk-dev``; built here with ``cc`` and ``pkg-config libdpdk``, into a
temporary directory).  Both report the minimum thread CPU time of 3 repeats,
without building the queues; the two run in turn for ``--rounds`` rounds and
the table shows each side's best round and their ratio.  DPDK's EAL runs with
``--no-pci --no-telemetry -l 0``, on hugepages when 512 MB of them are free
and hugetlbfs is mounted (DPDK's usual setup: ``ReorderQueues`` asks for
transparent huge pages for its block too), else with ``--no-huge``; the first
line printed says which.  It needs root on most systems.
Without DPDK the script says so and exits with status 2.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

import bench_reorder as br  # noqa: E402
from cybuild import build_cython_module  # noqa: E402

from paraflowo import ReorderQueues  # noqa: E402

EAL = ["--no-huge", "--no-pci", "--no-telemetry", "-l", "0", "-m", "512", "--log-level=1"]


def eal_args() -> tuple[list[str], str]:
    """DPDK's EAL flags: on hugepages (as a vSwitch runs it) when 512 MB of them are
    free and hugetlbfs is mounted, else ``--no-huge`` (4 KiB pages); and a label."""
    try:
        info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        free = int(info["HugePages_Free"]) * int(info["Hugepagesize"].split()[0]) * 1024
        mounted = "hugetlbfs" in Path("/proc/mounts").read_text()
    except (OSError, KeyError, ValueError):
        free, mounted = 0, False
    if mounted and free >= 512 << 20:
        return [a for a in EAL if a != "--no-huge"], "DPDK on hugepages"
    return EAL, ("DPDK on 4 KiB pages (--no-huge; for its usual setup reserve 512 MB of "
                 "hugepages: echo 256 > /proc/sys/vm/nr_hugepages, hugetlbfs mounted)")


def build_anchor(tmp: Path) -> Path:
    """Compile anchors/dpdk_reorder.c against the installed DPDK; return the program."""
    if shutil.which("pkg-config") is None or subprocess.run(
            ["pkg-config", "--exists", "libdpdk"]).returncode != 0:
        raise SystemExit("DPDK is not installed (pkg-config libdpdk): "
                         "apt-get install dpdk-dev pkg-config, then run again")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libdpdk"], check=True,
                           capture_output=True, text=True).stdout.split()
    exe = tmp / "dpdk_reorder"
    # rte_reorder_seqn is experimental API in DPDK 22.11
    subprocess.run(["cc", "-O3", "-DALLOW_EXPERIMENTAL_API",
                    str(HERE / "anchors" / "dpdk_reorder.c"), "-o", str(exe), *flags],
                   check=True)
    return exe


def run_dpdk(exe: Path, seqfile: Path, q: int, n: int, eal: list[str] = EAL) -> float:
    out = subprocess.run([str(exe), *eal, "--", str(seqfile), str(q), str(n)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"the DPDK anchor failed ({out.returncode}): {out.stderr.strip()}")
    fields = dict(kv.split("=") for kv in out.stdout.split())
    if int(fields["refused"]) != 0:
        raise SystemExit(f"the DPDK anchor refused packets: {out.stdout.strip()}")
    return float(fields["mpps"])


def run_ours(cmod, q: int, seq: np.ndarray, repeats: int = 3) -> float:
    """The anchor's loop with ReorderQueues: records built per burst from seq."""
    out = np.empty(q * br.WINDOW + br.BURST, np.uint64)
    n = len(seq) * q
    best = float("inf")
    for _ in range(repeats):
        rq = ReorderQueues(q, br.WINDOW, br.TIMEOUT_NS * q)
        t0 = time.thread_time()
        k = cmod.run_queues_seq(rq, seq, q, out, br.BURST, br.NS_PER_BURST)
        best = min(best, time.thread_time() - t0)
        flushed, _ = rq.flush()
        assert k + len(flushed) == n
    return n / best / 1e6


def run_ours_streamed(cmod, q: int, n: int, repeats: int = 3) -> float:
    """``test_reorder_queues_vswitch_c``'s loop: n prebuilt records, outputs kept."""
    meta = br._queues_meta(n, q, 0.0)
    out = np.empty(len(meta) + q * br.WINDOW, np.uint64)
    raw = meta.view(np.uint8).reshape(-1)
    best = float("inf")
    for _ in range(repeats):
        rq = ReorderQueues(q, br.WINDOW, br.TIMEOUT_NS * q)
        t0 = time.thread_time()
        k = cmod.run_queues(rq, raw, out, br.BURST, br.NS_PER_BURST)
        best = min(best, time.thread_time() - t0)
        flushed, _ = rq.flush()
        assert k + len(flushed) == len(meta)
    return len(meta) / best / 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--records", type=int, default=10_000_000)
    ap.add_argument("--queues", default="64,1024")
    ap.add_argument("--streamed", action="store_true",
                    help="also time test_reorder_queues_vswitch_c's loop (prebuilt records)")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        exe = build_anchor(tmp)
        eal, label = eal_args()
        print(label, flush=True)
        (tmp / "cmod").mkdir()
        cmod = build_cython_module(tmp / "cmod", "bench_reorder_c", br.CSOURCE)
        best: dict[tuple[str, int], float] = {}
        for q in (int(x) for x in a.queues.split(",")):
            seqfile = tmp / f"seq{q}.bin"
            seq = br.displaced(a.records // q).astype(np.uint32)
            seq.tofile(seqfile)
            for r in range(a.rounds):
                dp = run_dpdk(exe, seqfile, q, a.records, eal)
                ours = run_ours(cmod, q, seq)
                line = (f"round {r + 1}, {q:>5} queues: DPDK {dp:6.1f} Mpps, "
                        f"ParaFlowO {ours:6.1f} Mpps ({ours / dp:.2f}x)")
                if a.streamed:
                    line += f"; streamed {run_ours_streamed(cmod, q, a.records):6.1f} Mpps"
                print(line, flush=True)
                best[("dpdk", q)] = max(best.get(("dpdk", q), 0.0), dp)
                best[("ours", q)] = max(best.get(("ours", q), 0.0), ours)
        for q in sorted({k[1] for k in best}):
            print(f"best of rounds, {q:>5} queues: DPDK {best['dpdk', q]:6.1f}, "
                  f"ParaFlowO {best['ours', q]:6.1f} Mpps: "
                  f"{best['ours', q] / best['dpdk', q]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
