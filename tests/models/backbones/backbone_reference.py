"""Helpers for backbone tests: the MMSeg reference cases, manifests and outputs in tests/data/backbones."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import torch
from _shared import FILL

from seglab.registry import MODELS

DATA = Path(__file__).parents[2] / "data" / "backbones"
FILL_PATH = FILL
CASES = json.loads((DATA / "cases.json").read_text())


def load_fill():
    spec = importlib.util.spec_from_file_location("parity_fill", FILL_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_case(name: str) -> torch.nn.Module:
    """Build case ``name`` of cases.json with seglab's registry."""
    cfg = CASES["cases"].get(name) or CASES["keys_only"][name]
    return MODELS.build(dict(cfg))


def assert_manifest(model: torch.nn.Module, expected: list) -> None:
    """State dict has exactly the reference keys, in order, with the same shapes and dtypes kinds."""
    ours = [[k, list(v.shape), v.is_floating_point()] for k, v in model.state_dict().items()]
    assert [e[0] for e in ours] == [e[0] for e in expected]
    assert ours == expected


def assert_close(ours: np.ndarray, ref: np.ndarray, what: str) -> None:
    """Parity tolerance from shared/parity: max|d| <= 1e-4 * max|ref| + 1e-5."""
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} vs reference {ref.shape}"
    diff = float(np.abs(ours - ref).max())
    assert diff <= 1e-4 * float(np.abs(ref).max()) + 1e-5, f"{what}: max|d| = {diff}"
