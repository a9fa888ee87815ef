"""The choices of a generated config: classes and label values, model, schedule, crop and split.

Each choice comes with the sentence that explains it; ``render.py`` writes both into the file.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from .scan import ImageStats, MaskStats, ScanError

__all__ = ["MODELS", "LabelPlan", "SchedulePlan", "crop_size", "model_cfg", "plan_labels", "plan_schedule",
           "split_stems"]

# Distinct colours for index masks (RGB); class 0 black so background overlays stay quiet.
_COLOURS = [[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
            [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212], [0, 128, 128],
            [220, 190, 255], [170, 110, 40], [255, 250, 200], [128, 0, 0], [170, 255, 195], [128, 128, 0],
            [255, 215, 180], [0, 0, 128], [128, 128, 128]]


@dataclass
class LabelPlan:
    """Classes, palette, the dataset's label_map / rgb_label, and why (``notes``)."""

    classes: list[str]
    palette: list[list[int]]
    label_map: dict[int, int] | None = None
    rgb_label: bool = False
    sources: list[str] = field(default_factory=list)  # per class: the mask value/colour it comes from
    shares: list[float] = field(default_factory=list)  # per class: share of the labelled pixels
    notes: list[str] = field(default_factory=list)


def _palette(k: int) -> list[list[int]]:
    if k <= len(_COLOURS):
        return [list(c) for c in _COLOURS[:k]]
    rng = random.Random(42)
    return [list(c) for c in _COLOURS] + [[rng.randrange(256) for _ in range(3)] for _ in range(k - len(_COLOURS))]


def plan_labels(masks: MaskStats, ignore_index: int = 255) -> LabelPlan:
    """Decide classes and the label mapping from the mask values (or colours) found."""
    if masks.kind == "color":
        return _plan_colours(masks)
    values = sorted(masks.values)
    if len(values) == 1:
        raise ScanError(f"every mask holds only the value {values[0]}: there is nothing to learn; check the masks")
    others = [v for v in values if v != ignore_index]
    notes = []
    if set(values) == {0, ignore_index}:
        classes, kept = ["background", "foreground"], [0, ignore_index]
        label_map = {ignore_index: 1}
        notes.append(f"masks hold only 0/{ignore_index} (binary): {ignore_index} is ignore_index, so "
                     f"label_map={{{ignore_index}: 1}} reads {ignore_index} as class 1 (foreground)")
    elif ignore_index in values and others == list(range(len(others))):
        kept, label_map = others, None
        classes = [f"class_{v}" for v in kept]
        notes.append(f"masks hold 0..{others[-1]} and {ignore_index}: {ignore_index} is read as ignore_index "
                     f"({masks.values[ignore_index]} pixels are not trained on nor evaluated)")
    elif others == values and values[-1] + 1 <= 2 * len(values):
        kept, label_map = list(range(values[-1] + 1)), None
        classes = [f"class_{v}" for v in kept]
        absent = [v for v in kept if v not in masks.values]
        notes.append(f"masks hold class indices 0..{values[-1]}, used as they are"
                     + (f"; values {absent} have no pixels (classes kept so the indices stay)" if absent else ""))
    else:
        kept = values
        label_map = {v: i for i, v in enumerate(values) if v != i}
        classes = [f"class_{v}" for v in values]
        notes.append(f"masks hold the values {values}: label_map={label_map} renumbers them 0..{len(values) - 1}")
    if len(classes) == 2 and classes[0] != "background":
        classes = ["background", "foreground"]
    total = sum(masks.values[v] for v in kept) or 1
    return LabelPlan(classes=classes, palette=_palette(len(classes)) if len(classes) != 2 else [[0, 0, 0], [230, 25, 75]],
                     label_map=label_map, sources=[f"mask value {v}" for v in kept],
                     shares=[masks.values.get(v, 0) / total for v in kept], notes=notes)


def _plan_colours(masks: MaskStats) -> LabelPlan:
    colours = sorted(masks.colours, key=lambda c: (c != (0, 0, 0), c))
    if len(colours) == 1:
        raise ScanError(f"every mask is one colour {colours[0]}: there is nothing to learn; check the masks")
    classes = ["background" if c == (0, 0, 0) else f"class_{i}" for i, c in enumerate(colours)]
    if len(classes) == 2 and classes[0] == "background":
        classes[1] = "foreground"
    total = sum(masks.colours.values())
    return LabelPlan(
        classes=classes, palette=[list(c) for c in colours], rgb_label=True,
        sources=[f"colour {c}" for c in colours], shares=[masks.colours[c] / total for c in colours],
        notes=[f"colour-coded RGB masks with {len(colours)} colours: rgb_label=True maps each palette colour to "
               "its class index while loading (black first, then RGB order); a colour not in the palette fails"])


# ------------------------------------------------------------------------------------------- split
def split_stems(stems: list[str], val_split: float, seed: int = 0) -> tuple[list[str], list[str]]:
    """Deterministic (seeded shuffle) train/val split; at least one image on each side."""
    if not 0.0 < val_split < 1.0:
        raise ScanError(f"--val-split must be between 0 and 1 (exclusive), got {val_split}")
    if len(stems) < 2:
        raise ScanError(f"found {len(stems)} image/mask pair; a train/val split needs at least 2")
    order = sorted(stems)
    random.Random(seed).shuffle(order)
    n_val = min(max(1, round(val_split * len(order))), len(order) - 1)
    return sorted(order[n_val:]), sorted(order[:n_val])


# ------------------------------------------------------------------------------------------- model
MODELS = {
    # name: (what, backbone width/stem, decode (in, channels), auxiliary (in, channels))
    "fcn-r18-tiny": ("FCN, dilated ResNetV1c-18 at quarter width (1.0M parameters); fast on CPU", 16, (128, 64), (64, 32)),
    "fcn-r18": ("FCN, dilated ResNetV1c-18 (12M parameters); for a GPU", 64, (512, 128), (256, 64)),
}


def model_cfg(name: str, in_channels: int, num_classes: int, mean: list[float], std: list[float],
              bgr_to_rgb: bool, crop: tuple[int, int], test_cfg: dict) -> dict:
    """An EncoderDecoder config (FCN on a dilated ResNetV1c-18) for ``in_channels`` and ``num_classes``."""
    if name not in MODELS:
        raise ScanError(f"unknown --model {name!r}; choose one of {sorted(MODELS)}")
    _, width, (dec_in, dec_ch), (aux_in, aux_ch) = MODELS[name]
    norm_cfg = dict(type="BN", requires_grad=True)

    def head(in_ch: int, ch: int, in_index: int, num_convs: int, concat: bool, weight: float) -> dict:
        # out_channels=num_classes: a softmax over every class, also for two (said so, not left to a warning).
        return dict(type="FCNHead", in_channels=in_ch, in_index=in_index, channels=ch, num_convs=num_convs,
                    concat_input=concat, dropout_ratio=0.1, num_classes=num_classes, out_channels=num_classes,
                    norm_cfg=norm_cfg,
                    align_corners=False,
                    loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=weight))

    return dict(
        type="EncoderDecoder",
        data_preprocessor=dict(type="SegDataPreProcessor", mean=mean, std=std, bgr_to_rgb=bgr_to_rgb,
                               pad_val=0, seg_pad_val=255, size=tuple(crop)),
        pretrained=None,
        backbone=dict(type="ResNetV1c", depth=18, in_channels=in_channels, stem_channels=width,
                      base_channels=width, num_stages=4, out_indices=(0, 1, 2, 3), dilations=(1, 1, 2, 4),
                      strides=(1, 2, 1, 1), norm_cfg=norm_cfg, norm_eval=False, style="pytorch",
                      contract_dilation=True),
        decode_head=head(dec_in, dec_ch, 3, 2, True, 1.0),
        auxiliary_head=head(aux_in, aux_ch, 2, 1, False, 0.4),
        train_cfg=dict(),
        test_cfg=test_cfg,
    )


def crop_size(images: ImageStats, cap: int = 512) -> tuple[int, int]:
    """The smallest image's (H, W), at most ``cap``, rounded down to a multiple of 8 (output stride)."""
    h = min(s[0] for s in images.sizes)
    w = min(s[1] for s in images.sizes)
    return max(8, min(h, cap) // 8 * 8), max(8, min(w, cap) // 8 * 8)


# ---------------------------------------------------------------------------------------- schedule
@dataclass
class SchedulePlan:
    """Iterations, batch size, loader workers and why."""

    max_iters: int
    batch_size: int
    num_workers: int
    val_interval: int
    warmup: int
    notes: list[str]


def plan_schedule(num_train: int, crop: tuple[int, int], device: str, cpu_count: int) -> SchedulePlan:
    """About 150 passes over the training images, clamped: CPU 400..2000 iterations, GPU 1000..20000."""
    gpu = device.startswith("cuda")
    batch = 8 if gpu else (4 if crop[0] * crop[1] <= 256 * 256 else 2)
    lo, hi = (1000, 20000) if gpu else (400, 2000)
    wanted = 150 * num_train / batch
    iters = int(min(max(math.ceil(wanted / 100) * 100, lo), hi))
    # Tiny crops decode faster than a worker process starts; larger ones are read in parallel.
    workers = 0 if crop[0] * crop[1] <= 128 * 128 else max(1, min(4, cpu_count // 2))
    notes = [f"{'GPU' if gpu else 'CPU'}: batch {batch}, {iters} iterations (~{iters * batch / num_train:.0f} "
             f"passes over {num_train} training images; clamped to {lo}..{hi} on {'GPU' if gpu else 'CPU'})"]
    return SchedulePlan(max_iters=iters, batch_size=batch, num_workers=workers, val_interval=max(iters // 5, 1),
                        warmup=max(1, min(50, iters // 40)), notes=notes)
