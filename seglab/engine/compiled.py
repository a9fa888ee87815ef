"""``torch.compile`` for a model's forward that falls back to the eager forward, with one warning, when compiling fails.

Compiling happens at the first call (and again for new input shapes), so a missing C++ compiler, an operator
Inductor cannot lower or a Dynamo limitation only shows up inside ``seglab train``/``test``/``infer``. Rather
than ending the run there, :class:`CompiledForward` runs the eager forward on the same inputs, says why once and
keeps to eager from then on. An error the eager forward raises as well (a bad input, a model bug) is the model's
own and propagates unchanged.
"""
from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from .runtime import compile_cfg

__all__ = ["CompiledForward", "compile_forward"]

logger = logging.getLogger("seglab")


class CompiledForward:
    """A model's bound ``forward`` compiled with ``torch.compile(**options)``, or its eager forward once compiling failed.

    ``failure`` is None while compiling works, else the error that ended it (``Type: first line``). Deep copies
    (EMA/SWA models) compile their own copy's forward: the compiled function of the original would run the
    original's weights.
    """

    def __init__(self, forward: Callable[..., Any], options: Mapping[str, Any] | None = None) -> None:
        self.eager = forward
        self.options = dict(options or {})
        self.compiled = torch.compile(forward, **self.options)
        self.failure: str | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.failure is not None:
            return self.eager(*args, **kwargs)
        try:
            with self._inductor_options():
                return self.compiled(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - which failures are compile failures is decided below
            error = exc
        # Outside the except block, so that a model error is raised as itself, not "during handling" of the
        # compiler's report of it.
        out = self.eager(*args, **kwargs)
        lines = str(error).strip().splitlines()
        self.failure = f"{type(error).__name__}: {lines[0][:300] if lines else ''}"
        logger.warning("torch.compile failed (%s); running the eager model from now on (compile=False in the "
                       "config, or compile=dict(backend=...), avoids this)", self.failure)
        return out

    def _inductor_options(self) -> contextlib.AbstractContextManager:
        """Inductor's ``options`` as its config while a call compiles: torch 2.13 reads some of them, such as
        ``freezing``, from the global config only, so ``torch.compile(options=...)`` alone would drop them."""
        options = self.options.get("options")
        if not options or self.options.get("backend", "inductor") != "inductor":
            return contextlib.nullcontext()
        import torch._inductor.config as inductor_config

        return inductor_config.patch(dict(options))

    def __deepcopy__(self, memo: dict) -> CompiledForward:
        new = CompiledForward(copy.deepcopy(self.eager, memo), self.options)
        new.failure = self.failure
        return new

    def __reduce__(self) -> tuple:
        return CompiledForward, (self.eager, self.options)


def compile_forward(model: nn.Module, compile: bool | Mapping[str, Any] | None = True) -> nn.Module:
    """Apply the config's ``compile`` value (True, or a dict of ``torch.compile`` arguments; False/None: off) to
    ``model``: its ``forward`` becomes a :class:`CompiledForward` of its own forward. Returns ``model``."""
    options = compile_cfg(compile)
    if options is not None:
        model.forward = CompiledForward(model.forward, options)
    return model
