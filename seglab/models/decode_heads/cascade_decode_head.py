"""BaseCascadeDecodeHead: a decode head that refines the previous cascade stage's logits."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from ...structures import SegDataSample
from .decode_head import BaseDecodeHead

__all__ = ["BaseCascadeDecodeHead"]


class BaseCascadeDecodeHead(BaseDecodeHead):
    """Base of the heads of :class:`CascadeEncoderDecoder` stages > 0: ``forward(inputs, prev_output)``.

    ``prev_output`` is the previous stage's raw logits (N, K, h, w). Arguments are those of BaseDecodeHead.
    """

    def forward(self, inputs: Sequence[torch.Tensor], prev_output: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Return raw logits (N, out_channels, h, w) from features and the previous stage's logits."""
        raise NotImplementedError

    def loss(self, inputs: Sequence[torch.Tensor], prev_output: torch.Tensor,  # type: ignore[override]
             batch_data_samples: list[SegDataSample], train_cfg: dict | None = None) -> dict[str, torch.Tensor]:
        """Forward with the previous stage's logits and compute the losses against ``gt_sem_seg``."""
        return self.loss_by_feat(self.forward(inputs, prev_output), batch_data_samples)

    def predict(self, inputs: Sequence[torch.Tensor], prev_output: torch.Tensor,  # type: ignore[override]
                batch_img_metas: list[dict], test_cfg: dict | None = None) -> torch.Tensor:
        """Logits resized to the (padded) input size: (N, out_channels, H, W)."""
        return self.predict_by_feat(self.forward(inputs, prev_output), batch_img_metas)
