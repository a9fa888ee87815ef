"""The two halves of SAN's head (Xu et al. 2023, https://arxiv.org/abs/2302.12242):

- ``SideAdapterNetwork``: a small ViT over the image, with learnt query tokens, fused with CLIP
  features; its MLP decoder turns queries x pixels into mask proposals and per-head attention biases.
- ``RecWithAttnbias``: the last CLIP layers re-run with one "sos" token per query whose attention to the
  image tokens is biased by that query's mask: each sos token becomes the CLIP embedding of its mask.

Key layout as MMSeg's ``side_adapter_network.*`` / ``rec_with_attnbias.*``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ...registry import ConfigError
from ..backbones.vit import TransformerEncoderLayer
from ..layers import ConvModule, build_norm_layer, resize
from ..layers.prenorm_transformer_layer import PreNormTransformerLayer
from ..layers.transformer import PatchEmbed

__all__ = ["LayerNorm2d", "MLP", "MLPMaskDecoder", "RecWithAttnbias", "SideAdapterNetwork"]


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of (N, C, H, W) maps."""

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        return self.weight[:, None, None] * (x - mean) / torch.sqrt(var + self.eps) + self.bias[:, None, None]


class MLP(nn.Module):
    """``num_layers`` affine layers (Linear, or 1x1 convs with ``conv=True``) with ReLU between them."""

    def __init__(self, in_dims: int, hidden_dims: int, out_dims: int, num_layers: int, conv: bool = False) -> None:
        super().__init__()
        dims = [in_dims] + [hidden_dims] * (num_layers - 1) + [out_dims]
        affine = (lambda i, o: nn.Conv2d(i, o, kernel_size=1)) if conv else nn.Linear
        self.layers = nn.ModuleList([affine(i, o) for i, o in zip(dims[:-1], dims[1:])])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == len(self.layers) - 1 else F.relu(layer(x))
        return x


class MLPMaskDecoder(nn.Module):
    """Queries (N, Q, C) and pixels (N, C, h, w) -> mask logits (N, Q, h, w) and ``total_layers`` attention
    biases, each (N, total_heads, Q, h, w)."""

    def __init__(self, in_channels: int, total_heads: int = 1, total_layers: int = 1, embed_channels: int = 256,
                 mlp_channels: int = 256, mlp_num_layers: int = 3, rescale_attn_bias: bool = False) -> None:
        super().__init__()
        self.total_heads, self.total_layers = total_heads, total_layers
        self.query_mlp = MLP(in_channels, mlp_channels, embed_channels, mlp_num_layers)
        self.pix_mlp = MLP(in_channels, mlp_channels, embed_channels, mlp_num_layers, conv=True)
        self.attn_mlp = MLP(in_channels, mlp_channels, embed_channels * total_heads * total_layers, mlp_num_layers,
                            conv=True)
        # A learnt affine map of every bias value (MMSeg's "rescale").
        self.bias_scaling = nn.Linear(1, 1) if rescale_attn_bias else nn.Identity()

    def forward(self, query: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        query = self.query_mlp(query)
        pix = self.pix_mlp(x)
        n, c, h, w = pix.shape
        masks = torch.einsum("bqc,bchw->bqhw", query, pix)
        attn = self.attn_mlp(x).reshape(n, self.total_layers, self.total_heads, c, h, w)
        bias = torch.einsum("bqc,blnchw->blnqhw", query, attn)
        bias = self.bias_scaling(bias[..., None]).squeeze(-1)
        return masks, list(bias.unbind(1))


class SideAdapterNetwork(nn.Module):
    """Image (N, 3, H, W) + CLIP features -> per output layer mask logits (N, Q, H/p, W/p) and attention biases.

    ``fusion_index[i]`` is the encoder layer after which the i-th CLIP feature is added (0: before the
    first); layer outputs are decoded at ``deep_supervision_idxs`` (1-based) and always at the last layer.
    """

    def __init__(self, in_channels: int = 3, clip_channels: int = 768, embed_dims: int = 240, patch_size: int = 16,
                 patch_bias: bool = True, num_queries: int = 100, fusion_index: Sequence[int] = (0, 1, 2, 3),
                 cfg_encoder: dict | None = None, cfg_decoder: dict | None = None,
                 norm_cfg: dict = dict(type="LN")) -> None:
        super().__init__()
        enc = _checked(cfg_encoder, ("num_encode_layer", "num_heads", "mlp_ratio"), "san_cfg.cfg_encoder")
        dec = _checked(cfg_decoder, ("num_heads", "num_layers", "embed_channels", "mlp_channels", "num_mlp",
                                     "rescale"), "san_cfg.cfg_decoder")
        reached = _fused_layers(list(fusion_index), enc["num_encode_layer"])
        if len(reached) != len(fusion_index):
            raise ConfigError(f"SideAdapterNetwork: fusion_index {list(fusion_index)} with {enc['num_encode_layer']} "
                              f"encoder layers fuses only {reached}; the others would be silently skipped (as in "
                              "MMSeg). Use increasing indices below len(fusion_index) and up to num_encode_layer")
        # MMSeg sizes the position embedding for a 640x640 input; other sizes resize it (bicubic).
        self.patch_embed = PatchEmbed(in_channels, embed_dims, kernel_size=patch_size, stride=patch_size, padding=0,
                                      bias=patch_bias, input_size=(640, 640))
        grid_h, grid_w = self.patch_embed.init_out_size
        self.pos_embed = nn.Parameter(torch.randn(1, grid_h * grid_w, embed_dims) * 0.02)
        self.query_pos_embed = nn.Parameter(torch.zeros(1, num_queries, embed_dims))
        self.query_embed = nn.Parameter(torch.zeros(1, num_queries, embed_dims))
        self.encode_layers = nn.ModuleList([
            TransformerEncoderLayer(embed_dims, enc["num_heads"], enc["mlp_ratio"] * embed_dims, norm_cfg=norm_cfg)
            for _ in range(enc["num_encode_layer"])
        ])
        self.conv_clips = nn.ModuleList([
            nn.Sequential(LayerNorm2d(clip_channels),
                          ConvModule(clip_channels, embed_dims, 1, norm_cfg=None, act_cfg=None))
            for _ in fusion_index
        ])
        self.fusion_index = list(fusion_index)
        self.mask_decoder = MLPMaskDecoder(embed_dims, total_heads=dec["num_heads"], total_layers=dec["num_layers"],
                                           embed_channels=dec["embed_channels"], mlp_channels=dec["mlp_channels"],
                                           mlp_num_layers=dec["num_mlp"], rescale_attn_bias=dec["rescale"])
        self.init_weights()

    def init_weights(self) -> None:
        """MMSeg's init: truncated-normal position embedding, normal queries, Xavier (caffe2) 1x1 convs."""
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.query_embed, std=0.02)
        nn.init.normal_(self.query_pos_embed, std=0.02)
        for branch in self.conv_clips:
            conv = branch[1].conv
            nn.init.kaiming_uniform_(conv.weight, a=1)  # caffe2's Xavier fill
            nn.init.zeros_(conv.bias)

    def _fuse(self, i: int, x: torch.Tensor, clip_feature: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        """Add the i-th projected CLIP map, resized to the token grid, to the image tokens (the last h*w)."""
        length = hw[0] * hw[1]
        fused = resize(self.conv_clips[i](clip_feature.contiguous()), size=hw, mode="bilinear", align_corners=False)
        fused = fused.permute(0, 2, 3, 1).reshape(x.shape[0], length, x.shape[-1])
        return torch.cat([x[:, :-length], x[:, -length:] + fused], dim=1)

    def encode(self, image: torch.Tensor, clip_features: Sequence[Sequence[torch.Tensor]],
               deep_supervision_idxs: Sequence[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(queries (N, Q, C), pixels (N, C, h, w)) after each decoded layer."""
        if len(clip_features) != len(self.fusion_index):
            raise ValueError(f"SideAdapterNetwork: {len(clip_features)} CLIP features for fusion_index "
                             f"{self.fusion_index}; the image encoder must give one per index")
        x, hw = self.patch_embed(image)
        pos = self.pos_embed
        if pos.shape[1] != x.shape[1]:
            grid = self.patch_embed.init_out_size
            pos = resize(pos.reshape(1, *grid, -1).permute(0, 3, 1, 2), size=hw, mode="bicubic",
                         align_corners=False).flatten(2).permute(0, 2, 1)
        pos = torch.cat([self.query_pos_embed.expand(pos.shape[0], -1, -1), pos], dim=1)
        x = torch.cat([self.query_embed.expand(x.shape[0], -1, -1), x], dim=1) + pos
        length = hw[0] * hw[1]
        fused = 0
        if self.fusion_index[0] == 0:
            x = self._fuse(0, x, clip_features[0][0], hw)
            fused = 1
        outs = []
        num_layers = len(self.encode_layers)
        for index, layer in enumerate(self.encode_layers, start=1):
            x = layer(x)
            # MMSeg fuses after layer `index` only while index < len(fusion_index).
            if fused < len(self.fusion_index) and index < len(self.fusion_index) and index == self.fusion_index[fused]:
                x = self._fuse(fused, x, clip_features[fused][0], hw)
                fused += 1
            if index in deep_supervision_idxs or index == num_layers:
                pixels = x[:, -length:].permute(0, 2, 1).reshape(x.shape[0], x.shape[-1], *hw)
                outs.append((x[:, :-length], pixels))
            if index < num_layers:
                x = x + pos  # the position embedding is added before every layer
        return outs

    def forward(self, image: torch.Tensor, clip_features: Sequence[Sequence[torch.Tensor]],
                deep_supervision_idxs: Sequence[int]) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        """Per decoded layer: mask logits (N, Q, h, w) and the attention biases of the recognition layers."""
        masks, biases = [], []
        for query, pixels in self.encode(image, clip_features, deep_supervision_idxs):
            m, b = self.mask_decoder(query, pixels)
            masks.append(m)
            biases.append(b)
        return masks, biases


class RecWithAttnbias(nn.Module):
    """The last CLIP layers with Q sos tokens (copies of the class token), each attending to the image
    tokens through its query's attention bias: -> (N, Q, out_dims) mask embeddings (unit norm with
    ``final_norm``). Frozen except parameters whose name contains an entry of ``frozen_exclude``."""

    def __init__(self, sos_token_format: str = "cls_token", sos_token_num: int = 100, num_layers: int = 3,
                 cross_attn: bool = False, embed_dims: int = 768, num_heads: int = 12, mlp_ratio: int = 4,
                 num_fcs: int = 2, qkv_bias: bool = True, out_dims: int = 512, final_norm: bool = True,
                 act_cfg: dict = dict(type="GELU"), norm_cfg: dict = dict(type="LN"),
                 frozen_exclude: Sequence[str] = ()) -> None:
        super().__init__()
        if sos_token_format != "cls_token":
            # MMSeg 1.2.2 cannot build the other formats either (its constructor reads self.proj before it exists).
            raise ConfigError(f"RecWithAttnbias: sos_token_format={sos_token_format!r} is not supported; use "
                              "'cls_token' (the one MMSeg's SAN configs and weights use)")
        if cross_attn:
            raise ConfigError("RecWithAttnbias: cross_attn=True is not implemented in seglab; SAN's configs use "
                              "cross_attn=False (sos tokens join the self-attention)")
        if num_fcs != 2:
            raise ConfigError(f"RecWithAttnbias: num_fcs={num_fcs} is not supported (MMSeg's layers use 2)")
        self.sos_token_num, self.num_heads, self.num_layers = sos_token_num, num_heads, num_layers
        self.final_norm = final_norm
        self.frozen_exclude = list(frozen_exclude)
        self.layers = nn.ModuleList([
            PreNormTransformerLayer(embed_dims, num_heads, mlp_ratio * embed_dims, qkv_bias=qkv_bias,
                                    act_cfg=act_cfg, norm_cfg=norm_cfg)
            for _ in range(num_layers)
        ])
        self.ln_post = build_norm_layer(norm_cfg, embed_dims)[1]
        self.proj = nn.Linear(embed_dims, out_dims, bias=False)
        if "all" not in self.frozen_exclude:
            for name, param in self.named_parameters():
                param.requires_grad = any(e in name for e in self.frozen_exclude)

    def _attn_masks(self, biases: Sequence[torch.Tensor], hw: tuple[int, int]) -> list[torch.Tensor]:
        """Per layer an additive mask (N * heads, Q + 1 + h*w, Q + 1 + h*w) over [sos, cls, image] tokens:
        sos tokens see themselves (not each other, not cls) and the image through their bias; cls and image
        tokens do not see the sos tokens."""
        masks = []
        q = self.sos_token_num
        for bias in biases:
            n, heads, num_sos, _, _ = bias.shape
            if heads not in (1, self.num_heads):
                raise ValueError(f"RecWithAttnbias: attention bias has {heads} heads; need 1 or {self.num_heads}")
            bias = F.adaptive_max_pool2d(bias.reshape(n, heads * num_sos, *bias.shape[-2:]), output_size=hw)
            bias = bias.reshape(n, heads, num_sos, -1).expand(n, self.num_heads, num_sos, hw[0] * hw[1])
            length = hw[0] * hw[1]
            base = bias.new_zeros(q + 1 + length, q + 1 + length)
            base[:, :q] = -100
            base[torch.arange(q), torch.arange(q)] = 0
            base[:q, q] = -100
            mask = base[None].repeat(n * self.num_heads, 1, 1)
            mask[:, :q, -length:] = bias.reshape(n * self.num_heads, num_sos, length)
            masks.append(mask)
        return masks * self.num_layers if len(masks) == 1 else masks

    def forward(self, biases: Sequence[torch.Tensor], clip_feature: Sequence[torch.Tensor]) -> torch.Tensor:
        """biases: per layer (N, heads, Q, h', w'); clip_feature: [map (N, C, h, w), cls token (N, C)]."""
        feat, cls = clip_feature[0], clip_feature[1]
        n, c, h, w = feat.shape
        cls = cls.unsqueeze(0)  # (1, N, C)
        masks = self._attn_masks(biases, (h, w))
        if len(masks) != self.num_layers:
            raise ValueError(f"RecWithAttnbias: {len(masks)} attention biases for {self.num_layers} layers")
        x = torch.cat([cls.repeat(self.sos_token_num, 1, 1), cls, feat.reshape(n, c, -1).permute(2, 0, 1)])
        for layer, mask in zip(self.layers, masks):
            x = layer(x, attn_mask=mask)
        sos = self.proj(self.ln_post(x[: self.sos_token_num].permute(1, 0, 2)))
        return F.normalize(sos, dim=-1) if self.final_norm else sos


def _fused_layers(fusion_index: list[int], num_layers: int) -> list[int]:
    """The entries of ``fusion_index`` that ``SideAdapterNetwork.encode`` reaches (MMSeg's loop, simulated)."""
    fused = 1 if fusion_index and fusion_index[0] == 0 else 0
    for index in range(1, num_layers + 1):
        if fused < len(fusion_index) and index < len(fusion_index) and index == fusion_index[fused]:
            fused += 1
    return fusion_index[:fused]


def _checked(cfg: dict | None, keys: Sequence[str], where: str) -> dict:
    """``cfg`` with exactly ``keys`` (a config error names the missing or unknown ones)."""
    cfg = dict(cfg or {})
    missing, unknown = [k for k in keys if k not in cfg], [k for k in cfg if k not in keys]
    if missing or unknown:
        raise ConfigError(f"{where}: missing {missing}, unknown {unknown}; it takes {list(keys)}")
    return cfg
