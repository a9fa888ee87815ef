"""MSCAN, the SegNeXt backbone, from "SegNeXt: Rethinking Convolutional Attention Design for Semantic
Segmentation" (https://arxiv.org/abs/2209.08575). MSCAN-T/S/B/L are argument sets (configs/segnext).

Four stages of multi-scale convolutional attention: a depth-wise conv plus pairs of depth-wise strip
convolutions (1xk then kx1) whose sum, mixed by a 1x1 conv, gates the input. MMSeg's state-dict layout:
``patch_embed1.proj.{0,1,3,4}`` (two-conv stem with norms), ``patch_embed<i>.proj/norm`` (i > 1),
``block<i>.<j>.{layer_scale_1,layer_scale_2,norm1,norm2}``, ``block<i>.<j>.attn.{proj_1,proj_2}``,
``block<i>.<j>.attn.spatial_gating_unit.{conv0,conv<k>_1,conv<k>_2,conv3}``,
``block<i>.<j>.mlp.{fc1,dwconv,fc2}``, ``norm<i>`` (a LayerNorm per stage).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers import build_activation_layer, build_norm_layer
from ..layers.transformer import DropPath, to_2tuple
from ..weight_init import resolve_init_cfg
from ._segformer_init import init_segformer_style

__all__ = ["MSCAAttention", "MSCABlock", "MSCAN", "MSCASpatialAttention"]

_BN = dict(type="SyncBN", requires_grad=True)


class _Mlp(nn.Module):
    """1x1 conv, 3x3 depth-wise conv, act, dropout, 1x1 conv, dropout: (N, C, H, W) -> (N, C, H, W)."""

    def __init__(self, channels: int, hidden: int, act_cfg: dict, drop: float) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, 1, 1, groups=hidden)
        self.act = build_activation_layer(act_cfg)
        self.fc2 = nn.Conv2d(hidden, channels, 1)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.dwconv(self.fc1(x))))))


class _StemConv(nn.Module):
    """Two stride-2 3x3 convs with norms (GELU between): (N, C_in, H, W) -> tokens (N, H/4*W/4, C), (H/4, W/4)."""

    def __init__(self, in_channels: int, out_channels: int, act_cfg: dict, norm_cfg: dict) -> None:
        super().__init__()
        self.proj = nn.Sequential(
            nn.Conv2d(in_channels, out_channels // 2, 3, stride=2, padding=1),
            build_norm_layer(norm_cfg, out_channels // 2)[1],
            build_activation_layer(act_cfg),
            nn.Conv2d(out_channels // 2, out_channels, 3, stride=2, padding=1),
            build_norm_layer(norm_cfg, out_channels)[1],
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        x = self.proj(x)
        return x.flatten(2).transpose(1, 2), (x.shape[2], x.shape[3])


class _OverlapPatchEmbed(nn.Module):
    """Stride-2 3x3 conv and a norm: (N, C_in, H, W) -> tokens (N, H/2*W/2, C), (H/2, W/2)."""

    def __init__(self, in_channels: int, embed_dim: int, norm_cfg: dict, patch_size: int = 3, stride: int = 2) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dim, patch_size, stride=stride, padding=patch_size // 2)
        self.norm = build_norm_layer(norm_cfg, embed_dim)[1]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        x = self.norm(self.proj(x))
        return x.flatten(2).transpose(1, 2), (x.shape[2], x.shape[3])


class MSCAAttention(nn.Module):
    """Multi-scale convolutional attention: ``x * conv3(a + sum_k strip_k(a))`` with ``a = conv0(x)``.

    ``kernel_sizes[0]``/``paddings[0]`` configure the depth-wise ``conv0``; every further entry (a pair
    ``[1, k]``) adds a branch ``conv<k>_1`` (1 x k) then ``conv<k>_2`` (k x 1). (N, C, H, W) -> (N, C, H, W).
    """

    def __init__(
        self,
        channels: int,
        kernel_sizes: Sequence = (5, (1, 7), (1, 11), (1, 21)),
        paddings: Sequence = (2, (0, 3), (0, 5), (0, 10)),
    ) -> None:
        super().__init__()
        if len(kernel_sizes) != len(paddings) or len(kernel_sizes) < 1:
            raise ConfigError(f"MSCAAttention: attention_kernel_sizes {list(kernel_sizes)} and "
                              f"attention_kernel_paddings {list(paddings)} need the same, non-zero length")
        self.conv0 = nn.Conv2d(channels, channels, to_2tuple(kernel_sizes[0]), padding=to_2tuple(paddings[0]),
                               groups=channels)
        self.num_branches = len(kernel_sizes) - 1
        for i, (kernel, pad) in enumerate(zip(kernel_sizes[1:], paddings[1:])):
            kernel, pad = to_2tuple(kernel), to_2tuple(pad)
            self.add_module(f"conv{i}_1", nn.Conv2d(channels, channels, kernel, padding=pad, groups=channels))
            self.add_module(f"conv{i}_2", nn.Conv2d(channels, channels, kernel[::-1], padding=pad[::-1],
                                                    groups=channels))
        self.conv3 = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, C, H, W)."""
        attn = self.conv0(x)
        total = attn
        for i in range(self.num_branches):
            total = total + getattr(self, f"conv{i}_2")(getattr(self, f"conv{i}_1")(attn))
        return self.conv3(total) * x


class MSCASpatialAttention(nn.Module):
    """``x + proj_2(MSCA(act(proj_1(x))))``: (N, C, H, W) -> (N, C, H, W)."""

    def __init__(self, in_channels: int, attention_kernel_sizes: Sequence, attention_kernel_paddings: Sequence,
                 act_cfg: dict = dict(type="GELU")) -> None:
        super().__init__()
        self.proj_1 = nn.Conv2d(in_channels, in_channels, 1)
        self.activation = build_activation_layer(act_cfg)
        self.spatial_gating_unit = MSCAAttention(in_channels, attention_kernel_sizes, attention_kernel_paddings)
        self.proj_2 = nn.Conv2d(in_channels, in_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.proj_2(self.spatial_gating_unit(self.activation(self.proj_1(x))))


class MSCABlock(nn.Module):
    """``x + drop_path(ls_1 * attn(norm1(x)))``, then ``x + drop_path(ls_2 * mlp(norm2(x)))`` (layer scales 1e-2).

    Tokens (N, H*W, C) with (H, W) -> (N, H*W, C).
    """

    def __init__(
        self,
        channels: int,
        attention_kernel_sizes: Sequence = (5, (1, 7), (1, 11), (1, 21)),
        attention_kernel_paddings: Sequence = (2, (0, 3), (0, 5), (0, 10)),
        mlp_ratio: float = 4.0,
        drop: float = 0.0,
        drop_path: float = 0.0,
        act_cfg: dict = dict(type="GELU"),
        norm_cfg: dict = _BN,
    ) -> None:
        super().__init__()
        self.norm1 = build_norm_layer(norm_cfg, channels)[1]
        self.attn = MSCASpatialAttention(channels, attention_kernel_sizes, attention_kernel_paddings, act_cfg)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = build_norm_layer(norm_cfg, channels)[1]
        self.mlp = _Mlp(channels, int(channels * mlp_ratio), act_cfg, drop)
        self.layer_scale_1 = nn.Parameter(torch.full((channels,), 1e-2))
        self.layer_scale_2 = nn.Parameter(torch.full((channels,), 1e-2))

    def forward(self, x: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        """(N, H*W, C) -> (N, H*W, C)."""
        n, length, c = x.shape
        x = x.transpose(1, 2).reshape(n, c, *hw_shape)
        x = x + self.drop_path(self.layer_scale_1[:, None, None] * self.attn(self.norm1(x)))
        x = x + self.drop_path(self.layer_scale_2[:, None, None] * self.mlp(self.norm2(x)))
        return x.reshape(n, c, length).transpose(1, 2)


@MODELS.register_module()
class MSCAN(nn.Module):
    """SegNeXt's backbone: a conv stem (stride 4), then stages at strides 8, 16, 32 of MSCA blocks.

    Input (N, in_channels, H, W) -> list of all ``num_stages`` maps (N, embed_dims[i], H_i, W_i), as
    MMSeg (which has no ``out_indices``). ``drop_path_rate`` rises linearly over all blocks; ``norm_cfg``
    is the blocks' and embeddings' norm (BN-like, on NCHW); each stage ends with a LayerNorm.
    ``act_cfg`` is the blocks' activation; the stem always uses GELU, as MMSeg's. MMSeg hard-codes 3 stem
    input channels; here the stem reads ``in_channels`` (identical for 3).
    """

    def __init__(
        self,
        in_channels: int = 3,
        embed_dims: Sequence[int] = (64, 128, 256, 512),
        mlp_ratios: Sequence[float] = (4, 4, 4, 4),
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        depths: Sequence[int] = (3, 4, 6, 3),
        num_stages: int = 4,
        attention_kernel_sizes: Sequence = (5, (1, 7), (1, 11), (1, 21)),
        attention_kernel_paddings: Sequence = (2, (0, 3), (0, 5), (0, 10)),
        act_cfg: dict = dict(type="GELU"),
        norm_cfg: dict = _BN,
        pretrained: str | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__()
        per_stage = dict(embed_dims=embed_dims, mlp_ratios=mlp_ratios, depths=depths)
        short = {k: list(v) for k, v in per_stage.items() if len(v) < num_stages}
        if num_stages < 1 or short:
            raise ConfigError(f"MSCAN: num_stages={num_stages} needs at least one value per stage in {short}")
        self.init_cfg = resolve_init_cfg(pretrained, init_cfg, "MSCAN")
        self.depths, self.num_stages = list(depths), num_stages
        dpr = [float(r) for r in torch.linspace(0, drop_path_rate, sum(depths), device="cpu")]  # MMSeg sums all depths
        cur = 0
        for i in range(num_stages):
            if i == 0:
                # MMSeg's stem keeps GELU whatever act_cfg says (act_cfg reaches the blocks); so do we
                patch_embed: nn.Module = _StemConv(in_channels, embed_dims[0], dict(type="GELU"), norm_cfg)
            else:
                patch_embed = _OverlapPatchEmbed(embed_dims[i - 1], embed_dims[i], norm_cfg)
            blocks = nn.ModuleList([
                MSCABlock(embed_dims[i], attention_kernel_sizes, attention_kernel_paddings, mlp_ratio=mlp_ratios[i],
                          drop=drop_rate, drop_path=dpr[cur + j], act_cfg=act_cfg, norm_cfg=norm_cfg)
                for j in range(depths[i])
            ])
            cur += depths[i]
            self.add_module(f"patch_embed{i + 1}", patch_embed)
            self.add_module(f"block{i + 1}", blocks)
            self.add_module(f"norm{i + 1}", nn.LayerNorm(embed_dims[i]))
        self.out_channels = list(embed_dims[:num_stages])
        self.out_strides = [4 * 2**i for i in range(num_stages)]

    def init_weights(self) -> bool:
        """MMSeg's init (N(0, sqrt(2/fan_out)) convs, unit LayerNorms, trunc-normal Linear) or the Pretrained
        weights; True when pretrained weights were loaded."""
        return init_segformer_style(self, self.init_cfg)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x: (N, C, H, W) -> every stage's map (N, embed_dims[i], H_i, W_i)."""
        outs = []
        for i in range(1, self.num_stages + 1):
            x, (h, w) = getattr(self, f"patch_embed{i}")(x)
            for block in getattr(self, f"block{i}"):
                x = block(x, (h, w))
            x = getattr(self, f"norm{i}")(x)
            x = x.reshape(x.shape[0], h, w, -1).permute(0, 3, 1, 2).contiguous()
            outs.append(x)
        return outs
