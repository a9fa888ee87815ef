"""Helpers for the attention/context head tests: build a case of cases.json in seglab and compare
with reference.npz (MMSegmentation 1.2.2 outputs; see make_reference.py in this folder)."""

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


@functools.lru_cache(maxsize=1)
def reference() -> dict[str, np.ndarray]:
    with np.load(HERE / "reference.npz") as data:
        return {k: data[k] for k in data.files}


def names(type_name: str, with_outputs: bool = True) -> list[str]:
    """Cases building ``type_name`` (only those with reference outputs unless ``with_outputs`` is False)."""
    return [n for n, c in all_cases().items()
            if c["cfg"]["type"] == type_name and (not with_outputs or "num_outputs" in c)]


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
    """The seglab head of a case, from the case's MMSeg config (plus overrides)."""
    return MODELS.build({**all_cases()[name]["cfg"], **overrides})


def filled(name: str, **overrides) -> torch.nn.Module:
    """The case's head with every state-dict entry from :func:`fill`, in eval mode."""
    model = build(name, **overrides)
    sd = model.state_dict()
    model.load_state_dict({k: torch.from_numpy(fill(k, tuple(v.shape), v.is_floating_point())) for k, v in sd.items()},
                          strict=True)
    return model.eval()


def inputs(name: str) -> list[torch.Tensor]:
    """The reference inputs of a case."""
    ref = reference()
    return [torch.from_numpy(ref[f"{name}/in{j}"]) for j in range(all_cases()[name]["num_inputs"])]


def check_keys(name: str) -> None:
    """Same state-dict keys, shapes and dtypes, in MMSeg's order."""
    sd = build(name).state_dict()
    ours = [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in sd.items()]
    want = all_cases()[name]["manifest"]
    missing = [r[0] for r in want if r[0] not in sd]
    extra = [r[0] for r in ours if r[0] not in {w[0] for w in want}]
    assert ours == want, f"{name}: missing {missing[:5]}, unexpected {extra[:5]}"


def outputs(model: torch.nn.Module, feats: list[torch.Tensor]) -> list[torch.Tensor]:
    out = model(feats)
    return [out] if isinstance(out, torch.Tensor) else list(out)


def check_parity(name: str) -> None:
    """Outputs within 1e-4 * max|ref| + 1e-5 of MMSeg's (the ../shared/parity rule)."""
    ref = reference()
    with torch.no_grad():
        outs = outputs(filled(name), inputs(name))
    assert len(outs) == all_cases()[name]["num_outputs"]
    for j, out in enumerate(outs):
        want = ref[f"{name}/out{j}"]
        assert tuple(out.shape) == want.shape, f"{name} out{j}: shape {tuple(out.shape)} != {want.shape}"
        err = float(np.abs(out.numpy() - want).max())
        assert err <= 1e-4 * float(np.abs(want).max()) + 1e-5, f"{name} out{j}: max error {err:.3g}"


def check_gradients(name: str, frozen: tuple[str, ...] = (), no_effect: tuple[str, ...] = (), **overrides) -> None:
    """In training mode a random projection of the outputs reaches every trainable parameter.

    ``frozen``: parameters expected to have requires_grad False; ``no_effect``: parameters that cannot
    change the output (e.g. a bias before a softmax), skipped.
    """
    torch.manual_seed(0)
    model = filled(name, **overrides).train()
    feats = [torch.randn(2, *x.shape[1:]) for x in inputs(name)]
    outs = outputs(model, feats)
    # A random weighting, not a plain sum: a sum after a training-mode BN has zero gradient.
    sum((o * torch.randn_like(o)).sum() for o in outs).backward()
    dead = [n for n, p in model.named_parameters()
            if p.requires_grad and n not in no_effect and (p.grad is None or not p.grad.abs().sum() > 0)]
    assert not dead, f"{name}: no gradient reaches {dead}"
    assert [n for n, p in model.named_parameters() if not p.requires_grad] == list(frozen)

