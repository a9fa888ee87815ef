"""configs/depth: the VPD-head NYU config (shrunk) trains on a synthetic NYU-layout folder, the SiLog loss
goes down, and DepthMetric's values equal a hand (numpy) computation on the model's own predictions."""
from __future__ import annotations

import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from seglab.apis import inference_model, init_model
from seglab.cli import main
from seglab.config import Config
from seglab.engine.hooks import Hook
from seglab.engine.runner import Runner

pytestmark = pytest.mark.usefixtures("single_thread")

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, "configs/depth/vpd-head_r18-d32_4xb8-25k_nyu-480x480.py")
ITERS = 30
OVERRIDE = """
_base_ = ['{config}']
crop_size = (64, 64)
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=crop_size),
    backbone=dict(stem_channels=8, base_channels=16),
    decode_head=dict(in_channels=[16, 32, 64, 128], embed_dim=4, feature_dim=32),
    test_cfg=dict(mode='slide_flip', crop_size=crop_size, stride=(32, 32)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthAnnotation', depth_rescale_factor=1e-3),
    dict(type='RandomDepthMix', prob=0.25),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='PackSegInputs', meta_keys=('img_path', 'depth_map_path', 'ori_shape', 'img_shape', 'pad_shape',
                                          'scale_factor', 'flip', 'flip_direction', 'category_id')),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2000, 64), keep_ratio=True),
    dict(type='LoadDepthAnnotation', depth_rescale_factor=1e-3),
    dict(type='PackSegInputs', meta_keys=('img_path', 'depth_map_path', 'ori_shape', 'img_shape', 'pad_shape',
                                          'scale_factor', 'flip', 'flip_direction', 'category_id')),
]
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root='{data}', pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(data_root='{data}', pipeline=test_pipeline))
test_dataloader = val_dataloader
optimizer = dict(type='AdamW', lr=0.003, weight_decay=0.0)
optim_wrapper = dict(optimizer=optimizer)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end={iters})]
train_cfg = dict(max_iters={iters}, val_interval={iters})
default_hooks = dict(checkpoint=dict(interval={iters}), logger=dict(interval=10))
randomness = dict(seed=0)
work_dir = '{work}'
"""


def write_nyu(root: str, n_train: int = 4, n_test: int = 2, hw: tuple[int, int] = (64, 80)) -> None:
    """Scenes whose depth grows left to right (1-4 m, 16-bit mm PNG) and whose images brighten with depth."""
    h, w = hw
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        for i in range(n):
            ramp = np.linspace(1.0, 4.0, w)[None].repeat(h, 0) * (1 + 0.2 * i)
            depth_mm = (ramp * 1000).astype(np.uint16)
            img = np.clip(ramp[..., None] * 50 + rng.normal(0, 5, (h, w, 3)), 0, 255).astype(np.uint8)
            name = f"{('bedroom', 'kitchen', 'office')[i % 3]}_{i:04d}"
            for sub, suffix, data in (("images", ".jpg", img), ("annotations", ".png", depth_mm)):
                path = osp.join(root, sub, split, name + suffix)
                os.makedirs(osp.dirname(path), exist_ok=True)
                cv2.imwrite(path, data)


class Recorder(Hook):
    """Losses of every iteration and the last validation metrics."""

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.metrics: dict = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):  # noqa: ANN001
        self.losses.append(outputs["loss"])

    def after_val_epoch(self, runner, metrics=None):  # noqa: ANN001
        self.metrics = metrics


def hand_metrics(gt: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Eigen's metrics in float64 numpy, over gt in (0.001, 10) inside the NYU crop rows 45..470, cols 41..600."""
    crop = np.zeros_like(gt, dtype=bool)
    crop[45:471, 41:601] = True
    mask = (gt > 0.001) & (gt < 10.0) & crop
    g, p = gt[mask].astype(np.float64), pred[mask].astype(np.float64)
    ratio = np.maximum(g / p, p / g)
    dlog = np.log(p) - np.log(g)
    return dict(d1=np.mean(ratio < 1.25), d2=np.mean(ratio < 1.25**2), d3=np.mean(ratio < 1.25**3),
                abs_rel=np.mean(np.abs(p - g) / g), sq_rel=np.mean((p - g) ** 2 / g),
                rmse=np.sqrt(np.mean((p - g) ** 2)), rmse_log=np.sqrt(np.mean(dlog**2)),
                log10=np.mean(np.abs(np.log10(p) - np.log10(g))),
                silog=np.sqrt(np.mean(dlog**2) - 0.5 * np.mean(dlog) ** 2))


def test_depth_config_trains_and_depth_metric_matches_a_hand_check(tmp_path, capsys):
    data = str(tmp_path / "nyu")
    write_nyu(data)
    path = tmp_path / "depth_tiny.py"
    path.write_text(OVERRIDE.format(config=CONFIG, data=data, iters=ITERS, work=tmp_path / "work"))
    cfg = Config.fromfile(path)
    runner = Runner.from_cfg(cfg, device="cpu")
    rec = Recorder()
    runner.register_hook(rec)
    model = runner.train()

    assert len(rec.losses) == ITERS and all(np.isfinite(rec.losses))
    first, last = np.mean(rec.losses[:5]), np.mean(rec.losses[-5:])
    assert last < 0.7 * first, rec.losses

    metrics = dict(rec.metrics)
    assert np.isfinite(metrics.pop("val/loss"))  # the SiLog loss on the test images
    assert sorted(metrics) == sorted(["d1", "d2", "d3", "abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "silog"])
    assert all(np.isfinite(v) for v in metrics.values()), metrics
    # The same predictions, evaluated by hand: per-image metrics, then the mean over the 2 test images.
    dataset = runner.val_loop.dataloader.dataset
    model.eval()
    per_image, preds = [], []
    for i in range(len(dataset)):
        item = dataset[i]
        with torch.no_grad():
            out = model.val_step(dict(inputs=[item["inputs"]], data_samples=[item["data_samples"]]))[0]
        pred = out.pred_depth_map.data[0].numpy()
        gt = cv2.imread(item["data_samples"].depth_map_path, cv2.IMREAD_UNCHANGED) * 1e-3
        assert pred.shape == gt.shape == (64, 80)
        per_image.append(hand_metrics(gt, pred))
        preds.append(pred)
    expected = {k: float(np.mean([m[k] for m in per_image])) for k in per_image[0]}
    assert metrics == pytest.approx(expected, rel=1e-4, abs=1e-6)

    # `seglab test` on the saved checkpoint gives the same metrics and draws image | gt depth | prediction.
    capsys.readouterr()
    vis = tmp_path / "vis"
    assert main(["test", str(path), str(tmp_path / "work" / f"iter_{ITERS}.pth"), "--work-dir",
                 str(tmp_path / "t"), "--device", "cpu", "--show-dir", str(vis)]) == 0
    assert f"{metrics['rmse']:.5f}" in capsys.readouterr().out
    pictures = sorted(p.name for p in vis.rglob("*.png"))
    assert len(pictures) == 2, pictures
    assert cv2.imread(str(next(vis.rglob("*.png")))).shape == (64, 3 * 80, 3)

    # inference_model drops LoadDepthAnnotation from the test pipeline and gives the same depth.
    with pytest.warns(UserWarning, match="class names"):  # NYU's 27 scene names are not output classes
        loaded = init_model(str(path), str(tmp_path / "work" / f"iter_{ITERS}.pth"), device="cpu")
    result = inference_model(loaded, dataset.get_data_info(0)["img_path"])
    np.testing.assert_allclose(result.pred_depth_map.data[0].numpy(), preds[0], rtol=1e-5, atol=1e-5)
