"""Swin Transformer backbone from "Swin Transformer: Hierarchical Vision Transformer using Shifted Windows"
(https://arxiv.org/abs/2103.14030), with MMSeg's state-dict layout.

Keys: ``patch_embed.projection/norm``; ``stages.<i>.blocks.<j>.{norm1, attn.w_msa.{relative_position_bias_table,
relative_position_index, qkv, proj}, norm2, ffn.layers.{0.0,1}}``; ``stages.<i>.downsample.{norm, reduction}``
(PatchMerging, all stages but the last); ``norm<i>`` for each output; ``absolute_pos_embed`` when used.

Window attention runs on ``scaled_dot_product_attention`` with the relative position bias (plus the
shifted-window mask) as an additive float mask, which equals the explicit softmax formula
(tests/models/backbones/test_swin.py).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils import checkpoint as cp

from ...registry import MODELS, ConfigError
from ..layers.norm import build_norm_layer
from ..layers.transformer import FFN, PatchEmbed, PatchMerging, build_dropout, to_2tuple
from ..weight_init import resolve_init_cfg
from ._transformer_init import load_adapted_state, read_pretrained_state, trunc_normal_transformer_init

__all__ = ["ShiftWindowMSA", "SwinBlock", "SwinBlockSequence", "SwinTransformer", "WindowMSA",
           "resize_relative_position_bias_table"]

# MMSeg masks tokens from different shifted regions with -100 (not -inf); kept for identical outputs.
_SHIFT_MASK_VALUE = -100.0


def _relative_position_index(window_h: int, window_w: int) -> torch.Tensor:
    """(Wh*Ww, Wh*Ww) index into the (2Wh-1)*(2Ww-1) bias table for every (query, key) pair in a window."""
    coords = torch.stack(torch.meshgrid(torch.arange(window_h), torch.arange(window_w), indexing="ij")).flatten(1)
    rel = coords[:, :, None] - coords[:, None, :]  # (2, N, N): query minus key
    return (rel[0] + window_h - 1) * (2 * window_w - 1) + (rel[1] + window_w - 1)


def resize_relative_position_bias_table(table: torch.Tensor, length: int) -> torch.Tensor:
    """Bicubic-resize a square (L1, heads) bias table to (``length``, heads), as MMSeg does at load time."""
    l1, heads = table.shape
    s1, s2 = int(l1 ** 0.5), int(length ** 0.5)
    if s1 * s1 != l1 or s2 * s2 != length:
        raise ValueError(f"relative position tables must be square to resize: {l1} -> {length} entries")
    grid = table.permute(1, 0).reshape(1, heads, s1, s1)
    return F.interpolate(grid, size=(s2, s2), mode="bicubic").view(heads, length).permute(1, 0).contiguous()


class WindowMSA(nn.Module):
    """Multi-head self-attention inside windows with a learned relative position bias.

    x: (num_windows*N, Wh*Ww, C); mask: None or (num_windows, Wh*Ww, Wh*Ww) additive -> same shape as x.
    """

    def __init__(self, embed_dims: int, num_heads: int, window_size: tuple[int, int], qkv_bias: bool = True,
                 qk_scale: float | None = None, attn_drop_rate: float = 0.0, proj_drop_rate: float = 0.0,
                 init_cfg: dict | None = None) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ConfigError(f"WindowMSA: embed_dims {embed_dims} is not divisible by num_heads {num_heads}")
        self.embed_dims, self.num_heads = embed_dims, num_heads
        self.window_size = tuple(window_size)
        self.scale = qk_scale or (embed_dims // num_heads) ** -0.5
        self.init_cfg = init_cfg
        wh, ww = self.window_size
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * wh - 1) * (2 * ww - 1), num_heads))
        self.register_buffer("relative_position_index", _relative_position_index(wh, ww))
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.attn_drop_rate = attn_drop_rate
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop_rate)

    def init_weights(self) -> None:
        """trunc_normal(0.02) bias table (the Linear layers are initialised by the backbone)."""
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def relative_position_bias(self) -> torch.Tensor:
        """(heads, Wh*Ww, Wh*Ww) bias gathered from the table."""
        n = self.window_size[0] * self.window_size[1]
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
        return bias.permute(2, 0, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Attend within each window: x (B*nW, N, C), mask (nW, N, N) or None -> (B*nW, N, C)."""
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        bias = self.relative_position_bias().unsqueeze(0)  # (1, heads, N, N)
        if mask is not None:
            nw = mask.shape[0]
            # (B, nW, heads, N, N) -> (B*nW, heads, N, N): window w of every image gets mask[w].
            bias = (bias.unsqueeze(0) + mask[None, :, None]).expand(b // nw, -1, -1, -1, -1).reshape(b, -1, n, n)
        else:
            bias = bias.expand(b, -1, -1, -1)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype),
                                             dropout_p=self.attn_drop_rate if self.training else 0.0,
                                             scale=self.scale)
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(b, n, c)))


def window_partition(x: torch.Tensor, window_size: int) -> torch.Tensor:
    """(N, H, W, C) with H, W multiples of the window -> (N*nW, window_size, window_size, C)."""
    n, h, w, c = x.shape
    x = x.view(n, h // window_size, window_size, w // window_size, window_size, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window_size, window_size, c)


def window_reverse(windows: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: (N*nW, ws, ws, C) -> (N, H, W, C)."""
    ws = windows.shape[1]
    n = windows.shape[0] // ((h // ws) * (w // ws))
    x = windows.view(n, h // ws, w // ws, ws, ws, -1)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(n, h, w, -1)


def shifted_window_mask(h: int, w: int, window_size: int, shift_size: int, device: torch.device) -> torch.Tensor:
    """(nW, ws*ws, ws*ws) additive mask: tokens of different regions after the cyclic shift may not attend."""
    def region(size: int) -> torch.Tensor:
        """Region id (0, 1, 2) of each row/column after the cyclic shift."""
        ids = torch.zeros(size, dtype=torch.long, device=device)
        ids[size - window_size:size - shift_size] = 1
        ids[size - shift_size:] = 2
        return ids

    img = (region(h)[:, None] * 3 + region(w)[None, :]).to(torch.float32)  # 9 region labels
    windows = window_partition(img[None, :, :, None], window_size).view(-1, window_size * window_size)
    diff = windows.unsqueeze(1) - windows.unsqueeze(2)
    return torch.zeros_like(diff).masked_fill(diff != 0, _SHIFT_MASK_VALUE)


class ShiftWindowMSA(nn.Module):
    """(Shifted) window attention over a token map: (N, H*W, C) and (H, W) -> (N, H*W, C).

    The map is zero-padded on the right/bottom to a multiple of the window (padded tokens take part in
    attention, as in MMSeg); with ``shift_size > 0`` it is cyclically shifted and cross-region pairs masked.
    """

    def __init__(self, embed_dims: int, num_heads: int, window_size: int, shift_size: int = 0,
                 qkv_bias: bool = True, qk_scale: float | None = None, attn_drop_rate: float = 0.0,
                 proj_drop_rate: float = 0.0, dropout_layer: dict | None = dict(type="DropPath", drop_prob=0.0),  # noqa: B006
                 init_cfg: dict | None = None) -> None:
        super().__init__()
        if not 0 <= shift_size < window_size:
            raise ConfigError(f"ShiftWindowMSA: shift_size {shift_size} must be in [0, window_size={window_size})")
        self.window_size, self.shift_size = window_size, shift_size
        self.init_cfg = init_cfg
        self.w_msa = WindowMSA(embed_dims, num_heads, to_2tuple(window_size), qkv_bias=qkv_bias, qk_scale=qk_scale,
                               attn_drop_rate=attn_drop_rate, proj_drop_rate=proj_drop_rate)
        self.drop = build_dropout(dropout_layer)

    def forward(self, query: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        """query: (N, H*W, C) tokens of an (H, W) map -> (N, H*W, C)."""
        b, length, c = query.shape
        h, w = hw_shape
        if length != h * w:
            raise ValueError(f"ShiftWindowMSA: {length} tokens do not form the given {h}x{w} map")
        ws = self.window_size
        x = query.view(b, h, w, c)
        pad_r, pad_b = (ws - w % ws) % ws, (ws - h % ws) % ws
        x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        hp, wp = x.shape[1], x.shape[2]
        mask = None
        if self.shift_size > 0:
            x = torch.roll(x, shifts=(-self.shift_size, -self.shift_size), dims=(1, 2))
            mask = shifted_window_mask(hp, wp, ws, self.shift_size, x.device)
        windows = window_partition(x, ws).view(-1, ws * ws, c)
        x = window_reverse(self.w_msa(windows, mask=mask).view(-1, ws, ws, c), hp, wp)
        if self.shift_size > 0:
            x = torch.roll(x, shifts=(self.shift_size, self.shift_size), dims=(1, 2))
        x = x[:, :h, :w, :].reshape(b, h * w, c)
        return self.drop(x)


class SwinBlock(nn.Module):
    """``x + drop(W-MSA(norm1(x)))`` then ``x + drop(FFN(norm2(x)))``; (N, H*W, C) -> same."""

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int, window_size: int = 7,
                 shift: bool = False, qkv_bias: bool = True, qk_scale: float | None = None, drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                 act_cfg: dict = dict(type="GELU"), norm_cfg: dict = dict(type="LN"),  # noqa: B006
                 with_cp: bool = False, init_cfg: dict | None = None) -> None:
        super().__init__()
        self.with_cp = with_cp
        self.init_cfg = init_cfg
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = ShiftWindowMSA(embed_dims, num_heads, window_size, window_size // 2 if shift else 0,
                                   qkv_bias=qkv_bias, qk_scale=qk_scale, attn_drop_rate=attn_drop_rate,
                                   proj_drop_rate=drop_rate,
                                   dropout_layer=dict(type="DropPath", drop_prob=drop_path_rate))
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.ffn = FFN(embed_dims, feedforward_channels, num_fcs=2, ffn_drop=drop_rate,
                       dropout_layer=dict(type="DropPath", drop_prob=drop_path_rate), act_cfg=act_cfg,
                       add_identity=True)

    def _inner_forward(self, x: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), hw_shape)
        return self.ffn(self.norm2(x), identity=x)

    def forward(self, x: torch.Tensor, hw_shape: tuple[int, int]) -> torch.Tensor:
        """x: (N, H*W, C) -> (N, H*W, C); with ``with_cp`` activations are recomputed in backward."""
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner_forward, x, hw_shape, use_reentrant=False)
        return self._inner_forward(x, hw_shape)


class SwinBlockSequence(nn.Module):
    """One stage: ``depth`` blocks alternating plain and shifted windows, then an optional down-sampling.

    Returns ``(x_down, down_hw, x, hw)``: the next stage's input and this stage's output.
    """

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int, depth: int,
                 window_size: int = 7, qkv_bias: bool = True, qk_scale: float | None = None,
                 drop_rate: float = 0.0, attn_drop_rate: float = 0.0, drop_path_rate: float | Sequence[float] = 0.0,
                 downsample: nn.Module | None = None, act_cfg: dict = dict(type="GELU"),  # noqa: B006
                 norm_cfg: dict = dict(type="LN"), with_cp: bool = False,  # noqa: B006
                 init_cfg: dict | None = None) -> None:
        super().__init__()
        self.init_cfg = init_cfg
        if isinstance(drop_path_rate, (list, tuple)):
            if len(drop_path_rate) != depth:
                raise ConfigError(f"SwinBlockSequence: {len(drop_path_rate)} drop path rates for {depth} blocks")
            rates = list(drop_path_rate)
        else:
            rates = [float(drop_path_rate)] * depth
        self.blocks = nn.ModuleList([
            SwinBlock(embed_dims, num_heads, feedforward_channels, window_size=window_size, shift=i % 2 == 1,
                      qkv_bias=qkv_bias, qk_scale=qk_scale, drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
                      drop_path_rate=rates[i], act_cfg=act_cfg, norm_cfg=norm_cfg, with_cp=with_cp)
            for i in range(depth)
        ])
        self.downsample = downsample

    def forward(self, x: torch.Tensor, hw_shape: tuple[int, int]
                ) -> tuple[torch.Tensor, tuple[int, int], torch.Tensor, tuple[int, int]]:
        """x: (N, H*W, C) -> (x_down, down_hw, stage output, (H, W))."""
        for block in self.blocks:
            x = block(x, hw_shape)
        if self.downsample is None:
            return x, hw_shape, x, hw_shape
        x_down, down_hw = self.downsample(x, hw_shape)
        return x_down, down_hw, x, hw_shape


@MODELS.register_module()
class SwinTransformer(nn.Module):
    """Patch embedding, then stages of (shifted) window attention with patch merging in between.

    Input (N, in_channels, H, W) -> list of (N, embed_dims * 2**i, H/s_i, W/s_i) for i in ``out_indices``,
    s_i = product of ``strides[:i+1]`` (ceil for sizes that are not multiples). ``frozen_stages=k``
    freezes the patch embedding (and absolute position embedding) and stages 1..k with their norms.
    """

    def __init__(
        self,
        pretrain_img_size: int | Sequence[int] = 224,
        in_channels: int = 3,
        embed_dims: int = 96,
        patch_size: int | Sequence[int] = 4,
        window_size: int = 7,
        mlp_ratio: float = 4,
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (3, 6, 12, 24),
        strides: Sequence[int] = (4, 2, 2, 2),
        out_indices: Sequence[int] = (0, 1, 2, 3),
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        patch_norm: bool = True,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
        use_abs_pos_embed: bool = False,
        act_cfg: dict = dict(type="GELU"),  # noqa: B006 - never mutated
        norm_cfg: dict = dict(type="LN"),  # noqa: B006 - never mutated
        with_cp: bool = False,
        pretrained: str | None = None,
        frozen_stages: int = -1,
        init_cfg: dict | None = None,
    ) -> None:
        super().__init__()
        if isinstance(pretrain_img_size, (list, tuple)) and len(pretrain_img_size) == 1:
            pretrain_img_size = pretrain_img_size[0]
        pretrain_img_size = to_2tuple(pretrain_img_size)
        num_stages = len(depths)
        if len(num_heads) != num_stages or len(strides) != num_stages:
            raise ConfigError(f"SwinTransformer: depths {tuple(depths)}, num_heads {tuple(num_heads)} and strides "
                              f"{tuple(strides)} need one entry per stage")
        if strides[0] != patch_size:
            raise ConfigError(f"SwinTransformer: strides[0] ({strides[0]}) must equal patch_size ({patch_size}): "
                              "the patch embedding does not overlap")
        out_indices = tuple(out_indices)
        if any(i not in range(num_stages) for i in out_indices):
            raise ConfigError(f"SwinTransformer: out_indices {out_indices} must be stage indices in [0, {num_stages})")
        if frozen_stages not in range(-1, num_stages + 1):
            raise ConfigError(f"SwinTransformer: frozen_stages must be in [-1, {num_stages}], got {frozen_stages}")
        self.init_cfg = resolve_init_cfg(pretrained, init_cfg, "SwinTransformer")
        self.pretrained = pretrained
        self.out_indices, self.frozen_stages = out_indices, frozen_stages
        self.use_abs_pos_embed = use_abs_pos_embed
        self.patch_size = patch_size

        self.patch_embed = PatchEmbed(in_channels, embed_dims, conv_type="Conv2d", kernel_size=patch_size,
                                      stride=strides[0], padding="corner",
                                      norm_cfg=norm_cfg if patch_norm else None)
        if use_abs_pos_embed:
            self.pos_grid = (pretrain_img_size[0] // patch_size, pretrain_img_size[1] // patch_size)
            self.absolute_pos_embed = nn.Parameter(torch.zeros(1, self.pos_grid[0] * self.pos_grid[1], embed_dims))
        self.drop_after_pos = nn.Dropout(p=drop_rate)

        total_depth = sum(depths)
        dpr = [float(x) for x in torch.linspace(0, drop_path_rate, total_depth, device="cpu")]
        self.stages = nn.ModuleList()
        channels = embed_dims
        for i in range(num_stages):
            downsample = None
            if i < num_stages - 1:
                downsample = PatchMerging(channels, 2 * channels, stride=strides[i + 1],
                                          norm_cfg=norm_cfg if patch_norm else None)
            self.stages.append(SwinBlockSequence(
                channels, num_heads[i], int(mlp_ratio * channels), depths[i], window_size=window_size,
                qkv_bias=qkv_bias, qk_scale=qk_scale, drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
                drop_path_rate=dpr[sum(depths[:i]):sum(depths[:i + 1])], downsample=downsample,
                act_cfg=act_cfg, norm_cfg=norm_cfg, with_cp=with_cp))
            if downsample is not None:
                channels = downsample.out_channels
        self.num_features = [int(embed_dims * 2 ** i) for i in range(num_stages)]
        for i in out_indices:
            self.add_module(f"norm{i}", build_norm_layer(norm_cfg, self.num_features[i])[1])
        stage_strides = [math.prod(strides[:i + 1]) for i in range(num_stages)]
        self.out_channels = [self.num_features[i] for i in out_indices]
        self.out_strides = [stage_strides[i] for i in out_indices]
        self._default_init()
        self._freeze_stages()

    def _default_init(self) -> None:
        trunc_normal_transformer_init(self)
        for m in self.modules():
            if isinstance(m, WindowMSA):
                m.init_weights()
        if self.use_abs_pos_embed:
            nn.init.trunc_normal_(self.absolute_pos_embed, std=0.02)

    def init_weights(self) -> bool:
        """MMSeg's init (trunc_normal Linear, unit LayerNorm), or ``init_cfg`` Pretrained weights adapted to this model.

        When loading, relative position bias tables of another window size are resized bicubically and an
        absolute position embedding of another grid is resized to this one.
        """
        if not (isinstance(self.init_cfg, dict) and self.init_cfg.get("type") == "Pretrained"):
            if self.init_cfg is not None:
                raise ConfigError(f"SwinTransformer: init_cfg supports only type='Pretrained', got {self.init_cfg!r}")
            self._default_init()
            return False
        state, where = read_pretrained_state(self.init_cfg, "SwinTransformer")
        own = self.state_dict()
        for key, table in list(state.items()):
            if "relative_position_bias_table" in key and key in own and table.shape != own[key].shape \
                    and table.shape[1] == own[key].shape[1]:
                state[key] = resize_relative_position_bias_table(table, own[key].shape[0])
        if self.use_abs_pos_embed and "absolute_pos_embed" in state:
            pos = state["absolute_pos_embed"]
            if pos.ndim == 4:  # (1, C, H, W) as written by the original Swin code
                pos = pos.flatten(2).transpose(1, 2)
            state["absolute_pos_embed"] = self._resized_abs_pos_embed(pos, self.pos_grid)
        load_adapted_state(self, state, "SwinTransformer", where)
        return True

    def _resized_abs_pos_embed(self, pos: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """(1, L, C) on a square (or the pretraining) grid -> (1, grid_h*grid_w, C), bicubic."""
        length, c = pos.shape[1], pos.shape[2]
        if length == grid[0] * grid[1]:
            return pos
        src = self.pos_grid if length == self.pos_grid[0] * self.pos_grid[1] else (int(length ** 0.5),) * 2
        if src[0] * src[1] != length:
            raise ValueError(f"SwinTransformer: absolute_pos_embed of {length} tokens is not a square grid")
        img = pos.reshape(1, src[0], src[1], c).permute(0, 3, 1, 2)
        img = F.interpolate(img, size=grid, mode="bicubic", align_corners=False)
        return img.flatten(2).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x: (N, C, H, W) -> list of the ``out_indices`` stage outputs (N, C_i, H_i, W_i)."""
        x, hw_shape = self.patch_embed(x)
        if self.use_abs_pos_embed:
            # MMSeg adds the pretraining-size embedding as is (any other size fails there); resize instead.
            x = x + self._resized_abs_pos_embed(self.absolute_pos_embed, hw_shape)
        x = self.drop_after_pos(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x, hw_shape, out, out_hw = stage(x, hw_shape)
            if i in self.out_indices:
                out = getattr(self, f"norm{i}")(out)
                outs.append(out.view(-1, *out_hw, self.num_features[i]).permute(0, 3, 1, 2).contiguous())
        return outs

    def _freeze_stages(self) -> None:
        if self.frozen_stages >= 0:
            self.patch_embed.eval()
            for param in self.patch_embed.parameters():
                param.requires_grad = False
            if self.use_abs_pos_embed:
                self.absolute_pos_embed.requires_grad = False
            self.drop_after_pos.eval()
        for i in range(1, self.frozen_stages + 1):
            frozen = [self.stages[i - 1]] + ([getattr(self, f"norm{i - 1}")] if i - 1 in self.out_indices else [])
            for module in frozen:
                module.eval()
                for param in module.parameters():
                    param.requires_grad = False

    def train(self, mode: bool = True) -> SwinTransformer:
        """Set train mode but keep frozen stages in eval mode."""
        super().train(mode)
        self._freeze_stages()
        return self
