"""Tiny transformer variants (Swin, ViT, BEiT, MAE, Segmenter, SETR, DPT, Feature2Pyramid) against MMSeg 1.2.2.

tests/data/transformers/make_reference.py recorded, in the MMSeg reference env, each case's state-dict
manifest and outputs from the shared parity weights. Here each case builds in seglab with exactly the same
``[key, shape, dtype]`` list (in order), loads the same weights strictly and gives the same outputs
(README tolerance: ``max|d| <= 1e-4 * max|ref| + 1e-5``). The cases cover arguments the goldens do not:
other windows with padding, qk_scale, absolute position embeddings, strides, pos-embed resizing, pre/final
norms, out_origin, patch padding, qv biases, readout types, pyramid rescales.
"""
from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from _shared import FILL, require

import seglab.models  # noqa: F401 - registration
from seglab.registry import MODELS

DATA = Path(__file__).resolve().parents[1] / "data" / "transformers"
FILL_PATH = FILL
CASES: dict[str, dict] = json.loads((DATA / "cases.json").read_text())


def decode_tuples(obj: Any) -> Any:
    """Undo the ``{"__tuple__": [...]}`` encoding of the recorded model dicts."""
    if isinstance(obj, dict):
        if set(obj) == {"__tuple__"}:
            return tuple(decode_tuples(v) for v in obj["__tuple__"])
        return {k: decode_tuples(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode_tuples(v) for v in obj]
    return obj


@functools.lru_cache(maxsize=1)
def _fill():
    require(FILL_PATH)
    spec = importlib.util.spec_from_file_location("parity_fill", FILL_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def reference():
    return np.load(DATA / "reference.npz")


def test_cases_were_collected():
    assert len(CASES) >= 18


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_mmseg(name, reference):
    case = CASES[name]
    cfg = decode_tuples(case["model"])
    if cfg["type"] == "EncoderDecoder":
        cfg["data_preprocessor"] = None
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    ours = [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in model.state_dict().items()]
    assert [r[0] for r in ours] == [r[0] for r in case["state_dict"]], "state-dict keys or their order differ"
    assert ours == case["state_dict"]
    fill = _fill()
    model.load_state_dict({k: torch.from_numpy(fill.fill(k, tuple(s), d.startswith("float")))
                           for k, s, d in case["state_dict"]}, strict=True)
    model.eval()
    x = torch.from_numpy(fill.parity_input(tuple(case["input_shape"])))
    with torch.no_grad():
        outs = model(x, mode="tensor") if cfg["type"] == "EncoderDecoder" else model(x)
    outs = [outs] if isinstance(outs, torch.Tensor) else list(outs)
    expected = sorted(k for k in reference.files if k.startswith(f"{name}."))
    got: dict[str, np.ndarray] = {}
    for j, out in enumerate(outs):
        if isinstance(out, (list, tuple)):
            got[f"{name}.out{j}"], got[f"{name}.cls{j}"] = out[0].numpy(), out[1].numpy()
        else:
            got[f"{name}.out{j}"] = out.numpy()
    assert sorted(got) == expected
    for key in expected:
        ref = reference[key]
        assert got[key].shape == ref.shape, f"{key}: shape {got[key].shape} vs {ref.shape}"
        err = float(np.abs(got[key] - ref).max())
        assert err <= 1e-4 * float(np.abs(ref).max()) + 1e-5, f"{key}: max abs error {err:.3g}"
