"""FPN neck: every add_extra_convs mode, start/end levels, upsample_cfg, gradients, MMSeg parity."""
import pytest
import torch

from seglab.models.necks import FPN
from seglab.registry import ConfigError

CASE_TYPE = "FPN"
PYRAMID = [(4, 16), (8, 8), (12, 4), (16, 2)]  # (channels, size) per level


def pyramid(batch: int = 1) -> list[torch.Tensor]:
    return [torch.randn(batch, c, s, s) for c, s in PYRAMID]


def test_parity_with_mmseg(ref, case):
    ref.check_parity(case)


def test_gradients_reach_every_parameter(ref, case):
    ref.check_gradients(case)


@pytest.mark.parametrize("mode,first_in", [("on_input", 16), ("on_lateral", 8), ("on_output", 8)])
def test_extra_convs_layout(mode, first_in):
    neck = FPN(in_channels=[4, 8, 12, 16], out_channels=8, num_outs=6, add_extra_convs=mode)
    assert len(neck.lateral_convs) == 4 and len(neck.fpn_convs) == 6
    assert neck.fpn_convs[4].conv.in_channels == first_in and neck.fpn_convs[4].conv.stride == (2, 2)
    outs = neck(pyramid())
    assert [tuple(o.shape[2:]) for o in outs] == [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1), (1, 1)]
    assert all(o.shape[1] == 8 for o in outs)


def test_max_pool_levels_subsample_the_last_output():
    neck = FPN(in_channels=[4, 8, 12, 16], out_channels=8, num_outs=5)
    assert len(neck.fpn_convs) == 4  # no parameters for pooled levels
    outs = neck(pyramid())
    assert torch.equal(outs[4], outs[3][:, :, ::2, ::2])


def test_start_and_end_level_and_keys():
    neck = FPN(in_channels=[4, 8, 12, 16], out_channels=8, num_outs=2, start_level=1, end_level=3,
               norm_cfg=dict(type="BN"), no_norm_on_lateral=True)
    keys = set(neck.state_dict())
    assert {"lateral_convs.0.conv.weight", "lateral_convs.0.conv.bias", "fpn_convs.1.bn.weight"} <= keys
    assert "lateral_convs.0.bn.weight" not in keys
    assert neck.lateral_convs[0].conv.in_channels == 8
    outs = neck(pyramid(batch=2))
    assert [tuple(o.shape) for o in outs] == [(2, 8, 8, 8), (2, 8, 4, 4)]


def test_true_maps_to_mmseg_modes():
    assert FPN([4, 8], 4, 3, add_extra_convs=True).add_extra_convs == "on_output"
    assert FPN([4, 8], 4, 3, add_extra_convs=True, extra_convs_on_inputs=True).add_extra_convs == "on_input"


def test_bad_arguments():
    with pytest.raises(ConfigError, match="add_extra_convs"):
        FPN([4, 8], 4, 3, add_extra_convs="on_top")
    with pytest.raises(ConfigError, match="num_outs"):
        FPN([4, 8, 12], 4, 2)
    with pytest.raises(ConfigError, match="end_level"):
        FPN([4, 8, 12], 4, 3, start_level=0, end_level=2)
    with pytest.raises(ValueError, match="got 2 feature maps"):
        FPN([4, 8, 12], 4, 3)(pyramid()[:2])
