"""Pretrained weights through ``seglab train``: model.pretrained, backbone.init_cfg + prefix, from scratch, load_from.

Training runs one iteration at lr=0 with GroupNorm (no running statistics), so the weights in
``iter_1.pth`` are exactly the weights training started from.
"""
from __future__ import annotations

import glob
import os.path as osp

import pytest
import torch

import seglab.models  # noqa: F401 - registration
from seglab.cli import main
from seglab.io.checkpoint import load_state_dict_file
from seglab.models.weight_init import PretrainedWeightsError
from seglab.registry import MODELS

NORM = "dict(type='GN', num_groups=2, requires_grad=True)"
BACKBONE = f"dict(type='ResNetV1c', depth=18, stem_channels=8, base_channels=8, norm_cfg={NORM})"
CONFIG = f"""
norm_cfg = {NORM}
model = dict(
    type='EncoderDecoder',
    pretrained={{pretrained}},
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[120.0] * 3, std=[60.0] * 3, size_divisor=8),
    backbone={{backbone}},
    decode_head=dict(type='FCNHead', in_channels=64, in_index=3, channels=8, num_convs=1, concat_input=False,
                     num_classes=5, norm_cfg=norm_cfg))
ds = dict(type='DemoShapesDataset', data_root='{{data}}', num_train=4, num_val=2, img_size=32)
pipe = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'), dict(type='PackSegInputs')]
train_dataloader = dict(batch_size=2, num_workers=0, sampler=dict(type='InfiniteSampler'),
    dataset=dict(ds, data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'), pipeline=pipe))
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.0, momentum=0.9))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=1)
default_hooks = dict(logger=dict(type='LoggerHook', interval=1),
                     checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=1))
"""
MODEL = dict(type="EncoderDecoder",
             backbone=dict(type="ResNetV1c", depth=18, stem_channels=8, base_channels=8,
                           norm_cfg=dict(type="GN", num_groups=2, requires_grad=True)),
             decode_head=dict(type="FCNHead", in_channels=64, in_index=3, channels=8, num_convs=1,
                              concat_input=False, num_classes=5,
                              norm_cfg=dict(type="GN", num_groups=2, requires_grad=True)))


@pytest.fixture(autouse=True)
def _single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture()
def files(tmp_path):
    """Seeded random weights: a backbone-only file and a whole-segmentor file (``backbone.``, ``decode_head.``)."""
    gen = torch.Generator().manual_seed(0)
    state = {k: torch.randn(v.shape, generator=gen) for k, v in MODELS.build(MODEL).state_dict().items()}
    backbone = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    torch.save(backbone, tmp_path / "r18.pth")
    torch.save({"meta": {"note": "whole model"}, "state_dict": state}, tmp_path / "whole.pth")
    return dict(backbone=backbone, whole=state, r18=str(tmp_path / "r18.pth"), whole_path=str(tmp_path / "whole.pth"))


def train(tmp_path, name: str, pretrained: str = "None", backbone: str = BACKBONE, options: tuple = ()) -> tuple:
    """Run ``seglab train`` for one lr=0 iteration; return (backbone weights it started from, log text)."""
    config = tmp_path / f"{name}.py"
    config.write_text(CONFIG.format(pretrained=pretrained, backbone=backbone, data=tmp_path / "data"))
    work = tmp_path / f"work_{name}"
    argv = ["train", str(config), "--work-dir", str(work), "--device", "cpu"]
    assert main(argv + (["--cfg-options", *options] if options else [])) == 0
    state = load_state_dict_file(work / "iter_1.pth")["state_dict"]
    (log,) = glob.glob(osp.join(work, "*", "*.log"))
    return {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}, open(log).read()


def test_model_pretrained_is_where_training_starts(tmp_path, files):
    weights, log = train(tmp_path, "pretrained", pretrained=repr(files["r18"]))
    assert weights.keys() == files["backbone"].keys()
    for k, v in files["backbone"].items():
        assert torch.equal(weights[k], v), k
    n = len(files["backbone"])
    assert f"ResNetV1c: loaded {n}/{n} pretrained tensors from {files['r18']} (missing 0, unexpected 0" in log


def test_backbone_init_cfg_with_prefix_through_the_cli(tmp_path, files):
    backbone = BACKBONE[:-1] + f", init_cfg=dict(type='Pretrained', checkpoint={files['whole_path']!r}, " \
                               "prefix='backbone.'))"
    weights, log = train(tmp_path, "init_cfg", backbone=backbone)
    for k, v in files["backbone"].items():
        assert torch.equal(weights[k], v), k
    assert f"from {files['whole_path']} (prefix 'backbone.')" in log


def test_pretrained_none_override_trains_from_scratch(tmp_path, files):
    weights, log = train(tmp_path, "scratch", pretrained=repr(files["r18"]), options=("model.pretrained=None",))
    assert not any(torch.equal(weights[k], v) for k, v in files["backbone"].items() if v.numel() > 1)
    assert "EncoderDecoder: no pretrained weights configured" in log
    assert "pretrained tensors" not in log


def test_load_from_is_applied_after_the_pretrained_backbone(tmp_path, files):
    weights, log = train(tmp_path, "load_from", pretrained=repr(files["r18"]),
                         options=(f"load_from={files['whole_path']}",))
    assert "pretrained tensors" in log  # init_weights ran ...
    for k, v in files["whole"].items():  # ... and load_from, applied afterwards, decides
        if k.startswith("backbone."):
            assert torch.equal(weights[k[len("backbone."):]], v), k


def test_unreadable_pretrained_stops_training_naming_the_file(tmp_path):
    missing = str(tmp_path / "nowhere" / "r18.pth")
    with pytest.raises(PretrainedWeightsError, match=f"cannot load pretrained weights from {missing}"):
        train(tmp_path, "missing", pretrained=repr(missing))


def test_seglab_test_never_reads_the_pretrained_weights(tmp_path, files):
    train(tmp_path, "trained", pretrained=repr(files["r18"]))
    config = tmp_path / "eval.py"
    config.write_text(CONFIG.format(pretrained=repr(str(tmp_path / "gone.pth")), backbone=BACKBONE,
                                    data=tmp_path / "data")
                      + "test_dataloader = dict(train_dataloader, sampler=dict(type='DefaultSampler', shuffle=False))\n"
                      + "test_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])\n"
                      + "test_cfg = dict(type='TestLoop')\n")
    assert main(["test", str(config), str(tmp_path / "work_trained" / "iter_1.pth"), "--work-dir",
                 str(tmp_path / "work_eval"), "--device", "cpu"]) == 0
