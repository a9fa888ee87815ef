"""Run logging: plain lines off a terminal, a progress bar on one, environment, TensorBoard wiring."""
from __future__ import annotations

import importlib.util
import io
import os
import os.path as osp
import sys

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from seglab.engine import Runner
from seglab.registry import ConfigError


class Regression(nn.Module):
    """y = w * x with the runner's train_step contract (a runner test without a segmentor)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Linear(1, 1, bias=False)

    def train_step(self, data: torch.Tensor, optim_wrapper) -> dict:
        loss = ((self.w(data) - 2 * data) ** 2).mean()
        optim_wrapper.update_params(loss)
        return {"loss": loss.detach()}


def _runner(tmp_path, **kw) -> Runner:
    loader = DataLoader(torch.linspace(-1, 1, 8).reshape(8, 1), batch_size=2)
    return Runner.from_cfg(dict(model=Regression(), work_dir=str(tmp_path / "w"), train_dataloader=loader,
                                train_cfg=dict(by_epoch=False, max_iters=4),
                                optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.1)),
                                default_hooks=dict(logger=dict(type="LoggerHook", interval=2), checkpoint=None), **kw))


def test_plain_lines_when_not_a_tty(tmp_path, capsys):
    runner = _runner(tmp_path)
    runner.train()
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "Iter(train)" in line]
    assert len(lines) == 2 and "Iter(train) [2/4]" in lines[0] and "Iter(train) [4/4]" in lines[1]
    assert "eta: " in lines[0] and "loss: " in lines[0]
    assert "\r" not in out  # no progress bar redraws in files / pipes
    # The environment is logged at the start, to the console and the run's log file.
    with open(osp.join(runner.log_dir, f"{runner.timestamp}.log")) as f:
        log = f.read()
    for key in ("PyTorch: " + torch.__version__, "seglab: ", "NumPy: ", "OpenCV: ", "CUDA available: "):
        assert key in log and key in out


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_with_eta_on_a_tty(tmp_path, monkeypatch):
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stdout", tty)
    _runner(tmp_path).train()
    out = tty.getvalue()
    assert "\r[" in out and "eta " in out
    assert "1/4  25.0%" in out and "3/4  75.0%" in out and "4/4 100.0%" in out
    assert "Iter(train) [2/4]" in out  # interval lines still appear, between bar redraws
    assert out.index("\r\033[K") < out.index("Iter(train) [2/4]")  # the bar is erased before a log line


def test_tensorboard_backend(tmp_path):
    vis = dict(type="SegLocalVisualizer", vis_backends=[dict(type="LocalVisBackend"),
                                                         dict(type="TensorboardVisBackend")])
    if importlib.util.find_spec("tensorboard") is None:
        with pytest.raises(ConfigError, match=r"pip install 'seglab\[tensorboard\]'"):
            _runner(tmp_path, visualizer=vis)
        return
    runner = _runner(tmp_path, visualizer=vis)
    runner.train()
    runner.visualizer.close()
    files = os.listdir(osp.join(runner.log_dir, "vis_data"))
    assert any(f.startswith("events.out.tfevents") for f in files) and "scalars.json" in files


def test_top_level_vis_backends_win(tmp_path):
    """A child config's vis_backends replaces the list the inherited visualizer captured."""
    from seglab.config import Config

    path = tmp_path / "c.py"
    path.write_text("vis_backends = [dict(type='LocalVisBackend')]\n"
                    "visualizer = dict(type='SegLocalVisualizer', vis_backends=vis_backends)\n"
                    "vis_backends = [dict(type='LocalVisBackend', scalar_save_file='other.json')]\n"
                    f"work_dir = '{tmp_path / 'w'}'\nmodel = dict(type='Regression')\n")
    from seglab.engine.builders import resolve_cfg

    cfg = Config.fromfile(str(path))
    captured = resolve_cfg(cfg)  # what Runner.from_cfg builds the visualizer from
    assert captured["visualizer"]["vis_backends"][0]["scalar_save_file"] == "other.json"
