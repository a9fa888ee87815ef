"""K-Net's ``IterativeDecodeHead``: a kernel generate head (FCN/PSP/ASPP/UPer) whose classifier weights
are the initial kernels, refined by ``num_stages`` ``KernelUpdateHead`` stages.

Paper: K-Net: Towards Unified Image Segmentation, https://arxiv.org/abs/2106.14855
Key layout (MMSeg 1.2.2): ``kernel_generate_head.*`` (the wrapped head's own keys, ``conv_seg`` included)
and ``kernel_update_head.{i}.*`` (see ../layers/knet_kernel_update.py).
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from ...structures import SegDataSample
from ..weight_init import load_pretrained

__all__ = ["IterativeDecodeHead"]


@MODELS.register_module()
class IterativeDecodeHead(nn.Module):
    """K-Net decode head: stage 0 is the generate head's logits; every update stage refines the kernels
    (N, num_classes, C, k, k) and masks. ``forward`` returns the list of all stage logits in training
    and the last stage's (N, num_classes, h, w) in eval mode.

    Losses are the generate head's losses for every stage, named ``<loss>.s<i>`` (``loss_ce.s0`` ..
    ``loss_ce.s3``, ``acc_seg.s<i>``), as MMSeg computes them.
    """

    def __init__(
        self,
        num_stages: int,
        kernel_generate_head: dict | nn.Module,
        kernel_update_head: Sequence[dict | nn.Module],
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__()
        if len(kernel_update_head) != num_stages:
            raise ConfigError(f"IterativeDecodeHead: num_stages={num_stages} but kernel_update_head has "
                              f"{len(kernel_update_head)} entries; give one KernelUpdateHead per stage")
        self.num_stages = num_stages
        self.init_cfg = init_cfg
        self.kernel_generate_head = MODELS.build(kernel_generate_head)
        if not hasattr(self.kernel_generate_head, "_forward_feature"):
            raise ConfigError(f"IterativeDecodeHead: kernel_generate_head {type(self.kernel_generate_head).__name__} "
                              "has no _forward_feature (features before conv_seg); use FCNHead, PSPHead, ASPPHead, "
                              "UPerHead or another head that separates them")
        self.kernel_update_head = nn.ModuleList([MODELS.build(cfg) for cfg in kernel_update_head])
        if any(getattr(h, "kernel_init", False) for h in self.kernel_update_head):
            warnings.warn("IterativeDecodeHead: kernel_init=True has no effect here; like MMSeg, the update "
                          "stages keep PyTorch's default init (call KernelUpdateHead.init_weights() to apply it)",
                          stacklevel=2)
        gen = self.kernel_generate_head
        stage_classes = sorted({h.num_classes for h in self.kernel_update_head if hasattr(h, "num_classes")})
        if stage_classes and stage_classes != [gen.num_classes]:
            # As in MMSeg the stages' num_classes is unused: they update one kernel per generate-head class.
            warnings.warn(f"IterativeDecodeHead: kernel_update_head num_classes {stage_classes} differ from "
                          f"kernel_generate_head.num_classes ({gen.num_classes}); the stages update one kernel per "
                          "generate-head class, so theirs has no effect: set them equal", stacklevel=2)
        self.align_corners, self.num_classes = gen.align_corners, gen.num_classes
        self.ignore_index, self.out_channels = gen.ignore_index, gen.num_classes
        # What the segmentor's channel check reads: the features this head consumes are the generate head's.
        self.in_channels, self.in_index, self.input_transform = gen.in_channels, gen.in_index, gen.input_transform

    def init_weights(self) -> bool:
        """Initialise the generate head, then load this head's Pretrained ``init_cfg`` (if any).

        The update stages are not re-initialised: MMSeg's init never reaches them (they sit in a plain
        ``nn.ModuleList``), so they keep the PyTorch defaults that K-Net models were trained from.
        """
        loaded = bool(self.kernel_generate_head.init_weights())
        return load_pretrained(self, self.init_cfg) or loaded

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor | list[torch.Tensor]:
        """All stage logits (training) or the last stage's (N, num_classes, h, w) (eval)."""
        gen = self.kernel_generate_head
        feats = gen._forward_feature(inputs)
        seg = gen.cls_seg(feats)
        kernels = gen.conv_seg.weight.clone()
        kernels = kernels[None].expand(feats.size(0), *kernels.size())
        stage_segs = [seg]
        for stage in self.kernel_update_head:
            seg, kernels = stage(feats, kernels, seg)
            stage_segs.append(seg)
        return stage_segs if self.training else stage_segs[-1]

    def loss(self, inputs: Sequence[torch.Tensor], batch_data_samples: list[SegDataSample],
             train_cfg: dict | None = None) -> dict[str, torch.Tensor]:
        """Forward and the per-stage losses against ``gt_sem_seg``."""
        seg_logits = self.forward(inputs)
        if not isinstance(seg_logits, list):
            seg_logits = [seg_logits]  # eval-mode forward: only the last stage exists
        return self.loss_by_feat(seg_logits, batch_data_samples)

    def loss_by_feat(self, seg_logits: Sequence[torch.Tensor],
                     batch_data_samples: list[SegDataSample]) -> dict[str, torch.Tensor]:
        """The generate head's losses of each stage's logits, keys suffixed ``.s<stage>``."""
        losses: dict[str, torch.Tensor] = {}
        for i, logits in enumerate(seg_logits):
            for key, value in self.kernel_generate_head.loss_by_feat(logits, batch_data_samples).items():
                losses[f"{key}.s{i}"] = value
        return losses

    def predict(self, inputs: Sequence[torch.Tensor], batch_img_metas: list[dict],
                test_cfg: dict | None = None) -> torch.Tensor:
        """Last-stage logits resized to the (padded) input size: (N, num_classes, H, W)."""
        seg_logits = self.forward(inputs)
        if isinstance(seg_logits, list):
            seg_logits = seg_logits[-1]
        return self.predict_by_feat(seg_logits, batch_img_metas)

    def predict_by_feat(self, seg_logits: torch.Tensor, batch_img_metas: list[dict]) -> torch.Tensor:
        """Resize logits to the batch's padded input shape."""
        return self.kernel_generate_head.predict_by_feat(seg_logits, batch_img_metas)

    def losses_iter(self) -> list[nn.Module]:
        """The generate head's loss modules (every stage uses them)."""
        return self.kernel_generate_head.losses_iter()
