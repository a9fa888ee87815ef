"""Legend, contact sheet, confusion-matrix figure and training curves (OpenCV drawings, no matplotlib)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from seglab.visualization import (
    confusion_matrix_figure,
    contact_sheet,
    curves_figure,
    draw_legend,
    normalize_confusion,
)

CLASSES = ["road", "car", "sky"]
PALETTE = [[128, 64, 128], [0, 0, 142], [70, 130, 180]]


def test_legend_draws_each_class_swatch_in_its_colour():
    legend = draw_legend(CLASSES, PALETTE, width=400)
    assert legend.shape[1] == 400 and legend.dtype == np.uint8
    colours = {tuple(c) for c in legend.reshape(-1, 3)}
    assert all(tuple(c) in colours for c in PALETTE)
    only_car = draw_legend(CLASSES, PALETTE, width=400, present=[1])
    colours = {tuple(c) for c in only_car.reshape(-1, 3)}
    assert (0, 0, 142) in colours and (128, 64, 128) not in colours
    # a narrow legend wraps into more rows
    assert draw_legend(CLASSES, PALETTE, width=120).shape[0] > legend.shape[0]


def test_contact_sheet_rows_are_scaled_and_side_by_side():
    image = np.full((32, 48, 3), 100, np.uint8)
    gt = np.zeros((32, 48), np.int64)
    pred = np.ones((32, 48), np.int64)
    sheet = contact_sheet([(image, gt, pred)] * 3, CLASSES, PALETTE, row_height=128, alpha=1.0)
    panel_w = 48 * 128 // 32
    assert sheet.shape[1] == 3 * panel_w + 2 * 4
    assert sheet.shape[0] > 3 * 128  # header, three rows, legend
    row = sheet[28 : 28 + 128]  # below the 28-pixel header
    assert (row[:, :panel_w] == 100).all()  # the image
    assert (row[:, panel_w + 4 : 2 * panel_w + 4] == PALETTE[0]).all()  # GT fully road at alpha 1
    assert (row[:, 2 * panel_w + 8 :] == PALETTE[1]).all()  # prediction fully car
    with pytest.raises(ValueError, match="no rows"):
        contact_sheet([], CLASSES, PALETTE)


def test_normalize_confusion_rows_sum_to_one_or_zero():
    matrix = np.array([[3, 1, 0], [0, 0, 0], [2, 2, 4]])
    norm = normalize_confusion(matrix)
    np.testing.assert_allclose(norm, [[0.75, 0.25, 0], [0, 0, 0], [0.25, 0.25, 0.5]])


def test_confusion_figure_shape_and_darkest_cell():
    matrix = np.array([[9, 1, 0], [0, 5, 5], [0, 0, 7]])
    fig = confusion_matrix_figure(matrix, CLASSES, cell=40)
    assert fig.ndim == 3 and fig.shape[2] == 3 and fig.shape[0] > 120 and fig.shape[1] > 120
    assert fig.min() < 60  # full-row cells are dark blue
    with pytest.raises(ValueError, match="3 classes"):
        confusion_matrix_figure(np.zeros((2, 2)), CLASSES)


def test_curves_figure_one_panel_per_curve_with_its_own_line():
    curves = {"loss": ([1, 2, 3, 4], [2.0, 1.5, 1.0, 0.8]), "mIoU": ([2, 4], [10.0, 40.0])}
    fig = curves_figure(curves, width=500, height=200)
    assert fig.shape == (400, 500, 3)
    top, bottom = fig[:200], fig[200:]
    # each panel has its own line colour (blue for the first, orange for the second)
    assert (top == (31, 119, 180)).all(axis=2).any() and not (top == (255, 127, 14)).all(axis=2).any()
    assert (bottom == (255, 127, 14)).all(axis=2).any()
    # a falling loss: the line starts high on the left and ends low on the right
    blue = np.argwhere((top == (31, 119, 180)).all(axis=2))
    left, right = blue[blue[:, 1] < 100], blue[blue[:, 1] > 400]
    assert left[:, 0].mean() < right[:, 0].mean()


def test_visualizer_adds_a_legend_of_the_drawn_classes_below_gt_and_prediction():
    from seglab.structures import SegDataSample
    from seglab.visualization import SegLocalVisualizer

    image = np.full((20, 30, 3), 50, np.uint8)
    gt = torch.zeros((1, 20, 30), dtype=torch.int64)
    pred = torch.zeros((1, 20, 30), dtype=torch.int64)
    pred[:, :, 15:] = 2
    sample = SegDataSample(gt_sem_seg=gt, pred_sem_seg=pred)
    vis = SegLocalVisualizer(alpha=1.0)
    vis.dataset_meta = dict(classes=CLASSES, palette=PALETTE)
    plain = vis.add_datasample("x", image, sample, out_file=None)
    with_legend = vis.add_datasample("x", image, sample, with_legend=True)
    assert plain.shape == (20, 60, 3)  # GT | prediction side by side
    assert with_legend.shape[1] == 60 and with_legend.shape[0] > 20
    np.testing.assert_array_equal(with_legend[:20], plain)
    legend_colours = {tuple(c) for c in with_legend[20:].reshape(-1, 3)}
    assert tuple(PALETTE[0]) in legend_colours and tuple(PALETTE[2]) in legend_colours
    assert tuple(PALETTE[1]) not in legend_colours  # 'car' is not drawn, so it is not listed
