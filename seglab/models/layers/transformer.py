"""Transformer building blocks with MMCV/MMSeg's state-dict layout, attention on SDPA.

Key layout (what MMSeg's transformer checkpoints hold):
- ``MultiheadAttention``: ``attn.in_proj_weight``, ``attn.in_proj_bias``, ``attn.out_proj.{weight,bias}``
  (MMCV wraps ``nn.MultiheadAttention`` as ``self.attn``).
- ``FFN``: ``layers.0.0.{weight,bias}`` (first Linear, then activation and dropout), ``layers.1.{weight,bias}``
  for two fcs; ``gamma2.weight`` with a layer scale.
- ``PatchEmbed``: ``projection.{weight,bias}``, ``norm.{weight,bias}``.
- ``PatchMerging``: ``norm.{weight,bias}``, ``reduction.weight`` (MMSeg's Swin down-sampling).

``nn.MultiheadAttention`` is called with ``need_weights=False`` so that PyTorch dispatches to
``scaled_dot_product_attention`` (flash / memory-efficient kernels on GPU) instead of materialising the
attention matrix; the result equals the explicit softmax formula (tests/models/layers/test_transformer.py).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ...registry import ConfigError
from .activation import build_activation_layer
from .conv_module import build_conv_layer
from .norm import build_norm_layer

__all__ = [
    "AdaptivePadding", "DropPath", "FFN", "LayerScale", "MultiheadAttention", "PatchEmbed", "PatchMerging",
    "build_dropout", "drop_path", "nchw_to_nlc", "nlc_to_nchw", "to_2tuple",
]


def to_2tuple(value: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """``3 -> (3, 3)``; a pair stays a pair."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ConfigError(f"expected an int or a pair, got {value!r}")
        return int(value[0]), int(value[1])
    return int(value), int(value)


def nlc_to_nchw(x: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
    """Tokens ``(N, H*W, C)`` -> feature map ``(N, C, H, W)``."""
    n, length, c = x.shape
    h, w = hw_shape
    if length != h * w:
        raise ValueError(f"nlc_to_nchw: {length} tokens cannot form a {h}x{w} map")
    return x.transpose(1, 2).reshape(n, c, h, w)


def nchw_to_nlc(x: torch.Tensor) -> torch.Tensor:
    """Feature map ``(N, C, H, W)`` -> tokens ``(N, H*W, C)``."""
    return x.flatten(2).transpose(1, 2).contiguous()


def drop_path(x: torch.Tensor, drop_prob: float = 0.0, training: bool = False) -> torch.Tensor:
    """Stochastic depth: zero whole samples of a residual branch with probability ``drop_prob``."""
    if drop_prob == 0.0 or not training:
        return x
    keep = 1.0 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    mask = (keep + torch.rand(shape, dtype=x.dtype, device=x.device)).floor_()
    return x.div(keep) * mask


class DropPath(nn.Module):
    """Stochastic depth as a module (MMCV's ``DropPath``)."""

    def __init__(self, drop_prob: float = 0.1) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.drop_prob, self.training)


class _Dropout(nn.Dropout):
    """``nn.Dropout`` spelt with MMCV's ``drop_prob`` argument."""

    def __init__(self, drop_prob: float = 0.5, inplace: bool = False) -> None:
        super().__init__(p=drop_prob, inplace=inplace)


def build_dropout(cfg: dict | None) -> nn.Module:
    """Build ``dict(type='DropPath'|'Dropout', drop_prob=p)``; ``None`` gives an identity."""
    if cfg is None:
        return nn.Identity()
    cfg = dict(cfg)
    kind = cfg.pop("type", None)
    builders = {"DropPath": DropPath, "Dropout": _Dropout}
    if kind not in builders:
        raise ConfigError(f"dropout_layer type {kind!r} is not one of {sorted(builders)}")
    return builders[kind](**cfg)


class LayerScale(nn.Module):
    """Per-channel learnable scale of a residual branch (``weight``: (C,))."""

    def __init__(self, dim: int, scale: float = 1e-5, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace
        self.weight = nn.Parameter(torch.ones(dim) * scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul_(self.weight) if self.inplace else x * self.weight


class MultiheadAttention(nn.Module):
    """MMCV's residual multi-head attention: ``identity + drop(proj_drop(attn(q + q_pos, k + k_pos, v)))``.

    Inputs are ``(L, N, C)``, or ``(N, L, C)`` with ``batch_first=True``.
    """

    def __init__(
        self,
        embed_dims: int,
        num_heads: int,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        dropout_layer: dict | None = dict(type="Dropout", drop_prob=0.0),
        init_cfg: dict | None = None,
        batch_first: bool = False,
        qkv_bias: bool = True,
    ) -> None:
        super().__init__()
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.batch_first = batch_first
        self.init_cfg = init_cfg
        # Always batch-first inside: the SDPA path wants (N, L, C) and the state dict is the same.
        self.attn = nn.MultiheadAttention(embed_dims, num_heads, dropout=attn_drop, bias=qkv_bias, batch_first=True)
        self.proj_drop = nn.Dropout(proj_drop)
        self.dropout_layer = build_dropout(dropout_layer)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        identity: torch.Tensor | None = None,
        query_pos: torch.Tensor | None = None,
        key_pos: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        key_padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Attend ``query`` to ``key``/``value`` (default: the query itself); shapes as in the class doc."""
        key = query if key is None else key
        value = key if value is None else value
        identity = query if identity is None else identity
        if key_pos is None and query_pos is not None and query_pos.shape == key.shape:
            key_pos = query_pos  # MMCV's rule: self-attention shares the positional encoding
        if query_pos is not None:
            query = query + query_pos
        if key_pos is not None:
            key = key + key_pos
        if not self.batch_first:
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        if torch.jit.is_tracing():
            # Shared q/k/v tensors take torch's packed projection, whose unflatten traces the token count as
            # a constant; distinct views take three linears and keep an exported graph's sizes dynamic.
            key, value = key.view_as(key), value.view_as(value)
        out = self.attn(query, key, value, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                        need_weights=False)[0]
        if not self.batch_first:
            out = out.transpose(0, 1)
        return identity + self.dropout_layer(self.proj_drop(out))


class FFN(nn.Module):
    """MMCV's feed-forward block: ``num_fcs`` Linear layers with activation and dropout, plus identity."""

    def __init__(
        self,
        embed_dims: int = 256,
        feedforward_channels: int = 1024,
        num_fcs: int = 2,
        act_cfg: dict = dict(type="ReLU", inplace=True),
        ffn_drop: float = 0.0,
        dropout_layer: dict | None = None,
        add_identity: bool = True,
        init_cfg: dict | None = None,
        layer_scale_init_value: float = 0.0,
    ) -> None:
        super().__init__()
        if num_fcs < 2:
            raise ConfigError(f"FFN: num_fcs must be at least 2, got {num_fcs}")
        self.embed_dims = embed_dims
        self.feedforward_channels = feedforward_channels
        self.init_cfg = init_cfg
        layers: list[nn.Module] = []
        in_channels = embed_dims
        for _ in range(num_fcs - 1):
            layers.append(nn.Sequential(nn.Linear(in_channels, feedforward_channels),
                                        build_activation_layer(act_cfg), nn.Dropout(ffn_drop)))
            in_channels = feedforward_channels
        layers += [nn.Linear(feedforward_channels, embed_dims), nn.Dropout(ffn_drop)]
        self.layers = nn.Sequential(*layers)
        self.dropout_layer = build_dropout(dropout_layer)
        self.add_identity = add_identity
        self.gamma2 = LayerScale(embed_dims, scale=layer_scale_init_value) if layer_scale_init_value > 0 \
            else nn.Identity()

    def forward(self, x: torch.Tensor, identity: torch.Tensor | None = None) -> torch.Tensor:
        """``x``: (..., C) -> (..., C)."""
        out = self.gamma2(self.layers(x))
        if not self.add_identity:
            return self.dropout_layer(out)
        return (x if identity is None else identity) + self.dropout_layer(out)


class AdaptivePadding(nn.Module):
    """Pad so that a conv of this kernel/stride/dilation covers every pixel (``'corner'`` or ``'same'``)."""

    def __init__(self, kernel_size: int | tuple = 1, stride: int | tuple = 1, dilation: int | tuple = 1,
                 padding: str = "corner") -> None:
        super().__init__()
        if padding not in ("same", "corner"):
            raise ConfigError(f"AdaptivePadding: padding must be 'same' or 'corner', got {padding!r}")
        self.padding = padding
        self.kernel_size = to_2tuple(kernel_size)
        self.stride = to_2tuple(stride)
        self.dilation = to_2tuple(dilation)

    def get_pad_shape(self, input_shape: tuple[int, int] | torch.Size) -> tuple[int, int]:
        """Total (pad_h, pad_w) for an input of ``input_shape`` (H, W)."""
        pads = []
        for size, k, s, d in zip(input_shape, self.kernel_size, self.stride, self.dilation):
            out = math.ceil(size / s)
            pads.append(max((out - 1) * s + (k - 1) * d + 1 - size, 0))
        return pads[0], pads[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad_h, pad_w = self.get_pad_shape(x.shape[-2:])
        if pad_h == 0 and pad_w == 0:
            return x
        if self.padding == "corner":
            return F.pad(x, [0, pad_w, 0, pad_h])
        return F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])


def _conv_out(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


class PatchEmbed(nn.Module):
    """Image ``(N, C, H, W)`` -> patch tokens ``(N, H'*W', embed_dims)`` and ``(H', W')`` by a strided conv."""

    def __init__(
        self,
        in_channels: int = 3,
        embed_dims: int = 768,
        conv_type: str = "Conv2d",
        kernel_size: int | tuple = 16,
        stride: int | tuple | None = None,
        padding: int | tuple | str = "corner",
        dilation: int | tuple = 1,
        bias: bool = True,
        norm_cfg: dict | None = None,
        input_size: int | tuple | None = None,
        init_cfg: dict | None = None,
    ) -> None:
        super().__init__()
        self.embed_dims = embed_dims
        self.init_cfg = init_cfg
        kernel = to_2tuple(kernel_size)
        stride_ = to_2tuple(kernel_size if stride is None else stride)
        dil = to_2tuple(dilation)
        if isinstance(padding, str):
            self.adap_padding: AdaptivePadding | None = AdaptivePadding(kernel, stride_, dil, padding)
            pad = (0, 0)
        else:
            self.adap_padding = None
            pad = to_2tuple(padding)
        self.projection = build_conv_layer(dict(type=conv_type), in_channels, embed_dims, kernel_size=kernel,
                                           stride=stride_, padding=pad, dilation=dil, bias=bias)
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1] if norm_cfg is not None else None
        self.init_input_size: tuple[int, int] | None = None
        self.init_out_size: tuple[int, int] | None = None
        if input_size is not None:
            size = to_2tuple(input_size)
            self.init_input_size = size
            if self.adap_padding is not None:
                ph, pw = self.adap_padding.get_pad_shape(size)
                size = (size[0] + ph, size[1] + pw)
            self.init_out_size = (_conv_out(size[0], kernel[0], stride_[0], pad[0], dil[0]),
                                  _conv_out(size[1], kernel[1], stride_[1], pad[1], dil[1]))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        if self.adap_padding is not None:
            x = self.adap_padding(x)
        x = self.projection(x)
        out_size = (x.shape[2], x.shape[3])
        x = x.flatten(2).transpose(1, 2)
        if self.norm is not None:
            x = self.norm(x)
        return x, out_size


class PatchMerging(nn.Module):
    """Merge ``kernel_size`` x ``kernel_size`` neighbouring tokens: ``(N, H*W, C)`` -> ``(N, H'*W', out)``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple = 2,
        stride: int | tuple | None = None,
        padding: int | tuple | str = "corner",
        dilation: int | tuple = 1,
        bias: bool = False,
        norm_cfg: dict | None = dict(type="LN"),
        init_cfg: dict | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.init_cfg = init_cfg
        kernel = to_2tuple(kernel_size)
        stride_ = to_2tuple(stride if stride else kernel_size)
        dil = to_2tuple(dilation)
        if isinstance(padding, str):
            self.adap_padding: AdaptivePadding | None = AdaptivePadding(kernel, stride_, dil, padding)
            pad = (0, 0)
        else:
            self.adap_padding = None
            pad = to_2tuple(padding)
        self.sampler = nn.Unfold(kernel_size=kernel, dilation=dil, padding=pad, stride=stride_)
        sample_dim = kernel[0] * kernel[1] * in_channels
        self.norm = build_norm_layer(norm_cfg, sample_dim)[1] if norm_cfg is not None else None
        self.reduction = nn.Linear(sample_dim, out_channels, bias=bias)

    def forward(self, x: torch.Tensor, input_size: tuple[int, int]) -> tuple[torch.Tensor, tuple[int, int]]:
        n, length, c = x.shape
        h, w = input_size
        if length != h * w:
            raise ValueError(f"PatchMerging: {length} tokens do not form the given {h}x{w} map")
        x = x.view(n, h, w, c).permute(0, 3, 1, 2)
        if self.adap_padding is not None:
            x = self.adap_padding(x)
            h, w = x.shape[-2:]
        x = self.sampler(x)
        k, s, p, d = self.sampler.kernel_size, self.sampler.stride, self.sampler.padding, self.sampler.dilation
        out_size = (_conv_out(h, k[0], s[0], p[0], d[0]), _conv_out(w, k[1], s[1], p[1], d[1]))
        x = x.transpose(1, 2)
        if self.norm is not None:
            x = self.norm(x)
        return self.reduction(x), out_size
