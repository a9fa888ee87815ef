"""Record the state-dict manifest of every MMSeg 1.2.2 config of the FAMILIES below (a dev script, never imported).

Run by hand inside the MMSegmentation reference env (see ../shared/tools/mmseg-reference-env.sh):

    . /work/mmseg-ref/bin/activate
    python tools/make_mmseg_manifests.py [--out tests/data/mmseg_manifests] [--families fcn pspnet ...]

For each config it loads the resolved ``model`` dict, normalises it the way ../shared/parity does
(SyncBN -> BN; ``pretrained``/``init_cfg`` removed; ``data_preprocessor`` set to None), builds the
model with mmseg and writes ``<out>/<family>.json``. Identical model dicts are stored once with the
list of configs using them. Each entry holds the number of state-dict entries, the sha256 of the
canonical ``[key, shape, dtype]`` list (see ``manifest_hash``) and that list zlib-compressed.
Tuples in model dicts are written as ``{"__tuple__": [...]}`` (MMSeg asserts tuples in places).
"""
from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import json
import os
import sys
import time
import zlib
from typing import Any

FAMILIES = [
    "fcn", "pspnet", "deeplabv3", "deeplabv3plus", "upernet", "sem_fpn", "ann", "apcnet", "ccnet",
    "danet", "dmnet", "dnlnet", "emanet", "encnet", "fastfcn", "gcnet", "isanet", "nonlocal_net",
    "psanet", "resnest", "mobilenet_v2", "maskformer", "mask2former",
    "swin", "vit", "segmenter", "setr", "dpt", "beit", "mae", "segformer", "segnext",
    "bisenetv1", "bisenetv2", "stdc", "fastscnn", "mobilenet_v3", "pidnet", "ddrnet",
    "hrnet", "ocrnet", "unet",
    "twins",
    "san",
    "knet",
    "icnet", "cgnet", "erfnet", "point_rend",
]
# Configs of a family left out for now (their backbone is another family's work): name substrings.
EXCLUDE: dict[str, tuple[str, ...]] = {}


def normalise(obj: Any) -> Any:
    """Copy a config value into plain JSON types with SyncBN -> BN and pretrained/init_cfg removed."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k in ("pretrained", "init_cfg"):
                continue
            if k == "type" and v == "SyncBN":
                v = "BN"
            out[k] = normalise(v)
        return out
    if isinstance(obj, tuple):
        return tuple(normalise(v) for v in obj)
    if isinstance(obj, list):
        return [normalise(v) for v in obj]
    return obj


def encode_tuples(obj: Any) -> Any:
    """Write tuples as ``{"__tuple__": [...]}`` so JSON keeps them (MMSeg asserts tuples in places, e.g. JPU)."""
    if isinstance(obj, dict):
        return {k: encode_tuples(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return {"__tuple__": [encode_tuples(v) for v in obj]}
    if isinstance(obj, list):
        return [encode_tuples(v) for v in obj]
    return obj


def manifest(state_dict: dict) -> list[list]:
    """``[key, shape, dtype]`` for every state-dict entry, in order (dtype like 'float32')."""
    return [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in state_dict.items()]


def manifest_hash(rows: list[list]) -> str:
    """sha256 of the compact JSON text of a manifest (the same rule the seglab test uses)."""
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


def pack(rows: list[list]) -> str:
    """Compress a manifest into a base64 string (zlib of its compact JSON)."""
    return base64.b64encode(zlib.compress(json.dumps(rows, separators=(",", ":")).encode(), 9)).decode()


def build_manifest(model_cfg: dict) -> list[list]:
    """Build ``model_cfg`` with mmseg (on the meta device when possible) and return its manifest."""
    import torch
    from mmengine.config import ConfigDict
    from mmseg.registry import MODELS

    # A ConfigDict as MMSeg builds it: mmdet's heads read their configs by attribute (cfg.layer_cfg).
    try:
        with torch.device("meta"):
            model = MODELS.build(ConfigDict(copy.deepcopy(model_cfg)))
    except Exception:  # some modules create real tensors in __init__; retry on the CPU
        model = MODELS.build(ConfigDict(copy.deepcopy(model_cfg)))
    return manifest(model.state_dict())


def main() -> None:
    """Write one manifest file per family."""
    from mmengine.config import Config
    from mmseg.utils import register_all_modules

    register_all_modules()
    import mmseg

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tests/data/mmseg_manifests")
    parser.add_argument("--families", nargs="*", default=FAMILIES)
    args = parser.parse_args()
    cfg_root = os.path.join(os.path.dirname(mmseg.__file__), ".mim", "configs")
    os.makedirs(args.out, exist_ok=True)
    for family in args.families:
        t0 = time.time()
        groups: dict[str, dict] = {}
        folder = os.path.join(cfg_root, family)
        for fname in sorted(os.listdir(folder)):
            if not fname.endswith(".py"):
                continue
            name = fname[:-3]
            if any(part in name for part in EXCLUDE.get(family, ())):
                continue
            cfg = Config.fromfile(os.path.join(folder, fname))
            model_cfg = normalise(cfg.to_dict()["model"])
            if "data_preprocessor" in model_cfg:
                model_cfg["data_preprocessor"] = None
            key = json.dumps(encode_tuples(model_cfg), sort_keys=True)
            groups.setdefault(key, {"configs": [], "model": model_cfg})["configs"].append(name)
        entries = []
        for group in groups.values():
            entry = {"configs": group["configs"], "model": encode_tuples(group["model"])}
            try:
                rows = build_manifest(group["model"])
                entry.update(num_keys=len(rows), sha256=manifest_hash(rows), state_dict_zlib=pack(rows))
            except Exception as exc:  # recorded, so the test can skip with the reason
                entry["error"] = f"{type(exc).__name__}: {exc}"
                print(f"  {family}/{group['configs'][0]}: build failed: {entry['error']}", file=sys.stderr)
            entries.append(entry)
        data = {"family": family, "mmseg_version": mmseg.__version__, "entries": entries}
        with open(os.path.join(args.out, f"{family}.json"), "w") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
        n_cfg = sum(len(g["configs"]) for g in groups.values())
        print(f"{family}: {n_cfg} configs, {len(entries)} unique models ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
