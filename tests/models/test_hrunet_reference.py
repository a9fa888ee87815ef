"""HRNet, UNet and OCRNet variants beyond the parity goldens match MMSegmentation 1.2.2 numerically.

tests/data/hrunet/make_reference.py recorded, in the MMSeg reference env, the state-dict layout and
outputs of small models built from the model dicts in cases.json (odd input sizes, mixed block types,
one-output HRNet, strided/deconv/conv-first UNets, OCR on a dilated ResNet, a three-stage cascade), with
weights from ../shared/parity/fill.py. Here seglab builds the same dicts, loads the same weights
strictly and must give the same outputs within the parity tolerance.
"""
from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _shared import FILL, require

from seglab.registry import MODELS

DATA = Path(__file__).resolve().parents[1] / "data" / "hrunet"
CASES = json.loads((DATA / "cases.json").read_text())


@functools.lru_cache(maxsize=1)
def _fill():
    spec = importlib.util.spec_from_file_location("parity_fill", require(FILL))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.lru_cache(maxsize=1)
def _reference() -> dict[str, np.ndarray]:
    with np.load(DATA / "reference.npz") as data:
        return {k: data[k] for k in data.files}


def _assert_close(ours: torch.Tensor, ref: np.ndarray, what: str) -> None:
    assert tuple(ours.shape) == ref.shape, f"{what}: shape {tuple(ours.shape)} vs MMSeg {ref.shape}"
    err = float(np.abs(ours.numpy() - ref).max())
    tol = 1e-4 * float(np.abs(ref).max()) + 1e-5
    assert err <= tol, f"{what}: max abs error {err:.3g} > {tol:.3g}"


def test_cases_were_collected():
    kinds = {c["model"]["type"] for c in CASES.values()}
    assert {"HRNet", "UNet", "CascadeEncoderDecoder"} <= kinds and len(CASES) >= 8


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_mmseg(name: str):
    case, ref = CASES[name], _reference()
    model = MODELS.build(case["model"])
    ours = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    assert ours == json.loads(str(ref[f"{name}.keys"])), "state-dict keys/shapes/order differ from MMSeg's"
    fill = _fill()
    model.load_state_dict({k: torch.from_numpy(fill.fill(k, tuple(v.shape), v.is_floating_point()))
                           for k, v in model.state_dict().items()}, strict=True)
    model.eval()
    x = torch.from_numpy(fill.parity_input(tuple(case["input_shape"])))
    with torch.no_grad():
        if case["kind"] == "backbone":
            outs = model(x)
            n_ref = sum(1 for k in ref if k.startswith(f"{name}.out"))
            assert len(outs) == n_ref == len(model.out_channels)
            for j, out in enumerate(outs):
                _assert_close(out, ref[f"{name}.out{j}"], f"{name} output {j}")
                assert out.shape[1] == model.out_channels[j]
        else:
            hw = tuple(x.shape[2:])
            _assert_close(model(x, mode="tensor"), ref[f"{name}.logits"], f"{name} logits")
            _assert_close(model.encode_decode(x, [dict(img_shape=hw, ori_shape=hw, pad_shape=hw)]),
                          ref[f"{name}.full"], f"{name} encode_decode")
