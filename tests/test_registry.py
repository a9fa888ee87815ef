"""Registry: registration, lookup (prefixes, import paths), build and its error messages."""
from __future__ import annotations

import collections

import pytest

from seglab.registry import MODELS, ConfigError, Registry, build_from_cfg


class Head:
    """A toy component with explicit keyword arguments."""

    def __init__(self, in_channels: int, channels: int = 8, dropout_ratio: float = 0.1) -> None:
        self.in_channels, self.channels, self.dropout_ratio = in_channels, channels, dropout_ratio


@pytest.fixture
def reg() -> Registry:
    r = Registry("model")
    r.register_module()(Head)

    @r.register_module(name="PSPHead")
    class PSP(Head):
        pass

    @r.register_module()
    class ASPPHead(Head):
        pass

    return r


def test_build_passes_arguments_and_defaults(reg: Registry) -> None:
    head = reg.build(dict(type="Head", in_channels=3), channels=4)
    assert (head.in_channels, head.channels, head.dropout_ratio) == (3, 4, 0.1)
    # an explicit key wins over a build default
    assert reg.build(dict(type="Head", in_channels=3, channels=16), channels=4).channels == 16


def test_build_does_not_mutate_cfg_and_passes_objects_through(reg: Registry) -> None:
    cfg = dict(type="Head", in_channels=3)
    reg.build(cfg)
    assert cfg == dict(type="Head", in_channels=3)
    obj = Head(1)
    assert reg.build(obj) is obj
    assert reg.build(None) is None
    assert isinstance(reg.build(dict(type=Head, in_channels=2)), Head)  # a class as type


def test_unknown_type_suggests_closest(reg: Registry) -> None:
    with pytest.raises(ConfigError, match=r"unknown model type 'PSPHaed'.*'PSPHead'"):
        reg.build(dict(type="PSPHaed", in_channels=3))
    with pytest.raises(ConfigError, match="unknown model type 'Zzz'"):
        reg.get("Zzz")


def test_unknown_kwarg_names_key_component_and_closest(reg: Registry) -> None:
    with pytest.raises(ConfigError) as info:
        reg.build(dict(type="PSPHead", in_channels=3, chanels=4))
    msg = str(info.value)
    assert "'chanels'" in msg and "'PSPHead'" in msg and "did you mean 'channels'" in msg
    assert "valid arguments: in_channels, channels, dropout_ratio" in msg


def test_missing_required_argument_is_config_error(reg: Registry) -> None:
    with pytest.raises(ConfigError, match="building model 'Head' failed.*in_channels"):
        reg.build(dict(type="Head"))


def test_missing_type_key(reg: Registry) -> None:
    with pytest.raises(ConfigError, match="has no 'type' key"):
        reg.build(dict(in_channels=3))


def test_framework_prefixes_are_stripped(reg: Registry) -> None:
    assert reg.get("mmseg.PSPHead") is reg.get("PSPHead")
    assert "mmseg.ASPPHead" in reg and "mmengine.Head" in reg
    assert reg.build(dict(type="mmseg.Head", in_channels=5)).in_channels == 5
    # a prefixed unknown name is an unknown type (with hints), not an attempt to import 'mmseg'
    with pytest.raises(ConfigError, match=r"unknown model type 'mmseg.PSPHeadd'.*'PSPHead'"):
        reg.get("mmseg.PSPHeadd")


def test_dotted_import_path(reg: Registry) -> None:
    assert reg.get("collections.OrderedDict") is collections.OrderedDict
    built = reg.build(dict(type=f"{__name__}.Head", in_channels=7))
    assert isinstance(built, Head) and built.in_channels == 7
    with pytest.raises(ConfigError, match="module 'collections' has no 'NoSuchThing'"):
        reg.get("collections.NoSuchThing")
    with pytest.raises(ConfigError, match="cannot import 'no_such_pkg_xyz.Head'"):
        reg.get("no_such_pkg_xyz.Head")


def test_duplicate_registration_raises(reg: Registry) -> None:
    class Other:
        pass

    with pytest.raises(KeyError, match="'PSPHead' is already registered in model"):
        reg.register_module(name="PSPHead")(Other)
    reg.register_module()(Head)  # the same object again (a re-import) is fine
    reg.register_module(name="PSPHead", force=True)(Other)
    assert reg.get("PSPHead") is Other


def test_bare_decorator_aliases_and_module_kwarg() -> None:
    r = Registry("thing")

    @r.register_module
    class A:
        pass

    r.register_module(name=["B1", "B2"])(Head)
    r.register_module(module=dict, name="PlainDict")
    assert r.get("A") is A and isinstance(A, type)  # the bare decorator returns the class itself
    assert r.get("B1") is r.get("B2") is Head
    assert r.get("PlainDict") is dict
    assert len(r) == 4 and set(r.module_dict) == {"A", "B1", "B2", "PlainDict"}


def test_build_from_cfg_and_shared_registries() -> None:
    r = Registry("loss")
    r.register_module()(Head)
    assert build_from_cfg(dict(type="Head", in_channels=1), r).in_channels == 1
    assert MODELS.name == "model"
