"""A tiny segmentor for the tool tests: its config file, a checkpoint with non-trivial BN statistics, a dataset.

The backbone is importable by its dotted path (``_tiny_seg.TinyBackbone``), so torchrun children find it
with this folder on PYTHONPATH.
"""
from __future__ import annotations

import os.path as osp

import torch
from torch import nn

TESTS_DIR = osp.dirname(osp.abspath(__file__))


class TinyBackbone(nn.Module):
    """Two stride-2 conv-BN-ReLU layers: (N, 3, H, W) -> ((N, 8, H/4, W/4),); receptive field radius 3 px."""

    out_channels = [8]

    def __init__(self, channels: int = 8) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(3, channels, 3, 2, 1), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, 2, 1), nn.BatchNorm2d(channels), nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.layers(x),)


CONFIG = """
_base_ = ['{repo}/configs/_base_/default_runtime.py']
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.7, 116.3, 103.5], std=[58.4, 57.1, 57.4],
                           bgr_to_rgb=True),
    backbone=dict(type='_tiny_seg.TinyBackbone', channels=8),
    decode_head=dict(type='FCNHead', in_channels=8, channels=8, num_convs=1, concat_input=False,
                     num_classes=5, norm_cfg=dict(type='BN'), align_corners=False),
    test_cfg=dict(mode='whole'))
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'), dict(type='PackSegInputs')]
tta_model = dict(type='SegTTAModel')
tta_pipeline = [dict(type='LoadImageFromFile'), dict(type='TestTimeAug', transforms=[
    [dict(type='RandomFlip', prob=0.0, direction='horizontal'),
     dict(type='RandomFlip', prob=1.0, direction='horizontal')],
    [dict(type='LoadAnnotations')], [dict(type='PackSegInputs')]])]
test_dataloader = dict(batch_size=2, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='DemoShapesDataset', data_root='{data}', num_train=2, num_val=4, img_size=32,
                 data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'), pipeline=test_pipeline))
test_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_cfg = dict(type='TestLoop')
"""


def write_setup(root: str) -> tuple[str, str]:
    """Write ``root/tiny.py`` and ``root/tiny.pth`` (seeded weights, BN statistics set); return their paths."""
    from seglab.registry import MODELS

    config = osp.join(root, "tiny.py")
    with open(config, "w") as f:
        f.write(CONFIG.replace("{data}", osp.join(root, "data")).replace("{repo}", osp.dirname(TESTS_DIR)))
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type="EncoderDecoder", backbone=dict(type=TinyBackbone),
        decode_head=dict(type="FCNHead", in_channels=8, channels=8, num_convs=1, concat_input=False, num_classes=5,
                         norm_cfg=dict(type="BN"), align_corners=False)))
    state = model.state_dict()
    for key, value in state.items():
        if key.endswith("running_mean"):
            value.copy_(torch.randn_like(value) * 0.1)
        elif key.endswith("running_var"):
            value.copy_(torch.rand_like(value) + 0.5)
    ckpt = osp.join(root, "tiny.pth")
    torch.save(dict(meta=dict(dataset_meta=dict(classes=["background", "circle", "rectangle", "triangle", "stripes"])),
                    state_dict=state, optimizer=dict(state={}, param_groups=[dict(lr=0.1)])), ckpt)
    return config, ckpt
