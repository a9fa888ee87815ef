"""GenerateEdge: boundary map on known masks, ignore_index, packing, parity with MMSeg."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from seglab.datasets.transforms import Compose
from seglab.datasets.transforms.edge import GenerateEdge

GOLDEN = Path(__file__).parents[2] / "data" / "transforms" / "mmseg_extra_transforms.npz"


def test_two_regions_width_one_and_three() -> None:
    seg = np.zeros((6, 8), np.uint8)
    seg[:, 4:] = 1  # vertical border between columns 3 and 4
    r = GenerateEdge(edge_width=1)(dict(gt_seg_map=seg))
    expected = np.zeros((6, 8), np.uint8)
    expected[:, 3] = 1  # horizontal and "\\" pairs mark the left / upper-left pixel: column 3
    expected[:-1, 4] = 1  # down-left diagonal pairs mark the upper-right pixel: column 4 except the last row
    np.testing.assert_array_equal(r["gt_edge_map"], expected)
    assert r["edge_width"] == 1
    wide = GenerateEdge(edge_width=3)(dict(gt_seg_map=seg))["gt_edge_map"]
    expected3 = np.zeros((6, 8), np.uint8)
    expected3[:, 2:6] = 1  # dilated by one pixel each side
    np.testing.assert_array_equal(wide, expected3)
    assert wide.dtype == np.uint8


def test_horizontal_border_marks_lower_row_and_ignore_index() -> None:
    seg = np.zeros((5, 3), np.uint8)
    seg[2:] = 2
    edge = GenerateEdge(edge_width=1)(dict(gt_seg_map=seg))["gt_edge_map"]
    # Vertical pairs mark the lower pixel (row 2), diagonal pairs the upper one (row 1).
    np.testing.assert_array_equal(edge.any(1), [False, True, True, False, False])
    np.testing.assert_array_equal(edge[2], [1, 1, 1])
    seg[2:] = 255  # a border with ignored pixels is no edge
    assert GenerateEdge(edge_width=3)(dict(gt_seg_map=seg))["gt_edge_map"].sum() == 0


def test_packed_into_data_sample() -> None:
    seg = np.zeros((4, 4), np.uint8)
    seg[2:] = 1
    out = Compose([dict(type="GenerateEdge", edge_width=1), dict(type="PackSegInputs")])(
        dict(img=np.zeros((4, 4, 3), np.uint8), gt_seg_map=seg, seg_fields=["gt_seg_map"]))
    edge = out["data_samples"].gt_edge_map
    edge = getattr(edge, "data", edge)
    assert tuple(edge.shape) == (1, 4, 4)
    assert edge[0, 2].tolist() == [1, 1, 1, 1] and edge[0, 0].tolist() == [0, 0, 0, 0]


def test_matches_mmseg() -> None:
    g = np.load(GOLDEN)
    for width in (1, 3):
        edge = GenerateEdge(edge_width=width)(dict(gt_seg_map=g["seg"].copy()))["gt_edge_map"]
        np.testing.assert_array_equal(edge, g[f"edge{width}"])
