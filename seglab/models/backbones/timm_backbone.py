"""``TIMMBackbone``: any model of the optional ``timm`` library (pytorch-image-models) as a backbone, with
MMSeg's name and arguments. Key layout: ``timm_model.<timm's own keys>``.

timm is imported when a TIMMBackbone is built, never at ``import seglab``; install it with
``pip install 'seglab[timm]'``.
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import torch
from torch import nn

from ...io.checkpoint import get_state_dict, read_checkpoint
from ...registry import MODELS, ConfigError
from ..weight_init import load_pretrained

__all__ = ["TIMMBackbone", "import_timm"]

TIMM_MISSING = "TIMMBackbone needs timm: pip install 'seglab[timm]'"
# MMSeg resolves ``norm_layer`` names through mmengine's registry; these are the norm classes it finds there.
_NORM_LAYERS = {"BN": nn.BatchNorm2d, "BN2d": nn.BatchNorm2d, "SyncBN": nn.SyncBatchNorm, "GN": nn.GroupNorm,
                "LN": nn.LayerNorm, "IN": nn.InstanceNorm2d}


def import_timm() -> ModuleType:
    """The ``timm`` module, or an ImportError saying how to install it (also when timm is present but fails
    to import, e.g. a torchvision wheel that does not match the installed torch)."""
    try:
        return importlib.import_module("timm")
    except Exception as exc:  # noqa: BLE001 - any import failure means the extra is unusable
        raise ImportError(f"{TIMM_MISSING} (importing timm failed: {type(exc).__name__}: {exc})") from exc


@MODELS.register_module()
class TIMMBackbone(nn.Module):
    """``timm.create_model(model_name, features_only=..., in_chans=in_channels, **kwargs)`` as a backbone.

    With ``features_only=True`` the outputs are timm's feature maps and ``out_channels`` / ``out_strides``
    come from its ``feature_info``. ``pretrained=True`` lets timm download its ImageNet weights (MMSeg's
    default is True; seglab downloads nothing unless asked, so it defaults to False). ``checkpoint_path``
    is read with seglab's weights-only loader and loaded strictly into the timm model, as timm would.
    """

    def __init__(
        self,
        model_name: str,
        features_only: bool = True,
        pretrained: bool = False,
        checkpoint_path: str = "",
        in_channels: int = 3,
        init_cfg: dict | list | None = None,
        **kwargs: Any,
    ) -> None:
        timm = import_timm()
        super().__init__()
        self.init_cfg = init_cfg
        if isinstance(kwargs.get("norm_layer"), str):
            name = kwargs["norm_layer"]
            if name not in _NORM_LAYERS:
                raise ConfigError(f"TIMMBackbone: norm_layer {name!r} is not one of {sorted(_NORM_LAYERS)} "
                                  "(or pass a norm class)")
            kwargs["norm_layer"] = _NORM_LAYERS[name]
        self.timm_model = timm.create_model(model_name=model_name, features_only=features_only,
                                            pretrained=pretrained, in_chans=in_channels, **kwargs)
        # The classifier parts are unused by a segmentation backbone (and left out of its state dict), as in MMSeg.
        self.timm_model.global_pool = None
        self.timm_model.fc = None
        self.timm_model.classifier = None
        if checkpoint_path:
            self.timm_model.load_state_dict(get_state_dict(read_checkpoint(checkpoint_path)), strict=True)
        info = getattr(self.timm_model, "feature_info", None)
        if features_only and info is not None:
            self.out_channels = list(info.channels())
            self.out_strides = list(info.reduction())

    def init_weights(self) -> bool:
        """Load the Pretrained ``init_cfg``, if any (timm initialised the model when it built it)."""
        return load_pretrained(self, self.init_cfg)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor] | torch.Tensor:
        """x: (N, in_channels, H, W) -> timm's feature maps (a list with ``features_only``)."""
        return self.timm_model(x)
