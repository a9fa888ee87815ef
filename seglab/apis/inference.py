"""High-level inference: ``init_model``, ``inference_model``, ``show_result_pyplot`` (MMSeg's API)."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from seglab.config import Config
from seglab.engine.checkpoint import load_checkpoint
from seglab.registry import MODELS, ConfigError
from seglab.structures import SegDataSample
from seglab.visualization import SegLocalVisualizer, get_palette

__all__ = ["DEFAULT_TEST_PIPELINE", "inference_model", "init_model", "meta_from_checkpoint", "show_result_pyplot"]

ImageInput = str | Path | np.ndarray
DEFAULT_TEST_PIPELINE = [dict(type="LoadImageFromFile"), dict(type="PackSegInputs")]


def _num_classes(model: nn.Module) -> int:
    head = getattr(model, "decode_head", None)
    head = head[-1] if isinstance(head, nn.ModuleList) else head  # cascade: the last head predicts
    for obj in (head, model):
        n = getattr(obj, "num_classes", None)
        if isinstance(n, int):
            return n
    raise ValueError(f"cannot tell the number of classes of {type(model).__name__}")


def meta_from_checkpoint(checkpoint: Mapping, num_classes: int, source: str = "checkpoint") -> dict:
    """``{'classes', 'palette'}`` from MMSeg 1.x ``meta.dataset_meta`` or 0.x ``meta.CLASSES``/``PALETTE``.

    When the meta has neither, warns and returns generic names ``'class_0'...`` with a random palette.
    """
    meta = checkpoint.get("meta") or {}
    found = meta.get("dataset_meta") or {}
    classes = found.get("classes") or meta.get("CLASSES")
    palette = found.get("palette") or meta.get("PALETTE")
    if not classes:
        warnings.warn(
            f"{source} has no class names (neither meta.dataset_meta.classes nor meta.CLASSES); using generic "
            f"names class_0..class_{num_classes - 1} and a random palette. Set model.dataset_meta to fix them.",
            stacklevel=3,
        )
        classes = [f"class_{i}" for i in range(num_classes)]
    classes = list(classes)
    if len(classes) != num_classes:
        warnings.warn(f"{source}: {len(classes)} class names for a model with {num_classes} classes", stacklevel=3)
    palette = get_palette(palette) if palette is not None and len(palette) else get_palette(classes)
    return dict(classes=classes, palette=palette)


def init_model(
    config: str | Path | Config | Mapping,
    checkpoint: str | None = None,
    device: str | torch.device = "cpu",
    cfg_options: Mapping[str, Any] | None = None,
) -> nn.Module:
    """Build ``config.model``, load ``checkpoint`` (path or URL) and return it in eval mode on ``device``.

    Sets ``model.cfg`` (the Config) and ``model.dataset_meta`` (classes, palette) from the checkpoint.
    """
    if isinstance(config, (str, Path)):
        cfg = Config.fromfile(config)
    elif isinstance(config, Config):
        cfg = copy.deepcopy(config)
    elif isinstance(config, Mapping):
        cfg = Config(dict(config))
    else:
        raise TypeError(f"config must be a file path or Config, got {type(config).__name__}")
    if cfg_options:
        cfg.merge_from_dict(dict(cfg_options))
    if "model" not in cfg:
        raise ConfigError(f"{cfg.filename or 'config'} has no 'model' entry")
    model_cfg = cfg.to_dict()["model"]
    # Inference never needs the ImageNet initialisation the training config asks for.
    model_cfg["pretrained"] = None
    model_cfg.pop("train_cfg", None)
    if isinstance(model_cfg.get("backbone"), dict):
        model_cfg["backbone"].pop("init_cfg", None)
        model_cfg["backbone"].pop("pretrained", None)
    model = MODELS.build(model_cfg)
    if checkpoint is not None:
        ckpt = load_checkpoint(model, checkpoint, map_location="cpu")
        model.dataset_meta = meta_from_checkpoint(ckpt, _num_classes(model), source=str(checkpoint))
    else:
        n = _num_classes(model)
        model.dataset_meta = dict(classes=[f"class_{i}" for i in range(n)], palette=get_palette(n))
    model.cfg = cfg
    return model.to(device).eval()


def _test_pipeline(model: nn.Module, from_array: bool) -> Any:
    from seglab.datasets.transforms import Compose

    cfg = getattr(model, "cfg", None)
    steps = cfg.to_dict().get("test_pipeline") if cfg is not None else None
    steps = copy.deepcopy(list(steps)) if steps else copy.deepcopy(DEFAULT_TEST_PIPELINE)
    # No annotations at inference time: drop their loading step (TTA wrappers are not unpacked here).
    steps = [s for s in steps if s.get("type") not in ("LoadAnnotations", "mmseg.LoadAnnotations")]
    if from_array:
        if steps and "LoadImage" in str(steps[0].get("type")):
            steps[0] = dict(type="LoadImageFromNDArray")
        else:
            steps.insert(0, dict(type="LoadImageFromNDArray"))
    return Compose(steps)


def inference_model(model: nn.Module, img: ImageInput | Sequence[ImageInput]) -> SegDataSample | list[SegDataSample]:
    """Predict one image (path or BGR (H, W, 3) uint8 array, as cv2 reads) or a list of them.

    Returns SegDataSample(s) with ``seg_logits`` (C, H, W) and ``pred_sem_seg`` (1, H, W) at the image size.
    """
    is_batch = isinstance(img, (list, tuple))
    imgs = list(img) if is_batch else [img]
    if not imgs:
        return []
    from_array = isinstance(imgs[0], np.ndarray)
    if any(isinstance(i, np.ndarray) != from_array for i in imgs):
        raise TypeError("inference_model: give all images as paths or all as arrays, not a mix")
    pipeline = _test_pipeline(model, from_array)
    data: dict[str, list] = dict(inputs=[], data_samples=[])
    for item in imgs:
        results = pipeline(dict(img=item) if from_array else dict(img_path=str(item)))
        if results is None:
            raise ValueError(f"inference_model: the test pipeline dropped {item if not from_array else 'an array'}")
        data["inputs"].append(results["inputs"])
        data["data_samples"].append(results["data_samples"])
    with torch.no_grad():
        if len({tuple(x.shape) for x in data["inputs"]}) == 1:
            outputs = model.test_step(data)
        else:  # images of different sizes cannot be stacked into one batch: predict them one by one
            outputs = [
                model.test_step(dict(inputs=[x], data_samples=[s]))[0]
                for x, s in zip(data["inputs"], data["data_samples"])
            ]
    return outputs if is_batch else outputs[0]


def show_result_pyplot(
    model: nn.Module,
    img: ImageInput,
    result: SegDataSample,
    opacity: float = 0.5,
    title: str = "",
    draw_gt: bool = True,
    draw_pred: bool = True,
    wait_time: float = 0,
    show: bool = False,
    withLabels: bool = True,
    save_dir: str | None = None,
    out_file: str | None = None,
) -> np.ndarray:
    """Overlay ``result`` on ``img`` (path or BGR array) with the model's palette; write ``out_file``.

    Returns the drawn image, RGB (H, W, 3) uint8 (GT | prediction side by side when GT is drawn).
    """
    if isinstance(img, (str, Path)):
        image = cv2.imread(str(img), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"show_result_pyplot: cannot read image {img}")
    else:
        image = np.asarray(img)
    image = image[..., ::-1] if image.ndim == 3 else image  # BGR -> RGB, as the visualizer draws RGB
    vis = SegLocalVisualizer(
        vis_backends=[dict(type="LocalVisBackend")] if save_dir else None, save_dir=save_dir, alpha=opacity
    )
    vis.dataset_meta = getattr(model, "dataset_meta", None)
    return vis.add_datasample(
        title or "result",
        image,
        result,
        draw_gt=draw_gt,
        draw_pred=draw_pred,
        show=show,
        wait_time=wait_time,
        out_file=out_file,
        with_labels=withLabels,
    )
