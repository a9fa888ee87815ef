"""Record mmpretrain's ConvNeXt and PoolFormer state-dict layouts and outputs for
tests/models/backbones/test_convnext_poolformer.py (a dev script, never imported by seglab).

MMSeg's convnext/ and poolformer/ configs name ``mmpretrain.ConvNeXt`` / ``mmpretrain.PoolFormer``, and the
MMSeg reference env has no mmpretrain. This script derives the reference from mmpretrain's published source:
a source checkout (the ``fetch`` of github:open-mmlab/mmpretrain, 1.2.0) is put on ``sys.path`` and only
``mmpretrain/models/backbones/{convnext,poolformer}.py`` are used. Importing them runs mmpretrain's package
``__init__`` files, which import modules these two backbones never call (``modelindex``, ``einops``,
``torchvision``); those are replaced by empty stand-ins. Run inside the MMSeg reference env (mmcv/mmengine):

    git --git-dir=/work/.mirror/open-mmlab+mmpretrain/repo archive HEAD mmpretrain | tar x -C /tmp/mmpre
    /work/mmseg-ref/bin/python tools/make_mmpretrain_backbone_fixtures.py --mmpretrain /tmp/mmpre

Writes ``tests/data/mmpretrain_backbones/manifests.json``: for every arch (ConvNeXt tiny..xlarge as MMSeg's
configs build them, PoolFormer s12..m48 with out_indices (0, 2, 4, 6)) the ``[key, shape, dtype]`` rows'
sha256 and count, and the full rows of convnext-tiny and poolformer-s12; and ``outputs.npz``: the outputs of
small variants on ``parity_input((1, 3, 64, 64))`` with ../shared/parity/fill.py weights (maps: every 2nd
row and column).
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import sys
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
_UNUSED_IMPORTS = ("modelindex", "modelindex.load_model_index", "modelindex.models", "modelindex.models.Model",
                   "einops", "torchvision", "torchvision.ops", "torchvision.ops.boxes")
CONVNEXT = dict(out_indices=[0, 1, 2, 3], drop_path_rate=0.4, layer_scale_init_value=1.0,
                gap_before_final_norm=False)  # MMSeg's configs
POOLFORMER = dict(out_indices=(0, 2, 4, 6), frozen_stages=0)  # MMSeg's configs
# name -> (type, constructor arguments) of the cases with recorded outputs (eval mode)
OUTPUT_CASES = {
    "convnext-tiny": ("ConvNeXt", dict(CONVNEXT, arch="tiny")),
    "convnext-grn-conv-gap": ("ConvNeXt", dict(arch=dict(depths=[1, 2], channels=[8, 16]), use_grn=True,
                                               linear_pw_conv=False, layer_scale_init_value=0.0,
                                               out_indices=[1], gap_before_final_norm=True)),
    "poolformer-s12": ("PoolFormer", dict(POOLFORMER, arch="s12")),
    "poolformer-custom": ("PoolFormer", dict(arch=dict(layers=[1, 1, 2], embed_dims=[8, 16, 16]), pool_size=5,
                                             out_indices=(0, 2, 3), in_patch_size=3, in_stride=2, in_pad=1)),
}


def rows(model) -> list[list]:  # noqa: ANN001
    """``[key, shape, dtype]`` of every state-dict entry, in order."""
    return [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in model.state_dict().items()]


def main() -> None:
    """Write the manifests and the outputs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mmpretrain", required=True, help="folder holding the mmpretrain/ source package")
    parser.add_argument("--out", default="tests/data/mmpretrain_backbones")
    parser.add_argument("--fill", default=os.path.join(HERE, "..", "..", "shared", "parity", "fill.py"))
    args = parser.parse_args()
    for name in _UNUSED_IMPORTS:
        sys.modules.setdefault(name, mock.MagicMock(__name__=name, __path__=[], __spec__=None))
    sys.path.insert(0, args.mmpretrain)
    import numpy as np
    import torch
    from mmpretrain import __version__
    from mmpretrain.models.backbones.convnext import ConvNeXt
    from mmpretrain.models.backbones.poolformer import PoolFormer

    classes = {"ConvNeXt": ConvNeXt, "PoolFormer": PoolFormer}
    spec = importlib.util.spec_from_file_location("parity_fill", args.fill)
    fill_mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fill_mod)
    os.makedirs(args.out, exist_ok=True)
    manifests = {}
    for cls_name, archs, common in (("ConvNeXt", ("tiny", "small", "base", "large", "xlarge"), CONVNEXT),
                                    ("PoolFormer", ("s12", "s24", "s36", "m36", "m48"), POOLFORMER)):
        for arch in archs:
            model = classes[cls_name](arch=arch, **json.loads(json.dumps(common)))  # (meta: ConvNeXt calls .item())
            r = rows(model)
            entry = {"type": cls_name, "args": dict(json.loads(json.dumps(common)), arch=arch), "num_keys": len(r),
                     "sha256": hashlib.sha256(json.dumps(r, separators=(",", ":")).encode()).hexdigest()}
            if arch in ("tiny", "s12"):
                entry["state_dict"] = r
            manifests[f"{cls_name.lower()}-{arch}"] = entry
            print(f"{cls_name} {arch}: {len(r)} keys")
    outputs = {}
    for name, (cls_name, kwargs) in OUTPUT_CASES.items():
        model = classes[cls_name](**json.loads(json.dumps(kwargs)))
        state = {k: torch.from_numpy(fill_mod.fill(k, tuple(v.shape), v.is_floating_point()))
                 for k, v in model.state_dict().items()}
        model.load_state_dict(state, strict=True)
        model.eval()
        with torch.no_grad():
            outs = model(torch.from_numpy(fill_mod.parity_input((1, 3, 64, 64))))
        for i, out in enumerate(outs):
            outputs[f"{name}/{i}"] = (out[..., ::2, ::2] if out.ndim == 4 else out).numpy()  # every 2nd row/col
        manifests.setdefault("output_cases", {})[name] = {"type": cls_name, "args": kwargs,
                                                          "state_dict": rows(model)}
    with open(os.path.join(args.out, "manifests.json"), "w") as f:
        json.dump({"mmpretrain_version": __version__, "entries": manifests}, f, indent=1)
        f.write("\n")
    np.savez_compressed(os.path.join(args.out, "outputs.npz"), **outputs)
    print(f"outputs: {sorted(outputs)}")


if __name__ == "__main__":
    main()
