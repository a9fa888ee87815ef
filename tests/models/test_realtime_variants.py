"""Real-time model variants beyond the parity goldens (STDC2, PIDNet-M/L, DDRNet-23, BiSeNetV1 on
ResNet-18/50, MobileNetV3-small + LR-ASPP, ICNet R50, CGNet, ERFNet, PointRend R50) give MMSegmentation
1.2.2's outputs.

Fixtures in tests/data/realtime_variants come from tools/make_realtime_variant_fixtures.py (run in the
MMSeg reference env): the model dict, the input shape and a subsampled grid of the reference logits,
made with ../shared/parity/fill.py weights. Each variant is built from that dict and from seglab's
config file of the same name. PointRend's fixture (``"output": "encode_decode"``) holds the subdivision
inference result of ``encode_decode`` instead of the ``mode='tensor'`` logits.
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

from seglab.config import Config
from seglab.registry import MODELS

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "realtime_variants"
NAMES = sorted(p.stem for p in DATA.glob("*.json"))


@functools.lru_cache(maxsize=1)
def _fill():
    spec = importlib.util.spec_from_file_location("parity_fill", require(FILL))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _decode_tuples(obj: object) -> object:
    if isinstance(obj, dict):
        if set(obj) == {"__tuple__"}:
            return tuple(_decode_tuples(v) for v in obj["__tuple__"])
        return {k: _decode_tuples(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode_tuples(v) for v in obj]
    return obj


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """One intra-op thread: on a loaded 2-core machine OpenMP workers waiting for each other dominate."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_variants_were_collected():
    assert len(NAMES) >= 11, f"only {NAMES} in {DATA}"


@pytest.mark.parametrize("variant", ["model_cfg", "config_file"])
@pytest.mark.parametrize("name", NAMES)
def test_variant_matches_mmseg(name: str, variant: str):
    meta = json.loads((DATA / f"{name}.json").read_text())
    if variant == "model_cfg":
        cfg = _decode_tuples(meta["model_cfg"])
    else:
        path = REPO / "configs" / meta["config"]
        assert path.is_file(), f"configs/{meta['config']} must exist"
        cfg = Config.fromfile(str(path)).model
        cfg = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
        cfg["data_preprocessor"] = None
    model = MODELS.build(cfg)
    fill = _fill().fill
    state = {k: torch.from_numpy(fill(k, tuple(v.shape), v.is_floating_point())) for k, v in model.state_dict().items()}
    model.load_state_dict(state, strict=True)
    model.eval()
    ref = np.load(DATA / f"{name}.npz")
    step = int(ref["step"])
    x = torch.from_numpy(_fill().parity_input(tuple(meta["input_shape"])))
    with torch.no_grad():
        if meta.get("output", "tensor") == "tensor":
            logits = model(x, mode="tensor")
        else:
            h, w = meta["input_shape"][2:]
            logits = model.encode_decode(x, [dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w))])
    assert list(logits.shape) == ref["shape"].tolist()
    ours = logits[:, :, ::step, ::step].numpy()
    reference = ref["logits_sub"]
    err = float(np.abs(ours - reference).max())
    tol = 1e-4 * float(np.abs(reference).max()) + 1e-5
    assert err <= tol, f"{name} ({variant}): max abs error {err:.3g} > tolerance {tol:.3g}"
