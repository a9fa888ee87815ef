"""bench_models.py's --isolate, --retain-heap and --clock reach the timing helpers (MMSeg is not needed for this)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))  # the script's sibling modules
import bench_models  # noqa: E402
import bench_timing  # noqa: E402

from seglab.engine import allocator  # noqa: E402


@pytest.fixture()
def applied(monkeypatch):
    """Calls of retain_freed_memory (replaced: this test process keeps glibc's defaults)."""
    calls = []
    monkeypatch.setattr(allocator, "retain_freed_memory", lambda: calls.append(1) or True)
    monkeypatch.setattr(bench_timing, "ISOLATE", None)
    monkeypatch.setattr(bench_timing, "CLOCK", bench_timing.CLOCK)
    return calls


def test_isolate_sets_up_each_library_in_its_own_process(applied):
    bench_models.configure_timing(bench_models.parse_args(["--isolate"]))
    assert applied == [] and bench_timing.ISOLATE is not None  # nothing in this process
    bench_timing.ISOLATE("mmseg")
    assert applied == []  # MMSeg's process keeps glibc's defaults
    bench_timing.ISOLATE("seglab"), bench_timing.ISOLATE("seglab_plain")
    assert applied == [1, 1]


def test_retain_heap_in_this_process_or_off(applied):
    bench_models.configure_timing(bench_models.parse_args([]))
    assert applied == [1] and bench_timing.ISOLATE is None
    bench_models.configure_timing(bench_models.parse_args(["--retain-heap", "off"]))
    assert applied == [1]
    bench_models.configure_timing(bench_models.parse_args(["--isolate", "--retain-heap", "off"]))
    bench_timing.ISOLATE("seglab")
    assert applied == [1]


def test_process_clock_and_cpu_only_options(applied):
    bench_models.configure_timing(bench_models.parse_args(["--clock", "process", "--retain-heap", "off"]))
    assert bench_timing.CLOCK is time.process_time
    for flags in (["--isolate"], ["--clock", "process"]):
        with pytest.raises(SystemExit, match="CPU"):
            bench_models.configure_timing(bench_models.parse_args(["--device", "cuda", *flags]))


def test_table_shares_column():
    """The Markdown row's share-of-peak cell: seglab's (or its fused=False timing's) share / MMSeg's."""
    row = {"share_of_peak": {"seglab": 0.612, "seglab_plain": 0.5, "mmseg": 0.333}}
    assert bench_models.shares(row) == "61% / 33%"
    assert bench_models.shares(row, "seglab_plain") == "50% / 33%"
    assert bench_models.shares({}) == ""


def test_seglab_inference_paths(monkeypatch):
    """--seglab-infer: plain is the model itself; default a copy with BN folded; compiled that copy with its
    forward compiled with Inductor's weight freezing; the model (later timed in training) stays as it was."""
    import torch
    from torch import nn

    import seglab.models
    from seglab.engine.compiled import CompiledForward, compile_forward

    sl = {"fuse_conv_bn": seglab.models.fuse_conv_bn, "winograd_conv": seglab.models.winograd_conv,
          "blocked_depthwise": seglab.models.blocked_depthwise, "compile_forward": compile_forward,
          "folded_pairs": seglab.models.folded_pairs}
    seen = []
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: seen.append(kwargs) or fn)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).eval()
    assert bench_models.inference_path(model, "plain", sl) is model and sl["folded_pairs"](model) == 0
    fast = bench_models.inference_path(model, "default", sl)
    assert fast is not model and sl["folded_pairs"](fast) == 1 and sl["folded_pairs"](model) == 0
    compiled = bench_models.inference_path(model, "compiled", sl)
    assert isinstance(compiled.forward, CompiledForward) and "forward" not in vars(model)
    assert seen == [dict(options=dict(freezing=True))] and sl["folded_pairs"](model) == 0
    x = torch.randn(1, 3, 8, 8)
    torch.testing.assert_close(compiled(x), model(x))
