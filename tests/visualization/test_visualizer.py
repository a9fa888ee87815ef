"""Palettes, overlay arithmetic, SegLocalVisualizer files and backends."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from seglab.registry import VISUALIZERS, ConfigError
from seglab.structures import SegDataSample
from seglab.visualization import LocalVisBackend, SegLocalVisualizer, get_palette, overlay, random_palette


def test_overlay_known_values():
    image = np.full((1, 3, 3), 100, dtype=np.uint8)
    mask = np.array([[0, 1, 255]])
    out = overlay(image, mask, [[200, 0, 50], [0, 100, 255]], alpha=0.5)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out[0, 0], [150, 50, 75])
    np.testing.assert_array_equal(out[0, 1], [50, 100, 178])  # 177.5 rounds to even -> 178
    np.testing.assert_array_equal(out[0, 2], [100, 100, 100])  # ignored label keeps the image
    np.testing.assert_array_equal(overlay(image, torch.tensor([[[0, 0, 0]]]), [[7, 8, 9]], 1.0)[0], [[7, 8, 9]] * 3)
    with pytest.raises(ValueError, match="sizes differ"):
        overlay(image, np.zeros((2, 2), int), [[0, 0, 0]])


def test_palette_determinism_and_sources():
    assert random_palette(5) == random_palette(5)
    assert random_palette(5)[:3] == random_palette(3)  # prefix-stable: more classes keep earlier colours
    assert random_palette(4, seed=1) != random_palette(4)
    assert get_palette(["a", "b", "c"]) == random_palette(3) and get_palette(3) == random_palette(3)
    assert all(0 <= v <= 255 for c in random_palette(50) for v in c)
    assert get_palette([(1, 2, 3), [4, 5, 6]]) == [[1, 2, 3], [4, 5, 6]]
    from seglab.datasets import CamVidDataset

    assert get_palette("camvid") == [list(c) for c in CamVidDataset.METAINFO["palette"]]
    with pytest.raises(ConfigError, match="unknown dataset"):
        get_palette("not_a_dataset_xyz")


def sample() -> SegDataSample:
    gt = torch.zeros(1, 4, 6, dtype=torch.int64)
    gt[:, :, 3:] = 1
    pred = gt.clone()
    pred[:, 0, :] = 255
    return SegDataSample(gt_sem_seg=gt, pred_sem_seg=pred)


def test_add_datasample_writes_side_by_side_png(tmp_path):
    vis = VISUALIZERS.build(dict(type="SegLocalVisualizer", alpha=1.0))
    vis.dataset_meta = dict(classes=["bg", "fg"], palette=[[255, 0, 0], [0, 0, 255]])
    image = np.full((4, 6, 3), 10, dtype=np.uint8)
    out_file = tmp_path / "sub" / "vis.png"
    drawn = vis.add_datasample("x", image, sample(), out_file=str(out_file))
    assert drawn.shape == (4, 12, 3)
    written = cv2.imread(str(out_file))[..., ::-1]  # back to RGB
    np.testing.assert_array_equal(written, drawn)
    np.testing.assert_array_equal(written[1, 0], [255, 0, 0])  # GT panel, class 0
    np.testing.assert_array_equal(written[1, 5], [0, 0, 255])  # GT panel, class 1
    np.testing.assert_array_equal(written[0, 6], [10, 10, 10])  # pred panel, ignored row keeps the image
    np.testing.assert_array_equal(written[1, 11], [0, 0, 255])
    only_pred = vis.add_datasample("x", image, sample(), draw_gt=False, out_file=str(out_file))
    assert only_pred.shape == (4, 6, 3)


def test_backends_receive_images_and_scalars(tmp_path):
    vis = SegLocalVisualizer(vis_backends=[dict(type="LocalVisBackend")], save_dir=str(tmp_path), classes=["a", "b"])
    assert isinstance(vis.vis_backends[0], LocalVisBackend)
    assert vis.dataset_meta["palette"] == random_palette(2)
    vis.add_datasample("val_img", np.zeros((4, 6, 3), np.uint8), sample(), step=3, with_labels=True)
    assert (tmp_path / "vis_image" / "val_img_3.png").is_file()
    vis.add_scalars({"mIoU": 51.5}, step=3)
    assert json.loads((tmp_path / "scalars.json").read_text()) == {"mIoU": 51.5, "step": 3}
    assert SegLocalVisualizer(vis_backends=[dict(type="LocalVisBackend")]).vis_backends == []  # no save_dir yet
