"""Inference fast path: fold eval-mode BatchNorm into the convolution that feeds it.

The fold never touches parameters or buffers: the conv's eval-mode forward uses a cached folded
weight/bias and the BN's eval-mode forward passes its input through. So ``state_dict()`` (and every
checkpoint written from a folded model) is exactly the unfolded model's, ``model.train()`` trains the
real conv + BN, and the cache is recomputed whenever a weight or statistic changes (loading a
checkpoint, a training step, ``.to(device)``), keyed on each tensor's storage and version counter.
"""

from __future__ import annotations

import copy
import re

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from .conv_paths import plain_weight

__all__ = ["applied_weight_bias", "folded_pairs", "fuse_conv_bn", "is_fused"]

# Convs whose forward is the stock one, so ``_conv_forward(x, weight, bias)`` is what it computes.
_PLAIN_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
# A conv/norm pair registered one after the other under matching names: ResNet's conv1/norm1 (bn1).
_CONV_NAME, _NORM_NAME = re.compile(r"^conv(\w*)$"), re.compile(r"^(?:bn|norm)(\w*)$")
_BN_KEY, _CONV_KEY = "_seglab_folded_bn", "_seglab_folded_conv"  # plain attributes: not submodules


def _key(tensors: tuple[torch.Tensor | None, ...]) -> tuple:
    return tuple(None if t is None else (t.data_ptr(), t._version, t.dtype, t.device) for t in tensors)


def _folded(conv: nn.Module, bn: _BatchNorm) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(weight, bias) of conv followed by eval-mode bn, cached; None when the fold is not finite."""
    tensors = (conv.weight, conv.bias, bn.weight, bn.bias, bn.running_mean, bn.running_var)
    key = _key(tensors)
    cache = conv.__dict__.get("_seglab_fold_cache")
    if cache is not None and cache[0] == key:
        return cache[1]
    with torch.no_grad():
        w = conv.weight
        scale = torch.rsqrt(bn.running_var.double() + bn.eps)
        shift = -bn.running_mean.double() * scale
        if bn.affine:
            scale, shift = scale * bn.weight.double(), shift * bn.weight.double() + bn.bias.double()
        bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
        # Output channels are dim 0 of a conv weight for every group layout (depthwise included).
        new_w = (w.double() * scale.reshape(-1, *([1] * (w.dim() - 1)))).to(w.dtype)
        new_b = (bias * scale + shift).to(w.dtype)
        # e.g. a tiny running_var with fp16 weights: keep the unfolded pair rather than overflow.
        result = (new_w, new_b) if bool(torch.isfinite(new_w).all() and torch.isfinite(new_b).all()) else None
    conv.__dict__["_seglab_fold_cache"] = (key, result)
    return result


def _active(conv: nn.Module, bn: _BatchNorm) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The folded (weight, bias) when both modules are in eval mode and the fold is finite, else None.

    Under ``torch.compile`` the plain conv + BN is traced (the cache check would break the graph at
    every conv; the compiler fuses the BN itself).
    """
    if torch.compiler.is_compiling():
        return None
    if conv.training or bn.training:
        # A training forward changes BN's running statistics in place without bumping their version
        # counters (and fused optimizers write weights the same way): the cache cannot be trusted after it.
        conv.__dict__.pop("_seglab_fold_cache", None)
        return None
    return _folded(conv, bn)


def applied_weight_bias(conv: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None, bool]:
    """The (weight, bias) that ``conv``'s forward applies now, and whether its BatchNorm is folded into them."""
    bn = conv.__dict__.get(_BN_KEY)
    folded = None if bn is None else _active(conv, bn)
    return (conv.weight, conv.bias, False) if folded is None else (*folded, True)


class _FoldedForward:
    """The ``forward`` of a folded conv or BN; an object, not a bound method, so pickles keep it."""

    def __init__(self, module: nn.Module, is_conv: bool) -> None:
        self.module, self.is_conv = module, is_conv

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        module = self.module
        if self.is_conv:
            folded = _active(module, module.__dict__[_BN_KEY])
            return type(module).forward(module, x) if folded is None else module._conv_forward(x, *folded)
        if _active(module.__dict__[_CONV_KEY], module) is None:
            return type(module).forward(module, x)
        return x  # already applied by the conv's folded weights


def _foldable(conv: nn.Module, bn: nn.Module) -> bool:
    """A stock conv whose outputs a BN with running statistics normalises, neither folded yet."""
    return (
        type(conv) in _PLAIN_CONVS and isinstance(bn, _BatchNorm) and bn.track_running_stats
        and bn.running_mean is not None and bn.num_features == conv.out_channels
        and plain_weight(conv)
        and _BN_KEY not in conv.__dict__ and _CONV_KEY not in bn.__dict__
    )


def _pairs(module: nn.Module) -> list[tuple[str, str]]:
    """Names of the (conv, bn) children of ``module`` where the bn is applied to the conv's output.

    Only layouts whose data flow is known from the structure: ``nn.Sequential`` neighbours, a
    ConvModule whose ``order`` puts the norm right after the conv, and neighbours named
    ``conv<x>``/``bn<x>`` or ``conv<x>``/``norm<x>`` (ResNet's blocks and stems). Anything else stays.
    """
    from .layers.conv_module import ConvModule

    if isinstance(module, ConvModule):
        order, norm_name = module.order, module.norm_name
        return [("conv", norm_name)] if norm_name and order.index("norm") == order.index("conv") + 1 else []
    names = [name for name, _ in module.named_children()]
    out = []
    for first, second in zip(names, names[1:]):
        conv_m, bn_m = _CONV_NAME.match(first), _NORM_NAME.match(second)
        if isinstance(module, nn.Sequential) or (conv_m and bn_m and conv_m.group(1) == bn_m.group(1)):
            out.append((first, second))
    return out


def folded_pairs(model: nn.Module) -> int:
    """How many conv + BN pairs of ``model`` are folded (by :func:`fuse_conv_bn`)."""
    return sum(_BN_KEY in m.__dict__ for m in model.modules())


def is_fused(model: nn.Module) -> bool:
    """True when at least one conv + BN pair of ``model`` is folded."""
    return folded_pairs(model) > 0


def fuse_conv_bn(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Return ``model`` with each BatchNorm folded into the convolution it follows, for eval-mode forwards.

    Eval-mode outputs stay equal within float rounding; training-mode forwards, ``state_dict()`` and
    checkpoints are exactly the unfolded model's. Works on a copy unless ``inplace=True``.
    """
    if not inplace:
        model = copy.deepcopy(model)
    for module in list(model.modules()):
        for conv_name, bn_name in _pairs(module):
            conv, bn = getattr(module, conv_name), getattr(module, bn_name)
            if _foldable(conv, bn):
                # Instance attributes (callable objects and plain references) survive deepcopy and pickling.
                conv.__dict__[_BN_KEY], bn.__dict__[_CONV_KEY] = bn, conv
                conv.__dict__["forward"] = _FoldedForward(conv, is_conv=True)
                bn.__dict__["forward"] = _FoldedForward(bn, is_conv=False)
    return model
