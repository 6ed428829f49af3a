"""Device profiles: the paper's Figure 6 and Figure 8 numbers, TOML, SRAM fit, calibration."""

import math
import time

import numpy as np
import pytest

import paraflowo
from paraflowo import META_SIZE, reorder_memory
from paraflowo.devices import (
    BUILTIN_PROFILES,
    CALIBRATED_OPERATIONS,
    ETHERNET_FRAMING_BYTES,
    MAX_QUEUES,
    MAX_WINDOW,
    PAPER_META_BYTES,
    QUEUE_OVERHEAD_BYTES,
    DeviceProfile,
    calibrate,
    cores_needed,
    dumps_profile,
    find_profile,
    get_profile,
    load_profile,
    loads_profile,
    max_queues,
    max_window,
    min_packet_bytes,
    mpps_to_gbps,
    project_throughput,
    save_profile,
    sram_fit,
    sram_required,
)

RISCV = get_profile("riscv-smartnic-256k")
X86 = get_profile("x86-vm")
NF = get_profile("production-nf")
DPU = get_profile("dpu-400g")


# ----------------------------------------------------------------- built-in profiles


def test_builtin_profiles_carry_the_papers_figures():
    for kib in (128, 256, 512):
        p = get_profile(f"riscv-smartnic-{kib}k")
        assert (p.reorder_mpps, p.forward_mpps, p.sram_bytes) == (4.07, 10.0, kib * 1024)
        assert "5.1" in p.notes and "5.3" in p.notes
    assert (X86.forward_mpps, X86.reorder_mpps) == (27.0, 11.0) and "5.1" in X86.notes
    assert NF.nf_mpps == 1.0 and "5.1" in NF.notes
    assert DPU.line_rate_gbps == 400.0 and "BlueField-3" in DPU.notes
    assert set(BUILTIN_PROFILES) == {"riscv-smartnic-128k", "riscv-smartnic-256k",
                                     "riscv-smartnic-512k", "x86-vm", "production-nf", "dpu-400g"}


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(ValueError) as info:
        get_profile("bluefield")
    msg = str(info.value)
    assert "unknown profile 'bluefield'" in msg
    assert all(name in msg for name in BUILTIN_PROFILES)


def test_top_level_reexports():
    assert paraflowo.DeviceProfile is DeviceProfile and paraflowo.calibrate is calibrate
    assert paraflowo.get_profile("x86-vm") == X86


def test_unknown_rate_is_a_clear_error():
    assert DPU.reorder_mpps is None
    with pytest.raises(ValueError, match="profile 'dpu-400g' has no reorder rate"):
        DPU.mpps("reorder")
    with pytest.raises(ValueError, match="operation must be one of forward, reorder, nf, detector, got 'x'"):
        RISCV.mpps("x")


def test_profiles_are_immutable_values():
    with pytest.raises(AttributeError):
        RISCV.cores = 4  # type: ignore[misc]
    assert DeviceProfile("a", 1, forward_mpps=2) == DeviceProfile("a", 1, forward_mpps=2.0)
    p = DeviceProfile("a", 1, forward_mpps=1.0, spread={"forward": (0.5, 1.0, 2.0)})
    with pytest.raises(TypeError):
        p.spread["forward"] = (1.0, 1.0, 1.0)  # type: ignore[index]


@pytest.mark.parametrize(
    "kwargs, exc, fragment",
    [
        (dict(name="", cores=1), ValueError, "name must be a non-empty string"),
        (dict(name=3, cores=1), TypeError, "name must be a string, got 3"),
        (dict(name="a", cores=0), ValueError, "cores must be in [1, 2**40], got 0"),
        (dict(name="a", cores=-2), ValueError, "got -2"),
        (dict(name="a", cores=2.0), TypeError, "cores must be an integer, got 2.0"),
        (dict(name="a", cores=1, reorder_mpps=0), ValueError, "reorder_mpps must be > 0, got 0"),
        (dict(name="a", cores=1, forward_mpps=-1.5), ValueError, "forward_mpps must be > 0, got -1.5"),
        (dict(name="a", cores=1, nf_mpps=float("inf")), ValueError, "nf_mpps must be finite"),
        (dict(name="a", cores=1, detector_mpps="3"), TypeError, "detector_mpps must be a number, got '3'"),
        (dict(name="a", cores=1, forward_mpps=True), TypeError, "forward_mpps must be a number, got True"),
        (dict(name="a", cores=1, sram_bytes=0), ValueError, "sram_bytes must be in [1, ...], got 0"),
        (dict(name="a", cores=1, line_rate_gbps=-400), ValueError, "line_rate_gbps must be > 0"),
        (dict(name="a", cores=1, notes=None), TypeError, "notes must be a string"),
        (dict(name="a", cores=1, spread={"fly": (1, 2, 3)}), ValueError, "spread keys must be operations"),
        (dict(name="a", cores=1, spread={"forward": (3, 2, 1)}), ValueError, "min <= median <= max"),
        (dict(name="a", cores=1, spread={"forward": (1, 2)}), ValueError, "must be [min, median, max]"),
    ],
)
def test_bad_profile_fields(kwargs, exc, fragment):
    with pytest.raises(exc) as info:
        DeviceProfile(**kwargs)
    assert fragment in str(info.value)


# ----------------------------------------------------------------- TOML


@pytest.mark.parametrize("name", sorted(BUILTIN_PROFILES))
def test_toml_round_trip_of_every_builtin(name, tmp_path):
    p = BUILTIN_PROFILES[name]
    assert loads_profile(dumps_profile(p)) == p
    path = tmp_path / f"{name}.toml"
    save_profile(p, path)
    assert load_profile(path) == p
    assert find_profile(str(path)) == p and find_profile(path) == p and find_profile(name) == p


def test_toml_round_trip_with_spread_and_awkward_notes():
    p = DeviceProfile("wéird \"name\"", 3, forward_mpps=1e-05, reorder_mpps=1234567.125,
                      notes='back\\slash\nnew line\ttab \x00 nul \x7f del "q"',
                      spread={"forward": (5e-06, 1e-05, 2.5e-05)})
    text = dumps_profile(p)
    assert loads_profile(text) == p
    assert "[spread]" in text


def test_toml_written_by_hand_loads():
    p = loads_profile('name = "nic"\ncores = 8\nreorder_mpps = 5   # integers are fine for rates\n'
                      'sram_bytes = 1_048_576\n')
    assert (p.name, p.cores, p.reorder_mpps, p.sram_bytes) == ("nic", 8, 5.0, 1 << 20)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ('name = "x\ncores = 4\n', "src.toml: malformed TOML: "),
        ('cores = 4\n', "src.toml: missing key 'name'"),
        ('name = "x"\n', "src.toml: missing key 'cores'"),
        ('name = "x"\ncores = 4\nspeed = 3\n', "src.toml: unknown key 'speed' (known keys: name, cores"),
        ('name = "x"\ncores = 0\n', "src.toml: bad value for key 'cores': cores must be in [1, 2**40], got 0"),
        ('name = "x"\ncores = 4.5\n', "bad value for key 'cores': cores must be an integer, got 4.5"),
        ('name = "x"\ncores = 4\nreorder_mpps = -1\n', "bad value for key 'reorder_mpps': reorder_mpps must be > 0"),
        ('name = "x"\ncores = 4\nreorder_mpps = "fast"\n', "reorder_mpps must be a number, got 'fast'"),
        ('name = "x"\ncores = 4\nreorder_mpps = nan\n', "reorder_mpps must be finite"),
        ('name = "x"\ncores = 4\nsram_bytes = 1.5e5\n', "bad value for key 'sram_bytes'"),
        ('name = "x"\ncores = 4\nspread = 3\n', "bad value for key 'spread': must be a table"),
        ('name = "x"\ncores = 4\n[spread]\nforward = [1, 2]\n', "spread['forward'] must be [min, median, max]"),
        ('name = 5\ncores = 4\n', "bad value for key 'name': name must be a string, got 5"),
    ],
)
def test_malformed_toml_names_the_key_and_why(text, fragment):
    with pytest.raises(ValueError) as info:
        loads_profile(text, source="src.toml")
    assert fragment in str(info.value)


def test_missing_file_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="cannot read profile file .*nope.toml.*No such file"):
        load_profile(tmp_path / "nope.toml")
    with pytest.raises(ValueError, match="cannot read profile file"):
        find_profile(str(tmp_path / "nope.toml"))


def test_unreadable_file_message_names_the_path_as_given(tmp_path):
    # Path() would drop the trailing "/": the message must carry the argument itself
    # (found by the fuzz test with path='\xf3/')
    given = str(tmp_path / "nope.toml") + "/"
    with pytest.raises(ValueError) as info:
        load_profile(given)
    assert repr(given) in str(info.value)


# ----------------------------------------------------------------- throughput (Figure 6)


def test_gbps_formula_and_framing_option():
    assert mpps_to_gbps(1.0, 1000) == 8.0
    assert mpps_to_gbps(1.0, 1000, ETHERNET_FRAMING_BYTES) == pytest.approx(8.192)
    assert ETHERNET_FRAMING_BYTES == 24
    # minimum frames at 10 GbE line rate, 14.88 Mpps: 64 B with FCS is 60 B as software
    # sees it (packet_bytes excludes the FCS), + 24 B framing = 84 B on the wire
    assert mpps_to_gbps(14.880952, 60, ETHERNET_FRAMING_BYTES) == pytest.approx(10.0, rel=1e-6)


def test_paper_16_riscv_cores_exceed_400_gbps_from_800_bytes():
    for size in (800, 900, 1024, 1500):
        t = project_throughput(RISCV, "reorder", size, cores=16)
        assert t.gbps > DPU.line_rate_gbps, size
    t = project_throughput(RISCV, "reorder", 800, cores=16)
    assert t.mpps == pytest.approx(65.12) and t.gbps == pytest.approx(416.768)
    # and not below: the crossing is at 768 B, fewer cores never get there at 1024 B
    assert project_throughput(RISCV, "reorder", 767, cores=16).gbps < 400
    assert min_packet_bytes(RISCV, "reorder", 400, cores=16) == 768
    assert project_throughput(RISCV, "reorder", 1024, cores=8).gbps < 400
    assert cores_needed(RISCV, "reorder", 400, 800) == 16


def test_paper_16_riscv_reorder_cores_on_par_with_64_core_vm_of_nfs():
    reorder = project_throughput(RISCV, "reorder", 64, cores=16).mpps
    nfs = project_throughput(NF, "nf", 64, cores=64).mpps
    assert round(reorder) == 65 and nfs == 64.0
    assert 1.0 <= reorder / nfs < 1.05        # on par, and reordering is not the bottleneck


def test_per_core_reordering_is_several_times_faster_than_an_nf():
    assert RISCV.reorder_mpps / NF.nf_mpps > 4 and X86.reorder_mpps / NF.nf_mpps > 10


def test_cores_needed_is_exact_at_the_boundary():
    # 10 Mpps * 1000 B * 8 = 80 Gbps a core: exactly 5 cores for 400 Gbps, 6 for a bit more
    assert cores_needed(RISCV, "forward", 400, 1000) == 5
    assert cores_needed(RISCV, "forward", 400.000001, 1000) == 6
    assert cores_needed(RISCV, "forward", 0.001, 1000) == 1
    # framing counts: 976 B + 24 B framing is 1000 B on the wire
    assert cores_needed(RISCV, "forward", 400, 976, ETHERNET_FRAMING_BYTES) == 5
    assert cores_needed(RISCV, "forward", 400, 976) == 6


def test_default_cores_is_the_profiles():
    assert project_throughput(X86, "forward", 64).cores == 64
    assert project_throughput(X86, "forward", 64).mpps == pytest.approx(27 * 64)


@pytest.mark.parametrize(
    "call, exc, fragment",
    [
        (lambda: project_throughput(RISCV, "reorder", 0), ValueError, "packet_bytes must be > 0, got 0"),
        (lambda: project_throughput(RISCV, "reorder", -64), ValueError, "packet_bytes must be > 0, got -64"),
        (lambda: project_throughput(RISCV, "reorder", 64, cores=0), ValueError, "cores must be in [1, ...], got 0"),
        (lambda: project_throughput(RISCV, "reorder", 64, framing_bytes=-1), ValueError, "framing_bytes must be in [0"),
        (lambda: project_throughput(RISCV, "nf", 64), ValueError, "has no nf rate"),
        (lambda: project_throughput("riscv", "reorder", 64), TypeError, "profile must be a DeviceProfile"),
        (lambda: cores_needed(RISCV, "reorder", 0, 64), ValueError, "line_rate_gbps must be > 0, got 0"),
        (lambda: cores_needed(RISCV, "reorder", -400, 64), ValueError, "line_rate_gbps must be > 0"),
        (lambda: mpps_to_gbps(-1, 64), ValueError, "mpps must be >= 0, got -1"),
        (lambda: min_packet_bytes(RISCV, "reorder", 400, cores=-1), ValueError, "cores must be in [1"),
    ],
)
def test_bad_throughput_input(call, exc, fragment):
    with pytest.raises(exc) as info:
        call()
    assert fragment in str(info.value)


# ----------------------------------------------------------------- memory (Figure 8, Eq. 3)


def test_eq3_worked_examples_through_the_memory_projection():
    # the paper's M = 64: 12.5 KB vs 1.6 KB, 87.2 %; 1500 B saves > 95.7 %
    m = reorder_memory(256, 0.10, 500, meta_bytes=PAPER_META_BYTES)
    assert (round(m.full_bytes / 1024, 1), round(m.meta_bytes / 1024, 1)) == (12.5, 1.6)
    assert round(100 * m.saving, 1) == 87.2
    assert reorder_memory(256, 0.10, 1500, meta_bytes=PAPER_META_BYTES).saving > 0.957
    # the expected-basis SRAM need is the same M_meta (plus per-queue state)
    assert sram_required(1, 256, "expected", ooo_rate=0.10, meta_bytes=64,
                         queue_overhead_bytes=0) == pytest.approx(1638.4)
    assert sram_required(4, 256, "expected", ooo_rate=0.10, meta_bytes=64) == pytest.approx(
        4 * (QUEUE_OVERHEAD_BYTES + 1638.4))
    # this library's 32-byte record halves it
    assert sram_required(1, 256, "expected", ooo_rate=0.10,
                         queue_overhead_bytes=0) == pytest.approx(819.2)


def test_worst_case_is_every_slot_of_every_queue():
    assert sram_required(16, 256, "worst") == 16 * (64 + 256 * 32) == 132096
    assert sram_required(16, 256, "worst", meta_bytes=64, queue_overhead_bytes=0) == 16 * 256 * 64
    assert META_SIZE == 32 and QUEUE_OVERHEAD_BYTES == 64


def test_sram_fit_boundaries_exactly_fits_and_one_byte_over():
    need = sram_required(16, 256, "worst")              # 132096
    exact = DeviceProfile("exact", 1, sram_bytes=need)
    short = DeviceProfile("short", 1, sram_bytes=need - 1)
    fit = sram_fit(exact, 16, 256, "worst")
    assert fit.fits and fit.headroom_bytes == 0 and fit.basis == "worst" and fit.ooo_rate is None
    miss = sram_fit(short, 16, 256, "worst")
    assert not miss.fits and miss.headroom_bytes == -1
    # one more slot or one more queue is one record / one queue over
    assert not sram_fit(exact, 16, 257, "worst").fits and not sram_fit(exact, 17, 256, "worst").fits
    assert max_queues(exact, 256, "worst") == 16 and max_queues(short, 256, "worst") == 15
    assert max_window(exact, 16, "worst") == 256 and max_window(short, 16, "worst") == 128
    assert max_window(exact, 16, "worst", power_of_two=False) == 256
    assert max_window(short, 16, "worst", power_of_two=False) == 255
    # an int byte count works as well as a profile
    assert sram_fit(need, 16, 256, "worst").fits and not sram_fit(need - 1, 16, 256, "worst").fits


def test_footprint_is_the_default_basis_and_its_boundaries():
    need = sram_required(16, 256)
    assert need == paraflowo.ReorderQueues.footprint(16, 256) == 134656
    fit = sram_fit(need, 16, 256)
    assert fit.basis == "footprint" and fit.fits and fit.headroom_bytes == 0
    assert not sram_fit(need - 1, 16, 256).fits
    assert max_queues(need, 256) == 16 and max_queues(need - 1, 256) == 15
    assert max_window(need, 16) == 256 and max_window(need - 1, 16) == 128
    # any window is sized as the buffers size it: up to the next power of two
    assert max_window(need, 16, power_of_two=False) == 256
    assert max_window(need - 1, 16, power_of_two=False) == 128


def test_expected_basis_boundaries():
    # 2 queues x (64 + 1024 * 0.25 * 32) = 2 * 8256 = 16512 bytes
    need = sram_required(2, 1024, "expected", ooo_rate=0.25)
    assert need == 16512
    assert sram_fit(16512, 2, 1024, "expected", ooo_rate=0.25).fits
    assert not sram_fit(16511, 2, 1024, "expected", ooo_rate=0.25).fits
    assert max_window(16512, 2, "expected", ooo_rate=0.25, power_of_two=False) == 1024
    assert max_window(16511, 2, "expected", ooo_rate=0.25, power_of_two=False) == 1023


def test_worst_case_slot_bytes_are_what_the_reorder_buffer_owns():
    # the worst-case basis counts META_SIZE (32) bytes per slot: exactly ReorderBuffer.nbytes
    for window in (2, 256, 4096):
        rb = paraflowo.ReorderBuffer(window, timeout_ns=None)
        assert sram_required(1, window, "worst", queue_overhead_bytes=0) == rb.nbytes


def test_riscv_smartnic_fits():
    small = get_profile("riscv-smartnic-128k")
    for basis in ("footprint", "worst"):
        assert not sram_fit(small, 16, 256, basis).fits
        assert sram_fit(get_profile("riscv-smartnic-256k"), 16, 256, basis).fits
        assert max_window(small, 16, basis) == 128 and max_queues(small, 256, basis) == 15
    assert sram_fit(small, 16, 256, "expected", ooo_rate=0.1).fits


def test_limits_when_nothing_or_everything_fits():
    assert max_window(10, 1, "worst") == 0 and max_queues(10, 1, "worst") == 0   # < 64 B of state
    # one slot fits (64 + 32 B) but a power-of-two window starts at 2 slots
    assert max_window(96, 1, "worst", power_of_two=False) == 1 and max_window(96, 1, "worst") == 0
    assert max_window(128, 1, "worst") == 2
    assert max_window(1 << 40, 1, "worst") == MAX_WINDOW
    assert max_queues(1 << 40, 1, "worst") == MAX_QUEUES
    # this library's queues: the smallest (1 queue of 2 slots) and the largest
    small = paraflowo.ReorderQueues.footprint(1, 2)
    assert max_window(small - 1, 1) == 0 and max_window(small, 1) == 2
    assert max_window(1 << 40, 1) == MAX_WINDOW and max_queues(1 << 40, 2) == MAX_QUEUES
    # nothing out of order: only the per-queue state counts
    assert max_window(64, 1, "expected", ooo_rate=0.0) == MAX_WINDOW


@pytest.mark.parametrize(
    "call, exc, fragment",
    [
        (lambda: sram_fit(RISCV, 0, 256), ValueError, "n_queues must be in [1, ...], got 0"),
        (lambda: sram_fit(RISCV, 4, -1), ValueError, "window must be in [1, ...], got -1"),
        (lambda: sram_fit(RISCV, 4, 256, meta_bytes=0), ValueError, "meta_bytes must be in [1, ...], got 0"),
        (lambda: sram_fit(RISCV, 4, 256, queue_overhead_bytes=-1), ValueError, "queue_overhead_bytes"),
        (lambda: sram_fit(RISCV, 4, 256, "expected"), ValueError, "ooo_rate is required"),
        (lambda: sram_fit(RISCV, 4, 256, "expected", ooo_rate=1.5), ValueError, "ooo_rate must be in [0, 1], got 1.5"),
        (lambda: sram_fit(RISCV, 4, 256, "expected", ooo_rate=-0.1), ValueError, "ooo_rate must be in [0, 1], got -0.1"),
        (lambda: sram_fit(RISCV, 4, 256, "best"), ValueError, "basis must be 'worst', 'expected' or 'footprint', got 'best'"),
        (lambda: sram_fit(X86, 4, 256), ValueError, "profile 'x86-vm' has no SRAM size"),
        (lambda: sram_fit(0, 4, 256), ValueError, "profile must be in [1, ...], got 0"),
        (lambda: max_window(RISCV, 0), ValueError, "n_queues must be in [1"),
        (lambda: max_queues(RISCV, 0), ValueError, "window must be in [1"),
        (lambda: sram_fit(RISCV, 4.0, 256), TypeError, "n_queues must be an integer, got 4.0"),
    ],
)
def test_bad_memory_input(call, exc, fragment):
    with pytest.raises(exc) as info:
        call()
    assert fragment in str(info.value)


# ----------------------------------------------------------------- calibration


def test_calibrate_with_a_tiny_budget_returns_positive_figures():
    t0 = time.perf_counter()
    host = calibrate(budget_s=0.05, repeats=3, name="ci-host")
    elapsed = time.perf_counter() - t0
    assert elapsed < 3.0
    assert host.name == "ci-host" and host.cores >= 1 and host.sram_bytes is None
    present = {"forward": True, "reorder": hasattr(paraflowo, "ReorderBuffer"),
               "detector": hasattr(paraflowo, "CountMinDetector")}
    for op in CALIBRATED_OPERATIONS:
        rate = getattr(host, f"{op}_mpps")
        assert (rate is not None) == present[op], op
        if rate is None:     # component not in this build: must be said, never faked
            assert op not in host.spread and "Not measured" in host.notes and op in host.notes
            continue
        lo, mid, hi = host.spread[op]
        assert 0 < lo <= mid <= hi and mid == rate and math.isfinite(hi)
    assert host.forward_mpps is not None and host.forward_mpps > 0
    assert "toeplitz_batch" in host.notes
    assert loads_profile(dumps_profile(host)) == host


@pytest.mark.parametrize(
    "kwargs, exc, fragment",
    [
        (dict(budget_s=0), ValueError, "budget_s must be > 0, got 0"),
        (dict(budget_s=-1), ValueError, "budget_s must be > 0"),
        (dict(budget_s=601), ValueError, "budget_s must be in (0, 600], got 601"),
        (dict(repeats=0), ValueError, "repeats must be in [1, 1000], got 0"),
        (dict(seed=-1), ValueError, "seed must be in [0, ...], got -1"),
        (dict(name=""), ValueError, "name must be a non-empty string"),
    ],
)
def test_bad_calibrate_input(kwargs, exc, fragment):
    with pytest.raises(exc) as info:
        calibrate(**kwargs)
    assert fragment in str(info.value)


class _ModelReorderBuffer:
    """Obviously-correct stand-in with the ReorderBuffer burst API (PSN-ordered release)."""

    def __init__(self, window, timeout_ns, lose_every=0):
        self.window, self.head, self.held, self.lose_every, self.seen = window, 0, {}, lose_every, 0

    def process_burst(self, psns, handles, now_ns, out):
        for p, h in zip(psns.tolist(), handles.tolist()):
            assert (p - self.head) % 2**32 < self.window and p not in self.held
            self.seen += 1
            if not (self.lose_every and self.seen % self.lose_every == 0):
                self.held[p] = h
        n = 0
        while n < len(out) and self.head in self.held:
            out[n] = self.held.pop(self.head)
            self.head = (self.head + 1) % 2**32
            n += 1
        return n


class _ModelDetector:
    def __init__(self, width, depth, threshold, window_ns, conservative, seed):
        self.last = 0

    def update_burst(self, keys, now_ns, out):
        assert keys.dtype == np.uint64 and now_ns >= self.last and len(out) == len(keys)
        self.last = now_ns
        out[:] = False
        return out


def _use_components(monkeypatch, reorder=None, detector=None):
    """Calibrate with these stand-ins (None: a build without the component)."""
    import paraflowo._core.detectors
    import paraflowo.reorder

    monkeypatch.setattr(paraflowo.reorder, "ReorderBuffer", reorder)
    monkeypatch.setattr(paraflowo._core.detectors, "CountMinDetector", detector)


def test_calibrate_measures_reorder_and_detector_when_present(monkeypatch):
    _use_components(monkeypatch, _ModelReorderBuffer, _ModelDetector)
    host = calibrate(budget_s=0.05, repeats=2)
    assert host.reorder_mpps > 0 and host.detector_mpps > 0
    assert set(host.spread) == {"forward", "reorder", "detector"}
    assert "Not measured" not in host.notes and "ReorderBuffer.process_burst" in host.notes


def test_calibrate_refuses_to_report_reordering_that_lost_packets(monkeypatch):
    lossy = lambda window, timeout_ns: _ModelReorderBuffer(window, timeout_ns, lose_every=1000)  # noqa: E731
    _use_components(monkeypatch, lossy, _ModelDetector)
    with pytest.raises(RuntimeError, match="reorder calibration released"):
        calibrate(budget_s=0.05, repeats=2)


def test_calibrate_says_what_this_build_could_not_measure(monkeypatch):
    _use_components(monkeypatch, None, None)
    host = calibrate(budget_s=0.05, repeats=2)
    assert host.forward_mpps > 0 and host.reorder_mpps is None and host.detector_mpps is None
    assert set(host.spread) == {"forward"}
    assert "Not measured (component not in this build): reorder, detector." in host.notes


@pytest.mark.parametrize("call, exc, msg", [
    (lambda: get_profile(True), TypeError, "name must be a string, got True"),
    (lambda: find_profile(5), TypeError, "spec must be a str or os.PathLike, got 5"),
    (lambda: load_profile(None), TypeError, "path must be a str or os.PathLike, got None"),
    (lambda: load_profile(""), ValueError, "path must be a non-empty path without NUL, got ''"),
    (lambda: save_profile(get_profile("x86-vm"), "a\x00b"), ValueError, "path must be a non-empty"),
    (lambda: save_profile("x86-vm", "p.toml"), TypeError, "profile must be a DeviceProfile, got str"),
    (lambda: sram_required(16, 256, ooo_rate=b"x"), TypeError, "ooo_rate must be a number, got b'x'"),
    (lambda: sram_fit(True, 4, 256), TypeError,
     "profile must be a DeviceProfile or an SRAM size in bytes (int), got True"),
])
def test_fuzz_found_argument_kinds(call, exc, msg):
    with pytest.raises(exc) as info:
        call()
    assert msg in str(info.value)
