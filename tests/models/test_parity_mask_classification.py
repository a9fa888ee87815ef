"""MMSegmentation parity of the mask-classification goldens (``"kind": "mask_classification"``).

Same four steps as tests/models/test_parity.py (build from ``model_cfg`` and from seglab's config file,
exact state-dict manifest, strict load of the filled weights, outputs within the README tolerance), but
the outputs are the last decoder layer's mask logits (``logits``) and class scores (``cls_scores``)
from ``model(x, mode='tensor')``, and ``full_s4`` from ``encode_decode``. MUST_RUN goldens never skip.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from test_parity import GOLDEN_NAMES, GOLDENS, _config_model_cfg, _fill_module, _filled_state, _manifest

from seglab.registry import MODELS

MUST_RUN = (
    "mask2former_r50_8xb2-90k_cityscapes-512x1024",
    "maskformer_r50-d32_8xb2-160k_ade20k-512x512",
)
MASK_GOLDENS = [n for n in GOLDEN_NAMES if _manifest(n).get("kind") == "mask_classification"]


def test_mask_classification_goldens_were_collected():
    assert set(MUST_RUN) <= set(MASK_GOLDENS), f"missing mask-classification goldens: {set(MUST_RUN) - set(MASK_GOLDENS)}"


def _check(model: torch.nn.Module, name: str, manifest: dict) -> None:
    expected = sorted((k, list(shape), dtype) for k, shape, dtype in manifest["state_dict"])
    ours = sorted((k, list(v.shape), str(v.dtype).replace("torch.", "")) for k, v in model.state_dict().items())
    missing = sorted({e[0] for e in expected} - {o[0] for o in ours})
    unexpected = sorted({o[0] for o in ours} - {e[0] for e in expected})
    assert not missing and not unexpected, f"state_dict keys differ: missing {missing[:10]}, unexpected {unexpected[:10]}"
    assert ours == expected, f"state_dict shapes/dtypes differ: {[(o, e) for o, e in zip(ours, expected) if o != e][:10]}"
    model.load_state_dict(_filled_state(name), strict=True)
    model.eval()
    ref = np.load(GOLDENS / f"{name}.npz")
    x = torch.from_numpy(_fill_module().parity_input(tuple(manifest["input_shape"])))
    hw = tuple(x.shape[2:])
    with torch.no_grad():
        cls_scores, mask_preds = model(x, mode="tensor")  # no data samples needed
        full = model.encode_decode(x, [dict(img_shape=hw, ori_shape=hw, pad_shape=hw)])[:, :, ::4, ::4]
    for key, out in (("logits", mask_preds[-1]), ("cls_scores", cls_scores[-1]), ("full_s4", full)):
        reference = ref[key]
        assert tuple(out.shape) == reference.shape, f"{key} shape {tuple(out.shape)} != {reference.shape}"
        err = float(np.abs(out.numpy() - reference).max())
        tol = 1e-4 * float(np.abs(reference).max()) + 1e-5
        assert err <= tol, f"{key}: max abs error {err:.3g} > tolerance {tol:.3g}"


@pytest.mark.parametrize("name,variant", [(n, v) for n in MASK_GOLDENS for v in ("model_cfg", "config_file")])
def test_mask_classification_parity(name: str, variant: str):
    manifest = _manifest(name)
    cfg = manifest["model_cfg"] if variant == "model_cfg" else _config_model_cfg(name, manifest)
    # Every mask-classification golden must run: no skip (tests/_optional.py lists every allowed skip).
    assert cfg is not None, f"configs/{manifest['config']} must exist"
    assert cfg["decode_head"]["type"] in MODELS, f"{name}: {cfg['decode_head']['type']} is not registered"
    _check(MODELS.build(cfg), name, manifest)
