"""ResNeXt backbone from "Aggregated Residual Transformations for Deep Neural Networks"
(https://arxiv.org/abs/1611.05431): ResNet bottlenecks whose 3x3 conv is grouped.

Keys are ResNet's; only the widths differ (``conv2`` is a grouped conv of width
``floor(planes * base_width / 64) * groups``).
"""
from __future__ import annotations

from typing import Any, ClassVar

from torch import nn

from ...registry import MODELS
from .resnet import Bottleneck, ResNet, inherit_signature

__all__ = ["ResNeXt"]


@MODELS.register_module()
@inherit_signature(ResNet.__init__)
class ResNeXt(ResNet):
    """ResNeXt-50/101/152 (e.g. 32x4d: ``groups=32, base_width=4``); other arguments as :class:`ResNet`.

    Input (N, in_channels, H, W) -> tuple of (N, out_channels[i], H/out_strides[i], W/out_strides[i]).
    """

    arch_settings: ClassVar[dict[int, tuple[type[nn.Module], tuple[int, ...]]]] = {
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }

    def __init__(self, groups: int = 1, base_width: int = 4, **kwargs: Any) -> None:
        # Set before ResNet.__init__, which builds the stages through block_kwargs().
        self._block_extra = dict(groups=groups, base_width=base_width)
        self.groups, self.base_width = groups, base_width
        super().__init__(**kwargs)

    def block_kwargs(self) -> dict[str, Any]:
        """Grouped-conv settings passed to every bottleneck."""
        return dict(self._block_extra, base_channels=self.base_channels)
