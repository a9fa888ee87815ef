"""ResNet backbones (V1b, V1c, V1d) for segmentation, with dilation, multi-grid and MMSeg's key layout.

Papers: "Deep Residual Learning for Image Recognition" (https://arxiv.org/abs/1512.03385); the V1c/V1d
stems from "Bag of Tricks for Image Classification" (https://arxiv.org/abs/1812.01187); dilated stages
and multi-grid from DeepLab v3 (https://arxiv.org/abs/1706.05587).
State-dict keys: ``conv1``/``bn1`` (or ``stem.0/1/3/4/6/7``), ``layer<i>.<j>.conv1/bn1/conv2/bn2[/conv3/bn3]``,
``layer<i>.0.downsample.0/1`` (``.1/.2`` after the V1d average pool).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
import torch.utils.checkpoint as cp
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ...registry import MODELS, ConfigError
from ...signatures import inherit_signature
from ..layers import build_conv_layer, build_norm_layer
from ..weight_init import kaiming_cnn_init, load_pretrained, resolve_init_cfg

__all__ = ["BasicBlock", "Bottleneck", "ResLayer", "ResNet", "ResNetV1c", "ResNetV1d", "inherit_signature"]


def check_unsupported(dcn: dict | None, plugins: list | None, where: str) -> None:
    """Reject options that need compiled ops (DCN) or MMCV plugin layers, with the fix in the message."""
    if dcn is not None:
        raise ConfigError(
            f"{where}: dcn={dcn!r} needs deformable convolution, a compiled op seglab does not ship; "
            "remove 'dcn' (and 'stage_with_dcn') from the backbone config"
        )
    if plugins is not None:
        raise ConfigError(f"{where}: 'plugins' are not supported; remove them from the backbone config")


class BasicBlock(nn.Module):
    """Two 3x3 conv-norm layers plus a shortcut (ResNet-18/34). (N, inplanes, H, W) -> (N, planes, H/s, W/s)."""

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
        style: str = "pytorch",
        with_cp: bool = False,
        conv_cfg: dict | None = None,
        norm_cfg: dict = dict(type="BN"),  # noqa: B006 - never mutated
        dcn: dict | None = None,
        plugins: list | None = None,
        init_cfg: dict | None = None,
    ) -> None:
        super().__init__()
        check_unsupported(dcn, plugins, "BasicBlock")
        self.conv1 = build_conv_layer(conv_cfg, inplanes, planes, 3, stride=stride, padding=dilation,
                                      dilation=dilation, bias=False)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, planes, postfix=1)
        self.add_module(self.norm1_name, norm1)
        # Only the first conv is dilated: that is what MMSeg's pretrained R18/R34-d8 models were trained with.
        self.conv2 = build_conv_layer(conv_cfg, planes, planes, 3, padding=1, bias=False)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, planes, postfix=2)
        self.add_module(self.norm2_name, norm2)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride, self.dilation, self.with_cp = stride, dilation, with_cp

    @property
    def norm1(self) -> nn.Module:
        """Norm after conv1."""
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        """Norm after conv2 (the block's last norm)."""
        return getattr(self, self.norm2_name)

    @property
    def last_norm(self) -> nn.Module:
        """The norm zeroed by ``zero_init_residual``."""
        return self.norm2

    def _inner_forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return out + identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            out = cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        else:
            out = self._inner_forward(x)
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 -> 1x1 (x4 channels) conv-norm block plus a shortcut (ResNet-50+, ResNeXt when groups > 1).

    ``style='pytorch'`` strides the 3x3 conv, ``'caffe'`` the first 1x1. The middle width is ``planes``, or
    ``floor(planes * base_width / base_channels) * groups`` for grouped (ResNeXt) blocks.
    (N, inplanes, H, W) -> (N, 4 * planes, H/s, W/s).
    """

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
        style: str = "pytorch",
        with_cp: bool = False,
        conv_cfg: dict | None = None,
        norm_cfg: dict = dict(type="BN"),  # noqa: B006 - never mutated
        dcn: dict | None = None,
        plugins: list | None = None,
        init_cfg: dict | None = None,
        groups: int = 1,
        base_width: int = 4,
        base_channels: int = 64,
    ) -> None:
        super().__init__()
        check_unsupported(dcn, plugins, "Bottleneck")
        if style not in ("pytorch", "caffe"):
            raise ConfigError(f"ResNet style must be 'pytorch' or 'caffe', got {style!r}")
        self.inplanes, self.planes, self.stride, self.dilation = inplanes, planes, stride, dilation
        self.style, self.with_cp, self.conv_cfg, self.norm_cfg = style, with_cp, conv_cfg, norm_cfg
        self.conv1_stride, self.conv2_stride = (1, stride) if style == "pytorch" else (stride, 1)
        width = planes if groups == 1 else math.floor(planes * base_width / base_channels) * groups
        self.width = width
        self.conv1 = build_conv_layer(conv_cfg, inplanes, width, 1, stride=self.conv1_stride, bias=False)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, width, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(conv_cfg, width, width, 3, stride=self.conv2_stride, padding=dilation,
                                      dilation=dilation, groups=groups, bias=False)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, width, postfix=2)
        self.add_module(self.norm2_name, norm2)
        self.conv3 = build_conv_layer(conv_cfg, width, planes * self.expansion, 1, bias=False)
        self.norm3_name, norm3 = build_norm_layer(norm_cfg, planes * self.expansion, postfix=3)
        self.add_module(self.norm3_name, norm3)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    @property
    def norm1(self) -> nn.Module:
        """Norm after conv1."""
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        """Norm after conv2."""
        return getattr(self, self.norm2_name)

    @property
    def norm3(self) -> nn.Module:
        """Norm after conv3 (the block's last norm)."""
        return getattr(self, self.norm3_name)

    @property
    def last_norm(self) -> nn.Module:
        """The norm zeroed by ``zero_init_residual``."""
        return self.norm3

    def forward_conv2(self, x: torch.Tensor) -> torch.Tensor:
        """The middle 3x3 stage; ResNeSt replaces it with split attention."""
        return self.relu(self.norm2(self.conv2(x)))

    def _inner_forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.forward_conv2(out)
        out = self.norm3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return out + identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            out = cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        else:
            out = self._inner_forward(x)
        return self.relu(out)


class ResLayer(nn.Sequential):
    """One ResNet stage: ``num_blocks`` blocks, the first one strided and with the projection shortcut.

    ``avg_down`` downsamples the shortcut with an average pool before a stride-1 1x1 conv (V1d).
    ``multi_grid`` gives each block's dilation; otherwise all blocks use ``dilation``, except the first
    uses ``dilation // 2`` when ``contract_dilation`` and ``dilation > 1``.
    """

    def __init__(
        self,
        block: type[nn.Module],
        inplanes: int,
        planes: int,
        num_blocks: int,
        stride: int = 1,
        dilation: int = 1,
        avg_down: bool = False,
        conv_cfg: dict | None = None,
        norm_cfg: dict = dict(type="BN"),  # noqa: B006 - never mutated
        multi_grid: Sequence[int] | None = None,
        contract_dilation: bool = False,
        **block_kwargs: Any,
    ) -> None:
        out_planes = planes * block.expansion
        downsample = None
        if stride != 1 or inplanes != out_planes:
            layers: list[nn.Module] = []
            conv_stride = stride
            if avg_down:
                conv_stride = 1
                layers.append(nn.AvgPool2d(kernel_size=stride, stride=stride, ceil_mode=True,
                                           count_include_pad=False))
            layers.append(build_conv_layer(conv_cfg, inplanes, out_planes, 1, stride=conv_stride, bias=False))
            layers.append(build_norm_layer(norm_cfg, out_planes)[1])
            downsample = nn.Sequential(*layers)
        if multi_grid is not None:
            if len(multi_grid) < num_blocks:
                raise ConfigError(f"multi_grid {tuple(multi_grid)} has fewer entries than the {num_blocks} blocks "
                                  "of the last stage; give one dilation rate per block")
            block_dilations = [multi_grid[i] for i in range(num_blocks)]
        else:
            first = dilation // 2 if contract_dilation and dilation > 1 else dilation
            block_dilations = [first] + [dilation] * (num_blocks - 1)
        blocks = []
        for i, block_dilation in enumerate(block_dilations):
            blocks.append(block(
                inplanes=inplanes if i == 0 else out_planes, planes=planes, stride=stride if i == 0 else 1,
                dilation=block_dilation, downsample=downsample if i == 0 else None,
                conv_cfg=conv_cfg, norm_cfg=norm_cfg, **block_kwargs,
            ))
        super().__init__(*blocks)


@MODELS.register_module()
class ResNet(nn.Module):
    """ResNet (V1b: 7x7 stem, strided 3x3 in bottlenecks) returning the feature maps of ``out_indices``.

    Input (N, in_channels, H, W); output i has ``out_channels[i]`` channels at stride ``out_strides[i]``.
    ``frozen_stages=k`` freezes the stem and the first k stages (no grads, eval mode); ``norm_eval`` keeps
    every BatchNorm in eval mode during training. Weights get MMSeg's default init at construction;
    ``init_weights()`` additionally loads ``init_cfg=dict(type='Pretrained', checkpoint=...)``.
    """

    arch_settings: ClassVar[dict[int, tuple[type[nn.Module], tuple[int, ...]]]] = {
        18: (BasicBlock, (2, 2, 2, 2)),
        34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }

    def __init__(
        self,
        depth: int,
        in_channels: int = 3,
        stem_channels: int = 64,
        base_channels: int = 64,
        num_stages: int = 4,
        strides: Sequence[int] = (1, 2, 2, 2),
        dilations: Sequence[int] = (1, 1, 1, 1),
        out_indices: Sequence[int] = (0, 1, 2, 3),
        style: str = "pytorch",
        deep_stem: bool = False,
        avg_down: bool = False,
        frozen_stages: int = -1,
        conv_cfg: dict | None = None,
        norm_cfg: dict = dict(type="BN", requires_grad=True),  # noqa: B006 - never mutated
        norm_eval: bool = False,
        dcn: dict | None = None,
        stage_with_dcn: Sequence[bool] = (False, False, False, False),
        plugins: list | None = None,
        multi_grid: Sequence[int] | None = None,
        contract_dilation: bool = False,
        with_cp: bool = False,
        zero_init_residual: bool = True,
        pretrained: str | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if depth not in self.arch_settings:
            raise ConfigError(f"{name}: invalid depth {depth!r}; choose one of {sorted(self.arch_settings)}")
        check_unsupported(dcn, plugins, name)
        if not 1 <= num_stages <= 4:
            raise ConfigError(f"{name}: num_stages must be 1..4, got {num_stages}")
        if not len(strides) == len(dilations) == num_stages:
            raise ConfigError(f"{name}: strides {tuple(strides)} and dilations {tuple(dilations)} need one entry "
                              f"per stage (num_stages={num_stages})")
        out_indices = tuple(out_indices)
        if not out_indices or any(not 0 <= i < num_stages for i in out_indices):
            raise ConfigError(f"{name}: out_indices {out_indices} must be stage indices in [0, {num_stages})")
        if style not in ("pytorch", "caffe"):
            raise ConfigError(f"{name}: style must be 'pytorch' or 'caffe', got {style!r}")
        if not -1 <= frozen_stages <= num_stages:
            raise ConfigError(f"{name}: frozen_stages must be in [-1, {num_stages}], got {frozen_stages}")
        self.init_cfg = resolve_init_cfg(pretrained, init_cfg, name)
        self.pretrained = pretrained
        self.depth, self.stem_channels, self.base_channels = depth, stem_channels, base_channels
        self.num_stages, self.strides, self.dilations = num_stages, tuple(strides), tuple(dilations)
        self.out_indices, self.style, self.deep_stem, self.avg_down = out_indices, style, deep_stem, avg_down
        self.frozen_stages, self.conv_cfg, self.norm_cfg, self.norm_eval = frozen_stages, conv_cfg, norm_cfg, norm_eval
        self.dcn, self.stage_with_dcn, self.plugins = dcn, stage_with_dcn, plugins
        self.multi_grid, self.contract_dilation = multi_grid, contract_dilation
        self.with_cp, self.zero_init_residual = with_cp, zero_init_residual
        self.block, stage_blocks = self.arch_settings[depth]
        self.stage_blocks = stage_blocks[:num_stages]

        self._make_stem_layer(in_channels, stem_channels)
        self.res_layers: list[str] = []
        inplanes = stem_channels
        for i, num_blocks in enumerate(self.stage_blocks):
            planes = base_channels * 2**i
            res_layer = self.make_res_layer(
                block=self.block, inplanes=inplanes, planes=planes, num_blocks=num_blocks, stride=self.strides[i],
                dilation=self.dilations[i], style=style, avg_down=avg_down, with_cp=with_cp, conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                # DeepLab v3's multi-grid rates apply to the last stage only.
                multi_grid=multi_grid if i == len(self.stage_blocks) - 1 else None,
                contract_dilation=contract_dilation,
            )
            inplanes = planes * self.block.expansion
            self.add_module(f"layer{i + 1}", res_layer)
            self.res_layers.append(f"layer{i + 1}")
        self.feat_dim = self.block.expansion * base_channels * 2 ** (len(self.stage_blocks) - 1)
        stage_strides = []
        total = 4  # stride-2 stem conv and stride-2 max pool
        for s in self.strides:
            total *= s
            stage_strides.append(total)
        self.out_channels = [base_channels * 2**i * self.block.expansion for i in out_indices]
        self.out_strides = [stage_strides[i] for i in out_indices]
        self._default_init()
        self._freeze_stages()

    def block_kwargs(self) -> dict[str, Any]:
        """Extra keyword arguments for every block (ResNeXt/ResNeSt add groups, radix...)."""
        return {}

    def make_res_layer(self, **kwargs: Any) -> nn.Sequential:
        """Build one stage of blocks."""
        return ResLayer(**kwargs, **self.block_kwargs())

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        if self.deep_stem:
            half = stem_channels // 2
            self.stem = nn.Sequential(
                build_conv_layer(self.conv_cfg, in_channels, half, 3, stride=2, padding=1, bias=False),
                build_norm_layer(self.norm_cfg, half)[1],
                nn.ReLU(inplace=True),
                build_conv_layer(self.conv_cfg, half, half, 3, stride=1, padding=1, bias=False),
                build_norm_layer(self.norm_cfg, half)[1],
                nn.ReLU(inplace=True),
                build_conv_layer(self.conv_cfg, half, stem_channels, 3, stride=1, padding=1, bias=False),
                build_norm_layer(self.norm_cfg, stem_channels)[1],
                nn.ReLU(inplace=True),
            )
        else:
            self.conv1 = build_conv_layer(self.conv_cfg, in_channels, stem_channels, 7, stride=2, padding=3,
                                          bias=False)
            self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, stem_channels, postfix=1)
            self.add_module(self.norm1_name, norm1)
            self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    @property
    def norm1(self) -> nn.Module:
        """The stem norm of the 7x7 (non-deep) stem."""
        return getattr(self, self.norm1_name)

    def _default_init(self) -> None:
        kaiming_cnn_init(self)
        # MMSeg zeroes each block's last norm only under its default init (no init_cfg, no pretrained).
        if self.zero_init_residual and self.init_cfg is None:
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    norm = m.last_norm
                    if getattr(norm, "weight", None) is not None:
                        nn.init.zeros_(norm.weight)
                        nn.init.zeros_(norm.bias)

    def init_weights(self) -> bool:
        """Load ``init_cfg`` Pretrained weights (the constructor did the default init); True when some were loaded."""
        return load_pretrained(self, self.init_cfg)

    def _freeze_stages(self) -> None:
        if self.frozen_stages >= 0:
            stem = [self.stem] if self.deep_stem else [self.conv1, self.norm1]
            for m in stem:
                m.eval()
                for param in m.parameters():
                    param.requires_grad = False
        for i in range(1, self.frozen_stages + 1):
            m = getattr(self, f"layer{i}")
            m.eval()
            for param in m.parameters():
                param.requires_grad = False

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """x: (N, in_channels, H, W) -> tuple of (N, out_channels[i], H/out_strides[i], W/out_strides[i])."""
        x = self.stem(x) if self.deep_stem else self.relu(self.norm1(self.conv1(x)))
        x = self.maxpool(x)
        outs = []
        for i, layer_name in enumerate(self.res_layers):
            x = getattr(self, layer_name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def train(self, mode: bool = True) -> ResNet:
        """Set train mode but keep frozen stages (and all BN layers when ``norm_eval``) in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self


@MODELS.register_module()
@inherit_signature(ResNet.__init__, drop=("deep_stem", "avg_down"))
class ResNetV1c(ResNet):
    """ResNet with the deep stem: three 3x3 convs (``stem.0/3/6``) instead of the 7x7 conv."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(deep_stem=True, avg_down=False, **kwargs)


@MODELS.register_module()
@inherit_signature(ResNet.__init__, drop=("deep_stem", "avg_down"))
class ResNetV1d(ResNet):
    """ResNetV1c plus average-pool downsampling in the shortcut (``downsample.0`` pool, ``.1`` conv, ``.2`` norm)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(deep_stem=True, avg_down=True, **kwargs)
