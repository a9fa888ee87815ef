"""SegmenterMaskTransformerHead from "Segmenter: Transformer for Semantic Segmentation"
(https://arxiv.org/abs/2105.05633): learned class embeddings decoded jointly with the patch tokens.

Keys: ``cls_emb`` (1, num_classes, embed_dims), ``layers.<i>.*`` (ViT encoder layers), ``dec_proj``,
``patch_proj``, ``classes_proj`` (no bias), ``decoder_norm``, ``mask_norm``. There is no ``conv_seg``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS
from ..backbones.vit import TransformerEncoderLayer
from ..layers.norm import build_norm_layer
from .decode_head import BaseDecodeHead

__all__ = ["SegmenterMaskTransformerHead"]


@MODELS.register_module()
class SegmenterMaskTransformerHead(BaseDecodeHead):
    """Patch tokens and class embeddings through ``num_layers`` transformer layers; masks = cosine similarity.

    Input map (N, in_channels, h, w) -> logits (N, num_classes, h, w): the L2-normalised projected patch
    tokens times the L2-normalised projected class tokens, then LayerNorm over classes (``mask_norm``).
    Other arguments are those of :class:`BaseDecodeHead`.
    """

    def __init__(
        self,
        in_channels: int,
        num_layers: int,
        num_heads: int,
        embed_dims: int,
        mlp_ratio: int = 4,
        drop_path_rate: float = 0.1,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        num_fcs: int = 2,
        qkv_bias: bool = True,
        act_cfg: dict = dict(type="GELU"),  # noqa: B006 - never mutated
        norm_cfg: dict = dict(type="LN"),  # noqa: B006 - never mutated
        init_std: float = 0.02,
        **kwargs,
    ) -> None:
        super().__init__(in_channels=in_channels, **kwargs)
        dpr = [float(x) for x in torch.linspace(0, drop_path_rate, num_layers, device="cpu")]
        self.layers = nn.ModuleList([
            TransformerEncoderLayer(embed_dims, num_heads, mlp_ratio * embed_dims, drop_rate=drop_rate,
                                    attn_drop_rate=attn_drop_rate, drop_path_rate=dpr[i], num_fcs=num_fcs,
                                    qkv_bias=qkv_bias, act_cfg=act_cfg, norm_cfg=norm_cfg)
            for i in range(num_layers)
        ])
        self.dec_proj = nn.Linear(self.in_channels, embed_dims)
        self.cls_emb = nn.Parameter(torch.randn(1, self.num_classes, embed_dims))
        self.patch_proj = nn.Linear(embed_dims, embed_dims, bias=False)
        self.classes_proj = nn.Linear(embed_dims, embed_dims, bias=False)
        self.decoder_norm = build_norm_layer(norm_cfg, embed_dims, postfix=1)[1]
        self.mask_norm = build_norm_layer(norm_cfg, self.num_classes, postfix=2)[1]
        self.init_std = init_std
        del self.conv_seg  # the masks are the logits; no 1x1 classifier
        self.init_weights()

    def init_weights(self) -> None:
        """trunc_normal(init_std) class embeddings and Linear weights, zero biases, unit LayerNorms."""
        nn.init.trunc_normal_(self.cls_emb, std=self.init_std)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=self.init_std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Logits (N, num_classes, h, w) from the selected map (N, in_channels, h, w)."""
        x = self._transform_inputs(inputs)
        b, c, h, w = x.shape
        x = self.dec_proj(x.permute(0, 2, 3, 1).reshape(b, h * w, c))
        x = torch.cat((x, self.cls_emb.expand(b, -1, -1)), dim=1)
        for layer in self.layers:
            x = layer(x)
        x = self.decoder_norm(x)
        patches = F.normalize(self.patch_proj(x[:, :-self.num_classes]), dim=2, p=2)
        classes = F.normalize(self.classes_proj(x[:, -self.num_classes:]), dim=2, p=2)
        masks = self.mask_norm(patches @ classes.transpose(1, 2))  # (N, h*w, num_classes)
        return masks.permute(0, 2, 1).reshape(b, -1, h, w)
