"""Record reference outputs of real-time model variants beyond the parity goldens (a dev script, never
imported by seglab): STDC2, PIDNet-M/L, DDRNet-23, BiSeNetV1 on ResNet-18/50/101, MobileNetV3-small,
ICNet R50, CGNet, ERFNet and PointRend R50 (subdivision inference).

Run by hand inside the MMSegmentation reference env (see ../shared/tools/mmseg-reference-env.sh):

    /work/mmseg-ref/bin/python tools/make_realtime_variant_fixtures.py [--out tests/data/realtime_variants] \
        [--names icnet_r50-d8_4xb2-80k_cityscapes-832x832 ...]

For each config it builds MMSeg's model from the normalised ``model`` dict (as the manifests do),
fills every state-dict entry with ../shared/parity/fill.py, and writes ``<name>.json`` (the model dict,
the input shape) and ``<name>.npz``: ``logits_sub``, every ``step``-th row and column of ``model(parity_input(shape),
mode='tensor')`` in eval mode, and the full logits ``shape``. Variants listed in ``ENCODE_DECODE``
(PointRend, whose refinement happens in ``predict``) record ``model.encode_decode(x, metas)`` instead, every
4th row and column; their json says ``"output": "encode_decode"``.
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
    "icnet/icnet_r50-d8_4xb2-80k_cityscapes-832x832.py": (1, 3, 128, 128),
    "cgnet/cgnet_fcn_4xb8-60k_cityscapes-512x1024.py": (1, 3, 128, 128),
    "erfnet/erfnet_fcn_4xb4-160k_cityscapes-512x1024.py": (1, 3, 128, 128),
    # 128 px: the coarse logits are 32x32; subdivision step 1 refines all 64x64 pixels, step 2 the 8196 most
    # uncertain of 128x128, so both the dense and the top-k paths are covered.
    "point_rend/pointrend_r50_4xb2-80k_cityscapes-512x1024.py": (1, 3, 128, 128),
}
# Variants whose reference output is encode_decode (the last head's predict) rather than mode='tensor'.
ENCODE_DECODE = {"point_rend/pointrend_r50_4xb2-80k_cityscapes-512x1024.py"}


def load_fill(path: str):
    """The ../shared/parity/fill.py module (``fill``, ``parity_input``)."""
    spec = importlib.util.spec_from_file_location("parity_fill", path)
    fill_mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fill_mod)
    return fill_mod


def write_fixture(out: str, name: str, model_cfg: dict, shape: tuple, fill_mod, config: str | None = None,
                  output: str = "tensor") -> None:
    """Build MMSeg's model from ``model_cfg`` with filled weights; write ``<name>.json`` and ``<name>.npz``.

    ``output``: ``'tensor'`` records ``model(x, mode='tensor')``; ``'encode_decode'`` the last head's predict
    (PointRend, whose tensor mode MMSeg does not support)."""
    import mmseg
    import numpy as np
    import torch
    from mmengine.config import ConfigDict
    from mmseg.registry import MODELS

    model = MODELS.build(ConfigDict(copy.deepcopy(model_cfg)))  # PointHead reads test_cfg attributes
    state = {k: torch.from_numpy(fill_mod.fill(k, tuple(v.shape), v.is_floating_point()))
             for k, v in model.state_dict().items()}
    model.load_state_dict(state, strict=True)
    model.eval()
    x = torch.from_numpy(fill_mod.parity_input(shape))
    with torch.no_grad():
        if output == "tensor":
            logits = model(x, mode="tensor")
        else:
            h, w = shape[2:]
            logits = model.encode_decode(x, [dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w))])
    meta = {"config": config} if config else {}
    meta.update(input_shape=list(shape), model_cfg=encode_tuples(model_cfg), mmseg_version=mmseg.__version__)
    if output != "tensor":
        meta["output"] = output
    with open(os.path.join(out, f"{name}.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    # every step-th row/column keeps the files small
    step = 4 if output == "encode_decode" else max(1, logits.shape[2] // 8)
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
    parser.add_argument("--names", nargs="*", default=None, help="only these variants (config names, no .py)")
    parser.add_argument("--names", nargs="*", default=None, help="only these variants (config names, no .py)")
    args = parser.parse_args()
    fill_mod = load_fill(args.fill)
    os.makedirs(args.out, exist_ok=True)
    for rel, shape in variants.items():
        name = os.path.basename(rel)[:-3]
        if args.names is None or name in args.names:
            output = "encode_decode" if rel in ENCODE_DECODE else "tensor"
            write_fixture(args.out, name, config_model(rel), shape, fill_mod, config=rel, output=output)


if __name__ == "__main__":
    main()
