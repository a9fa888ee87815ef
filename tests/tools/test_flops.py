"""seglab flops: FlopCounterMode counts of a tiny conv net equal a hand count."""
from __future__ import annotations

import torch
from torch import nn

from seglab.cli import main
from seglab.tools.flops import count_flops


def test_conv_net_flops_equal_hand_count():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 1))
    total, per_op = count_flops(net, torch.zeros(1, 3, 8, 10))
    # conv: 2 * (out pixels * out channels) * (in channels * kernel area) multiply-adds
    first = 2 * (8 * 10 * 4) * (3 * 3 * 3)
    second = 2 * (8 * 10 * 2) * (4 * 1 * 1)
    assert total == first + second == 18560
    assert sum(per_op.values()) == total


def test_flops_command_prints_params_and_flops(tmp_path, capsys):
    import _tiny_seg

    config, _ = _tiny_seg.write_setup(str(tmp_path))
    assert main(["flops", config, "--shape", "32", "48"]) == 0
    out = capsys.readouterr().out
    assert "input shape: (1, 3, 32, 48)" in out
    # TinyBackbone (2 convs + 2 BN) + FCNHead (conv + BN + 1x1 conv_seg), counted by hand:
    params = (3 * 9 * 8 + 8 + 16) + (8 * 9 * 8 + 8 + 16) + (8 * 9 * 8 + 16) + (8 * 5 + 5)
    assert f"params: {params} " in out
    # conv FLOPs: 16x24 after conv1, 8x12 after conv2 and the head
    flops = 2 * (16 * 24 * 8 * 27 + 8 * 12 * 8 * 72 + 8 * 12 * 8 * 72 + 8 * 12 * 5 * 8)
    assert f"flops: {flops} " in out
