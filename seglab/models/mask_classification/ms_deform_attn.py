"""Multi-scale deformable attention (Deformable DETR), written with ``grid_sample``; no compiled op.

Paper: Deformable DETR, https://arxiv.org/abs/2010.04159
Key layout (MMCV's ``MultiScaleDeformableAttention``): ``sampling_offsets``, ``attention_weights``,
``value_proj``, ``output_proj`` (each ``.weight``/``.bias``). The sampling is MMCV's
``multi_scale_deformable_attn_pytorch`` semantics: bilinear, zero padding, ``align_corners=False``, with
locations in [0, 1] image coordinates (tests/models/mask_classification/test_ms_deform_attn.py).
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ...registry import ConfigError

__all__ = ["MultiScaleDeformableAttention", "multi_scale_deformable_attn"]


def _shapes_list(spatial_shapes: torch.Tensor | Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    if isinstance(spatial_shapes, torch.Tensor):
        spatial_shapes = spatial_shapes.tolist()
    return [(int(h), int(w)) for h, w in spatial_shapes]


def multi_scale_deformable_attn(
    value: torch.Tensor,
    spatial_shapes: torch.Tensor | Sequence[Sequence[int]],
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> torch.Tensor:
    """Weighted sum of bilinear samples of every level's value map.

    value: (N, sum(H_l * W_l), heads, d); spatial_shapes: (levels, 2) as (H, W);
    sampling_locations: (N, Lq, heads, levels, points, 2) as (x, y) in [0, 1];
    attention_weights: (N, Lq, heads, levels, points). Returns (N, Lq, heads * d).
    """
    shapes = _shapes_list(spatial_shapes)
    batch, _, heads, dims = value.shape
    _, num_query, _, levels, points, _ = sampling_locations.shape
    values = value.split([h * w for h, w in shapes], dim=1)
    grids = 2 * sampling_locations - 1  # grid_sample wants [-1, 1]
    sampled = []
    for level, (h, w) in enumerate(shapes):  # a few levels; every query and point is sampled at once
        value_l = values[level].permute(0, 2, 3, 1).reshape(batch * heads, dims, h, w)
        grid_l = grids[:, :, :, level].transpose(1, 2).flatten(0, 1)  # (N*heads, Lq, points, 2)
        sampled.append(F.grid_sample(value_l, grid_l, mode="bilinear", padding_mode="zeros", align_corners=False))
    # (N*heads, d, Lq, levels, points) weighted by (N*heads, 1, Lq, levels, points)
    stacked = torch.stack(sampled, dim=-2)
    weights = attention_weights.transpose(1, 2).reshape(batch * heads, 1, num_query, levels, points)
    out = (stacked * weights).flatten(-2).sum(-1)  # (N*heads, d, Lq)
    return out.view(batch, heads * dims, num_query).transpose(1, 2).contiguous()


class MultiScaleDeformableAttention(nn.Module):
    """MMCV's residual multi-scale deformable attention: ``identity + dropout(output_proj(msda(...)))``.

    Each query predicts ``num_points`` offsets per head and level around its reference point and softmax
    weights over all levels x points. ``im2col_step`` only chunks MMCV's CUDA kernel (memory, not
    results); the ``grid_sample`` path here needs no chunking, so it has no effect.
    """

    def __init__(
        self,
        embed_dims: int = 256,
        num_heads: int = 8,
        num_levels: int = 4,
        num_points: int = 4,
        im2col_step: int = 64,
        dropout: float = 0.1,
        batch_first: bool = False,
        norm_cfg: dict | None = None,
        init_cfg: dict | None = None,
        value_proj_ratio: float = 1.0,
    ) -> None:
        super().__init__()
        if embed_dims % num_heads != 0:
            raise ConfigError(f"MultiScaleDeformableAttention: embed_dims ({embed_dims}) must be divisible by "
                              f"num_heads ({num_heads})")
        if norm_cfg is not None:
            warnings.warn("MultiScaleDeformableAttention: norm_cfg is unused (as in MMCV)", stacklevel=2)
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.num_levels = num_levels
        self.num_points = num_points
        self.im2col_step = im2col_step
        self.batch_first = batch_first
        self.norm_cfg = norm_cfg
        self.init_cfg = init_cfg
        self.dropout = nn.Dropout(dropout)
        self.sampling_offsets = nn.Linear(embed_dims, num_heads * num_levels * num_points * 2)
        self.attention_weights = nn.Linear(embed_dims, num_heads * num_levels * num_points)
        value_proj_size = int(embed_dims * value_proj_ratio)
        self.value_proj = nn.Linear(embed_dims, value_proj_size)
        self.output_proj = nn.Linear(value_proj_size, embed_dims)
        self.init_weights()

    def init_weights(self) -> None:
        """MMCV's init: offsets start on a ring of directions (one per head), growing with the point index."""
        nn.init.zeros_(self.sampling_offsets.weight)
        thetas = torch.arange(self.num_heads, dtype=torch.float32) * (2.0 * math.pi / self.num_heads)
        grid = torch.stack([thetas.cos(), thetas.sin()], -1)
        grid = (grid / grid.abs().max(-1, keepdim=True)[0]).view(self.num_heads, 1, 1, 2)
        grid = grid.repeat(1, self.num_levels, self.num_points, 1)
        grid = grid * torch.arange(1, self.num_points + 1, dtype=torch.float32).view(1, 1, -1, 1)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.view(-1))
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        for linear in (self.value_proj, self.output_proj):
            nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(linear.bias)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        identity: torch.Tensor | None = None,
        query_pos: torch.Tensor | None = None,
        key_padding_mask: torch.Tensor | None = None,
        reference_points: torch.Tensor | None = None,
        spatial_shapes: torch.Tensor | Sequence[Sequence[int]] | None = None,
        level_start_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """query: (N, Lq, C) (or (Lq, N, C) unless batch_first); value: (N, sum(H*W), C), default the query.

        reference_points: (N, Lq, levels, 2) as (x, y) in [0, 1], or (..., 4) boxes (cx, cy, w, h);
        key_padding_mask: (N, sum(H*W)), True at padded keys; ``key`` and ``level_start_index`` are
        accepted for MMCV's signature (the levels follow from ``spatial_shapes``).
        """
        if reference_points is None or spatial_shapes is None:
            raise ValueError("MultiScaleDeformableAttention needs reference_points and spatial_shapes")
        value = query if value is None else value
        identity = query if identity is None else identity
        if query_pos is not None:
            query = query + query_pos
        if not self.batch_first:
            query, value = query.transpose(0, 1), value.transpose(0, 1)
        shapes = _shapes_list(spatial_shapes)
        batch, num_query, _ = query.shape
        num_value = value.shape[1]
        if sum(h * w for h, w in shapes) != num_value:
            raise ValueError(f"spatial_shapes {shapes} give {sum(h * w for h, w in shapes)} keys, value has {num_value}")
        value = self.value_proj(value)
        if key_padding_mask is not None:
            value = value.masked_fill(key_padding_mask[..., None], 0.0)
        value = value.view(batch, num_value, self.num_heads, -1)
        offsets = self.sampling_offsets(query).view(
            batch, num_query, self.num_heads, self.num_levels, self.num_points, 2)
        weights = self.attention_weights(query).view(batch, num_query, self.num_heads, -1).softmax(-1)
        weights = weights.view(batch, num_query, self.num_heads, self.num_levels, self.num_points)
        if reference_points.shape[-1] == 2:
            # offsets are in pixels of each level: normalise by (W, H)
            normalizer = torch.tensor([[w, h] for h, w in shapes], dtype=query.dtype, device=query.device)
            locations = reference_points[:, :, None, :, None, :] + offsets / normalizer[None, None, None, :, None, :]
        elif reference_points.shape[-1] == 4:
            locations = (reference_points[:, :, None, :, None, :2]
                         + offsets / self.num_points * reference_points[:, :, None, :, None, 2:] * 0.5)
        else:
            raise ValueError(f"reference_points must end in 2 or 4 values, got {reference_points.shape[-1]}")
        output = self.output_proj(multi_scale_deformable_attn(value, shapes, locations, weights))
        if not self.batch_first:
            output = output.transpose(0, 1)
        return self.dropout(output) + identity
