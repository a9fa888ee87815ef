"""Helpers for the SegFormer/SegNeXt reference cases (cases.json, reference.npz made by make_reference.py)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import torch
from _shared import FILL, require

from seglab.registry import MODELS

HERE = Path(__file__).parent
CASES = json.loads((HERE / "cases.json").read_text())
REF = np.load(HERE / "reference.npz")


def _fill_module():
    spec = importlib.util.spec_from_file_location("parity_fill", require(FILL))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def inputs(shapes: list) -> list[torch.Tensor]:
    """The seeded inputs make_reference.py used."""
    rng = np.random.default_rng(11)
    return [torch.from_numpy(rng.standard_normal(s).astype(np.float32)) for s in shapes]


def filled(name: str) -> torch.nn.Module:
    """Case ``name`` built by seglab, with the parity filler's weights loaded strictly, in eval mode."""
    fill = _fill_module().fill
    model = MODELS.build(dict(CASES[name]["cfg"]))
    state = {k: torch.from_numpy(fill(k, tuple(v.shape), v.is_floating_point())) for k, v in model.state_dict().items()}
    model.load_state_dict(state, strict=True)
    return model.eval()


def assert_close(ours: torch.Tensor, key: str) -> None:
    """Parity tolerance of ../shared/parity: max|d| <= 1e-4 * max|ref| + 1e-5."""
    ref = REF[key]
    assert tuple(ours.shape) == ref.shape, f"{key}: shape {tuple(ours.shape)} vs reference {ref.shape}"
    err = float(np.abs(ours.detach().numpy() - ref).max())
    assert err <= 1e-4 * float(np.abs(ref).max()) + 1e-5, f"{key}: max|d| = {err}"
