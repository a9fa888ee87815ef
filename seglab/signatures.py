"""Merged constructor signatures: a subclass ``__init__(self, a, **kwargs)`` that forwards ``**kwargs`` to
its base class exposes ``a`` plus the base class's arguments as its ``__signature__``.

``inspect.signature``, ``help()`` and the registry's argument check (``check_kwargs``) then see every
argument the class really accepts, so a misspelt one fails with suggestions at build time instead of
being swallowed by ``**kwargs`` or failing as a bare TypeError deep inside the base class.
Arguments the subclass passes to the base itself (``super().__init__(num_convs=2, **kwargs)``) are
fixed by the subclass and left out; they are read from the source of ``__init__``.
"""
from __future__ import annotations

import ast
import functools
import inspect
import textwrap
from collections.abc import Callable, Sequence

__all__ = ["forwarded_to_base", "inherit_signature", "merged_signature", "set_merged_signature"]

_VAR_KINDS = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def _base_init_call(init: Callable) -> ast.Call | None:
    """The ``super().__init__(...)`` (or ``Base.__init__(self, ...)``) call in ``init``'s source, if any."""
    try:
        source = textwrap.dedent(inspect.getsource(init))
    except (OSError, TypeError):  # defined in a REPL or generated: no source to read
        return None
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "__init__":
            return node
    return None


@functools.cache
def _fixed_by_call(init: Callable) -> tuple[tuple[str, ...], int, str | None]:
    """(keywords the base call passes by name, number of positional args it passes, name it splats with **)."""
    call = _base_init_call(init)
    if call is None:
        return (), 0, None
    named = tuple(k.arg for k in call.keywords if k.arg is not None)
    splat = next((k.value.id for k in call.keywords if k.arg is None and isinstance(k.value, ast.Name)), None)
    positional = len(call.args)
    # ``Base.__init__(self, ...)`` passes self explicitly; ``super().__init__(...)`` does not.
    if not (isinstance(call.func.value, ast.Call) and getattr(call.func.value.func, "id", "") == "super"):
        positional = max(0, positional - 1)
    return named, positional, splat


def forwarded_to_base(cls: type) -> bool:
    """Whether ``cls.__init__`` (its own) takes ``**kwargs`` and passes them on to the base ``__init__``."""
    init = cls.__dict__.get("__init__")
    if not inspect.isfunction(init) or _next_init_owner(cls) is None:
        return False
    var_kw = next((p.name for p in _raw_params(init) if p.kind is inspect.Parameter.VAR_KEYWORD), None)
    return var_kw is not None and _fixed_by_call(init)[2] == var_kw


def _next_init_owner(cls: type) -> type | None:
    """The class whose ``__init__`` ``super().__init__`` reaches (None when that is ``object``'s)."""
    for base in cls.__mro__[1:]:
        if "__init__" in base.__dict__:
            return None if base is object else base
    return None


def _raw_params(init: Callable) -> list[inspect.Parameter]:
    """``init``'s parameters (its ``__signature__`` when one was set, which then has no ``**kwargs``)."""
    return list(inspect.signature(init).parameters.values())


def merged_signature(
    cls: type, base_init: Callable | None = None, drop: Sequence[str] | None = None
) -> inspect.Signature:
    """``cls.__init__``'s own parameters (without ``**kwargs``) plus those of the base it forwards to.

    ``base_init`` defaults to the next ``__init__`` in the MRO (itself merged); ``drop`` defaults to the
    arguments ``cls.__init__`` passes to the base itself. Base arguments become keyword-only.
    """
    init = cls.__dict__["__init__"]
    own = _raw_params(init)
    params = [p for p in own if p.kind is not inspect.Parameter.VAR_KEYWORD]
    if base_init is None:
        owner = _next_init_owner(cls)
        if owner is None:
            return inspect.Signature(own)
        base_params = list(_init_signature(owner).parameters.values())
    else:
        base_params = list(inspect.signature(base_init).parameters.values())
    named, n_positional, _ = _fixed_by_call(init)
    fixed = set(named if drop is None else drop)
    positional_base = [p for p in base_params if p.name != "self" and p.kind in (
        inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    if drop is None:
        fixed |= {p.name for p in positional_base[:n_positional]}
    names = {p.name for p in params}
    for p in base_params:
        if p.name in names or p.name in fixed or p.name == "self" or p.kind in _VAR_KINDS:
            continue
        params.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY))
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in base_params):
        params.append(next(p for p in base_params if p.kind is inspect.Parameter.VAR_KEYWORD))
    return inspect.Signature(params)


def _init_signature(cls: type) -> inspect.Signature:
    """The (merged, where it forwards ``**kwargs``) signature of ``cls.__init__`` including ``self``."""
    owner = cls if "__init__" in cls.__dict__ else _next_init_owner(cls)
    if owner is None:
        return inspect.Signature([inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)])
    init = owner.__dict__["__init__"]
    if hasattr(init, "__signature__"):
        return init.__signature__
    if forwarded_to_base(owner):
        return merged_signature(owner)
    return inspect.signature(init)


def set_merged_signature(cls: type) -> type:
    """Give ``cls.__init__`` (and inherited ones up its MRO) the merged ``__signature__`` where it forwards
    ``**kwargs`` to the base class; return ``cls``."""
    # Bases first: an unregistered intermediate class (``_VesselDataset``) is where the derived one gets
    # its ``__init__`` from.
    for klass in reversed(cls.__mro__):
        init = klass.__dict__.get("__init__")
        if init is not None and not hasattr(init, "__signature__") and forwarded_to_base(klass):
            init.__signature__ = merged_signature(klass)
    return cls


def inherit_signature(base_init: Callable | None = None, drop: Sequence[str] | None = None) -> Callable[[type], type]:
    """Class decorator: set ``cls.__init__.__signature__`` to ``merged_signature(cls, base_init, drop)``."""

    def decorate(cls: type) -> type:
        cls.__init__.__signature__ = merged_signature(cls, base_init, drop)  # type: ignore[misc]
        return cls

    return decorate
