"""Record MMSeg 1.2.2 reference outputs of Twins (PCPVT, SVT) models (a dev script, never imported by seglab).

Run by hand inside the MMSegmentation reference env (see ../shared/tools/mmseg-reference-env.sh):

    /work/mmseg-ref/bin/python tools/make_twins_fixtures.py [--out tests/data/twins]

Two full configs (PCPVT-S + FPN, SVT-S + UPerNet) at 128x128, and tiny variants at odd input sizes that
cover what the configs do not: windows that need padding on one side only or on both, overlapping patch
embeddings, no qkv bias, no norm after the stages, fewer stages and outputs. Same fixture format as
tools/make_realtime_variant_fixtures.py (``<name>.json`` + ``<name>.npz``); checked by
tests/models/test_twins_reference.py.
"""
from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_realtime_variant_fixtures import config_model, load_fill, write_fixture  # noqa: E402

CONFIGS = {
    "twins/twins_pcpvt-s_fpn_fpnhead_8xb4-80k_ade20k-512x512.py": (1, 3, 128, 128),
    "twins/twins_svt-s_uperhead_8xb2-160k_ade20k-512x512.py": (1, 3, 128, 128),
}
_HEAD = dict(type="FCNHead", channels=8, num_convs=1, concat_input=False, num_classes=5,
             norm_cfg=dict(type="BN"), align_corners=False)


def _tiny(backbone: dict, in_channels: list[int]) -> dict:
    """An EncoderDecoder whose FCN head reads every backbone output (resized and concatenated)."""
    head = dict(_HEAD, in_channels=in_channels, in_index=list(range(len(in_channels))),
                input_transform="resize_concat")
    return dict(type="EncoderDecoder", data_preprocessor=None, backbone=backbone, decode_head=head,
                train_cfg=dict(), test_cfg=dict(mode="whole"))


# name -> (model dict, input shape)
TINY = {
    # 100x76 input: stage maps 25x19 (window 7: bottom and right padded), 13x10 (window 5: bottom only),
    # 7x5 (window 3: both), 4x3 (window 2: right only); MMSeg masks the padding only when both sides pad
    "twins_svt-tiny_windows": (_tiny(dict(
        type="SVT", embed_dims=[8, 16, 24, 32], num_heads=[1, 2, 3, 4], mlp_ratios=[2, 2, 2, 2],
        depths=[2, 3, 2, 2], sr_ratios=[4, 2, 2, 1], windiow_sizes=[7, 5, 3, 2], qkv_bias=True,
        norm_after_stage=True, drop_path_rate=0.1), [8, 16, 24, 32]), (1, 3, 100, 76)),
    # overlapping 7x7/3x3 patch embeddings, no qkv bias, no stage norms, three stages, two outputs
    "twins_pcpvt-tiny_overlap": (_tiny(dict(
        type="PCPVT", embed_dims=[8, 16, 32], num_heads=[1, 2, 4], patch_sizes=[7, 3, 3], strides=[4, 2, 2],
        mlp_ratios=[4, 2, 2], depths=[2, 1, 2], sr_ratios=[4, 2, 1], qkv_bias=False, out_indices=(1, 2),
        norm_after_stage=False), [16, 32]), (2, 3, 90, 70)),
    # window sizes larger than the map (a single padded window), qkv bias off, bottom-only padding
    "twins_svt-tiny_bigwindow": (_tiny(dict(
        type="SVT", embed_dims=[8, 16], num_heads=[2, 2], patch_sizes=[4, 2], strides=[4, 2], mlp_ratios=[2, 2],
        depths=[2, 2], sr_ratios=[2, 1], windiow_sizes=[4, 16], qkv_bias=False, out_indices=(0, 1),
        norm_after_stage=False), [8, 16]), (1, 3, 72, 64)),
}


def main() -> None:
    """Write one fixture pair per config and tiny variant."""
    from mmseg.utils import register_all_modules

    register_all_modules()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tests/data/twins")
    parser.add_argument("--fill", default=os.path.join(HERE, "..", "..", "shared", "parity", "fill.py"))
    args = parser.parse_args()
    fill_mod = load_fill(args.fill)
    os.makedirs(args.out, exist_ok=True)
    for rel, shape in CONFIGS.items():
        write_fixture(args.out, os.path.basename(rel)[:-3], config_model(rel), shape, fill_mod, config=rel)
    for name, (model_cfg, shape) in TINY.items():
        write_fixture(args.out, name, model_cfg, shape, fill_mod)


if __name__ == "__main__":
    main()
