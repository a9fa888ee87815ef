"""CascadeEncoderDecoder: a chain of decode heads, each refining the previous head's logits."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from ...structures import SegDataSample
from ..decode_heads.cascade_decode_head import BaseCascadeDecodeHead
from ..decode_heads.decode_head import BaseDecodeHead
from .encoder_decoder import EncoderDecoder, _known_channels, add_prefix, check_head_channels

__all__ = ["CascadeEncoderDecoder"]


@MODELS.register_module()
class CascadeEncoderDecoder(EncoderDecoder):
    """EncoderDecoder with ``num_stages`` decode heads; head i > 0 takes (features, logits of head i-1)."""

    def __init__(
        self,
        num_stages: int,
        backbone: dict | nn.Module,
        decode_head: Sequence[dict | nn.Module],
        neck: dict | nn.Module | None = None,
        auxiliary_head: dict | nn.Module | Sequence[dict | nn.Module] | None = None,
        train_cfg: dict | None = None,
        test_cfg: dict | None = None,
        data_preprocessor: dict | nn.Module | None = None,
        pretrained: str | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        self.num_stages = num_stages
        super().__init__(
            backbone=backbone,
            decode_head=decode_head,
            neck=neck,
            auxiliary_head=auxiliary_head,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            pretrained=pretrained,
            init_cfg=init_cfg,
        )

    def _init_decode_head(self, decode_head: Sequence[dict | nn.Module]) -> None:
        if not isinstance(decode_head, (list, tuple)) or len(decode_head) != self.num_stages:
            raise ConfigError(
                f"CascadeEncoderDecoder: decode_head must be a list of num_stages={self.num_stages} "
                f"heads, got {type(decode_head).__name__}"
                + (f" of length {len(decode_head)}" if isinstance(decode_head, (list, tuple)) else "")
            )
        self.decode_head = nn.ModuleList([MODELS.build(h) for h in decode_head])
        for i, head in enumerate(self.decode_head):
            # Stages after the first are called with (features, previous logits): a plain head cannot be.
            if i > 0 and isinstance(head, BaseDecodeHead) and not isinstance(head, BaseCascadeDecodeHead):
                raise ConfigError(f"CascadeEncoderDecoder: decode_head[{i}] is a {type(head).__name__}, which cannot "
                                  "take the previous stage's logits; stages after the first need a cascade head "
                                  "(e.g. OCRHead)")
        last = self.decode_head[-1]
        self.align_corners, self.num_classes, self.out_channels = (
            last.align_corners,
            last.num_classes,
            last.out_channels,
        )

    def _check_channels(self) -> None:
        """Fail at build time when a stage's or auxiliary head's in_channels disagree with the backbone's."""
        super()._check_channels()  # the auxiliary heads (the head list itself declares no channels)
        if self.with_neck:
            return
        channels = _known_channels(self.backbone)
        # Every stage reads the backbone features (later stages also get the previous stage's logits).
        for i, head in enumerate(self.decode_head):
            check_head_channels(channels, head, f"decode_head[{i}]", "backbone")

    def encode_decode(self, inputs: torch.Tensor, batch_img_metas: list[dict]) -> torch.Tensor:
        """Logits (N, C, H, W) of the last stage at the metas' (padded) input shape."""
        x = self.extract_feat(inputs)
        out = self.decode_head[0].forward(x)
        for head in self.decode_head[1:-1]:
            out = head.forward(x, out)
        return self.decode_head[-1].predict(x, out, batch_img_metas, self.test_cfg)

    def _forward(self, inputs: torch.Tensor, data_samples: list[SegDataSample] | None = None) -> torch.Tensor:
        """Raw output of the last stage (N, C, h, w)."""
        x = self.extract_feat(inputs)
        out = self.decode_head[0].forward(x)
        for head in self.decode_head[1:]:
            out = head.forward(x, out)
        return out

    def loss(self, inputs: torch.Tensor, data_samples: list[SegDataSample]) -> dict[str, torch.Tensor]:
        """Stage losses as 'decode_{i}.*' (MMSeg's names: decode_0.loss_ce, decode_1.loss_ce, ...) plus auxiliary ones.

        Stage i > 0 is trained on the logits stage i - 1 gives in a fresh forward pass, as MMSeg does.
        """
        x = self.extract_feat(inputs)
        losses = add_prefix(self.decode_head[0].loss(x, data_samples, self.train_cfg), "decode_0")
        prev = None
        for i in range(1, self.num_stages):
            prev = self.decode_head[0].forward(x) if i == 1 else self.decode_head[i - 1].forward(x, prev)
            losses.update(add_prefix(self.decode_head[i].loss(x, prev, data_samples, self.train_cfg), f"decode_{i}"))
        if self.with_auxiliary_head:
            losses.update(self._auxiliary_head_forward_train(x, data_samples))
        return losses
