"""benchmarks/bench_timing.py: interleaved repeats, in this process or one forked process per library."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))  # bench_models' sibling modules
import bench_timing  # noqa: E402


@pytest.fixture()
def isolated(monkeypatch):
    monkeypatch.setattr(bench_timing, "ISOLATE", None)
    bench_timing.use_isolated_processes(lambda name: os.environ.__setitem__("BENCH_PREPARED", name))
    yield
    monkeypatch.setattr(bench_timing, "ISOLATE", None)


def test_each_library_in_its_own_process_with_its_own_setup(isolated, tmp_path):
    """Every timed call of a name runs in one forked process of its own, set up by prepare(name) there only."""
    log = tmp_path / "log"

    def record(name):
        def go():
            with open(log, "a") as f:
                f.write(f"{name} {os.getpid()} {os.environ.get('BENCH_PREPARED')}\n")
        return go

    times = bench_timing.interleaved({"seglab": record("seglab"), "mmseg": record("mmseg")}, repeats=3, warmup=1,
                                     device="cpu")
    assert set(times) == {"seglab", "mmseg"} and all(len(t) == 3 and min(t) >= 0 for t in times.values())
    rows = [line.split() for line in log.read_text().splitlines()]
    # Warm-ups first (one process after the other), then the rotating order of interleaved().
    assert [r[0] for r in rows] == ["seglab", "mmseg", "seglab", "mmseg", "mmseg", "seglab", "seglab", "mmseg"]
    pids = {name: {r[1] for r in rows if r[0] == name} for name in ("seglab", "mmseg")}
    assert all(len(p) == 1 for p in pids.values()) and pids["seglab"] != pids["mmseg"]
    assert str(os.getpid()) not in pids["seglab"] | pids["mmseg"]
    assert all(r[2] == r[0] for r in rows)  # each process prepared for its own library
    assert "BENCH_PREPARED" not in os.environ  # and this one was not touched


def test_a_failure_in_a_process_is_raised_with_its_traceback(isolated):
    def boom():
        raise ValueError("bad step")

    with pytest.raises(RuntimeError, match="'mmseg' failed in its process(.|\n)*bad step"):
        bench_timing.interleaved({"seglab": lambda: None, "mmseg": boom}, repeats=2, warmup=1, device="cpu")


def test_in_process_by_default(tmp_path):
    pids = []
    times = bench_timing.interleaved({"a": lambda: pids.append(os.getpid())}, repeats=2, warmup=0, device="cpu")
    assert pids == [os.getpid()] * 2 and len(times["a"]) == 2


def test_matmul_peak_on_the_configured_clock(monkeypatch):
    """The peak is 2 n^3 over the best call, timed with the clock the rows use (here a fake one: 2 s per call)."""
    ticks = iter(range(0, 1000, 2))
    monkeypatch.setattr(bench_timing, "CLOCK", lambda: next(ticks))
    assert bench_timing.matmul_peak_flops("cpu", n=8, repeats=3) == 2 * 8**3 / 2


def test_peak_shares_of_every_timed_library():
    """share = FLOPs / median seconds / peak for each '<name>_ms' of a summarize() entry; gflop per call."""
    entry = bench_timing.summarize({"seglab": [0.5, 0.5, 0.6], "mmseg": [1.0, 1.0, 1.0], "seglab_plain": [2.0]})
    bench_timing.add_peak_shares(entry, flops=40e9, peak=100e9)
    assert entry["gflop"] == 40.0
    assert entry["share_of_peak"] == {"seglab": 0.8, "mmseg": 0.4, "seglab_plain": 0.2}


def test_reference_flops_forward_and_training_on_a_copy():
    """The reference count: forward FLOPs in tensor mode; forward + backward of the losses on a copy, the timed
    model's weights and gradients untouched. A 1x1 conv: 2*C_in*C_out*H*W*N forward, the same again for the
    weight gradient (the input needs none)."""
    import bench_pairs
    import torch
    from torch import nn

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1, bias=False)

        def forward(self, x, data_samples=None, mode="tensor"):
            out = self.conv(x)
            return out if mode == "tensor" else {"loss_seg": out.square().mean(), "acc_seg": out.mean()}

    model = Tiny()
    before = model.conv.weight.detach().clone()
    x = torch.randn(2, 3, 5, 6)
    forward = 2 * 3 * 4 * 5 * 6 * 2
    assert bench_pairs.reference_flops(model, x) == forward
    assert bench_pairs.reference_flops(model, x, data_samples=[]) == 2 * forward
    assert model.conv.weight.grad is None and torch.equal(model.conv.weight, before)
