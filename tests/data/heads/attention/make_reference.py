"""Regenerate reference.npz / cases.json: outputs of MMSegmentation 1.2.2's attention/context heads.

Run in the reference environment only (never imported by seglab or its tests):
    . /work/mmseg-ref/bin/activate && python tests/data/heads/make_reference.py
Each case builds one MMSeg decode head alone (small channels), fills every state-dict entry with
../shared/parity/fill.py, runs it in eval mode on fixed inputs and stores the state-dict manifest,
the inputs and the outputs. Heads needing compiled ops (PSAHead) store only their manifest.
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import torch
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

HERE = Path(__file__).parent
spec = importlib.util.spec_from_file_location("fill", HERE.parents[4] / "shared" / "parity" / "fill.py")
fill_mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fill_mod)
register_all_modules()

BN = dict(type="BN", requires_grad=True)
COMMON = dict(in_channels=16, channels=8, num_classes=5, norm_cfg=BN, align_corners=False)
TWO_IN = dict(in_channels=[8, 16], in_index=[0, 1], channels=8, num_classes=5, norm_cfg=BN, align_corners=False)

# name -> (head config, input shapes (None: 16x16 per input) or "keys" for a manifest only)
CASES = {
    "nl_embedded_gaussian": (dict(type="NLHead", reduction=2, use_scale=True, mode="embedded_gaussian", **COMMON),
                             None),
    "nl_dot_product": (dict(type="NLHead", reduction=2, mode="dot_product", **COMMON), None),
    "nl_gaussian": (dict(type="NLHead", reduction=4, mode="gaussian", concat_input=False, **COMMON), None),
    "nl_concatenation": (dict(type="NLHead", reduction=2, mode="concatenation", **COMMON), None),
    "gc_att_add": (dict(type="GCHead", ratio=1 / 4.0, pooling_type="att", fusion_types=("channel_add",), **COMMON),
                   None),
    "gc_avg_add_mul": (dict(type="GCHead", ratio=1 / 2.0, pooling_type="avg",
                            fusion_types=("channel_add", "channel_mul"), **COMMON), None),
    "dnl_embedded_gaussian": (dict(type="DNLHead", reduction=2, use_scale=True, mode="embedded_gaussian",
                                   temperature=0.05, **COMMON), None),
    "dnl_dot_product": (dict(type="DNLHead", reduction=2, mode="dot_product", temperature=0.1, **COMMON), None),
    "dnl_gaussian": (dict(type="DNLHead", reduction=2, mode="gaussian", **COMMON), None),
    "da": (dict(type="DAHead", pam_channels=4, **COMMON), None),
    "ema": (dict(type="EMAHead", ema_channels=12, num_bases=6, num_stages=3, momentum=0.1, **COMMON), None),
    "ema_no_concat": (dict(type="EMAHead", ema_channels=8, num_bases=4, num_stages=1, concat_input=False, **COMMON),
                      None),
    "ann": (dict(type="ANNHead", project_channels=4, query_scales=(1,), key_pool_scales=(1, 3, 6, 8), **TWO_IN), None),
    "apc_fusion": (dict(type="APCHead", pool_scales=(1, 2, 3, 6), fusion=True, **COMMON), None),
    "apc_no_fusion": (dict(type="APCHead", pool_scales=(2, 4), fusion=False, **COMMON), None),
    "dm": (dict(type="DMHead", filter_sizes=(1, 3, 5, 7), fusion=False, **COMMON), None),
    "dm_fusion_even": (dict(type="DMHead", filter_sizes=(2, 4), fusion=True, **COMMON), None),
    "isa": (dict(type="ISAHead", isa_channels=4, down_factor=(4, 4), **COMMON), None),
    "isa_padded": (dict(type="ISAHead", isa_channels=4, down_factor=(4, 3), **COMMON), [(1, 16, 15, 13)]),
    "enc": (dict(type="EncHead", num_codes=6, use_se_loss=True, add_lateral=False,
                 loss_se_decode=dict(type="CrossEntropyLoss", use_sigmoid=True, loss_weight=0.2), **TWO_IN), None),
    "enc_lateral": (dict(type="EncHead", num_codes=4, use_se_loss=True, add_lateral=True, **TWO_IN), None),
    "enc_no_se": (dict(type="EncHead", num_codes=4, use_se_loss=False, **TWO_IN), None),
    "cc": (dict(type="CCHead", recurrence=2, **COMMON), None),
    "psa_bi": (dict(type="PSAHead", mask_size=(15, 15), psa_type="bi-direction", shrink_factor=2, **COMMON), "keys"),
    "psa_collect": (dict(type="PSAHead", mask_size=(9, 9), psa_type="collect", **COMMON), "keys"),
    "psa_distribute_compact": (dict(type="PSAHead", mask_size=(8, 8), psa_type="distribute", compact=True,
                                    **COMMON), "keys"),
}


def default_shapes(cfg):
    in_ch = cfg["in_channels"]
    return [(1, c, 16, 16) for c in in_ch] if isinstance(in_ch, list) else [(1, in_ch, 16, 16)]


def main():
    arrays, cases = {}, {}
    for i, (name, (cfg, extra)) in enumerate(CASES.items()):
        head = MODELS.build(dict(cfg))
        sd = head.state_dict()
        manifest = [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in sd.items()]
        cases[name] = dict(cfg=cfg, manifest=manifest)
        if extra == "keys":
            continue
        shapes = extra or default_shapes(cfg)
        head.load_state_dict({k: torch.from_numpy(fill_mod.fill(k, v.shape, v.is_floating_point()))
                              for k, v in sd.items()}, strict=True)
        head.eval()
        rng = np.random.default_rng(2026 + i)
        inputs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        feats = [torch.from_numpy(a) for a in inputs]
        with torch.no_grad():
            out = head(feats)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        cases[name]["num_inputs"], cases[name]["num_outputs"] = len(inputs), len(outs)
        for j, a in enumerate(inputs):
            arrays[f"{name}/in{j}"] = a
        for j, o in enumerate(outs):
            arrays[f"{name}/out{j}"] = o.numpy()
        print(name, [tuple(o.shape) for o in outs])
    np.savez_compressed(HERE / "reference.npz", **arrays)
    (HERE / "cases.json").write_text(json.dumps(cases, indent=1, default=list))


if __name__ == "__main__":
    main()
