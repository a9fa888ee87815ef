"""Record reference outputs and losses of SAN (MultimodalEncoderDecoder + SideAdapterCLIPHead +
CLIPTextEncoder) at a reduced size (a dev script, never imported by seglab).

Run by hand inside the MMSegmentation reference env:

    PYTHONPATH=. /work/mmseg-ref/bin/python tools/make_san_fixtures.py [--out tests/data/san]

MMSeg's ViT-B/16 SAN with its 12-layer text encoder takes minutes on a CPU, so each config's model dict
is shrunk by ``OVERRIDES`` (fewer layers, narrower, 10 queries), written next to the outputs so the test
applies the same overrides to MMSeg's dict and to seglab's config file. Weights: ../shared/parity/fill.py.
``<name>.npz`` holds, in eval mode from ``parity_input(shape)``:
- ``cls_{i}`` / ``mask_{i}``: the head's class logits (1, Q, K + 1) and mask logits (1, Q, h, w) of each
  decoded layer (deep-supervised ones first), as ``decode_head.forward(..., deep_supervision_idxs)``;
- ``full_s4``: ``encode_decode`` (the semantic logits at the input size), every 4th row and column;
- ``loss_*``: the training losses for ``LOSS_LABELS`` with ``torch.manual_seed(0)`` just before ``loss``
  (point sampling draws from it: seglab draws the same numbers in the same order).
It also writes ``tokens.json``: MMSeg's tokenizer ids for ``TOKEN_TEXTS``.
"""
from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_mmseg_manifests import encode_tuples, normalise  # noqa: E402

CONFIGS = {"san/san-vit-b16_coco-stuff164k-640x640.py": (1, 3, 96, 96)}
OVERRIDES = {
    "image_encoder": dict(embed_dims=64, num_layers=3, num_heads=2, out_indices=[0, 1, 2]),
    "text_encoder": dict(embed_dims=32, num_layers=1, num_heads=2, output_dims=32),
    "decode_head": dict(
        deep_supervision_idxs=[1],
        san_cfg=dict(clip_channels=64, embed_dims=32, num_queries=10,
                     cfg_encoder=dict(num_encode_layer=3, num_heads=2),
                     cfg_decoder=dict(num_heads=2, embed_channels=16, mlp_channels=16)),
        maskgen_cfg=dict(sos_token_num=10, num_layers=1, embed_dims=64, num_heads=2, out_dims=32),
        train_cfg=dict(num_points=64),
    ),
}
# A label map (96 x 96) with three classes and an ignored band: the ground truth of the loss check.
LOSS_LABELS = [(0, 40, 0, 96, 14), (40, 70, 0, 50, 6), (40, 96, 50, 96, 0), (70, 96, 0, 50, 255)]
TOKEN_TEXTS = ["a photo of a person.", "There is a large traffic light in the scene.",
               "it's a dog's life, isn't it?? 42 cats&dogs", "Café Ünïcode — naïve résumé 2023!",
               "&amp;lt;tag&amp;gt;  many   spaces", "pottedplant", "x" * 100]


def merge(base: dict, override: dict) -> dict:
    """``base`` with ``override``'s keys replaced (dicts merged recursively)."""
    out = dict(base)
    for k, v in override.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def label_map(shape: tuple) -> Any:
    """The LOSS_LABELS ground truth, (H, W) int64."""
    import numpy as np

    seg = np.zeros(shape[2:], dtype=np.int64)
    for y0, y1, x0, x1, label in LOSS_LABELS:
        seg[y0:y1, x0:x1] = label
    return seg


def main() -> None:
    """Write the fixtures."""
    import mmseg
    import numpy as np
    import torch
    from mmengine.config import Config, ConfigDict
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample
    from mmseg.utils import register_all_modules, tokenizer

    register_all_modules()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tests/data/san")
    parser.add_argument("--fill", default=os.path.join(HERE, "..", "..", "shared", "parity", "fill.py"))
    args = parser.parse_args()
    spec = importlib.util.spec_from_file_location("parity_fill", args.fill)
    fill_mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fill_mod)
    cfg_root = os.path.join(os.path.dirname(mmseg.__file__), ".mim", "configs")
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    for rel, shape in CONFIGS.items():
        name = os.path.basename(rel)[:-3]
        model_cfg = normalise(Config.fromfile(os.path.join(cfg_root, rel)).to_dict()["model"])
        model_cfg["data_preprocessor"] = None
        small = merge(model_cfg, OVERRIDES)
        model = MODELS.build(ConfigDict(copy.deepcopy(small)))
        state = {k: torch.from_numpy(fill_mod.fill(k, tuple(v.shape), v.is_floating_point()))
                 for k, v in model.state_dict().items()}
        model.load_state_dict(state, strict=True)
        model.eval()
        x = torch.from_numpy(fill_mod.parity_input(shape))
        meta = dict(img_shape=shape[2:], ori_shape=shape[2:], pad_shape=shape[2:], padding_size=[0, 0, 0, 0])
        out = {}
        with torch.no_grad():
            head_inputs = [x, model.image_encoder(torch.nn.functional.interpolate(
                x, scale_factor=model.encoder_resolution, mode="bilinear")), model.text_encoder()]
            masks, cls = model.decode_head.forward(head_inputs, model.decode_head.deep_supervision_idxs)
            for i, (m, c) in enumerate(zip(masks, cls)):
                out[f"mask_{i}"], out[f"cls_{i}"] = m.numpy(), c.numpy()
            out["full_s4"] = model.encode_decode(x, [meta])[:, :, ::4, ::4].numpy()
        sample = SegDataSample(metainfo=meta)
        sample.gt_sem_seg = PixelData(data=torch.from_numpy(label_map(shape))[None])
        torch.manual_seed(0)
        losses = model.loss(x, [sample])
        for k, v in losses.items():
            out["loss_" + k] = np.float64(v.item())
        np.savez_compressed(os.path.join(args.out, f"{name}.npz"), **out)
        with open(os.path.join(args.out, f"{name}.json"), "w") as f:
            json.dump({"config": rel, "input_shape": list(shape), "overrides": encode_tuples(OVERRIDES),
                       "model_cfg": encode_tuples(small), "loss_labels": LOSS_LABELS,
                       "mmseg_version": mmseg.__version__}, f, indent=1)
            f.write("\n")
        print(f"{name}: " + ", ".join(f"{k} {tuple(np.shape(v))}" for k, v in out.items()))
    tokens = {t: tokenizer.tokenize(t)[0].tolist() for t in TOKEN_TEXTS}
    with open(os.path.join(args.out, "tokens.json"), "w") as f:
        json.dump({"mmseg_version": mmseg.__version__, "context_length": 77,
                   "tokens": {t: ids[: ids.index(49407) + 1] for t, ids in tokens.items()}}, f, indent=1,
                  ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
