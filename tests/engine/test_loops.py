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
