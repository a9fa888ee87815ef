"""DepthwiseSeparableFCNHead, the FCN head with depthwise separable convs used by Fast-SCNN
("Fast-SCNN: Fast Semantic Segmentation Network", https://arxiv.org/abs/1902.04502)."""

from __future__ import annotations

from ...registry import MODELS, ConfigError
from ..layers import DepthwiseSeparableConvModule
from .fcn_head import FCNHead

__all__ = ["DepthwiseSeparableFCNHead"]


@MODELS.register_module()
class DepthwiseSeparableFCNHead(FCNHead):
    """FCNHead whose ``convs.<i>`` and ``conv_cat`` are depthwise separable convs.

    ``dw_act_cfg`` is the activation after each depthwise conv (None: none, as in MMSeg; 'default':
    ``act_cfg``). Other arguments are those of :class:`FCNHead` (``dilation`` is not used, as in MMSeg).
    """

    def __init__(self, dw_act_cfg: dict | str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if self.num_convs < 1:
            raise ConfigError("DepthwiseSeparableFCNHead needs num_convs >= 1 (its convs are separable convs)")
        k = self.kernel_size
        sep_kw = dict(kernel_size=k, padding=k // 2, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg,
                      dw_act_cfg=dw_act_cfg)
        # Replace the plain convs in place (same attribute names, so the key layout is FCN's).
        self.convs[0] = DepthwiseSeparableConvModule(self.in_channels, self.channels, **sep_kw)
        for i in range(1, self.num_convs):
            self.convs[i] = DepthwiseSeparableConvModule(self.channels, self.channels, **sep_kw)
        if self.concat_input:
            self.conv_cat = DepthwiseSeparableConvModule(self.in_channels + self.channels, self.channels, **sep_kw)
