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


# seglab's DiceLoss leaves pixels labelled 255 out; MMSeg 1.2.2 counts their predictions
# (open-mmlab/mmsegmentation#2996), so these cases (which have such pixels) must differ from it.
DELIBERATE_DEVIATIONS = {"dice_default", "dice_softmax_naive", "dice_sum"}


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason="DiceLoss ignores 255 pixels, MMSeg does not"))
    if n in DELIBERATE_DEVIATIONS else n for n in sorted(META)])
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
