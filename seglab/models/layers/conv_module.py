"""Conv-norm-activation blocks with MMCV's attribute names (``conv``, ``bn``/``gn``, ``activate``)."""
from __future__ import annotations

import torch
from torch import nn

from ...registry import ConfigError
from .activation import build_activation_layer
from .conv2d_adaptive_padding import Conv2dAdaptivePadding
from .norm import build_norm_layer

__all__ = ["build_conv_layer", "ConvModule", "DepthwiseSeparableConvModule"]

_CONVS = {"Conv": nn.Conv2d, "Conv1d": nn.Conv1d, "Conv2d": nn.Conv2d, "Conv3d": nn.Conv3d,
          "deconv": nn.ConvTranspose2d, "ConvTranspose2d": nn.ConvTranspose2d,
          "Conv2dAdaptivePadding": Conv2dAdaptivePadding}


def build_conv_layer(conv_cfg: dict | None, *args, **kwargs) -> nn.Module:
    """Build a convolution from ``conv_cfg`` (None means ``nn.Conv2d``)."""
    if conv_cfg is None:
        return nn.Conv2d(*args, **kwargs)
    cfg = dict(conv_cfg)
    conv_type = cfg.pop("type")
    if conv_type not in _CONVS:
        raise ConfigError(f"unknown conv type '{conv_type}' in conv_cfg; known: {', '.join(_CONVS)}")
    return _CONVS[conv_type](*args, **kwargs, **cfg)


class ConvModule(nn.Module):
    """Convolution, then optional norm, then optional activation (order configurable).

    State-dict keys match MMCV: ``conv.weight``, ``bn.weight``/``gn.weight``..., so MMSeg checkpoints load.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool | str = "auto",
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        act_cfg: dict | None = dict(type="ReLU"),  # noqa: B006 - MMCV's default, never mutated
        inplace: bool = True,
        with_spectral_norm: bool = False,
        padding_mode: str = "zeros",
        order: tuple[str, str, str] = ("conv", "norm", "act"),
    ) -> None:
        super().__init__()
        if set(order) != {"conv", "norm", "act"} or len(order) != 3:
            raise ConfigError(f"ConvModule order must be a permutation of conv/norm/act, got {order}")
        self.order = tuple(order)
        self.with_norm = norm_cfg is not None
        self.with_activation = act_cfg is not None
        if bias == "auto":
            bias = not self.with_norm
        self.with_bias = bias
        self.conv = build_conv_layer(
            conv_cfg, in_channels, out_channels, kernel_size, stride=stride, padding=padding,
            dilation=dilation, groups=groups, bias=bias, padding_mode=padding_mode,
        )
        if with_spectral_norm:
            self.conv = nn.utils.spectral_norm(self.conv)
        self.in_channels, self.out_channels = in_channels, out_channels
        if self.with_norm:
            # The norm follows the conv unless the order puts it first (pre-activation blocks).
            norm_channels = out_channels if self.order.index("norm") > self.order.index("conv") else in_channels
            self.norm_name, norm = build_norm_layer(norm_cfg, norm_channels)
            self.add_module(self.norm_name, norm)
        else:
            self.norm_name = None
        if self.with_activation:
            act_cfg = dict(act_cfg)
            if act_cfg["type"] in ("ReLU", "LeakyReLU", "ReLU6", "ELU", "SiLU", "HSwish", "Hardswish",
                                   "Hardsigmoid", "RReLU", "Mish"):
                act_cfg.setdefault("inplace", inplace)
            self.activate = build_activation_layer(act_cfg)
        self.init_weights()

    @property
    def norm(self) -> nn.Module | None:
        """The norm layer, or None."""
        return getattr(self, self.norm_name) if self.norm_name else None

    def init_weights(self) -> None:
        """Kaiming-normal conv weights, zero bias; unit norm scales."""
        conv = self.conv
        if isinstance(conv, (nn.Conv2d, nn.Conv1d, nn.Conv3d, nn.ConvTranspose2d)):
            nonlinearity = "leaky_relu" if self.with_activation and isinstance(self.activate, nn.LeakyReLU) else "relu"
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity=nonlinearity)
            if conv.bias is not None:
                nn.init.zeros_(conv.bias)
        norm = self.norm
        if norm is not None and getattr(norm, "weight", None) is not None:
            nn.init.ones_(norm.weight)
            nn.init.zeros_(norm.bias)

    def forward(self, x: torch.Tensor, activate: bool = True, norm: bool = True) -> torch.Tensor:
        for layer in self.order:
            if layer == "conv":
                x = self.conv(x)
            elif layer == "norm" and norm and self.with_norm:
                x = self.norm(x)
            elif layer == "act" and activate and self.with_activation:
                x = self.activate(x)
        return x


class DepthwiseSeparableConvModule(nn.Module):
    """Depthwise conv then pointwise 1x1 conv, each a ConvModule (keys ``depthwise_conv``, ``pointwise_conv``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        norm_cfg: dict | None = None,
        act_cfg: dict | None = dict(type="ReLU"),  # noqa: B006
        dw_norm_cfg: dict | None | str = "default",
        dw_act_cfg: dict | None | str = "default",
        pw_norm_cfg: dict | None | str = "default",
        pw_act_cfg: dict | None | str = "default",
        **kwargs,
    ) -> None:
        super().__init__()
        dw_norm_cfg = norm_cfg if dw_norm_cfg == "default" else dw_norm_cfg
        dw_act_cfg = act_cfg if dw_act_cfg == "default" else dw_act_cfg
        pw_norm_cfg = norm_cfg if pw_norm_cfg == "default" else pw_norm_cfg
        pw_act_cfg = act_cfg if pw_act_cfg == "default" else pw_act_cfg
        self.depthwise_conv = ConvModule(
            in_channels, in_channels, kernel_size, stride=stride, padding=padding, dilation=dilation,
            groups=in_channels, norm_cfg=dw_norm_cfg, act_cfg=dw_act_cfg, **kwargs,
        )
        self.pointwise_conv = ConvModule(in_channels, out_channels, 1, norm_cfg=pw_norm_cfg, act_cfg=pw_act_cfg, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise_conv(self.depthwise_conv(x))
