"""FPN neck from "Feature Pyramid Networks for Object Detection" (https://arxiv.org/abs/1612.03144)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers import ConvModule, resize
from ..weight_init import load_pretrained

__all__ = ["FPN"]

_EXTRA_MODES = ("on_input", "on_lateral", "on_output")


@MODELS.register_module()
class FPN(nn.Module):
    """Lateral 1x1 convs, a top-down pathway and 3x3 output convs; optional extra coarser levels.

    Uses input levels ``start_level .. end_level-1`` (``end_level=-1``: through the last one) and
    returns ``num_outs`` maps of ``out_channels``; levels beyond the inputs come from stride-2 max
    pooling (``add_extra_convs=False``) or stride-2 3x3 convs on the last input ('on_input'), lateral
    ('on_lateral') or output ('on_output'); ``True`` means 'on_input' when the deprecated
    ``extra_convs_on_inputs`` is set, else 'on_output' (as in MMSeg). Keys: ``lateral_convs.<i>.conv``,
    ``fpn_convs.<i>.conv``.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        out_channels: int,
        num_outs: int,
        start_level: int = 0,
        end_level: int = -1,
        add_extra_convs: bool | str = False,
        extra_convs_on_inputs: bool = False,
        relu_before_extra_convs: bool = False,
        no_norm_on_lateral: bool = False,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        act_cfg: dict | None = None,
        upsample_cfg: dict = dict(mode="nearest"),  # noqa: B006 - copied, never mutated
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(in_channels, (list, tuple)) or not in_channels:
            raise ConfigError(f"FPN: in_channels must be a non-empty list of ints, got {in_channels!r}")
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.num_ins = len(self.in_channels)
        self.num_outs = num_outs
        self.relu_before_extra_convs = relu_before_extra_convs
        self.no_norm_on_lateral = no_norm_on_lateral
        self.upsample_cfg = dict(upsample_cfg)
        self.init_cfg = init_cfg
        if not 0 <= start_level < self.num_ins:
            raise ConfigError(f"FPN: start_level {start_level} is outside the {self.num_ins} input levels")
        if end_level == -1:
            self.backbone_end_level = self.num_ins
            if num_outs < self.num_ins - start_level:
                raise ConfigError(f"FPN: num_outs ({num_outs}) must be >= the number of used input levels "
                                  f"({self.num_ins - start_level})")
        else:
            # end_level is exclusive; with an explicit end no extra levels are allowed.
            if not start_level < end_level <= self.num_ins:
                raise ConfigError(f"FPN: end_level {end_level} must be in ({start_level}, {self.num_ins}]")
            if num_outs != end_level - start_level:
                raise ConfigError(f"FPN: with end_level={end_level}, num_outs must be end_level - start_level "
                                  f"= {end_level - start_level}, got {num_outs}")
            self.backbone_end_level = end_level
        self.start_level, self.end_level = start_level, end_level

        if isinstance(add_extra_convs, str):
            if add_extra_convs not in _EXTRA_MODES:
                raise ConfigError(f"FPN: add_extra_convs must be False, True or one of {_EXTRA_MODES}, "
                                  f"got {add_extra_convs!r}")
        elif add_extra_convs is True:
            add_extra_convs = "on_input" if extra_convs_on_inputs else "on_output"
        elif add_extra_convs is not False:
            raise ConfigError(f"FPN: add_extra_convs must be a bool or a string, got {add_extra_convs!r}")
        self.add_extra_convs = add_extra_convs

        conv_kw = dict(conv_cfg=conv_cfg, act_cfg=act_cfg, inplace=False)
        self.lateral_convs = nn.ModuleList()
        self.fpn_convs = nn.ModuleList()
        for i in range(start_level, self.backbone_end_level):
            self.lateral_convs.append(ConvModule(
                self.in_channels[i], out_channels, 1, norm_cfg=None if no_norm_on_lateral else norm_cfg, **conv_kw))
            self.fpn_convs.append(ConvModule(out_channels, out_channels, 3, padding=1, norm_cfg=norm_cfg, **conv_kw))
        extra_levels = num_outs - self.backbone_end_level + start_level
        if self.add_extra_convs and extra_levels >= 1:
            for i in range(extra_levels):
                in_ch = out_channels
                if i == 0 and self.add_extra_convs == "on_input":
                    in_ch = self.in_channels[self.backbone_end_level - 1]
                self.fpn_convs.append(ConvModule(in_ch, out_channels, 3, stride=2, padding=1, norm_cfg=norm_cfg,
                                                 **conv_kw))
        self._init_xavier()

    def _init_xavier(self) -> None:
        """MMSeg's default init for FPN: Xavier-uniform conv weights, zero bias."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def init_weights(self) -> bool:
        """Load ``init_cfg`` Pretrained weights, if configured (the constructor did the default init)."""
        return load_pretrained(self, self.init_cfg)

    def forward(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """``num_outs`` maps (N, out_channels, h_i, w_i), finest first."""
        if len(inputs) != self.num_ins:
            raise ValueError(f"FPN got {len(inputs)} feature maps but was built for in_channels={self.in_channels}")
        laterals = [conv(inputs[i + self.start_level]) for i, conv in enumerate(self.lateral_convs)]
        used = len(laterals)
        for i in range(used - 1, 0, -1):
            if "scale_factor" in self.upsample_cfg:
                up = resize(laterals[i], **self.upsample_cfg)
            else:
                up = resize(laterals[i], size=laterals[i - 1].shape[2:], **self.upsample_cfg)
            laterals[i - 1] = laterals[i - 1] + up
        outs = [self.fpn_convs[i](laterals[i]) for i in range(used)]
        if self.num_outs > used:
            if not self.add_extra_convs:
                for _ in range(self.num_outs - used):
                    # A 1x1 max pool with stride 2 is plain subsampling (as in Faster R-CNN's P6).
                    outs.append(F.max_pool2d(outs[-1], 1, stride=2))
            else:
                source = {"on_input": inputs[self.backbone_end_level - 1], "on_lateral": laterals[-1],
                          "on_output": outs[-1]}[self.add_extra_convs]
                outs.append(self.fpn_convs[used](source))
                for i in range(used + 1, self.num_outs):
                    prev = F.relu(outs[-1]) if self.relu_before_extra_convs else outs[-1]
                    outs.append(self.fpn_convs[i](prev))
        return tuple(outs)
