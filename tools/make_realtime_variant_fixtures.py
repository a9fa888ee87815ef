"""Record reference outputs of real-time model variants beyond the parity goldens (a dev script, never
imported by seglab): STDC2, PIDNet-M/L, DDRNet-23, BiSeNetV1 on ResNet-18/50/101, MobileNetV3-small.

Run by hand inside the MMSegmentation reference env (see ../shared/tools/mmseg-reference-env.sh):

    /work/mmseg-ref/bin/python tools/make_realtime_variant_fixtures.py [--out tests/data/realtime_variants]

For each config it builds MMSeg's model from the normalised ``model`` dict (as the manifests do),
fills every state-dict entry with ../shared/parity/fill.py, and writes ``<name>.json`` (the model dict,
the input shape) and ``<name>.npz``: ``logits_sub``, every ``step``-th row and column of ``model(parity_input(shape),
mode='tensor')`` in eval mode, and the full logits ``shape``.
"""
from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_mmseg_manifests import encode_tuples, normalise  # noqa: E402

# config path inside MMSeg's configs/ -> input shape (LR-ASPP needs >= 392 px for its 49x49 pool)
VARIANTS = {
    "stdc/stdc2_4xb12-80k_cityscapes-512x1024.py": (1, 3, 128, 128),
    "pidnet/pidnet-m_2xb6-120k_1024x1024-cityscapes.py": (1, 3, 128, 128),
    "pidnet/pidnet-l_2xb6-120k_1024x1024-cityscapes.py": (1, 3, 128, 128),
    "ddrnet/ddrnet_23_in1k-pre_2xb6-120k_cityscapes-1024x1024.py": (1, 3, 128, 128),
    "bisenetv1/bisenetv1_r18-d32_4xb4-160k_cityscapes-1024x1024.py": (1, 3, 128, 128),
    "bisenetv1/bisenetv1_r50-d32_4xb4-160k_coco-stuff164k-512x512.py": (1, 3, 128, 128),
    "mobilenet_v3/mobilenet-v3-d8-s_lraspp_4xb4-320k_cityscapes-512x1024.py": (1, 3, 400, 400),
}


def load_fill(path: str):
    """The ../shared/parity/fill.py module (``fill``, ``parity_input``)."""
    spec = importlib.util.spec_from_file_location("parity_fill", path)
    fill_mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fill_mod)
    return fill_mod


def write_fixture(out: str, name: str, model_cfg: dict, shape: tuple, fill_mod, config: str | None = None) -> None:
    """Build MMSeg's model from ``model_cfg`` with filled weights; write ``<name>.json`` and ``<name>.npz``."""
    import mmseg
    import numpy as np
    import torch
    from mmseg.registry import MODELS

    model = MODELS.build(copy.deepcopy(model_cfg))
    state = {k: torch.from_numpy(fill_mod.fill(k, tuple(v.shape), v.is_floating_point()))
             for k, v in model.state_dict().items()}
    model.load_state_dict(state, strict=True)
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(fill_mod.parity_input(shape)), mode="tensor")
    meta = {"config": config} if config else {}
    with open(os.path.join(out, f"{name}.json"), "w") as f:
        json.dump({**meta, "input_shape": list(shape), "model_cfg": encode_tuples(model_cfg),
                   "mmseg_version": mmseg.__version__}, f, indent=1)
        f.write("\n")
    step = max(1, logits.shape[2] // 8)  # every step-th row/column keeps the files small
    np.savez_compressed(os.path.join(out, f"{name}.npz"), logits_sub=logits[:, :, ::step, ::step].numpy(),
                        step=np.int64(step), shape=np.array(logits.shape))
    print(f"{name}: logits {tuple(logits.shape)}, kept every {step}th row/column")


def config_model(rel: str) -> dict:
    """The normalised ``model`` dict of MMSeg's config ``rel`` (a path inside its configs/)."""
    import mmseg
    from mmengine.config import Config

    cfg_root = os.path.join(os.path.dirname(mmseg.__file__), ".mim", "configs")
    model_cfg = normalise(Config.fromfile(os.path.join(cfg_root, rel)).to_dict()["model"])
    model_cfg["data_preprocessor"] = None
    return model_cfg


def main(variants: dict[str, tuple[int, ...]] = VARIANTS, out: str = "tests/data/realtime_variants") -> None:
    """Write one fixture pair per variant."""
    from mmseg.utils import register_all_modules

    register_all_modules()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=out)
    parser.add_argument("--fill", default=os.path.join(HERE, "..", "..", "shared", "parity", "fill.py"))
    args = parser.parse_args()
    fill_mod = load_fill(args.fill)
    os.makedirs(args.out, exist_ok=True)
    for rel, shape in variants.items():
        write_fixture(args.out, os.path.basename(rel)[:-3], config_model(rel), shape, fill_mod, config=rel)


if __name__ == "__main__":
    main()
