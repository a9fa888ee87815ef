"""MAE backbone from "Masked Autoencoders Are Scalable Vision Learners" (https://arxiv.org/abs/2111.06377):
BEiT's layers with a plain qkv bias and an absolute position embedding, MMSeg's state-dict layout.

Keys: as :mod:`.beit` (``attn.qkv.bias`` instead of ``q_bias``/``v_bias``) plus ``pos_embed``
(1, 1 + grid_h*grid_w, C) after ``cls_token``.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ...registry import MODELS
from .beit import BEiT, BEiTTransformerEncoderLayer
from .vit import resize_pos_embed

__all__ = ["MAE"]


@MODELS.register_module()
class MAE(BEiT):
    """BEiT with an absolute position embedding (resized to the input grid when it differs) and qkv biases.

    Arguments are BEiT's without ``qv_bias``. Input (N, C, H, W) -> tuple of (N, embed_dims, H // p, W // p).
    """

    def __init__(self, img_size: int | tuple[int, int] = 224, patch_size: int = 16, in_channels: int = 3,
                 embed_dims: int = 768, num_layers: int = 12, num_heads: int = 12, mlp_ratio: int = 4,
                 out_indices: int | list[int] | tuple[int, ...] = -1, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, norm_cfg: dict = dict(type="LN"),  # noqa: B006 - never mutated
                 act_cfg: dict = dict(type="GELU"), patch_norm: bool = False,  # noqa: B006 - never mutated
                 final_norm: bool = False, num_fcs: int = 2, norm_eval: bool = False, pretrained: str | None = None,
                 init_values: float = 0.1, init_cfg: dict | list | None = None) -> None:
        super().__init__(img_size=img_size, patch_size=patch_size, in_channels=in_channels, embed_dims=embed_dims,
                         num_layers=num_layers, num_heads=num_heads, mlp_ratio=mlp_ratio, out_indices=out_indices,
                         qv_bias=False, attn_drop_rate=attn_drop_rate, drop_path_rate=drop_path_rate,
                         norm_cfg=norm_cfg, act_cfg=act_cfg, patch_norm=patch_norm, final_norm=final_norm,
                         num_fcs=num_fcs, norm_eval=norm_eval, pretrained=pretrained, init_values=init_values,
                         init_cfg=init_cfg)

    def _extra_parameters(self) -> None:
        self.num_patches = self.patch_shape[0] * self.patch_shape[1]
        self.pos_embed = nn.Parameter(torch.zeros(1, self.num_patches + 1, self.embed_dims))

    def _build_layer(self, drop_path_rate: float) -> nn.Module:
        return BEiTTransformerEncoderLayer(
            self.embed_dims, self.num_heads, self.mlp_ratio * self.embed_dims, attn_drop_rate=self.attn_drop_rate,
            drop_path_rate=drop_path_rate, num_fcs=self.num_fcs, bias=True, act_cfg=self.act_cfg,
            norm_cfg=self.norm_cfg, window_size=self.window_size, init_values=self.init_values)

    @torch.no_grad()
    def _default_init(self) -> None:
        """BEiT's init, then each layer's output projections divided by sqrt(2 * depth) (MAE's rescaling).

        As in MMSeg, ``pos_embed`` and the relative position tables start at zero.
        """
        super()._default_init()
        for layer_id, layer in enumerate(self.layers, start=1):
            layer.attn.proj.weight.div_(math.sqrt(2.0 * layer_id))
            layer.ffn.layers[1].weight.div_(math.sqrt(2.0 * layer_id))

    def _adapt_state(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        state = super()._adapt_state(state)
        pos = state.get("pos_embed")
        if pos is not None and pos.shape[1] != self.pos_embed.shape[1]:
            side = int(math.sqrt(pos.shape[1] - 1))  # MMSeg assumes a square pretraining grid
            state["pos_embed"] = resize_pos_embed(pos, self.patch_shape, (side, side), "bicubic")
        return state

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """inputs: (N, C, H, W) -> tuple of (N, embed_dims, H // p, W // p) maps."""
        x, hw_shape = self._tokens(inputs)
        pos = self.pos_embed
        if x.shape[1] != pos.shape[1]:  # MMSeg fails here; resize to the input grid instead
            pos = resize_pos_embed(pos, hw_shape, self.patch_shape, "bicubic")
        x = x + pos
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x, hw_shape)
            if i == len(self.layers) - 1 and self.final_norm:
                x = self.norm1(x)
            if i in self.out_indices:
                out = x[:, 1:]
                outs.append(out.reshape(out.shape[0], *hw_shape, -1).permute(0, 3, 1, 2).contiguous())
        return tuple(outs)
