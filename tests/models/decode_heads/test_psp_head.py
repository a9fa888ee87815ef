"""PSPHead and PPM: MMSeg key layout, output shapes, gradients, parity with MMSeg (tests/data/heads)."""
import pytest
import torch

from seglab.models.decode_heads import PSPHead
from seglab.models.decode_heads.psp_head import PPM
from seglab.registry import ConfigError

CASE_TYPE = "PSPHead"


def test_parity_with_mmseg(ref, case):
    ref.check_parity(case)


def test_gradients_reach_every_parameter(ref, case):
    ref.check_gradients(case)


def test_keys_and_shapes():
    head = PSPHead(in_channels=16, channels=8, num_classes=5, pool_scales=(1, 2, 3, 6), norm_cfg=dict(type="BN"))
    keys = list(head.state_dict())
    assert "psp_modules.3.1.conv.weight" in keys and "psp_modules.0.1.bn.running_var" in keys
    assert head.bottleneck.conv.in_channels == 16 + 4 * 8
    out = head([torch.randn(2, 16, 11, 7)])
    assert out.shape == (2, 5, 11, 7)


def test_ppm_pools_to_each_scale_and_resizes_back():
    ppm = PPM((1, 3), 4, 2, conv_cfg=None, norm_cfg=None, act_cfg=None, align_corners=False)
    x = torch.arange(36.0).reshape(1, 1, 6, 6).repeat(1, 4, 1, 1)
    for stage in ppm:
        torch.nn.init.constant_(stage[1].conv.weight, 0.25)
        torch.nn.init.zeros_(stage[1].conv.bias)
    outs = ppm(x)
    assert [o.shape for o in outs] == [(1, 2, 6, 6)] * 2
    # Scale 1 is the global mean (17.5) broadcast everywhere.
    assert torch.allclose(outs[0], torch.full((1, 2, 6, 6), 17.5))


def test_bad_pool_scales():
    with pytest.raises(ConfigError, match="pool_scales"):
        PSPHead(in_channels=8, channels=4, num_classes=3, pool_scales=3)
    with pytest.raises(ConfigError, match="positive int"):
        PSPHead(in_channels=8, channels=4, num_classes=3, pool_scales=(1, 0))
