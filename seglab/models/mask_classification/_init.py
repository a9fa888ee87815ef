"""MMEngine's weight-init helpers used by the mask-classification heads (same distributions)."""
from __future__ import annotations

from torch import nn

__all__ = ["caffe2_xavier_init", "xavier_uniform_init"]


def caffe2_xavier_init(module: nn.Module, bias: float = 0.0) -> None:
    """Caffe2's "xavier" fill: kaiming-uniform with a=1, fan_in. Modules without ``weight`` are left alone
    (as in MMEngine, so a ConvModule passed here keeps its own init)."""
    if getattr(module, "weight", None) is not None:
        nn.init.kaiming_uniform_(module.weight, a=1, mode="fan_in", nonlinearity="leaky_relu")
    if getattr(module, "bias", None) is not None:
        nn.init.constant_(module.bias, bias)


def xavier_uniform_init(module: nn.Module, gain: float = 1.0, bias: float = 0.0) -> None:
    """Xavier-uniform weight, constant bias."""
    if getattr(module, "weight", None) is not None:
        nn.init.xavier_uniform_(module.weight, gain=gain)
    if getattr(module, "bias", None) is not None:
        nn.init.constant_(module.bias, bias)
