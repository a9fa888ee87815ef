"""GenerateEdge: a boundary map from ``gt_seg_map`` for edge-aware heads (CE2P,
https://arxiv.org/abs/1809.05996).
"""
from __future__ import annotations

import cv2
import numpy as np

from seglab.registry import TRANSFORMS

__all__ = ["GenerateEdge"]


@TRANSFORMS.register_module()
class GenerateEdge:
    """Add ``gt_edge_map`` (H, W) uint8: 1 near a border between two different labels, else 0.

    A pixel is marked when its label differs from the pixel above it (the lower one is marked), to its
    right (the left one is marked) or a diagonal neighbour below (the upper one is marked); pairs with
    ``ignore_index`` never count. The marks are then dilated by an ``edge_width`` square. Also sets
    ``edge_width``.
    """

    def __init__(self, edge_width: int = 3, ignore_index: int = 255) -> None:
        if edge_width <= 0:
            raise ValueError(f"GenerateEdge: edge_width must be positive, got {edge_width}")
        self.edge_width = int(edge_width)
        self.ignore_index = ignore_index

    def _differs(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a != b) & (a != self.ignore_index) & (b != self.ignore_index)

    def __call__(self, results: dict) -> dict:
        seg = results.get("gt_seg_map")
        if seg is None:
            raise ValueError("GenerateEdge: results has no 'gt_seg_map'; put LoadAnnotations before it")
        edge = np.zeros(seg.shape[:2], dtype=np.uint8)
        edge[1:, :][self._differs(seg[1:, :], seg[:-1, :])] = 1  # vertical neighbours: mark the lower
        edge[:, :-1][self._differs(seg[:, :-1], seg[:, 1:])] = 1  # horizontal neighbours: mark the left
        edge[:-1, :-1][self._differs(seg[:-1, :-1], seg[1:, 1:])] = 1  # "\" diagonal: mark the upper
        edge[:-1, 1:][self._differs(seg[:-1, 1:], seg[1:, :-1])] = 1  # "/" diagonal: mark the upper
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (self.edge_width, self.edge_width))
        results["gt_edge_map"] = cv2.dilate(edge, kernel)
        results["edge_width"] = self.edge_width
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(edge_width={self.edge_width}, ignore_index={self.ignore_index})"
