"""Check a model against a reference-output fixture pair (``<name>.json`` + ``<name>.npz``).

The fixtures come from tools/make_realtime_variant_fixtures.py and the scripts reusing its writer: the
MMSeg model dict, the input shape, optionally the config path, and a subsampled grid of the reference
logits made with ../shared/parity/fill.py weights.
"""
from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from _shared import FILL, require

from seglab.config import Config
from seglab.registry import MODELS

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """One intra-op thread: on a loaded 2-core machine OpenMP workers waiting for each other dominate.

    Autouse in every test module that imports it.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@functools.lru_cache(maxsize=1)
def parity_fill() -> ModuleType:
    """../shared/parity/fill.py as a module."""
    spec = importlib.util.spec_from_file_location("parity_fill", require(FILL))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def decode_tuples(obj: object) -> object:
    """Undo the fixtures' ``{"__tuple__": [...]}`` encoding."""
    if isinstance(obj, dict):
        if set(obj) == {"__tuple__"}:
            return tuple(decode_tuples(v) for v in obj["__tuple__"])
        return {k: decode_tuples(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode_tuples(v) for v in obj]
    return obj


@functools.lru_cache(maxsize=2)
def _filled_state(shapes: tuple[tuple[str, tuple[int, ...], bool], ...]) -> dict[str, torch.Tensor]:
    """The fill weights of a state dict given as ``(key, shape, is_float)`` rows (cached: both variants of a
    fixture have the same rows, and filling a ResNet-50 model takes seconds)."""
    fill = parity_fill().fill
    return {k: torch.from_numpy(fill(k, shape, is_float)) for k, shape, is_float in shapes}


def assert_matches_fixture(data: Path, name: str, variant: str) -> None:
    """Build fixture ``name`` from its model dict (``variant='model_cfg'``) or from seglab's config file of the
    recorded path (``'config_file'``), load filled weights strictly, compare the logits (README tolerance)."""
    meta = json.loads((data / f"{name}.json").read_text())
    if variant == "model_cfg":
        cfg = decode_tuples(meta["model_cfg"])
    else:
        path = REPO / "configs" / meta["config"]
        assert path.is_file(), f"configs/{meta['config']} must exist"
        cfg = Config.fromfile(str(path)).model
        cfg = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
        cfg["data_preprocessor"] = None
    model = MODELS.build(cfg)
    shapes = tuple((k, tuple(v.shape), v.is_floating_point()) for k, v in model.state_dict().items())
    model.load_state_dict(_filled_state(shapes), strict=True)
    model.eval()
    ref = np.load(data / f"{name}.npz")
    step = int(ref["step"])
    x = torch.from_numpy(parity_fill().parity_input(tuple(meta["input_shape"])))
    with torch.no_grad():
        if meta.get("output", "tensor") == "tensor":
            logits = model(x, mode="tensor")
        else:  # the last head's predict (PointRend: MMSeg has no tensor mode for it)
            h, w = meta["input_shape"][2:]
            logits = model.encode_decode(x, [dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w))])
    assert list(logits.shape) == ref["shape"].tolist()
    ours = logits[:, :, ::step, ::step].numpy()
    reference = ref["logits_sub"]
    err = float(np.abs(ours - reference).max())
    tol = 1e-4 * float(np.abs(reference).max()) + 1e-5
    assert err <= tol, f"{name} ({variant}): max abs error {err:.3g} > tolerance {tol:.3g}"
