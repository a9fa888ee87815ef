"""seglab demo --precision: 'auto' trains in bf16 autocast only on a CPU with bf16 instructions; the choice reaches autocast."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from seglab.cli import main


class _Stop(Exception):
    pass


@pytest.fixture
def captured(monkeypatch, tmp_path):
    """Run ``seglab demo`` up to Runner.from_cfg and keep the optim_wrapper config it gets."""
    from seglab.engine import Runner

    seen: dict = {}

    def from_cfg(cfg, device=None):
        seen["optim_wrapper"] = dict(cfg["optim_wrapper"])
        return SimpleNamespace(register_hook=lambda hook: None, train=lambda: (_ for _ in ()).throw(_Stop()))

    monkeypatch.setattr(Runner, "from_cfg", staticmethod(from_cfg))

    def run(*argv: str) -> dict:
        seen.clear()
        with pytest.raises(_Stop):
            main(["demo", "--threads", "1", "--work-dir", str(tmp_path / "w"), *argv])
        return seen["optim_wrapper"]
    return run


def _native_bf16(monkeypatch, native: bool) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)


def test_auto_is_bf16_on_a_cpu_with_bf16_instructions_only(monkeypatch, captured):
    _native_bf16(monkeypatch, True)
    wrapper = captured("--device", "cpu")
    assert wrapper["type"] == "AmpOptimWrapper" and wrapper["dtype"] == "bfloat16"
    assert wrapper["optimizer"]["type"] == "AdamW"  # the demo's optimizer is kept
    assert captured("--device", "cuda")["type"] == "OptimWrapper"  # a GPU trains the demo in fp32
    _native_bf16(monkeypatch, False)
    assert captured("--device", "cpu")["type"] == "OptimWrapper"  # emulated bf16 would be slower


def test_explicit_precision_wins_and_conflicts_fail(monkeypatch, captured):
    _native_bf16(monkeypatch, True)
    assert captured("--device", "cpu", "--precision", "fp32")["type"] == "OptimWrapper"
    _native_bf16(monkeypatch, False)
    assert captured("--device", "cpu", "--precision", "bf16")["dtype"] == "bfloat16"
    # a wrapper given with --cfg-options decides under 'auto' and conflicts with an explicit --precision
    assert captured("--cfg-options", "optim_wrapper.type=AmpOptimWrapper", "optim_wrapper.dtype=float16"
                    )["dtype"] == "float16"
    with pytest.raises(SystemExit, match="--precision fp32 needs the demo's OptimWrapper"):
        main(["demo", "--precision", "fp32", "--cfg-options", "optim_wrapper.type=AmpOptimWrapper"])


def test_bf16_reaches_autocast_in_the_training_step(monkeypatch, tmp_path):
    from seglab.engine import Runner

    seen = {}

    def train(runner):  # the real runner, stopped before its first iteration
        with runner.train_loop.optim_wrapper.optim_context(runner.model):
            seen["dtype"] = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None
        raise _Stop

    monkeypatch.setattr(Runner, "train", train)
    with pytest.raises(_Stop):
        main(["demo", "--threads", "1", "--device", "cpu", "--precision", "bf16", "--work-dir", str(tmp_path / "w"),
              "--data-root", str(tmp_path / "data")])
    assert seen["dtype"] == torch.bfloat16
