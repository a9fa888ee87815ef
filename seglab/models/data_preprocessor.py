"""SegDataPreProcessor: move a collated batch to the model's device, normalise, pad and stack it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import MODELS, ConfigError
from ..structures import SegDataSample

__all__ = ["SegDataPreProcessor", "stack_batch"]

_SEG_FIELDS = ("gt_sem_seg", "gt_edge_map", "gt_depth_map")


def _padding_for(hw: tuple[int, int], target: tuple[int, int]) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) padding that grows ``hw`` to ``target`` at the bottom/right."""
    return (0, max(target[1] - hw[1], 0), 0, max(target[0] - hw[0], 0))


def _target_size(
    inputs: Sequence[torch.Tensor], size: Sequence[int] | None, size_divisor: int | None
) -> tuple[int, int]:
    """The padded (H, W) of a batch: ``size``, else the largest image rounded up to ``size_divisor``."""
    if size is not None:
        return int(size[-2]), int(size[-1])
    h = max(int(x.shape[-2]) for x in inputs)
    w = max(int(x.shape[-1]) for x in inputs)
    if size_divisor is not None and size_divisor > 1:
        h = (h + size_divisor - 1) // size_divisor * size_divisor
        w = (w + size_divisor - 1) // size_divisor * size_divisor
    return h, w


def stack_batch(
    inputs: list[torch.Tensor],
    data_samples: list[SegDataSample] | None = None,
    size: Sequence[int] | None = None,
    size_divisor: int | None = None,
    pad_val: float = 0,
    seg_pad_val: float = 255,
) -> tuple[torch.Tensor, list]:
    """Pad images (C, H, W) bottom/right to a common size and stack them into (N, C, H', W').

    With ``data_samples`` their label maps are padded with ``seg_pad_val`` and ``img_shape``,
    ``pad_shape``, ``padding_size`` are recorded; without, a list of
    ``dict(img_padding_size, pad_shape)`` (one per image) is returned instead.
    """
    if len({x.shape[0] for x in inputs}) != 1:
        raise ValueError(f"images in a batch must have the same channel count, got {[x.shape[0] for x in inputs]}")
    target = _target_size(inputs, size, size_divisor)
    padded, infos = [], []
    for i, img in enumerate(inputs):
        padding = _padding_for(tuple(img.shape[-2:]), target)
        out = F.pad(img, padding, value=pad_val)
        if tuple(out.shape[-2:]) != target:
            raise ValueError(
                f"image {i} of shape {tuple(img.shape[-2:])} is larger than the padding size {target}; "
                f"crop or resize it in the pipeline, or raise data_preprocessor.size"
            )
        padded.append(out)
        if data_samples is None:
            infos.append(dict(img_padding_size=list(padding), pad_shape=target))
            continue
        sample = data_samples[i]
        for field in _SEG_FIELDS:
            pixel_data = getattr(sample, field, None)
            if pixel_data is not None:
                pixel_data.data = F.pad(pixel_data.data, padding, value=seg_pad_val)
        sample.set_metainfo(dict(img_shape=tuple(img.shape[-2:]), pad_shape=target, padding_size=list(padding)))
        infos.append(sample)
    return torch.stack(padded, dim=0), infos


@MODELS.register_module()
class SegDataPreProcessor(nn.Module):
    """Turn ``dict(inputs=[uint8 (C, H, W), ...], data_samples=[...])`` into a float batch (N, C, H, W).

    Steps: move to the model's device, optional BGR<->RGB flip (3-channel images only), float,
    ``(x - mean) / std``, pad bottom/right to ``size`` or a multiple of ``size_divisor`` (training; at
    test time only when ``test_cfg`` gives ``size``/``size_divisor``), stack. Label maps are padded
    with ``seg_pad_val``. Metainfo gets ``batch_input_shape`` and ``pad_shape``.
    """

    def __init__(
        self,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        size: Sequence[int] | None = None,
        size_divisor: int | None = None,
        pad_val: float = 0,
        seg_pad_val: float = 255,
        bgr_to_rgb: bool = False,
        rgb_to_bgr: bool = False,
        batch_augments: Sequence[dict | Callable] | None = None,
        test_cfg: dict | None = None,
    ) -> None:
        super().__init__()
        if bgr_to_rgb and rgb_to_bgr:
            raise ConfigError("data_preprocessor: bgr_to_rgb and rgb_to_bgr cannot both be True")
        if size is not None and size_divisor is not None:
            raise ConfigError(f"data_preprocessor: give only one of size ({size}) and size_divisor ({size_divisor})")
        if (mean is None) != (std is None):
            raise ConfigError("data_preprocessor: normalisation needs both mean and std")
        if mean is not None and len(mean) != len(std):
            raise ConfigError(f"data_preprocessor: mean has {len(mean)} values but std has {len(std)}")
        self.size = tuple(size) if size is not None else None
        self.size_divisor = size_divisor
        self.pad_val, self.seg_pad_val = pad_val, seg_pad_val
        self.channel_conversion = bgr_to_rgb or rgb_to_bgr
        self.test_cfg = dict(test_cfg) if test_cfg else None
        self._enable_normalize = mean is not None
        # Non-persistent buffers: they follow model.to(device) but stay out of the state dict (as in MMSeg).
        if mean is not None:
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1), persistent=False)
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(-1, 1, 1), persistent=False)
        self.register_buffer("_device_probe", torch.empty(0), persistent=False)
        if batch_augments is None:
            self.batch_augments = None
        else:
            augs = batch_augments if isinstance(batch_augments, (list, tuple)) else [batch_augments]
            self.batch_augments = [MODELS.build(a) if isinstance(a, dict) else a for a in augs]

    @property
    def device(self) -> torch.device:
        """The device the model (and therefore this module) lives on."""
        return self._device_probe.device

    def _prepare(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Device, channel flip, float and normalisation of each (C, H, W) image."""
        out = []
        for i, img in enumerate(inputs):
            if img.dim() != 3:
                raise ValueError(
                    f"data_preprocessor: input {i} must be a (C, H, W) tensor, got shape {tuple(img.shape)}"
                )
            if self._enable_normalize and img.shape[0] != self.mean.shape[0]:
                raise ValueError(
                    f"data_preprocessor: image {i} has {img.shape[0]} channels but mean/std have "
                    f"{self.mean.shape[0]} values; set data_preprocessor.mean/std to one value per channel"
                )
            img = img.to(self.device, non_blocking=True)
            if self.channel_conversion and img.shape[0] == 3:
                img = img.flip(0)
            img = img.float()
            if self._enable_normalize:
                img = (img - self.mean) / self.std
            out.append(img)
        return out

    def forward(self, data: dict[str, Any], training: bool = False) -> dict[str, Any]:
        """Return ``dict(inputs=float (N, C, H, W) on the device, data_samples=list)``."""
        inputs = data["inputs"]
        if isinstance(inputs, torch.Tensor):
            inputs = list(inputs.unbind(0)) if inputs.dim() == 4 else [inputs]
        inputs = self._prepare(inputs)
        data_samples = data.get("data_samples")
        if data_samples is not None:
            data_samples = [s.to(self.device) for s in data_samples]

        if training:
            if data_samples is None:
                raise ValueError("data_preprocessor: training needs data_samples with gt_sem_seg")
            batch, data_samples = stack_batch(
                inputs, data_samples, self.size, self.size_divisor, self.pad_val, self.seg_pad_val
            )
            if self.batch_augments is not None:
                for aug in self.batch_augments:
                    batch, data_samples = aug(batch, data_samples)
        else:
            shapes = {tuple(x.shape[-2:]) for x in inputs}
            test_size = self.test_cfg.get("size") if self.test_cfg else None
            test_div = self.test_cfg.get("size_divisor") if self.test_cfg else None
            if test_size is not None or test_div is not None:
                batch, pad_infos = stack_batch(inputs, None, test_size, test_div, self.pad_val, self.seg_pad_val)
                if data_samples is not None:
                    for sample, info in zip(data_samples, pad_infos):
                        sample.set_metainfo(info)
            else:
                if len(shapes) != 1:
                    raise ValueError(
                        f"data_preprocessor: test images in a batch must share one size, got {sorted(shapes)}; "
                        f"use batch size 1 or set data_preprocessor.test_cfg=dict(size_divisor=...)"
                    )
                batch = torch.stack(inputs, dim=0)
        if data_samples is not None:
            hw = tuple(batch.shape[-2:])
            for sample in data_samples:
                sample.set_metainfo(dict(batch_input_shape=hw, pad_shape=hw))
        return dict(inputs=batch, data_samples=data_samples)
