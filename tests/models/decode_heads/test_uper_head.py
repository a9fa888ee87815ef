"""UPerHead: key layout, multi-level fusion shapes, gradients, parity with MMSeg (tests/data/heads)."""
import torch

from seglab.models.decode_heads import UPerHead

CASE_TYPE = "UPerHead"


def test_parity_with_mmseg(ref, case):
    ref.check_parity(case)


def test_gradients_reach_every_parameter(ref, case):
    ref.check_gradients(case)


def test_keys_and_shapes():
    head = UPerHead(in_channels=[4, 8, 16], in_index=[0, 1, 2], channels=6, num_classes=3, pool_scales=(1, 2),
                    norm_cfg=dict(type="BN"))
    assert head.input_transform == "multiple_select"
    keys = set(head.state_dict())
    assert {"psp_modules.1.1.conv.weight", "bottleneck.bn.weight", "lateral_convs.1.conv.weight",
            "fpn_convs.1.bn.running_mean", "fpn_bottleneck.conv.weight"} <= keys
    assert "lateral_convs.2.conv.weight" not in keys  # the deepest level goes through the PPM instead
    assert head.bottleneck.conv.in_channels == 16 + 2 * 6 and head.fpn_bottleneck.conv.in_channels == 3 * 6
    # Odd sizes: every level is resized to the finest one.
    out = head([torch.randn(2, 4, 15, 17), torch.randn(2, 8, 8, 9), torch.randn(2, 16, 4, 5)])
    assert out.shape == (2, 3, 15, 17)
