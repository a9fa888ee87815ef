"""ConvNeXt and PoolFormer (MMSeg's ``mmpretrain.ConvNeXt`` / ``mmpretrain.PoolFormer``) against mmpretrain.

tests/data/mmpretrain_backbones was recorded by tools/make_mmpretrain_backbone_fixtures.py from mmpretrain
1.2.0's published source (the two backbone files, run in the MMSeg reference env; see the tool's docstring):
the ``[key, shape, dtype]`` state-dict rows of every arch MMSeg's configs use (full rows for convnext-tiny and
poolformer-s12, sha256 for the others) and outputs of four cases from the shared parity fill weights.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _shared import FILL, require

from seglab.models.backbones import ConvNeXt, PoolFormer
from seglab.models.layers.layer_norm_2d import LayerNorm2d
from seglab.registry import MODELS, ConfigError

DATA = Path(__file__).resolve().parents[2] / "data" / "mmpretrain_backbones"
MANIFESTS = json.loads((DATA / "manifests.json").read_text())["entries"]
ARCHS = sorted(k for k in MANIFESTS if k != "output_cases")
OUTPUT_CASES = MANIFESTS["output_cases"]


def _rows(model: torch.nn.Module) -> list[list]:
    return [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in model.state_dict().items()]


@functools.lru_cache(maxsize=1)
def _fill():
    spec = importlib.util.spec_from_file_location("parity_fill", require(FILL))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_mmseg_arch_was_recorded():
    assert ARCHS == sorted([f"convnext-{a}" for a in ("tiny", "small", "base", "large", "xlarge")]
                           + [f"poolformer-{a}" for a in ("s12", "s24", "s36", "m36", "m48")])
    assert len(MANIFESTS["convnext-tiny"]["state_dict"]) == 186 and len(MANIFESTS["poolformer-s12"]["state_dict"]) == 136


@pytest.mark.parametrize("name", ARCHS)
def test_state_dict_layout_matches_mmpretrain(name: str):
    entry = MANIFESTS[name]
    with torch.device("meta"):  # no memory: ConvNeXt-XL has 350M parameters
        model = MODELS.build(dict(entry["args"], type=f"mmpretrain.{entry['type']}"))
    rows = _rows(model)
    if "state_dict" in entry:
        assert rows == entry["state_dict"]
    assert len(rows) == entry["num_keys"]
    assert hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest() == entry["sha256"]


@pytest.mark.parametrize("name", sorted(OUTPUT_CASES))
def test_outputs_match_mmpretrain(name: str):
    torch.set_num_threads(1)
    case = OUTPUT_CASES[name]
    model = MODELS.build(dict(case["args"], type=case["type"]))
    assert _rows(model) == case["state_dict"]
    fill = _fill().fill
    model.load_state_dict({k: torch.from_numpy(fill(k, tuple(v.shape), v.is_floating_point()))
                           for k, v in model.state_dict().items()}, strict=True)
    model.eval()
    with torch.no_grad():
        outs = model(torch.from_numpy(_fill().parity_input((1, 3, 64, 64))))
    ref = np.load(DATA / "outputs.npz")
    keys = sorted(k for k in ref.files if k.split("/")[0] == name)
    assert len(outs) == len(keys) > 0
    for i, out in enumerate(outs):
        ours = (out[..., ::2, ::2] if out.ndim == 4 else out).numpy()
        reference = ref[f"{name}/{i}"]
        assert ours.shape == reference.shape
        err, tol = float(np.abs(ours - reference).max()), 1e-4 * float(np.abs(reference).max()) + 1e-5
        assert err <= tol, f"{name} output {i}: max abs error {err:.3g} > {tol:.3g}"


def test_convnext_declares_shapes_and_drop_path_and_layer_scale():
    model = ConvNeXt(arch=dict(depths=[1, 2, 1], channels=[8, 16, 32]), out_indices=[0, 2], drop_path_rate=0.3,
                     layer_scale_init_value=1.0, gap_before_final_norm=False)
    assert model.out_channels == [8, 32] and model.out_strides == [4, 16]
    blocks = [b for stage in model.stages for b in stage]
    probs = [getattr(b.drop_path, "drop_prob", 0.0) for b in blocks]
    assert probs == pytest.approx([0.0, 0.1, 0.2, 0.3])  # linear over all blocks
    assert torch.equal(blocks[0].gamma, torch.ones(8))
    outs = model(torch.randn(2, 3, 33, 47))
    assert [tuple(o.shape) for o in outs] == [(2, 8, 8, 11), (2, 32, 2, 2)]
    pooled = ConvNeXt(arch=dict(depths=[1], channels=[8]), out_indices=0)(torch.randn(2, 3, 16, 16))
    assert pooled[0].shape == (2, 8)  # gap_before_final_norm=True (mmpretrain's default): (N, C) vectors
    assert ConvNeXt(arch=dict(depths=[1], channels=[8]), layer_scale_init_value=0).stages[0][0].gamma is None
    # mmpretrain's default init: trunc-normal(std 0.02) Linear/Conv2d weights, zero biases
    block = ConvNeXt(arch=dict(depths=[1], channels=[64])).stages[0][0]
    assert 0.018 < float(block.pointwise_conv1.weight.detach().std()) < 0.022
    assert not block.pointwise_conv1.bias.detach().any()


def test_convnext_frozen_stages_and_errors():
    model = ConvNeXt(arch=dict(depths=[1, 1], channels=[4, 8]), out_indices=[0, 1], frozen_stages=1).train()
    assert not any(p.requires_grad for p in model.stages[0].parameters())
    assert not any(p.requires_grad for p in model.downsample_layers[0].parameters())
    assert all(p.requires_grad for p in model.stages[1].parameters())
    with pytest.raises(ConfigError, match="unknown arch 'tinny'"):
        ConvNeXt(arch="tinny")
    with pytest.raises(ConfigError, match="out of range"):
        ConvNeXt(out_indices=[4])


def test_poolformer_shapes_and_frozen_patch_embed_like_mmpretrain():
    model = PoolFormer(arch="s12", out_indices=(0, 2, 4, 6))
    assert model.out_channels == [64, 128, 320, 512] and model.out_strides == [4, 8, 16, 32]
    # mmpretrain freezes patch_embed whenever frozen_stages >= 0, the default 0 included
    assert not any(p.requires_grad for p in model.patch_embed.parameters())
    assert all(p.requires_grad for p in model.network.parameters())
    assert torch.allclose(model.network[0][0].layer_scale_1, torch.full((64,), 1e-5))
    assert torch.allclose(PoolFormer(arch="m36").network[0][0].layer_scale_1, torch.full((96,), 1e-6))
    frozen = PoolFormer(arch="s12", out_indices=(0, 2), frozen_stages=1).train()
    assert not frozen.network[0].training and not any(p.requires_grad for p in frozen.norm0.parameters())
    model = PoolFormer(arch=dict(layers=[1, 1], embed_dims=[8, 16]), out_indices=(0, 1, 2), drop_path_rate=0.2)
    assert model.out_channels == [8, 16, 16] and model.out_strides == [4, 8, 8]
    assert model.network[2][0].drop_path.drop_prob == pytest.approx(0.2)
    assert [tuple(o.shape) for o in model(torch.randn(1, 3, 33, 47))] == [(1, 8, 8, 12), (1, 16, 4, 6), (1, 16, 4, 6)]


def test_layer_norm_2d_normalises_channels():
    x = torch.randn(2, 6, 3, 5)
    norm = LayerNorm2d(6, eps=1e-6)
    torch.nn.init.uniform_(norm.weight)
    expected = F.layer_norm(x.permute(0, 2, 3, 1), (6,), norm.weight, norm.bias, 1e-6).permute(0, 3, 1, 2)
    torch.testing.assert_close(norm(x), expected)
    torch.testing.assert_close(norm(x.permute(0, 2, 3, 1), data_format="channel_last"), expected.permute(0, 2, 3, 1))
