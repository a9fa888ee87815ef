"""Tiny versions of MMSeg's FCN, PSPNet, DeepLabV3+ and SegFormer configs (small widths/depths) for the export tests."""
from __future__ import annotations

import os.path as osp

import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# ResNet-18-style backbone with 8 base channels: stages of 8, 16, 32, 64 channels.
_R18 = "backbone=dict(depth=18, stem_channels=8, base_channels=8)"
_AUX = "auxiliary_head=dict(in_channels=32, channels=8)"
TINY = {
    "fcn": ("fcn/fcn_r50-d8_4xb2-40k_cityscapes-512x1024.py",
            f"model = dict({_R18}, decode_head=dict(in_channels=64, channels=8), {_AUX})"),
    "pspnet": ("pspnet/pspnet_r50-d8_4xb2-40k_cityscapes-512x1024.py",
               f"model = dict({_R18}, decode_head=dict(in_channels=64, channels=8), {_AUX})"),
    "deeplabv3plus": ("deeplabv3plus/deeplabv3plus_r50-d8_4xb2-40k_cityscapes-512x1024.py",
                      f"model = dict({_R18}, decode_head=dict(in_channels=64, channels=8, c1_in_channels=8, "
                      f"c1_channels=4), {_AUX})"),
    "segformer": ("segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py",
                  "model = dict(backbone=dict(embed_dims=8, num_layers=[1, 1, 1, 1]), "
                  "decode_head=dict(in_channels=[8, 16, 40, 64], channels=16))"),
}


def write_tiny(root: str, name: str) -> tuple[str, str]:
    """Write ``root/<name>.py`` (the real config, shrunk) and ``root/<name>.pth`` (seeded random weights)."""
    from seglab.apis import init_model

    base, override = TINY[name]
    config = osp.join(root, f"{name}.py")
    with open(config, "w") as f:
        f.write(f"_base_ = ['{REPO}/configs/{base}']\n{override}\n")
    torch.manual_seed(0)
    model = init_model(config)
    for key, value in model.state_dict().items():  # non-trivial BN statistics, so BN folding is checked
        if key.endswith("running_mean"):
            value.copy_(torch.randn_like(value) * 0.1)
        elif key.endswith("running_var"):
            value.copy_(torch.rand_like(value) + 0.5)
    checkpoint = osp.join(root, f"{name}.pth")
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    return config, checkpoint
