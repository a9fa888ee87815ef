"""EarlyStoppingHook: patience, min_delta, rule inference, thresholds, and a real run that stops early."""
from __future__ import annotations

import logging
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from seglab.engine.hooks import EarlyStoppingHook
from seglab.engine.hooks.early_stopping_hook import infer_rule
from seglab.registry import HOOKS, ConfigError


def fake_runner() -> SimpleNamespace:
    return SimpleNamespace(should_stop=False, logger=logging.getLogger("test"), resume_from=False)


def feed(hook: EarlyStoppingHook, values: list[float], key: str = "mIoU") -> int | None:
    """Validate with each value in turn; the 1-based index of the validation that stopped training."""
    runner = fake_runner()
    for i, value in enumerate(values, 1):
        hook.after_val_epoch(runner, {key: value, "aAcc": 0.0})
        if runner.should_stop:
            return i
    return None


def test_plateau_stops_after_exactly_patience_checks() -> None:
    # improves for 3 validations, then stays within min_delta of the best
    values = [10.0, 20.0, 30.0, 30.05, 29.0, 30.08, 30.0, 30.0, 30.0]
    assert feed(EarlyStoppingHook(monitor="mIoU", patience=3), values) == 3 + 3
    assert feed(EarlyStoppingHook(monitor="mIoU", patience=5), values) == 3 + 5
    hook = EarlyStoppingHook(monitor="mIoU", patience=3)
    feed(hook, values)
    assert hook.best_score == 30.0 and hook.wait_count == 3


def test_min_delta() -> None:
    values = [1.0, 1.5, 2.0, 2.5, 3.0]  # +0.5 per validation
    assert feed(EarlyStoppingHook(monitor="mIoU", min_delta=0.4, patience=1), values) is None
    assert feed(EarlyStoppingHook(monitor="mIoU", min_delta=0.6, patience=2), values) is None  # gains add up
    assert feed(EarlyStoppingHook(monitor="mIoU", min_delta=0.6, patience=2), [1.0, 1.5, 1.55, 1.59]) == 3
    # a gain of exactly min_delta still counts as an improvement (MMEngine compares strictly)
    assert feed(EarlyStoppingHook(monitor="mIoU", min_delta=0.5, patience=1), values) is None
    # an improvement resets the count
    assert feed(EarlyStoppingHook(monitor="mIoU", min_delta=0.1, patience=2), [5, 4, 6, 4, 4]) == 5


def test_less_rule_for_losses() -> None:
    hook = EarlyStoppingHook(monitor="val_loss", min_delta=0.1, patience=2)
    assert hook.rule == "less" and hook.best_score == math.inf
    assert feed(hook, [1.0, 0.5, 0.45, 0.3, 0.35, 0.21, 0.2], key="val_loss") == 6


@pytest.mark.parametrize(("name", "rule"), [("mIoU", "greater"), ("aAcc", "greater"), ("mDice", "greater"),
                                            ("val/mAcc", "greater"), ("loss", "less"), ("decode.loss_ce", "less"),
                                            ("MIOU", "greater")])
def test_rule_inference(name: str, rule: str) -> None:
    assert infer_rule(name) == rule
    assert EarlyStoppingHook(monitor=name).rule == rule


def test_rule_errors() -> None:
    with pytest.raises(ConfigError, match="rule="):
        EarlyStoppingHook(monitor="fwIoU_custom")
    assert EarlyStoppingHook(monitor="fwIoU_custom", rule="greater").rule == "greater"
    with pytest.raises(ConfigError, match="rule"):
        EarlyStoppingHook(monitor="mIoU", rule="max")


def test_stopping_threshold_and_non_finite() -> None:
    hook = EarlyStoppingHook(monitor="mIoU", stopping_threshold=50.0, patience=10)
    assert feed(hook, [10.0, 40.0, 50.0, 50.5, 60.0]) == 4  # must pass the threshold, not just reach it
    assert hook.best_score == 50.5
    assert feed(EarlyStoppingHook(monitor="mIoU"), [10.0, float("nan")]) == 2
    assert feed(EarlyStoppingHook(monitor="mIoU", check_finite=False), [10.0, float("nan")]) is None


def test_missing_monitor() -> None:
    runner = fake_runner()
    with pytest.warns(UserWarning, match="mIoU"):
        EarlyStoppingHook(monitor="mIoU").after_val_epoch(runner, {"aAcc": 1.0})
    assert not runner.should_stop
    with pytest.raises(ConfigError, match="aAcc"):
        EarlyStoppingHook(monitor="mIoU", strict=True).after_val_epoch(runner, {"aAcc": 1.0})


def test_state_survives_resume() -> None:
    hook = EarlyStoppingHook(monitor="mIoU", patience=3)
    feed(hook, [10.0, 5.0, 5.0])
    checkpoint: dict = {}
    hook.before_save_checkpoint(fake_runner(), checkpoint)
    resumed = EarlyStoppingHook(monitor="mIoU", patience=3)
    runner = fake_runner()
    runner.resume_from = True
    resumed.after_load_checkpoint(runner, checkpoint)
    assert (resumed.best_score, resumed.wait_count) == (10.0, 2)
    assert feed(resumed, [5.0]) == 1


def test_built_from_config() -> None:
    hook = HOOKS.build(dict(type="EarlyStoppingHook", monitor="mIoU", patience=2))
    assert isinstance(hook, EarlyStoppingHook) and hook.patience == 2 and hook.min_delta == 0.1


# ---- a real (tiny) training run ---------------------------------------------------------------------
class TinyModel(nn.Module):
    """y = w * x regression with the runner's train_step/val_step contract."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Linear(1, 1, bias=False)

    def train_step(self, data: torch.Tensor, optim_wrapper) -> dict:
        loss = ((self.w(data) - 2 * data) ** 2).mean()
        optim_wrapper.update_params(loss)
        return {"loss": loss.detach()}

    def val_step(self, data: torch.Tensor) -> list:
        return [self.w(data)]

    def test_step(self, data: torch.Tensor) -> list:
        return self.val_step(data)


class ScriptedMetric:
    """Reports the next value of a fixed mIoU sequence at every validation."""

    def __init__(self, values: list[float]) -> None:
        self.values = list(values)
        self.calls = 0
        self.dataset_meta = None

    def process(self, data_batch, data_samples) -> None:
        pass

    def evaluate(self, size: int) -> dict:
        value = self.values[min(self.calls, len(self.values) - 1)]
        self.calls += 1
        return {"mIoU": value}


def test_real_runner_stops_early(tmp_path) -> None:
    from seglab.engine.runner import Runner

    loader = DataLoader(torch.linspace(-1, 1, 8).reshape(8, 1), batch_size=2)
    metric = ScriptedMetric([10.0, 20.0, 20.05, 19.0, 20.0, 30.0, 40.0])
    runner = Runner.from_cfg(dict(
        model=TinyModel(), work_dir=str(tmp_path), train_dataloader=loader, val_dataloader=loader,
        train_cfg=dict(type="IterBasedTrainLoop", max_iters=100, val_interval=2), val_cfg=dict(),
        val_evaluator=metric, optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.01)),
        default_hooks=dict(checkpoint=None), custom_hooks=[dict(type="EarlyStoppingHook", monitor="mIoU", patience=3)],
    ), device="cpu")
    runner.train()
    # validations 1-2 improve, 3-5 do not: stop after the 5th validation, at iteration 5 * 2
    assert metric.calls == 5
    assert runner.iter == 10
    assert runner.should_stop
