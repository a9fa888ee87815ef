"""Regenerate cases.json + reference.npz: MMSegmentation 1.2.2 outputs of tiny transformer variants.

Run in the reference environment only (never imported by seglab or its tests):
    . /work/mmseg-ref/bin/activate && python tests/data/transformers/make_reference.py
Every case is a model dict (a backbone, or an EncoderDecoder with data_preprocessor=None) and an input
shape. Weights come from shared/parity/fill.py, the input from ``parity_input(input_shape)``; eval mode.
cases.json holds, per case, the dict, the input shape and the ``[key, shape, dtype]`` manifest;
reference.npz holds ``<case>.out<j>`` (backbones: every output map; segmentors: ``model(x, mode='tensor')``).
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import torch
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

HERE = Path(__file__).parent
spec = importlib.util.spec_from_file_location("fill", HERE.parents[3] / "shared" / "parity" / "fill.py")
fill_mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fill_mod)
register_all_modules()

LN6 = dict(type="LN", eps=1e-6, requires_grad=True)
BN = dict(type="BN", requires_grad=True)
VIT = dict(type="VisionTransformer", img_size=(64, 64), patch_size=8, embed_dims=16, num_layers=4, num_heads=2,
           drop_path_rate=0.1, norm_cfg=LN6, interpolate_mode="bicubic")


def seg(backbone, decode_head, neck=None, auxiliary_head=None):
    cfg = dict(type="EncoderDecoder", data_preprocessor=None, backbone=backbone, decode_head=decode_head,
               train_cfg=dict(), test_cfg=dict(mode="whole"))
    if neck is not None:
        cfg["neck"] = neck
    if auxiliary_head is not None:
        cfg["auxiliary_head"] = auxiliary_head
    return cfg


def head(**kw):
    return dict(dict(num_classes=5, align_corners=False,
                     loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0)), **kw)


CASES = {
    # -- Swin: window 5 with padding at every stage, qk_scale, no qkv bias, mlp ratio 2, 3 stages
    "swin_w5_pad": (dict(type="SwinTransformer", embed_dims=16, depths=(2, 2, 2), num_heads=(2, 2, 4),
                         strides=(4, 2, 2), out_indices=(0, 1, 2), window_size=5, mlp_ratio=2, qkv_bias=False,
                         qk_scale=0.3, drop_path_rate=0.2), (1, 3, 45, 61)),
    "swin_abs_nopatchnorm": (dict(type="SwinTransformer", pretrain_img_size=48, embed_dims=8, depths=(2, 4),
                                  num_heads=(1, 2), strides=(4, 2), patch_size=4, out_indices=(1,), window_size=3,
                                  use_abs_pos_embed=True, patch_norm=False), (1, 3, 48, 48)),
    "swin_patch2_stride4": (dict(type="SwinTransformer", embed_dims=8, depths=(1, 1, 2), num_heads=(1, 1, 2),
                                 strides=(2, 4, 2), patch_size=2, out_indices=(0, 2), window_size=4), (1, 3, 50, 34)),
    # -- ViT: pos-embed resize at run time, final norm, several outputs
    "vit_resize_bicubic": (dict(VIT, out_indices=(1, 3), final_norm=True), (1, 3, 40, 72)),
    "vit_variants": (dict(VIT, img_size=48, out_origin=True, out_indices=-1, with_cls_token=False, pre_norm=True,
                          patch_norm=True, patch_bias=True, qkv_bias=False, interpolate_mode="bilinear", num_fcs=3,
                          mlp_ratio=2), (1, 3, 37, 53)),
    "vit_patch_pad_same": (dict(VIT, img_size=(32, 48), patch_pad="same", out_indices=[0, 2]), (1, 3, 30, 45)),
    # -- BEiT / MAE at their img_size (MMSeg supports no other)
    "beit_qv": (dict(type="BEiT", img_size=32, patch_size=8, embed_dims=16, num_layers=3, num_heads=2,
                     out_indices=[0, 2], final_norm=True, init_values=0.1, drop_path_rate=0.1), (1, 3, 32, 32)),
    "beit_noqv_patchnorm": (dict(type="BEiT", img_size=(24, 40), patch_size=8, embed_dims=16, num_layers=2,
                                 num_heads=4, out_indices=-1, qv_bias=False, patch_norm=True, mlp_ratio=2),
                            (1, 3, 24, 40)),
    "mae": (dict(type="MAE", img_size=32, patch_size=8, embed_dims=16, num_layers=3, num_heads=2,
                 out_indices=(0, 1, 2), final_norm=False), (1, 3, 32, 32)),
    # -- heads and necks in segmentors
    "segmenter_head": (seg(dict(VIT, final_norm=True),
                           head(type="SegmenterMaskTransformerHead", in_channels=16, channels=16, num_layers=2,
                                num_heads=2, embed_dims=12, mlp_ratio=2, qkv_bias=False, dropout_ratio=0.0)),
                       (1, 3, 48, 56)),
    "setr_naive": (seg(dict(VIT, out_indices=(1, 2, 3), final_norm=True),
                       head(type="SETRUPHead", in_channels=16, channels=8, in_index=2, num_convs=1, up_scale=4,
                            kernel_size=1, norm_cfg=BN, dropout_ratio=0.0),
                       auxiliary_head=[head(type="SETRUPHead", in_channels=16, channels=8, in_index=0, num_convs=2,
                                            up_scale=2, kernel_size=3, norm_cfg=BN)]),
                   (1, 3, 64, 48)),
    "setr_pup": (seg(dict(VIT, out_indices=(3,)),
                     head(type="SETRUPHead", in_channels=16, channels=8, in_index=0, num_convs=4, up_scale=2,
                          kernel_size=3, norm_cfg=BN, align_corners=True)),
                 (1, 3, 32, 32)),
    "setr_mla": (seg(dict(VIT, out_indices=(0, 1, 2, 3)),
                     head(type="SETRMLAHead", in_channels=(8, 8, 8, 8), channels=16, in_index=(0, 1, 2, 3),
                          mla_channels=4, up_scale=4, norm_cfg=BN),
                     neck=dict(type="MLANeck", in_channels=[16, 16, 16, 16], out_channels=8, norm_cfg=BN,
                               act_cfg=dict(type="ReLU"))),
                 (1, 3, 40, 40)),
    "dpt_project": (seg(dict(VIT, out_indices=(0, 1, 2, 3), output_cls_token=True),
                        head(type="DPTHead", in_channels=(16, 16, 16, 16), channels=8, embed_dims=16,
                             post_process_channels=[4, 8, 8, 16], readout_type="project",
                             input_transform="multiple_select", in_index=(0, 1, 2, 3), norm_cfg=BN)),
                    (1, 3, 64, 64)),
    "dpt_add": (seg(dict(VIT, out_indices=(0, 1, 2, 3), output_cls_token=True),
                    head(type="DPTHead", in_channels=(16, 16, 16, 16), channels=8, embed_dims=16,
                         post_process_channels=[4, 4, 8, 8], readout_type="add", patch_size=8,
                         input_transform="multiple_select", in_index=(0, 1, 2, 3), norm_cfg=BN)),
                (1, 3, 48, 40)),
    "dpt_ignore": (seg(dict(VIT, out_indices=(0, 1, 2, 3), output_cls_token=True),
                       head(type="DPTHead", in_channels=(16, 16, 16, 16), channels=8, embed_dims=16,
                            post_process_channels=[4, 4, 8, 8], readout_type="ignore",
                            input_transform="multiple_select", in_index=(0, 1, 2, 3), norm_cfg=BN)),
                   (1, 3, 56, 56)),
    "beit_feature2pyramid_uper": (
        seg(dict(type="BEiT", img_size=32, patch_size=8, embed_dims=16, num_layers=4, num_heads=2,
                 out_indices=[0, 1, 2, 3]),
            head(type="UPerHead", in_channels=[16, 16, 16, 16], in_index=[0, 1, 2, 3], pool_scales=(1, 2),
                 channels=8, norm_cfg=BN),
            neck=dict(type="Feature2Pyramid", embed_dim=16, rescales=[4, 2, 1, 0.5], norm_cfg=BN)),
        (1, 3, 32, 32)),
    "mae_feature2pyramid_down": (
        seg(dict(type="MAE", img_size=64, patch_size=8, embed_dims=16, num_layers=4, num_heads=2,
                 out_indices=[0, 1, 2, 3]),
            head(type="UPerHead", in_channels=[16, 16, 16, 16], in_index=[0, 1, 2, 3], pool_scales=(1, 2),
                 channels=8, norm_cfg=BN),
            neck=dict(type="Feature2Pyramid", embed_dim=16, rescales=[2, 1, 0.5, 0.25], norm_cfg=BN)),
        (1, 3, 64, 64)),
}


def encode(obj):
    """Tuples as {"__tuple__": [...]} so JSON keeps them."""
    if isinstance(obj, dict):
        return {k: encode(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return {"__tuple__": [encode(v) for v in obj]}
    if isinstance(obj, list):
        return [encode(v) for v in obj]
    return obj


def main():
    import copy

    out_json, arrays = {}, {}
    for name, (cfg, shape) in CASES.items():
        torch.manual_seed(0)
        model = MODELS.build(copy.deepcopy(cfg))
        sd = model.state_dict()
        rows = [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in sd.items()]
        model.load_state_dict({k: torch.from_numpy(fill_mod.fill(k, tuple(v.shape), v.is_floating_point()))
                               for k, v in sd.items()}, strict=True)
        model.eval()
        x = torch.from_numpy(fill_mod.parity_input(shape))
        with torch.no_grad():
            outs = model(x, mode="tensor") if cfg["type"] == "EncoderDecoder" else model(x)
        outs = [outs] if isinstance(outs, torch.Tensor) else list(outs)
        for j, o in enumerate(outs):
            if isinstance(o, (list, tuple)):  # ViT output_cls_token: [map, cls]
                arrays[f"{name}.out{j}"] = o[0].numpy()
                arrays[f"{name}.cls{j}"] = o[1].numpy()
            else:
                arrays[f"{name}.out{j}"] = o.numpy()
        out_json[name] = {"model": encode(cfg), "input_shape": list(shape), "state_dict": rows}
        print(name, [a.shape for k, a in arrays.items() if k.startswith(name + ".")])
    (HERE / "cases.json").write_text(json.dumps(out_json, separators=(",", ":")) + "\n")
    np.savez_compressed(HERE / "reference.npz", **arrays)


if __name__ == "__main__":
    main()
