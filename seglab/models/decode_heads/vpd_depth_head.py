"""VPDDepthHead: the depth decoder of VPD (Zhao et al., "Unleashing Text-to-Image Diffusion Models for
Visual Perception", ICCV 2023, https://arxiv.org/abs/2303.02153), MMSeg 1.x layout.

Four feature maps at strides (s, 2s, 4s, 8s) are brought to the 4s map (``conv1``: two stride-2 convs
on the first, ``conv2``: one on the second, the fourth upsampled x2), concatenated and fused by
``conv_aggregation``; ``decoder`` (deconvs x2 each, then two bilinear x2) and ``depth_pred_layer`` give
one channel, ``sigmoid * max_depth``. The head works on any backbone with such a pyramid (VPD's
Stable-Diffusion UNet gives 1/8..1/64; a ResNet gives 1/4..1/32 and the depth map then comes out at
twice the input size, which ``loss``/``predict`` resize as for every head).

State-dict keys: ``conv1.{0,1,3}``, ``conv2``, ``conv_aggregation.{0,1}``,
``decoder.deconv_layers.{3i,3i+1}``, ``decoder.conv_layers.{0,1}``, ``depth_pred_layer.{0,2}``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS, ConfigError
from ...structures import SegDataSample
from ..layers import resize
from ..weight_init import load_pretrained

__all__ = ["VPDDepthDecoder", "VPDDepthHead"]


class VPDDepthDecoder(nn.Module):
    """Deconv x2 blocks (ConvTranspose-BN-ReLU), a conv-BN-ReLU to ``out_channels``, then bilinear x4."""

    def __init__(self, in_channels: int, out_channels: int, num_deconv_layers: int,
                 num_deconv_filters: Sequence[int]) -> None:
        super().__init__()
        if len(num_deconv_filters) < num_deconv_layers:
            raise ConfigError(f"VPDDepthHead: num_deconv_filters {list(num_deconv_filters)} needs one entry per "
                              f"deconv layer (num_deconv_layers={num_deconv_layers})")
        self.in_channels = in_channels
        layers: list[nn.Module] = []
        channels = in_channels
        for filters in num_deconv_filters[:num_deconv_layers]:
            layers += [nn.ConvTranspose2d(channels, filters, kernel_size=2, stride=2, padding=0, output_padding=0,
                                          bias=False), nn.BatchNorm2d(filters), nn.ReLU(inplace=True)]
            channels = filters
        self.deconv_layers = nn.Sequential(*layers)
        self.conv_layers = nn.Sequential(nn.Conv2d(channels, out_channels, 3, stride=1, padding=1),
                                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))
        self.up_sample = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        # MMSeg's init_cfg for this decoder: Normal(std=0.001) on convs and deconvs, zero bias.
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, 0.0, 0.001)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, h, w) -> (N, out_channels, 2^(layers+2) h, 2^(layers+2) w)."""
        out = self.conv_layers(self.deconv_layers(x))
        return self.up_sample(self.up_sample(out))


@MODELS.register_module()
class VPDDepthHead(nn.Module):
    """Depth head of VPD: four pyramid maps -> depth (N, 1, H', W') in (0, ``max_depth``), trained with SiLogLoss.

    ``feature_dim`` must equal ``8 * embed_dim`` (the decoder reads the aggregated map with that many
    channels, as in MMSeg); ``fmap_border`` crops that many rows/columns off the bottom/right of the
    aggregated map (MMSeg's 480x480 config uses (1, 1)).
    """

    num_classes = 1
    out_channels = 1
    # The head reads the first four maps it is given; declared so the segmentor checks in_channels.
    in_index = (0, 1, 2, 3)
    input_transform = "multiple_select"

    def __init__(
        self,
        max_depth: float = 10.0,
        in_channels: Sequence[int] = (320, 640, 1280, 1280),
        embed_dim: int = 192,
        feature_dim: int = 1536,
        num_deconv_layers: int = 3,
        num_deconv_filters: Sequence[int] = (32, 32, 32),
        fmap_border: int | Sequence[int] = 0,
        align_corners: bool = False,
        loss_decode: dict | Sequence[dict] | nn.Module = dict(type="SiLogLoss"),  # noqa: B006 - never mutated
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__()
        in_channels = list(in_channels)
        if len(in_channels) != 4:
            raise ConfigError(f"VPDDepthHead: in_channels must list the channels of 4 feature maps, got {in_channels}")
        if feature_dim != 8 * embed_dim:
            raise ConfigError(f"VPDDepthHead: feature_dim ({feature_dim}) must be 8 * embed_dim ({8 * embed_dim}); "
                              f"set feature_dim={8 * embed_dim} or embed_dim={feature_dim // 8}")
        for name, channels in (("in_channels[0]", in_channels[0]), ("feature_dim", feature_dim)):
            if channels % 16:
                raise ConfigError(f"VPDDepthHead: {name}={channels} must be a multiple of 16 (GroupNorm(16, ...))")
        if max_depth <= 0:
            raise ConfigError(f"VPDDepthHead: max_depth must be positive, got {max_depth}")
        self.in_channels = in_channels
        self.max_depth = max_depth
        self.align_corners = align_corners
        self.fmap_border = (fmap_border, fmap_border) if isinstance(fmap_border, int) else tuple(fmap_border)
        self.init_cfg = init_cfg
        c0, c1 = in_channels[0], in_channels[1]
        self.conv1 = nn.Sequential(nn.Conv2d(c0, c0, 3, stride=2, padding=1), nn.GroupNorm(16, c0), nn.ReLU(),
                                   nn.Conv2d(c0, c0, 3, stride=2, padding=1))
        self.conv2 = nn.Conv2d(c1, c1, 3, stride=2, padding=1)
        self.conv_aggregation = nn.Sequential(nn.Conv2d(sum(in_channels), feature_dim, 1),
                                              nn.GroupNorm(16, feature_dim), nn.ReLU())
        self.decoder = VPDDepthDecoder(embed_dim * 8, embed_dim, num_deconv_layers, num_deconv_filters)
        self.depth_pred_layer = nn.Sequential(nn.Conv2d(embed_dim, embed_dim, 3, stride=1, padding=1),
                                              nn.ReLU(inplace=False), nn.Conv2d(embed_dim, 1, 3, stride=1, padding=1))
        # MMSeg's init_cfg for the head: TruncNormal(std=0.02) on convs, zero bias (the decoder has its own).
        for part in (self.conv1, self.conv2, self.conv_aggregation, self.depth_pred_layer):
            for m in part.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.trunc_normal_(m.weight, std=0.02)
                    nn.init.zeros_(m.bias)
        if isinstance(loss_decode, (dict, nn.Module)):
            self.loss_decode = MODELS.build(loss_decode)
        elif isinstance(loss_decode, (list, tuple)):
            self.loss_decode = nn.ModuleList([MODELS.build(cfg) for cfg in loss_decode])
        else:
            raise ConfigError(f"VPDDepthHead: loss_decode must be a dict or a list of dicts, "
                              f"got {type(loss_decode).__name__}")

    def init_weights(self) -> bool:
        """Load ``init_cfg`` Pretrained weights, if configured (the constructor did MMSeg's init)."""
        return load_pretrained(self, self.init_cfg)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Maps (N, in_channels[i], H/s_i, W/s_i) -> depth (N, 1, h, w) in (0, max_depth)."""
        x0, x1, x2, x3 = inputs[:4]
        # MMSeg upsamples x2 (nearest); sizing to x2 is the same on even maps and also fits an odd x2.
        x2 = torch.cat([x2, F.interpolate(x3, size=x2.shape[2:])], dim=1)
        x = self.conv_aggregation(torch.cat([self.conv1(x0), self.conv2(x1), x2], dim=1))
        x = x[:, :, : x.size(2) - self.fmap_border[0], : x.size(3) - self.fmap_border[1]].contiguous()
        out = self.depth_pred_layer(self.decoder(x))
        return torch.sigmoid(out) * self.max_depth

    def losses_iter(self) -> list[nn.Module]:
        """The loss modules as a list."""
        return list(self.loss_decode) if isinstance(self.loss_decode, nn.ModuleList) else [self.loss_decode]

    def loss(self, inputs: Sequence[torch.Tensor], batch_data_samples: list[SegDataSample],
             train_cfg: dict | None = None) -> dict[str, torch.Tensor]:
        """Forward and compute the losses against each sample's ``gt_depth_map``."""
        self._stack_batch_gt(batch_data_samples)  # fail on missing depth maps before the forward pass
        return self.loss_by_feat(self.forward(inputs), batch_data_samples)

    @staticmethod
    def _stack_batch_gt(batch_data_samples: list[SegDataSample]) -> torch.Tensor:
        """Ground-truth depth (N, 1, H, W) of the samples."""
        missing = [i for i, s in enumerate(batch_data_samples) if getattr(s, "gt_depth_map", None) is None]
        if missing:
            raise ValueError(f"VPDDepthHead.loss: data samples {missing} have no gt_depth_map; add "
                             "LoadDepthAnnotation to the training pipeline")
        return torch.stack([s.gt_depth_map.data for s in batch_data_samples], dim=0)

    def loss_by_feat(self, pred_depth_map: torch.Tensor,
                     batch_data_samples: list[SegDataSample]) -> dict[str, torch.Tensor]:
        """Losses of depth (N, 1, h, w), resized bilinearly to the ground truth (N, 1, H, W)."""
        gt = self._stack_batch_gt(batch_data_samples).to(pred_depth_map)
        pred = resize(pred_depth_map, size=gt.shape[2:], mode="bilinear", align_corners=self.align_corners)
        losses: dict[str, torch.Tensor] = {}
        for loss_fn in self.losses_iter():
            value = loss_fn(pred, gt)
            losses[loss_fn.loss_name] = losses[loss_fn.loss_name] + value if loss_fn.loss_name in losses else value
        return losses

    def predict(self, inputs: Sequence[torch.Tensor], batch_img_metas: list[dict],
                test_cfg: dict | None = None) -> torch.Tensor:
        """Depth resized to the (padded) input size: (N, 1, H, W)."""
        return self.predict_by_feat(self.forward(inputs), batch_img_metas)

    def predict_by_feat(self, depth: torch.Tensor, batch_img_metas: list[dict]) -> torch.Tensor:
        """Resize depth to the batch's padded input shape."""
        meta = batch_img_metas[0]
        size = meta["pad_shape"][:2] if "pad_shape" in meta else meta["img_shape"][:2]
        return resize(depth, size=size, mode="bilinear", align_corners=self.align_corners)
