"""HRNet: parallel multi-resolution branches with repeated cross-resolution fusion (MMSeg's key layout).

Paper: "High-Resolution Representations for Labeling Pixels and Regions" (https://arxiv.org/abs/1904.04514).
State-dict keys: stem ``conv1``/``bn1``/``conv2``/``bn2``; ``layer1.<j>`` (ResNet blocks);
``transition<k>.<branch>[.<i>].0/1`` (3x3 conv, norm); ``stage<s>.<module>.branches.<b>.<j>`` (ResNet
blocks) and ``stage<s>.<module>.fuse_layers.<i>.<j>.0/1`` (1x1 conv + norm + upsample for a lower
resolution; chains of ``.<k>.0/1`` stride-2 3x3 conv + norm for a higher one).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ...registry import MODELS, ConfigError
from ..layers import Upsample, build_conv_layer, build_norm_layer, resize
from ..weight_init import kaiming_cnn_init, load_pretrained, resolve_init_cfg
from .resnet import BasicBlock, Bottleneck

__all__ = ["HRModule", "HRNet"]

_BN = dict(type="BN", requires_grad=True)
BLOCKS: dict[str, type[nn.Module]] = {"BASIC": BasicBlock, "BOTTLENECK": Bottleneck}
_STAGE_KEYS = ("num_modules", "num_branches", "block", "num_blocks", "num_channels")


def _conv_norm(conv_cfg: dict | None, norm_cfg: dict, c_in: int, c_out: int, kernel_size: int, stride: int = 1,
               relu: bool = False) -> nn.Sequential:
    """conv (no bias) -> norm [-> ReLU], as ``.0``/``.1``[/``.2``]."""
    layers: list[nn.Module] = [
        build_conv_layer(conv_cfg, c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
        build_norm_layer(norm_cfg, c_out)[1],
    ]
    if relu:
        layers.append(nn.ReLU(inplace=False))
    return nn.Sequential(*layers)


def make_blocks(block: type[nn.Module], inplanes: int, planes: int, num_blocks: int, with_cp: bool,
                conv_cfg: dict | None, norm_cfg: dict) -> nn.Sequential:
    """``num_blocks`` ResNet blocks at stride 1; the first gets a 1x1 projection when the width changes."""
    out = planes * block.expansion
    downsample = _conv_norm(conv_cfg, norm_cfg, inplanes, out, 1) if inplanes != out else None
    return nn.Sequential(*[
        block(inplanes if i == 0 else out, planes, downsample=downsample if i == 0 else None, with_cp=with_cp,
              conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        for i in range(num_blocks)
    ])


class HRModule(nn.Module):
    """One exchange unit: a block stack per branch, then every output branch sums all (resampled) branches.

    Branch i runs at stride 2**i relative to branch 0. A lower-resolution input j > i goes through a 1x1
    conv + norm and a bilinear x2**(j-i) upsample; a higher-resolution one j < i through (i - j) stride-2
    3x3 convs. ``multiscale_output=False`` keeps only branch 0's output.
    Input and output: lists of (N, in_channels[i], H_i, W_i).
    """

    def __init__(
        self,
        num_branches: int,
        blocks: type[nn.Module],
        num_blocks: Sequence[int],
        in_channels: Sequence[int],
        num_channels: Sequence[int],
        multiscale_output: bool = True,
        with_cp: bool = False,
        conv_cfg: dict | None = None,
        norm_cfg: dict = _BN,
    ) -> None:
        super().__init__()
        for name, values in (("num_blocks", num_blocks), ("num_channels", num_channels),
                             ("in_channels", in_channels)):
            if len(values) != num_branches:
                raise ConfigError(f"HRModule: num_branches={num_branches} but {name} has {len(values)} entries "
                                  f"({list(values)}); give one per branch")
        self.num_branches, self.multiscale_output, self.with_cp = num_branches, multiscale_output, with_cp
        self.branches = nn.ModuleList([
            make_blocks(blocks, in_channels[i], num_channels[i], num_blocks[i], with_cp, conv_cfg, norm_cfg)
            for i in range(num_branches)
        ])
        self.in_channels = [c * blocks.expansion for c in num_channels]
        self.fuse_layers = self._make_fuse_layers(conv_cfg, norm_cfg) if num_branches > 1 else None
        self.relu = nn.ReLU(inplace=False)

    def _make_fuse_layers(self, conv_cfg: dict | None, norm_cfg: dict) -> nn.ModuleList:
        chans = self.in_channels
        fuse_layers = nn.ModuleList()
        for i in range(self.num_branches if self.multiscale_output else 1):
            row: list[nn.Module | None] = []
            for j in range(self.num_branches):
                if j > i:
                    up = _conv_norm(conv_cfg, norm_cfg, chans[j], chans[i], 1)
                    up.append(Upsample(scale_factor=2 ** (j - i), mode="bilinear", align_corners=False))
                    row.append(up)
                elif j == i:
                    row.append(None)
                else:
                    # (i - j) stride-2 convs; only the last changes the width (and has no ReLU).
                    steps = [_conv_norm(conv_cfg, norm_cfg, chans[j], chans[j], 3, stride=2, relu=True)
                             for _ in range(i - j - 1)]
                    steps.append(_conv_norm(conv_cfg, norm_cfg, chans[j], chans[i], 3, stride=2))
                    row.append(nn.Sequential(*steps))
            fuse_layers.append(nn.ModuleList(row))
        return fuse_layers

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        """Branch features (N, C_i, H_i, W_i) -> fused features at the same resolutions."""
        x = [branch(xi) for branch, xi in zip(self.branches, x)]
        if self.fuse_layers is None:
            return x
        fused = []
        for i, row in enumerate(self.fuse_layers):
            y: torch.Tensor | None = None
            for j, layer in enumerate(row):  # summed in branch order, as MMSeg does
                z = x[j] if layer is None else layer(x[j])
                if j > i:  # the x2**k upsample overshoots odd sizes: bring it to this branch's size
                    z = resize(z, size=x[i].shape[2:], mode="bilinear", align_corners=False)
                y = z if y is None else y + z
            fused.append(self.relu(y))
        return fused


@MODELS.register_module()
class HRNet(nn.Module):
    """HRNet backbone: a stride-4 stem, a ResNet stage (``layer1``), then stages 2-4 of HRModules.

    ``extra`` has ``stage1`` .. ``stage4``, each with ``num_modules``, ``num_branches``, ``block``
    ('BASIC' or 'BOTTLENECK'), ``num_blocks`` and ``num_channels`` (one entry per branch); stage 1 has
    one branch. Input (N, in_channels, H, W); output: one map per stage-4 branch i with
    ``num_channels[i] * expansion`` channels at stride 4 * 2**i (only branch 0 when
    ``multiscale_output=False``). ``frozen_stages=k`` freezes the stem and stages 1..k (and the
    transitions into them); ``norm_eval`` keeps BatchNorms in eval mode. ``zero_init_residual`` zeroes
    each block's last norm under the default init.
    """

    blocks_dict: ClassVar[dict[str, type[nn.Module]]] = BLOCKS

    def __init__(
        self,
        extra: Mapping[str, Mapping[str, Any]],
        in_channels: int = 3,
        conv_cfg: dict | None = None,
        norm_cfg: dict = _BN,
        norm_eval: bool = False,
        with_cp: bool = False,
        frozen_stages: int = -1,
        zero_init_residual: bool = False,
        multiscale_output: bool = True,
        pretrained: str | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__()
        self.init_cfg = resolve_init_cfg(pretrained, init_cfg, "HRNet")
        self.pretrained = pretrained
        stage_cfgs = self._check_extra(extra)
        if not -1 <= frozen_stages <= 4:
            raise ConfigError(f"HRNet: frozen_stages must be in [-1, 4], got {frozen_stages}")
        self.extra = extra
        self.conv_cfg, self.norm_cfg, self.norm_eval = conv_cfg, norm_cfg, norm_eval
        self.with_cp, self.frozen_stages, self.zero_init_residual = with_cp, frozen_stages, zero_init_residual
        self.stage1_cfg, self.stage2_cfg, self.stage3_cfg, self.stage4_cfg = stage_cfgs

        # Stem: two stride-2 3x3 convs to 64 channels.
        self.conv1 = build_conv_layer(conv_cfg, in_channels, 64, 3, stride=2, padding=1, bias=False)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, 64, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(conv_cfg, 64, 64, 3, stride=2, padding=1, bias=False)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, 64, postfix=2)
        self.add_module(self.norm2_name, norm2)
        self.relu = nn.ReLU(inplace=True)

        block = BLOCKS[self.stage1_cfg["block"]]
        planes = self.stage1_cfg["num_channels"][0]
        self.layer1 = make_blocks(block, 64, planes, self.stage1_cfg["num_blocks"][0], with_cp, conv_cfg, norm_cfg)
        pre_channels = [planes * block.expansion]
        for s in (2, 3, 4):
            cfg = stage_cfgs[s - 1]
            block = BLOCKS[cfg["block"]]
            channels = [c * block.expansion for c in cfg["num_channels"]]
            self.add_module(f"transition{s - 1}", self._make_transition_layer(pre_channels, channels))
            stage, pre_channels = self._make_stage(cfg, channels, multiscale_output if s == 4 else True)
            self.add_module(f"stage{s}", stage)
        self.out_channels = pre_channels if multiscale_output else pre_channels[:1]
        self.out_strides = [4 * 2**i for i in range(len(self.out_channels))]
        self._default_init()
        self._freeze_stages()

    @staticmethod
    def _check_extra(extra: Mapping[str, Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """The four stage dicts of ``extra``, checked: every key present, one entry per branch, a known block."""
        cfgs = []
        for s in range(1, 5):
            cfg = extra.get(f"stage{s}") if isinstance(extra, Mapping) else None
            if not isinstance(cfg, Mapping):
                raise ConfigError(f"HRNet: extra needs dicts stage1..stage4; stage{s} is missing")
            missing = [k for k in _STAGE_KEYS if k not in cfg]
            if missing:
                raise ConfigError(f"HRNet: extra.stage{s} lacks {missing}; each stage needs {list(_STAGE_KEYS)}")
            n = cfg["num_branches"]
            if len(cfg["num_blocks"]) != n or len(cfg["num_channels"]) != n:
                raise ConfigError(f"HRNet: extra.stage{s} has num_branches={n} but num_blocks={cfg['num_blocks']} "
                                  f"and num_channels={cfg['num_channels']}; give one entry per branch")
            if cfg["block"] not in BLOCKS:
                raise ConfigError(f"HRNet: extra.stage{s}.block={cfg['block']!r}; choose one of {sorted(BLOCKS)}")
            cfgs.append(cfg)
        if cfgs[0]["num_branches"] != 1:
            raise ConfigError(f"HRNet: extra.stage1 must have one branch, got {cfgs[0]['num_branches']}")
        return cfgs

    @property
    def norm1(self) -> nn.Module:
        """Norm after the first stem conv."""
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        """Norm after the second stem conv."""
        return getattr(self, self.norm2_name)

    def _make_transition_layer(self, pre: Sequence[int], cur: Sequence[int]) -> nn.ModuleList:
        """Per new-stage branch: None (same width), a 3x3 conv (width change), or stride-2 convs (new branch)."""
        layers: list[nn.Module | None] = []
        for i, c_out in enumerate(cur):
            if i < len(pre):
                layers.append(None if c_out == pre[i] else
                              _conv_norm(self.conv_cfg, self.norm_cfg, pre[i], c_out, 3, relu=True))
            else:
                # A new branch comes from the previous lowest resolution, halved (i + 1 - len(pre)) times.
                steps = [
                    _conv_norm(self.conv_cfg, self.norm_cfg, pre[-1], c_out if k == i - len(pre) else pre[-1], 3,
                               stride=2, relu=True)
                    for k in range(i + 1 - len(pre))
                ]
                layers.append(nn.Sequential(*steps))
        return nn.ModuleList(layers)

    def _make_stage(self, cfg: Mapping[str, Any], in_channels: list[int],
                    multiscale_output: bool) -> tuple[nn.Sequential, list[int]]:
        block = BLOCKS[cfg["block"]]
        modules = []
        channels = list(in_channels)
        for i in range(cfg["num_modules"]):
            module = HRModule(cfg["num_branches"], block, cfg["num_blocks"], channels, cfg["num_channels"],
                              multiscale_output or i < cfg["num_modules"] - 1, with_cp=self.with_cp,
                              conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg)
            channels = module.in_channels
            modules.append(module)
        return nn.Sequential(*modules), channels

    def _default_init(self) -> None:
        kaiming_cnn_init(self)
        if self.zero_init_residual and self.init_cfg is None:
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)) and getattr(m.last_norm, "weight", None) is not None:
                    nn.init.zeros_(m.last_norm.weight)
                    nn.init.zeros_(m.last_norm.bias)

    def init_weights(self) -> bool:
        """Load ``init_cfg`` Pretrained weights (the constructor did the default init); True when some were loaded."""
        return load_pretrained(self, self.init_cfg)

    def _frozen_modules(self) -> list[nn.Module]:
        modules: list[nn.Module] = []
        if self.frozen_stages >= 0:
            modules += [self.conv1, self.norm1, self.conv2, self.norm2]
        for i in range(1, self.frozen_stages + 1):
            modules.append(self.layer1 if i == 1 else getattr(self, f"stage{i}"))
            # MMSeg freezes transition i with stage i (for i = 4 it keeps transition3, already frozen).
            modules.append(getattr(self, f"transition{min(i, 3)}"))
        return modules

    def _freeze_stages(self) -> None:
        for m in self._frozen_modules():
            m.eval()
            for param in m.parameters():
                param.requires_grad = False

    def _transition(self, transition: nn.ModuleList, y: list[torch.Tensor], num_branches: int) -> list[torch.Tensor]:
        # A new branch grows from the previous stage's lowest resolution; an existing branch whose width
        # changes is projected from itself. (MMSeg 1.2.2 feeds that projection the lowest resolution too,
        # which breaks when a width changes after stage 2; none of its configs does that, so both agree.)
        outs = []
        for i in range(num_branches):
            if transition[i] is None:
                outs.append(y[i])
            else:
                outs.append(transition[i](y[i] if i < len(y) else y[-1]))
        return outs

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x: (N, in_channels, H, W) -> list of (N, out_channels[i], ceil(H / out_strides[i]), ...)."""
        x = self.relu(self.norm1(self.conv1(x)))
        x = self.relu(self.norm2(self.conv2(x)))
        y = [self.layer1(x)]
        y = self.stage2(self._transition(self.transition1, y, self.stage2_cfg["num_branches"]))
        y = self.stage3(self._transition(self.transition2, y, self.stage3_cfg["num_branches"]))
        return self.stage4(self._transition(self.transition3, y, self.stage4_cfg["num_branches"]))

    def train(self, mode: bool = True) -> HRNet:
        """Set train mode but keep frozen stages (and all BN layers when ``norm_eval``) in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
