"""Runner end to end on a tiny generated dataset: training, validation schedule, checkpoints, test, resume."""
from __future__ import annotations

import json
import os
import os.path as osp

import pytest
import torch

from seglab.config import Config
from seglab.engine import Hook, Runner
from seglab.registry import ConfigError

TINY = """
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[120.0, 120.0, 120.0], std=[60.0, 60.0, 60.0],
                           bgr_to_rgb=True, pad_val=0, seg_pad_val=255, size=(32, 32)),
    backbone=dict(type='ResNetV1c', depth=18, stem_channels=8, base_channels=8, out_indices=(2, 3),
                  strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4), contract_dilation=True, norm_cfg=norm_cfg),
    decode_head=dict(type='FCNHead', in_channels=64, in_index=1, channels=16, num_convs=1, concat_input=False,
                     dropout_ratio=0.1, num_classes=5, norm_cfg=norm_cfg,
                     loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
    train_cfg=dict(), test_cfg=dict(mode='whole'))
data_root = '{data_root}'
dataset = dict(type='DemoShapesDataset', data_root=data_root, num_train=16, num_val=4, img_size=32)
train_dataloader = dict(batch_size=4, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(dataset, data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'),
                 pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                           dict(type='RandomFlip', prob=0.5), dict(type='PackSegInputs')]))
val_dataloader = dict(batch_size=2, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(dataset, data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
                 pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'), dict(type='PackSegInputs')]))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=0.01, weight_decay=0.0))
param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=1.0, begin=0, end={iters}, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters={iters}, val_interval={val_interval})
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=2),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval={ckpt_interval}, max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook', draw=True, interval=1))
randomness = dict(seed=1)
work_dir = '{work_dir}'
crop_size = (32, 32)
"""


def tiny_config(tmp_path, name: str = "tiny", iters: int = 8, val_interval: int = 4, ckpt_interval: int = 4,
                data_root: str | None = None) -> Config:
    """A tiny FCN config file in ``tmp_path`` (the dataset is generated under ``data_root``)."""
    data_root = data_root or str(tmp_path / "data")
    text = TINY.format(data_root=data_root, iters=iters, val_interval=val_interval, ckpt_interval=ckpt_interval,
                       work_dir=str(tmp_path / name))
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    return Config.fromfile(path)


class Recorder(Hook):
    """Remembers the iteration of every validation and the losses of every iteration."""

    def __init__(self) -> None:
        self.val_iters: list[int] = []
        self.losses: list[float] = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses.append(outputs["loss"])

    def after_val_epoch(self, runner, metrics=None):
        self.val_iters.append(runner.iter)
        self.metrics = metrics


def test_train_validate_checkpoint_and_test(tmp_path):
    cfg = tiny_config(tmp_path, iters=12, val_interval=5, ckpt_interval=3)
    runner = Runner.from_cfg(cfg, device="cpu")
    rec = Recorder()
    runner.register_hook(rec)
    runner.train()
    assert rec.val_iters == [5, 10, 12]  # every val_interval and at the end
    first, last = sum(rec.losses[:3]) / 3, sum(rec.losses[-3:]) / 3
    assert last < 0.8 * first, rec.losses
    wd = cfg.work_dir
    ckpts = sorted(f for f in os.listdir(wd) if f.startswith("iter_"))
    assert ckpts == ["iter_12.pth", "iter_9.pth"]  # max_keep_ckpts=2 of 3, 6, 9, 12
    with open(osp.join(wd, "last_checkpoint")) as f:
        assert f.read().strip() == osp.join(wd, "iter_12.pth")
    assert osp.isfile(osp.join(wd, "tiny.py"))  # the resolved config
    logs = [d for d in os.listdir(wd) if osp.isdir(osp.join(wd, d)) and d[0].isdigit()]
    assert len(logs) == 1
    with open(osp.join(wd, logs[0], "vis_data", "scalars.json")) as f:
        scalars = [json.loads(line) for line in f]
    assert [s["step"] for s in scalars if "loss" in s] == [2, 4, 6, 8, 10, 12]
    assert [s["step"] for s in scalars if "mIoU" in s] == [5, 10, 12]
    assert os.listdir(osp.join(wd, logs[0], "vis_data", "vis_image"))  # SegVisualizationHook drew
    with open(osp.join(wd, logs[0], f"{logs[0]}.log")) as f:
        assert "Iter(train) [12/12]" in f.read()

    ckpt = torch.load(osp.join(wd, "iter_12.pth"), weights_only=True)
    assert ckpt["meta"]["iter"] == 12 and ckpt["meta"]["dataset_meta"]["classes"][1] == "circle"
    json.dumps(ckpt["meta"])  # JSON-safe
    assert {"state_dict", "optimizer", "param_schedulers"} <= set(ckpt)

    cfg2 = tiny_config(tmp_path, name="tiny_test")
    cfg2.load_from = osp.join(wd, "iter_12.pth")
    metrics = Runner.from_cfg(cfg2, device="cpu").test()
    assert "val/loss" in rec.metrics  # validation also reports the loss
    rec.metrics.pop("val/loss")
    assert metrics == rec.metrics  # the test path reloads exactly the trained weights


def test_resume_gives_the_same_weights(tmp_path):
    data = str(tmp_path / "data")
    full = Runner.from_cfg(tiny_config(tmp_path, "full", iters=6, val_interval=100, ckpt_interval=3, data_root=data),
                           device="cpu")
    full.train()
    half_cfg = tiny_config(tmp_path, "half", iters=6, val_interval=100, ckpt_interval=3, data_root=data)
    half_cfg.train_cfg.max_iters = 3  # "interrupted" after the checkpoint at iteration 3
    Runner.from_cfg(half_cfg, device="cpu").train()
    resumed_cfg = tiny_config(tmp_path, "half", iters=6, val_interval=100, ckpt_interval=3, data_root=data)
    resumed_cfg.resume = True
    resumed = Runner.from_cfg(resumed_cfg, device="cpu")
    resumed.train()
    assert resumed.iter == 6
    a, b = full.model.state_dict(), resumed.model.state_dict()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert full.optim_wrapper.get_lr() == resumed.optim_wrapper.get_lr()


def test_unknown_keys_are_errors(tmp_path):
    cfg = tiny_config(tmp_path)
    cfg.train_cfg.max_iter = 3
    with pytest.raises(ConfigError, match="max_iter"):
        Runner.from_cfg(cfg, device="cpu").train()
    cfg = tiny_config(tmp_path)
    cfg.default_hooks.checkpoint.intervl = 3
    with pytest.raises(ConfigError, match="intervl"):
        Runner.from_cfg(cfg, device="cpu")
    cfg = tiny_config(tmp_path)
    cfg.train_dataloader.batch = 3
    with pytest.raises(ConfigError, match="batch"):
        Runner.from_cfg(cfg, device="cpu").train()


def test_epoch_based_loop(tmp_path):
    cfg = tiny_config(tmp_path, name="epochs")
    cfg.train_cfg = dict(type="EpochBasedTrainLoop", max_epochs=2, val_interval=1)
    cfg.train_dataloader.sampler = dict(type="DefaultSampler", shuffle=True)
    cfg.param_scheduler = [dict(type="MultiStepLR", milestones=[1], gamma=0.1, by_epoch=True)]
    cfg.default_hooks.checkpoint = dict(type="CheckpointHook", by_epoch=True, interval=1)
    cfg.default_hooks.visualization = None
    runner = Runner.from_cfg(cfg, device="cpu")
    rec = Recorder()
    runner.register_hook(rec)
    runner.train()
    assert runner.iter == 8 and runner.epoch == 2  # 16 images / batch 4 = 4 iterations per epoch
    assert rec.val_iters == [4, 8]
    assert sorted(f for f in os.listdir(cfg.work_dir) if f.endswith(".pth")) == ["epoch_1.pth", "epoch_2.pth"]
    assert runner.optim_wrapper.get_lr()["lr"][0] == pytest.approx(0.001)  # stepped once per epoch


def test_cli_resume_continues_from_the_checkpoint_iteration(tmp_path):
    """``seglab train CFG --resume`` picks up last_checkpoint and trains the remaining iterations only."""
    from _engine_tiny import make_data, read_scalars, write_config

    from seglab import cli

    data = make_data(str(tmp_path / "data"), n_train=4, n_val=2)
    cfg = write_config(str(tmp_path / "c.py"), data, str(tmp_path / "w"), iters=4, batch=2, ckpt=2)
    full = write_config(str(tmp_path / "full.py"), data, str(tmp_path / "full"), iters=4, batch=2, ckpt=2)
    assert cli.main(["train", full, "--device", "cpu"]) == 0
    assert cli.main(["train", cfg, "--device", "cpu", "--cfg-options", "train_cfg.max_iters=2"]) == 0
    assert cli.main(["train", cfg, "--device", "cpu", "--resume"]) == 0
    first, resumed = read_scalars(str(tmp_path / "w"))
    assert [r["step"] for r in first if "loss" in r] == [1, 2]
    assert [r["step"] for r in resumed if "loss" in r] == [3, 4]  # iterations N+1.. max_iters, none repeated
    assert sorted(f for f in os.listdir(tmp_path / "w") if f.endswith(".pth")) == ["iter_2.pth", "iter_4.pth"]
    last = torch.load(tmp_path / "w" / "iter_4.pth", weights_only=True)
    assert last["meta"]["iter"] == 4
    reference = torch.load(tmp_path / "full" / "iter_4.pth", weights_only=True)
    for key, value in reference["state_dict"].items():
        assert torch.equal(value, last["state_dict"][key]), key  # continued, not restarted
    logs = sorted(d for d in os.listdir(tmp_path / "w") if d[:1].isdigit())
    with open(tmp_path / "w" / logs[1] / f"{logs[1]}.log") as f:
        log = f.read()
    assert f"resumed from {tmp_path / 'w' / 'iter_2.pth'} at iteration 2" in log
    assert "Iter(train) [3/4]" in log and "Iter(train) [1/4]" not in log


def test_init_weights_runs_once_before_load_from(tmp_path):
    """The model's init_weights() (pretrained backbones) runs at build time; load_from then overwrites it."""

    class Initialised(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Linear(1, 1, bias=False)
            self.init_calls = 0

        def init_weights(self) -> None:
            self.init_calls += 1
            torch.nn.init.constant_(self.w.weight, 7.0)

        def train_step(self, data, optim_wrapper) -> dict:
            loss = (self.w(data) ** 2).mean()
            optim_wrapper.update_params(loss)
            return {"loss": loss.detach()}

    saved = tmp_path / "weights.pth"
    torch.save({"state_dict": {"w.weight": torch.full((1, 1), 3.0)}}, saved)
    model = Initialised()
    loader = torch.utils.data.DataLoader(torch.ones(4, 1), batch_size=2)
    runner = Runner.from_cfg(dict(model=model, work_dir=str(tmp_path / "w"), train_dataloader=loader,
                                  train_cfg=dict(by_epoch=False, max_iters=1), load_from=str(saved),
                                  optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.0)),
                                  default_hooks=dict(checkpoint=None)), device="cpu")
    assert model.init_calls == 1 and model.w.weight.item() == 7.0
    runner.train()
    assert model.init_calls == 1 and model.w.weight.item() == 3.0  # lr=0: exactly the loaded weights
