"""ERFNet from "ERFNet: Efficient Residual Factorized ConvNet for Real-time Semantic Segmentation"
(https://ieeexplore.ieee.org/document/8063438).

An encoder of downsampler blocks (a stride-2 conv concatenated with a max-pool) and factorised residual
blocks (3x1 then 1x3 convs, the later ones dilated), and a decoder of transposed-conv upsamplers back to
stride 2. Keys (MMSeg's layout): ``encoder.<i>.{conv,bn}`` (downsamplers), ``encoder.<i>.convs_layers.<j>``
(residual blocks: convs at 0, 2, 5, 7, norms at 3, 8), ``decoder.<i>.{conv,bn}`` (upsamplers).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from ...unused_arguments import warn_unused
from ..layers import resize
from ..weight_init import load_pretrained, resolve_init_cfg

__all__ = ["ERFNet"]

# MMSeg builds every ERFNet block with these, whatever ERFNet's conv_cfg/norm_cfg/act_cfg say.
_BN_EPS = 1e-3


class DownsamplerBlock(nn.Module):
    """Stride-2 3x3 conv to ``out - in`` channels concatenated with a 2x2 max-pool of the input, BN, ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        if out_channels <= in_channels:
            raise ConfigError(f"ERFNet: a downsampler must widen its input, got {in_channels} -> {out_channels}")
        self.conv = nn.Conv2d(in_channels, out_channels - in_channels, 3, stride=2, padding=1)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.bn = nn.BatchNorm2d(out_channels, eps=_BN_EPS)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = self.conv(x)
        # Odd sizes: the pool floors where the conv rounds up; match the conv's size.
        pool = resize(self.pool(x), size=conv.shape[2:], mode="bilinear", align_corners=False)
        return self.act(self.bn(torch.cat([conv, pool], 1)))


class NonBottleneck1d(nn.Module):
    """Residual block of ``num_conv_layer`` factorised (3x1, 1x3) conv pairs; pairs after the first are dilated
    and end in dropout instead of ReLU."""

    def __init__(self, channels: int, drop_rate: float = 0.0, dilation: int = 1, num_conv_layer: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(num_conv_layer):
            d = 1 if i == 0 else dilation
            layers += [nn.Conv2d(channels, channels, (3, 1), padding=(d, 0), dilation=(d, 1)), nn.ReLU(),
                       nn.Conv2d(channels, channels, (1, 3), padding=(0, d), dilation=(1, d)),
                       nn.BatchNorm2d(channels, eps=_BN_EPS), nn.ReLU() if i == 0 else nn.Dropout(p=drop_rate)]
        self.convs_layers = nn.ModuleList(layers)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.convs_layers:
            out = layer(out)
        return self.act(out + x)


class UpsamplerBlock(nn.Module):
    """3x3 stride-2 transposed conv (exact 2x upsampling), BN, ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, padding=1, output_padding=1)
        self.bn = nn.BatchNorm2d(out_channels, eps=_BN_EPS)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


@MODELS.register_module()
class ERFNet(nn.Module):
    """Encoder-decoder backbone: (N, C, H, W) -> [(N, dec_non_bottleneck_channels[-1], H/2, W/2)]
    for MMSeg's three downsamplers and two upsamplers (stride ``2 ** (#down - #up)`` in general).

    The encoder has one downsampler per ``enc_downsample_channels`` entry; after downsampler ``i + 1``
    come ``enc_stage_non_bottlenecks[i]`` residual blocks, the last stage cycling through
    ``enc_non_bottleneck_dilations``. Each decoder stage is an upsampler to ``dec_non_bottleneck_channels[i]``
    and ``dec_stages_non_bottleneck[i]`` residual blocks. ``dropout_ratio`` is the encoder blocks' dropout.
    """

    def __init__(
        self,
        in_channels: int = 3,
        enc_downsample_channels: Sequence[int] = (16, 64, 128),
        enc_stage_non_bottlenecks: Sequence[int] = (5, 8),
        enc_non_bottleneck_dilations: Sequence[int] = (2, 4, 8, 16),
        enc_non_bottleneck_channels: Sequence[int] = (64, 128),
        dec_upsample_channels: Sequence[int] = (64, 16),
        dec_stages_non_bottleneck: Sequence[int] = (2, 2),
        dec_non_bottleneck_channels: Sequence[int] = (64, 16),
        dropout_ratio: float = 0.1,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = dict(type="BN", requires_grad=True),  # noqa: B006 - never mutated
        act_cfg: dict | None = dict(type="ReLU"),  # noqa: B006
        pretrained: str | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__()
        warn_unused("ERFNet", conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        enc, dec = tuple(enc_downsample_channels), tuple(dec_non_bottleneck_channels)
        n_stages = len(enc) - 1
        if n_stages < 1 or len(enc_stage_non_bottlenecks) != n_stages:
            raise ConfigError(f"ERFNet: enc_stage_non_bottlenecks {tuple(enc_stage_non_bottlenecks)} needs one "
                              f"entry per downsampler after the first ({n_stages})")
        if tuple(enc_non_bottleneck_channels) != enc[1:]:
            raise ConfigError(f"ERFNet: enc_non_bottleneck_channels {tuple(enc_non_bottleneck_channels)} must equal "
                              f"enc_downsample_channels[1:] {enc[1:]} (each stage keeps its downsampler's width)")
        if enc_stage_non_bottlenecks[-1] % len(enc_non_bottleneck_dilations):
            raise ConfigError(f"ERFNet: enc_stage_non_bottlenecks[-1] ({enc_stage_non_bottlenecks[-1]}) must be a "
                              f"multiple of len(enc_non_bottleneck_dilations) ({len(enc_non_bottleneck_dilations)})")
        if not (len(dec_upsample_channels) == len(dec_stages_non_bottleneck) == len(dec) == n_stages):
            raise ConfigError(f"ERFNet: dec_upsample_channels, dec_stages_non_bottleneck and "
                              f"dec_non_bottleneck_channels need {n_stages} entries each")
        if tuple(dec_upsample_channels) != dec:
            raise ConfigError(f"ERFNet: dec_upsample_channels {tuple(dec_upsample_channels)} must equal "
                              f"dec_non_bottleneck_channels {dec} (each upsampler feeds its stage's blocks)")
        self.init_cfg = resolve_init_cfg(pretrained, init_cfg, "ERFNet")
        self.in_channels, self.dropout_ratio = in_channels, dropout_ratio
        self.enc_downsample_channels, self.dec_non_bottleneck_channels = enc, dec
        encoder: list[nn.Module] = [DownsamplerBlock(in_channels, enc[0])]
        for i in range(n_stages):
            encoder.append(DownsamplerBlock(enc[i], enc[i + 1]))
            if i == n_stages - 1:
                repeats = enc_stage_non_bottlenecks[-1] // len(enc_non_bottleneck_dilations)
                encoder += [NonBottleneck1d(enc[-1], dropout_ratio, d)
                            for _ in range(repeats) for d in enc_non_bottleneck_dilations]
            else:
                encoder += [NonBottleneck1d(enc[i + 1], dropout_ratio) for _ in range(enc_stage_non_bottlenecks[i])]
        self.encoder = nn.ModuleList(encoder)
        decoder: list[nn.Module] = []
        for i, channels in enumerate(dec):
            decoder.append(UpsamplerBlock(enc[-1] if i == 0 else dec[i - 1], channels))
            decoder += [NonBottleneck1d(channels) for _ in range(dec_stages_non_bottleneck[i])]
        self.decoder = nn.ModuleList(decoder)
        self.out_channels = [dec[-1]]
        self.out_strides = [2 ** (len(enc) - len(dec))]

    def init_weights(self) -> bool:
        """Load ``init_cfg`` Pretrained weights (otherwise PyTorch's default init, as in MMSeg)."""
        return load_pretrained(self, self.init_cfg)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x: (N, C, H, W) -> [(N, out_channels[0], H / out_strides[0], W / out_strides[0])]."""
        for block in self.encoder:
            x = block(x)
        for block in self.decoder:
            x = block(x)
        return [x]
