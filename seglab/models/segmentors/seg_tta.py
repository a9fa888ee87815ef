"""SegTTAModel: run a segmentor on every test-time-augmented view and average the probabilities."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from ...structures import SegDataSample

__all__ = ["SegTTAModel"]


def _group_by_image(data: dict) -> list[dict]:
    """Split a collated TTA batch into one ``dict(inputs=[...], data_samples=[...])`` per view.

    Accepts both layouts: per image (``inputs[i][v]``, what seglab's ``pseudo_collate`` gives for the
    lists made by ``TestTimeAug``) and per view (``inputs[v][i]``, MMEngine's transposing collate). The
    ``tta_view`` metainfo written by ``TestTimeAug`` tells them apart.
    """
    inputs, samples = data["inputs"], data.get("data_samples")
    if not inputs or not isinstance(inputs[0], (list, tuple)):
        raise ValueError("SegTTAModel: expected a batch of TestTimeAug outputs (inputs as a list of lists of views)")
    per_image = True
    if samples is not None:
        views = [getattr(s, "metainfo", {}).get("tta_view") for s in samples[0]]
        if None not in views and len(samples[0]) > 1:
            per_image = len(set(views)) == len(views)
    if per_image:  # transpose to per view
        num_views = len(inputs[0])
        if any(len(x) != num_views for x in inputs):
            raise ValueError(f"SegTTAModel: images have different numbers of views {[len(x) for x in inputs]}")
        inputs = [[x[v] for x in inputs] for v in range(num_views)]
        if samples is not None:
            samples = [[s[v] for s in samples] for v in range(num_views)]
    return [
        dict(inputs=list(inputs[v]), data_samples=None if samples is None else list(samples[v]))
        for v in range(len(inputs))
    ]


@MODELS.register_module()
class SegTTAModel(nn.Module):
    """Test-time augmentation around a segmentor ``module`` (MMSeg's ``tta_model=dict(type='SegTTAModel')``).

    ``test_step(data)`` runs ``module.test_step`` on each view (the module's own preprocessor and
    post-processing undo flips and resize logits to ``ori_shape``), averages softmax probabilities
    (sigmoid for one output channel) over views and returns one SegDataSample per image with
    ``seg_logits`` (C, H, W) = the averaged probabilities and ``pred_sem_seg`` (1, H, W).
    """

    def __init__(self, module: dict | nn.Module, data_preprocessor: dict | nn.Module | None = None) -> None:
        super().__init__()
        self.module = MODELS.build(module) if isinstance(module, dict) else module
        if not hasattr(self.module, "test_step"):
            raise ConfigError(f"SegTTAModel: module must be a segmentor with test_step, got {type(self.module).__name__}")
        # Kept for config compatibility: MMEngine's TTA wrapper does no preprocessing of its own either.
        self.data_preprocessor = (
            MODELS.build(data_preprocessor) if isinstance(data_preprocessor, dict) else data_preprocessor
        )

    def merge_preds(self, data_samples_list: Sequence[Sequence[SegDataSample]]) -> list[SegDataSample]:
        """Merge per image: ``data_samples_list[i]`` holds image i's predictions for each view."""
        out_channels = getattr(self.module, "out_channels", None)
        merged = []
        for views in data_samples_list:
            first = views[0]
            probs = None
            for sample in views:
                logits = sample.seg_logits.data
                channels = out_channels or logits.shape[0]
                # The segmentor stores sigmoid probabilities already for one channel; softmax otherwise.
                p = logits.softmax(dim=0) if channels > 1 else logits
                probs = p if probs is None else probs + p
            probs = probs / len(views)
            if probs.shape[0] > 1:
                pred = probs.argmax(dim=0, keepdim=True)
            else:
                head = getattr(self.module, "decode_head", None)
                threshold = getattr(head, "threshold", None)
                pred = (probs > (0.3 if threshold is None else threshold)).to(torch.int64)
            meta = {k: v for k, v in first.metainfo.items() if k != "tta_view"}
            result = SegDataSample(metainfo=meta, seg_logits=probs, pred_sem_seg=pred)
            if first.gt_sem_seg is not None:
                result.gt_sem_seg = first.gt_sem_seg
            merged.append(result)
        return merged

    def test_step(self, data: dict) -> list[SegDataSample]:
        """Predict every view with the wrapped segmentor and merge: one SegDataSample per image."""
        per_view = [self.module.test_step(view) for view in _group_by_image(data)]
        return self.merge_preds(list(zip(*per_view)))

    def val_step(self, data: dict) -> list[SegDataSample]:
        """Same as ``test_step``."""
        return self.test_step(data)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Not used: call ``test_step`` (as MMEngine's TTA models)."""
        raise NotImplementedError("SegTTAModel runs through test_step(data); it has no forward")
