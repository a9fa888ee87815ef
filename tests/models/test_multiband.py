"""adapt_input_conv: the adapted stem answers a grey image exactly as the RGB stem; state-dict helper."""
import pytest
import torch
import torch.nn.functional as F

from seglab.models import adapt_input_conv, adapt_input_convs


@pytest.mark.parametrize("in_channels", [1, 2, 3, 4, 5, 6, 13])
def test_grey_image_response_is_preserved(in_channels):
    torch.manual_seed(0)
    weight = torch.randn(8, 3, 3, 3)
    grey = torch.rand(2, 1, 10, 10)
    expected = F.conv2d(grey.expand(-1, 3, -1, -1), weight, padding=1)
    adapted = adapt_input_conv(weight, in_channels)
    assert adapted.shape == (8, in_channels, 3, 3)
    got = F.conv2d(grey.expand(-1, in_channels, -1, -1), adapted, padding=1)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_rule_values():
    weight = torch.arange(3.0).view(1, 3, 1, 1) + 1  # R=1, G=2, B=3
    assert adapt_input_conv(weight, 1).flatten().tolist() == [6.0]
    assert adapt_input_conv(weight, 2).flatten().tolist() == [4.0, 2.0]  # R+B, G
    assert adapt_input_conv(weight, 6).flatten().tolist() == [0.5, 1.0, 1.5, 0.5, 1.0, 1.5]  # repeat x 3/6
    assert adapt_input_conv(weight, 4).flatten().tolist() == [0.5, 2.0, 3.0, 0.5]  # R shared by bands 0 and 3


def test_state_dict_helper_adapts_only_the_input_conv():
    ckpt = {"stem.0.weight": torch.randn(4, 3, 3, 3), "layer.weight": torch.randn(4, 4, 3, 3), "bn.bias": torch.zeros(4)}
    model = {"stem.0.weight": torch.empty(4, 6, 3, 3), "layer.weight": torch.empty(4, 4, 3, 3), "bn.bias": torch.empty(4)}
    out = adapt_input_convs(ckpt, model)
    assert out["stem.0.weight"].shape == (4, 6, 3, 3)
    assert out["layer.weight"] is ckpt["layer.weight"] and out["bn.bias"] is ckpt["bn.bias"]
    with pytest.raises(ValueError, match="3-channel"):
        adapt_input_conv(torch.randn(2, 4, 1, 1), 6)
