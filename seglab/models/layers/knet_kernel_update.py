"""K-Net's kernel update: ``KernelUpdator`` (the gated dynamic update) and ``KernelUpdateHead`` (one stage).

Paper: K-Net: Towards Unified Image Segmentation, https://arxiv.org/abs/2106.14855
Key layout (MMSeg 1.2.2): ``attention.attn.{in_proj_weight,in_proj_bias,out_proj.*}``, ``attention_norm``,
``kernel_update_conv.{dynamic_layer,input_layer,input_gate,update_gate,norm_in,norm_out,input_norm_in,
input_norm_out,fc_layer,fc_norm}`` (+ ``gate_norm``), ``feat_transform.conv``, ``ffn.layers.{0.0,1}``,
``ffn_norm``, ``mask_fcs.{3i: Linear, 3i+1: LayerNorm}``, ``fc_mask``.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ...registry import MODELS, ConfigError
from .activation import build_activation_layer
from .conv_module import ConvModule
from .norm import build_norm_layer
from .transformer import FFN, MultiheadAttention

__all__ = ["KernelUpdateHead", "KernelUpdator"]

_UPDATOR = dict(type="KernelUpdator", in_channels=256, feat_channels=256, out_channels=256,
                act_cfg=dict(type="ReLU", inplace=True), norm_cfg=dict(type="LN"))


@MODELS.register_module()
class KernelUpdator(nn.Module):
    """Gated kernel update (Eq. 4-5 of K-Net): mixes each kernel with the features its mask assembled.

    ``update_feature`` is read as rows of ``in_channels`` and ``input_feature`` as rows of
    ``feat_channels``; MMSeg's K-Net configs use ``in_channels=256`` on 512-wide kernels, which splits
    every kernel into two rows, and this module keeps that reading. Its layers read ``in_channels`` from
    ``feat_channels``-wide rows, so the two must be equal (MMSeg's default ``feat_channels=64`` with
    ``in_channels=256`` cannot run; the default here is 256).
    """

    def __init__(
        self,
        in_channels: int = 256,
        feat_channels: int = 256,
        out_channels: int | None = None,
        gate_sigmoid: bool = True,
        gate_norm_act: bool = False,
        activate_out: bool = False,
        norm_cfg: dict = dict(type="LN"),  # noqa: B006 - never mutated
        act_cfg: dict = dict(type="ReLU", inplace=True),  # noqa: B006
    ) -> None:
        super().__init__()
        if feat_channels != in_channels:
            raise ConfigError(f"KernelUpdator: feat_channels ({feat_channels}) must equal in_channels ({in_channels}): "
                              "its in_channels-wide gate layers read feat_channels-wide rows (as in MMSeg)")
        self.in_channels, self.feat_channels = in_channels, feat_channels
        self.out_channels = out_channels if out_channels else in_channels
        self.gate_sigmoid, self.gate_norm_act, self.activate_out = gate_sigmoid, gate_norm_act, activate_out
        self.dynamic_layer = nn.Linear(in_channels, 2 * feat_channels)
        self.input_layer = nn.Linear(in_channels, 2 * feat_channels)
        self.input_gate = nn.Linear(in_channels, feat_channels)
        self.update_gate = nn.Linear(in_channels, feat_channels)
        if gate_norm_act:
            self.gate_norm = build_norm_layer(norm_cfg, feat_channels)[1]
        self.norm_in = build_norm_layer(norm_cfg, feat_channels)[1]
        self.norm_out = build_norm_layer(norm_cfg, feat_channels)[1]
        self.input_norm_in = build_norm_layer(norm_cfg, feat_channels)[1]
        self.input_norm_out = build_norm_layer(norm_cfg, feat_channels)[1]
        self.activation = build_activation_layer(act_cfg)
        self.fc_layer = nn.Linear(feat_channels, self.out_channels)
        self.fc_norm = build_norm_layer(norm_cfg, self.out_channels)[1]

    def forward(self, update_feature: torch.Tensor, input_feature: torch.Tensor) -> torch.Tensor:
        """``update_feature``: assembled group features (..., in_channels) -> P rows; ``input_feature``:
        the kernels, read as (P, -1, feat_channels). Returns updated kernels (P, -1, out_channels)."""
        update_feature = update_feature.reshape(-1, self.in_channels)
        num_rows = update_feature.size(0)
        params = self.dynamic_layer(update_feature)
        param_in, param_out = params[:, : self.feat_channels], params[:, -self.feat_channels:]
        input_feats = self.input_layer(input_feature.reshape(num_rows, -1, self.feat_channels))
        input_in, input_out = input_feats[..., : self.feat_channels], input_feats[..., -self.feat_channels:]

        gate_feats = input_in * param_in.unsqueeze(-2)  # F^G in the paper
        if self.gate_norm_act:
            gate_feats = self.activation(self.gate_norm(gate_feats))
        input_gate = self.input_norm_in(self.input_gate(gate_feats))
        update_gate = self.norm_in(self.update_gate(gate_feats))
        if self.gate_sigmoid:
            input_gate, update_gate = input_gate.sigmoid(), update_gate.sigmoid()
        param_out = self.norm_out(param_out)
        input_out = self.input_norm_out(input_out)
        if self.activate_out:
            param_out, input_out = self.activation(param_out), self.activation(input_out)

        features = update_gate * param_out.unsqueeze(-2) + input_gate * input_out
        return self.activation(self.fc_norm(self.fc_layer(features)))


@MODELS.register_module()
class KernelUpdateHead(nn.Module):
    """One K-Net stage: assemble group features with the current masks, update the kernels (updator,
    self-attention across kernels, FFN), then predict new masks by convolving the features with them.

    ``forward(x, proposal_feat, mask_preds)``: features (N, C, H, W), kernels (N, K, C, k, k) and the
    previous masks (N, K, h, w) -> new masks (N, K, H, W) and kernels (N, K, C, k, k).
    ``kernel_updator_cfg`` defaults to a 256-wide ``KernelUpdator`` (MMSeg names mmdet's ``DynamicConv``
    there, which no K-Net config uses).
    """

    def __init__(
        self,
        num_classes: int = 150,
        num_ffn_fcs: int = 2,
        num_heads: int = 8,
        num_mask_fcs: int = 3,
        feedforward_channels: int = 2048,
        in_channels: int = 256,
        out_channels: int = 256,
        dropout: float = 0.0,
        act_cfg: dict = dict(type="ReLU", inplace=True),  # noqa: B006 - never mutated
        ffn_act_cfg: dict = dict(type="ReLU", inplace=True),  # noqa: B006
        conv_kernel_size: int = 1,
        feat_transform_cfg: dict | None = None,
        kernel_init: bool = False,
        with_ffn: bool = True,
        feat_gather_stride: int = 1,
        mask_transform_stride: int = 1,
        kernel_updator_cfg: dict | nn.Module = _UPDATOR,
    ) -> None:
        super().__init__()
        if mask_transform_stride not in (1, 2):
            raise ConfigError(f"KernelUpdateHead: mask_transform_stride must be 1 or 2, got {mask_transform_stride}")
        self.num_classes, self.in_channels, self.out_channels = num_classes, in_channels, out_channels
        self.dropout, self.num_heads, self.kernel_init, self.with_ffn = dropout, num_heads, kernel_init, with_ffn
        self.conv_kernel_size = conv_kernel_size
        self.feat_gather_stride, self.mask_transform_stride = feat_gather_stride, mask_transform_stride
        kernel_dims = in_channels * conv_kernel_size**2

        self.attention = MultiheadAttention(kernel_dims, num_heads, attn_drop=dropout, batch_first=True)
        self.attention_norm = nn.LayerNorm(kernel_dims)
        self.kernel_update_conv = MODELS.build(dict(kernel_updator_cfg) if isinstance(kernel_updator_cfg, dict)
                                               else kernel_updator_cfg)
        if feat_transform_cfg is not None:
            transform = dict(feat_transform_cfg)
            kernel_size = transform.pop("kernel_size", 1)
            # MMSeg pads by the gather stride, not the kernel size; kept for identical outputs.
            self.feat_transform: nn.Module | None = ConvModule(
                in_channels, in_channels, kernel_size, stride=feat_gather_stride,
                padding=int(feat_gather_stride // 2), **transform)
        else:
            self.feat_transform = None
        if with_ffn:
            self.ffn = FFN(in_channels, feedforward_channels, num_ffn_fcs, act_cfg=ffn_act_cfg, ffn_drop=dropout)
            self.ffn_norm = nn.LayerNorm(in_channels)
        self.mask_fcs = nn.ModuleList()
        for _ in range(num_mask_fcs):
            self.mask_fcs.append(nn.Linear(in_channels, in_channels, bias=False))
            self.mask_fcs.append(nn.LayerNorm(in_channels))
            self.mask_fcs.append(build_activation_layer(act_cfg))
        self.fc_mask = nn.Linear(in_channels, out_channels)

    def init_weights(self) -> None:
        """MMSeg's explicit init: Xavier-uniform on every weight matrix, ``fc_mask`` N(0, 0.01) with ``kernel_init``.

        Inside ``IterativeDecodeHead`` this is not called (MMSeg never reaches it there), so the stage
        keeps PyTorch's default init as MMSeg's K-Net models do.
        """
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        if self.kernel_init:
            nn.init.normal_(self.fc_mask.weight, mean=0, std=0.01)

    def forward(self, x: torch.Tensor, proposal_feat: torch.Tensor, mask_preds: torch.Tensor,
                mask_shape: tuple[int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """New masks (N, K, H, W) and kernels (N, K, C, k, k); shapes as in the class doc."""
        n, num_kernels = proposal_feat.shape[:2]
        if self.feat_transform is not None:
            x = self.feat_transform(x)
        c, h, w = x.shape[-3:]
        if mask_preds.shape[-2:] != (h, w):
            mask_preds = F.interpolate(mask_preds, (h, w), mode="bilinear", align_corners=False)
        soft_masks = mask_preds.softmax(dim=1)
        x_feat = torch.einsum("bnhw,bchw->bnc", soft_masks, x)  # group feature assembling (Eq. 3)

        # kernels (N, K, C, k, k) -> (N, K, k*k, C)
        proposal_feat = proposal_feat.reshape(n, num_kernels, self.in_channels, -1).permute(0, 1, 3, 2)
        obj_feat = self.kernel_update_conv(x_feat, proposal_feat)
        obj_feat = self.attention_norm(self.attention(obj_feat.reshape(n, num_kernels, -1)))
        obj_feat = obj_feat.reshape(n, num_kernels, -1, self.in_channels)  # (N, K, k*k, C)
        if self.with_ffn:
            obj_feat = self.ffn_norm(self.ffn(obj_feat))

        mask_feat = obj_feat
        for layer in self.mask_fcs:
            mask_feat = layer(mask_feat)
        mask_feat = self.fc_mask(mask_feat).permute(0, 1, 3, 2)  # (N, K, C, k*k)

        if self.mask_transform_stride == 2 and self.feat_gather_stride == 1:
            mask_x = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False)
            h, w = mask_x.shape[-2:]
        else:
            mask_x = x
        k = self.conv_kernel_size
        mask_feat = mask_feat.reshape(n, num_kernels, c, k, k)
        new_masks = torch.cat([F.conv2d(mask_x[i: i + 1], mask_feat[i], padding=k // 2) for i in range(n)])
        new_masks = new_masks.reshape(n, num_kernels, h, w)
        if self.mask_transform_stride == 2:
            new_masks = F.interpolate(new_masks, scale_factor=2, mode="bilinear", align_corners=False)
        if mask_shape is not None and mask_shape[0] != h:
            new_masks = F.interpolate(new_masks, mask_shape, mode="bilinear", align_corners=False)
        kernels = obj_feat.permute(0, 1, 3, 2).reshape(n, num_kernels, self.in_channels, k, k)
        return new_masks, kernels
