"""What the CPU convolution fast paths (:mod:`.fuse`, :mod:`.winograd`, :mod:`.depthwise`) may take over.

One place for the rules they share: a conv whose weight is a plain parameter (no spectral/weight norm or
parametrization recomputing it every forward), a stock 3x3 stride-1 'same' convolution, and a call on
float32 CPU maps outside autocast.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["autocast_on", "cpu_float32", "eager_cpu_inference", "plain_weight", "pointwise", "same_3x3", "unhooked"]

# Activations that act on each value alone: a block-by-block path may apply them to any part of a map.
_POINTWISE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid,
              nn.Tanh, nn.ELU, nn.Identity)


def plain_weight(conv: nn.Module) -> bool:
    """The conv's ``weight`` is a parameter used as it is (spectral_norm/weight_norm recompute it per forward)."""
    return (isinstance(getattr(conv, "weight", None), nn.Parameter) and not hasattr(conv, "weight_orig")
            and not hasattr(conv, "parametrizations"))


def eager_cpu_inference(x: torch.Tensor) -> bool:
    """A gradient-free eager forward of ``x`` on the CPU outside autocast, neither traced nor compiled: where a
    block-by-block path may stand in for whole-map ops (a trace or export would bake one input size's blocks into
    its graph, and the blocks write into buffers of the input's dtype, which autocast's products would not match)."""
    return (x.device.type == "cpu" and not torch.is_grad_enabled() and not torch.jit.is_tracing()
            and not torch.compiler.is_compiling() and not autocast_on())


def pointwise(module: nn.Module | None) -> bool:
    """``module`` is a stock activation acting on each value alone (applied to part of a map, the same values)."""
    return type(module) in _POINTWISE


def unhooked(*modules: nn.Module | None) -> bool:
    """None of ``modules`` has forward (pre-)hooks, which a path that does not call them would bypass."""
    return not any(m._forward_hooks or m._forward_pre_hooks for m in modules if m is not None)


def same_3x3(conv: nn.Module) -> bool:
    """A stock 2D conv with a 3x3 kernel, stride 1 and zero padding equal to its (square) dilation."""
    return (
        isinstance(conv, nn.Conv2d) and type(conv)._conv_forward is nn.Conv2d._conv_forward
        and conv.kernel_size == (3, 3) and conv.stride == (1, 1)
        and conv.dilation[0] == conv.dilation[1] and conv.padding == conv.dilation
        and conv.padding_mode == "zeros" and plain_weight(conv)
    )


def autocast_on() -> bool:
    """True inside a CPU autocast region, where products would run in bf16 (torch >= 2.4 API first)."""
    try:
        return torch.is_autocast_enabled("cpu")
    except TypeError:  # torch < 2.4
        return torch.is_autocast_cpu_enabled()


def cpu_float32(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """A float32 (N, C, H, W) map and weight on the CPU, outside autocast."""
    return (x.device.type == "cpu" and x.dtype == torch.float32 and weight.dtype == torch.float32 and x.dim() == 4
            and not autocast_on())
