"""DETR / Deformable-DETR / Mask2Former transformer encoders and decoders (mmdet 3.x layout, batch first).

Key layout (mmdet): encoder layer ``self_attn``, ``ffn``, ``norms.{0,1}``; decoder layer ``self_attn``,
``cross_attn``, ``ffn``, ``norms.{0,1,2}``; decoder ``layers.{i}`` and ``post_norm``. Attention is
``seglab.models.layers.transformer.MultiheadAttention`` (SDPA) or ``MultiScaleDeformableAttention``.
Order inside a layer: DETR decoder self -> cross -> FFN; Mask2Former decoder cross (masked) -> self -> FFN;
each followed by its norm (post-norm).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from ...registry import ConfigError
from ..layers.norm import build_norm_layer
from ..layers.transformer import FFN, MultiheadAttention
from .ms_deform_attn import MultiScaleDeformableAttention

__all__ = [
    "DeformableDetrTransformerEncoder", "DeformableDetrTransformerEncoderLayer", "DetrTransformerDecoder",
    "DetrTransformerDecoderLayer", "DetrTransformerEncoder", "DetrTransformerEncoderLayer",
    "Mask2FormerTransformerDecoder", "Mask2FormerTransformerDecoderLayer", "Mask2FormerTransformerEncoder",
]

_LN = dict(type="LN")


def _attn_cfg(cfg: dict | None, where: str, default: dict) -> dict:
    """A copy of an attention config with mmdet's rules: batch_first must be True; MMCV's old ``dropout``
    name means ``attn_drop``."""
    cfg = dict(default if cfg is None else cfg)
    if not cfg.setdefault("batch_first", True):
        raise ConfigError(f"{where}: batch_first must be True (every mmdet DETR layer is batch first)")
    if "dropout" in cfg:
        cfg["attn_drop"] = cfg.pop("dropout")
    return cfg


def _norm(cfg: dict | None, dims: int) -> nn.Module:
    return build_norm_layer(_LN if cfg is None else cfg, dims)[1]


class DetrTransformerEncoderLayer(nn.Module):
    """Self-attention -> norm -> FFN -> norm on tokens (N, L, C)."""

    def __init__(self, self_attn_cfg: dict | None = None, ffn_cfg: dict | None = None,
                 norm_cfg: dict | None = _LN, init_cfg: dict | None = None) -> None:
        super().__init__()
        self.init_cfg = init_cfg
        self.self_attn = MultiheadAttention(**_attn_cfg(self_attn_cfg, "self_attn_cfg",
                                                        dict(embed_dims=256, num_heads=8)))
        self.embed_dims = self.self_attn.embed_dims
        self.ffn = FFN(**(ffn_cfg or dict(embed_dims=256, feedforward_channels=1024)))
        self.norms = nn.ModuleList([_norm(norm_cfg, self.embed_dims) for _ in range(2)])

    def forward(self, query: torch.Tensor, query_pos: torch.Tensor | None,
                key_padding_mask: torch.Tensor | None) -> torch.Tensor:
        """query, query_pos: (N, L, C); key_padding_mask: (N, L), True at padding."""
        query = self.self_attn(query, query, query, query_pos=query_pos, key_pos=query_pos,
                               key_padding_mask=key_padding_mask)
        return self.norms[1](self.ffn(self.norms[0](query)))


class DetrTransformerEncoder(nn.Module):
    """A stack of ``num_layers`` encoder layers; the first ``num_cp`` use activation checkpointing."""

    layer_type: type[nn.Module] = DetrTransformerEncoderLayer

    def __init__(self, num_layers: int, layer_cfg: dict, num_cp: int = -1, init_cfg: dict | None = None) -> None:
        super().__init__()
        if num_cp > num_layers:
            raise ConfigError(f"num_cp ({num_cp}) must not exceed num_layers ({num_layers})")
        self.num_layers = num_layers
        self.num_cp = num_cp
        self.init_cfg = init_cfg
        self.layers = nn.ModuleList([self.layer_type(**layer_cfg) for _ in range(num_layers)])
        self.embed_dims = self.layers[0].embed_dims

    def _run(self, index: int, layer: nn.Module, **kwargs) -> torch.Tensor:
        if index < self.num_cp and self.training and torch.is_grad_enabled():
            # Recompute the layer in backward instead of keeping its activations (fairscale's wrapper in mmdet).
            return checkpoint(lambda: layer(**kwargs), use_reentrant=False)
        return layer(**kwargs)

    def forward(self, query: torch.Tensor, query_pos: torch.Tensor | None,
                key_padding_mask: torch.Tensor | None) -> torch.Tensor:
        """query: (N, L, C) -> (N, L, C)."""
        for i, layer in enumerate(self.layers):
            query = self._run(i, layer, query=query, query_pos=query_pos, key_padding_mask=key_padding_mask)
        return query


class DeformableDetrTransformerEncoderLayer(nn.Module):
    """Multi-scale deformable self-attention -> norm -> FFN -> norm on the tokens of all levels."""

    def __init__(self, self_attn_cfg: dict | None = None, ffn_cfg: dict | None = None,
                 norm_cfg: dict | None = _LN, init_cfg: dict | None = None) -> None:
        super().__init__()
        self.init_cfg = init_cfg
        cfg = dict(self_attn_cfg or dict(embed_dims=256, num_heads=8))
        if not cfg.setdefault("batch_first", True):
            raise ConfigError("self_attn_cfg: batch_first must be True (every mmdet DETR layer is batch first)")
        self.self_attn = MultiScaleDeformableAttention(**cfg)
        self.embed_dims = self.self_attn.embed_dims
        self.ffn = FFN(**(ffn_cfg or dict(embed_dims=256, feedforward_channels=1024)))
        self.norms = nn.ModuleList([_norm(norm_cfg, self.embed_dims) for _ in range(2)])

    def forward(self, query: torch.Tensor, query_pos: torch.Tensor | None, key_padding_mask: torch.Tensor | None,
                reference_points: torch.Tensor, spatial_shapes: torch.Tensor | list,
                level_start_index: torch.Tensor | None = None, valid_ratios: torch.Tensor | None = None) -> torch.Tensor:
        """query: (N, L, C) over all levels; reference_points: (N, L, levels, 2)."""
        query = self.self_attn(query=query, key=query, value=query, query_pos=query_pos,
                               key_padding_mask=key_padding_mask, reference_points=reference_points,
                               spatial_shapes=spatial_shapes, level_start_index=level_start_index)
        return self.norms[1](self.ffn(self.norms[0](query)))


class DeformableDetrTransformerEncoder(DetrTransformerEncoder):
    """Deformable-DETR encoder; reference points are each token's own centre in every level."""

    layer_type = DeformableDetrTransformerEncoderLayer

    @staticmethod
    def get_encoder_reference_points(spatial_shapes: list[tuple[int, int]], valid_ratios: torch.Tensor,
                                     device: torch.device | str) -> torch.Tensor:
        """Pixel centres of every level in [0, 1], scaled by ``valid_ratios`` (N, levels, 2): (N, L, levels, 2)."""
        points = []
        for level, (h, w) in enumerate(spatial_shapes):
            ref_y, ref_x = torch.meshgrid(torch.linspace(0.5, h - 0.5, h, dtype=torch.float32, device=device),
                                          torch.linspace(0.5, w - 0.5, w, dtype=torch.float32, device=device),
                                          indexing="ij")
            ref_y = ref_y.reshape(-1)[None] / (valid_ratios[:, None, level, 1] * h)
            ref_x = ref_x.reshape(-1)[None] / (valid_ratios[:, None, level, 0] * w)
            points.append(torch.stack((ref_x, ref_y), -1))
        return torch.cat(points, 1)[:, :, None] * valid_ratios[:, None]

    def forward(self, query: torch.Tensor, query_pos: torch.Tensor | None, key_padding_mask: torch.Tensor | None,
                spatial_shapes: torch.Tensor | list, level_start_index: torch.Tensor | None,
                valid_ratios: torch.Tensor, reference_points: torch.Tensor | None = None) -> torch.Tensor:
        """query: (N, L, C) over all levels -> (N, L, C)."""
        if reference_points is None:
            shapes = spatial_shapes.tolist() if isinstance(spatial_shapes, torch.Tensor) else spatial_shapes
            reference_points = self.get_encoder_reference_points(shapes, valid_ratios, query.device)
        for i, layer in enumerate(self.layers):
            query = self._run(i, layer, query=query, query_pos=query_pos, key_padding_mask=key_padding_mask,
                              reference_points=reference_points, spatial_shapes=spatial_shapes,
                              level_start_index=level_start_index, valid_ratios=valid_ratios)
        return query


class Mask2FormerTransformerEncoder(DeformableDetrTransformerEncoder):
    """The pixel decoder's encoder in Mask2Former: the caller gives the reference points."""

    def forward(self, query: torch.Tensor, query_pos: torch.Tensor | None, key_padding_mask: torch.Tensor | None,
                spatial_shapes: torch.Tensor | list, level_start_index: torch.Tensor | None,
                valid_ratios: torch.Tensor, reference_points: torch.Tensor | None = None) -> torch.Tensor:
        """query: (N, L, C); reference_points: (N, L, levels, 2) -> (N, L, C)."""
        if reference_points is None:
            raise ValueError("Mask2FormerTransformerEncoder needs reference_points")
        return super().forward(query, query_pos, key_padding_mask, spatial_shapes, level_start_index,
                               valid_ratios, reference_points)


_DEFAULT_ATTN = dict(embed_dims=256, num_heads=8, attn_drop=0.0, batch_first=True)


class DetrTransformerDecoderLayer(nn.Module):
    """Self-attention -> norm -> cross-attention -> norm -> FFN -> norm on queries (N, Q, C)."""

    def __init__(self, self_attn_cfg: dict | None = None, cross_attn_cfg: dict | None = None,
                 ffn_cfg: dict | None = None, norm_cfg: dict | None = _LN, init_cfg: dict | None = None) -> None:
        super().__init__()
        self.init_cfg = init_cfg
        self.self_attn = MultiheadAttention(**_attn_cfg(self_attn_cfg, "self_attn_cfg", _DEFAULT_ATTN))
        self.cross_attn = MultiheadAttention(**_attn_cfg(cross_attn_cfg, "cross_attn_cfg", _DEFAULT_ATTN))
        self.embed_dims = self.self_attn.embed_dims
        self.ffn = FFN(**(ffn_cfg or dict(embed_dims=256, feedforward_channels=1024)))
        self.norms = nn.ModuleList([_norm(norm_cfg, self.embed_dims) for _ in range(3)])

    def forward(self, query: torch.Tensor, key: torch.Tensor | None = None, value: torch.Tensor | None = None,
                query_pos: torch.Tensor | None = None, key_pos: torch.Tensor | None = None,
                self_attn_mask: torch.Tensor | None = None, cross_attn_mask: torch.Tensor | None = None,
                key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """query: (N, Q, C); key/value: (N, L, C); masks True where attention is not allowed."""
        query = self.self_attn(query, query, query, query_pos=query_pos, key_pos=query_pos, attn_mask=self_attn_mask)
        query = self.norms[0](query)
        query = self.cross_attn(query, key, value, query_pos=query_pos, key_pos=key_pos, attn_mask=cross_attn_mask,
                                key_padding_mask=key_padding_mask)
        return self.norms[2](self.ffn(self.norms[1](query)))


class Mask2FormerTransformerDecoderLayer(DetrTransformerDecoderLayer):
    """Masked cross-attention -> norm -> self-attention -> norm -> FFN -> norm (Mask2Former's order)."""

    def forward(self, query: torch.Tensor, key: torch.Tensor | None = None, value: torch.Tensor | None = None,
                query_pos: torch.Tensor | None = None, key_pos: torch.Tensor | None = None,
                self_attn_mask: torch.Tensor | None = None, cross_attn_mask: torch.Tensor | None = None,
                key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """query: (N, Q, C); key/value: (N, L, C); cross_attn_mask: (N * heads, Q, L), True = masked out."""
        query = self.cross_attn(query, key, value, query_pos=query_pos, key_pos=key_pos, attn_mask=cross_attn_mask,
                                key_padding_mask=key_padding_mask)
        query = self.norms[0](query)
        query = self.self_attn(query, query, query, query_pos=query_pos, key_pos=query_pos, attn_mask=self_attn_mask)
        return self.norms[2](self.ffn(self.norms[1](query)))


class DetrTransformerDecoder(nn.Module):
    """``num_layers`` decoder layers and a shared ``post_norm``; returns every layer's normed output."""

    layer_type: type[nn.Module] = DetrTransformerDecoderLayer

    def __init__(self, num_layers: int, layer_cfg: dict, post_norm_cfg: dict | None = _LN,
                 return_intermediate: bool = True, init_cfg: dict | None = None) -> None:
        super().__init__()
        if post_norm_cfg is None:
            raise ConfigError("post_norm_cfg must be a norm config (mmdet builds the post norm unconditionally)")
        self.num_layers = num_layers
        self.return_intermediate = return_intermediate
        self.init_cfg = init_cfg
        self.layers = nn.ModuleList([self.layer_type(**layer_cfg) for _ in range(num_layers)])
        self.embed_dims = self.layers[0].embed_dims
        self.post_norm = build_norm_layer(post_norm_cfg, self.embed_dims)[1]

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, query_pos: torch.Tensor | None,
                key_pos: torch.Tensor | None, key_padding_mask: torch.Tensor | None) -> torch.Tensor:
        """query: (N, Q, C) -> (layers, N, Q, C) with ``return_intermediate``, else (1, N, Q, C)."""
        intermediate = []
        for layer in self.layers:
            query = layer(query, key=key, value=value, query_pos=query_pos, key_pos=key_pos,
                          key_padding_mask=key_padding_mask)
            if self.return_intermediate:
                intermediate.append(self.post_norm(query))
        if self.return_intermediate:
            return torch.stack(intermediate)
        return self.post_norm(query).unsqueeze(0)


class Mask2FormerTransformerDecoder(DetrTransformerDecoder):
    """Mask2Former's decoder: its layers are driven one by one by the head (masked attention per level)."""

    layer_type = Mask2FormerTransformerDecoderLayer
