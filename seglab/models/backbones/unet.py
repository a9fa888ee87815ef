"""UNet backbone: a conv encoder and a decoder of upsample + skip-concat blocks (MMSeg's key layout).

Paper: "U-Net: Convolutional Networks for Biomedical Image Segmentation" (https://arxiv.org/abs/1505.04597).
State-dict keys: ``encoder.<i>.<0|1>.convs.<j>.conv/bn`` (``.1`` after a max pool) and
``decoder.<i>.upsample...`` / ``decoder.<i>.conv_block.convs.<j>.conv/bn`` (see ``layers/up_conv_block.py``).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.utils.checkpoint as cp
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ...registry import MODELS, ConfigError
from ..layers import ConvModule
from ..layers.up_conv_block import UpConvBlock
from ..weight_init import kaiming_cnn_init, load_pretrained, resolve_init_cfg
from .resnet import check_unsupported

__all__ = ["BasicConvBlock", "UNet"]

_BN = dict(type="BN")
_RELU = dict(type="ReLU")


class BasicConvBlock(nn.Module):
    """``num_convs`` 3x3 ConvModules; the first may be strided (``stride``), the others dilated (``dilation``).

    (N, in_channels, H, W) -> (N, out_channels, H / stride, W / stride).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_convs: int = 2,
        stride: int = 1,
        dilation: int = 1,
        with_cp: bool = False,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = _BN,
        act_cfg: dict | None = _RELU,
        dcn: dict | None = None,
        plugins: list | None = None,
    ) -> None:
        super().__init__()
        check_unsupported(dcn, plugins, "BasicConvBlock")
        self.with_cp = with_cp
        self.convs = nn.Sequential(*[
            ConvModule(in_channels if i == 0 else out_channels, out_channels, 3, stride=stride if i == 0 else 1,
                       dilation=1 if i == 0 else dilation, padding=1 if i == 0 else dilation, conv_cfg=conv_cfg,
                       norm_cfg=norm_cfg, act_cfg=act_cfg)
            for i in range(num_convs)
        ])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, H, W) -> (N, out_channels, H / stride, W / stride)."""
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self.convs, x, use_reentrant=False)
        return self.convs(x)


def _check_lengths(num_stages: int, **per_stage: Sequence) -> None:
    """Every ``enc_*``/``strides`` argument needs ``num_stages`` entries, every decoder one ``num_stages - 1``."""
    for name, values in per_stage.items():
        expected = num_stages if name in ("strides", "enc_num_convs", "enc_dilations") else num_stages - 1
        if len(values) != expected:
            raise ConfigError(f"UNet: {name}={tuple(values)} has {len(values)} entries but num_stages={num_stages} "
                              f"needs {expected}")


@MODELS.register_module()
class UNet(nn.Module):
    """UNet: ``num_stages`` encoder stages of width ``base_channels * 2**i`` and ``num_stages - 1`` decoder stages.

    Encoder stage i > 0 halves the resolution with a stride-2 first conv (``strides[i] == 2``) or a 2x2
    max pool (``downsamples[i - 1]``). Decoder stage i upsamples with ``upsample_cfg`` (InterpConv or
    DeconvModule) when encoder stage i + 1 downsampled, else uses a 1x1 conv. Input (N, in_channels, H, W)
    with H and W divisible by the total downsample rate; output: the deepest encoder map, then each
    decoder map, deepest first (``out_channels``/``out_strides`` list them). ``norm_eval`` keeps
    BatchNorms in eval mode. ``dcn``/``plugins`` are not supported (ConfigError).
    """

    def __init__(
        self,
        in_channels: int = 3,
        base_channels: int = 64,
        num_stages: int = 5,
        strides: Sequence[int] = (1, 1, 1, 1, 1),
        enc_num_convs: Sequence[int] = (2, 2, 2, 2, 2),
        dec_num_convs: Sequence[int] = (2, 2, 2, 2),
        downsamples: Sequence[bool] = (True, True, True, True),
        enc_dilations: Sequence[int] = (1, 1, 1, 1, 1),
        dec_dilations: Sequence[int] = (1, 1, 1, 1),
        with_cp: bool = False,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = _BN,
        act_cfg: dict | None = _RELU,
        upsample_cfg: dict = dict(type="InterpConv"),  # noqa: B006 - never mutated
        norm_eval: bool = False,
        dcn: dict | None = None,
        plugins: list | None = None,
        pretrained: str | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__()
        self.init_cfg = resolve_init_cfg(pretrained, init_cfg, "UNet")
        self.pretrained = pretrained
        check_unsupported(dcn, plugins, "UNet")
        _check_lengths(num_stages, strides=strides, enc_num_convs=enc_num_convs, enc_dilations=enc_dilations,
                       dec_num_convs=dec_num_convs, downsamples=downsamples, dec_dilations=dec_dilations)
        bad = [s for s in strides if s not in (1, 2)]
        if bad:
            raise ConfigError(f"UNet: strides={tuple(strides)} must be 1 or 2 per stage")
        self.num_stages, self.strides, self.downsamples = num_stages, tuple(strides), tuple(downsamples)
        self.norm_eval, self.base_channels = norm_eval, base_channels
        self.encoder = nn.ModuleList()
        self.decoder = nn.ModuleList()
        layer_cfg = dict(with_cp=with_cp, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        stage_strides = [1]
        for i in range(num_stages):
            stage: list[nn.Module] = []
            if i > 0:
                halves = strides[i] != 1 or bool(downsamples[i - 1])
                stage_strides.append(stage_strides[-1] * (2 if halves else 1))
                if strides[i] == 1 and downsamples[i - 1]:
                    stage.append(nn.MaxPool2d(kernel_size=2))
                self.decoder.append(UpConvBlock(
                    conv_block=BasicConvBlock, in_channels=base_channels * 2**i,
                    skip_channels=base_channels * 2 ** (i - 1), out_channels=base_channels * 2 ** (i - 1),
                    num_convs=dec_num_convs[i - 1], stride=1, dilation=dec_dilations[i - 1],
                    upsample_cfg=upsample_cfg if halves else None, **layer_cfg))
            stage.append(BasicConvBlock(in_channels, base_channels * 2**i, num_convs=enc_num_convs[i],
                                        stride=strides[i], dilation=enc_dilations[i], **layer_cfg))
            self.encoder.append(nn.Sequential(*stage))
            in_channels = base_channels * 2**i
        self.whole_downsample_rate = stage_strides[-1]
        self.out_channels = [base_channels * 2**i for i in reversed(range(num_stages))]
        self.out_strides = list(reversed(stage_strides))
        kaiming_cnn_init(self)

    def init_weights(self) -> bool:
        """Load ``init_cfg`` Pretrained weights (the constructor did the default init); True when some were loaded."""
        return load_pretrained(self, self.init_cfg)

    def _check_input_divisible(self, x: torch.Tensor) -> None:
        h, w = x.shape[-2:]
        rate = self.whole_downsample_rate
        if h % rate or w % rate:
            raise ValueError(
                f"UNet: the input size {(h, w)} must be divisible by the whole downsample rate {rate} "
                f"(num_stages={self.num_stages}, strides={self.strides}, downsamples={self.downsamples}); "
                f"pad the input, e.g. data_preprocessor size_divisor={rate} or a crop size that is a multiple of "
                f"{rate}"
            )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x: (N, in_channels, H, W) -> [(N, out_channels[i], H / out_strides[i], W / out_strides[i]), ...]."""
        self._check_input_divisible(x)
        skips = []
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
        outs = [x]
        for i in reversed(range(len(self.decoder))):
            x = self.decoder[i](skips[i], x)
            outs.append(x)
        return outs

    def train(self, mode: bool = True) -> UNet:
        """Set train mode but keep every BatchNorm in eval mode when ``norm_eval``."""
        super().train(mode)
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
