"""Shared by the engine tests: a tiny learnable dataset written to disk and a tiny FCN config for it."""
from __future__ import annotations

import json
import os
import os.path as osp
import socket
import sys

import cv2
import numpy as np

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def make_data(root: str, n_train: int = 8, n_val: int = 4, size: int = 32, val_sizes: list | None = None) -> str:
    """Write ``img_dir/{train,val}/*.png`` and ``ann_dir/...`` (3 classes: background, left bar, bottom bar)."""
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("val", n_val)):
        os.makedirs(osp.join(root, "img_dir", split), exist_ok=True)
        os.makedirs(osp.join(root, "ann_dir", split), exist_ok=True)
        for i in range(n):
            h, w = (val_sizes[i] if split == "val" and val_sizes else (size, size))
            mask = np.zeros((h, w), np.uint8)
            mask[:, : int(rng.integers(w // 4, w // 2))] = 1
            mask[int(rng.integers(h // 2, 3 * h // 4)):, :] = 2
            colors = np.array([[30, 30, 30], [200, 40, 40], [40, 200, 40]], np.float32)
            img = colors[mask] + rng.normal(0, 20, (h, w, 3))
            cv2.imwrite(osp.join(root, "img_dir", split, f"{i:03d}.png"), np.clip(img, 0, 255).astype(np.uint8))
            cv2.imwrite(osp.join(root, "ann_dir", split, f"{i:03d}.png"), mask)
    return root


CONFIG = """
norm_cfg = {norm_cfg}
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[100.0] * 3, std=[60.0] * 3, bgr_to_rgb=True,
                           size_divisor=8),
    backbone=dict(type='ResNetV1c', depth=18, stem_channels=8, base_channels=8, out_indices=(3,),
                  strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2), norm_cfg=norm_cfg),
    decode_head=dict(type='FCNHead', in_channels=64, in_index=0, channels=8, num_convs=1, concat_input=False,
                     num_classes=3, norm_cfg=norm_cfg, dropout_ratio={dropout}),
    test_cfg=dict(mode='whole'))
ds = dict(type='BaseSegDataset', data_root='{data}', img_suffix='.png', seg_map_suffix='.png',
          metainfo=dict(classes=('bg', 'bar', 'floor'), palette=[[0, 0, 0], [255, 0, 0], [0, 255, 0]]))
train_pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'), {flip}dict(type='PackSegInputs')]
pipe = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'), dict(type='PackSegInputs')]
train_dataloader = dict(batch_size={batch}, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(ds, data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'), pipeline=train_pipeline))
val_dataloader = dict(batch_size={val_batch}, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(ds, data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'), pipeline=pipe))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4))
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=1e-4, begin=0, end={iters}, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters={iters}, val_interval={val_interval})
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'), logger=dict(type='LoggerHook', interval={log_interval}),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval={ckpt}),
    sampler_seed=dict(type='DistSamplerSeedHook'))
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='gloo'))
randomness = dict(seed=3)
work_dir = '{work_dir}'
"""


def write_config(path: str, data: str, work_dir: str, iters: int = 4, batch: int = 4, val_batch: int = 2,
                 val_interval: int = 1000, ckpt: int = 1000, norm: str = "GN", flip: bool = False,
                 dropout: float = 0.0, extra: str = "", log_interval: int = 1) -> str:
    """Write the tiny config to ``path`` and return the path."""
    norm_cfg = "dict(type='GN', num_groups=2, requires_grad=True)" if norm == "GN" else "dict(type='BN', requires_grad=True)"
    text = CONFIG.format(norm_cfg=norm_cfg, data=data, work_dir=work_dir, iters=iters, batch=batch,
                         val_batch=val_batch, val_interval=val_interval, ckpt=ckpt, dropout=dropout, log_interval=log_interval,
                         flip="dict(type='RandomFlip', prob=0.5), " if flip else "") + extra
    with open(path, "w") as f:
        f.write(text)
    return path


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def subprocess_env(**extra: str) -> dict:
    """Environment for child processes: one thread each (2 shared cores), the repo importable."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (extra.pop("PYTHONPATH", ""), REPO, env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def read_scalars(work_dir: str) -> list[list[dict]]:
    """``vis_data/scalars.json`` records of every run folder in ``work_dir``, oldest run first."""
    runs = []
    for name in sorted(d for d in os.listdir(work_dir) if osp.isdir(osp.join(work_dir, d)) and d[:1].isdigit()):
        path = osp.join(work_dir, name, "vis_data", "scalars.json")
        if osp.isfile(path):
            with open(path) as f:
                runs.append([json.loads(line) for line in f])
    return runs


PYTHON = sys.executable
