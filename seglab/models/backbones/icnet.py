"""ICNet from "ICNet for Real-Time Semantic Segmentation on High-Resolution Images"
(https://arxiv.org/abs/1704.08545).

Three branches over an image cascade: a light 3-conv branch on the full image (stride 8), the first half
of a dilated ResNet on the half-size image (stride 16), and its second half plus pyramid pooling on a
further halved map (stride 32). :class:`~seglab.models.necks.ICNeck` fuses them. Keys (MMSeg's layout):
``backbone.*`` (the ResNet given by ``backbone_cfg``), ``psp_modules.<i>.1.*``, ``psp_bottleneck.*``,
``conv_sub1.<i>.*``, ``conv_sub2.*``, ``conv_sub4.*``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from ..decode_heads.psp_head import PPM
from ..layers import ConvModule, resize
from ..weight_init import kaiming_cnn_init, load_pretrained, resolve_init_cfg

__all__ = ["ICNet"]


@MODELS.register_module()
class ICNet(nn.Module):
    """Image-cascade backbone: (N, C, H, W) -> maps of ``out_channels`` at strides 8, 16, 32.

    ``backbone_cfg`` is a ResNet (stem, ``layer1..4``) whose stride-2 ``layer2`` ends the middle branch;
    ``layer_channels`` are its ``layer2`` and ``layer4`` widths. Its max-pool is replaced by one with
    ``ceil_mode=True`` (as MMSeg does, so the corner rows are kept).
    """

    def __init__(
        self,
        backbone_cfg: dict | nn.Module,
        in_channels: int = 3,
        layer_channels: Sequence[int] = (512, 2048),
        light_branch_middle_channels: int = 32,
        psp_out_channels: int = 512,
        out_channels: Sequence[int] = (64, 256, 256),
        pool_scales: Sequence[int] = (1, 2, 3, 6),
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = dict(type="BN", requires_grad=True),  # noqa: B006 - never mutated
        act_cfg: dict | None = dict(type="ReLU"),  # noqa: B006
        align_corners: bool = False,
        pretrained: str | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__()
        if backbone_cfg is None:
            raise ConfigError("ICNet: backbone_cfg is required (e.g. dict(type='ResNetV1c', depth=50, ...))")
        if len(layer_channels) != 2 or len(out_channels) != 3:
            raise ConfigError(f"ICNet: layer_channels needs 2 entries and out_channels 3, got "
                              f"{tuple(layer_channels)} and {tuple(out_channels)}")
        self.in_channels, self.align_corners = in_channels, align_corners
        self.layer_channels, self.pool_scales = tuple(layer_channels), tuple(pool_scales)
        self.init_cfg = resolve_init_cfg(pretrained, init_cfg, "ICNet")
        self.backbone = MODELS.build(backbone_cfg)
        for name in ("layer1", "layer2", "layer3", "layer4", "maxpool"):
            if not hasattr(self.backbone, name):
                raise ConfigError(f"ICNet: backbone_cfg must build a ResNet (with stem, maxpool, layer1..layer4); "
                                  f"{type(self.backbone).__name__} has no {name!r}")
        self.backbone.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1, ceil_mode=True)
        kw = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.psp_modules = PPM(pool_scales, layer_channels[1], psp_out_channels, align_corners=align_corners, **kw)
        self.psp_bottleneck = ConvModule(layer_channels[1] + len(pool_scales) * psp_out_channels, psp_out_channels,
                                         3, padding=1, **kw)
        # The branch convs use MMCV ConvModule's default ReLU whatever act_cfg says (MMSeg's layers).
        plain = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        mid = light_branch_middle_channels
        self.conv_sub1 = nn.Sequential(
            ConvModule(in_channels, mid, 3, stride=2, padding=1, **plain),
            ConvModule(mid, mid, 3, stride=2, padding=1, **plain),
            ConvModule(mid, out_channels[0], 3, stride=2, padding=1, **plain),
        )
        self.conv_sub2 = ConvModule(layer_channels[0], out_channels[1], 1, **plain)
        self.conv_sub4 = ConvModule(psp_out_channels, out_channels[2], 1, **plain)
        self.out_channels = list(out_channels)
        self.out_strides = [8, 16, 32]
        # MMSeg's ICNet init (Kaiming fan_out, norms 1/0); the ResNet keeps its own init, which MMSeg re-applies
        # after ICNet's (the same Kaiming init plus its zero-initialised last norms per block).
        for name, child in self.named_children():
            if name != "backbone":
                kaiming_cnn_init(child)

    def init_weights(self) -> bool:
        """Load the ResNet's then ICNet's ``init_cfg`` Pretrained weights; True when some were loaded."""
        backbone_init = getattr(self.backbone, "init_weights", None)
        loaded = bool(backbone_init()) if backbone_init is not None else False
        return load_pretrained(self, self.init_cfg) or loaded

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        bb = self.backbone
        return bb.stem(x) if getattr(bb, "deep_stem", True) else bb.relu(bb.norm1(bb.conv1(x)))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x: (N, C, H, W) -> [(N, out_channels[0], H/8, W/8), (.., H/16, W/16), (.., H/32, W/32)]."""
        sub1 = self.conv_sub1(x)
        x = resize(x, scale_factor=0.5, mode="bilinear", align_corners=self.align_corners)
        x = self.backbone.layer2(self.backbone.layer1(self.backbone.maxpool(self._stem(x))))
        sub2 = self.conv_sub2(x)
        x = resize(x, scale_factor=0.5, mode="bilinear", align_corners=self.align_corners)
        x = self.backbone.layer4(self.backbone.layer3(x))
        x = self.psp_bottleneck(torch.cat([*self.psp_modules(x), x], dim=1))
        return [sub1, sub2, self.conv_sub4(x)]
