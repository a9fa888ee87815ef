"""Shared loss helpers: class-weight loading and weighted reduction (MMSeg semantics)."""

from __future__ import annotations

import functools
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from ...registry import ConfigError

__all__ = ["get_class_weight", "reduce_loss", "weight_reduce_loss", "weighted_loss"]


def get_class_weight(class_weight: Sequence[float] | str | None) -> list[float] | None:
    """Return per-class weights as a list; a string is a path to a ``.npy`` or ``.pkl`` file."""
    if class_weight is None:
        return None
    if isinstance(class_weight, (str, Path)):
        path = Path(class_weight)
        if not path.is_file():
            raise ConfigError(f"class_weight file '{path}' does not exist; give a list of floats or a .npy/.pkl path")
        if path.suffix == ".npy":
            values = np.load(path)
        elif path.suffix in (".pkl", ".pickle"):
            with open(path, "rb") as f:
                values = pickle.load(f)  # noqa: S301 - a file the user named in their own config
        else:
            raise ConfigError(f"class_weight file '{path}' must be .npy or .pkl")
        return [float(v) for v in np.asarray(values).reshape(-1)]
    return [float(v) for v in class_weight]


def reduce_loss(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    """Reduce an element-wise loss with 'none', 'mean' or 'sum'."""
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def weight_reduce_loss(
    loss: torch.Tensor,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
    avg_factor: float | torch.Tensor | None = None,
) -> torch.Tensor:
    """Multiply by an element-wise ``weight`` then reduce; ``avg_factor`` replaces the element count in 'mean'."""
    if weight is not None:
        if weight.dim() != loss.dim():
            raise ValueError(
                f"weight has {weight.dim()} dims but the loss has {loss.dim()} "
                f"(weight {tuple(weight.shape)}, loss {tuple(loss.shape)})"
            )
        loss = loss * weight
    if avg_factor is None:
        return reduce_loss(loss, reduction)
    if reduction == "mean":
        # eps keeps an all-ignored batch at 0 instead of NaN, as in MMSeg.
        return loss.sum() / (avg_factor + torch.finfo(torch.float32).eps)
    if reduction != "none":
        raise ValueError('avg_factor can not be used with reduction="sum"')
    return loss


def weighted_loss(loss_func: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """Decorate an element-wise loss ``f(pred, target, **kw)`` to take ``weight``, ``reduction``, ``avg_factor``."""

    @functools.wraps(loss_func)
    def wrapper(
        pred: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None = None,
        reduction: str = "mean",
        avg_factor: float | None = None,
        **kwargs,
    ) -> torch.Tensor:
        return weight_reduce_loss(loss_func(pred, target, **kwargs), weight, reduction, avg_factor)

    return wrapper
