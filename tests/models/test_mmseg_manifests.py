"""Every MMSeg 1.2.2 config's model (of the recorded families) builds in seglab with exactly MMSeg's state-dict layout.

The manifests in tests/data/mmseg_manifests were recorded from MMSegmentation itself by
tools/make_mmseg_manifests.py: per unique model dict, the configs using it, the dict, the number of
state-dict entries, the sha256 of the canonical ``[key, shape, dtype]`` list and that list compressed.
Models are built on the meta device, so no memory is allocated and ~240 builds take seconds.

Every type these configs name is implemented, so a missing type is a failure, never a skip.
"""
from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import zlib
from pathlib import Path
from typing import Any

import pytest
import torch
from _optional import skip_reason

import seglab.models  # noqa: F401 - registers the models
from seglab.registry import MODELS

DATA = Path(__file__).resolve().parents[1] / "data" / "mmseg_manifests"
TOOL = Path(__file__).resolve().parents[2] / "tools" / "make_mmseg_manifests.py"
# Dicts under these keys are built by layer helpers (norm/act/conv), not by the MODELS registry.
LAYER_KEYS = {"norm_cfg", "act_cfg", "conv_cfg", "dcn", "upsample_cfg", "ffn_act_cfg",
              "assigner"}  # an assigner and its match costs live in TASK_UTILS (SAN names them without mmdet.)


def decode_tuples(obj: Any) -> Any:
    """Undo the manifest's ``{"__tuple__": [...]}`` encoding (MMSeg asserts tuples in places)."""
    if isinstance(obj, dict):
        if set(obj) == {"__tuple__"}:
            return tuple(decode_tuples(v) for v in obj["__tuple__"])
        return {k: decode_tuples(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode_tuples(v) for v in obj]
    return obj


def manifest(state_dict: dict) -> list[list]:
    """``[key, shape, dtype]`` per entry, in order, dtype spelt like 'float32'."""
    return [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in state_dict.items()]


def manifest_hash(rows: list[list]) -> str:
    """sha256 of the compact JSON of a manifest (same rule as tools/make_mmseg_manifests.py)."""
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


def model_types(cfg: Any, key: str = "") -> list[str]:
    """Every registry type name a model dict refers to (outside norm/act/conv layer configs)."""
    if isinstance(cfg, dict):
        if key in LAYER_KEYS:
            return []
        found = [cfg["type"]] if isinstance(cfg.get("type"), str) else []
        for k, v in cfg.items():
            found += model_types(v, k)
        return found
    if isinstance(cfg, (list, tuple)):
        return [t for v in cfg for t in model_types(v, key)]
    return []


def diff_hint(ours: list[list], ref: list[list]) -> str:
    """A readable summary of how two manifests differ."""
    ours_map, ref_map = {r[0]: r[1:] for r in ours}, {r[0]: r[1:] for r in ref}
    missing = [k for k in ref_map if k not in ours_map]
    unexpected = [k for k in ours_map if k not in ref_map]
    shape = [f"{k}: ours {ours_map[k]} vs mmseg {ref_map[k]}" for k in ref_map if k in ours_map and ours_map[k] != ref_map[k]]
    lines = [f"seglab has {len(ours)} entries, MMSeg {len(ref)}"]
    if missing:
        lines.append(f"missing ({len(missing)}): {missing[:8]}")
    if unexpected:
        lines.append(f"unexpected ({len(unexpected)}): {unexpected[:8]}")
    if shape:
        lines.append(f"shape/dtype differs ({len(shape)}): {shape[:5]}")
    if not (missing or unexpected or shape):
        first = next(i for i, (a, b) in enumerate(zip(ours, ref)) if a[0] != b[0])
        lines.append(f"same entries, different order from index {first}: ours {ours[first][0]} vs mmseg {ref[first][0]}")
    return "\n  ".join(lines)


def load_entries() -> list[Any]:
    """One pytest param per unique model dict across all manifest files."""
    params = []
    for path in sorted(DATA.glob("*.json")):
        data = json.loads(path.read_text())
        for entry in data["entries"]:
            params.append(pytest.param(data["family"], entry, id=f"{data['family']}-{entry['configs'][0]}"))
    return params


ENTRIES = load_entries()


def _recorded_families() -> list[str]:
    """FAMILIES of tools/make_mmseg_manifests.py (the families a manifest must exist for)."""
    spec = importlib.util.spec_from_file_location("make_mmseg_manifests", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # imports mmseg only inside main()
    return list(module.FAMILIES)


def test_manifests_collected() -> None:
    """Guard against a suite that silently checks nothing: every family of the tool, ~470 configs."""
    configs = sum(len(p.values[1]["configs"]) for p in ENTRIES)
    families = _recorded_families()
    assert len(families) >= 28
    assert {p.values[0] for p in ENTRIES} == set(families)
    assert len(ENTRIES) >= 200 and configs >= 400


@pytest.mark.parametrize("family,entry", ENTRIES)
def test_state_dict_matches_mmseg(family: str, entry: dict) -> None:
    """The model built from MMSeg's model dict has MMSeg's exact state-dict keys, shapes, dtypes."""
    if "error" in entry:
        skip_reason("mmseg-could-not-build", entry["error"])
    cfg = decode_tuples(entry["model"])
    missing = sorted({t for t in model_types(cfg) if t not in MODELS and "." not in t})
    assert not missing, f"types not registered in seglab: {', '.join(missing)}"
    try:
        with torch.device("meta"):
            model = MODELS.build(cfg)
    except (NotImplementedError, RuntimeError):  # a module that needs real tensors in __init__
        model = MODELS.build(cfg)
    ours = manifest(model.state_dict())
    if manifest_hash(ours) == entry["sha256"]:
        return
    ref = json.loads(zlib.decompress(base64.b64decode(entry["state_dict_zlib"])))
    assert manifest_hash(ref) == entry["sha256"], "corrupt manifest entry"
    pytest.fail(f"{family} {entry['configs'][0]} (+{len(entry['configs']) - 1} configs):\n  {diff_hint(ours, ref)}")


def test_manifest_helpers() -> None:
    """The tuple decoding, hash rule and diff hint used above behave as documented."""
    assert decode_tuples({"a": {"__tuple__": [1, {"__tuple__": []}]}, "b": [{"__tuple__": [2]}]}) == {
        "a": (1, ()),
        "b": [(2,)],
    }
    rows = manifest({"w": torch.zeros(2, 3), "n": torch.zeros((), dtype=torch.int64)})
    assert rows == [["w", [2, 3], "float32"], ["n", [], "int64"]]
    assert manifest_hash(rows) == hashlib.sha256(b'[["w",[2,3],"float32"],["n",[],"int64"]]').hexdigest()
    hint = diff_hint([["a", [1], "float32"], ["x", [2], "float32"]], [["a", [2], "float32"], ["b", [1], "float32"]])
    assert "missing (1): ['b']" in hint and "unexpected (1): ['x']" in hint and "a: ours [[1], 'float32']" in hint
    assert "different order from index 0" in diff_hint([["b", [], "f"], ["a", [], "f"]], [["a", [], "f"], ["b", [], "f"]])
