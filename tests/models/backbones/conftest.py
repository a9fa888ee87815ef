"""Shared checks for backbone tests: MMSeg reference manifests/outputs in tests/data/backbones."""
from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from seglab.registry import MODELS

DATA = Path(__file__).parents[2] / "data" / "backbones"
FILL_PATH = Path(__file__).parents[4] / "shared" / "parity" / "fill.py"
CASES = json.loads((DATA / "cases.json").read_text())


def _load_fill():
    spec = importlib.util.spec_from_file_location("parity_fill", FILL_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def fill_mod():
    """The shared parity weight filler (skips when the shared folder is not present)."""
    if not FILL_PATH.exists():
        pytest.skip(f"parity filler {FILL_PATH} not available")
    return _load_fill()


@pytest.fixture(scope="session")
def ref_keys() -> dict:
    """``{case: [[key, shape, is_float], ...]}`` from the reference implementation."""
    return json.loads((DATA / "keys.json").read_text())


@pytest.fixture(scope="session")
def ref_outputs():
    return np.load(DATA / "reference.npz")


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


@pytest.fixture(scope="session")
def check_parity(fill_mod, ref_keys, ref_outputs) -> Callable[[str], None]:
    """Build a case, load filled weights strictly and compare its outputs with the reference."""

    def check(name: str) -> None:
        model = build_case(name)
        assert_manifest(model, ref_keys[name])
        state = {k: torch.from_numpy(fill_mod.fill(k, tuple(v.shape), v.is_floating_point()))
                 for k, v in model.state_dict().items()}
        model.load_state_dict(state, strict=True)
        model.eval()
        x = torch.from_numpy(fill_mod.parity_input(tuple(CASES["input_shape"])))
        with torch.no_grad():
            outs = model(x)
        n_ref = sum(1 for k in ref_outputs.files if k.startswith(f"{name}.") and k.endswith(".shape"))
        assert isinstance(outs, tuple) and len(outs) == n_ref
        for j, out in enumerate(outs):
            key = f"{name}.out{j}"
            assert list(out.shape) == ref_outputs[f"{key}.shape"].tolist()
            _, c, h, w = out.shape
            step = max(1, math.ceil(c * math.ceil(h / 2) * math.ceil(w / 2) / CASES["max_sample"]))
            assert_close(out[:, ::step, ::2, ::2].numpy(), ref_outputs[f"{key}.sample"], f"{key} sample")
            assert_close(out.mean((2, 3)).numpy(), ref_outputs[f"{key}.chmean"], f"{key} channel means")
        assert list(model.out_channels) == [o.shape[1] for o in outs]

    return check


@pytest.fixture(scope="session")
def check_keys(ref_keys) -> Callable[[str], None]:
    """Only compare the state-dict manifest (big models)."""

    def check(name: str) -> None:
        assert_manifest(build_case(name), ref_keys[name])

    return check
