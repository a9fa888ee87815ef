"""browse-dataset: packed samples become palette overlays written as PNGs, through the whole pipeline."""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from seglab.structures.seg_data_sample import SegDataSample
from seglab.tools import browse_dataset as bd


def test_render_item_blends_palette_and_keeps_ignored() -> None:
    img = torch.zeros(3, 2, 2, dtype=torch.uint8)  # black BGR image
    sample = SegDataSample()
    sample.gt_sem_seg = torch.tensor([[[0, 1], [255, 0]]], dtype=torch.int64)
    vis = bd.render_item(dict(inputs=img, data_samples=sample), palette=[[200, 0, 0], [0, 100, 0]], alpha=0.5)
    assert vis.shape == (2, 2, 3) and vis.dtype == np.uint8
    # BGR output: class 0 is RGB red 200 -> B,G,R = 0,0,100; class 1 green 100 -> 0,50,0; 255 keeps black
    assert vis[0, 0].tolist() == [0, 0, 100]
    assert vis[0, 1].tolist() == [0, 50, 0]
    assert vis[1, 0].tolist() == [0, 0, 0]


def test_cli_writes_augmented_overlays(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "ann").mkdir()
    for i in range(3):
        cv2.imwrite(str(tmp_path / "img" / f"s{i}.png"), np.full((16, 20, 3), 40 * i, np.uint8))
        cv2.imwrite(str(tmp_path / "ann" / f"s{i}.png"), np.full((16, 20), i % 2, np.uint8))
    cfg = tmp_path / "cfg.py"
    cfg.write_text(
        "train_dataloader = dict(dataset=dict(type='BaseSegDataset', data_root=%r, img_suffix='.png',\n"
        "    data_prefix=dict(img_path='img', seg_map_path='ann'),\n"
        "    metainfo=dict(classes=('x', 'y'), palette=[[255, 0, 0], [0, 0, 255]]),\n"
        "    pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),\n"
        "              dict(type='RandomCrop', crop_size=(8, 10)), dict(type='PackSegInputs')]))\n" % str(tmp_path)
    )
    parser = argparse.ArgumentParser()
    bd.add_parser(parser.add_subparsers())
    out = tmp_path / "vis"
    args = parser.parse_args(["browse-dataset", str(cfg), "--output-dir", str(out), "--max-items", "2",
                              "--not-show", "--alpha", "1.0"])
    assert args.func(args) == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == ["00000_s0.png", "00001_s1.png"]
    first = cv2.imread(str(out / files[0]))
    assert first.shape == (8, 10, 3)  # the crop ran
    assert (first == [0, 0, 255]).all()  # alpha 1: class 0 is RGB red -> BGR (0, 0, 255)
    second = cv2.imread(str(out / files[1]))
    assert (second == [255, 0, 0]).all()  # class 1 is RGB blue
