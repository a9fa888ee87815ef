"""Write cases.json: the head/neck constructor arguments and input shapes of every reference case.

Plain Python (no mmseg); run once, then make_reference.py in the reference env fills reference.npz.
    python tests/data/heads/make_cases.py
"""

import json
from pathlib import Path

BN = dict(type="BN", requires_grad=True)
HEAD = dict(num_classes=5, dropout_ratio=0.1, align_corners=False)
PYRAMID = [[1, 4, 16, 16], [1, 8, 8, 8], [1, 12, 4, 4], [1, 16, 2, 2]]  # strides 4, 8, 16, 32 of a 64px image

CASES = {
    # decode heads
    "psp_default": ("PSPHead", dict(in_channels=16, channels=8, norm_cfg=BN, **HEAD), [[2, 16, 16, 16]]),
    "psp_scales13_nonorm_ac": ("PSPHead", dict(in_channels=16, channels=8, pool_scales=[1, 3], num_classes=4,
                                               align_corners=True), [[1, 16, 13, 17]]),
    "aspp_default": ("ASPPHead", dict(in_channels=16, channels=8, norm_cfg=BN, **HEAD), [[2, 16, 16, 16]]),
    "aspp_dil123_nonorm": ("ASPPHead", dict(in_channels=16, channels=8, dilations=[1, 2, 3], num_classes=3,
                                            in_index=1), [[1, 4, 20, 20], [1, 16, 11, 9]]),
    "sepaspp_c1": ("DepthwiseSeparableASPPHead",
                   dict(in_channels=16, in_index=1, channels=8, c1_in_channels=4, c1_channels=6,
                        dilations=[1, 2, 4], norm_cfg=BN, **HEAD), [[1, 4, 16, 16], [1, 16, 4, 4]]),
    "sepaspp_noc1_ac": ("DepthwiseSeparableASPPHead",
                        dict(in_channels=16, in_index=1, channels=8, c1_in_channels=0, c1_channels=0,
                             norm_cfg=BN, num_classes=5, align_corners=True), [[1, 4, 16, 16], [1, 16, 5, 5]]),
    "uper_default": ("UPerHead", dict(in_channels=[4, 8, 12, 16], in_index=[0, 1, 2, 3], channels=8,
                                      norm_cfg=BN, **HEAD), PYRAMID),
    "uper_two_levels_ac": ("UPerHead", dict(in_channels=[8, 16], in_index=[1, 3], channels=8, pool_scales=[1, 2],
                                            num_classes=3, align_corners=True), PYRAMID),
    "fpnhead_default": ("FPNHead", dict(in_channels=[4, 8, 12, 16], in_index=[0, 1, 2, 3],
                                        feature_strides=[4, 8, 16, 32], channels=8, norm_cfg=BN, **HEAD), PYRAMID),
    "fpnhead_strides8_32": ("FPNHead", dict(in_channels=[8, 16], in_index=[1, 3], feature_strides=[8, 32],
                                            channels=6, num_classes=3, align_corners=True), PYRAMID),
    "sepfcn_default": ("DepthwiseSeparableFCNHead", dict(in_channels=16, channels=8, concat_input=True,
                                                         norm_cfg=BN, **HEAD), [[2, 16, 12, 12]]),
    "sepfcn_dwrelu_1conv": ("DepthwiseSeparableFCNHead",
                            dict(in_channels=16, channels=8, num_convs=1, concat_input=False, kernel_size=5,
                                 dw_act_cfg=dict(type="ReLU"), norm_cfg=BN, **HEAD), [[1, 16, 9, 10]]),
    # necks
    "fpn_default": ("FPN", dict(in_channels=[4, 8, 12, 16], out_channels=8, num_outs=4), PYRAMID),
    "fpn_maxpool_extra": ("FPN", dict(in_channels=[4, 8, 12, 16], out_channels=8, num_outs=6), PYRAMID),
    "fpn_on_input_relu": ("FPN", dict(in_channels=[4, 8, 12, 16], out_channels=8, num_outs=6,
                                      add_extra_convs="on_input", relu_before_extra_convs=True), PYRAMID),
    "fpn_on_lateral_bn": ("FPN", dict(in_channels=[4, 8, 12, 16], out_channels=8, num_outs=5,
                                      add_extra_convs="on_lateral", norm_cfg=BN, no_norm_on_lateral=True,
                                      act_cfg=dict(type="ReLU")), PYRAMID),
    "fpn_true_output_start1": ("FPN", dict(in_channels=[4, 8, 12, 16], out_channels=8, num_outs=5, start_level=1,
                                           add_extra_convs=True), PYRAMID),
    "fpn_true_inputs_flag": ("FPN", dict(in_channels=[4, 8, 12, 16], out_channels=8, num_outs=5,
                                         add_extra_convs=True, extra_convs_on_inputs=True), PYRAMID),
    "fpn_end3_bilinear_x2": ("FPN", dict(in_channels=[4, 8, 12, 16], out_channels=8, num_outs=2, start_level=1,
                                         end_level=3, upsample_cfg=dict(scale_factor=2, mode="bilinear")), PYRAMID),
    "mln_default": ("MultiLevelNeck", dict(in_channels=[8, 8, 8, 8], out_channels=6),
                    [[1, 8, 8, 8]] * 4),
    "mln_single_bn_relu": ("MultiLevelNeck", dict(in_channels=[8], out_channels=6, scales=[1, 2, 0.5],
                                                  norm_cfg=BN, act_cfg=dict(type="ReLU")), [[1, 8, 6, 6]]),
    "jpu_default": ("JPU", dict(in_channels=[4, 8, 16], mid_channels=8, norm_cfg=BN),
                    [[1, 4, 16, 16], [1, 8, 8, 8], [1, 16, 4, 4]]),
    "jpu_start1_dil13_ac": ("JPU", dict(in_channels=[4, 8, 16], mid_channels=6, start_level=1, dilations=[1, 3],
                                        align_corners=True, norm_cfg=BN),
                            [[1, 4, 17, 17], [1, 8, 9, 9], [1, 16, 5, 5]]),
    "jpu_end2": ("JPU", dict(in_channels=[4, 8, 16], mid_channels=6, end_level=2, dilations=[2, 4], norm_cfg=BN),
                 [[1, 4, 16, 16], [1, 8, 8, 8], [1, 16, 4, 4]]),
}

if __name__ == "__main__":
    out = {name: dict(type=t, kwargs=kw, input_shapes=shapes, seed=i) for i, (name, (t, kw, shapes))
           in enumerate(CASES.items())}
    (Path(__file__).parent / "cases.json").write_text(json.dumps(out, indent=1) + "\n")
