"""Fast-SCNN from "Fast-SCNN: Fast Semantic Segmentation Network" (https://arxiv.org/abs/1902.04502).

Learning-to-downsample (stride 8) -> global feature extractor (inverted residuals + pyramid pooling,
stride 32) -> feature fusion with the stride-8 map. Keys (MMSeg's): ``learning_to_downsample.conv/
dsconv1/dsconv2``, ``global_feature_extractor.bottleneck<i>/ppm/out``, ``feature_fusion.*``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from ..decode_heads.psp_head import PPM
from ..layers import ConvModule, DepthwiseSeparableConvModule, InvertedResidual, resize
from ..weight_init import kaiming_cnn_init, load_pretrained, resolve_init_cfg

__all__ = ["FastSCNN"]

_BN = dict(type="BN")
_RELU = dict(type="ReLU")


class LearningToDownsample(nn.Module):
    """A stride-2 conv and two stride-2 separable convs: (N, C_in, H, W) -> (N, out_channels, H/8, W/8)."""

    def __init__(self, in_channels: int, dw_channels: Sequence[int], out_channels: int, conv_cfg: dict | None = None,
                 norm_cfg: dict | None = _BN, act_cfg: dict | None = _RELU, dw_act_cfg: dict | None = None) -> None:
        super().__init__()
        dw1, dw2 = dw_channels
        self.conv = ConvModule(in_channels, dw1, 3, stride=2, padding=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                               act_cfg=act_cfg)
        sep = dict(kernel_size=3, stride=2, padding=1, norm_cfg=norm_cfg, dw_act_cfg=dw_act_cfg)
        self.dsconv1 = DepthwiseSeparableConvModule(dw1, dw2, **sep)
        self.dsconv2 = DepthwiseSeparableConvModule(dw2, out_channels, **sep)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dsconv2(self.dsconv1(self.conv(x)))


class GlobalFeatureExtractor(nn.Module):
    """Three stages of inverted residuals, pyramid pooling (concat with its input), then a 3x3 conv."""

    def __init__(self, in_channels: int = 64, block_channels: Sequence[int] = (64, 96, 128), out_channels: int = 128,
                 expand_ratio: int = 6, num_blocks: Sequence[int] = (3, 3, 3), strides: Sequence[int] = (2, 2, 1),
                 pool_scales: Sequence[int] = (1, 2, 3, 6), conv_cfg: dict | None = None,
                 norm_cfg: dict | None = _BN, act_cfg: dict | None = _RELU, align_corners: bool = False) -> None:
        super().__init__()
        if not len(block_channels) == len(num_blocks) == len(strides) == 3:
            raise ConfigError(f"FastSCNN: global_block_channels {tuple(block_channels)} and global_block_strides "
                              f"{tuple(strides)} need 3 entries each")
        prev = in_channels
        for i, (channels, blocks, stride) in enumerate(zip(block_channels, num_blocks, strides)):
            layers = [InvertedResidual(prev if j == 0 else channels, channels, stride if j == 0 else 1, expand_ratio,
                                       norm_cfg=norm_cfg, act_cfg=act_cfg) for j in range(blocks)]
            self.add_module(f"bottleneck{i + 1}", nn.Sequential(*layers))
            prev = channels
        self.ppm = PPM(pool_scales, prev, prev // 4, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg,
                       align_corners=align_corners)
        # The PPM branches are concatenated with the input: 4 branches of C/4 plus C gives 2C.
        self.out = ConvModule(prev + len(self.ppm) * (prev // 4), out_channels, 3, padding=1, conv_cfg=conv_cfg,
                              norm_cfg=norm_cfg, act_cfg=act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bottleneck3(self.bottleneck2(self.bottleneck1(x)))
        return self.out(torch.cat([x, *self.ppm(x)], dim=1))


class FeatureFusionModule(nn.Module):
    """Upsample the low-resolution map, depthwise conv + 1x1, add the 1x1-projected high-resolution map, ReLU."""

    def __init__(self, higher_in_channels: int, lower_in_channels: int, out_channels: int,
                 conv_cfg: dict | None = None, norm_cfg: dict | None = _BN, dwconv_act_cfg: dict | None = _RELU,
                 conv_act_cfg: dict | None = None, align_corners: bool = False) -> None:
        super().__init__()
        self.align_corners = align_corners
        kw = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.dwconv = ConvModule(lower_in_channels, out_channels, 3, padding=1, groups=out_channels,
                                 act_cfg=dwconv_act_cfg, **kw)
        self.conv_lower_res = ConvModule(out_channels, out_channels, 1, act_cfg=conv_act_cfg, **kw)
        self.conv_higher_res = ConvModule(higher_in_channels, out_channels, 1, act_cfg=conv_act_cfg, **kw)
        self.relu = nn.ReLU(True)

    def forward(self, higher_res_feature: torch.Tensor, lower_res_feature: torch.Tensor) -> torch.Tensor:
        lower = resize(lower_res_feature, size=higher_res_feature.shape[2:], mode="bilinear",
                       align_corners=self.align_corners)
        lower = self.conv_lower_res(self.dwconv(lower))
        return self.relu(self.conv_higher_res(higher_res_feature) + lower)


@MODELS.register_module()
class FastSCNN(nn.Module):
    """Input (N, in_channels, H, W) -> the ``out_indices`` of [downsampled (stride 8, ``global_in_channels``),
    global features (stride 8 x prod(global_block_strides), ``global_out_channels``), fused (stride 8,
    ``fusion_out_channels``)].

    ``dw_act_cfg`` is the activation after the learning-to-downsample depthwise convs (None: none).
    """

    def __init__(
        self,
        in_channels: int = 3,
        downsample_dw_channels: Sequence[int] = (32, 48),
        global_in_channels: int = 64,
        global_block_channels: Sequence[int] = (64, 96, 128),
        global_block_strides: Sequence[int] = (2, 2, 1),
        global_out_channels: int = 128,
        higher_in_channels: int = 64,
        lower_in_channels: int = 128,
        fusion_out_channels: int = 128,
        out_indices: int | Sequence[int] = (0, 1, 2),
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = _BN,
        act_cfg: dict | None = _RELU,
        align_corners: bool = False,
        dw_act_cfg: dict | None = None,
        pretrained: str | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__()
        if global_in_channels != higher_in_channels:
            raise ConfigError(f"FastSCNN: global_in_channels ({global_in_channels}) must equal higher_in_channels "
                              f"({higher_in_channels})")
        if global_out_channels != lower_in_channels:
            raise ConfigError(f"FastSCNN: global_out_channels ({global_out_channels}) must equal lower_in_channels "
                              f"({lower_in_channels})")
        if len(downsample_dw_channels) != 2:
            raise ConfigError(f"FastSCNN: downsample_dw_channels needs 2 entries, got {tuple(downsample_dw_channels)}")
        out_indices = (out_indices,) if isinstance(out_indices, int) else tuple(out_indices)
        if not out_indices or any(i not in range(-3, 3) for i in out_indices):
            raise ConfigError(f"FastSCNN: out_indices {out_indices} must index its 3 outputs")
        self.in_channels, self.out_indices, self.align_corners = in_channels, out_indices, align_corners
        self.global_block_strides = tuple(global_block_strides)
        self.conv_cfg, self.norm_cfg, self.act_cfg = conv_cfg, norm_cfg, act_cfg
        self.init_cfg = resolve_init_cfg(pretrained, init_cfg, "FastSCNN")
        self.pretrained = pretrained
        kw = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.learning_to_downsample = LearningToDownsample(in_channels, downsample_dw_channels, global_in_channels,
                                                           act_cfg=act_cfg, dw_act_cfg=dw_act_cfg, **kw)
        self.global_feature_extractor = GlobalFeatureExtractor(
            global_in_channels, global_block_channels, global_out_channels, strides=global_block_strides,
            act_cfg=act_cfg, align_corners=align_corners, **kw)
        self.feature_fusion = FeatureFusionModule(higher_in_channels, lower_in_channels, fusion_out_channels,
                                                  dwconv_act_cfg=act_cfg, align_corners=align_corners, **kw)
        low_stride = 8
        for s in global_block_strides:
            low_stride *= s
        channels = [global_in_channels, global_out_channels, fusion_out_channels]
        strides = [8, low_stride, 8]
        self.out_channels = [channels[i] for i in out_indices]
        self.out_strides = [strides[i] for i in out_indices]
        kaiming_cnn_init(self)

    def init_weights(self) -> bool:
        """Load ``init_cfg`` Pretrained weights (the constructor did the default init); True when some were loaded."""
        return load_pretrained(self, self.init_cfg)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """x: (N, C, H, W) -> tuple of the selected outputs."""
        higher = self.learning_to_downsample(x)
        lower = self.global_feature_extractor(higher)
        outs = [higher, lower, self.feature_fusion(higher, lower)]
        return tuple(outs[i] for i in self.out_indices)
