"""Mix Transformer (MiT), the SegFormer backbone, from "SegFormer: Simple and Efficient Design for Semantic
Segmentation with Transformers" (https://arxiv.org/abs/2105.15203). MiT-B0..B5 are argument sets.

Each stage: an overlapping strided-conv patch embedding, encoder layers whose attention reads keys and
values from a ``sr_ratio``-times smaller map (efficient attention), and a LayerNorm. MMSeg's state-dict
layout, so its ``mit_b*`` and SegFormer checkpoints load strictly:
``layers.<i>.0`` PatchEmbed (``projection``, ``norm``); ``layers.<i>.1.<j>`` encoder layers with ``norm1``,
``attn.attn.{in_proj_weight,in_proj_bias,out_proj}``, ``attn.sr``/``attn.norm`` (sr_ratio > 1), ``norm2``,
``ffn.layers.{0,1,4}`` (1x1 conv, 3x3 depth-wise conv, 1x1 conv); ``layers.<i>.2`` the stage norm.
The official NVlabs ``mit_b*.pth`` layout converts with ``seglab convert-weights mit SRC DST``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.utils.checkpoint as cp
from torch import nn
from torch.nn import functional as F

from ...registry import MODELS, ConfigError
from ..conv_paths import eager_cpu_inference, pointwise, unhooked
from ..layers import build_activation_layer, build_norm_layer
from ..layers.transformer import MultiheadAttention, PatchEmbed, build_dropout, nchw_to_nlc, nlc_to_nchw
from ..weight_init import resolve_init_cfg
from ._segformer_init import init_segformer_style

__all__ = ["EfficientMultiheadAttention", "MixFFN", "MixVisionTransformer", "MiTEncoderLayer"]

# Pixels per block of Mix-FFN's CPU inference path: a block's hidden map (4x the embedding width) stays in cache.
PIXELS_PER_BLOCK = 2048


class MixFFN(nn.Module):
    """SegFormer's FFN on tokens: 1x1 conv, 3x3 depth-wise conv (positional information), act, 1x1 conv.

    ``x``: (N, H*W, C) with ``hw_shape`` (H, W) -> (N, H*W, C), plus the identity.
    Keys ``layers.0`` (fc1), ``layers.1`` (depth-wise), ``layers.4`` (fc2); 2, 3, 5 hold no weights.
    ``row_blocks`` (default True): gradient-free eager CPU forwards make the hidden map a few image rows at a
    time (:meth:`_by_row_blocks`, the same values); False always makes the whole map.
    """

    def __init__(
        self,
        embed_dims: int,
        feedforward_channels: int,
        act_cfg: dict = dict(type="GELU"),
        ffn_drop: float = 0.0,
        dropout_layer: dict | None = None,
        row_blocks: bool = True,
    ) -> None:
        super().__init__()
        self.embed_dims, self.feedforward_channels = embed_dims, feedforward_channels
        self.row_blocks = row_blocks
        drop = nn.Dropout(ffn_drop)
        self.layers = nn.Sequential(
            nn.Conv2d(embed_dims, feedforward_channels, 1),
            nn.Conv2d(feedforward_channels, feedforward_channels, 3, padding=1, groups=feedforward_channels),
            build_activation_layer(act_cfg),
            drop,
            nn.Conv2d(feedforward_channels, embed_dims, 1),
            drop,
        )
        self.dropout_layer = build_dropout(dropout_layer)

    def forward(self, x: torch.Tensor, hw_shape: tuple[int, int], identity: torch.Tensor | None = None) -> torch.Tensor:
        """(N, H*W, C) -> (N, H*W, C)."""
        if not self._tokens_path():
            out = nchw_to_nlc(self.layers(nlc_to_nchw(x, hw_shape)))
        elif self._row_blocks_path(x):
            out = self._by_row_blocks(x, hw_shape)
        else:
            out = self._on_tokens(x, hw_shape)
        return (x if identity is None else identity) + self.dropout_layer(out)

    def _tokens_path(self) -> bool:
        """The 1x1 convs are stock and unhooked, so they can run as linear layers on the tokens."""
        fc1, dw, fc2 = self.layers[0], self.layers[1], self.layers[4]
        return all(type(c) is nn.Conv2d for c in (fc1, dw, fc2)) and unhooked(fc1, dw, fc2) \
            and fc1.kernel_size == fc2.kernel_size == (1, 1) and len(self.layers) == 6

    def _row_blocks_path(self, x: torch.Tensor) -> bool:
        """Gradient-free eval on the CPU with a pointwise activation: the hidden map can be made a few rows at a time."""
        return (self.row_blocks and eager_cpu_inference(x) and not self.training and pointwise(self.layers[2])
                and unhooked(self.layers[2]))

    def _by_row_blocks(self, x: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        """:meth:`_on_tokens` computed for blocks of ~``PIXELS_PER_BLOCK`` pixels (whole image rows): each block's
        hidden (4x wider) map is made with one row of context above and below for the 3x3 depth-wise conv, so it
        stays in cache instead of going through memory four times. The same values as the whole map."""
        fc1, dw, act, _, fc2, _ = self.layers
        n, length, _ = x.shape
        h, w = hw_shape
        _check_tokens(length, h, w)
        rows_per_block = max(1, PIXELS_PER_BLOCK // w)
        w1, w2 = fc1.weight.flatten(1), fc2.weight.flatten(1).t()
        out = x.new_empty(n, length, w2.shape[1])
        for i in range(n):
            for r0 in range(0, h, rows_per_block):
                r1 = min(r0 + rows_per_block, h)
                a0, a1 = max(r0 - 1, 0), min(r1 + 1, h)  # the block's rows plus their neighbours inside the image
                hidden = F.linear(x[i, a0 * w:a1 * w], w1, fc1.bias)
                # zero padding at the block's edges only reaches the neighbour rows, which are dropped
                spatial = dw(hidden.view(1, a1 - a0, w, -1).permute(0, 3, 1, 2))[:, :, r0 - a0:r1 - a0]
                hidden = act(spatial.permute(0, 2, 3, 1).reshape((r1 - r0) * w, -1))
                torch.addmm(fc2.bias, hidden, w2, out=out[i, r0 * w:r1 * w])
        return out

    def _on_tokens(self, x: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        """The same layers without layout round trips: 1x1 convs as linear maps of the (N, L, C) tokens, and the
        depth-wise conv on the tokens viewed as a channels-last map (no copy; oneDNN's depth-wise kernel is faster
        on that layout here than on NCHW, which the plain path would copy the tokens into and out of)."""
        fc1, dw, act, drop1, fc2, drop2 = self.layers
        n, length, _ = x.shape
        h, w = hw_shape
        _check_tokens(length, h, w)
        hidden = F.linear(x, fc1.weight.flatten(1), fc1.bias)
        spatial = dw(hidden.view(n, h, w, -1).permute(0, 3, 1, 2))
        hidden = drop1(act(spatial.permute(0, 2, 3, 1).reshape(n, length, -1)))
        return drop2(F.linear(hidden, fc2.weight.flatten(1), fc2.bias))


def _check_tokens(length: int, h: int, w: int) -> None:
    """Raise ValueError unless ``length`` tokens form an ``h`` x ``w`` map."""
    if length != h * w:
        raise ValueError(f"MixFFN: {length} tokens cannot form a {h}x{w} map")


class EfficientMultiheadAttention(MultiheadAttention):
    """Self-attention whose keys/values come from the map reduced ``sr_ratio`` times by a strided conv + norm.

    Runs on ``scaled_dot_product_attention`` (through ``nn.MultiheadAttention(need_weights=False)``).
    ``x``: (N, H*W, C) with ``hw_shape`` (H, W) -> (N, H*W, C), plus the identity.
    """

    def __init__(
        self,
        embed_dims: int,
        num_heads: int,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        dropout_layer: dict | None = None,
        init_cfg: dict | None = None,
        batch_first: bool = True,
        qkv_bias: bool = False,
        norm_cfg: dict = dict(type="LN"),
        sr_ratio: int = 1,
    ) -> None:
        if not batch_first:
            raise ConfigError("EfficientMultiheadAttention: only batch_first=True (tokens as (N, L, C)) is supported")
        super().__init__(embed_dims, num_heads, attn_drop=attn_drop, proj_drop=proj_drop,
                         dropout_layer=dropout_layer, init_cfg=init_cfg, batch_first=True, qkv_bias=qkv_bias)
        self.sr_ratio = sr_ratio
        if sr_ratio > 1:
            self.sr = nn.Conv2d(embed_dims, embed_dims, kernel_size=sr_ratio, stride=sr_ratio)
            self.norm = build_norm_layer(norm_cfg, embed_dims)[1]

    def keys_values(self, x: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        """The tokens keys and values are computed from: ``x``, or ``norm(sr(x))`` (N, H*W / sr_ratio^2, C)."""
        if self.sr_ratio > 1:
            return self.norm(nchw_to_nlc(self.sr(nlc_to_nchw(x, hw_shape))))
        return x

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, hw_shape: tuple[int, int], identity: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(N, H*W, C) -> (N, H*W, C)."""
        kv = self.keys_values(x, hw_shape)
        return super().forward(x, kv, kv, identity=x if identity is None else identity)


class MiTEncoderLayer(nn.Module):
    """Pre-norm encoder layer: ``x + attn(norm1(x))``, then ``x + ffn(norm2(x))`` (MMSeg's
    ``TransformerEncoderLayer`` of mit.py). Tokens (N, H*W, C) -> (N, H*W, C)."""

    def __init__(
        self,
        embed_dims: int,
        num_heads: int,
        feedforward_channels: int,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        qkv_bias: bool = True,
        act_cfg: dict = dict(type="GELU"),
        norm_cfg: dict = dict(type="LN"),
        batch_first: bool = True,
        sr_ratio: int = 1,
        with_cp: bool = False,
        ffn_row_blocks: bool = True,
    ) -> None:
        super().__init__()
        drop_path = dict(type="DropPath", drop_prob=drop_path_rate)
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = EfficientMultiheadAttention(
            embed_dims, num_heads, attn_drop=attn_drop_rate, proj_drop=drop_rate, dropout_layer=drop_path,
            batch_first=batch_first, qkv_bias=qkv_bias, norm_cfg=norm_cfg, sr_ratio=sr_ratio)
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.ffn = MixFFN(embed_dims, feedforward_channels, act_cfg=act_cfg, ffn_drop=drop_rate,
                          dropout_layer=drop_path, row_blocks=ffn_row_blocks)
        self.with_cp = with_cp

    def forward(self, x: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        """(N, H*W, C) -> (N, H*W, C)."""

        def inner(t: torch.Tensor) -> torch.Tensor:
            t = self.attn(self.norm1(t), hw_shape, identity=t)
            return self.ffn(self.norm2(t), hw_shape, identity=t)

        if self.with_cp and x.requires_grad:
            return cp.checkpoint(inner, x, use_reentrant=False)
        return inner(x)


@MODELS.register_module()
class MixVisionTransformer(nn.Module):
    """SegFormer's hierarchical backbone: ``num_stages`` stages, stage i with ``embed_dims * num_heads[i]``
    channels at stride ``prod(strides[:i + 1])``.

    Input (N, in_channels, H, W) -> list of (N, C_i, H_i, W_i) for ``i in out_indices``, where each patch
    embedding (kernel ``patch_sizes[i]``, stride ``strides[i]``, padding ``patch_sizes[i] // 2``) divides the size.
    ``drop_path_rate`` rises linearly over all layers; ``norm_cfg`` is used for every LayerNorm
    (MMSeg's default ``LN`` with eps 1e-6). ``ffn_row_blocks`` (seglab's, default True): Mix-FFN's hidden map a
    few image rows at a time in gradient-free eager CPU forwards (:class:`MixFFN`). Other defaults are MMSeg's; MiT-B0..B5 are the argument sets of
    configs/_base_/models/segformer_mit-b0.py and configs/segformer.
    """

    def __init__(
        self,
        in_channels: int = 3,
        embed_dims: int = 64,
        num_stages: int = 4,
        num_layers: Sequence[int] = (3, 4, 6, 3),
        num_heads: Sequence[int] = (1, 2, 4, 8),
        patch_sizes: Sequence[int] = (7, 3, 3, 3),
        strides: Sequence[int] = (4, 2, 2, 2),
        sr_ratios: Sequence[int] = (8, 4, 2, 1),
        out_indices: int | Sequence[int] = (0, 1, 2, 3),
        mlp_ratio: int = 4,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        act_cfg: dict = dict(type="GELU"),
        norm_cfg: dict = dict(type="LN", eps=1e-6),
        pretrained: str | None = None,
        init_cfg: dict | list | None = None,
        with_cp: bool = False,
        ffn_row_blocks: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(ffn_row_blocks, bool):
            raise ConfigError(f"MixVisionTransformer: ffn_row_blocks must be true or false, got {ffn_row_blocks!r}")
        per_stage = dict(num_layers=num_layers, num_heads=num_heads, patch_sizes=patch_sizes, strides=strides,
                         sr_ratios=sr_ratios)
        wrong = {k: list(v) for k, v in per_stage.items() if len(v) != num_stages}
        if wrong:
            raise ConfigError(f"MixVisionTransformer: num_stages={num_stages} needs one value per stage in {wrong}")
        out_indices = (out_indices,) if isinstance(out_indices, int) else tuple(out_indices)
        if not out_indices or any(i not in range(num_stages) for i in out_indices):
            raise ConfigError(f"MixVisionTransformer: out_indices {out_indices} must be stage indices in "
                              f"[0, {num_stages})")
        self.init_cfg = resolve_init_cfg(pretrained, init_cfg, "MixVisionTransformer")
        self.embed_dims, self.num_stages = embed_dims, num_stages
        self.num_layers, self.num_heads = list(num_layers), list(num_heads)
        self.patch_sizes, self.strides, self.sr_ratios = list(patch_sizes), list(strides), list(sr_ratios)
        self.out_indices, self.with_cp = out_indices, with_cp

        # stochastic depth rises linearly from 0 to drop_path_rate over all layers
        dpr = [float(r) for r in torch.linspace(0, drop_path_rate, sum(num_layers), device="cpu")]
        self.layers = nn.ModuleList()
        cur, channels, stride, stage_channels, stage_strides = 0, in_channels, 1, [], []
        for i, depth in enumerate(num_layers):
            dims = embed_dims * num_heads[i]
            patch_embed = PatchEmbed(in_channels=channels, embed_dims=dims, kernel_size=patch_sizes[i],
                                     stride=strides[i], padding=patch_sizes[i] // 2, norm_cfg=norm_cfg)
            blocks = nn.ModuleList([
                MiTEncoderLayer(dims, num_heads[i], mlp_ratio * dims, drop_rate=drop_rate,
                                attn_drop_rate=attn_drop_rate, drop_path_rate=dpr[cur + j], qkv_bias=qkv_bias,
                                act_cfg=act_cfg, norm_cfg=norm_cfg, sr_ratio=sr_ratios[i], with_cp=with_cp,
                                ffn_row_blocks=ffn_row_blocks)
                for j in range(depth)
            ])
            self.layers.append(nn.ModuleList([patch_embed, blocks, build_norm_layer(norm_cfg, dims)[1]]))
            cur += depth
            channels = dims
            stride *= strides[i]
            stage_channels.append(dims)
            stage_strides.append(stride)
        self.out_channels = [stage_channels[i] for i in out_indices]
        self.out_strides = [stage_strides[i] for i in out_indices]

    def init_weights(self) -> bool:
        """MMSeg's init (trunc-normal Linear, N(0, sqrt(2/fan_out)) convs, unit LayerNorms) or the Pretrained
        weights; True when pretrained weights were loaded."""
        return init_segformer_style(self, self.init_cfg)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x: (N, C, H, W) -> the ``out_indices`` stage maps (N, C_i, H_i, W_i)."""
        outs = []
        for i, (patch_embed, blocks, norm) in enumerate(self.layers):
            x, hw_shape = patch_embed(x)
            for block in blocks:
                x = block(x, hw_shape)
            x = nlc_to_nchw(norm(x), hw_shape)
            if i in self.out_indices:
                outs.append(x)
        return outs
