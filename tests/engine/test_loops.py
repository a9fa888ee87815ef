"""Validation loop: batches of different-size images, predictions at each image's size, ``val/loss``."""
from __future__ import annotations

import pytest
import torch
from _engine_tiny import make_data, write_config

from seglab.config import Config
from seglab.engine import Runner

SIZES = [(32, 32), (40, 24), (24, 48), (32, 32)]


@pytest.fixture()
def data(tmp_path, single_thread):
    return make_data(str(tmp_path / "data"), n_train=2, n_val=4, val_sizes=SIZES)


def _val(tmp_path, data, name: str, val_batch: int, test_cfg: dict | None = None) -> tuple[dict, list]:
    cfg = Config.fromfile(write_config(str(tmp_path / f"{name}.py"), data, str(tmp_path / name), val_batch=val_batch))
    if test_cfg is not None:
        cfg.model.data_preprocessor.test_cfg = test_cfg
    runner = Runner.from_cfg(cfg, device="cpu")  # seed 3: every runner starts from the same weights
    preds: list = []
    evaluator = runner.val_loop.evaluator
    process = evaluator.process

    def record(batch, outputs):  # keep the predictions the evaluator sees
        preds.extend(outputs)
        process(batch, outputs)

    evaluator.process = record
    return runner.val(), preds


def test_batched_validation_of_different_sizes_equals_batch_size_one(tmp_path, data):
    one, preds_one = _val(tmp_path, data, "bs1", val_batch=1)
    two, preds_two = _val(tmp_path, data, "bs2", val_batch=2)
    assert set(one) == {"aAcc", "mIoU", "mAcc", "val/loss"}
    assert one == pytest.approx(two, rel=1e-6)  # metrics and the validation loss
    for a, b, (h, w) in zip(preds_one, preds_two, SIZES):
        assert a.pred_sem_seg.data.shape == (1, h, w)
        assert torch.equal(a.pred_sem_seg.data, b.pred_sem_seg.data)
        torch.testing.assert_close(a.seg_logits.data, b.seg_logits.data, rtol=1e-4, atol=1e-5)


def test_padded_batches_are_cropped_back(tmp_path, data):
    metrics, preds = _val(tmp_path, data, "pad", val_batch=4, test_cfg=dict(size_divisor=16))
    assert [tuple(p.pred_sem_seg.data.shape[-2:]) for p in preds] == SIZES
    assert [tuple(p.metainfo["pad_shape"]) for p in preds] == [(48, 48)] * 4  # one padded batch
    assert 0 <= metrics["mIoU"] <= 100 and metrics["val/loss"] > 0


def test_val_loss_is_the_mean_training_loss_of_val_images(tmp_path, data):
    cfg = Config.fromfile(write_config(str(tmp_path / "c.py"), data, str(tmp_path / "w"), val_batch=2))
    runner = Runner.from_cfg(cfg, device="cpu")
    metrics = runner.val()
    model = runner.model
    model.eval()
    losses = []
    with torch.no_grad():
        for batch in runner.val_dataloader:
            for i in range(len(batch["inputs"])):
                one = model.data_preprocessor({k: [v[i]] for k, v in batch.items()}, False)
                losses.append(float(model.parse_losses(model(**one, mode="loss"))[0]))
    assert metrics["val/loss"] == pytest.approx(sum(losses) / len(losses), rel=1e-5)
    cfg.val_cfg = dict(type="ValLoop", compute_loss=False)
    cfg.work_dir = str(tmp_path / "w2")
    assert "val/loss" not in Runner.from_cfg(cfg, device="cpu").val()


# ---- training loops without a runner ---------------------------------------------------------------
class Regression(torch.nn.Module):
    """y = w * x; records the samples of every step (the loop's data stream)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Linear(1, 1, bias=False)
        self.seen: list[list[float]] = []

    def train_step(self, data: torch.Tensor, optim_wrapper) -> dict:
        self.seen.append(data.flatten().tolist())
        loss = ((self.w(data) - 2 * data) ** 2).mean()
        optim_wrapper.update_params(loss)
        return {"loss": float(loss.detach())}


def _iter_loop(max_iters: int, stages: list | None = None):
    from torch.utils.data import DataLoader

    from seglab.engine import InfiniteSampler, OptimWrapper
    from seglab.engine.loops import IterBasedTrainLoop

    torch.manual_seed(0)
    model = Regression()
    data = torch.arange(8.0).reshape(8, 1)
    loader = DataLoader(data, batch_size=2, sampler=InfiniteSampler(data, shuffle=True, seed=5))
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))

    def call_hook(name, **kwargs):
        if stages is not None:
            stages.append((name, loop.state_dict()["iter"]))

    loop = IterBasedTrainLoop(model, loader, wrapper, call_hook, max_iters=max_iters)
    return loop


def test_iter_loop_runs_the_hook_stages_in_order_with_progress():
    stages: list = []
    loop = _iter_loop(2, stages)
    loop.run()
    # inside after_train_iter the step counts as done: a checkpoint written there resumes after it
    assert stages == [("before_train", 0), ("before_train_iter", 0), ("after_train_iter", 1),
                      ("before_train_iter", 1), ("after_train_iter", 2), ("after_train", 2)]
    assert loop.state_dict() == {"iter": 2, "epoch": 0} and not loop.step_done


def test_loop_state_round_trip_continues_the_same_stream():
    full = _iter_loop(5)
    full.run()
    half = _iter_loop(2)
    half.run()
    state, sampler_state = half.state_dict(), half.sampler_state_dict()
    assert state == {"iter": 2, "epoch": 0}
    assert sampler_state == dict(seed=5, type="InfiniteSampler", position=4, batch_size=2, world_size=1)
    resumed = _iter_loop(5)
    resumed.sampler.seed = 99  # a run whose own seed differs: the saved one wins
    resumed.load_state_dict(state)
    resumed.load_sampler_state_dict(sampler_state)
    assert resumed.iter == 2 and resumed.sampler.seed == 5
    resumed.run()
    assert resumed.iter == 5
    assert resumed.model.seen == full.model.seen[2:]  # iterations 3..5 draw the same batches


def test_epoch_and_iter_loops_share_one_step(monkeypatch):
    from seglab.engine import loops

    calls = []
    real = loops.run_step

    def spy(model, data_batch, optim_wrapper):
        calls.append(len(data_batch))
        return real(model, data_batch, optim_wrapper)

    monkeypatch.setattr(loops, "run_step", spy)
    _iter_loop(3).run()
    loop = _iter_loop(1)
    epochs = loops.EpochBasedTrainLoop(loop.model, torch.utils.data.DataLoader(torch.ones(6, 1), batch_size=3),
                                       loop.optim_wrapper, lambda name, **kw: None, max_epochs=2)
    epochs.run()
    assert calls == [2, 2, 2, 3, 3, 3, 3] and epochs.state_dict() == {"iter": 4, "epoch": 2}
