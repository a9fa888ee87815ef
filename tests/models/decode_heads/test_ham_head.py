"""LightHamHead / NMF2D: NMF reduces reconstruction error, MMSeg semantics (random bases from the global RNG,
train/eval steps, groups, fixed temperature), MMSeg parity, RNG use at construction, argument checks."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from seglab.models.decode_heads.ham_head import NMF2D, LightHamHead, nmf_multiplicative_step
from seglab.registry import MODELS, ConfigError


def _ref():
    """tests/data/segformer_segnext/reference_cases.py, loaded once (tests/ is not a package)."""
    if "segformer_segnext_cases" not in sys.modules:
        path = Path(__file__).resolve().parents[2] / "data" / "segformer_segnext" / "reference_cases.py"
        spec = importlib.util.spec_from_file_location("segformer_segnext_cases", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["segformer_segnext_cases"] = module
        spec.loader.exec_module(module)
    return sys.modules["segformer_segnext_cases"]


def test_multiplicative_updates_reduce_the_reconstruction_error():
    """Lee-Seung updates never increase ||x - B C^T||; on an exactly rank-2 matrix they approach 0."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 6, 2, generator=gen) @ torch.rand(1, 2, 10, generator=gen)  # (1, D=6, N=10), rank 2
    bases = torch.nn.functional.normalize(torch.rand(1, 6, 2, generator=gen), dim=1)
    coef = torch.softmax(x.transpose(1, 2) @ bases, dim=-1)
    errors = []
    for _ in range(200):
        errors.append(float((x - bases @ coef.transpose(1, 2)).norm() / x.norm()))
        bases, coef = nmf_multiplicative_step(x, bases, coef)
    assert all(b <= a + 1e-6 for a, b in zip(errors, errors[1:]))
    assert errors[0] > 0.1 and errors[-1] < 0.02


def test_nmf2d_more_steps_reconstruct_better_and_groups_are_separate_matrices():
    x = torch.rand(1, 8, 4, 5, generator=torch.Generator().manual_seed(1))
    errors = []
    for steps in (0, 2, 20):
        nmf = NMF2D(8, MD_S=2, MD_R=2, eval_steps=steps).eval()
        torch.manual_seed(3)
        errors.append(float((nmf(x) - x).norm() / x.norm()))
    assert errors[0] > errors[1] > errors[2]
    # MD_S=2: channels 0-3 and 4-7 are two (D=4, N=20) matrices with their own bases from one (2, 4, 2) draw;
    # coefficients start at softmax(x^T B) (temperature 1), then 3 eval steps and a last coefficient update
    nmf = NMF2D(8, MD_S=2, MD_R=2, train_steps=1, eval_steps=3).eval()
    torch.manual_seed(5)
    out = nmf(x)
    torch.manual_seed(5)
    bases = torch.nn.functional.normalize(torch.rand(2, 4, 2), dim=1)
    xm = x.reshape(2, 4, 20)
    coef = torch.softmax(xm.transpose(1, 2) @ bases, dim=-1)
    for _ in range(3):
        bases, coef = nmf_multiplicative_step(xm, bases, coef)
    _, coef = nmf_multiplicative_step(xm, bases, coef, update_bases=False)
    torch.testing.assert_close(out, (bases @ coef.transpose(1, 2)).reshape(1, 8, 4, 5))


def test_bases_come_from_the_global_rng_every_forward_like_mmseg():
    nmf = NMF2D(4, MD_R=2).eval()
    x = torch.rand(1, 4, 3, 3)
    torch.manual_seed(0)
    first = nmf(x)
    torch.manual_seed(0)
    assert torch.equal(nmf(x), first)  # same RNG state, same result
    assert not torch.equal(nmf(x), first)  # the RNG moved on: new bases
    fixed = NMF2D(4, MD_R=2, rand_init=False).eval()
    assert fixed.state_dict()["bases"].shape == (1, 4, 2)
    assert torch.equal(fixed(x), fixed(x))  # rand_init=False: the stored bases, no RNG


def test_head_matches_mmseg_in_eval_and_train_mode():
    """MD_S=2, MD_R=3, train_steps=2, eval_steps=4, GN: outputs after the same manual_seed as MMSeg."""
    ref = _ref()
    case = ref.CASES["ham_head"]
    head = ref.filled("ham_head")
    feats = ref.inputs(case["inputs"])
    with torch.no_grad():
        torch.manual_seed(case["seed"])
        ref.assert_close(head(feats), "ham_head.eval")
        head.train()
        torch.manual_seed(case["seed"])
        ref.assert_close(head(feats), "ham_head.train")


def test_building_consumes_the_global_rng_like_mmseg():
    """So a model built after torch.manual_seed(s) draws the same NMF bases as MMSeg's (parity goldens)."""
    ref = _ref()
    torch.manual_seed(0)
    MODELS.build(dict(ref.CASES["ham_head"]["cfg"]))
    np.testing.assert_array_equal(torch.rand(4).numpy(), ref.REF["ham_head.rng_after_build"])


def test_arguments_are_checked():
    kw = dict(in_channels=[8, 8], in_index=[0, 1], channels=8, ham_channels=8, num_classes=3,
              norm_cfg=dict(type="GN", num_groups=2))
    with pytest.raises(ConfigError, match="unknown ham_kwargs \\['eta'\\]"):
        LightHamHead(**kw, ham_kwargs=dict(eta=0.9))
    with pytest.raises(ConfigError, match="MD_S=3"):
        LightHamHead(**kw, ham_kwargs=dict(MD_S=3))
    with pytest.warns(UserWarning, match="inv_t=100 has no effect"):
        LightHamHead(**kw, ham_kwargs=dict(inv_t=100))
    with pytest.raises(ConfigError, match="multiple_select"):
        LightHamHead(**kw, input_transform="resize_concat")
