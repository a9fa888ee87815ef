"""STDCHead: the detail-guidance head of STDC ("Rethinking BiSeNet For Real-time Semantic
Segmentation", https://arxiv.org/abs/2104.13188).

It is an FCNHead whose training target is not the class map but a binary boundary map: a 3x3
Laplacian of the label map at strides 1, 2 and 4, thresholded, upsampled, fused with fixed
weights (0.6, 0.3, 0.1) and thresholded again. Keys: FCNHead's plus ``laplacian_kernel`` (buffer) and
``fusion_kernel`` (a frozen parameter), as in MMSeg.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS
from ...structures import PixelData, SegDataSample
from .fcn_head import FCNHead

__all__ = ["STDCHead", "boundary_targets"]


def boundary_targets(seg_label: torch.Tensor, laplacian_kernel: torch.Tensor, fusion_kernel: torch.Tensor,
                     threshold: float) -> torch.Tensor:
    """Binary detail map (N, 1, H, W) int64 from labels ``seg_label`` (N, 1, H, W) (MMSeg's recipe).

    A pixel is a boundary where the fused multi-scale Laplacian response of the label map exceeds
    ``threshold``; ignore-index pixels take part like any label value, as in MMSeg.
    """
    label = seg_label.to(laplacian_kernel)
    pyramid = []
    for stride in (1, 2, 4):
        edges = F.conv2d(label, laplacian_kernel, stride=stride, padding=1).clamp(min=0)
        if stride > 1:
            edges = F.interpolate(edges, label.shape[2:], mode="nearest")
        pyramid.append((edges > threshold).to(label.dtype))
    fused = F.conv2d(torch.cat(pyramid, dim=1), fusion_kernel)
    return (fused > threshold).long()


@MODELS.register_module()
class STDCHead(FCNHead):
    """FCNHead trained on Laplacian boundary targets (usually ``num_classes=2`` with BCE + Dice losses).

    ``boundary_threshold`` binarises each Laplacian level and the fused map. Other arguments are
    those of :class:`FCNHead`. Inference is FCNHead's (it is an auxiliary head).
    """

    def __init__(self, boundary_threshold: float = 0.1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.boundary_threshold = boundary_threshold
        laplacian = torch.tensor([-1, -1, -1, -1, 8, -1, -1, -1, -1], dtype=torch.float32).reshape(1, 1, 3, 3)
        self.register_buffer("laplacian_kernel", laplacian)
        # A frozen Parameter (not a buffer) so the key and its place in the state dict match MMSeg.
        self.fusion_kernel = nn.Parameter(torch.tensor([0.6, 0.3, 0.1]).reshape(1, 3, 1, 1), requires_grad=False)

    def loss_by_feat(self, seg_logits: torch.Tensor, batch_data_samples: list[SegDataSample]) -> dict[str, torch.Tensor]:
        """FCN losses of logits (N, C, h, w) against the boundary map of each sample's ``gt_sem_seg``."""
        labels = boundary_targets(self._stack_batch_gt(batch_data_samples), self.laplacian_kernel,
                                  self.fusion_kernel, self.boundary_threshold)
        samples = [SegDataSample(gt_sem_seg=PixelData(data=label)) for label in labels]
        return super().loss_by_feat(seg_logits, samples)
