"""Pixel decoders of MaskFormer / Mask2Former (mmdet's ``PixelDecoder``, ``TransformerEncoderPixelDecoder``,
``MSDeformAttnPixelDecoder``): multi-level backbone features -> a per-pixel mask feature and the
memory the transformer decoder attends to.

Key layout (mmdet): ``lateral_convs.{i}``/``output_convs.{i}`` (ConvModule: ``conv``, ``gn``),
``last_feat_conv`` (PixelDecoder only), ``mask_feature``; ``encoder.layers.{i}``, ``encoder_in_proj``,
``encoder_out_proj`` (TransformerEncoderPixelDecoder); ``input_convs.{i}``, ``encoder.layers.{i}``,
``level_encoding`` (MSDeformAttnPixelDecoder).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ...registry import ConfigError
from ..layers import ConvModule
from ._init import caffe2_xavier_init, xavier_uniform_init
from ._registry import PIXEL_DECODERS
from .ms_deform_attn import MultiScaleDeformableAttention
from .positional_encoding import build_positional_encoding
from .transformer_layers import DetrTransformerEncoder, Mask2FormerTransformerEncoder

__all__ = ["MSDeformAttnPixelDecoder", "PixelDecoder", "TransformerEncoderPixelDecoder", "padding_mask"]

_GN = dict(type="GN", num_groups=32)
_RELU = dict(type="ReLU")


def padding_mask(feat: torch.Tensor, batch_img_metas: Sequence[dict] | None) -> torch.Tensor:
    """Bool (N, h, w) mask of ``feat``'s padded pixels, from each meta's ``img_shape`` inside
    ``batch_input_shape``; all False without metas (the batch is not padded)."""
    n, _, h, w = feat.shape
    if not batch_img_metas or "batch_input_shape" not in batch_img_metas[0]:
        return feat.new_zeros((n, h, w), dtype=torch.bool)
    in_h, in_w = batch_img_metas[0]["batch_input_shape"][:2]
    mask = feat.new_ones((n, in_h, in_w), dtype=torch.float32)
    for i, meta in enumerate(batch_img_metas):
        img_h, img_w = meta["img_shape"][:2]
        mask[i, :img_h, :img_w] = 0
    return F.interpolate(mask.unsqueeze(1), size=(h, w), mode="nearest").to(torch.bool).squeeze(1)


@PIXEL_DECODERS.register_module()
class PixelDecoder(nn.Module):
    """FPN-like pixel decoder: top-down from the last level with lateral 1x1 and output 3x3 convs.

    forward(feats) -> (mask_feature (N, out_channels, h0, w0), memory = feats[-1]).
    """

    def __init__(self, in_channels: Sequence[int], feat_channels: int, out_channels: int,
                 norm_cfg: dict | None = _GN, act_cfg: dict | None = _RELU, init_cfg: dict | None = None) -> None:
        super().__init__()
        self.in_channels = list(in_channels)
        self.num_inputs = len(in_channels)
        self.init_cfg = init_cfg
        self.use_bias = norm_cfg is None
        self.lateral_convs = nn.ModuleList()
        self.output_convs = nn.ModuleList()
        for i in range(self.num_inputs - 1):
            self.lateral_convs.append(ConvModule(in_channels[i], feat_channels, 1, bias=self.use_bias,
                                                 norm_cfg=norm_cfg, act_cfg=None))
            self.output_convs.append(ConvModule(feat_channels, feat_channels, 3, padding=1, bias=self.use_bias,
                                                norm_cfg=norm_cfg, act_cfg=act_cfg))
        self.last_feat_conv = ConvModule(in_channels[-1], feat_channels, 3, padding=1, bias=self.use_bias,
                                         norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.mask_feature = nn.Conv2d(feat_channels, out_channels, kernel_size=3, padding=1)
        PixelDecoder.init_weights(self)  # not the subclass's: its encoder does not exist yet

    def init_weights(self) -> None:
        """mmdet's init (its loop leaves the last lateral/output pair and last_feat_conv at ConvModule's)."""
        for i in range(self.num_inputs - 2):
            caffe2_xavier_init(self.lateral_convs[i].conv)
            caffe2_xavier_init(self.output_convs[i].conv)
        caffe2_xavier_init(self.mask_feature)

    def _top_down(self, y: torch.Tensor, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        for i in range(self.num_inputs - 2, -1, -1):
            lateral = self.lateral_convs[i](feats[i])
            y = self.output_convs[i](lateral + F.interpolate(y, size=lateral.shape[-2:], mode="nearest"))
        return y

    def forward(self, feats: Sequence[torch.Tensor],
                batch_img_metas: Sequence[dict] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """feats: per level (N, C_i, h_i, w_i); metas are unused here (kept for the common signature)."""
        y = self._top_down(self.last_feat_conv(feats[-1]), feats)
        return self.mask_feature(y), feats[-1]


@PIXEL_DECODERS.register_module()
class TransformerEncoderPixelDecoder(PixelDecoder):
    """PixelDecoder whose last level first goes through a DETR transformer encoder (MaskFormer).

    forward(feats, metas) -> (mask_feature (N, out_channels, h0, w0), memory (N, feat_channels, hL, wL)).
    """

    def __init__(self, in_channels: Sequence[int], feat_channels: int, out_channels: int,
                 norm_cfg: dict | None = _GN, act_cfg: dict | None = _RELU, encoder: dict | None = None,
                 positional_encoding: dict | None = None, init_cfg: dict | None = None) -> None:
        super().__init__(in_channels, feat_channels, out_channels, norm_cfg=norm_cfg, act_cfg=act_cfg,
                         init_cfg=init_cfg)
        if encoder is None:
            raise ConfigError("TransformerEncoderPixelDecoder needs an encoder config (num_layers, layer_cfg)")
        self.last_feat_conv = None
        self.encoder = DetrTransformerEncoder(**encoder)
        self.encoder_embed_dims = self.encoder.embed_dims
        if self.encoder_embed_dims != feat_channels:
            raise ConfigError(f"TransformerEncoderPixelDecoder: encoder embed_dims ({self.encoder_embed_dims}) "
                              f"must equal feat_channels ({feat_channels})")
        self.positional_encoding = build_positional_encoding(positional_encoding)
        self.encoder_in_proj = nn.Conv2d(in_channels[-1], feat_channels, kernel_size=1)
        self.encoder_out_proj = ConvModule(feat_channels, feat_channels, 3, padding=1, bias=self.use_bias,
                                           norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.init_weights()

    def init_weights(self) -> None:
        """mmdet's init: caffe2-xavier convs, xavier-uniform encoder matrices."""
        for i in range(self.num_inputs - 2):
            caffe2_xavier_init(self.lateral_convs[i].conv)
            caffe2_xavier_init(self.output_convs[i].conv)
        caffe2_xavier_init(self.mask_feature)
        caffe2_xavier_init(self.encoder_in_proj)
        caffe2_xavier_init(self.encoder_out_proj.conv)
        for p in self.encoder.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, feats: Sequence[torch.Tensor],
                batch_img_metas: Sequence[dict] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """feats: per level (N, C_i, h_i, w_i); metas (``img_shape``, ``batch_input_shape``) mark padding."""
        last = feats[-1]
        n, _, h, w = last.shape
        mask = padding_mask(last, batch_img_metas)
        pos = self.positional_encoding(mask).flatten(2).transpose(1, 2)
        tokens = self.encoder_in_proj(last).flatten(2).transpose(1, 2)
        memory = self.encoder(query=tokens, query_pos=pos, key_padding_mask=mask.flatten(1))
        memory = memory.transpose(1, 2).reshape(n, self.encoder_embed_dims, h, w)
        y = self._top_down(self.encoder_out_proj(memory), feats)
        return self.mask_feature(y), memory


@PIXEL_DECODERS.register_module()
class MSDeformAttnPixelDecoder(nn.Module):
    """Mask2Former's pixel decoder: deformable-attention encoder over the last ``num_levels`` inputs, then
    FPN-style lateral/output convs for the remaining (finer) inputs.

    forward(feats) -> (mask_feature (N, out_channels, h0, w0),
    multi_scale_features: ``num_outs`` maps (N, feat_channels, h, w), coarsest first).
    """

    def __init__(self, in_channels: Sequence[int] = (256, 512, 1024, 2048), strides: Sequence[int] = (4, 8, 16, 32),
                 feat_channels: int = 256, out_channels: int = 256, num_outs: int = 3,
                 norm_cfg: dict | None = _GN, act_cfg: dict | None = _RELU, encoder: dict | None = None,
                 positional_encoding: dict | None = None, init_cfg: dict | None = None) -> None:
        super().__init__()
        if encoder is None:
            raise ConfigError("MSDeformAttnPixelDecoder needs an encoder config (num_layers, layer_cfg)")
        if len(strides) != len(in_channels):
            raise ConfigError(f"MSDeformAttnPixelDecoder: strides {list(strides)} and in_channels "
                              f"{list(in_channels)} differ in length")
        self.strides = list(strides)
        self.in_channels = list(in_channels)
        self.num_input_levels = len(in_channels)
        self.num_encoder_levels = int(encoder["layer_cfg"]["self_attn_cfg"].get("num_levels", 4))
        if not 1 <= self.num_encoder_levels <= self.num_input_levels:
            raise ConfigError(f"MSDeformAttnPixelDecoder: encoder num_levels ({self.num_encoder_levels}) must be in "
                              f"[1, {self.num_input_levels}] (the number of inputs)")
        self.init_cfg = init_cfg
        # Coarsest input first: input_convs[0] projects in_channels[-1].
        self.input_convs = nn.ModuleList([
            ConvModule(in_channels[i], feat_channels, 1, norm_cfg=norm_cfg, act_cfg=None, bias=True)
            for i in range(self.num_input_levels - 1, self.num_input_levels - self.num_encoder_levels - 1, -1)
        ])
        self.encoder = Mask2FormerTransformerEncoder(**encoder)
        self.postional_encoding = build_positional_encoding(positional_encoding)  # mmdet's spelling
        self.level_encoding = nn.Embedding(self.num_encoder_levels, feat_channels)
        self.use_bias = norm_cfg is None
        self.lateral_convs = nn.ModuleList()
        self.output_convs = nn.ModuleList()
        # mmdet appends from the finest remaining input backwards and indexes the lists by input level
        # in forward; both orders are kept so checkpoints and outputs agree.
        for i in range(self.num_input_levels - self.num_encoder_levels - 1, -1, -1):
            self.lateral_convs.append(ConvModule(in_channels[i], feat_channels, 1, bias=self.use_bias,
                                                 norm_cfg=norm_cfg, act_cfg=None))
            self.output_convs.append(ConvModule(feat_channels, feat_channels, 3, padding=1, bias=self.use_bias,
                                                norm_cfg=norm_cfg, act_cfg=act_cfg))
        self.mask_feature = nn.Conv2d(feat_channels, out_channels, kernel_size=1)
        self.num_outs = num_outs
        self.init_weights()

    def init_weights(self) -> None:
        """mmdet's init: xavier input projections, caffe2-xavier convs, N(0, 1) level encoding,
        xavier-normal encoder matrices, then the deformable attentions' own init."""
        for conv in self.input_convs:
            xavier_uniform_init(conv.conv)
        for i in range(self.num_input_levels - self.num_encoder_levels):
            caffe2_xavier_init(self.lateral_convs[i].conv)
            caffe2_xavier_init(self.output_convs[i].conv)
        caffe2_xavier_init(self.mask_feature)
        nn.init.normal_(self.level_encoding.weight, mean=0.0, std=1.0)
        for p in self.encoder.parameters():
            if p.dim() > 1:
                nn.init.xavier_normal_(p)
        for m in self.encoder.layers.modules():
            if isinstance(m, MultiScaleDeformableAttention):
                m.init_weights()

    def forward(self, feats: Sequence[torch.Tensor],
                batch_img_metas: Sequence[dict] | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """feats: per input level (N, C_i, h_i, w_i), finest first. The batch is treated as unpadded."""
        batch = feats[0].shape[0]
        tokens, pos_list, shapes, refs = [], [], [], []
        for i in range(self.num_encoder_levels):
            level = self.num_input_levels - i - 1
            feat = feats[level]
            h, w = feat.shape[-2:]
            mask = feat.new_zeros((batch, h, w), dtype=torch.bool)
            pos = self.postional_encoding(mask) + self.level_encoding.weight[i].view(1, -1, 1, 1)
            # Pixel centres in [0, 1] as (x, y), x fastest (mmdet's MlvlPointGenerator / (w, h) * stride).
            ys, xs = torch.meshgrid(torch.arange(h, device=feat.device, dtype=torch.float32),
                                    torch.arange(w, device=feat.device, dtype=torch.float32), indexing="ij")
            refs.append(torch.stack(((xs.reshape(-1) + 0.5) / w, (ys.reshape(-1) + 0.5) / h), -1))
            tokens.append(self.input_convs[i](feat).flatten(2).transpose(1, 2))
            pos_list.append(pos.flatten(2).transpose(1, 2))
            shapes.append((int(h), int(w)))
        reference_points = torch.cat(refs, 0)[None, :, None].expand(batch, -1, self.num_encoder_levels, -1)
        spatial = torch.tensor(shapes, dtype=torch.long, device=feats[0].device)
        level_start = torch.cat((spatial.new_zeros(1), spatial.prod(1).cumsum(0)[:-1]))
        memory = self.encoder(
            query=torch.cat(tokens, 1), query_pos=torch.cat(pos_list, 1),
            key_padding_mask=torch.zeros(batch, sum(h * w for h, w in shapes), dtype=torch.bool,
                                         device=feats[0].device),
            spatial_shapes=shapes, level_start_index=level_start,
            valid_ratios=feats[0].new_ones((batch, self.num_encoder_levels, 2)),
            reference_points=reference_points)
        memory = memory.transpose(1, 2)
        outs = [x.reshape(batch, -1, h, w) for x, (h, w) in zip(memory.split([h * w for h, w in shapes], -1), shapes)]
        for i in range(self.num_input_levels - self.num_encoder_levels - 1, -1, -1):
            lateral = self.lateral_convs[i](feats[i])
            y = lateral + F.interpolate(outs[-1], size=lateral.shape[-2:], mode="bilinear", align_corners=False)
            outs.append(self.output_convs[i](y))
        return self.mask_feature(outs[-1]), outs[: self.num_outs]
