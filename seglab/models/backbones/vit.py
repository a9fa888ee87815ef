"""Vision Transformer backbone from "An Image is Worth 16x16 Words: Transformers for Image Recognition at
Scale" (https://arxiv.org/abs/2010.11929), with MMSeg's state-dict layout.

Keys: ``cls_token``, ``pos_embed`` (1, 1 + grid_h*grid_w, C) for the ``img_size`` grid,
``patch_embed.projection[.norm]``, ``ln_pre`` (``pre_norm``), ``layers.<i>.{ln1, attn.attn.{in_proj_weight,
in_proj_bias, out_proj}, ln2, ffn.layers.*}``, ``ln1`` (``final_norm``).

The position embedding is resized (``interpolate_mode``) to the input's patch grid at run time, and a
checkpoint's embedding of another grid is resized to ``img_size``'s grid at load time. Attention is
MMCV's ``MultiheadAttention`` on ``scaled_dot_product_attention``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils import checkpoint as cp

from ...registry import MODELS, ConfigError
from ..layers import resize
from ..layers.norm import build_norm_layer
from ..layers.transformer import FFN, MultiheadAttention, PatchEmbed, to_2tuple
from ..weight_init import resolve_init_cfg
from ._transformer_init import load_adapted_state, read_pretrained_state, trunc_normal_transformer_init

__all__ = ["TransformerEncoderLayer", "VisionTransformer", "normalise_out_indices", "resize_pos_embed"]


def resize_pos_embed(pos_embed: torch.Tensor, input_shape: tuple[int, int], pos_shape: tuple[int, int],
                     mode: str) -> torch.Tensor:
    """(1, 1 + L, C) embedding of a ``pos_shape`` grid (first token: cls) -> (1, 1 + h*w, C) for ``input_shape``."""
    if pos_embed.ndim != 3:
        raise ValueError(f"pos_embed must be (1, L, C), got shape {tuple(pos_embed.shape)}")
    pos_h, pos_w = pos_shape
    cls_weight = pos_embed[:, :1]
    grid = pos_embed[:, -pos_h * pos_w:].reshape(1, pos_h, pos_w, pos_embed.shape[2]).permute(0, 3, 1, 2)
    grid = resize(grid, size=input_shape, align_corners=False, mode=mode)
    return torch.cat((cls_weight, grid.flatten(2).transpose(1, 2)), dim=1)


def normalise_out_indices(out_indices: int | Sequence[int], num_layers: int, owner: str) -> list[int]:
    """MMSeg's rule: an int is one layer (-1: the last); a list/tuple is kept. Indices must name layers."""
    if isinstance(out_indices, int):
        indices = [num_layers - 1 if out_indices == -1 else out_indices]
    elif isinstance(out_indices, (list, tuple)):
        indices = list(out_indices)
    else:
        raise ConfigError(f"{owner}: out_indices must be an int, list or tuple, got {out_indices!r}")
    if not indices or any(not isinstance(i, int) or i not in range(num_layers) for i in indices):
        raise ConfigError(f"{owner}: out_indices {out_indices!r} must be layer indices in [0, {num_layers})")
    return indices


class TransformerEncoderLayer(nn.Module):
    """Pre-norm encoder layer: ``x + attn(ln1(x))`` then ``x + ffn(ln2(x))``; (N, L, C) -> (N, L, C)."""

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int, drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, drop_path_rate: float = 0.0, num_fcs: int = 2,
                 qkv_bias: bool = True, act_cfg: dict = dict(type="GELU"),  # noqa: B006 - never mutated
                 norm_cfg: dict = dict(type="LN"), batch_first: bool = True,  # noqa: B006
                 with_cp: bool = False) -> None:
        super().__init__()
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, embed_dims, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.attn = self.build_attn(embed_dims, num_heads, attn_drop_rate, drop_rate, batch_first, qkv_bias)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, embed_dims, postfix=2)
        self.add_module(self.norm2_name, norm2)
        self.ffn = self.build_ffn(embed_dims, feedforward_channels, num_fcs, drop_rate, drop_path_rate, act_cfg)
        self.with_cp = with_cp

    def build_attn(self, embed_dims: int, num_heads: int, attn_drop: float, proj_drop: float, batch_first: bool,
                   qkv_bias: bool) -> nn.Module:
        """The attention block (MMCV's residual ``MultiheadAttention`` here)."""
        return MultiheadAttention(embed_dims, num_heads, attn_drop=attn_drop, proj_drop=proj_drop,
                                  batch_first=batch_first, qkv_bias=qkv_bias)

    def build_ffn(self, embed_dims: int, feedforward_channels: int, num_fcs: int, ffn_drop: float,
                  drop_path_rate: float, act_cfg: dict) -> nn.Module:
        """The residual feed-forward block, with stochastic depth when ``drop_path_rate > 0``."""
        return FFN(embed_dims, feedforward_channels, num_fcs=num_fcs, ffn_drop=ffn_drop, act_cfg=act_cfg,
                   dropout_layer=dict(type="DropPath", drop_prob=drop_path_rate) if drop_path_rate > 0 else None)

    @property
    def norm1(self) -> nn.Module:
        """The norm before attention."""
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        """The norm before the FFN."""
        return getattr(self, self.norm2_name)

    def _inner_forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.attn(self.norm1(x), identity=x)
        return self.ffn(self.norm2(x), identity=x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, L, C) -> (N, L, C); with ``with_cp`` activations are recomputed in backward."""
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        return self._inner_forward(x)


@MODELS.register_module()
class VisionTransformer(nn.Module):
    """Patch embedding + cls token + position embedding, then ``num_layers`` encoder layers.

    Input (N, in_channels, H, W) -> tuple of (N, embed_dims, H/p, W/p) maps (ceil with ``patch_pad='corner'``):
    the embedded input when ``out_origin``, then the layers in ``out_indices``. With ``output_cls_token``
    each entry is ``[map, cls_token (N, embed_dims)]``. ``frozen_exclude`` lists name fragments of the
    parameters that stay trainable (``['all']``: nothing frozen).
    """

    def __init__(
        self,
        img_size: int | Sequence[int] = 224,
        patch_size: int = 16,
        patch_pad: str | int = "corner",
        in_channels: int = 3,
        embed_dims: int = 768,
        num_layers: int = 12,
        num_heads: int = 12,
        mlp_ratio: int = 4,
        out_origin: bool = False,
        out_indices: int | Sequence[int] = -1,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        with_cls_token: bool = True,
        output_cls_token: bool = False,
        norm_cfg: dict = dict(type="LN"),  # noqa: B006 - never mutated
        act_cfg: dict = dict(type="GELU"),  # noqa: B006 - never mutated
        patch_norm: bool = False,
        patch_bias: bool = False,
        pre_norm: bool = False,
        final_norm: bool = False,
        interpolate_mode: str = "bicubic",
        num_fcs: int = 2,
        norm_eval: bool = False,
        with_cp: bool = False,
        frozen_exclude: Sequence[str] = ("all",),
        pretrained: str | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__()
        if isinstance(img_size, (list, tuple)) and len(img_size) == 1:
            img_size = img_size[0]
        self.img_size = to_2tuple(img_size)
        if output_cls_token and not with_cls_token:
            raise ConfigError("VisionTransformer: output_cls_token=True needs with_cls_token=True")
        if interpolate_mode not in ("nearest", "bilinear", "bicubic", "area", "nearest-exact"):
            raise ConfigError(f"VisionTransformer: interpolate_mode {interpolate_mode!r} is not a 2-D resize mode")
        self.init_cfg = resolve_init_cfg(pretrained, init_cfg, "VisionTransformer")
        self.pretrained = pretrained
        self.patch_size = patch_size
        self.interpolate_mode = interpolate_mode
        self.norm_eval, self.with_cp = norm_eval, with_cp
        self.out_origin = out_origin
        self.frozen_exclude = list(frozen_exclude)
        self.with_cls_token, self.output_cls_token = with_cls_token, output_cls_token

        self.patch_embed = PatchEmbed(in_channels, embed_dims, conv_type="Conv2d", kernel_size=patch_size,
                                      stride=patch_size, padding=patch_pad, bias=patch_bias,
                                      norm_cfg=norm_cfg if patch_norm else None)
        self.pos_grid = (self.img_size[0] // patch_size, self.img_size[1] // patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dims))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.pos_grid[0] * self.pos_grid[1] + 1, embed_dims))
        self.drop_after_pos = nn.Dropout(p=drop_rate)
        self.pre_norm = pre_norm
        if pre_norm:
            self.pre_ln_name, pre_ln = build_norm_layer(norm_cfg, embed_dims, postfix="_pre")
            self.add_module(self.pre_ln_name, pre_ln)
        self.out_indices = normalise_out_indices(out_indices, num_layers, "VisionTransformer")

        dpr = [float(x) for x in torch.linspace(0, drop_path_rate, num_layers, device="cpu")]
        self.layers = nn.ModuleList([
            TransformerEncoderLayer(embed_dims, num_heads, mlp_ratio * embed_dims, drop_rate=drop_rate,
                                    attn_drop_rate=attn_drop_rate, drop_path_rate=dpr[i], num_fcs=num_fcs,
                                    qkv_bias=qkv_bias, act_cfg=act_cfg, norm_cfg=norm_cfg, with_cp=with_cp)
            for i in range(num_layers)
        ])
        self.final_norm = final_norm
        if final_norm:
            self.norm1_name, norm1 = build_norm_layer(norm_cfg, embed_dims, postfix=1)
            self.add_module(self.norm1_name, norm1)
        num_outs = len(self.out_indices) + int(out_origin)
        self.out_channels = [embed_dims] * num_outs
        self.out_strides = [patch_size] * num_outs
        self._default_init()
        self._freeze()

    @property
    def pre_ln(self) -> nn.Module:
        """The norm before the first layer (``pre_norm``)."""
        return getattr(self, self.pre_ln_name)

    @property
    def norm1(self) -> nn.Module:
        """The norm after the last layer (``final_norm``)."""
        return getattr(self, self.norm1_name)

    def _default_init(self) -> None:
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        trunc_normal_transformer_init(self, ffn_bias_std=1e-6)

    def init_weights(self) -> bool:
        """MMSeg's init, or ``init_cfg`` Pretrained weights with ``pos_embed`` resized to the ``img_size`` grid.

        ``type='Pretrained_Part'`` takes the weights under ``image_encoder.`` (as MMSeg does for SAN).
        """
        kind = self.init_cfg.get("type") if isinstance(self.init_cfg, dict) else None
        if kind not in ("Pretrained", "Pretrained_Part"):
            if self.init_cfg is not None:
                raise ConfigError("VisionTransformer: init_cfg supports type='Pretrained' or 'Pretrained_Part', "
                                  f"got {self.init_cfg!r}")
            self._default_init()
            return False
        cfg = dict(self.init_cfg, prefix="image_encoder.") if kind == "Pretrained_Part" else self.init_cfg
        state, where = read_pretrained_state(cfg, "VisionTransformer")
        pos = state.get("pos_embed")
        if pos is not None and pos.shape != self.pos_embed.shape:
            side = int(math.sqrt(pos.shape[1] - 1))  # MMSeg assumes a square pretraining grid
            state["pos_embed"] = resize_pos_embed(pos, self.pos_grid, (side, side), self.interpolate_mode)
        load_adapted_state(self, state, "VisionTransformer", where)
        return True

    def _freeze(self) -> None:
        if "all" in self.frozen_exclude:
            return
        for name, param in self.named_parameters():
            if not any(exclude in name for exclude in self.frozen_exclude):
                param.requires_grad = False

    def _pos_embedding(self, tokens: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        """Add ``pos_embed`` to (N, 1 + h*w, C) tokens, resizing it from the ``img_size`` grid when needed."""
        pos_embed = self.pos_embed
        if tokens.shape[1] != pos_embed.shape[1]:
            pos_embed = resize_pos_embed(pos_embed, hw_shape, self.pos_grid, self.interpolate_mode)
        return self.drop_after_pos(tokens + pos_embed)

    def _as_output(self, x: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor | list[torch.Tensor]:
        out = x[:, 1:] if self.with_cls_token else x
        n, _, c = out.shape
        out = out.reshape(n, hw_shape[0], hw_shape[1], c).permute(0, 3, 1, 2).contiguous()
        return [out, x[:, 0]] if self.output_cls_token else out

    def forward(self, inputs: torch.Tensor) -> tuple:
        """inputs: (N, C, H, W) -> tuple of maps (N, embed_dims, h, w) (see the class doc)."""
        x, hw_shape = self.patch_embed(inputs)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = self._pos_embedding(x, hw_shape)
        if not self.with_cls_token:
            x = x[:, 1:]
        if self.pre_norm:
            x = self.pre_ln(x)
        outs = []
        if self.out_origin:
            outs.append(self._as_output(x, hw_shape))
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i == len(self.layers) - 1 and self.final_norm:
                x = self.norm1(x)
            if i in self.out_indices:
                outs.append(self._as_output(x, hw_shape))
        return tuple(outs)

    def train(self, mode: bool = True) -> VisionTransformer:
        """Set train mode; with ``norm_eval`` keep norm layers in eval mode (as MMSeg: LayerNorms)."""
        super().train(mode)
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, (nn.LayerNorm, _BatchNorm)):
                    m.eval()
        return self
