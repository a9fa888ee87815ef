"""Merged constructor signatures and strict arguments for every head, dataset and transform."""
from __future__ import annotations

import inspect
import traceback

import pytest

from seglab.datasets.basesegdataset import BaseSegDataset
from seglab.models.decode_heads.decode_head import BaseDecodeHead
from seglab.registry import DATASETS, MODELS, TRANSFORMS, ConfigError, Registry
from seglab.signatures import forwarded_to_base, merged_signature, set_merged_signature


class Base:
    def __init__(self, a: int, b: int = 2, *, c: str = "c") -> None:
        self.a, self.b, self.c = a, b, c


class Child(Base):
    def __init__(self, d: float = 1.0, **kwargs) -> None:
        super().__init__(b=5, **kwargs)  # b is fixed by the child: not one of its arguments
        self.d = d


class _Middle(Child):  # unregistered, like seglab.datasets.medical._VesselDataset
    def __init__(self, e: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.e = e


class Leaf(_Middle):
    pass


class Forwarder:  # **kwargs go elsewhere (like RandomResize's resize_kwargs): stays open
    def __init__(self, kind: str = "x", **other) -> None:
        self.other = other


class Raising:
    def __init__(self, size: int = 1) -> None:
        raise TypeError("size must be a number, got " + type(size).__name__)


def test_merged_signature_has_own_then_base_arguments_minus_fixed():
    sig = merged_signature(Child)
    assert list(sig.parameters) == ["self", "d", "a", "c"]
    assert sig.parameters["a"].kind is inspect.Parameter.KEYWORD_ONLY
    assert sig.parameters["a"].default is inspect.Parameter.empty and sig.parameters["c"].default == "c"


def test_intermediate_unregistered_class_is_merged_for_its_subclass():
    set_merged_signature(Leaf)
    assert list(inspect.signature(Leaf).parameters) == ["e", "d", "a", "c"]
    assert not forwarded_to_base(Forwarder)
    assert "other" in inspect.signature(set_merged_signature(Forwarder)).parameters


def test_registry_rejects_a_misspelt_base_argument_and_binds_strictly():
    reg = Registry("toy")
    reg.register_module()(Leaf)
    with pytest.raises(ConfigError, match=r"unexpected argument 'cc'; did you mean 'c'"):
        reg.build(dict(type="Leaf", a=1, cc="x"))
    with pytest.raises(ConfigError, match=r"unexpected argument 'b'"):  # fixed by Child
        reg.build(dict(type="Leaf", a=1, b=3))
    with pytest.raises(ConfigError, match=r"building toy 'Leaf' failed: missing a required argument: 'a'"):
        reg.build(dict(type="Leaf"))
    leaf = reg.build(dict(type="Leaf", a=1, c="z", e=4))
    assert (leaf.a, leaf.b, leaf.c, leaf.d, leaf.e) == (1, 5, "z", 1.0, 4)


def test_type_error_inside_a_constructor_keeps_its_traceback():
    reg = Registry("toy")
    reg.register_module()(Raising)
    with pytest.raises(TypeError, match="size must be a number, got str") as info:
        reg.build(dict(type="Raising", size="3"))
    assert not isinstance(info.value, ConfigError)
    frames = traceback.extract_tb(info.value.__traceback__)
    assert frames[-1].name == "__init__" and frames[-1].filename == __file__


def _components() -> list[tuple[Registry, str]]:
    """Every decode head, dataset and transform seglab registers (not the toys other tests register)."""
    def ours(reg: Registry) -> list[tuple[Registry, str]]:
        return [(reg, n) for n, c in reg.module_dict.items() if c.__module__.startswith("seglab.")]

    heads = [(r, n) for r, n in ours(MODELS) if issubclass(MODELS.get(n), BaseDecodeHead)
             or MODELS.get(n).__module__.startswith("seglab.models.decode_heads.")]  # e.g. VPDDepthHead
    return heads + ours(DATASETS) + ours(TRANSFORMS)


COMPONENTS = _components()


def test_components_were_collected():
    kinds = [r.name for r, _ in COMPONENTS]
    assert kinds.count("model") >= 19 and kinds.count("dataset") >= 30 and kinds.count("transform") >= 30
    assert any(issubclass(DATASETS.get(n), BaseSegDataset) for r, n in COMPONENTS if r is DATASETS)


@pytest.mark.parametrize("reg,name", COMPONENTS, ids=[f"{r.name}-{n}" for r, n in COMPONENTS])
def test_misspelt_argument_names_the_closest_valid_one(reg: Registry, name: str):
    params = [p for p in inspect.signature(reg.get(name)).parameters.values() if p.kind not in (
        inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]
    assert params, f"{name} takes no arguments"
    first = params[0].name
    with pytest.raises(ConfigError) as info:
        reg.build(dict(type=name, **{first + "x": 1}))
    msg = str(info.value)
    assert f"unexpected argument '{first}x'" in msg and "did you mean" in msg
    assert f"'{first}'" in msg.split("did you mean", 1)[1].split("?")[0], msg
