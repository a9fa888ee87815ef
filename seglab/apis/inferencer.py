"""SegInferencer: predict images, folders, globs or arrays; write label PNGs and palette overlays."""

from __future__ import annotations

import glob
import os
import os.path as osp
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from seglab.config import Config
from seglab.io.checkpoint import load_checkpoint
from seglab.structures import SegDataSample

from .inference import (
    _num_classes,
    enable_tta,
    inference_model,
    init_model,
    meta_from_checkpoint,
    meta_from_config,
    show_result_pyplot,
)

__all__ = ["IMG_EXTENSIONS", "SegInferencer", "expand_inputs", "write_label_png"]

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
_GLOB_CHARS = ("*", "?", "[")


def _images_in(folder: Path) -> list[tuple[str, str]]:
    """(path, name) of every image under ``folder`` (recursive, sorted); names keep the sub-folders."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS)
    return [(str(p), str(p.relative_to(folder).with_suffix(""))) for p in files]


def expand_inputs(inputs: Any) -> tuple[list[tuple[Any, str]], bool]:
    """Inputs as ``[(item, output name), ...]`` and whether a single item was given.

    A folder gives its images (recursively; names are the paths below it without suffix), a glob its
    matches (names are the file stems), a file its stem, an array ``'{index:08d}'``. A missing path, an
    empty folder or glob, or two inputs with one output name raise with the culprits named.
    """
    single = not isinstance(inputs, (list, tuple))
    items = [inputs] if single else list(inputs)
    out: list[tuple[Any, str]] = []
    for i, item in enumerate(items):
        if isinstance(item, np.ndarray):
            out.append((item, f"{i:08d}"))
            continue
        path = str(item)
        if osp.isdir(path):
            found = _images_in(Path(path))
            if not found:
                raise FileNotFoundError(f"no images ({', '.join(IMG_EXTENSIONS)}) in folder {path}")
            out += found
            single = False
        elif osp.isfile(path):
            out.append((path, Path(path).stem))
        elif any(c in path for c in _GLOB_CHARS):
            matches = sorted(m for m in glob.glob(path, recursive=True) if Path(m).suffix.lower() in IMG_EXTENSIONS)
            if not matches:
                raise FileNotFoundError(f"the pattern {path!r} matches no images ({', '.join(IMG_EXTENSIONS)})")
            out += [(m, Path(m).stem) for m in matches]
            single = False
        else:
            raise FileNotFoundError(f"input not found: {path} (give image files, folders or glob patterns)")
    seen: dict[str, Any] = {}
    for item, name in out:
        if name in seen:
            first = seen[name] if not isinstance(seen[name], np.ndarray) else "an array"
            second = item if not isinstance(item, np.ndarray) else "an array"
            raise ValueError(f"{first} and {second} would both be written as {name}.png; "
                             "rename one or run them separately")
        seen[name] = item
    return out, single and len(out) == 1


def write_label_png(path: str, label: np.ndarray | torch.Tensor, num_classes: int) -> None:
    """Write a label map (H, W) losslessly: 8-bit PNG for up to 256 classes, 16-bit beyond."""
    if isinstance(label, torch.Tensor):
        label = label.detach().cpu().numpy()
    label = np.asarray(label)
    label = label[0] if label.ndim == 3 else label
    dtype = np.uint8 if num_classes <= 256 else np.uint16
    if label.size and (label.min() < 0 or label.max() > np.iinfo(dtype).max):
        raise ValueError(f"write_label_png: labels {int(label.min())}..{int(label.max())} do not fit {dtype.__name__}")
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    if not cv2.imwrite(path, label.astype(dtype)):
        raise OSError(f"could not write {path}")


class SegInferencer:
    """Like MMSeg's ``MMSegInferencer``: ``SegInferencer(config_or_model, weights)(inputs, out_dir=...)``.

    ``model`` is a config path, a Config or a built segmentor; ``weights`` a checkpoint path or URL.
    Colours come from ``palette``, else the checkpoint's dataset meta, else the config's dataset.
    ``tta=True`` predicts through the config's ``tta_model`` and ``tta_pipeline``; ``amp=True`` under autocast
    (float16 on CUDA, bfloat16 on the CPU).
    """

    def __init__(
        self,
        model: str | Path | Config | nn.Module,
        weights: str | None = None,
        device: str | torch.device = "cpu",
        classes: Sequence[str] | None = None,
        palette: Sequence[Sequence[int]] | None = None,
        tta: bool = False,
        amp: bool = False,
    ) -> None:
        if isinstance(model, nn.Module):
            if weights is not None:
                ckpt = load_checkpoint(model, weights, map_location="cpu")
                fallback = meta_from_config(getattr(model, "cfg", None))
                model.dataset_meta = meta_from_checkpoint(
                    ckpt, _num_classes(model), source=str(weights), fallback=fallback
                )
            self.model = model.to(device).eval()
            if amp:
                self.model.inference_amp = True
        else:
            self.model = init_model(model, weights, device=device, amp=amp)
        if classes is not None or palette is not None:
            meta = dict(getattr(self.model, "dataset_meta", None) or {})
            meta.update({k: list(v) for k, v in (("classes", classes), ("palette", palette)) if v is not None})
            self.model.dataset_meta = meta
        if tta:  # after the meta is settled: the wrapper copies it
            self.model = enable_tta(self.model)

    @property
    def num_classes(self) -> int:
        """Number of classes the model predicts (decides 8- or 16-bit label PNGs)."""
        return _num_classes(self.model)

    def iter_predict(
        self, inputs: Any, batch_size: int = 1
    ) -> Iterator[tuple[Any, str, SegDataSample]]:
        """Yield ``(item, output name, SegDataSample)`` per input, predicting ``batch_size`` images at a time."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        items, _ = expand_inputs(inputs)
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            samples = inference_model(self.model, [item for item, _ in chunk])
            for (item, name), sample in zip(chunk, samples):
                yield item, name, sample

    def save(self, item: Any, name: str, sample: SegDataSample, out_dir: str, opacity: float = 0.8,
             show: bool = False) -> np.ndarray:
        """Write ``out_dir/pred/<name>.png`` (label map) and ``out_dir/vis/<name>.png`` (overlay); return it."""
        write_label_png(osp.join(out_dir, "pred", f"{name}.png"), sample.pred_sem_seg.data, self.num_classes)
        return self.visualize(item, sample, osp.join(out_dir, "vis", f"{name}.png"), opacity, show)

    def visualize(self, item: Any, sample: SegDataSample, out_file: str | None = None, opacity: float = 0.8,
                  show: bool = False) -> np.ndarray:
        """The prediction over the image in the model's palette: RGB (H, W, 3) uint8 (written to ``out_file``)."""
        return show_result_pyplot(self.model, item, sample, opacity=opacity, draw_gt=False, show=show,
                                  withLabels=False, out_file=out_file)

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
        """Predict ``inputs`` (path, folder, glob, BGR array or a list); returns ``dict(predictions, visualization)``.

        ``predictions``: label maps (H, W) int64 arrays, or SegDataSamples with ``return_datasamples``
        (``return_datasample`` is accepted as an alias); a single input gives a single item. With
        ``out_dir`` the overlays go to ``out_dir/vis/<name>.png`` and label maps to ``out_dir/pred/<name>.png``.
        """
        if return_datasample is not None:
            return_datasamples = return_datasample
        _, single = expand_inputs(inputs)
        samples: list[SegDataSample] = []
        visuals = []
        for item, name, sample in self.iter_predict(inputs, batch_size):
            samples.append(sample)
            if out_dir:
                visuals.append(self.save(item, name, sample, out_dir, opacity, show))
            elif show or return_vis:
                visuals.append(self.visualize(item, sample, None, opacity, show))
        preds: list = samples if return_datasamples else [s.pred_sem_seg.data[0].cpu().numpy() for s in samples]
        result: dict[str, Any] = dict(predictions=preds[0] if single else preds)
        if return_vis:
            result["visualization"] = visuals[0] if single else visuals
        return result
