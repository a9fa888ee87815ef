"""Regenerate cases.json and reference.npz: HRNet, UNet and OCRNet variants from MMSegmentation 1.2.2.

Run in the reference environment only (never imported by seglab or its tests):
    . /work/mmseg-ref/bin/activate && python tests/data/hrunet/make_reference.py
Each case is a small model dict beyond the parity goldens (odd input sizes, other block types and
widths, strided/deconv UNets, OCR on a ResNet, a three-stage cascade). Weights come from
../shared/parity/fill.py; outputs are stored whole (the models are tiny).
"""

import copy
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

BN = dict(type="BN", requires_grad=True)


def stage(modules, block, blocks, channels):
    return dict(num_modules=modules, num_branches=len(blocks), block=block, num_blocks=blocks, num_channels=channels)


TINY_EXTRA = dict(stage1=stage(1, "BOTTLENECK", [1], [8]), stage2=stage(1, "BASIC", [1, 1], [4, 8]),
                  stage3=stage(2, "BASIC", [1, 1, 1], [4, 8, 12]), stage4=stage(2, "BASIC", [1, 2, 1, 1], [4, 8, 12, 16]))
MIXED_EXTRA = dict(stage1=stage(1, "BASIC", [2], [16]), stage2=stage(1, "BOTTLENECK", [1, 1], [4, 8]),
                   stage3=stage(1, "BASIC", [1, 1, 1], [16, 32, 24]), stage4=stage(2, "BOTTLENECK", [1, 1, 1, 1], [4, 8, 6, 8]))
FCN_CAT = dict(type="FCNHead", in_channels=[4, 8, 12, 16], in_index=[0, 1, 2, 3], channels=40,
               input_transform="resize_concat", kernel_size=1, num_convs=1, concat_input=False, dropout_ratio=-1,
               num_classes=5, norm_cfg=BN, align_corners=False)
OCR_CAT = dict(type="OCRHead", in_channels=[4, 8, 12, 16], in_index=[0, 1, 2, 3], input_transform="resize_concat",
               channels=12, ocr_channels=8, dropout_ratio=-1, num_classes=5, norm_cfg=BN, align_corners=False)
R18 = dict(type="ResNetV1c", depth=18, stem_channels=8, base_channels=8, dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1),
           contract_dilation=True, norm_cfg=BN)

# name -> (kind, model dict, input shape); kind 'backbone' stores every output, 'segmentor' the
# decode-head output (mode='tensor') and encode_decode's logits.
CASES = {
    "hrnet_tiny_odd": ("backbone", dict(type="HRNet", extra=TINY_EXTRA, norm_cfg=BN), [1, 3, 45, 61]),
    "hrnet_mixed_single": ("backbone", dict(type="HRNet", extra=MIXED_EXTRA, norm_cfg=BN, multiscale_output=False),
                           [1, 3, 64, 64]),
    "hrnet_mixed_in1": ("backbone", dict(type="HRNet", extra=MIXED_EXTRA, in_channels=1, norm_cfg=BN), [1, 1, 40, 40]),
    "unet_s4_strided_deconv": ("backbone", dict(
        type="UNet", base_channels=4, num_stages=4, strides=(1, 2, 1, 2), enc_num_convs=(1, 2, 2, 3),
        dec_num_convs=(2, 1, 2), downsamples=(True, False, True), enc_dilations=(1, 2, 1, 2), dec_dilations=(1, 2, 1),
        upsample_cfg=dict(type="DeconvModule", kernel_size=4, scale_factor=2), norm_cfg=BN), [1, 3, 32, 48]),
    "unet_s3_interp_conv_first": ("backbone", dict(
        type="UNet", in_channels=2, base_channels=6, num_stages=3, strides=(1, 1, 1), enc_num_convs=(2, 2, 2),
        dec_num_convs=(2, 2), downsamples=(True, True), enc_dilations=(1, 1, 1), dec_dilations=(1, 1),
        upsample_cfg=dict(type="InterpConv", conv_first=True, kernel_size=3, padding=1,
                          upsample_cfg=dict(scale_factor=2, mode="nearest")),
        act_cfg=dict(type="LeakyReLU", negative_slope=0.1), norm_cfg=BN), [1, 2, 20, 28]),
    "unet_s5_no_downsample": ("backbone", dict(
        type="UNet", base_channels=2, num_stages=5, downsamples=(False, True, False, False), norm_cfg=BN),
        [1, 3, 18, 22]),
    "ocr_r18_d8": ("segmentor", dict(
        type="CascadeEncoderDecoder", num_stages=2, backbone=R18,
        decode_head=[dict(type="FCNHead", in_channels=32, in_index=2, channels=8, num_convs=1, concat_input=False,
                          num_classes=5, norm_cfg=BN),
                     dict(type="OCRHead", in_channels=64, in_index=3, channels=16, ocr_channels=8, num_classes=5,
                          norm_cfg=BN)]), [1, 3, 48, 64]),
    "ocr_hrnet_3stage": ("segmentor", dict(
        type="CascadeEncoderDecoder", num_stages=3, backbone=dict(type="HRNet", extra=TINY_EXTRA, norm_cfg=BN),
        decode_head=[FCN_CAT, OCR_CAT, dict(OCR_CAT, channels=10, ocr_channels=6)]), [1, 3, 45, 61]),
}


def main() -> None:
    torch.manual_seed(0)
    arrays = {}
    for name, (kind, cfg, shape) in CASES.items():
        model = MODELS.build(copy.deepcopy(cfg))
        state = {k: torch.from_numpy(fill_mod.fill(k, tuple(v.shape), v.is_floating_point()))
                 for k, v in model.state_dict().items()}
        model.load_state_dict(state, strict=True)
        model.eval()
        x = torch.from_numpy(fill_mod.parity_input(tuple(shape)))
        arrays[f"{name}.keys"] = np.array(json.dumps([[k, list(v.shape)] for k, v in model.state_dict().items()]))
        with torch.no_grad():
            if kind == "backbone":
                outs = model(x)
                for j, out in enumerate(outs):
                    arrays[f"{name}.out{j}"] = out.numpy()
            else:
                hw = tuple(shape[2:])
                arrays[f"{name}.logits"] = model(x, mode="tensor").numpy()
                arrays[f"{name}.full"] = model.encode_decode(
                    x, [dict(img_shape=hw, ori_shape=hw, pad_shape=hw)]).numpy()
    np.savez_compressed(HERE / "reference.npz", **arrays)
    (HERE / "cases.json").write_text(json.dumps(
        {name: dict(kind=kind, model=cfg, input_shape=shape) for name, (kind, cfg, shape) in CASES.items()},
        indent=1) + "\n")
    print(f"wrote {len(CASES)} cases, {len(arrays)} arrays")


if __name__ == "__main__":
    main()
