"""BEiT backbone from "BEiT: BERT Pre-Training of Image Transformers" (https://arxiv.org/abs/2106.08254),
with MMSeg's state-dict layout.

Keys: ``cls_token``, ``patch_embed.projection``, ``layers.<i>.{gamma_1, gamma_2, ln1, attn.{q_bias, v_bias,
relative_position_bias_table, relative_position_index, qkv.weight, proj}, ln2, ffn.layers.*}``, ``ln1``
(``final_norm``). Each layer has its own relative position bias over the ``img_size // patch_size`` grid
plus three entries for the cls token (cls->token, token->cls, cls->cls) and layer scales ``gamma_1/2``.

Attention runs on ``scaled_dot_product_attention`` with the relative position bias as an additive mask.
For an input grid other than ``img_size``'s (where MMSeg fails) the bias table is resized bicubically to
the input grid; tables of another grid size in a checkpoint are resized the same way at load time
(MMSeg uses BEiT's geometric-sequence interpolation there, which needs scipy).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers.norm import build_norm_layer
from ..layers.transformer import FFN, PatchEmbed, build_dropout, to_2tuple
from ..weight_init import resolve_init_cfg
from ._transformer_init import load_adapted_state, read_pretrained_state, trunc_normal_transformer_init
from .vit import TransformerEncoderLayer, normalise_out_indices

__all__ = ["BEiT", "BEiTAttention", "BEiTTransformerEncoderLayer", "beit_relative_position_index",
           "resize_beit_relative_position_table"]

_NUM_EXTRA = 3  # table rows for cls->token, token->cls and cls->cls


def beit_relative_position_index(window_h: int, window_w: int) -> torch.Tensor:
    """(1 + Wh*Ww, 1 + Wh*Ww) index into the table; row/column 0 is the cls token."""
    coords = torch.stack(torch.meshgrid(torch.arange(window_h), torch.arange(window_w), indexing="ij")).flatten(1)
    rel = coords[:, :, None] - coords[:, None, :]
    num_relative = (2 * window_h - 1) * (2 * window_w - 1)
    index = torch.zeros((window_h * window_w + 1,) * 2, dtype=torch.long)
    index[1:, 1:] = (rel[0] + window_h - 1) * (2 * window_w - 1) + (rel[1] + window_w - 1)
    index[0, :] = num_relative  # cls -> token
    index[:, 0] = num_relative + 1  # token -> cls
    index[0, 0] = num_relative + 2  # cls -> cls
    return index


def resize_beit_relative_position_table(table: torch.Tensor, src: tuple[int, int],
                                        dst: tuple[int, int]) -> torch.Tensor:
    """Bicubic-resize the (2h-1)(2w-1) grid part of a BEiT table from window ``src`` to ``dst``; keep the 3 extras."""
    heads = table.shape[1]
    grid_src = (2 * src[0] - 1, 2 * src[1] - 1)
    grid_dst = (2 * dst[0] - 1, 2 * dst[1] - 1)
    if table.shape[0] != grid_src[0] * grid_src[1] + _NUM_EXTRA:
        raise ValueError(f"a BEiT table for window {src} has {grid_src[0] * grid_src[1] + _NUM_EXTRA} rows, "
                         f"got {table.shape[0]}")
    grid = table[:-_NUM_EXTRA].t().reshape(1, heads, *grid_src)
    grid = F.interpolate(grid, size=grid_dst, mode="bicubic", align_corners=False)
    return torch.cat((grid.reshape(heads, -1).t(), table[-_NUM_EXTRA:]), dim=0)


class BEiTAttention(nn.Module):
    """Self-attention over cls + patch tokens with a relative position bias; (N, 1 + h*w, C) -> same.

    ``bias='qv_bias'``: learned q and v biases, no k bias (BEiT); ``True``/``False``: a plain qkv bias or none.
    """

    def __init__(self, embed_dims: int, num_heads: int, window_size: tuple[int, int], bias: str | bool = "qv_bias",
                 qk_scale: float | None = None, attn_drop_rate: float = 0.0, proj_drop_rate: float = 0.0,
                 init_cfg: dict | None = None) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ConfigError(f"BEiTAttention: embed_dims {embed_dims} is not divisible by num_heads {num_heads}")
        if bias not in ("qv_bias", True, False):
            raise ConfigError(f"BEiTAttention: bias must be 'qv_bias', True or False, got {bias!r}")
        self.embed_dims, self.num_heads, self.bias = embed_dims, num_heads, bias
        self.scale = qk_scale or (embed_dims // num_heads) ** -0.5
        self.init_cfg = init_cfg
        if bias == "qv_bias":
            self.q_bias = nn.Parameter(torch.zeros(embed_dims))
            self.v_bias = nn.Parameter(torch.zeros(embed_dims))
        self.window_size = tuple(window_size)
        wh, ww = self.window_size
        self.num_relative_distance = (2 * wh - 1) * (2 * ww - 1) + _NUM_EXTRA
        self.relative_position_bias_table = nn.Parameter(torch.zeros(self.num_relative_distance, num_heads))
        self.register_buffer("relative_position_index", beit_relative_position_index(wh, ww))
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=bias is True)
        self.attn_drop_rate = attn_drop_rate
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop_rate)

    def init_weights(self) -> None:
        """trunc_normal(0.02) bias table."""
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def relative_position_bias(self, hw_shape: tuple[int, int] | None = None) -> torch.Tensor:
        """(heads, 1 + h*w, 1 + h*w) bias for a (h, w) token grid (default: the window)."""
        hw = self.window_size if hw_shape is None else tuple(hw_shape)
        if hw == self.window_size:
            table, index = self.relative_position_bias_table, self.relative_position_index
        else:
            table = resize_beit_relative_position_table(self.relative_position_bias_table, self.window_size, hw)
            index = beit_relative_position_index(*hw).to(table.device)
        n = hw[0] * hw[1] + 1
        return table[index.view(-1)].view(n, n, -1).permute(2, 0, 1)

    def forward(self, x: torch.Tensor, hw_shape: tuple[int, int] | None = None) -> torch.Tensor:
        """x: (N, 1 + h*w, C) for an (h, w) grid (default: the window) -> same shape."""
        b, n, c = x.shape
        if self.bias == "qv_bias":
            qkv_bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
            qkv = F.linear(x, self.qkv.weight, qkv_bias)
        else:
            qkv = self.qkv(x)
        q, k, v = qkv.reshape(b, n, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        bias = self.relative_position_bias(hw_shape).unsqueeze(0).expand(b, -1, -1, -1).to(q.dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias,
                                             dropout_p=self.attn_drop_rate if self.training else 0.0,
                                             scale=self.scale)
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(b, n, c)))


class BEiTTransformerEncoderLayer(TransformerEncoderLayer):
    """``x + drop_path(gamma_1 * attn(ln1(x)))`` then ``x + drop_path(gamma_2 * ffn(ln2(x)))``; (N, L, C) -> same."""

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, num_fcs: int = 2, bias: str | bool = "qv_bias",
                 act_cfg: dict = dict(type="GELU"), norm_cfg: dict = dict(type="LN"),  # noqa: B006
                 window_size: tuple[int, int] | None = None, init_values: float = 0.1) -> None:
        if window_size is None:
            raise ConfigError("BEiTTransformerEncoderLayer needs the window_size (the patch grid)")
        self._window_size, self._bias = tuple(window_size), bias
        super().__init__(embed_dims, num_heads, feedforward_channels, drop_rate=0.0, attn_drop_rate=attn_drop_rate,
                         drop_path_rate=0.0, num_fcs=num_fcs, act_cfg=act_cfg, norm_cfg=norm_cfg)
        self.drop_path = build_dropout(dict(type="DropPath", drop_prob=drop_path_rate))
        self.gamma_1 = nn.Parameter(init_values * torch.ones(embed_dims))
        self.gamma_2 = nn.Parameter(init_values * torch.ones(embed_dims))

    def build_attn(self, embed_dims: int, num_heads: int, attn_drop: float, proj_drop: float, batch_first: bool,
                   qkv_bias: bool) -> nn.Module:
        """BEiT's attention with the relative position bias."""
        return BEiTAttention(embed_dims, num_heads, self._window_size, bias=self._bias, attn_drop_rate=attn_drop,
                             proj_drop_rate=proj_drop)

    def build_ffn(self, embed_dims: int, feedforward_channels: int, num_fcs: int, ffn_drop: float,
                  drop_path_rate: float, act_cfg: dict) -> nn.Module:
        """The FFN without its own residual (the layer adds it after the layer scale)."""
        return FFN(embed_dims, feedforward_channels, num_fcs=num_fcs, ffn_drop=ffn_drop, act_cfg=act_cfg,
                   add_identity=False)

    def forward(self, x: torch.Tensor, hw_shape: tuple[int, int] | None = None) -> torch.Tensor:
        """x: (N, 1 + h*w, C) -> same shape."""
        x = x + self.drop_path(self.gamma_1 * self.attn(self.norm1(x), hw_shape))
        return x + self.drop_path(self.gamma_2 * self.ffn(self.norm2(x)))


@MODELS.register_module()
class BEiT(nn.Module):
    """Patch embedding + cls token (no absolute position embedding), then BEiT layers.

    Input (N, in_channels, H, W) -> tuple of (N, embed_dims, H // p, W // p) for the layers in ``out_indices``
    (the patch embedding has no padding: a remainder of H, W is dropped, as in MMSeg).
    """

    def __init__(
        self,
        img_size: int | Sequence[int] = 224,
        patch_size: int = 16,
        in_channels: int = 3,
        embed_dims: int = 768,
        num_layers: int = 12,
        num_heads: int = 12,
        mlp_ratio: int = 4,
        out_indices: int | Sequence[int] = -1,
        qv_bias: bool = True,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        norm_cfg: dict = dict(type="LN"),  # noqa: B006 - never mutated
        act_cfg: dict = dict(type="GELU"),  # noqa: B006 - never mutated
        patch_norm: bool = False,
        final_norm: bool = False,
        num_fcs: int = 2,
        norm_eval: bool = False,
        pretrained: str | None = None,
        init_values: float = 0.1,
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__()
        if isinstance(img_size, (list, tuple)) and len(img_size) == 1:
            img_size = img_size[0]
        self.img_size = to_2tuple(img_size)
        owner = type(self).__name__
        self.init_cfg = resolve_init_cfg(pretrained, init_cfg, owner)
        self.pretrained = pretrained
        self.in_channels, self.patch_size, self.norm_eval = in_channels, patch_size, norm_eval
        self.num_layers, self.embed_dims, self.num_heads, self.mlp_ratio = num_layers, embed_dims, num_heads, mlp_ratio
        self.attn_drop_rate, self.drop_path_rate, self.num_fcs = attn_drop_rate, drop_path_rate, num_fcs
        self.qv_bias, self.act_cfg, self.norm_cfg = qv_bias, act_cfg, norm_cfg
        self.patch_norm, self.init_values = patch_norm, init_values
        self.window_size = (self.img_size[0] // patch_size, self.img_size[1] // patch_size)
        self.patch_shape = self.window_size
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dims))
        self.patch_embed = PatchEmbed(in_channels, embed_dims, conv_type="Conv2d", kernel_size=patch_size,
                                      stride=patch_size, padding=0, norm_cfg=norm_cfg if patch_norm else None)
        dpr = [float(x) for x in torch.linspace(0, drop_path_rate, num_layers, device="cpu")]
        self.layers = nn.ModuleList([self._build_layer(dpr[i]) for i in range(num_layers)])
        self.out_indices = normalise_out_indices(out_indices, num_layers, owner)
        self.final_norm = final_norm
        if final_norm:
            self.norm1_name, norm1 = build_norm_layer(norm_cfg, embed_dims, postfix=1)
            self.add_module(self.norm1_name, norm1)
        self.out_channels = [embed_dims] * len(self.out_indices)
        self.out_strides = [patch_size] * len(self.out_indices)
        self._extra_parameters()
        self._default_init()

    def _extra_parameters(self) -> None:
        """Hook for subclasses to add parameters before the default init (MAE's position embedding)."""

    def _build_layer(self, drop_path_rate: float) -> nn.Module:
        return BEiTTransformerEncoderLayer(
            self.embed_dims, self.num_heads, self.mlp_ratio * self.embed_dims, attn_drop_rate=self.attn_drop_rate,
            drop_path_rate=drop_path_rate, num_fcs=self.num_fcs, bias="qv_bias" if self.qv_bias else False,
            act_cfg=self.act_cfg, norm_cfg=self.norm_cfg, window_size=self.window_size, init_values=self.init_values)

    @property
    def norm1(self) -> nn.Module:
        """The norm after the last layer (``final_norm``)."""
        return getattr(self, self.norm1_name)

    def _default_init(self) -> None:
        """MMSeg's init: trunc_normal(0.02) cls token and Linear weights (ffn biases ~N(0, 1e-6)), unit norms."""
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        trunc_normal_transformer_init(self, ffn_bias_std=1e-6)

    def _adapt_state(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Drop index buffers and resize relative position tables of another grid to this model's."""
        own = self.state_dict()
        for key in list(state):
            if "relative_position_index" in key:
                del state[key]
            elif "relative_position_bias_table" in key and key in own and state[key].shape != own[key].shape:
                if self.window_size[0] != self.window_size[1]:
                    raise ConfigError(f"{type(self).__name__}: resizing {key} needs a square patch grid, "
                                      f"got {self.window_size}")
                side = int(round((state[key].shape[0] - _NUM_EXTRA) ** 0.5))
                src = ((side + 1) // 2, (side + 1) // 2)
                state[key] = resize_beit_relative_position_table(state[key], src, self.window_size)
        return state

    def init_weights(self) -> bool:
        """MMSeg's init, or ``init_cfg`` Pretrained weights with relative position tables resized to this grid."""
        if isinstance(self.init_cfg, dict) and self.init_cfg.get("type") == "Pretrained":
            self._default_init()
            state, where = read_pretrained_state(self.init_cfg, type(self).__name__)
            load_adapted_state(self, self._adapt_state(state), type(self).__name__, where)
            return True
        if self.init_cfg is None:
            self._default_init()
            return False
        raise ConfigError(f"{type(self).__name__}: init_cfg supports only type='Pretrained', got {self.init_cfg!r}")

    def _tokens(self, inputs: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """Patch tokens with the cls token in front: (N, 1 + h*w, C) and (h, w)."""
        x, hw_shape = self.patch_embed(inputs)
        return torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1), hw_shape

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """inputs: (N, C, H, W) -> tuple of (N, embed_dims, H // p, W // p) maps."""
        x, hw_shape = self._tokens(inputs)
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x, hw_shape)
            if i == len(self.layers) - 1 and self.final_norm:
                x = self.norm1(x)
            if i in self.out_indices:
                out = x[:, 1:]
                outs.append(out.reshape(out.shape[0], *hw_shape, -1).permute(0, 3, 1, 2).contiguous())
        return tuple(outs)

    def train(self, mode: bool = True) -> BEiT:
        """Set train mode; with ``norm_eval`` keep the LayerNorms in eval mode (as MMSeg)."""
        super().train(mode)
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, nn.LayerNorm):
                    m.eval()
        return self
