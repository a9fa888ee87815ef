"""UNet decoder pieces: 2x upsample modules (``InterpConv``, ``DeconvModule``) and ``UpConvBlock``.

State-dict keys (MMSeg's): ``InterpConv.interp_upsample.<0|1>`` (upsample has no weights, the
ConvModule has ``conv``/``bn``), ``DeconvModule.deconv_upsamping.0/1`` (transposed conv, norm; MMSeg's
spelling), ``UpConvBlock.upsample`` and ``UpConvBlock.conv_block``.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.utils.checkpoint as cp
from torch import nn

from ...registry import ConfigError
from .activation import build_activation_layer
from .conv_module import ConvModule
from .norm import build_norm_layer
from .resize import Upsample

__all__ = ["DeconvModule", "InterpConv", "UpConvBlock", "build_upsample_layer"]

_BN = dict(type="BN")
_RELU = dict(type="ReLU")
_BILINEAR_X2 = dict(scale_factor=2, mode="bilinear", align_corners=False)


def _run(module: nn.Module, x: torch.Tensor, with_cp: bool) -> torch.Tensor:
    """``module(x)``, recomputed in backward instead of stored when ``with_cp`` (saves memory)."""
    if with_cp and x.requires_grad:
        return cp.checkpoint(module, x, use_reentrant=False)
    return module(x)


class DeconvModule(nn.Module):
    """Transposed conv (``kernel_size``, stride ``scale_factor``) -> norm -> act: (N, C_in, H, W) -> (N, C_out, sH, sW)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        with_cp: bool = False,
        norm_cfg: dict = _BN,
        act_cfg: dict = _RELU,
        *,
        kernel_size: int = 4,
        scale_factor: int = 2,
    ) -> None:
        super().__init__()
        if kernel_size < scale_factor or (kernel_size - scale_factor) % 2:
            raise ConfigError(f"DeconvModule: kernel_size ({kernel_size}) must be >= scale_factor ({scale_factor}) "
                              "and differ from it by an even number, so the output is exactly scale_factor x larger")
        if norm_cfg is None or act_cfg is None:
            raise ConfigError("DeconvModule always has a norm and an activation; give norm_cfg and act_cfg")
        self.with_cp = with_cp
        deconv = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=kernel_size, stride=scale_factor,
                                    padding=(kernel_size - scale_factor) // 2)
        self.deconv_upsamping = nn.Sequential(deconv, build_norm_layer(norm_cfg, out_channels)[1],
                                              build_activation_layer(act_cfg))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, H, W) -> (N, out_channels, scale_factor * H, scale_factor * W)."""
        return _run(self.deconv_upsamping, x, self.with_cp)


class InterpConv(nn.Module):
    """Interpolation then a ConvModule (or the reverse with ``conv_first``): (N, C_in, H, W) -> (N, C_out, 2H, 2W).

    ``upsample_cfg`` holds :class:`Upsample`'s arguments (default bilinear x2, align_corners=False).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        with_cp: bool = False,
        norm_cfg: dict | None = _BN,
        act_cfg: dict | None = _RELU,
        *,
        conv_cfg: dict | None = None,
        conv_first: bool = False,
        kernel_size: int = 1,
        stride: int = 1,
        padding: int = 0,
        upsample_cfg: dict = _BILINEAR_X2,
    ) -> None:
        super().__init__()
        self.with_cp = with_cp
        conv = ConvModule(in_channels, out_channels, kernel_size, stride=stride, padding=padding, conv_cfg=conv_cfg,
                          norm_cfg=norm_cfg, act_cfg=act_cfg)
        upsample = Upsample(**upsample_cfg)
        self.interp_upsample = nn.Sequential(conv, upsample) if conv_first else nn.Sequential(upsample, conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, H, W) -> (N, out_channels, H', W') with H', W' set by ``upsample_cfg``."""
        return _run(self.interp_upsample, x, self.with_cp)


UPSAMPLE_LAYERS: dict[str, type[nn.Module]] = {"InterpConv": InterpConv, "DeconvModule": DeconvModule}


def build_upsample_layer(cfg: dict, in_channels: int, out_channels: int, **kwargs: object) -> nn.Module:
    """Build a UNet upsample module from ``cfg`` (``type`` 'InterpConv' or 'DeconvModule' plus its options)."""
    cfg = dict(cfg)
    kind = cfg.pop("type", None)
    if kind not in UPSAMPLE_LAYERS:
        raise ConfigError(f"upsample_cfg.type={kind!r} is not a UNet upsample module; use one of "
                          f"{sorted(UPSAMPLE_LAYERS)} (they map the decoder's channels to the skip's)")
    return UPSAMPLE_LAYERS[kind](in_channels, out_channels, **kwargs, **cfg)


class UpConvBlock(nn.Module):
    """Upsample the deeper map to the skip's size and width, concatenate [skip, up], fuse with ``conv_block``.

    ``upsample_cfg=None`` (the two maps already have the same size) uses a 1x1 ConvModule instead.
    skip (N, skip_channels, H, W), x (N, in_channels, H/2, W/2) -> (N, out_channels, H, W).
    """

    def __init__(
        self,
        conv_block: Callable[..., nn.Module],
        in_channels: int,
        skip_channels: int,
        out_channels: int,
        num_convs: int = 2,
        stride: int = 1,
        dilation: int = 1,
        with_cp: bool = False,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = _BN,
        act_cfg: dict | None = _RELU,
        upsample_cfg: dict | None = dict(type="InterpConv"),  # noqa: B006 - never mutated
        dcn: dict | None = None,
        plugins: list | None = None,
    ) -> None:
        super().__init__()
        self.conv_block = conv_block(in_channels=2 * skip_channels, out_channels=out_channels, num_convs=num_convs,
                                     stride=stride, dilation=dilation, with_cp=with_cp, conv_cfg=conv_cfg,
                                     norm_cfg=norm_cfg, act_cfg=act_cfg, dcn=dcn, plugins=plugins)
        if upsample_cfg is not None:
            self.upsample = build_upsample_layer(upsample_cfg, in_channels, skip_channels, with_cp=with_cp,
                                                 norm_cfg=norm_cfg, act_cfg=act_cfg)
        else:
            self.upsample = ConvModule(in_channels, skip_channels, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                       act_cfg=act_cfg)

    def forward(self, skip: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """skip (N, C_skip, H, W), x (N, C_in, h, w) -> (N, out_channels, H, W)."""
        return self.conv_block(torch.cat([skip, self.upsample(x)], dim=1))
