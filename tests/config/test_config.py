"""Config loading (_base_, _delete_, base variables), overrides, dump round trips and error messages."""
from __future__ import annotations

import argparse
import copy
import json
import math
import pickle
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from seglab.config import Config, ConfigDict, DictAction, parse_cfg_options, parse_value
from seglab.registry import ConfigError, Registry


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small MMSeg-like config tree: model + dataset + runtime bases and a child config."""
    write(tmp_path / "_base_/models/psp.py", """
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    type='EncoderDecoder',
    backbone=dict(type='ResNetV1c', depth=50, out_indices=(0, 1, 2, 3), norm_cfg=norm_cfg),
    decode_head=dict(type='PSPHead', in_channels=2048, num_classes=19, pool_scales=(1, 2, 3, 6),
                     loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
    test_cfg=dict(mode='whole'))
""")
    write(tmp_path / "_base_/datasets/city.py", """
import os
crop_size = (512, 1024)
data_root = os.path.join('data', 'cityscapes')
train_pipeline = [dict(type='LoadImageFromFile'), dict(type='RandomCrop', crop_size=crop_size)]
def helper(x):
    return x * 2
batch = helper(2)
""")
    write(tmp_path / "_base_/runtime.py", "log_level = 'INFO'\nload_from = None\n")
    write(tmp_path / "psp/child.py", """
_base_ = ['../_base_/models/psp.py', '../_base_/datasets/city.py', '../_base_/runtime.py']
data_preprocessor = dict(size=crop_size, mean=[1.0, 2.0, 3.0])
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(depth=101),
    decode_head=dict(num_classes=150, loss_decode=dict(_delete_=True, type='DiceLoss')),
    auxiliary_head=dict(type='FCNHead', in_channels=1024))
train_pipeline = [dict(type='LoadImageFromFile')]
log_level = 'DEBUG'
""")
    return tmp_path


# ---- inheritance --------------------------------------------------------------------------------
def test_multiple_bases_merge_key_by_key(tree: Path) -> None:
    cfg = Config.fromfile(tree / "psp/child.py")
    bb = cfg.model.backbone
    assert bb.depth == 101 and bb.out_indices == (0, 1, 2, 3) and bb.norm_cfg.type == "SyncBN"
    assert cfg.model.type == "EncoderDecoder" and cfg.model.test_cfg == {"mode": "whole"}
    assert cfg.model.decode_head.num_classes == 150 and cfg.model.decode_head.pool_scales == (1, 2, 3, 6)
    assert cfg.model.auxiliary_head == {"type": "FCNHead", "in_channels": 1024}
    assert cfg.log_level == "DEBUG" and cfg.load_from is None
    assert cfg.data_root == "data/cityscapes" and cfg.batch == 4


def test_delete_replaces_instead_of_merging(tree: Path) -> None:
    cfg = Config.fromfile(tree / "psp/child.py")
    assert cfg.model.decode_head.loss_decode == {"type": "DiceLoss"}  # loss_weight is gone
    assert "_delete_" not in json.dumps(cfg.to_dict(), default=str)


def test_lists_are_replaced_whole(tree: Path) -> None:
    assert Config.fromfile(tree / "psp/child.py").train_pipeline == [{"type": "LoadImageFromFile"}]


def test_base_variables_are_readable_in_child(tree: Path) -> None:
    cfg = Config.fromfile(tree / "psp/child.py")
    assert cfg.data_preprocessor.size == (512, 1024)
    assert cfg.model.data_preprocessor.size == (512, 1024)
    assert cfg.crop_size == (512, 1024)  # inherited untouched


def test_imports_and_functions_are_not_config_keys(tree: Path) -> None:
    cfg = Config.fromfile(tree / "psp/child.py")
    assert "os" not in cfg and "helper" not in cfg and "_base_" not in cfg
    assert not any(k.startswith("__") for k in cfg)


def test_base_namespace_and_text_substitution(tmp_path: Path) -> None:
    write(tmp_path / "base.py", "num_classes = 19\nmodel = dict(head=dict(num_classes=num_classes, ch=[8, 16]))\n")
    write(tmp_path / "a.py", """
_base_ = './base.py'
a = _base_.model.head.num_classes + 1
b = {{_base_.model.head.ch.1}}
c = '{{ _base_.num_classes }}'
""")
    cfg = Config.fromfile(tmp_path / "a.py")
    assert (cfg.a, cfg.b, cfg.c) == (20, 16, 19)


def test_in_place_edit_of_inherited_variable_is_kept_and_base_untouched(tmp_path: Path) -> None:
    write(tmp_path / "base.py", "model = dict(depth=50, widths=[1, 2])\nother = dict(x=1)\n")
    write(tmp_path / "child.py", "_base_ = 'base.py'\nmodel['depth'] = 101\n")
    assert Config.fromfile(tmp_path / "child.py").model == {"depth": 101, "widths": [1, 2]}
    assert Config.fromfile(tmp_path / "base.py").model.depth == 50


def test_chained_bases(tmp_path: Path) -> None:
    write(tmp_path / "a.py", "x = dict(a=1, b=dict(c=2))\n")
    write(tmp_path / "sub/b.py", "_base_ = '../a.py'\nx = dict(b=dict(d=3))\n")
    write(tmp_path / "c.py", "_base_ = ['sub/b.py']\nx = dict(a=5)\n")
    assert Config.fromfile(tmp_path / "c.py").x == {"a": 5, "b": {"c": 2, "d": 3}}


def test_yaml_and_json_with_bases(tmp_path: Path) -> None:
    write(tmp_path / "base.py", "model = dict(type='M', depth=50, ch=(1, 2))\nn = 19\n")
    write(tmp_path / "mid.yaml", "_base_: base.py\nmodel:\n  depth: 101\nk: '{{_base_.n}}'\n")
    write(tmp_path / "top.json", json.dumps({"_base_": ["mid.yaml"], "model": {"_delete_": True, "type": "N"}}))
    mid = Config.fromfile(tmp_path / "mid.yaml")
    assert mid.model == {"type": "M", "depth": 101, "ch": (1, 2)} and mid.k == 19
    assert Config.fromfile(tmp_path / "top.json").model == {"type": "N"}


# ---- access ---------------------------------------------------------------------------------------
def test_attribute_item_access_and_to_dict(tree: Path) -> None:
    cfg = Config.fromfile(tree / "psp/child.py")
    assert cfg["model"]["backbone"]["depth"] == cfg.model.backbone.depth == 101
    assert isinstance(cfg.model, ConfigDict) and isinstance(cfg.train_pipeline[0], ConfigDict)
    assert cfg.get("missing", 3) == 3 and cfg.model.get("neck") is None
    plain = cfg.to_dict()
    assert type(plain["model"]) is dict and type(plain["train_pipeline"][0]) is dict
    assert cfg.filename == str(tree / "psp/child.py")
    assert "crop_size = (512, 1024)" in cfg.text and "log_level = 'DEBUG'" in cfg.text
    cfg.model.backbone.depth = 18
    cfg.new = dict(a=1)
    assert cfg["model"]["backbone"]["depth"] == 18 and cfg.new.a == 1


def test_missing_attribute_names_key_and_closest() -> None:
    cd = ConfigDict(model=dict(backbone=dict(depth=50)))
    with pytest.raises(AttributeError, match=r"no key 'backbon'.*did you mean 'backbone'"):
        _ = cd.model.backbon
    with pytest.raises(AttributeError, match="no key 'zzz'"):
        _ = Config(dict(a=1)).zzz


def test_copy_pickle_and_build() -> None:
    cfg = Config(dict(model=dict(type="Thing", n=2, xs=[dict(a=1)])), filename="x.py")
    for clone in (copy.deepcopy(cfg), pickle.loads(pickle.dumps(cfg))):
        assert clone == cfg and clone.filename == "x.py" and isinstance(clone.model.xs[0], ConfigDict)
    clone = copy.deepcopy(cfg)
    clone.model.n = 3
    assert cfg.model.n == 2

    reg = Registry("model")

    @reg.register_module()
    class Thing:
        def __init__(self, n: int, xs: list) -> None:
            self.n, self.xs = n, xs

    assert reg.build(cfg.model).n == 2
    assert dict(cfg) == {"model": cfg.model}  # Config is a Mapping


# ---- --cfg-options ------------------------------------------------------------------------------
@pytest.mark.parametrize("text,value", [
    ("1", 1), ("-3", -3), ("0.5", 0.5), ("1e-4", 1e-4), ("True", True), ("false", False), ("None", None),
    ("none", "none"), ("abc", "abc"), ("'a b'", "a b"), ('"1"', "1"), ("[1,2]", [1, 2]), ("(1,2)", (1, 2)),
    ("(1,)", (1,)), ("[]", []), ("()", ()), ("1,2,3", [1, 2, 3]), ("[(1,2),(3,4)]", [(1, 2), (3, 4)]),
    ("[[1,[2,3]],'x,y']", [[1, [2, 3]], "x,y"]), ("[1],[2]", [[1], [2]]), ("[a, b]", ["a", "b"]),
    ("{'a': 1}", {"a": 1}), ("mmseg.PSPHead", "mmseg.PSPHead"),
])
def test_parse_value_forms(text: str, value: object) -> None:
    got = parse_value(text)
    assert got == value and type(got) is type(value)


def test_parse_cfg_options_and_errors() -> None:
    opts = parse_cfg_options(["a.b.c=1", "x.y=[1,2]", "m.n=None", "s=abc", "t=(1,2)", "flag=True", "e=a=b"])
    assert opts == {"a.b.c": 1, "x.y": [1, 2], "m.n": None, "s": "abc", "t": (1, 2), "flag": True, "e": "a=b"}
    with pytest.raises(ConfigError, match="expected KEY=VALUE, got 'oops'"):
        parse_cfg_options(["oops"])
    with pytest.raises(ConfigError, match="x: unclosed"):
        parse_cfg_options(["x=[1,2"])


def test_dict_action() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cfg-options", nargs="+", action=DictAction)
    args = parser.parse_args(["--cfg-options", "a.b=1", "c=[1,2]"])
    assert args.cfg_options == {"a.b": 1, "c": [1, 2]}


def test_merge_from_dict(tree: Path) -> None:
    cfg = Config.fromfile(tree / "psp/child.py")
    cfg.merge_from_dict(parse_cfg_options([
        "model.backbone.depth=18", "train_pipeline.0.type=Pad", "model.backbone.out_indices.0=9",
        "new.leaf.key=5", "log_level=WARNING", "model.decode_head.pool_scales=(1,3)",
    ]))
    assert cfg.model.backbone.depth == 18 and cfg.model.backbone.out_indices == (9, 1, 2, 3)
    assert cfg.train_pipeline == [{"type": "Pad"}] and cfg.new.leaf.key == 5 and cfg.log_level == "WARNING"
    assert cfg.model.decode_head.pool_scales == (1, 3) and isinstance(cfg.new, ConfigDict)
    # a dict value merges into the existing dict; _delete_ replaces it
    cfg.merge_from_dict({"model.backbone": dict(depth=34), "model.decode_head": dict(_delete_=True, type="X")})
    assert cfg.model.backbone.depth == 34 and cfg.model.backbone.norm_cfg.type == "SyncBN"
    assert cfg.model.decode_head == {"type": "X"}


def test_merge_from_dict_errors(tree: Path) -> None:
    cfg = Config.fromfile(tree / "psp/child.py")
    with pytest.raises(ConfigError, match=r"'model.backbone.depth.x'.*'model.backbone.depth' is int 101"):
        cfg.merge_from_dict({"model.backbone.depth.x": 1})
    with pytest.raises(ConfigError, match=r"index 7 is out of range for 'train_pipeline' \(length 1\)"):
        cfg.merge_from_dict({"train_pipeline.7.type": "Pad"})
    with pytest.raises(ConfigError, match="'train_pipeline' is a list, so 'first' must be an index"):
        cfg.merge_from_dict({"train_pipeline.first": 1})
    assert cfg.model.backbone.depth == 101  # a failed override leaves the config unchanged


# ---- dump -----------------------------------------------------------------------------------------
def test_dump_round_trip_py(tree: Path, tmp_path: Path) -> None:
    cfg = Config.fromfile(tree / "psp/child.py")
    cfg.merge_from_dict({"odd-key": 1, "weird": {"not an id": (1,), "class": float("inf")}, "q": "it's \"x\""})
    cfg.dump(tmp_path / "out/dumped.py")
    again = Config.fromfile(tmp_path / "out/dumped.py")
    assert again.to_dict() == cfg.to_dict() and list(again) == list(cfg)
    assert math.isinf(again.weird["class"]) and again.weird["not an id"] == (1,)
    assert cfg.dump() == cfg.pretty_text == (tmp_path / "out/dumped.py").read_text()


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_dump_round_trip_yaml_json(tree: Path, tmp_path: Path, suffix: str) -> None:
    cfg = Config.fromfile(tree / "psp/child.py")
    cfg.dump(tmp_path / f"dumped{suffix}")
    again = Config.fromfile(tmp_path / f"dumped{suffix}")
    # YAML and JSON have no tuples: the same config with tuples as lists
    assert again.to_dict() == json.loads(json.dumps(cfg.to_dict()))
    assert again.model.backbone.out_indices == [0, 1, 2, 3]


def test_dump_rejects_unknown_suffix_and_unwritable_values(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="use a .py, .yaml"):
        Config(dict(a=1)).dump(tmp_path / "x.txt")
    with pytest.raises(ConfigError, match="cannot dump config key 'a.b'"):
        Config(dict(a=dict(b=object()))).dump(tmp_path / "x.py")


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True), values, max_size=4))
@example({"a": {"\u00b5": None}})  # MICRO SIGN: an identifier Python would NFKC-normalise to Greek mu
def test_pretty_text_round_trip_property(data: dict) -> None:
    """Any dict of Python literals dumps to source that loads back to the same dict."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.py"
        path.write_text(Config(data).pretty_text)
        assert Config.fromfile(path).to_dict() == data


# ---- errors ---------------------------------------------------------------------------------------
def test_missing_base_names_base_and_referrer(tmp_path: Path) -> None:
    child = write(tmp_path / "child.py", "_base_ = ['./nope/base.py']\n")
    with pytest.raises(ConfigError) as info:
        Config.fromfile(child)
    assert str(child) in str(info.value) and "'./nope/base.py' not found" in str(info.value)


def test_syntax_and_runtime_errors_name_file_and_line(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.py", "a = 1\nb = dict(x=1\n\nc = 3\n")
    with pytest.raises(ConfigError, match=rf"{bad}:2: syntax error"):
        Config.fromfile(bad)
    boom = write(tmp_path / "boom.py", "a = 1\nb = undefined_name + 1\n")
    with pytest.raises(ConfigError, match=rf"{boom}:2: error while executing.*NameError.*undefined_name"):
        Config.fromfile(boom)
    yml = write(tmp_path / "bad.yaml", "a: [1, 2\n")
    with pytest.raises(ConfigError, match=rf"{yml}: cannot parse"):
        Config.fromfile(yml)


def test_delete_misuse(tmp_path: Path) -> None:
    write(tmp_path / "base.py", "m = dict(a=1)\n")
    write(tmp_path / "c1.py", "_base_ = 'base.py'\nm = dict(_delete_='yes', b=2)\n")
    with pytest.raises(ConfigError, match=r"c1.py: 'm._delete_' must be True or False, got 'yes'"):
        Config.fromfile(tmp_path / "c1.py")
    write(tmp_path / "c2.py", "_base_ = 'base.py'\n_delete_ = True\n")
    with pytest.raises(ConfigError, match="'_delete_' belongs inside a dict"):
        Config.fromfile(tmp_path / "c2.py")


def test_other_load_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        Config.fromfile(tmp_path / "none.py")
    with pytest.raises(ConfigError, match="unsupported config suffix '.txt'"):
        Config.fromfile(write(tmp_path / "c.txt", "a=1"))
    write(tmp_path / "loop_a.py", "_base_ = 'loop_b.py'\n")
    write(tmp_path / "loop_b.py", "_base_ = 'loop_a.py'\n")
    with pytest.raises(ConfigError, match="circular _base_ inheritance"):
        Config.fromfile(tmp_path / "loop_a.py")
    write(tmp_path / "b1.py", "x = 1\n")
    write(tmp_path / "b2.py", "x = 2\n")
    write(tmp_path / "dup.py", "_base_ = ['b1.py', 'b2.py']\n")
    with pytest.raises(ConfigError, match=r"key 'x' is defined by two bases"):
        Config.fromfile(tmp_path / "dup.py")
    write(tmp_path / "ref.py", "_base_ = 'b1.py'\ny = {{_base_.nope}}\n")
    with pytest.raises(ConfigError, match="ref.py:2: .*KeyError"):
        Config.fromfile(tmp_path / "ref.py")
