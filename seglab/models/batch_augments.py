"""Batch augmentations run by SegDataPreProcessor on the device, after normalisation, in training only.

Each is called as ``aug(inputs, data_samples) -> (inputs, data_samples)`` with ``inputs`` the
normalised, padded batch (N, C, H, W) and the samples' label maps (1, H, W) already padded to match.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..registry import MODELS
from ..structures import SegDataSample

__all__ = ["BatchColorJitter", "BatchRandomFlip", "BatchRandomResize"]

_LABEL_FIELDS = ("gt_sem_seg", "gt_edge_map", "gt_depth_map")


def _draw(n: int, prob: float, device: torch.device) -> torch.Tensor:
    return torch.rand(n, device=device) < prob


@MODELS.register_module()
class BatchRandomFlip:
    """Flip each image and its label maps with probability ``prob`` ('horizontal' or 'vertical').

    Metainfo is left as it was: training losses do not read ``flip``.
    """

    def __init__(self, prob: float = 0.5, direction: str = "horizontal") -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f"BatchRandomFlip: prob must be in [0, 1], got {prob}")
        if direction not in ("horizontal", "vertical"):
            raise ValueError(f"BatchRandomFlip: direction must be 'horizontal' or 'vertical', got {direction!r}")
        self.prob = prob
        self.direction = direction

    def __call__(
        self, inputs: torch.Tensor, data_samples: list[SegDataSample]
    ) -> tuple[torch.Tensor, list[SegDataSample]]:
        dim = -1 if self.direction == "horizontal" else -2
        chosen = _draw(inputs.shape[0], self.prob, inputs.device)
        if not bool(chosen.any()):
            return inputs, data_samples
        inputs = torch.where(chosen.view(-1, 1, 1, 1), inputs.flip(dim), inputs)
        for i in chosen.nonzero().flatten().tolist():
            for field in _LABEL_FIELDS:
                pixel_data = getattr(data_samples[i], field, None)
                if pixel_data is not None:
                    pixel_data.data = pixel_data.data.flip(dim)
        return inputs, data_samples

    def __repr__(self) -> str:
        return f"{type(self).__name__}(prob={self.prob}, direction={self.direction!r})"


@MODELS.register_module()
class BatchColorJitter:
    """Per-image random brightness, contrast and saturation on the normalised batch; labels untouched.

    With probability ``prob`` an image gets, in this order: ``x += b`` with b ~ U(-brightness,
    brightness) (in std units); ``x = m + (x - m) * c`` with c ~ U(1-contrast, 1+contrast) and m the
    image mean; ``x = g + (x - g) * s`` with s ~ U(1-saturation, 1+saturation) and g the per-pixel
    channel mean (images with 3 or more channels).
    """

    def __init__(self, brightness: float = 0.0, contrast: float = 0.0, saturation: float = 0.0, prob: float = 1.0) -> None:
        for name, value in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)):
            if value < 0 or (name != "brightness" and value > 1):
                raise ValueError(f"BatchColorJitter: {name} must be in [0, {'inf' if name == 'brightness' else 1}], got {value}")
        if not 0 <= prob <= 1:
            raise ValueError(f"BatchColorJitter: prob must be in [0, 1], got {prob}")
        self.brightness, self.contrast, self.saturation, self.prob = brightness, contrast, saturation, prob

    def __call__(
        self, inputs: torch.Tensor, data_samples: list[SegDataSample]
    ) -> tuple[torch.Tensor, list[SegDataSample]]:
        n, c = inputs.shape[:2]
        device, dtype = inputs.device, inputs.dtype
        chosen = _draw(n, self.prob, device).view(n, 1, 1, 1)
        if not bool(chosen.any()):
            return inputs, data_samples
        apply = chosen.to(dtype)

        def uniform(spread: float) -> torch.Tensor:
            return (torch.rand(n, 1, 1, 1, device=device, dtype=dtype) * 2 - 1) * spread * apply

        out = inputs
        if self.brightness:
            out = out + uniform(self.brightness)
        if self.contrast:
            mean = out.mean(dim=(1, 2, 3), keepdim=True)
            out = mean + (out - mean) * (1 + uniform(self.contrast))
        if self.saturation and c >= 3:
            grey = out.mean(dim=1, keepdim=True)
            out = grey + (out - grey) * (1 + uniform(self.saturation))
        # Images not chosen are returned bit-identical (the algebra above is only exact up to rounding).
        return torch.where(chosen, out, inputs), data_samples

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(brightness={self.brightness}, contrast={self.contrast}, "
            f"saturation={self.saturation}, prob={self.prob})"
        )


@MODELS.register_module()
class BatchRandomResize:
    """Resize the whole batch by one random factor ``s ~ U(ratio_range)`` (new size round(H*s), round(W*s),
    rounded up to a multiple of ``size_divisor`` if given): images bilinear, label maps nearest.

    Drawn once per batch so the batch stays stackable; applied with probability ``prob``. Label
    values (255 = ignore/padding included) are never blended. Metainfo ``img_shape`` is scaled too.
    """

    def __init__(self, ratio_range: tuple[float, float] = (0.5, 2.0), prob: float = 1.0,
                 size_divisor: int | None = None, align_corners: bool = False) -> None:
        lo, hi = (float(r) for r in ratio_range)
        if not 0 < lo <= hi:
            raise ValueError(f"BatchRandomResize: ratio_range must be (low, high) with 0 < low <= high, got {ratio_range}")
        if not 0 <= prob <= 1:
            raise ValueError(f"BatchRandomResize: prob must be in [0, 1], got {prob}")
        if size_divisor is not None and size_divisor <= 0:
            raise ValueError(f"BatchRandomResize: size_divisor must be positive, got {size_divisor}")
        self.ratio_range = (lo, hi)
        self.prob, self.size_divisor, self.align_corners = prob, size_divisor, align_corners

    def target_size(self, h: int, w: int, ratio: float) -> tuple[int, int]:
        """(H, W) after scaling by ``ratio`` (at least 1 px, rounded up to ``size_divisor``)."""
        nh, nw = max(1, round(h * ratio)), max(1, round(w * ratio))
        if self.size_divisor:
            d = self.size_divisor
            nh, nw = -(-nh // d) * d, -(-nw // d) * d
        return nh, nw

    def __call__(
        self, inputs: torch.Tensor, data_samples: list[SegDataSample]
    ) -> tuple[torch.Tensor, list[SegDataSample]]:
        if self.prob < 1 and float(torch.rand(())) >= self.prob:
            return inputs, data_samples
        lo, hi = self.ratio_range
        ratio = lo + float(torch.rand(())) * (hi - lo)
        h, w = inputs.shape[-2:]
        size = self.target_size(h, w, ratio)
        if size == (h, w):
            return inputs, data_samples
        inputs = F.interpolate(inputs, size=size, mode="bilinear", align_corners=self.align_corners)
        sy, sx = size[0] / h, size[1] / w
        for sample in data_samples:
            for field in _LABEL_FIELDS:
                pixel_data = getattr(sample, field, None)
                if pixel_data is None:
                    continue
                data = pixel_data.data
                mode = "bilinear" if field == "gt_depth_map" else "nearest"  # depth is continuous
                resized = F.interpolate(data[None].float(), size=size, mode=mode,
                                        **({"align_corners": self.align_corners} if mode == "bilinear" else {}))
                pixel_data.data = resized[0].to(data.dtype)
            img_shape = sample.metainfo.get("img_shape")
            if img_shape is not None:
                sample.set_metainfo(dict(img_shape=(round(img_shape[0] * sy), round(img_shape[1] * sx))))
        return inputs, data_samples

    def __repr__(self) -> str:
        return f"{type(self).__name__}(ratio_range={self.ratio_range}, prob={self.prob}, size_divisor={self.size_divisor})"
