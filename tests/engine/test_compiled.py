"""compile=...: torch.compile of the forward in init_model and the runner, its eager fallback with one warning, copies."""
from __future__ import annotations

import copy
import logging

import pytest
import torch
from _engine_tiny import make_data, write_config
from torch import nn

from seglab.apis import init_model
from seglab.config import Config
from seglab.engine import Runner
from seglab.engine.compiled import CompiledForward, compile_forward
from seglab.registry import ConfigError


@pytest.fixture()
def cfg_path(tmp_path, single_thread):
    data = make_data(str(tmp_path / "data"), n_train=4, n_val=2)
    return write_config(str(tmp_path / "c.py"), data, str(tmp_path / "w"), iters=2, batch=2)


class Scale(nn.Module):
    """y = w * x; a non-positive input is the model's own error."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(2.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (x <= 0).any():
            raise ValueError("Scale: inputs must be positive")
        return self.w * x


def _broken_compile(calls: list):
    def fake_compile(fn, **kwargs):
        def compiled(*args, **kw):
            calls.append(1)
            raise RuntimeError("InductorError: no C++ compiler found\nlong traceback of the compiler")
        return compiled
    return fake_compile


def test_compile_failure_falls_back_to_eager_once_with_a_warning(monkeypatch, caplog):
    calls = []
    monkeypatch.setattr(torch, "compile", _broken_compile(calls))
    model = compile_forward(Scale())
    with caplog.at_level(logging.WARNING, logger="seglab"):
        assert model(torch.tensor([1.5])).item() == 3.0  # the eager forward's answer
        assert model(torch.tensor([2.0])).item() == 4.0
    assert calls == [1]  # compiling is not retried after it failed
    assert model.forward.failure == "RuntimeError: InductorError: no C++ compiler found"
    warned = [r.getMessage() for r in caplog.records if "torch.compile failed" in r.getMessage()]
    assert warned == ["torch.compile failed (RuntimeError: InductorError: no C++ compiler found); running the eager "
                      "model from now on (compile=False in the config, or compile=dict(backend=...), avoids this)"]


def test_a_model_error_propagates_as_itself(monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: fn)  # the "compiled" forward raises what eager does
    model = compile_forward(Scale())
    with pytest.raises(ValueError, match="inputs must be positive") as info:
        model(torch.tensor([-1.0]))
    assert info.value.__context__ is None  # not reported "during handling" of a compiler error
    assert model.forward.failure is None  # and compiling stays on
    assert model(torch.tensor([1.0])).item() == 2.0


def test_deep_copies_run_their_own_weights(monkeypatch):
    """An EMA copy of a compiled model must not call the original's compiled forward."""
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: fn)
    model = compile_forward(Scale())
    twin = copy.deepcopy(model)
    with torch.no_grad():
        twin.w.fill_(5.0)
    assert isinstance(twin.forward, CompiledForward) and twin.forward.eager.__self__ is twin
    assert twin(torch.tensor([1.0])).item() == 5.0 and model(torch.tensor([1.0])).item() == 2.0


def test_init_model_compiles_with_dynamo_and_keeps_the_numbers(cfg_path):
    torch.manual_seed(0)
    plain = init_model(cfg_path, device="cpu")
    compiled = init_model(cfg_path, device="cpu", compile=dict(backend="eager"))  # Dynamo, no code generation
    compiled.load_state_dict(plain.state_dict())
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        expected, out = plain(x, mode="tensor"), compiled(x, mode="tensor")
    assert isinstance(compiled.forward, CompiledForward) and compiled.forward.failure is None
    assert torch.equal(out, expected)


def test_init_model_compiles_with_inductor(cfg_path):
    """compile=True is Inductor: C++ code generated and built for this CPU (~20 s here)."""
    torch.manual_seed(0)
    plain = init_model(cfg_path, device="cpu")
    compiled = init_model(cfg_path, device="cpu", cfg_options=dict(compile=True))  # from the config key
    compiled.load_state_dict(plain.state_dict())
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        expected, out = plain(x, mode="tensor"), compiled(x, mode="tensor")
    assert compiled.forward.failure is None  # really compiled, not the fallback
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)


def test_init_model_channels_last_and_bad_values(cfg_path):
    model = init_model(cfg_path, device="cpu", cfg_options=dict(channels_last=True))
    weight = model.backbone.stem[0].weight
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    assert not init_model(cfg_path, device="cpu").backbone.stem[0].weight.is_contiguous(
        memory_format=torch.channels_last)
    with pytest.raises(ConfigError, match="channels_last must be True or False"):
        init_model(cfg_path, device="cpu", cfg_options=dict(channels_last="yes"))
    with pytest.raises(ConfigError, match="did you mean 'mode'"):
        init_model(cfg_path, device="cpu", compile=dict(mod="max-autotune"))


def test_training_goes_on_eagerly_when_compiling_fails(cfg_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(torch, "compile", _broken_compile(calls))
    cfg = Config.fromfile(cfg_path)
    cfg.compile = True
    runner = Runner.from_cfg(cfg, device="cpu")
    runner.train()
    assert runner.iter == 2 and calls == [1]
    assert "WARNING - torch.compile failed (RuntimeError: InductorError" in capsys.readouterr().out  # the run's log


def test_training_compiled_with_aot_autograd_matches_eager(cfg_path):
    """compile=dict(backend='aot_eager'): Dynamo and AOT autograd trace forward and backward; same weights after
    two SGD iterations as the eager run."""
    weights = []
    for compile in (False, dict(backend="aot_eager")):
        cfg = Config.fromfile(cfg_path)
        cfg.compile = compile
        cfg.randomness = dict(seed=3)
        runner = Runner.from_cfg(cfg, device="cpu")
        runner.train()
        if compile:
            assert isinstance(runner.model.forward, CompiledForward) and runner.model.forward.failure is None
        weights.append(runner.model.state_dict())
    for key, value in weights[0].items():
        torch.testing.assert_close(weights[1][key], value, rtol=1e-5, atol=1e-6, msg=key)


def test_inductor_options_are_its_config_while_compiling(monkeypatch):
    """compile=dict(options=dict(freezing=True)): Inductor reads freezing from its global config, so the call that
    compiles runs with it set (and only that call)."""
    import torch._inductor.config as inductor_config

    seen = []

    def fake_compile(fn, **kwargs):
        def compiled(*args, **kw):
            seen.append(inductor_config.freezing)
            return fn(*args, **kw)
        return compiled

    monkeypatch.setattr(torch, "compile", fake_compile)
    model = compile_forward(Scale(), dict(options=dict(freezing=True)))
    assert model(torch.tensor([1.0])).item() == 2.0
    assert seen == [True] and inductor_config.freezing is False
    plain = compile_forward(Scale(), dict(backend="eager", options=dict(freezing=True)))  # not Inductor: untouched
    plain(torch.tensor([1.0]))
    assert seen == [True, False]


def test_seglab_train_and_test_compile_from_cfg_options(cfg_path, tmp_path, monkeypatch, capsys):
    """`seglab train/test ... --cfg-options compile=True`: a failing compile warns and both commands finish eagerly."""
    from seglab.cli import main

    calls = []
    monkeypatch.setattr(torch, "compile", _broken_compile(calls))
    work = str(tmp_path / "run")
    assert main(["train", cfg_path, "--work-dir", work, "--device", "cpu", "--cfg-options", "compile=True"]) == 0
    assert calls == [1] and "WARNING - torch.compile failed (RuntimeError: InductorError" in capsys.readouterr().out
    ckpt = str(tmp_path / "run" / "iter_2.pth")
    assert main(["test", cfg_path, ckpt, "--work-dir", work, "--device", "cpu", "--cfg-options", "compile=True"]) == 0
    out = capsys.readouterr().out
    assert calls == [1, 1] and "torch.compile failed" in out and "mIoU" in out
