"""seglab benchmark: the report's fields (no timing assertions)."""
from __future__ import annotations

import re

import pytest
import torch

from seglab.cli import main


def test_benchmark_prints_throughput_latency_and_memory(tmp_path, capsys):
    import _tiny_seg

    config, ckpt = _tiny_seg.write_setup(str(tmp_path))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["benchmark", config, ckpt, "--shape", "32", "48", "--iters", "3", "--warmup", "1",
                     "--batch-size", "2", "--channels-last", "--device", "cpu"]) == 0
    finally:
        torch.set_num_threads(before)
    out = capsys.readouterr().out
    assert "shape: 32x48  batch size: 2" in out and "channels_last: True  iters: 3" in out
    fields = {
        "images/s": r"images/s: (\d+\.\d+)",
        "p50": r"p50 (\d+\.\d+)",
        "p90": r"p90 (\d+\.\d+)",
        "memory": r"peak memory MiB: (\d+\.\d+) \(peak process RSS\)",
    }
    values = {k: float(re.search(p, out).group(1)) for k, p in fields.items()}
    assert all(v > 0 for v in values.values())
    assert values["p90"] >= values["p50"]


def test_benchmark_rejects_zero_iters(tmp_path):
    import _tiny_seg

    config, _ = _tiny_seg.write_setup(str(tmp_path))
    with pytest.raises(SystemExit, match="--iters must be >= 1"):
        main(["benchmark", config, "--iters", "0"])


def test_benchmark_falls_back_to_eager_when_compile_fails(tmp_path, capsys, monkeypatch):
    import _tiny_seg

    def broken_compile(fn, **kwargs):
        def call(*args, **kw):
            raise RuntimeError("no C++ compiler found\nmore detail")
        return call

    monkeypatch.setattr(torch, "compile", broken_compile)
    config, ckpt = _tiny_seg.write_setup(str(tmp_path))
    assert main(["benchmark", config, ckpt, "--shape", "32", "48", "--iters", "1", "--warmup", "0", "--compile",
                 "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert "torch.compile failed (RuntimeError: no C++ compiler found); timing the eager model" in captured.err
    assert "compile: False" in captured.out and "images/s:" in captured.out
