"""DepthEstimator: an EncoderDecoder whose head predicts depth (MMSeg 1.x, used by VPD on NYU-v2).

``loss`` trains the decode head on ``gt_depth_map``; ``predict`` gives each sample a ``pred_depth_map``
(C, H, W) at its ``ori_shape``. ``test_cfg.mode``: 'whole', 'slide' (windows averaged) or
'slide_flip' (each window averaged with its horizontally flipped prediction, as MMSeg's VPD configs
use). MMSeg 1.2.2 runs 'whole' when 'slide' is asked (an if/if/else slip); here 'slide' slides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ...registry import MODELS, ConfigError
from ...structures import SegDataSample
from .base import restore_to_ori
from .encoder_decoder import EncoderDecoder

__all__ = ["DepthEstimator"]

_MODES = ("whole", "slide", "slide_flip")


@MODELS.register_module()
class DepthEstimator(EncoderDecoder):
    """Backbone, optional neck, a depth decode head (e.g. VPDDepthHead) and optional auxiliary heads.

    A backbone with ``class_embed_select=True`` (VPD's) receives ``(inputs, category_ids)`` built from
    each sample's ``category_id`` metainfo (NYUDataset sets it from the scene name).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # EncoderDecoder's arguments (MMSeg's): backbone, decode_head, neck, ...
        mode = self.test_cfg.get("mode", "whole")
        if mode not in _MODES:
            raise ConfigError(f"DepthEstimator: test_cfg.mode must be one of {list(_MODES)}, got {mode!r}")

    def _check_binary(self) -> None:
        """Depth heads have no sigmoid/softmax setting to agree on."""

    @staticmethod
    def _metas(inputs: torch.Tensor, data_samples: list[SegDataSample] | None) -> list[dict]:
        if data_samples is not None:
            return [s.metainfo for s in data_samples]
        shape = tuple(inputs.shape[2:])
        return [dict(ori_shape=shape, img_shape=shape, pad_shape=shape, padding_size=[0, 0, 0, 0])
                for _ in range(inputs.shape[0])]

    def extract_feat(self, inputs: torch.Tensor, batch_img_metas: list[dict] | None = None) -> Sequence[torch.Tensor]:
        """Backbone (and neck) features; a ``class_embed_select`` backbone also gets the category ids."""
        if getattr(self.backbone, "class_embed_select", False) and batch_img_metas and \
                "category_id" in batch_img_metas[0]:
            cat_ids = torch.tensor([m["category_id"] for m in batch_img_metas], device=inputs.device)
            x = self.backbone((inputs, cat_ids))
        else:
            x = self.backbone(inputs)
        return self.neck(x) if self.with_neck else x

    def encode_decode(self, inputs: torch.Tensor, batch_img_metas: list[dict]) -> torch.Tensor:
        """Depth (N, 1, H, W) at the metas' (padded) input shape."""
        return self.decode_head.predict(self.extract_feat(inputs, batch_img_metas), batch_img_metas, self.test_cfg)

    def loss(self, inputs: torch.Tensor, data_samples: list[SegDataSample]) -> dict[str, torch.Tensor]:
        """Decode-head losses as 'decode.*' and auxiliary ones as 'aux.*' (or 'aux_{i}.*')."""
        x = self.extract_feat(inputs, self._metas(inputs, data_samples))
        losses = {f"decode.{k}": v for k, v in self.decode_head.loss(x, data_samples, self.train_cfg).items()}
        if self.with_auxiliary_head:
            losses.update(self._auxiliary_head_forward_train(x, data_samples))
        return losses

    def predict(self, inputs: torch.Tensor, data_samples: list[SegDataSample] | None = None) -> list[SegDataSample]:
        """Samples with ``pred_depth_map`` (1, H, W) at each ``ori_shape``."""
        return self.postprocess_result(self.inference(inputs, self._metas(inputs, data_samples)), data_samples)

    def _flip_averaged_decode(self, inputs: torch.Tensor, batch_img_metas: list[dict]) -> torch.Tensor:
        """The mean of the depth of ``inputs`` and the un-flipped depth of their horizontal flip."""
        depth = self.encode_decode(inputs, batch_img_metas)
        flipped = self.encode_decode(inputs.flip(dims=(3,)), batch_img_metas).flip(dims=(3,))
        return (depth + flipped) / 2.0

    def slide_flip_inference(self, inputs: torch.Tensor, batch_img_metas: list[dict]) -> torch.Tensor:
        """Sliding windows, each averaged with its flipped prediction, overlaps averaged: (N, 1, H, W)."""
        return self.slide_inference(inputs, batch_img_metas, decode=self._flip_averaged_decode)

    def inference(self, inputs: torch.Tensor, batch_img_metas: list[dict]) -> torch.Tensor:
        """Depth (N, 1, H, W) by ``test_cfg.mode`` ('whole', 'slide' or 'slide_flip')."""
        if self.test_cfg.get("mode", "whole") == "slide_flip":
            return self.slide_flip_inference(inputs, batch_img_metas)
        return super().inference(inputs, batch_img_metas)

    def postprocess_result(self, depth: torch.Tensor,
                           data_samples: list[SegDataSample] | None = None) -> list[SegDataSample]:
        """Crop padding, undo flips and resize to ``ori_shape``; set ``pred_depth_map`` (C, H, W)."""
        if data_samples is None:
            samples = [SegDataSample() for _ in range(depth.shape[0])]
            for sample, d in zip(samples, depth):
                sample.pred_depth_map = d
            return samples
        for i, sample in enumerate(data_samples):
            sample.pred_depth_map = restore_to_ori(depth[i : i + 1], sample.metainfo, self.align_corners).squeeze(0)
        return data_samples
