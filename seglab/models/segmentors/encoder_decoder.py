"""EncoderDecoder: backbone -> (neck) -> decode head (+ auxiliary heads), whole or sliding-window inference."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from ...structures import SegDataSample
from ..decode_heads.decode_head import check_auxiliary_binary
from .base import BaseSegmentor

__all__ = ["EncoderDecoder", "add_prefix", "check_head_channels"]


def add_prefix(values: dict, prefix: str) -> dict:
    """Return ``values`` with every key written as ``'{prefix}.{key}'``."""
    return {f"{prefix}.{k}": v for k, v in values.items()}


def _known_channels(module: nn.Module) -> list[int] | None:
    channels = getattr(module, "out_channels", None)
    if isinstance(channels, (list, tuple)) and channels and all(isinstance(c, int) for c in channels):
        return list(channels)
    return None


def check_head_channels(feature_channels: list[int] | None, head: nn.Module, head_name: str, source: str) -> None:
    """Raise ConfigError when a head's ``in_channels`` disagree with the channels of the features it reads."""
    in_channels = getattr(head, "in_channels", None)
    in_index = getattr(head, "in_index", None)
    transform = getattr(head, "input_transform", None)
    if feature_channels is None or in_channels is None or in_index is None:
        return
    indices = list(in_index) if isinstance(in_index, (list, tuple)) else [in_index]
    n = len(feature_channels)
    for i in indices:
        if not isinstance(i, int) or not -n <= i < n:
            raise ConfigError(
                f"{head_name}.in_index={in_index} is out of range for the {n} feature maps of the "
                f"{source} (out_channels={feature_channels})"
            )
    picked = [feature_channels[i] for i in indices]
    if transform == "resize_concat":
        expected: int | list[int] = sum(picked)
    elif transform == "multiple_select":
        expected = picked
    else:
        expected = picked[0]
    actual = list(in_channels) if isinstance(in_channels, (list, tuple)) else in_channels
    if actual != expected:
        raise ConfigError(
            f"{head_name}.in_channels={actual} but the {source} gives {expected} channels at "
            f"in_index={in_index} (its out_channels are {feature_channels}); set "
            f"{head_name}.in_channels={expected}"
        )


def _with_pretrained(backbone: dict | nn.Module, pretrained: str | None) -> dict | nn.Module:
    """MMSeg's ``model.pretrained``: the backbone's ``init_cfg`` becomes Pretrained from that checkpoint."""
    if pretrained is None:
        return backbone
    if not isinstance(pretrained, (str, os.PathLike)):
        raise ConfigError(f"model.pretrained must be a checkpoint path, URL or name, or None; got {pretrained!r}")
    init_cfg = dict(type="Pretrained", checkpoint=os.fspath(pretrained))
    for key in ("pretrained", "init_cfg"):
        given = backbone.get(key) if isinstance(backbone, dict) else getattr(backbone, key, None)
        if given is not None:
            raise ConfigError(
                f"model.pretrained={pretrained!r} and model.backbone.{key}={given!r} both name the "
                f"backbone's weights; keep one (e.g. --cfg-options model.pretrained=None to use the "
                f"backbone's {key})"
            )
    if isinstance(backbone, dict):
        return dict(backbone, init_cfg=init_cfg)
    backbone.init_cfg = init_cfg
    return backbone


@MODELS.register_module()
class EncoderDecoder(BaseSegmentor):
    """Backbone, optional neck, decode head and optional auxiliary head(s), with MMSeg 1.x arguments.

    ``test_cfg.mode`` is 'whole' (one forward over the padded image) or 'slide' (``crop_size`` windows
    every ``stride`` pixels; overlapping logits are averaged).
    """

    def __init__(
        self,
        backbone: dict | nn.Module,
        decode_head: dict | nn.Module,
        neck: dict | nn.Module | None = None,
        auxiliary_head: dict | nn.Module | Sequence[dict | nn.Module] | None = None,
        train_cfg: dict | None = None,
        test_cfg: dict | None = None,
        data_preprocessor: dict | nn.Module | None = None,
        pretrained: str | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(_with_pretrained(backbone, pretrained))
        self.neck = MODELS.build(neck) if neck is not None else None
        self._init_decode_head(decode_head)
        self._init_auxiliary_head(auxiliary_head)
        self.train_cfg = dict(train_cfg) if train_cfg else {}
        self.test_cfg = dict(test_cfg) if test_cfg else dict(mode="whole")
        self._check_channels()
        self._check_binary()

    def _init_decode_head(self, decode_head: dict | nn.Module) -> None:
        self.decode_head = MODELS.build(decode_head)
        self.align_corners = self.decode_head.align_corners
        self.num_classes = self.decode_head.num_classes
        self.out_channels = self.decode_head.out_channels

    def _init_auxiliary_head(self, auxiliary_head: dict | nn.Module | Sequence | None) -> None:
        if auxiliary_head is None:
            self.auxiliary_head = None
        elif isinstance(auxiliary_head, (list, tuple)):
            self.auxiliary_head = nn.ModuleList([MODELS.build(h) for h in auxiliary_head])
        else:
            self.auxiliary_head = MODELS.build(auxiliary_head)

    def _check_channels(self) -> None:
        """Fail at build time when a head's in_channels disagree with the backbone's out_channels."""
        if self.with_neck:
            return  # a neck's output channels are not declared uniformly; its own checks apply
        channels = _known_channels(self.backbone)
        check_head_channels(channels, self.decode_head, "decode_head", "backbone")
        if isinstance(self.auxiliary_head, nn.ModuleList):
            for i, head in enumerate(self.auxiliary_head):
                check_head_channels(channels, head, f"auxiliary_head[{i}]", "backbone")
        elif self.auxiliary_head is not None:
            check_head_channels(channels, self.auxiliary_head, "auxiliary_head", "backbone")

    def _check_binary(self) -> None:
        """Fail at build time when the auxiliary heads do not share the decode head's sigmoid/softmax setting."""
        if self.auxiliary_head is None:
            return
        last = self.decode_head[-1] if isinstance(self.decode_head, nn.ModuleList) else self.decode_head
        if isinstance(self.auxiliary_head, nn.ModuleList):
            heads, names = list(self.auxiliary_head), [f"auxiliary_head[{i}]" for i in range(len(self.auxiliary_head))]
        else:
            heads, names = [self.auxiliary_head], ["auxiliary_head"]
        check_auxiliary_binary(last, heads, names)

    # -- features and logits ----------------------------------------------------------------------
    def extract_feat(self, inputs: torch.Tensor) -> Sequence[torch.Tensor]:
        """Backbone (and neck) features of a batch (N, C, H, W)."""
        x = self.backbone(inputs)
        return self.neck(x) if self.with_neck else x

    def encode_decode(self, inputs: torch.Tensor, batch_img_metas: list[dict]) -> torch.Tensor:
        """Logits (N, num_classes, H, W) resized to the metas' (padded) input shape."""
        return self.decode_head.predict(self.extract_feat(inputs), batch_img_metas, self.test_cfg)

    def _forward(self, inputs: torch.Tensor, data_samples: list[SegDataSample] | None = None) -> torch.Tensor:
        """The decode head's raw output (N, num_classes, h, w)."""
        return self.decode_head.forward(self.extract_feat(inputs))

    # -- training ---------------------------------------------------------------------------------
    def _auxiliary_head_forward_train(
        self, x: Sequence[torch.Tensor], data_samples: list[SegDataSample]
    ) -> dict[str, torch.Tensor]:
        losses: dict[str, torch.Tensor] = {}
        if isinstance(self.auxiliary_head, nn.ModuleList):
            for i, head in enumerate(self.auxiliary_head):
                losses.update(add_prefix(head.loss(x, data_samples, self.train_cfg), f"aux_{i}"))
        else:
            losses.update(add_prefix(self.auxiliary_head.loss(x, data_samples, self.train_cfg), "aux"))
        return losses

    def loss(self, inputs: torch.Tensor, data_samples: list[SegDataSample]) -> dict[str, torch.Tensor]:
        """Decode-head losses as 'decode.*' and auxiliary ones as 'aux.*' (or 'aux_{i}.*' for a list)."""
        x = self.extract_feat(inputs)
        losses = add_prefix(self.decode_head.loss(x, data_samples, self.train_cfg), "decode")
        if self.with_auxiliary_head:
            losses.update(self._auxiliary_head_forward_train(x, data_samples))
        return losses

    # -- inference --------------------------------------------------------------------------------
    def predict(self, inputs: torch.Tensor, data_samples: list[SegDataSample] | None = None) -> list[SegDataSample]:
        """Predictions at each sample's ``ori_shape`` (``seg_logits`` and ``pred_sem_seg``)."""
        if data_samples is not None:
            batch_img_metas = [s.metainfo for s in data_samples]
        else:
            shape = tuple(inputs.shape[2:])
            batch_img_metas = [
                dict(ori_shape=shape, img_shape=shape, pad_shape=shape, padding_size=[0, 0, 0, 0])
                for _ in range(inputs.shape[0])
            ]
        return self.postprocess_result(self.inference(inputs, batch_img_metas), data_samples)

    def whole_inference(self, inputs: torch.Tensor, batch_img_metas: list[dict]) -> torch.Tensor:
        """One forward pass over the whole batch: logits (N, C, H, W)."""
        return self.encode_decode(inputs, batch_img_metas)

    def slide_inference(self, inputs: torch.Tensor, batch_img_metas: list[dict],
                        decode: Callable[[torch.Tensor, list[dict]], torch.Tensor] | None = None) -> torch.Tensor:
        """Average the logits of overlapping ``crop_size`` windows taken every ``stride`` pixels: (N, C, H, W).

        ``test_cfg.batch_size`` (default 1) windows go through the network together; every window has
        the same size, so the result equals the one-window-at-a-time result. ``decode`` (default
        ``encode_decode``) maps a batch of windows to their logits.
        """
        decode = decode or self.encode_decode
        try:
            h_stride, w_stride = self.test_cfg["stride"]
            h_crop, w_crop = self.test_cfg["crop_size"]
        except KeyError as exc:
            raise ConfigError(f"test_cfg mode='slide' needs crop_size=(h, w) and stride=(h, w); missing {exc}") from exc
        window_batch = self.test_cfg.get("batch_size", 1)
        if not isinstance(window_batch, int) or window_batch < 1:
            raise ConfigError(f"test_cfg.batch_size (windows per forward in slide mode) must be an int >= 1, "
                              f"got {window_batch!r}")
        batch_size, _, h_img, w_img = inputs.shape
        # Grids cover the image; the last window is shifted back so it ends at the border.
        h_grids = max(h_img - h_crop + h_stride - 1, 0) // h_stride + 1
        w_grids = max(w_img - w_crop + w_stride - 1, 0) // w_stride + 1
        boxes = []
        for h_idx in range(h_grids):
            for w_idx in range(w_grids):
                y2 = min(h_idx * h_stride + h_crop, h_img)
                x2 = min(w_idx * w_stride + w_crop, w_img)
                boxes.append((max(y2 - h_crop, 0), max(x2 - w_crop, 0), y2, x2))
        # The windows' logits come channels-last on the CPU (BaseDecodeHead.predict_by_feat): sum them in
        # that layout, so that the sum and the argmax after it read contiguous classes.
        layout = torch.channels_last if inputs.device.type == "cpu" else torch.contiguous_format
        preds = inputs.new_zeros((batch_size, self.out_channels, h_img, w_img)).contiguous(memory_format=layout)
        count = inputs.new_zeros((batch_size, 1, h_img, w_img))
        for start in range(0, len(boxes), window_batch):
            chunk = boxes[start : start + window_batch]
            crops = torch.cat([inputs[:, :, y1:y2, x1:x2] for y1, x1, y2, x2 in chunk])
            crop_hw = tuple(crops.shape[2:])
            crop_metas = [dict(m, img_shape=crop_hw, pad_shape=crop_hw) for m in batch_img_metas] * len(chunk)
            crop_logits = decode(crops, crop_metas).split(batch_size)
            for (y1, x1, y2, x2), logits in zip(chunk, crop_logits):
                preds[:, :, y1:y2, x1:x2] += logits
                count[:, :, y1:y2, x1:x2] += 1
        if (count == 0).any():
            raise RuntimeError("slide inference left pixels uncovered; check test_cfg.stride and crop_size")
        return preds / count

    def inference(self, inputs: torch.Tensor, batch_img_metas: list[dict]) -> torch.Tensor:
        """Logits (N, C, H, W) by ``test_cfg.mode`` ('whole' or 'slide')."""
        mode = self.test_cfg.get("mode", "whole")
        if mode not in ("whole", "slide"):
            raise ConfigError(f"test_cfg.mode must be 'whole' or 'slide', got {mode!r}")
        ori_shape = batch_img_metas[0].get("ori_shape")
        if not all(m.get("ori_shape") == ori_shape for m in batch_img_metas):
            warnings.warn(
                "images in the batch have different ori_shape; predictions are resized per image", stacklevel=2
            )
        if mode == "slide":
            return self.slide_inference(inputs, batch_img_metas)
        return self.whole_inference(inputs, batch_img_metas)
