"""BaseSegmentor: the data preprocessor, the forward modes, mmengine-style steps and post-processing."""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from ...structures import SegDataSample
from ..layers import resize
from ..weight_init import init_components, load_pretrained

__all__ = ["BaseSegmentor", "restore_to_ori"]

_log = logging.getLogger("seglab")


def restore_to_ori(x: torch.Tensor, meta: dict, align_corners: bool) -> torch.Tensor:
    """One image's map (1, C, H, W) on the padded input -> (1, C, h, w) at ``meta['ori_shape']``.

    Crops ``img_padding_size``/``padding_size`` (left, right, top, bottom), undoes a flip, then resizes
    bilinearly.
    """
    height, width = x.shape[-2:]
    left, right, top, bottom = meta.get("img_padding_size", meta.get("padding_size", [0, 0, 0, 0]))
    x = x[:, :, top : height - bottom, left : width - right]
    if meta.get("flip"):
        direction = meta.get("flip_direction")
        if direction not in ("horizontal", "vertical"):
            raise ValueError(f"flip_direction must be 'horizontal' or 'vertical', got {direction!r}")
        x = x.flip(dims=(3,) if direction == "horizontal" else (2,))
    ori_shape = tuple(meta.get("ori_shape", x.shape[-2:]))[:2]
    if tuple(x.shape[-2:]) == ori_shape:  # a same-size bilinear resize is a copy: skip it
        return x
    return resize(x, size=ori_shape, mode="bilinear", align_corners=align_corners, warning=False)


class BaseSegmentor(nn.Module):
    """Base of segmentors: ``forward(inputs, data_samples, mode)`` with mode 'tensor', 'loss' or 'predict'.

    Subclasses implement ``loss``, ``predict``, ``_forward``, ``extract_feat`` and ``encode_decode``.
    """

    def __init__(self, data_preprocessor: dict | nn.Module | None = None, init_cfg: dict | list | None = None) -> None:
        super().__init__()
        if data_preprocessor is None:
            data_preprocessor = dict(type="SegDataPreProcessor")
        if isinstance(data_preprocessor, dict):
            data_preprocessor = dict(data_preprocessor)
            data_preprocessor.setdefault("type", "SegDataPreProcessor")
        self.data_preprocessor = MODELS.build(data_preprocessor)
        self.init_cfg = init_cfg

    def init_weights(self) -> bool:
        """Initialise the components (pretrained backbones load here), then this segmentor's own init_cfg.

        A Pretrained ``init_cfg`` on the segmentor loads a whole-model checkpoint last, so it wins over
        the components' (mmengine's order). Returns True when any pretrained weights were loaded.
        """
        loaded = init_components(self)
        loaded = load_pretrained(self, self.init_cfg) or loaded
        if not loaded:
            _log.info("%s: no pretrained weights configured; every component keeps its random init",
                      type(self).__name__)
        return loaded

    # -- structure flags ---------------------------------------------------------------------------
    @property
    def with_neck(self) -> bool:
        """Whether the segmentor has a neck."""
        return getattr(self, "neck", None) is not None

    @property
    def with_auxiliary_head(self) -> bool:
        """Whether the segmentor has one or more auxiliary heads."""
        return getattr(self, "auxiliary_head", None) is not None

    @property
    def with_decode_head(self) -> bool:
        """Whether the segmentor has a decode head."""
        return getattr(self, "decode_head", None) is not None

    # -- forward modes ----------------------------------------------------------------------------
    def forward(
        self, inputs: torch.Tensor, data_samples: list[SegDataSample] | None = None, mode: str = "tensor"
    ) -> Any:
        """'loss' -> dict of losses; 'predict' -> list of SegDataSample; 'tensor' -> raw logits (N, C, h, w)."""
        if mode == "loss":
            return self.loss(inputs, data_samples)
        if mode == "predict":
            return self.predict(inputs, data_samples)
        if mode == "tensor":
            return self._forward(inputs, data_samples)
        raise ValueError(f"forward mode must be 'loss', 'predict' or 'tensor', got {mode!r}")

    def extract_feat(self, inputs: torch.Tensor) -> Sequence[torch.Tensor]:
        """Features of a batch (N, C, H, W)."""
        raise NotImplementedError

    def encode_decode(self, inputs: torch.Tensor, batch_img_metas: list[dict]) -> torch.Tensor:
        """Logits (N, C, H, W) at the input size."""
        raise NotImplementedError

    def loss(self, inputs: torch.Tensor, data_samples: list[SegDataSample]) -> dict[str, torch.Tensor]:
        """Losses of a batch against its data samples."""
        raise NotImplementedError

    def predict(self, inputs: torch.Tensor, data_samples: list[SegDataSample] | None = None) -> list[SegDataSample]:
        """Predictions at each sample's original shape."""
        raise NotImplementedError

    def _forward(self, inputs: torch.Tensor, data_samples: list[SegDataSample] | None = None) -> torch.Tensor:
        """Raw decode-head output without post-processing."""
        raise NotImplementedError

    # -- mmengine-style steps ---------------------------------------------------------------------
    def _run_forward(self, data: dict | Sequence, mode: str) -> Any:
        if isinstance(data, dict):
            return self(**data, mode=mode)
        if isinstance(data, (list, tuple)):
            return self(*data, mode=mode)
        raise TypeError(f"preprocessed data must be a dict, tuple or list, got {type(data).__name__}")

    def train_step(self, data: dict, optim_wrapper: Any) -> dict[str, float]:
        """Preprocess, compute losses, and let ``optim_wrapper.update_params`` do backward and step."""
        context = getattr(optim_wrapper, "optim_context", None)
        with context(self) if context is not None else contextlib.nullcontext():
            data = self.data_preprocessor(data, True)
            losses = self._run_forward(data, mode="loss")
        loss, log_vars = self.parse_losses(losses)
        optim_wrapper.update_params(loss)
        return log_vars

    def val_step(self, data: dict) -> list[SegDataSample]:
        """Preprocess and predict."""
        data = self.data_preprocessor(data, False)
        return self._run_forward(data, mode="predict")

    def test_step(self, data: dict) -> list[SegDataSample]:
        """Preprocess and predict."""
        data = self.data_preprocessor(data, False)
        return self._run_forward(data, mode="predict")

    @staticmethod
    def parse_losses(losses: dict[str, torch.Tensor | list[torch.Tensor]]) -> tuple[torch.Tensor, OrderedDict]:
        """Total loss (sum of entries whose key contains 'loss') and an OrderedDict of float log values."""
        values: list[tuple[str, torch.Tensor]] = []
        for name, value in losses.items():
            if isinstance(value, torch.Tensor):
                values.append((name, value.mean()))
            elif isinstance(value, (list, tuple)) and all(isinstance(v, torch.Tensor) for v in value):
                values.append((name, sum(v.mean() for v in value)))
            else:
                raise TypeError(f"loss '{name}' must be a tensor or a list of tensors, got {type(value).__name__}")
        loss_terms = [v for k, v in values if "loss" in k]
        if not loss_terms:
            raise ValueError(f"no entry of the losses dict has 'loss' in its name: {list(losses)}")
        loss = sum(loss_terms)
        log_vars = OrderedDict([("loss", float(loss.detach()))])
        log_vars.update((k, float(v.detach())) for k, v in values)
        return loss, log_vars

    # -- post-processing --------------------------------------------------------------------------
    def postprocess_result(
        self, seg_logits: torch.Tensor, data_samples: list[SegDataSample] | None = None
    ) -> list[SegDataSample]:
        """Crop padding, undo flips, resize to ori_shape; set seg_logits (C, H, W) and pred_sem_seg (1, H, W) int64.

        One output channel (a sigmoid head): ``seg_logits`` holds the foreground probability and
        ``pred_sem_seg`` is 1 where it exceeds the head's ``threshold``, else 0.
        """
        batch_size, channels = seg_logits.shape[:2]
        only_prediction = data_samples is None
        if only_prediction:
            data_samples = [SegDataSample() for _ in range(batch_size)]
        align_corners = getattr(self, "align_corners", False)
        head = getattr(self, "decode_head", None)
        head = head[-1] if isinstance(head, nn.ModuleList) else head  # cascades: the last stage decides
        threshold = getattr(head, "threshold", None)
        for i in range(batch_size):
            logits = seg_logits[i : i + 1]
            if not only_prediction:
                logits = restore_to_ori(logits, data_samples[i].metainfo, align_corners)
            logits = logits.squeeze(0)
            if channels > 1:
                pred = logits.argmax(dim=0, keepdim=True)
            else:
                # MMSeg's rule (sigmoid > threshold), but as class indices: int64 like argmax, so
                # palettes, metrics and PNG writers can index with it.
                logits = logits.sigmoid()
                pred = (logits > (0.3 if threshold is None else threshold)).to(torch.int64)
            data_samples[i].seg_logits = logits
            data_samples[i].pred_sem_seg = pred
        return data_samples

    def _check(self, ok: bool, message: str) -> None:
        if not ok:
            raise ConfigError(f"{type(self).__name__}: {message}")
