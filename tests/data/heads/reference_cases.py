"""Helpers for the head/neck parity tests: build a case of cases.json in seglab and compare with
reference.npz (MMSegmentation 1.2.2 outputs; see make_reference.py)."""

from __future__ import annotations

import functools
import json
import zlib
from pathlib import Path

import numpy as np
import torch

import seglab.models  # noqa: F401 - registration
from seglab.registry import MODELS

HERE = Path(__file__).resolve().parent


@functools.lru_cache(maxsize=1)
def all_cases() -> dict:
    return json.loads((HERE / "cases.json").read_text())


def case_names(type_name: str) -> list[str]:
    """Names of the cases that build ``type_name``."""
    return [n for n, c in all_cases().items() if c["type"] == type_name]


@functools.lru_cache(maxsize=1)
def reference() -> dict[str, np.ndarray]:
    with np.load(HERE / "reference.npz") as data:
        return {k: data[k] for k in data.files}


def fill(key: str, shape: tuple, is_float: bool) -> np.ndarray:
    """The parity rule of ../shared/parity/fill.py (re-implemented so tests run without the shared folder)."""
    if not is_float:
        return np.zeros(shape, dtype=np.int64)
    rng = np.random.default_rng(zlib.crc32(key.encode("utf-8")))
    if key.endswith("running_var"):
        out = rng.uniform(0.5, 1.5, shape)
    elif len(shape) >= 2:
        out = rng.normal(0.0, 1.0 / np.sqrt(int(np.prod(shape[1:]))), shape)
    elif key.endswith("weight"):
        out = rng.uniform(0.5, 1.5, shape)
    else:
        out = rng.uniform(-0.1, 0.1, shape)
    return np.asarray(out, dtype=np.float32)


def build(name: str, **overrides) -> torch.nn.Module:
    """The seglab module of a case, with the case's constructor arguments (and overrides)."""
    case = all_cases()[name]
    return MODELS.build(dict(type=case["type"], **{**case["kwargs"], **overrides}))


def inputs(name: str, batch: int | None = None) -> list[torch.Tensor]:
    """The case's input maps (optionally with another batch size, for training-mode checks)."""
    case = all_cases()[name]
    rng = np.random.default_rng(case["seed"])
    shapes = [[batch or s[0], *s[1:]] for s in case["input_shapes"]]
    if batch is None:
        return [torch.from_numpy(rng.standard_normal(s).astype(np.float32)) for s in case["input_shapes"]]
    return [torch.from_numpy(rng.standard_normal(s).astype(np.float32)) for s in shapes]


def check_parity(name: str) -> None:
    """Same state-dict keys/shapes (in order) and outputs within 1e-5 * max|ref| + 1e-6 of MMSeg's."""
    ref = reference()
    model = build(name)
    sd = model.state_dict()
    ours_keys = [f"{k}:{list(v.shape)}" for k, v in sd.items()]
    assert ours_keys == str(ref[f"{name}.keys"]).split("\n")
    model.load_state_dict({k: torch.from_numpy(fill(k, tuple(v.shape), v.is_floating_point())) for k, v in sd.items()},
                          strict=True)
    model.eval()
    with torch.no_grad():
        outs = model(inputs(name))
    outs = [outs] if isinstance(outs, torch.Tensor) else list(outs)
    expected = sorted((k for k in ref if k.startswith(f"{name}.out")), key=lambda k: int(k.rsplit("out", 1)[1]))
    assert len(outs) == len(expected)
    for out, key in zip(outs, expected):
        want = ref[key]
        assert tuple(out.shape) == want.shape, f"{key}: shape {tuple(out.shape)} != {want.shape}"
        err = float(np.abs(out.numpy() - want).max())
        assert err <= 1e-5 * float(np.abs(want).max()) + 1e-6, f"{key}: max error {err:.3g}"


def check_gradients(name: str) -> None:
    """In training mode, a random projection of the outputs gives a nonzero gradient to every parameter."""
    torch.manual_seed(0)
    model = build(name).train()
    outs = model(inputs(name, batch=2))
    outs = [outs] if isinstance(outs, torch.Tensor) else list(outs)
    # A random weighting (not a plain sum): a sum after a training-mode BN has zero gradient.
    loss = sum((o * torch.randn_like(o)).sum() for o in outs)
    loss.backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead, f"{name}: no gradient reaches {dead}"
