"""``seglab train``/``test`` run the SegFormer and SegNeXt configs (shrunk): their AdamW paramwise schedule
(10x head learning rate, no decay on norms) and LinearLR warm-up reach the optimizer."""
from __future__ import annotations

import os.path as osp

import pytest
import torch

from seglab.cli import main

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# The real config with a tiny model, the synthetic shapes dataset and 3 iterations.
OVERRIDE = """
_base_ = ['{config}']
model = dict(
    data_preprocessor=dict(size=(32, 32)),
    backbone=dict(init_cfg=None, {backbone}),
    decode_head=dict(num_classes=5, {head}))
ds = dict(type='DemoShapesDataset', data_root='{data}', num_train=4, num_val=2, img_size=32)
pipe = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'), dict(type='PackSegInputs')]
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, sampler=dict(type='InfiniteSampler'),
    dataset=dict(ds, _delete_=True, data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'),
                 pipeline=pipe))
val_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(ds, _delete_=True, data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
                 pipeline=pipe))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=3, val_interval=3)
default_hooks = dict(checkpoint=dict(interval=3), logger=dict(interval=1))
"""
CASES = {
    "segformer": dict(
        config="configs/segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py",
        backbone="embed_dims=4, num_layers=[1, 1, 1, 1], num_heads=[1, 2, 2, 4]",
        head="in_channels=[4, 8, 8, 16], channels=8"),
    "segnext": dict(
        config="configs/segnext/segnext_mscan-t_1xb16-adamw-160k_ade20k-512x512.py",
        backbone="embed_dims=[8, 8, 16, 16], depths=[1, 1, 1, 1], mlp_ratios=[2, 2, 2, 2]",
        head="in_channels=[8, 16, 16], channels=8, ham_channels=8, norm_cfg=dict(type='GN', num_groups=2)"),
}


@pytest.fixture(autouse=True)
def _single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", sorted(CASES))
def test_train_and_test_with_the_config_schedule(tmp_path, name, capsys):
    case = CASES[name]
    cfg = tmp_path / f"{name}_tiny.py"
    cfg.write_text(OVERRIDE.format(config=osp.join(REPO, case["config"]), backbone=case["backbone"],
                                   head=case["head"], data=tmp_path / "data"))
    work = str(tmp_path / "work")
    assert main(["train", str(cfg), "--work-dir", work, "--device", "cpu"]) == 0
    groups = torch.load(osp.join(work, "iter_3.pth"), weights_only=False)["optimizer"]["param_groups"]
    # AdamW lr 6e-5; custom_keys: 'head' -> lr_mult 10, 'norm' -> decay_mult 0 (weight decay 0.01 elsewhere)
    assert sorted({round(g["initial_lr"], 9) for g in groups}) == [6e-5, 6e-4]
    assert {g["weight_decay"] for g in groups} == {0.0, 0.01}
    # LinearLR warm-up from 1e-6 over 1500 iterations: after 3 iterations every lr is ~0.2% of its base
    factors = [g["lr"] / g["initial_lr"] for g in groups]
    assert max(factors) - min(factors) < 1e-9 and 0.0015 < factors[0] < 0.003
    capsys.readouterr()
    assert main(["test", str(cfg), osp.join(work, "iter_3.pth"), "--work-dir", str(tmp_path / "t"),
                 "--device", "cpu"]) == 0
    assert "mIoU" in capsys.readouterr().out
