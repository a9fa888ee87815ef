"""The ``seglab`` command: train a few iterations, test the checkpoint, error exit codes."""
from __future__ import annotations

import os
import os.path as osp

import pytest

from seglab.cli import build_parser, main

CONFIG = """
_base_ = ['{repo}/configs/_base_/default_runtime.py']
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[120.0] * 3, std=[60.0] * 3, bgr_to_rgb=True,
                           size_divisor=8),
    backbone=dict(type='ResNetV1c', depth=18, stem_channels=8, base_channels=8, out_indices=(3,),
                  strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2), norm_cfg=norm_cfg),
    decode_head=dict(type='FCNHead', in_channels=64, in_index=0, channels=16, num_convs=1, concat_input=False,
                     num_classes=5, norm_cfg=norm_cfg),
    test_cfg=dict(mode='whole'))
ds = dict(type='DemoShapesDataset', data_root='{data}', num_train=8, num_val=4, img_size=32)
pipe = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'), dict(type='PackSegInputs')]
train_dataloader = dict(batch_size=2, num_workers=0, sampler=dict(type='InfiniteSampler'),
    dataset=dict(ds, data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'), pipeline=pipe))
val_dataloader = dict(batch_size=2, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(ds, data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'), pipeline=pipe))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU', 'mDice'])
test_evaluator = val_evaluator
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
param_scheduler = [dict(type='PolyLR', power=0.9, begin=0, end=100, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=100, val_interval=50)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'), logger=dict(type='LoggerHook', interval=1),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=50),
    sampler_seed=dict(type='DistSamplerSeedHook'), visualization=dict(type='SegVisualizationHook'))
"""
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(autouse=True)
def _single_thread():
    """One torch thread: on a busy 2-core machine, 2 threads make tiny models 10-100x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture()
def config_file(tmp_path):
    path = tmp_path / "tiny_cli.py"
    path.write_text(CONFIG.format(repo=REPO, data=tmp_path / "data"))
    return str(path)


def test_train_then_test(tmp_path, config_file, capsys):
    work = str(tmp_path / "work")
    rc = main(["train", config_file, "--work-dir", work, "--cfg-options", "train_cfg.max_iters=3",
               "default_hooks.checkpoint.interval=2", "--device", "cpu"])
    assert rc == 0
    assert sorted(f for f in os.listdir(work) if f.endswith(".pth")) == ["iter_2.pth", "iter_3.pth"]
    assert osp.isfile(osp.join(work, "tiny_cli.py"))
    capsys.readouterr()
    show = str(tmp_path / "show")
    rc = main(["test", config_file, osp.join(work, "iter_3.pth"), "--work-dir", str(tmp_path / "test_work"),
               "--show-dir", show, "--device", "cpu"])
    assert rc == 0
    out = capsys.readouterr().out
    # the summary table and the per-class table with the selected metrics
    for text in ("aAcc", "mIoU", "mDice", "| Class", "IoU", "Dice", "circle", "stripes"):
        assert text in out, text
    images = os.listdir(osp.join(show, "vis_image"))
    assert len(images) == 4  # --show-dir draws every test sample


def test_resume_flag_continues(tmp_path, config_file):
    work = str(tmp_path / "work")
    assert main(["train", config_file, "--work-dir", work, "--cfg-options", "train_cfg.max_iters=2",
                 "param_scheduler.0.end=4", "--device", "cpu"]) == 0
    assert main(["train", config_file, "--work-dir", work, "--resume", "--cfg-options", "train_cfg.max_iters=4",
                 "param_scheduler.0.end=4", "default_hooks.checkpoint.interval=4", "--device", "cpu"]) == 0
    assert sorted(f for f in os.listdir(work) if f.endswith(".pth")) == ["iter_2.pth", "iter_4.pth"]


def test_config_errors_exit_2(tmp_path, config_file, capsys):
    rc = main(["train", config_file, "--work-dir", str(tmp_path / "w"), "--cfg-options", "train_cfg.max_iter=3"])
    assert rc == 2
    assert "max_iter" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", str(tmp_path / "missing.py")])


def test_parser_flags():
    args = build_parser().parse_args(["train", "c.py", "--resume", "--amp", "--launcher", "pytorch"])
    assert args.resume == "auto" and args.amp and args.launcher == "pytorch"
    args = build_parser().parse_args(["train", "c.py", "--resume", "x.pth", "--cfg-options", "a.b=1", "c=[1,2]"])
    assert args.resume == "x.pth" and args.cfg_options == {"a.b": 1, "c": [1, 2]}


def test_tta_test_averages_views(tmp_path, config_file, capsys):
    work = str(tmp_path / "work")
    assert main(["train", config_file, "--work-dir", work, "--cfg-options", "train_cfg.max_iters=2",
                 "--device", "cpu"]) == 0
    tta_config = tmp_path / "tiny_tta.py"
    tta_config.write_text(
        "_base_ = './tiny_cli.py'\n"
        "tta_pipeline = [dict(type='LoadImageFromFile'), dict(type='TestTimeAug', transforms=[\n"
        "    [dict(type='RandomFlip', prob=0.0, direction='horizontal'),\n"
        "     dict(type='RandomFlip', prob=1.0, direction='horizontal')],\n"
        "    [dict(type='LoadAnnotations')], [dict(type='PackSegInputs')]])]\n")
    capsys.readouterr()
    rc = main(["test", str(tta_config), osp.join(work, "iter_2.pth"), "--work-dir", str(tmp_path / "t"), "--tta",
               "--device", "cpu"])
    assert rc == 0
    assert "mIoU" in capsys.readouterr().out
    # a config without tta_pipeline is a config error (exit 2), not a silent plain test
    rc = main(["test", config_file, osp.join(work, "iter_2.pth"), "--work-dir", str(tmp_path / "t2"), "--tta"])
    assert rc == 2 and "tta_pipeline" in capsys.readouterr().err


def test_dataset_tools_are_subcommands(tmp_path, config_file, capsys):
    main(["train", config_file, "--work-dir", str(tmp_path / "w"), "--cfg-options", "train_cfg.max_iters=1",
          "--device", "cpu"])  # generates the tiny demo data the config points at
    capsys.readouterr()
    assert main(["check-dataset", config_file, "--split", "val"]) == 0
    out = capsys.readouterr().out
    assert "class_weight" in out
    out_dir = tmp_path / "browse"
    assert main(["browse-dataset", config_file, "--output-dir", str(out_dir), "--max-items", "2"]) == 0
    assert len(list(out_dir.glob("*.png"))) == 2
    assert build_parser().parse_args(["dataset-convert", "cityscapes", "a", "b"]).dataset == "cityscapes"
