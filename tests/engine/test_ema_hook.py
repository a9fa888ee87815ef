"""EMAHook and the averaged models: closed-form averages, swapping around evaluation, checkpoints."""
from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from seglab.engine.averaged_model import ExponentialMovingAverage, MomentumAnnealingEMA, StochasticWeightAverage
from seglab.engine.checkpoint import load_state_dict_file, save_checkpoint
from seglab.engine.hooks import EMAHook, Hook
from seglab.registry import HOOKS, ConfigError


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))


def fake_runner(model: nn.Module, resume: bool = False) -> SimpleNamespace:
    return SimpleNamespace(model=model, iter=0, epoch=0, max_iters=100, max_epochs=1, resume_from=resume,
                           logger=logging.getLogger("test"))


def set_weights(model: nn.Module, value: float) -> None:
    """Every parameter := value; running_mean := 10 * value (a buffer, not averaged by default)."""
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(value)
        model[1].running_mean.fill_(10 * value)


def train(hook: EMAHook, runner: SimpleNamespace, values: list[float]) -> None:
    """Fake training: at iteration t the model's weights become values[t], then the hook runs."""
    for t, value in enumerate(values):
        runner.iter = t
        set_weights(runner.model, value)
        hook.after_train_iter(runner, batch_idx=t)


def closed_form(values: list[float], momentum: float, interval: int = 1) -> float:
    """The EMA after these updates: the first copies, then every interval-th one mixes in (1 - m) / m."""
    avg = values[0]
    for step, x in enumerate(values[1:], 1):
        if step % interval == 0:
            avg = (1 - momentum) * avg + momentum * x
    return avg


def ema_value(hook: EMAHook) -> torch.Tensor:
    return hook.ema_model.module[0].weight


@pytest.mark.parametrize("interval", [1, 3])
def test_average_matches_closed_form(interval: int) -> None:
    model = make_model()
    hook = EMAHook(momentum=0.1, interval=interval)
    runner = fake_runner(model)
    hook.before_run(runner)
    values = [float(v) for v in range(1, 11)]
    train(hook, runner, values)
    m, n = 0.1, len(values)
    if interval == 1:  # sum form: (1-m)^(n-1) x_0 + sum_k m (1-m)^(n-1-k) x_k
        expected = (1 - m) ** (n - 1) * values[0] + sum(m * (1 - m) ** (n - 1 - k) * values[k] for k in range(1, n))
        assert closed_form(values, m) == pytest.approx(expected, rel=1e-12)
    expected = closed_form(values, m, interval)
    for p in hook.ema_model.module.parameters():
        torch.testing.assert_close(p, torch.full_like(p, expected), rtol=1e-6, atol=0)
        assert not p.requires_grad
    # buffers follow the model (update_buffers=False)
    assert torch.equal(hook.ema_model.module[1].running_mean, model[1].running_mean)
    assert int(hook.ema_model.steps) == n


def test_update_buffers_averages_running_stats() -> None:
    model = make_model()
    hook = EMAHook(momentum=0.5, update_buffers=True)
    runner = fake_runner(model)
    hook.before_run(runner)
    train(hook, runner, [1.0, 2.0, 4.0])
    expected = torch.full((3,), 10 * closed_form([1.0, 2.0, 4.0], 0.5))
    torch.testing.assert_close(hook.ema_model.module[1].running_mean, expected)
    assert hook.ema_model.module[1].num_batches_tracked == model[1].num_batches_tracked  # integers are copied


def test_begin_iter_mirrors_until_start() -> None:
    model = make_model()
    hook = EMAHook(momentum=0.5, begin_iter=3)
    runner = fake_runner(model)
    hook.before_run(runner)
    train(hook, runner, [1.0, 2.0])  # iterations 0, 1: not started, the copy follows the model
    assert torch.all(ema_value(hook) == 2.0) and int(hook.ema_model.steps) == 0
    for t, v in [(2, 4.0), (3, 8.0)]:  # started at iteration 2 (iter + 1 >= begin_iter): first update copies
        runner.iter = t
        set_weights(model, v)
        hook.after_train_iter(runner, batch_idx=t)
    assert torch.all(ema_value(hook) == 0.5 * 4.0 + 0.5 * 8.0)


def test_other_averages() -> None:
    src = nn.Linear(1, 1, bias=False)
    swa, anneal = StochasticWeightAverage(src), MomentumAnnealingEMA(src, momentum=0.01, gamma=2)
    seen = [1.0, 2.0, 6.0]
    for v in seen:
        with torch.no_grad():
            src.weight.fill_(v)
        swa.update_parameters(src)
        anneal.update_parameters(src)
    assert swa.module.weight.item() == pytest.approx(sum(seen) / 3)
    # momenta max(0.01, 2 / (2 + steps)) for steps 1, 2: 2/3, 1/2
    a = 1.0 + 2 / 3 * (2.0 - 1.0)
    assert anneal.module.weight.item() == pytest.approx(a + 0.5 * (6.0 - a))


def test_swap_around_validation_and_test() -> None:
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    hook = EMAHook(momentum=0.5)
    runner = fake_runner(model)
    hook.before_run(runner)
    train(hook, runner, [1.0, 3.0])  # average 2.0, model 3.0
    params_before = list(model.parameters())
    for before, after in [("before_val_epoch", "after_val_epoch"), ("before_test_epoch", "after_test_epoch")]:
        getattr(hook, before)(runner)
        assert all(torch.all(p == 2.0) for p in model.parameters())  # evaluated with the average
        assert all(torch.all(p == 3.0) for p in hook.ema_model.module.parameters())
        getattr(hook, after)(runner, metrics={})
        assert all(torch.all(p == 3.0) for p in model.parameters())
        assert all(torch.all(p == 2.0) for p in hook.ema_model.module.parameters())
    # in-place swap: the optimizer still holds the model's tensors
    assert all(a is b for a, b in zip(params_before, model.parameters(), strict=True))
    assert all(a is b for a, b in zip(optimizer.param_groups[0]["params"], model.parameters(), strict=True))


def test_checkpoint_round_trip(tmp_path) -> None:
    model = make_model()
    hook = EMAHook(momentum=0.5)
    runner = fake_runner(model)
    hook.before_run(runner)
    train(hook, runner, [1.0, 3.0])  # average 2.0, model 3.0
    checkpoint = {"state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()}}
    hook.before_save_checkpoint(runner, checkpoint)
    # state_dict holds the average (for deployment), ema_state_dict the raw weights, in MMEngine's layout
    assert torch.all(checkpoint["state_dict"]["0.weight"] == 2.0)
    assert torch.all(checkpoint["ema_state_dict"]["module.0.weight"] == 3.0)
    assert set(checkpoint["ema_state_dict"]) == {"steps"} | {f"module.{k}" for k in model.state_dict()}
    path = tmp_path / "ckpt.pth"
    save_checkpoint(checkpoint, path)
    loaded = load_state_dict_file(str(path))  # weights_only load

    # resume: the runner loads state_dict (the average) first, then the hook restores both
    model2 = make_model()
    hook2 = EMAHook(momentum=0.5)
    runner2 = fake_runner(model2, resume=True)
    model2.load_state_dict(loaded["state_dict"])
    hook2.after_load_checkpoint(runner2, loaded)
    hook2.before_run(runner2)  # after a load: keeps the restored average
    assert all(torch.all(p == 3.0) for p in model2.parameters())
    assert torch.all(ema_value(hook2) == 2.0) and int(hook2.ema_model.steps) == 2
    runner2.iter = 2
    set_weights(model2, 5.0)
    hook2.after_train_iter(runner2, batch_idx=2)
    assert torch.all(ema_value(hook2) == 3.5)  # continues the same average

    # load_from (not resuming): the average starts from the deployed (averaged) weights
    model3 = make_model()
    hook3 = EMAHook(momentum=0.5)
    runner3 = fake_runner(model3)
    hook3.before_run(runner3)
    hook3.after_load_checkpoint(runner3, load_state_dict_file(str(path)))
    assert torch.all(ema_value(hook3) == 2.0)


def test_config_and_errors() -> None:
    hook = HOOKS.build(dict(type="EMAHook", ema_type="ExponentialMovingAverage", momentum=0.001, interval=2))
    hook.before_run(fake_runner(make_model()))
    assert isinstance(hook.ema_model, ExponentialMovingAverage)
    assert (hook.ema_model.momentum, hook.ema_model.interval) == (0.001, 2)
    with pytest.raises(ConfigError, match="not both"):
        EMAHook(begin_iter=2, begin_epoch=1)
    with pytest.raises(ConfigError, match="ExponentialMovingAverage"):
        EMAHook(ema_type="ExponentialMovingAverag")
    with pytest.raises(ConfigError, match="gamma"):
        EMAHook(gamma=10)
    with pytest.raises(ConfigError, match="momentum"):
        EMAHook(momentum=1.5).before_run(fake_runner(make_model()))
    with pytest.raises(ConfigError, match="begin_iter"):
        EMAHook(begin_iter=200).before_train(fake_runner(make_model()))


# ---- with the real runner ---------------------------------------------------------------------------
class TinyModel(nn.Module):
    """y = w * x regression; val_step reports the weight it evaluates with."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Linear(1, 1, bias=False)
        with torch.no_grad():
            self.w.weight.fill_(0.0)

    def train_step(self, data: torch.Tensor, optim_wrapper) -> dict:
        loss = ((self.w(data) - 2 * data) ** 2).mean()
        optim_wrapper.update_params(loss)
        return {"loss": loss.detach()}

    def val_step(self, data: torch.Tensor) -> list:
        return [self.w.weight.item()]


class WeightMetric:
    def __init__(self) -> None:
        self.seen: list[float] = []
        self.dataset_meta = None

    def process(self, data_batch, outputs) -> None:
        self.seen.extend(outputs)

    def evaluate(self, size: int) -> dict:
        return {"mIoU": self.seen[-1]}


class ResumeProbe(Hook):
    """Records the model's and the average's weight right after a checkpoint is loaded (after EMAHook)."""

    priority = "LOWEST"

    def __init__(self) -> None:
        self.seen: tuple[float, float] | None = None

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        ema = next(h for h in runner.hooks if isinstance(h, EMAHook))
        self.seen = (runner.model.w.weight.item(), ema_value_of(ema))


def run(tmp_path, max_iters: int, resume: bool = False, probe: ResumeProbe | None = None) -> tuple:
    from seglab.engine.runner import Runner

    loader = DataLoader(torch.linspace(-1, 1, 8).reshape(8, 1), batch_size=2)
    metric = WeightMetric()
    runner = Runner.from_cfg(dict(
        model=TinyModel(), work_dir=str(tmp_path), train_dataloader=loader, val_dataloader=loader,
        train_cfg=dict(type="IterBasedTrainLoop", max_iters=max_iters, val_interval=2), val_cfg=dict(),
        val_evaluator=metric, optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.1)),
        default_hooks=dict(checkpoint=dict(type="CheckpointHook", interval=2, by_epoch=False)),
        custom_hooks=[dict(type="EMAHook", momentum=0.3)] + ([probe] if probe else []), resume=resume,
    ), device="cpu")
    runner.train()
    return runner, metric


def ema_value_of(hook: EMAHook) -> float:
    return hook.ema_model.module.w.weight.item()


def test_real_runner_validates_with_ema_and_resumes(tmp_path) -> None:
    runner, metric = run(tmp_path, 4)
    hook = next(h for h in runner.hooks if isinstance(h, EMAHook))
    raw, avg = runner.model.w.weight.item(), ema_value_of(hook)
    assert raw != pytest.approx(avg, abs=1e-4)
    assert metric.seen[-1] == pytest.approx(avg)  # the last validation saw the average
    assert runner.model.w.weight.item() == raw  # and training weights came back after it
    ckpt = load_state_dict_file(str(tmp_path / "iter_4.pth"))
    assert ckpt["state_dict"]["w.weight"].item() == pytest.approx(avg)  # deployable weights: the average
    assert ckpt["ema_state_dict"]["module.w.weight"].item() == pytest.approx(raw)
    assert int(ckpt["ema_state_dict"]["steps"]) == 4

    # resuming restores the raw weights into the model and the average into the hook
    probe = ResumeProbe()
    run(tmp_path, 6, resume=True, probe=probe)
    assert probe.seen is not None
    assert probe.seen == (pytest.approx(raw), pytest.approx(avg))
