"""SegLocalVisualizer draws depth samples: the image, then ground-truth and predicted depth on one colour scale."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from seglab.structures import SegDataSample
from seglab.visualization import SegLocalVisualizer


def test_depth_maps_are_drawn_side_by_side_on_a_shared_scale(tmp_path):
    gt = torch.tensor([[[0.0, 1.0, 2.0, 3.0]] * 3])  # the first column has no depth
    pred = torch.full((1, 3, 4), 3.0)
    sample = SegDataSample(gt_depth_map=gt, pred_depth_map=pred)
    image = np.full((3, 4, 3), 7, np.uint8)
    drawn = SegLocalVisualizer().add_datasample("d", image, sample, out_file=str(tmp_path / "d.png"))
    assert drawn.shape == (3, 12, 3)
    np.testing.assert_array_equal(drawn[:, :4], image)
    gt_panel, pred_panel = drawn[:, 4:8], drawn[:, 8:]
    assert not gt_panel[:, 0].any()  # no depth: black
    turbo = cv2.applyColorMap(np.array([[0, 255]], np.uint8), cv2.COLORMAP_TURBO)[0, :, ::-1]
    np.testing.assert_array_equal(gt_panel[0, 1], turbo[0])  # 1 m: the nearest valid depth
    np.testing.assert_array_equal(gt_panel[0, 3], turbo[1])  # 3 m: the farthest
    np.testing.assert_array_equal(pred_panel[0, 0], turbo[1])  # the prediction uses the same scale
    only_pred = SegLocalVisualizer().add_datasample("p", image, sample, draw_gt=False, out_file=str(tmp_path / "p.png"))
    assert only_pred.shape == (3, 8, 3)
