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

from seglab.config import Config, bool_switch
from seglab.engine import allocator
from seglab.engine.compiled import compile_forward
from seglab.engine.runtime import to_channels_last
from seglab.io.checkpoint import load_checkpoint
from seglab.models.depthwise import blocked_depthwise as blocked_dw
from seglab.models.fuse import fuse_conv_bn as fuse_bn
from seglab.models.weight_init import without_pretrained
from seglab.models.winograd import winograd_conv as winograd
from seglab.registry import MODELS, ConfigError
from seglab.structures import SegDataSample
from seglab.visualization import SegLocalVisualizer, get_palette

__all__ = [
    "DEFAULT_TEST_PIPELINE",
    "enable_tta",
    "inference_model",
    "init_model",
    "meta_from_checkpoint",
    "meta_from_config",
    "show_result_pyplot",
]

ImageInput = str | Path | np.ndarray
DEFAULT_TEST_PIPELINE = [dict(type="LoadImageFromFile"), dict(type="PackSegInputs")]


def _num_classes(model: nn.Module) -> int:
    model = getattr(model, "module", model)  # a TTA wrapper predicts its segmentor's classes
    head = getattr(model, "decode_head", None)
    head = head[-1] if isinstance(head, nn.ModuleList) else head  # cascade: the last head predicts
    for obj in (head, model):
        n = getattr(obj, "num_classes", None)
        if isinstance(n, int):
            return n
    raise ValueError(f"cannot tell the number of classes of {type(model).__name__}")


def _checkpoint_meta(checkpoint: Mapping) -> tuple[list | None, list | None]:
    meta = checkpoint.get("meta") or {}
    found = meta.get("dataset_meta") or {}
    return found.get("classes") or meta.get("CLASSES"), found.get("palette") or meta.get("PALETTE")


def meta_from_config(cfg: Config | Mapping | None) -> dict | None:
    """``{'classes', 'palette'}`` of the config's test (else val, train) dataset, or None when it names none.

    Reads the dataset's ``metainfo`` in the config, else the registered dataset type's ``METAINFO``
    (e.g. ``CityscapesDataset``); a missing palette stays None. No files are read.
    """
    if cfg is None:
        return None
    data = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
    for key in ("test_dataloader", "val_dataloader", "train_dataloader"):
        dataset = (data.get(key) or {}).get("dataset") if isinstance(data.get(key), Mapping) else None
        while isinstance(dataset, Mapping) and isinstance(dataset.get("dataset"), Mapping):
            dataset = dataset["dataset"]  # wrappers (RepeatDataset, ...) hold the real one
        if not isinstance(dataset, Mapping):
            continue
        metainfo = dict(dataset.get("metainfo") or {})
        kind = dataset.get("type")
        if isinstance(kind, str) and (not metainfo.get("classes") or not metainfo.get("palette")):
            from seglab.registry import DATASETS

            cls = DATASETS.module_dict.get(kind.removeprefix("mmseg."))
            default = dict(getattr(cls, "METAINFO", None) or {})
            if not metainfo.get("classes"):
                metainfo.setdefault("classes", default.get("classes"))
                metainfo.setdefault("palette", default.get("palette"))
            elif list(metainfo["classes"]) == list(default.get("classes") or []):
                metainfo.setdefault("palette", default.get("palette"))
        if metainfo.get("classes"):
            palette = metainfo.get("palette")
            palette = [list(map(int, c)) for c in palette] if palette else None
            return dict(classes=list(metainfo["classes"]), palette=palette)
    return None


def meta_from_checkpoint(
    checkpoint: Mapping, num_classes: int, source: str = "checkpoint", fallback: Mapping | None = None
) -> dict:
    """``{'classes', 'palette'}`` from MMSeg 1.x ``meta.dataset_meta`` or 0.x ``meta.CLASSES``/``PALETTE``.

    Without classes there, ``fallback`` (e.g. ``meta_from_config(cfg)``) is used; with neither, warns and
    returns generic names ``'class_0'...`` with a generated palette.
    """
    classes, palette = _checkpoint_meta(checkpoint)
    if not classes and fallback and fallback.get("classes"):
        classes, palette = fallback["classes"], fallback.get("palette")
    if not classes:
        warnings.warn(
            f"{source} has no class names (neither meta.dataset_meta.classes nor meta.CLASSES) and the config "
            f"names no dataset; using generic names class_0..class_{num_classes - 1} and a generated palette. "
            "Set model.dataset_meta to fix them.",
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
    fuse_conv_bn: bool | None = None,
    winograd_conv: bool | None = None,
    blocked_depthwise: bool | None = None,
    retain_heap: bool | None = None,
    channels_last: bool | None = None,
    compile: bool | Mapping[str, Any] | None = None,
    amp: bool = False,
) -> nn.Module:
    """Build ``config.model``, load ``checkpoint`` (path or URL) and return it in eval mode on ``device``.

    Sets ``model.cfg`` (the Config) and ``model.dataset_meta`` (classes, palette) from the checkpoint's
    meta, else from the config's dataset (its metainfo or the dataset type's classes and palette).
    ``fuse_conv_bn`` (default: the config's ``fuse_conv_bn``, else True) folds BatchNorm into the
    convolutions for faster eval-mode forwards; the state dict and training-mode forwards are unchanged.
    ``winograd_conv`` (default: the config's ``winograd_conv``, else True) computes large 3x3 convolutions
    by Winograd F(4x4, 3x3) in eval-mode CPU forwards (:mod:`seglab.models.winograd`).
    ``blocked_depthwise`` (default: the config's ``blocked_depthwise``, else True) computes large 3x3
    depth-wise convolutions tap by tap on cache-sized channel blocks in eval-mode CPU forwards
    (:mod:`seglab.models.depthwise`).
    ``retain_heap`` (default: the config's ``retain_heap``, else True) on a CPU ``device`` makes glibc keep
    freed memory for the next tensors instead of fresh kernel pages (:mod:`seglab.engine.allocator`).
    ``channels_last`` (default: the config's ``channels_last``, else False) converts the model and its input
    batches to channels_last. ``compile`` (default: the config's ``compile``, else False; True or a dict of
    ``torch.compile`` arguments) compiles the forward at its first call, falling back to the eager forward with a
    warning where compiling fails (:mod:`seglab.engine.compiled`). ``amp=True`` makes :func:`inference_model`
    predict under autocast (float16 on CUDA, bfloat16 on the CPU; ``model.inference_amp``).
    """
    if not isinstance(amp, bool):
        raise ConfigError(f"init_model: amp must be True or False, got {amp!r}")
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
    # Inference never needs the ImageNet initialisation the training config asks for.
    model_cfg = without_pretrained(cfg.to_dict()["model"])
    model_cfg.pop("train_cfg", None)
    model = MODELS.build(model_cfg)
    from_config = meta_from_config(cfg)
    ckpt = load_checkpoint(model, checkpoint, map_location="cpu") if checkpoint is not None else {}
    source = str(checkpoint) if checkpoint is not None else "init_model without a checkpoint"
    model.dataset_meta = meta_from_checkpoint(ckpt, _num_classes(model), source=source, fallback=from_config)
    model.cfg = cfg
    model.inference_amp = amp
    model = model.to(device).eval()
    if bool_switch(cfg, "retain_heap", given=retain_heap) and torch.device(device).type == "cpu":
        allocator.retain_freed_memory()
    if bool_switch(cfg, "fuse_conv_bn", given=fuse_conv_bn):
        model = fuse_bn(model, inplace=True)
    if bool_switch(cfg, "blocked_depthwise", given=blocked_depthwise):
        model = blocked_dw(model, inplace=True)
    if bool_switch(cfg, "winograd_conv", given=winograd_conv):
        model = winograd(model, inplace=True)
    if bool_switch(cfg, "channels_last", default=False, given=channels_last):
        model = to_channels_last(model)
    return compile_forward(model, cfg.get("compile", False) if compile is None else compile)


# Transforms that read ground truth, which an image to predict does not have.
_ANNOTATION_LOADERS = ("LoadAnnotations", "LoadDepthAnnotation", "LoadBiomedicalAnnotation")


def _without_annotations(steps: list) -> list:
    """The pipeline without annotation loaders, also inside TestTimeAug's lists of transforms."""
    out = []
    for step in steps:
        if isinstance(step, list):
            step = _without_annotations(step)
            if step:
                out.append(step)
            continue
        if str(step.get("type")).removeprefix("mmseg.") in _ANNOTATION_LOADERS:
            continue
        if "transforms" in step and isinstance(step["transforms"], list):
            step = dict(step, transforms=_without_annotations(step["transforms"]))
        out.append(step)
    return out


def _test_pipeline(model: nn.Module, from_array: bool) -> Any:
    from seglab.datasets.transforms import Compose

    cfg = getattr(model, "cfg", None)
    key = "tta_pipeline" if getattr(model, "is_tta", False) else "test_pipeline"
    steps = cfg.to_dict().get(key) if cfg is not None else None
    steps = copy.deepcopy(list(steps)) if steps else copy.deepcopy(DEFAULT_TEST_PIPELINE)
    # No annotations at inference time: drop their loading steps.
    steps = _without_annotations(steps)
    if from_array:
        if steps and "LoadImage" in str(steps[0].get("type")):
            steps[0] = dict(type="LoadImageFromNDArray")
        else:
            steps.insert(0, dict(type="LoadImageFromNDArray"))
    return Compose(steps)


def enable_tta(model: nn.Module) -> nn.Module:
    """Wrap a model from ``init_model`` in its config's ``tta_model`` (e.g. SegTTAModel); predictions then use
    ``tta_pipeline`` (MMSeg's ``--tta``). The wrapper keeps ``cfg``, ``dataset_meta`` and ``inference_amp``."""
    cfg = getattr(model, "cfg", None)
    if cfg is None or not cfg.get("tta_pipeline") or not cfg.get("tta_model"):
        raise ConfigError("TTA needs 'tta_pipeline' and 'tta_model' in the config "
                          "(e.g. tta_model = dict(type='SegTTAModel') and a TestTimeAug pipeline)")
    tta_cfg = dict(cfg.to_dict()["tta_model"])
    tta_cfg["module"] = model
    wrapper = MODELS.build(tta_cfg)
    wrapper.cfg, wrapper.dataset_meta, wrapper.is_tta = cfg, getattr(model, "dataset_meta", None), True
    wrapper.inference_amp = getattr(model, "inference_amp", False)
    return wrapper.to(next(model.parameters()).device).eval()


def inference_model(model: nn.Module, img: ImageInput | Sequence[ImageInput]) -> SegDataSample | list[SegDataSample]:
    """Predict one image (path or BGR (H, W, 3) uint8 array, as cv2 reads) or a list of them.

    Returns SegDataSample(s) with ``seg_logits`` (C, H, W) and ``pred_sem_seg`` (1, H, W) int64 at the
    image size. A list runs as one batch per image size, so each result equals the single-image one.
    With ``model.inference_amp`` (``init_model(..., amp=True)``) the forward runs under autocast and
    ``seg_logits`` come in its dtype.
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
    # Images of different sizes cannot share one tensor: one forward per size, so every prediction
    # equals the one-image prediction and comes back at its own image's size.
    groups: dict[tuple, list[int]] = {}
    for i, x in enumerate(data["inputs"]):
        # TestTimeAug gives a list of views per image: group by the shapes of all of them.
        key = tuple(tuple(v.shape) for v in x) if isinstance(x, (list, tuple)) else tuple(x.shape)
        groups.setdefault(key, []).append(i)
    outputs: list = [None] * len(imgs)
    amp = bool(getattr(model, "inference_amp", False))
    device_type = next(model.parameters()).device.type
    with torch.no_grad(), torch.autocast(device_type, enabled=amp):
        for indices in groups.values():
            batch = {key: [data[key][i] for i in indices] for key in ("inputs", "data_samples")}
            for i, out in zip(indices, model.test_step(batch)):
                outputs[i] = out
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
