"""Twins-PCPVT and Twins-SVT backbones from "Twins: Revisiting the Design of Spatial Attention in Vision
Transformers" (https://arxiv.org/abs/2104.13840), with MMSeg's state-dict layout.

Each stage: a strided-conv patch embedding (``patch_embeds.<i>.{projection,norm}``), encoder layers
``layers.<i>.<j>`` and, after the stage's first layer, a conditional position encoding (PEG: a 3x3
depth-wise conv added to the tokens, ``position_encodings.<i>.proj``); ``norm_list.<i>`` closes the stage
when ``norm_after_stage``. Encoder layers are pre-norm (``norm1``, ``attn``, ``norm2``, ``ffn.layers.{0.0,1}``):
- global sub-sampled attention (GSA, every PCPVT layer and SVT's odd layers): keys/values from the map
  reduced ``sr_ratio`` times (``attn.sr``, ``attn.norm``), ``attn.attn.{in_proj_*,out_proj}``;
- locally-grouped self-attention (LSA, SVT's even layers): attention inside non-overlapping windows,
  ``attn.qkv``, ``attn.proj``.
All attention runs on ``scaled_dot_product_attention`` (tests/models/backbones/test_twins.py checks it
against the explicit softmax formula). Official Twins checkpoints convert with ``seglab convert-weights twins``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers.norm import build_norm_layer
from ..layers.transformer import FFN, PatchEmbed, build_dropout, nchw_to_nlc, nlc_to_nchw
from ..weight_init import resolve_init_cfg
from ._segformer_init import init_segformer_style
from .mit import EfficientMultiheadAttention

__all__ = ["ConditionalPositionEncoding", "GSAEncoderLayer", "GlobalSubsampledAttention", "LSAEncoderLayer",
           "LocallyGroupedSelfAttention", "PCPVT", "SVT"]

# MMSeg masks query/key pairs across the padding border with -1000 (not -inf); kept for identical outputs.
_PAD_MASK_VALUE = -1000.0


class GlobalSubsampledAttention(EfficientMultiheadAttention):
    """GSA: attention to keys/values sub-sampled ``sr_ratio`` times; returns the branch without the identity.

    ``x``: (N, H*W, C) with ``hw_shape`` (H, W) -> (N, H*W, C) = drop_path(proj_drop(attention)).
    """

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, hw_shape: tuple[int, int], identity: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(N, H*W, C) -> (N, H*W, C); ``identity`` is added when given (MMSeg's layers pass none)."""
        kv = self.keys_values(x, hw_shape)
        out = self.dropout_layer(self.proj_drop(self.attn(x, kv, kv, need_weights=False)[0]))
        return out if identity is None else identity + out


class LocallyGroupedSelfAttention(nn.Module):
    """LSA: multi-head self-attention inside non-overlapping ``window_size`` x ``window_size`` windows.

    The map is zero-padded at the bottom/right to whole windows and cropped back afterwards.
    ``x``: (N, H*W, C) with ``hw_shape`` (H, W) -> (N, H*W, C), without the identity.
    """

    def __init__(
        self,
        embed_dims: int,
        num_heads: int = 8,
        qkv_bias: bool = False,
        qk_scale: float | None = None,
        attn_drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        window_size: int = 1,
    ) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ConfigError(f"LocallyGroupedSelfAttention: embed_dims {embed_dims} is not divisible by "
                              f"num_heads {num_heads}")
        if window_size < 1:
            raise ConfigError(f"LocallyGroupedSelfAttention: window_size must be >= 1, got {window_size}")
        self.embed_dims, self.num_heads, self.window_size = embed_dims, num_heads, window_size
        self.scale = qk_scale or (embed_dims // num_heads) ** -0.5
        self.attn_drop_rate = attn_drop_rate
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop_rate)

    def padding_mask(self, hw_shape: tuple[int, int], device: torch.device | None = None) -> torch.Tensor | None:
        """Additive mask (windows, ws*ws, ws*ws): -1000 between a padded and a real token, else 0; None if unmasked.

        MMSeg marks the padded bottom rows and right columns with ``mask[-pad_b:]`` and ``mask[:, -pad_r:]``;
        when one of the two pads is 0 that slice is the whole map, every token is marked alike and nothing is
        masked. Trained checkpoints saw exactly that, so the same rule is kept: masked only when both pad.
        """
        h, w = hw_shape
        ws = self.window_size
        pad_r, pad_b = (ws - w % ws) % ws, (ws - h % ws) % ws
        if pad_r == 0 or pad_b == 0:
            return None
        hp, wp = h + pad_b, w + pad_r
        padded = torch.zeros(hp, wp, device=device)
        padded[h:, :] = 1
        padded[:, w:] = 1
        padded = padded.view(hp // ws, ws, wp // ws, ws).transpose(1, 2).reshape(-1, ws * ws)
        differs = padded[:, None, :] != padded[:, :, None]
        return torch.zeros(differs.shape, device=device).masked_fill_(differs, _PAD_MASK_VALUE)

    def forward(self, x: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        """(N, H*W, C) -> (N, H*W, C)."""
        n, length, c = x.shape
        h, w = hw_shape
        ws, heads = self.window_size, self.num_heads
        pad_r, pad_b = (ws - w % ws) % ws, (ws - h % ws) % ws
        x = F.pad(x.view(n, h, w, c), (0, 0, 0, pad_r, 0, pad_b))
        gh, gw = (h + pad_b) // ws, (w + pad_r) // ws
        windows = x.view(n, gh, ws, gw, ws, c).transpose(2, 3)  # (N, gh, gw, ws, ws, C)
        qkv = self.qkv(windows).reshape(n * gh * gw, ws * ws, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
        mask = self.padding_mask(hw_shape, x.device)
        if mask is not None:  # (windows, L, L) -> (N * windows, 1, L, L), the batch outermost
            mask = mask.to(qkv.dtype)[None, :, None].expand(n, -1, -1, -1, -1).reshape(n * gh * gw, 1, ws * ws, ws * ws)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=mask, scale=self.scale,
                                             dropout_p=self.attn_drop_rate if self.training else 0.0)
        out = out.transpose(1, 2).reshape(n, gh, gw, ws, ws, c).transpose(2, 3).reshape(n, gh * ws, gw * ws, c)
        out = out[:, :h, :w].reshape(n, length, c)
        return self.proj_drop(self.proj(out))


class _TwinsEncoderLayer(nn.Module):
    """Pre-norm layer ``x + drop_path(attn(norm1(x)))``, then ``x + drop_path(ffn(norm2(x)))``.

    As in MMSeg, the FFN (and GSA) branches apply their own DropPath before the layer's, so in training a
    branch is dropped with probability ``1 - (1 - p)^2``; in eval both are identities.
    """

    def __init__(self, attn: nn.Module, embed_dims: int, feedforward_channels: int, drop_rate: float,
                 drop_path_rate: float, num_fcs: int, act_cfg: dict, norm_cfg: dict) -> None:
        super().__init__()
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = attn
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.ffn = FFN(embed_dims=embed_dims, feedforward_channels=feedforward_channels, num_fcs=num_fcs,
                       ffn_drop=drop_rate, dropout_layer=dict(type="DropPath", drop_prob=drop_path_rate),
                       act_cfg=act_cfg, add_identity=False)
        self.drop_path = build_dropout(dict(type="DropPath", drop_prob=drop_path_rate)) if drop_path_rate > 0 \
            else nn.Identity()

    def forward(self, x: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        """(N, H*W, C) -> (N, H*W, C)."""
        x = x + self.drop_path(self.attn(self.norm1(x), hw_shape))
        return x + self.drop_path(self.ffn(self.norm2(x)))


class GSAEncoderLayer(_TwinsEncoderLayer):
    """Encoder layer with global sub-sampled attention (PCPVT's layers, SVT's odd layers)."""

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int, drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, drop_path_rate: float = 0.0, num_fcs: int = 2, qkv_bias: bool = True,
                 act_cfg: dict = dict(type="GELU"), norm_cfg: dict = dict(type="LN"),  # noqa: B006 - never mutated
                 sr_ratio: int = 1) -> None:
        attn = GlobalSubsampledAttention(
            embed_dims, num_heads, attn_drop=attn_drop_rate, proj_drop=drop_rate,
            dropout_layer=dict(type="DropPath", drop_prob=drop_path_rate), qkv_bias=qkv_bias, norm_cfg=norm_cfg,
            sr_ratio=sr_ratio)
        super().__init__(attn, embed_dims, feedforward_channels, drop_rate, drop_path_rate, num_fcs, act_cfg,
                         norm_cfg)


class LSAEncoderLayer(_TwinsEncoderLayer):
    """Encoder layer with locally-grouped self-attention (SVT's even layers)."""

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int, drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, drop_path_rate: float = 0.0, num_fcs: int = 2, qkv_bias: bool = True,
                 qk_scale: float | None = None, act_cfg: dict = dict(type="GELU"),  # noqa: B006 - never mutated
                 norm_cfg: dict = dict(type="LN"), window_size: int = 1) -> None:  # noqa: B006 - never mutated
        attn = LocallyGroupedSelfAttention(embed_dims, num_heads, qkv_bias=qkv_bias, qk_scale=qk_scale,
                                           attn_drop_rate=attn_drop_rate, proj_drop_rate=drop_rate,
                                           window_size=window_size)
        super().__init__(attn, embed_dims, feedforward_channels, drop_rate, drop_path_rate, num_fcs, act_cfg,
                         norm_cfg)


class ConditionalPositionEncoding(nn.Module):
    """PEG (https://arxiv.org/abs/2102.10882): tokens plus a 3x3 depth-wise conv of their map.

    ``x``: (N, H*W, C) with ``hw_shape`` (H, W) -> (N, H*W, C).
    """

    def __init__(self, embed_dims: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(embed_dims, embed_dims, kernel_size=3, padding=1, groups=embed_dims)

    def forward(self, x: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        """(N, H*W, C) -> (N, H*W, C)."""
        feat = nlc_to_nchw(x, hw_shape)
        return nchw_to_nlc(self.proj(feat) + feat)


def _per_stage(owner: str, num_stages: int, **lists: Sequence) -> None:
    """Fail unless every per-stage list has one value per stage (``len(depths)``)."""
    wrong = {k: list(v) for k, v in lists.items() if len(v) != num_stages}
    if wrong:
        raise ConfigError(f"{owner}: depths has {num_stages} stages, so these need {num_stages} values each: {wrong}")


@MODELS.register_module()
class PCPVT(nn.Module):
    """Twins-PCPVT: a pyramid of GSA stages with conditional position encodings.

    Input (N, in_channels, H, W) -> list of (N, embed_dims[i], H_i, W_i) for ``i in out_indices``; stage i
    has stride ``prod(strides[:i + 1])`` (patch embeddings pad the bottom/right to whole patches).
    ``norm_cfg`` is used by the patch embeddings and ``norm_list``; the encoder layers use LayerNorm and
    GELU (as in MMSeg). Defaults are MMSeg's; PCPVT-S/B/L are configs/twins.
    """

    def __init__(
        self,
        in_channels: int = 3,
        embed_dims: Sequence[int] = (64, 128, 256, 512),
        patch_sizes: Sequence[int] = (4, 2, 2, 2),
        strides: Sequence[int] = (4, 2, 2, 2),
        num_heads: Sequence[int] = (1, 2, 4, 8),
        mlp_ratios: Sequence[int] = (4, 4, 4, 4),
        out_indices: int | Sequence[int] = (0, 1, 2, 3),
        qkv_bias: bool = False,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        norm_cfg: dict = dict(type="LN"),  # noqa: B006 - never mutated
        depths: Sequence[int] = (3, 4, 6, 3),
        sr_ratios: Sequence[int] = (8, 4, 2, 1),
        norm_after_stage: bool = False,
        pretrained: str | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        num_stages = len(depths)
        _per_stage(owner, num_stages, embed_dims=embed_dims, patch_sizes=patch_sizes, strides=strides,
                   num_heads=num_heads, mlp_ratios=mlp_ratios, sr_ratios=sr_ratios)
        out_indices = (out_indices,) if isinstance(out_indices, int) else tuple(out_indices)
        if not out_indices or any(i not in range(num_stages) for i in out_indices):
            raise ConfigError(f"{owner}: out_indices {out_indices} must be stage indices in [0, {num_stages})")
        self.init_cfg = resolve_init_cfg(pretrained, init_cfg, owner)
        self.depths, self.embed_dims = list(depths), list(embed_dims)
        self.out_indices, self.norm_after_stage = out_indices, norm_after_stage
        self.num_heads, self.mlp_ratios, self.sr_ratios = list(num_heads), list(mlp_ratios), list(sr_ratios)
        self.qkv_bias, self.drop_rate, self.attn_drop_rate = qkv_bias, drop_rate, attn_drop_rate

        # registration order (patch_embeds, drops, layers, position_encodings) is MMSeg's state-dict order
        self.patch_embeds = nn.ModuleList()
        self.position_encoding_drops = nn.ModuleList()
        self.layers = nn.ModuleList()
        channels = in_channels
        for i, dims in enumerate(embed_dims):
            self.patch_embeds.append(PatchEmbed(in_channels=channels, embed_dims=dims, kernel_size=patch_sizes[i],
                                                stride=strides[i], padding="corner", norm_cfg=norm_cfg))
            self.position_encoding_drops.append(nn.Dropout(p=drop_rate))
            channels = dims
        self.position_encodings = nn.ModuleList([ConditionalPositionEncoding(dims) for dims in embed_dims])

        # stochastic depth rises linearly from 0 to drop_path_rate over all layers
        dpr = [float(r) for r in torch.linspace(0, drop_path_rate, sum(depths), device="cpu")]
        cur = 0
        for k, depth in enumerate(depths):
            self.layers.append(nn.ModuleList([
                self._build_layer(k, j, dpr[cur + j]) for j in range(depth)]))
            cur += depth
        if norm_after_stage:
            self.norm_list = nn.ModuleList([build_norm_layer(norm_cfg, dims)[1] for dims in embed_dims])

        stage_strides, stride = [], 1
        for s in strides:
            stride *= s
            stage_strides.append(stride)
        self.out_channels = [self.embed_dims[i] for i in out_indices]
        self.out_strides = [stage_strides[i] for i in out_indices]

    def _build_layer(self, stage: int, index: int, drop_path_rate: float) -> nn.Module:
        """Layer ``index`` of stage ``stage``: GSA everywhere in PCPVT."""
        dims = self.embed_dims[stage]
        return GSAEncoderLayer(dims, self.num_heads[stage], self.mlp_ratios[stage] * dims, drop_rate=self.drop_rate,
                               attn_drop_rate=self.attn_drop_rate, drop_path_rate=drop_path_rate,
                               qkv_bias=self.qkv_bias, sr_ratio=self.sr_ratios[stage])

    def init_weights(self) -> bool:
        """MMSeg's init (trunc-normal Linear, N(0, sqrt(2/fan_out)) convs, unit LayerNorms) or the Pretrained
        weights; True when pretrained weights were loaded."""
        return init_segformer_style(self, self.init_cfg)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x: (N, C, H, W) -> the ``out_indices`` stage maps (N, embed_dims[i], H_i, W_i)."""
        outs = []
        for i, (patch_embed, layers) in enumerate(zip(self.patch_embeds, self.layers)):
            x, hw_shape = patch_embed(x)
            x = self.position_encoding_drops[i](x)
            for j, layer in enumerate(layers):
                x = layer(x, hw_shape)
                if j == 0:  # the PEG follows the stage's first layer
                    x = self.position_encodings[i](x, hw_shape)
            if self.norm_after_stage:
                x = self.norm_list[i](x)
            x = nlc_to_nchw(x, hw_shape).contiguous()
            if i in self.out_indices:
                outs.append(x)
        return outs


@MODELS.register_module()
class SVT(PCPVT):
    """Twins-SVT: PCPVT whose even layers of each stage use locally-grouped attention in windows of
    ``windiow_sizes[i]`` (MMSeg's spelling), the odd ones GSA.

    Arguments are PCPVT's plus ``windiow_sizes``; shapes as PCPVT. Defaults are Twins-SVT-S's (MMSeg's
    defaults describe three stages with four ``out_indices`` and four patch sizes, which cannot build);
    ``drop_path_rate=0.2`` and ``norm_after_stage=True`` are MMSeg's.
    """

    def __init__(
        self,
        in_channels: int = 3,
        embed_dims: Sequence[int] = (64, 128, 256, 512),
        patch_sizes: Sequence[int] = (4, 2, 2, 2),
        strides: Sequence[int] = (4, 2, 2, 2),
        num_heads: Sequence[int] = (2, 4, 8, 16),
        mlp_ratios: Sequence[int] = (4, 4, 4, 4),
        out_indices: int | Sequence[int] = (0, 1, 2, 3),
        qkv_bias: bool = False,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.2,
        norm_cfg: dict = dict(type="LN"),  # noqa: B006 - never mutated
        depths: Sequence[int] = (2, 2, 10, 4),
        sr_ratios: Sequence[int] = (8, 4, 2, 1),
        windiow_sizes: Sequence[int] = (7, 7, 7, 7),
        norm_after_stage: bool = True,
        pretrained: str | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        _per_stage(type(self).__name__, len(depths), windiow_sizes=windiow_sizes)
        self.windiow_sizes = list(windiow_sizes)
        super().__init__(in_channels=in_channels, embed_dims=embed_dims, patch_sizes=patch_sizes, strides=strides,
                         num_heads=num_heads, mlp_ratios=mlp_ratios, out_indices=out_indices, qkv_bias=qkv_bias,
                         drop_rate=drop_rate, attn_drop_rate=attn_drop_rate, drop_path_rate=drop_path_rate,
                         norm_cfg=norm_cfg, depths=depths, sr_ratios=sr_ratios, norm_after_stage=norm_after_stage,
                         pretrained=pretrained, init_cfg=init_cfg)

    def _build_layer(self, stage: int, index: int, drop_path_rate: float) -> nn.Module:
        """Layer ``index`` of stage ``stage``: LSA at even indices, GSA at odd ones."""
        if index % 2:
            return super()._build_layer(stage, index, drop_path_rate)
        dims = self.embed_dims[stage]
        return LSAEncoderLayer(dims, self.num_heads[stage], self.mlp_ratios[stage] * dims, drop_rate=self.drop_rate,
                               attn_drop_rate=self.attn_drop_rate, drop_path_rate=drop_path_rate,
                               qkv_bias=self.qkv_bias, window_size=self.windiow_sizes[stage])
