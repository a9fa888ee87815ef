"""Every loss reproduces MMSegmentation 1.2.2's values (and gradients) on tiny random inputs.

The references are in tests/data/losses/reference.{npz,json}, made by make_reference.py there.
"""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import seglab.models  # noqa: F401 - registration
from seglab.registry import MODELS

DATA = Path(__file__).resolve().parents[2] / "data" / "losses"
REF = np.load(DATA / "reference.npz")
META = json.loads((DATA / "reference.json").read_text())


def test_every_loss_type_has_reference_cases():
    types = {m["cfg"]["type"] for m in META.values()}
    assert types == {"CrossEntropyLoss", "DiceLoss", "FocalLoss", "LovaszLoss", "TverskyLoss"}
    assert len(META) >= 20


# seglab's DiceLoss leaves pixels labelled 255 out of every sum; MMSeg 1.2.2 gives them an all-zero
# target but keeps their predictions in the denominators (open-mmlab/mmsegmentation#2996), so for these
# cases (which have such pixels) MMSeg's stored value is not the reference: test_dice_ignores_255_pixels
# checks seglab against the definition computed here, and that MMSeg's value differs from it.
DELIBERATE_DEVIATIONS = {"dice_default", "dice_softmax_naive", "dice_sum"}


def dice_by_definition(logits: np.ndarray, label: np.ndarray, cfg: dict) -> float:
    """DiceLoss from its definition in float64, each image's sums taken over its non-255 pixels only."""
    eps, naive = 1e-3, cfg.get("naive_dice", False)
    x = logits.astype(np.float64)
    if cfg.get("use_sigmoid", True):
        prob = 1 / (1 + np.exp(-x))
    else:
        prob = np.exp(x - x.max(1, keepdims=True))
        prob /= prob.sum(1, keepdims=True)
    losses = []
    for p, lab in zip(prob, label):  # p: (C, H, W), lab: (H, W)
        valid = lab != 255
        p = p[:, valid]  # (C, valid pixels)
        t = (np.arange(p.shape[0])[:, None] == lab[valid][None]).astype(np.float64)
        inter = (p * t).sum()
        if naive:
            dice = (2 * inter + eps) / (p.sum() + t.sum() + eps)
        else:
            dice = 2 * inter / ((p * p).sum() + eps + (t * t).sum() + eps)
        losses.append(1 - dice)
    total = sum(losses) if cfg.get("reduction", "mean") == "sum" else sum(losses) / len(losses)
    return cfg.get("loss_weight", 1.0) * total


@pytest.mark.parametrize("name", sorted(DELIBERATE_DEVIATIONS))
def test_dice_ignores_255_pixels(name):
    cfg = META[name]["cfg"]
    label = REF[f"{name}.label"]
    assert (label == 255).any(), "the case must have ignored pixels to show the deviation"
    value = float(MODELS.build(cfg)(torch.from_numpy(REF[f"{name}.pred"]), torch.from_numpy(label)))
    expected = dice_by_definition(REF[f"{name}.pred"], label, cfg)
    assert value == pytest.approx(expected, rel=1e-5, abs=1e-6)
    assert abs(float(REF[f"{name}.out"]) - expected) > 1e-3  # MMSeg 1.2.2 counts the ignored pixels


@pytest.mark.parametrize("name", sorted(set(META) - DELIBERATE_DEVIATIONS))
def test_loss_matches_reference(name):
    cfg, call = META[name]["cfg"], dict(META[name]["call"])
    pred = torch.from_numpy(REF[f"{name}.pred"]).requires_grad_(True)
    label = torch.from_numpy(REF[f"{name}.label"])
    if f"{name}.weight" in REF:
        call["weight"] = torch.from_numpy(REF[f"{name}.weight"])
    value = MODELS.build(cfg)(pred, label, **call)
    expected = REF[f"{name}.out"]
    assert tuple(value.shape) == expected.shape
    np.testing.assert_allclose(value.detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    if f"{name}.grad" in REF:
        value.sum().backward()
        np.testing.assert_allclose(pred.grad.numpy(), REF[f"{name}.grad"], rtol=1e-4, atol=1e-7)
