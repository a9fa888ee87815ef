"""Fixtures for backbone tests: the shared parity filler and MMSeg reference data."""
from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
from _shared import require
from backbone_reference import CASES, DATA, FILL_PATH, assert_close, assert_manifest, build_case, load_fill


@pytest.fixture(scope="session")
def fill_mod():
    """The shared parity weight filler (fails when the shared folder is not present)."""
    require(FILL_PATH)
    return load_fill()


@pytest.fixture(scope="session")
def ref_keys() -> dict:
    """``{case: [[key, shape, is_float], ...]}`` from the reference implementation."""
    return json.loads((DATA / "keys.json").read_text())


@pytest.fixture(scope="session")
def ref_outputs():
    return np.load(DATA / "reference.npz")


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
