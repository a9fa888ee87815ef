"""SegInferencer: predict images, folders or arrays and optionally write overlays and label maps."""

from __future__ import annotations

import os
import os.path as osp
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from seglab.config import Config
from seglab.io.checkpoint import load_checkpoint
from seglab.structures import SegDataSample

from .inference import _num_classes, inference_model, init_model, meta_from_checkpoint, show_result_pyplot

__all__ = ["SegInferencer"]

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class SegInferencer:
    """Like MMSeg's ``MMSegInferencer``: ``SegInferencer(config_or_model, weights)(inputs, out_dir=...)``.

    ``model`` is a config path, a Config or a built segmentor; ``weights`` a checkpoint path or URL.
    """

    def __init__(
        self,
        model: str | Path | Config | nn.Module,
        weights: str | None = None,
        device: str | torch.device = "cpu",
        classes: Sequence[str] | None = None,
        palette: Sequence[Sequence[int]] | None = None,
    ) -> None:
        if isinstance(model, nn.Module):
            if weights is not None:
                ckpt = load_checkpoint(model, weights, map_location="cpu")
                model.dataset_meta = meta_from_checkpoint(ckpt, _num_classes(model), source=str(weights))
            self.model = model.to(device).eval()
        else:
            self.model = init_model(model, weights, device=device)
        if classes is not None or palette is not None:
            meta = dict(getattr(self.model, "dataset_meta", None) or {})
            meta.update({k: list(v) for k, v in (("classes", classes), ("palette", palette)) if v is not None})
            self.model.dataset_meta = meta

    @staticmethod
    def _expand(inputs: Any) -> tuple[list, bool]:
        """Inputs as a list (a folder becomes its sorted images); also whether one item was given."""
        if isinstance(inputs, (str, Path)) and osp.isdir(inputs):
            files = sorted(p for p in Path(inputs).iterdir() if p.suffix.lower() in IMG_EXTENSIONS)
            return [str(p) for p in files], False
        if isinstance(inputs, (list, tuple)):
            return list(inputs), False
        return [inputs], True

    def __call__(
        self,
        inputs: Any,
        out_dir: str | None = None,
        return_datasamples: bool = False,
        batch_size: int = 1,
        show: bool = False,
        return_vis: bool = False,
        opacity: float = 0.8,
        return_datasample: bool | None = None,
    ) -> dict[str, Any]:
        """Predict ``inputs`` (path, folder, BGR array or a list); returns ``dict(predictions, visualization)``.

        ``predictions``: label maps (H, W) int64 arrays, or SegDataSamples with ``return_datasamples``
        (``return_datasample`` is accepted as an alias); a single input gives a single item. With
        ``out_dir`` the overlays go to ``out_dir/vis/<name>.png`` and label maps to ``out_dir/pred/<name>.png``.
        """
        if return_datasample is not None:
            return_datasamples = return_datasample
        items, single = self._expand(inputs)
        samples: list[SegDataSample] = []
        for start in range(0, len(items), max(batch_size, 1)):
            samples += inference_model(self.model, items[start : start + batch_size])
        visuals = []
        for i, (item, sample) in enumerate(zip(items, samples)):
            name = osp.splitext(osp.basename(str(item)))[0] if isinstance(item, (str, Path)) else f"{i:08d}"
            if out_dir or show or return_vis:
                out_file = osp.join(out_dir, "vis", f"{name}.png") if out_dir else None
                visuals.append(
                    show_result_pyplot(
                        self.model,
                        item,
                        sample,
                        opacity=opacity,
                        draw_gt=False,
                        show=show,
                        withLabels=False,
                        out_file=out_file,
                    )
                )
            if out_dir:
                pred = sample.pred_sem_seg.data[0].cpu().numpy()
                os.makedirs(osp.join(out_dir, "pred"), exist_ok=True)
                cv2.imwrite(
                    osp.join(out_dir, "pred", f"{name}.png"), pred.astype(np.uint8 if pred.max() < 256 else np.uint16)
                )
        preds: list = samples if return_datasamples else [s.pred_sem_seg.data[0].cpu().numpy() for s in samples]
        result: dict[str, Any] = dict(predictions=preds[0] if single else preds)
        if return_vis:
            result["visualization"] = visuals[0] if single else visuals
        return result
