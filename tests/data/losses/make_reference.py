"""Regenerate reference.npz: loss values from MMSegmentation 1.2.2 on tiny random inputs.

Run in the reference environment only (never imported by seglab or its tests):
    . /work/mmseg-ref/bin/activate && python tests/data/losses/make_reference.py
Each case stores its inputs (``<case>.pred``, ``<case>.label``, optional ``<case>.weight``), the
reference value (``<case>.out``) and, for some, the gradient wrt pred (``<case>.grad``). The
constructor/call arguments of every case are written to reference.json next to it.
"""

import json
from pathlib import Path

import numpy as np
import torch
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

register_all_modules()
HERE = Path(__file__).parent
rng = np.random.default_rng(0)


def labels(shape, num_classes, ignore_frac=0.2, ignore=255):
    lab = rng.integers(0, num_classes, shape)
    lab[rng.random(shape) < ignore_frac] = ignore
    return lab.astype(np.int64)


def logits(shape):
    return (rng.standard_normal(shape) * 2).astype(np.float32)


# name: (loss cfg, call kwargs, pred shape, label maker, pixel weight?, grad?)
CASES = {
    "ce_default": (
        dict(type="CrossEntropyLoss"),
        dict(ignore_index=255),
        (2, 4, 5, 6),
        lambda: labels((2, 5, 6), 4),
        False,
        True,
    ),
    "ce_avg_non_ignore": (
        dict(type="CrossEntropyLoss", avg_non_ignore=True, loss_weight=0.4),
        dict(ignore_index=255),
        (2, 4, 5, 6),
        lambda: labels((2, 5, 6), 4),
        False,
        True,
    ),
    "ce_pixel_weight": (
        dict(type="CrossEntropyLoss", avg_non_ignore=True),
        dict(ignore_index=255),
        (2, 4, 5, 6),
        lambda: labels((2, 5, 6), 4),
        True,
        False,
    ),
    "ce_class_weight": (
        dict(type="CrossEntropyLoss", class_weight=[0.5, 1.0, 2.0, 0.1]),
        dict(ignore_index=255),
        (2, 4, 5, 6),
        lambda: labels((2, 5, 6), 4, 0.0),
        False,
        True,
    ),
    "ce_class_weight_in_range_ignore": (
        dict(type="CrossEntropyLoss", class_weight=[0.5, 1.0, 2.0, 0.1], avg_non_ignore=True),
        dict(ignore_index=2),
        (2, 4, 5, 6),
        lambda: labels((2, 5, 6), 4, 0.0),
        False,
        False,
    ),
    "ce_sum": (
        dict(type="CrossEntropyLoss", reduction="sum"),
        dict(ignore_index=255),
        (2, 4, 5, 6),
        lambda: labels((2, 5, 6), 4),
        False,
        False,
    ),
    "ce_none": (
        dict(type="CrossEntropyLoss", reduction="none"),
        dict(ignore_index=255),
        (2, 4, 5, 6),
        lambda: labels((2, 5, 6), 4),
        False,
        False,
    ),
    "bce_multi": (
        dict(type="CrossEntropyLoss", use_sigmoid=True),
        dict(ignore_index=255),
        (2, 3, 5, 6),
        lambda: labels((2, 5, 6), 3),
        False,
        True,
    ),
    "bce_multi_avg_non_ignore": (
        dict(type="CrossEntropyLoss", use_sigmoid=True, avg_non_ignore=True),
        dict(ignore_index=255),
        (2, 3, 5, 6),
        lambda: labels((2, 5, 6), 3),
        False,
        False,
    ),
    "bce_binary": (
        dict(type="CrossEntropyLoss", use_sigmoid=True, avg_non_ignore=True),
        dict(ignore_index=255),
        (2, 1, 5, 6),
        lambda: labels((2, 5, 6), 2),
        False,
        True,
    ),
    "dice_default": (dict(type="DiceLoss"), dict(), (2, 4, 5, 6), lambda: labels((2, 5, 6), 4), False, True),
    "dice_softmax_naive": (
        dict(type="DiceLoss", use_sigmoid=False, naive_dice=True, loss_weight=2.0),
        dict(),
        (2, 4, 5, 6),
        lambda: labels((2, 5, 6), 4),
        False,
        True,
    ),
    "dice_ignore_channel": (
        dict(type="DiceLoss", use_sigmoid=False, ignore_index=1, eps=0.5),
        dict(),
        (2, 4, 5, 6),
        lambda: labels((2, 5, 6), 4),
        False,
        False,
    ),
    "dice_sum": (
        dict(type="DiceLoss", reduction="sum"),
        dict(),
        (2, 4, 5, 6),
        lambda: labels((2, 5, 6), 4),
        False,
        False,
    ),
    "lovasz_multi": (
        dict(type="LovaszLoss", reduction="none"),
        dict(ignore_index=255),
        (2, 4, 5, 6),
        lambda: labels((2, 5, 6), 4),
        False,
        True,
    ),
    "lovasz_multi_all_cw": (
        dict(type="LovaszLoss", reduction="none", classes="all", class_weight=[1.0, 2.0, 0.5, 1.5]),
        dict(ignore_index=255),
        (2, 4, 5, 6),
        lambda: labels((2, 5, 6), 4),
        False,
        False,
    ),
    "lovasz_multi_per_image": (
        dict(type="LovaszLoss", per_image=True, reduction="mean"),
        dict(ignore_index=255),
        (2, 4, 5, 6),
        lambda: labels((2, 5, 6), 4),
        False,
        False,
    ),
    "lovasz_multi_list": (
        dict(type="LovaszLoss", reduction="none", classes=[0, 2]),
        dict(ignore_index=255),
        (2, 4, 5, 6),
        lambda: labels((2, 5, 6), 4),
        False,
        False,
    ),
    "lovasz_binary": (
        dict(type="LovaszLoss", loss_type="binary", reduction="none"),
        dict(ignore_index=255),
        (2, 5, 6),
        lambda: labels((2, 5, 6), 2),
        False,
        True,
    ),
    "lovasz_binary_per_image": (
        dict(type="LovaszLoss", loss_type="binary", per_image=True, reduction="sum"),
        dict(ignore_index=255),
        (2, 5, 6),
        lambda: labels((2, 5, 6), 2),
        False,
        False,
    ),
    "tversky_default": (dict(type="TverskyLoss"), dict(), (2, 4, 5, 6), lambda: labels((2, 5, 6), 4), False, True),
    "tversky_cw": (
        dict(
            type="TverskyLoss",
            class_weight=[1.0, 2.0, 0.5, 1.5],
            alpha=0.6,
            beta=0.4,
            smooth=0.5,
            ignore_index=2,
            loss_weight=3.0,
        ),
        dict(),
        (2, 4, 5, 6),
        lambda: labels((2, 5, 6), 4, 0.2, 2),
        False,
        False,
    ),
}


def main() -> None:
    out, meta = {}, {}
    for name, (cfg, call, pshape, make_label, use_weight, want_grad) in CASES.items():
        pred = logits(pshape)
        lab = make_label()
        out[f"{name}.pred"], out[f"{name}.label"] = pred, lab
        kwargs = dict(call)
        if use_weight:
            w = rng.random(lab.shape).astype(np.float32)
            out[f"{name}.weight"] = w
            kwargs["weight"] = torch.from_numpy(w)
        loss = MODELS.build(cfg)
        p = torch.from_numpy(pred).requires_grad_(True)
        value = loss(p, torch.from_numpy(lab), **kwargs)
        out[f"{name}.out"] = value.detach().numpy().astype(np.float64)
        if want_grad:
            value.sum().backward()
            out[f"{name}.grad"] = p.grad.numpy()
        meta[name] = dict(cfg=cfg, call=call)
    # Focal loss: MMSeg's CPU path only works with one-hot targets (its index-target path needs a CUDA op).
    for name, cfg in {
        "focal_onehot": dict(type="FocalLoss"),
        "focal_onehot_cw": dict(
            type="FocalLoss", gamma=1.5, alpha=[0.2, 0.4, 0.6, 0.8], class_weight=[1.0, 2.0, 0.5, 1.5], loss_weight=2.0
        ),
    }.items():
        pred = logits((2, 4, 5, 6))
        lab = labels((2, 5, 6), 4, 0.0)
        onehot = np.eye(4, dtype=np.int64)[lab].transpose(0, 3, 1, 2)
        out[f"{name}.pred"], out[f"{name}.label"] = pred, onehot
        p = torch.from_numpy(pred).requires_grad_(True)
        value = MODELS.build(cfg)(p, torch.from_numpy(onehot), ignore_index=255)
        value.backward()
        out[f"{name}.out"], out[f"{name}.grad"] = value.detach().numpy().astype(np.float64), p.grad.numpy()
        meta[name] = dict(cfg=cfg, call=dict(ignore_index=255))
    np.savez_compressed(HERE / "reference.npz", **out)
    (HERE / "reference.json").write_text(json.dumps(meta, indent=1) + "\n")


if __name__ == "__main__":
    main()
