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
