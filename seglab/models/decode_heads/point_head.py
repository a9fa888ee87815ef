"""PointHead from "PointRend: Image Segmentation as Rendering" (https://arxiv.org/abs/1912.08193).

The second stage of a :class:`CascadeEncoderDecoder`: a shared MLP (1x1 Conv1d layers) classifies points
from fine-grained features sampled at those points plus the coarse stage's logits there. Training samples
uncertain points of the coarse logits; inference refines them by subdivision (upsample, re-predict the
most uncertain points, repeat). Keys (MMSeg's layout): ``fcs.<i>.conv.*``, ``fc_seg.*``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from ...structures import SegDataSample
from ..layers import ConvModule, point_sample, resize, sample_uncertain_points
from ..losses.accuracy import accuracy
from .cascade_decode_head import BaseCascadeDecodeHead

__all__ = ["PointHead", "calculate_uncertainty"]

_TEST_CFG_HINT = "e.g. test_cfg=dict(mode='whole', subdivision_steps=2, subdivision_num_points=8196, scale_factor=2)"
_TRAIN_CFG_HINT = "e.g. train_cfg=dict(num_points=2048, oversample_ratio=3, importance_sample_ratio=0.75)"


def calculate_uncertainty(seg_logits: torch.Tensor) -> torch.Tensor:
    """Second-best minus best logit, (N, C, ...) -> (N, 1, ...): highest (near 0) where the top two classes tie."""
    top2 = torch.topk(seg_logits, k=2, dim=1)[0]
    return (top2[:, 1] - top2[:, 0]).unsqueeze(1)


def _cfg_value(cfg: Mapping[str, Any] | None, key: str, which: str, hint: str) -> Any:
    if not cfg or key not in cfg:
        raise ConfigError(f"PointHead needs {which}.{key} (the segmentor's {which}); {hint}")
    return cfg[key]


@MODELS.register_module()
class PointHead(BaseCascadeDecodeHead):
    """Point MLP over (fine features, coarse logits) at sampled points.

    ``num_fcs`` fc layers of ``channels`` (``conv_cfg`` Conv1d), each followed by the coarse logits again when
    ``coarse_pred_each_layer``; ``fc_seg`` gives the point logits. ``in_channels``/``in_index`` list the
    fine-grained feature maps (always 'multiple_select'). Training reads ``train_cfg.num_points``,
    ``oversample_ratio``, ``importance_sample_ratio``; inference ``test_cfg.subdivision_steps``,
    ``subdivision_num_points``, ``scale_factor``. Other arguments are BaseDecodeHead's.
    """

    def __init__(
        self,
        num_fcs: int = 3,
        coarse_pred_each_layer: bool = True,
        conv_cfg: dict | None = dict(type="Conv1d"),  # noqa: B006 - never mutated
        norm_cfg: dict | None = None,
        act_cfg: dict | None = dict(type="ReLU", inplace=False),  # noqa: B006
        **kwargs: Any,
    ) -> None:
        super().__init__(input_transform="multiple_select", conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg,
                         init_cfg=None, **kwargs)
        if num_fcs < 0:
            raise ConfigError(f"PointHead: num_fcs must be >= 0, got {num_fcs}")
        self.num_fcs, self.coarse_pred_each_layer = num_fcs, coarse_pred_each_layer
        fc_in = sum(self.in_channels) + self.num_classes
        fcs = []
        for _ in range(num_fcs):
            fcs.append(ConvModule(fc_in, self.channels, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg))
            fc_in = self.channels + (self.num_classes if coarse_pred_each_layer else 0)
        self.fcs = nn.ModuleList(fcs)
        self.fc_seg = nn.Conv1d(fc_in, self.num_classes, kernel_size=1)
        nn.init.normal_(self.fc_seg.weight, 0, 0.01)
        nn.init.zeros_(self.fc_seg.bias)
        self.dropout = nn.Dropout(self.dropout_ratio) if self.dropout_ratio > 0 else None
        del self.conv_seg  # fc_seg classifies points instead

    # -- the point MLP ----------------------------------------------------------------------------
    def forward_points(self, fine_grained_point_feats: torch.Tensor, coarse_point_feats: torch.Tensor) -> torch.Tensor:
        """Point logits (N, num_classes, P) from fine features (N, sum(in_channels), P) and coarse logits
        (N, num_classes, P) (MMSeg's ``PointHead.forward``)."""
        coarse = coarse_point_feats
        x = torch.cat([fine_grained_point_feats, coarse], dim=1)
        for fc in self.fcs:
            x = fc(x)
            if self.coarse_pred_each_layer:
                x = torch.cat((x, coarse), dim=1)
        if self.dropout is not None:
            x = self.dropout(x)
        return self.fc_seg(x)

    def _point_logits(self, feats: list[torch.Tensor], prev_output: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        fine = torch.cat([point_sample(f, points, align_corners=self.align_corners) for f in feats], dim=1)
        coarse = point_sample(prev_output, points, align_corners=self.align_corners)
        return self.forward_points(fine, coarse)

    def _refine(self, feats: list[torch.Tensor], prev_output: torch.Tensor, logits: torch.Tensor,
                num_points: int) -> torch.Tensor:
        """``logits`` (N, C, H, W) with their ``num_points`` most uncertain pixels re-predicted by the MLP."""
        n, c, h, w = logits.shape
        if num_points >= h * w:  # every pixel: no need to rank them
            idx = torch.arange(h * w, device=logits.device).expand(n, -1)
            points = self._pixel_centres(idx, h, w)
        else:
            idx, points = self.get_points_test(logits, num_points)
        point_logits = self._point_logits(feats, prev_output, points)
        flat = logits.reshape(n, c, h * w).scatter(2, idx.unsqueeze(1).expand(-1, c, -1), point_logits)
        return flat.view(n, c, h, w)

    def forward(self, inputs: Sequence[torch.Tensor], prev_output: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Every pixel of the coarse logits ``prev_output`` (N, C, h, w) re-predicted by the point MLP: (N, C, h, w).

        The raw output in ``mode='tensor'`` (MMSeg has none for PointRend); ``predict`` refines by subdivision.
        """
        feats = self._transform_inputs(inputs)
        return self._refine(feats, prev_output, prev_output, prev_output.shape[2] * prev_output.shape[3])

    # -- point selection ------------------------------------------------------------------------
    @staticmethod
    def _pixel_centres(idx: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """(x, y) in [0, 1] of the centres of flat pixel indices ``idx`` (N, P) on an (h, w) grid: (N, P, 2)."""
        return torch.stack([0.5 / w + (idx % w).float() / w, 0.5 / h + (idx // w).float() / h], dim=2)

    def get_points_train(self, seg_logits: torch.Tensor, train_cfg: Mapping[str, Any] | None) -> torch.Tensor:
        """Training points (N, num_points, 2) in [0, 1]: mostly the most uncertain of oversampled random points."""
        return sample_uncertain_points(
            seg_logits, calculate_uncertainty,
            int(_cfg_value(train_cfg, "num_points", "train_cfg", _TRAIN_CFG_HINT)),
            _cfg_value(train_cfg, "oversample_ratio", "train_cfg", _TRAIN_CFG_HINT),
            _cfg_value(train_cfg, "importance_sample_ratio", "train_cfg", _TRAIN_CFG_HINT))

    def get_points_test(self, seg_logits: torch.Tensor, num_points: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``num_points`` most uncertain pixels of ``seg_logits`` (N, C, H, W): flat indices (N, P) and
        their centres (N, P, 2) in [0, 1]."""
        uncertainty = calculate_uncertainty(seg_logits)
        n, _, h, w = uncertainty.shape
        idx = uncertainty.view(n, h * w).topk(min(h * w, num_points), dim=1)[1]
        return idx, self._pixel_centres(idx, h, w)

    # -- training and inference -----------------------------------------------------------------
    def loss(self, inputs: Sequence[torch.Tensor], prev_output: torch.Tensor,  # type: ignore[override]
             batch_data_samples: list[SegDataSample], train_cfg: dict | None = None) -> dict[str, torch.Tensor]:
        """Point losses ('point' + loss name) and 'acc_point' at ``train_cfg.num_points`` sampled points."""
        feats = self._transform_inputs(inputs)
        with torch.no_grad():
            points = self.get_points_train(prev_output, train_cfg)
        return self.loss_by_feat(self._point_logits(feats, prev_output, points), points, batch_data_samples)

    def loss_by_feat(self, point_logits: torch.Tensor, points: torch.Tensor,  # type: ignore[override]
                     batch_data_samples: list[SegDataSample]) -> dict[str, torch.Tensor]:
        """Losses of point logits (N, C, P) against the labels at ``points`` (nearest pixel)."""
        gt = self._stack_batch_gt(batch_data_samples).float()
        label = point_sample(gt, points, mode="nearest", align_corners=self.align_corners).squeeze(1).long()
        losses: dict[str, torch.Tensor] = {}
        for loss_fn in self.losses_iter():
            value = loss_fn(point_logits, label, ignore_index=self.ignore_index)
            key = "point" + loss_fn.loss_name
            losses[key] = losses[key] + value if key in losses else value
        losses["acc_point"] = accuracy(point_logits, label, ignore_index=self.ignore_index)
        return losses

    def predict(self, inputs: Sequence[torch.Tensor], prev_output: torch.Tensor,  # type: ignore[override]
                batch_img_metas: list[dict], test_cfg: dict | None = None) -> torch.Tensor:
        """Subdivision inference: ``subdivision_steps`` times upsample by ``scale_factor`` and re-predict the
        ``subdivision_num_points`` most uncertain pixels; then resize to the input: (N, C, H, W)."""
        steps = int(_cfg_value(test_cfg, "subdivision_steps", "test_cfg", _TEST_CFG_HINT))
        num_points = int(_cfg_value(test_cfg, "subdivision_num_points", "test_cfg", _TEST_CFG_HINT))
        scale_factor = _cfg_value(test_cfg, "scale_factor", "test_cfg", _TEST_CFG_HINT)
        feats = self._transform_inputs(inputs)
        refined = prev_output
        for _ in range(steps):
            refined = resize(refined, scale_factor=scale_factor, mode="bilinear", align_corners=self.align_corners)
            refined = self._refine(feats, prev_output, refined, num_points)
        return self.predict_by_feat(refined, batch_img_metas)
