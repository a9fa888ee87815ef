"""FCNHead: MMSeg key layout, num_convs=0 identity, dilation, and MMSeg outputs (via the toy segmentor golden)."""
import pytest
import torch

import seglab.models  # noqa: F401 - registration
from seglab.models.decode_heads import FCNHead
from seglab.registry import ConfigError


def test_state_dict_keys_follow_mmseg():
    head = FCNHead(in_channels=8, channels=4, num_classes=3, num_convs=2, norm_cfg=dict(type="BN"))
    keys = list(head.state_dict())
    assert keys[:3] == ["conv_seg.weight", "conv_seg.bias", "convs.0.conv.weight"]
    assert "convs.1.bn.running_mean" in keys and "conv_cat.conv.weight" in keys and "conv_cat.bn.weight" in keys
    assert head.convs[0].conv.in_channels == 8 and head.conv_cat.conv.in_channels == 12


def test_no_concat_no_conv_cat_and_dilation_keeps_size():
    head = FCNHead(in_channels=8, channels=4, num_classes=3, num_convs=1, concat_input=False, dilation=3,
                   kernel_size=3)
    assert not hasattr(head, "conv_cat")
    assert head.convs[0].conv.dilation == (3, 3) and head.convs[0].conv.padding == (3, 3)
    out = head([torch.randn(2, 8, 9, 11)])
    assert out.shape == (2, 3, 9, 11)


def test_num_convs_zero_is_identity_and_checks_channels():
    head = FCNHead(in_channels=6, channels=6, num_classes=2, num_convs=0, concat_input=False, dropout_ratio=0)
    x = torch.randn(1, 6, 5, 5)
    expected = torch.nn.functional.conv2d(x, head.conv_seg.weight, head.conv_seg.bias)
    assert torch.allclose(head([x]), expected, atol=1e-6)
    assert not any(k.startswith("convs.") for k in head.state_dict())
    with pytest.raises(ConfigError, match=r"in_channels \(8\) must equal channels \(6\)"):
        FCNHead(in_channels=8, channels=6, num_classes=2, num_convs=0)


def test_bad_arguments():
    with pytest.raises(ConfigError, match="num_convs"):
        FCNHead(in_channels=8, channels=4, num_classes=3, num_convs=-1)
    with pytest.raises(ConfigError, match="dilation"):
        FCNHead(in_channels=8, channels=4, num_classes=3, dilation=0)
# Numerical parity with MMSeg's FCNHead (dilation, BN, resize_concat, num_convs=0) is checked in
# tests/models/segmentors/test_encoder_decoder.py against tests/data/segmentors/reference.npz.
