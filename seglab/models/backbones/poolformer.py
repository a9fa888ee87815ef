"""PoolFormer from "MetaFormer is Actually What You Need for Vision" (https://arxiv.org/abs/2111.11418), as
mmpretrain builds it (MMSeg's ``mmpretrain.PoolFormer``): MetaFormer blocks whose token mixer is average
pooling minus the input.

Key layout (mmpretrain): ``patch_embed.proj``, ``network.<k>`` alternating stages
(``network.<k>.<j>.{norm1, norm2, mlp.fc1, mlp.fc2, layer_scale_1, layer_scale_2}``) and down-sampling
embeddings (``network.<k>.proj``), ``norm<k>`` for each output position ``k`` of ``network``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers import build_activation_layer, build_norm_layer
from ..layers.transformer import DropPath
from ..weight_init import load_pretrained, resolve_init_cfg
from ._arch import resolve_arch

__all__ = ["PoolFormer", "PoolFormerBlock"]

_GN1 = dict(type="GN", num_groups=1)
_ARCHS = {  # layers, embed_dims, mlp_ratios, layer_scale_init_value
    "s12": ([2, 2, 6, 2], [64, 128, 320, 512], [4, 4, 4, 4], 1e-5),
    "s24": ([4, 4, 12, 4], [64, 128, 320, 512], [4, 4, 4, 4], 1e-5),
    "s36": ([6, 6, 18, 6], [64, 128, 320, 512], [4, 4, 4, 4], 1e-6),
    "m36": ([6, 6, 18, 6], [96, 192, 384, 768], [4, 4, 4, 4], 1e-6),
    "m48": ([8, 8, 24, 8], [96, 192, 384, 768], [4, 4, 4, 4], 1e-6),
}


class _PatchEmbed(nn.Module):
    """A strided conv ``proj``: (N, C, H, W) -> (N, embed_dim, H', W')."""

    def __init__(self, patch_size: int, stride: int, padding: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=stride, padding=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class _Pooling(nn.Module):
    """Token mixer: ``avgpool(x) - x`` (padding excluded from the average)."""

    def __init__(self, pool_size: int = 3) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(pool_size, stride=1, padding=pool_size // 2, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x) - x


class _Mlp(nn.Module):
    """1x1 conv, activation, dropout, 1x1 conv, dropout."""

    def __init__(self, channels: int, hidden: int, act_cfg: dict, drop: float) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.act = build_activation_layer(act_cfg)
        self.fc2 = nn.Conv2d(hidden, channels, 1)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class PoolFormerBlock(nn.Module):
    """``x + s1 * pool_mix(norm1(x))`` then ``x + s2 * mlp(norm2(x))`` with layer scales and stochastic depth."""

    def __init__(self, dim: int, pool_size: int = 3, mlp_ratio: float = 4.0, norm_cfg: dict = _GN1,
                 act_cfg: dict = dict(type="GELU"), drop: float = 0.0, drop_path: float = 0.0,  # noqa: B006
                 layer_scale_init_value: float = 1e-5) -> None:
        super().__init__()
        self.norm1 = build_norm_layer(norm_cfg, dim)[1]
        self.token_mixer = _Pooling(pool_size)
        self.norm2 = build_norm_layer(norm_cfg, dim)[1]
        self.mlp = _Mlp(dim, int(dim * mlp_ratio), act_cfg, drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.layer_scale_1 = nn.Parameter(layer_scale_init_value * torch.ones(dim))
        self.layer_scale_2 = nn.Parameter(layer_scale_init_value * torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, C, H, W)."""
        x = x + self.drop_path(self.layer_scale_1[:, None, None] * self.token_mixer(self.norm1(x)))
        return x + self.drop_path(self.layer_scale_2[:, None, None] * self.mlp(self.norm2(x)))


@MODELS.register_module()
class PoolFormer(nn.Module):
    """PoolFormer backbone with mmpretrain's arguments; ``arch`` is a name of ``arch_settings`` or a dict with
    ``layers`` and ``embed_dims`` (optionally ``mlp_ratios``, ``layer_scale_init_value``).

    ``out_indices`` index ``network`` (0, 2, 4, 6: the four stages; odd: the down-sampling embeddings); each
    output goes through its ``norm<k>``. As in mmpretrain, ``frozen_stages >= 0`` (the default 0 included)
    freezes ``patch_embed``, and ``frozen_stages=n`` also the first ``n`` entries of ``network``.
    """

    arch_settings = {name: {"layers": a, "embed_dims": b, "mlp_ratios": c, "layer_scale_init_value": d}
                     for name, (a, b, c, d) in _ARCHS.items()}

    def __init__(
        self,
        arch: str | dict = "s12",
        pool_size: int = 3,
        norm_cfg: dict = _GN1,
        act_cfg: dict = dict(type="GELU"),  # noqa: B006 - never mutated
        in_patch_size: int = 7,
        in_stride: int = 4,
        in_pad: int = 2,
        down_patch_size: int = 3,
        down_stride: int = 2,
        down_pad: int = 1,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        out_indices: int | Sequence[int] = -1,
        frozen_stages: int = 0,
        init_cfg: dict | list | None = None,
        pretrained: str | None = None,
    ) -> None:
        super().__init__()
        arch = resolve_arch("PoolFormer", arch, self.arch_settings, ("layers", "embed_dims"))
        layers, embed_dims = list(arch["layers"]), list(arch["embed_dims"])
        mlp_ratios = list(arch.get("mlp_ratios", [4] * len(layers)))
        scale = arch.get("layer_scale_init_value", 1e-5)
        # ``pretrained`` is seglab's shorthand for a Pretrained init_cfg (mmpretrain has only init_cfg)
        self.init_cfg = resolve_init_cfg(pretrained, init_cfg, "PoolFormer")

        self.patch_embed = _PatchEmbed(in_patch_size, in_stride, in_pad, 3, embed_dims[0])
        network: list[nn.Module] = []
        channels, strides = [], []  # of each network entry
        stride = in_stride
        total = sum(layers)
        for i, depth in enumerate(layers):
            # stochastic depth grows linearly over all blocks (mmpretrain divides by total - 1)
            network.append(nn.Sequential(*[
                PoolFormerBlock(embed_dims[i], pool_size=pool_size, mlp_ratio=mlp_ratios[i], norm_cfg=norm_cfg,
                                act_cfg=act_cfg, drop=drop_rate,
                                drop_path=drop_path_rate * (j + sum(layers[:i])) / max(total - 1, 1),
                                layer_scale_init_value=scale) for j in range(depth)]))
            channels.append(embed_dims[i])
            strides.append(stride)
            if i == len(layers) - 1:
                break
            if embed_dims[i] != embed_dims[i + 1]:
                network.append(_PatchEmbed(down_patch_size, down_stride, down_pad, embed_dims[i], embed_dims[i + 1]))
                stride *= down_stride
                channels.append(embed_dims[i + 1])
                strides.append(stride)
        self.network = nn.ModuleList(network)

        indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        # mmpretrain counts negative indices from 7 (four stages and three embeddings)
        indices = [i + 7 if i < 0 else i for i in indices]
        if any(not 0 <= i < len(self.network) for i in indices):
            raise ConfigError(f"PoolFormer: out_indices {out_indices} out of range for {len(self.network)} "
                              "network entries (stages at 0, 2, 4, 6)")
        self.out_indices = indices
        for i in indices:
            self.add_module(f"norm{i}", build_norm_layer(norm_cfg, embed_dims[(i + 1) // 2])[1])
        self.out_channels = [channels[i] for i in indices]
        self.out_strides = [strides[i] for i in indices]
        self.frozen_stages = frozen_stages
        self._freeze_stages()

    def init_weights(self) -> bool:
        """Load the Pretrained ``init_cfg``; otherwise PyTorch's default init stays (mmpretrain has no other)."""
        return load_pretrained(self, self.init_cfg)

    def _freeze_stages(self) -> None:
        frozen: list[nn.Module] = [self.patch_embed] if self.frozen_stages >= 0 else []
        for i in range(self.frozen_stages):
            frozen.append(self.network[i])
            if i in self.out_indices:
                frozen.append(getattr(self, f"norm{i}"))
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> PoolFormer:
        """Set the mode; frozen parts stay in eval mode."""
        super().train(mode)
        self._freeze_stages()
        return self

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """x: (N, 3, H, W) -> the normalised maps of ``out_indices`` (N, C_k, H/s_k, W/s_k)."""
        x = self.patch_embed(x)
        outs = []
        for idx, block in enumerate(self.network):
            x = block(x)
            if idx in self.out_indices:
                outs.append(getattr(self, f"norm{idx}")(x))
        return tuple(outs)
