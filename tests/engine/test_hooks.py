"""CheckpointHook (save_best rules, max_keep_ckpts, last_checkpoint), hook priorities and the logger line."""
from __future__ import annotations

import logging
import os
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from seglab.engine.hooks import CheckpointHook, Hook, LoggerHook, get_priority
from seglab.engine.logging import MessageHub
from seglab.registry import HOOKS, ConfigError


class FakeRunner:
    """Just enough of a Runner for the checkpoint and logger hooks."""

    def __init__(self, work_dir: str, max_iters: int = 10) -> None:
        self.work_dir = work_dir
        self.iter = 0
        self.epoch = 0
        self.max_iters = max_iters
        self.message_hub = MessageHub()
        self.logger = logging.getLogger("seglab.test")
        self.saved: list[tuple[str, dict]] = []
        self.visualizer = None
        self.model = nn.Linear(1, 1)
        self.optim_wrapper = SimpleNamespace(get_lr=lambda: {"lr": [0.01]}, last_grad_norm=None)

    def save_checkpoint(self, out_dir, filename, save_optimizer=True, save_param_scheduler=True, meta=None,
                        update_pointer=True):
        path = osp.join(out_dir, filename)
        torch.save({"iter": self.iter}, path)
        if update_pointer:
            with open(osp.join(self.work_dir, "last_checkpoint"), "w") as f:
                f.write(path)
        self.saved.append((filename, dict(meta or {})))
        return path


def _train(hook, runner, n):
    hook.before_train(runner)
    for i in range(n):
        hook.after_train_iter(runner, i)
        runner.iter += 1


def test_periodic_max_keep_and_pointer(tmp_path):
    runner = FakeRunner(str(tmp_path), max_iters=10)
    hook = CheckpointHook(interval=3, by_epoch=False, max_keep_ckpts=2)
    _train(hook, runner, 10)
    assert [name for name, _ in runner.saved] == ["iter_3.pth", "iter_6.pth", "iter_9.pth", "iter_10.pth"]
    assert runner.saved[0][1]["iter"] == 3  # the completed count, not the 0-based index
    assert sorted(os.listdir(tmp_path)) == ["iter_10.pth", "iter_9.pth", "last_checkpoint"]
    assert (tmp_path / "last_checkpoint").read_text() == str(tmp_path / "iter_10.pth")


def test_no_save_last():
    runner = FakeRunner("/nonexistent", max_iters=5)
    hook = CheckpointHook(interval=2, by_epoch=False, save_last=False, out_dir=None)
    runner.save_checkpoint = lambda *a, **k: runner.saved.append((a[1], {}))
    hook.out_dir = "/tmp"
    hook.before_train = lambda r: None
    _train(hook, runner, 5)
    assert [n for n, _ in runner.saved] == ["iter_2.pth", "iter_4.pth"]


@pytest.mark.parametrize("key,rule,scores,best_iter", [
    ("mIoU", None, [50.0, 70.0, 60.0, 70.0], 2),  # inferred 'greater'; ties do not replace
    ("mIoU", "less", [50.0, 70.0, 40.0, 45.0], 3),
    ("loss", None, [3.0, 2.0, 2.5, 1.0], 4),  # inferred 'less'
])
def test_save_best_follows_rule(tmp_path, key, rule, scores, best_iter):
    runner = FakeRunner(str(tmp_path))
    hook = CheckpointHook(interval=-1, by_epoch=False, save_best=key, rule=rule)
    hook.before_train(runner)
    for i, score in enumerate(scores, 1):
        runner.iter = i
        hook.after_val_epoch(runner, {key: score, "aAcc": 1.0})
    bests = [f for f in os.listdir(tmp_path) if f.startswith("best_")]
    assert bests == [f"best_{key}_iter_{best_iter}.pth"]  # the previous best file was removed
    assert runner.message_hub.get_info(f"best_score_{key}") == scores[best_iter - 1]
    assert not (tmp_path / "last_checkpoint").exists()  # best checkpoints do not move the pointer


def test_save_best_auto_and_errors(tmp_path):
    runner = FakeRunner(str(tmp_path))
    hook = CheckpointHook(interval=-1, by_epoch=False, save_best="auto")
    hook.before_train(runner)
    runner.iter = 4
    hook.after_val_epoch(runner, {"aAcc": 80.0, "mIoU": 40.0})
    assert os.listdir(tmp_path) == ["best_aAcc_iter_4.pth"]  # auto = the first metric
    hook = CheckpointHook(save_best="mDice", by_epoch=False)
    hook.before_train(runner)
    with pytest.raises(ConfigError, match="mDice"):
        hook.after_val_epoch(runner, {"mIoU": 1.0})
    with pytest.raises(ConfigError, match="rule"):
        CheckpointHook(save_best="mIoU", rule="bigger")


def test_priorities_and_registry_errors():
    assert get_priority("VERY_HIGH") == 10 and get_priority("VERY_LOW") == 90 and get_priority(42) == 42
    with pytest.raises(ConfigError):
        get_priority("SOMETIMES")
    with pytest.raises(ConfigError, match="intervall"):
        HOOKS.build(dict(type="CheckpointHook", intervall=5))


def test_runner_orders_hooks_by_priority(tmp_path):
    from seglab.engine.runner import Runner

    calls = []

    class Mark(Hook):
        def __init__(self, name):
            self.name = name

        def before_run(self, runner):
            calls.append(self.name)

    runner = Runner.from_cfg(dict(model=nn.Linear(1, 1), work_dir=str(tmp_path), default_hooks=dict(
        timer=None, logger=None, param_scheduler=None, checkpoint=None, sampler_seed=None)), device="cpu")
    runner.register_hook(Mark("low"), "LOW")
    runner.register_hook(Mark("high"), "HIGH")
    runner.register_hook(Mark("normal"))
    runner.register_hook(Mark("high2"), 30)
    runner.call_hook("before_run")
    assert calls == ["high", "high2", "normal", "low"]


def test_runner_provides_everything_the_hook_protocol_names(tmp_path):
    from seglab.engine.hooks.protocol import RunnerLike
    from seglab.engine.runner import Runner

    names = set(RunnerLike.__annotations__) | {n for n in vars(RunnerLike) if not n.startswith("_")}
    assert {"iter", "max_iters", "model", "optim_wrapper", "save_checkpoint", "message_hub", "rank"} <= names
    runner = Runner.from_cfg(dict(model=nn.Linear(1, 1), work_dir=str(tmp_path)), device="cpu")
    assert sorted(n for n in names if n not in dir(runner)) == []


def test_logger_line_averages_over_interval(tmp_path, caplog):
    runner = FakeRunner(str(tmp_path), max_iters=4)
    hook = LoggerHook(interval=2)
    hook.before_train(runner)
    runner.logger.propagate = True
    with caplog.at_level(logging.INFO, logger="seglab.test"):
        for i, loss in enumerate([4.0, 2.0, 1.0, 3.0]):
            hook.after_train_iter(runner, i, outputs={"loss": loss})
            runner.iter += 1
    lines = [r.getMessage() for r in caplog.records if "Iter(train)" in r.getMessage()]
    assert len(lines) == 2
    assert "Iter(train) [2/4]" in lines[0] and "loss: 3.0000" in lines[0] and "lr: 1.0000e-02" in lines[0]
    assert "[4/4]" in lines[1] and "loss: 2.0000" in lines[1]


def test_logger_eta_leaves_out_the_first_iteration(tmp_path, caplog, monkeypatch):
    """A first iteration of 100 s (compiling) and 1 s after it: the ETA counts 1 s per iteration left."""
    from seglab.engine.hooks import logger_hook

    now = [0.0]
    monkeypatch.setattr(logger_hook.time, "perf_counter", lambda: now[0])
    runner = FakeRunner(str(tmp_path), max_iters=10)
    hook = LoggerHook(interval=1)
    runner.logger.propagate = True
    with caplog.at_level(logging.INFO, logger="seglab.test"):
        hook.before_train(runner)
        for end in (100.0, 101.0, 102.0, 103.0):  # the clock at the end of iterations 1-4
            now[0] = end
            hook.after_train_iter(runner, runner.iter, outputs={"loss": 1.0})
            runner.iter += 1
    etas = [r.getMessage().split("eta: ")[1].split()[0] for r in caplog.records if "Iter(train)" in r.getMessage()]
    # iteration 1: only the first iteration is known (100 s each, 9 left); then 1 s per iteration after it
    assert etas == ["0:15:00", "0:00:08", "0:00:07", "0:00:06"]
