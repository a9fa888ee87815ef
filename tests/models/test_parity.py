"""MMSegmentation checkpoint parity: every golden in ../shared/parity/goldens (see its README).

For each golden: build from ``model_cfg`` and from seglab's ``configs/<method>/<name>.py``, compare
the state-dict manifest exactly, load the filled weights strictly, and compare ``logits`` and
``full_s4`` with the README tolerance. A golden that names an unregistered type FAILS, except those in
NOT_IMPLEMENTED (model families still to come), which skip naming the missing types; a test asserts
that list is exactly the set of goldens that cannot build, so implementing a family shrinks it.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _optional import skip_reason
from _shared import FILL, GOLDENS, require

from seglab.models.mask_classification import MASK_LOSSES, PIXEL_DECODERS, TASK_UTILS
from seglab.registry import MODELS, ConfigError

REPO = Path(__file__).resolve().parents[2]
# The CNN goldens (issue: model zoo part 1) must run, from model_cfg and from seglab's config file.
MUST_RUN = (
    "fcn_r18-d8_4xb2-80k_cityscapes-512x1024",
    "fcn_r50-d8_4xb2-40k_cityscapes-512x1024",
    "pspnet_r50-d8_4xb2-40k_cityscapes-512x1024",
    "deeplabv3_r50-d8_4xb2-40k_cityscapes-512x1024",
    "deeplabv3plus_r50-d8_4xb2-40k_cityscapes-512x1024",
    "upernet_r50_4xb4-160k_ade20k-512x512",
    "fpn_r50_4xb4-160k_ade20k-512x512",
    "swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512",
    "segmenter_vit-t_mask_8xb1-160k_ade20k-512x512",
    # real-time networks (issue 11, part B)
    "bisenetv2_fcn_4xb4-160k_cityscapes-1024x1024",
    "stdc1_4xb12-80k_cityscapes-512x1024",
    "fast_scnn_8xb4-160k_cityscapes-512x1024",
    "mobilenet-v3-d8_lraspp_4xb4-320k_cityscapes-512x1024",
    "pidnet-s_2xb6-120k_1024x1024-cityscapes",
    "ddrnet_23-slim_in1k-pre_2xb6-120k_cityscapes-1024x1024",
    # HRNet/OCRNet and UNet (issue 11, part A)
    "ocrnet_hr18s_4xb2-40k_cityscapes-512x1024",
    "unet-s5-d16_fcn_4xb4-160k_cityscapes-512x1024",
)
# The only goldens allowed to skip: transformer, real-time and mask-classification families not
# implemented yet. test_not_implemented_list_is_exact keeps this list equal to what cannot build.
NOT_IMPLEMENTED: frozenset[str] = frozenset()  # every golden family is implemented now
# Sub-config keys whose 'type' is a MODELS type (norm_cfg/act_cfg/... types belong to the layer builders).
COMPONENT_KEYS = ("backbone", "neck", "decode_head", "auxiliary_head", "loss_decode", "sampler", "backbone_cfg")

GOLDEN_NAMES = sorted(p.name[: -len(".keys.json")] for p in GOLDENS.glob("*.keys.json"))
# Goldens of "kind": "mask_classification" compare other outputs: tests/models/test_parity_mask_classification.py.
TENSOR_GOLDENS = [n for n in GOLDEN_NAMES
                  if json.loads((GOLDENS / f"{n}.keys.json").read_text()).get("kind") != "mask_classification"]


@functools.lru_cache(maxsize=1)
def _fill_module():
    spec = importlib.util.spec_from_file_location("parity_fill", require(FILL))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _manifest(name: str) -> dict:
    return json.loads((GOLDENS / f"{name}.keys.json").read_text())


def _model_types(cfg: object) -> set[str]:
    """Type names of the MODELS components in a model config (top level and COMPONENT_KEYS, recursively)."""
    types: set[str] = set()

    def visit(node: object, is_component: bool) -> None:
        if isinstance(node, (list, tuple)):
            for item in node:
                visit(item, is_component)
        elif isinstance(node, dict):
            if is_component and isinstance(node.get("type"), str):
                types.add(node["type"])
            for key, value in node.items():
                visit(value, key in COMPONENT_KEYS)

    visit(cfg, True)
    return types


def _registered(name: str) -> bool:
    """A MODELS name, or an ``mmdet.`` part of the mask-classification heads (their own registries)."""
    if name.startswith("mmdet."):
        return any(name[len("mmdet."):] in reg for reg in (PIXEL_DECODERS, MASK_LOSSES, TASK_UTILS))
    return name in MODELS


def _missing_types(cfg: dict) -> list[str]:
    return sorted(t for t in _model_types(cfg) if not _registered(t))


@functools.lru_cache(maxsize=1)
def _filled_state(name: str) -> dict[str, torch.Tensor]:
    """The README's deterministic weights for every manifest entry (cached for the config variant)."""
    fill = _fill_module().fill
    return {
        k: torch.from_numpy(fill(k, tuple(shape), dtype.startswith("float")))
        for k, shape, dtype in _manifest(name)["state_dict"]
    }


def _config_model_cfg(name: str, manifest: dict) -> dict | None:
    """seglab's own config file for this golden, if present: its ``model`` dict."""
    path = REPO / "configs" / manifest["config"]
    if not path.is_file():
        return None
    from seglab.config import Config  # lazy: another part of the package

    return Config.fromfile(str(path)).model


def _check_parity(model: torch.nn.Module, name: str, manifest: dict) -> None:
    expected = [(k, list(shape), dtype) for k, shape, dtype in manifest["state_dict"]]
    ours = [(k, list(v.shape), str(v.dtype).replace("torch.", "")) for k, v in model.state_dict().items()]
    missing = sorted({e[0] for e in expected} - {o[0] for o in ours})
    unexpected = sorted({o[0] for o in ours} - {e[0] for e in expected})
    assert not missing and not unexpected, (
        f"state_dict keys differ: missing {missing[:10]}, unexpected {unexpected[:10]}"
    )
    mismatched = [(o, e) for o, e in zip(sorted(ours), sorted(expected)) if o != e]
    assert not mismatched, f"state_dict shapes/dtypes differ (ours, reference): {mismatched[:10]}"

    model.load_state_dict(_filled_state(name), strict=True)
    model.eval()
    ref = np.load(GOLDENS / f"{name}.npz")
    x = torch.from_numpy(_fill_module().parity_input(tuple(manifest["input_shape"])))
    hw = tuple(x.shape[2:])
    with torch.no_grad():
        logits = model(x, mode="tensor")
        full = model.encode_decode(x, [dict(img_shape=hw, ori_shape=hw, pad_shape=hw)])[:, :, ::4, ::4]
    for key, ours_out in (("logits", logits), ("full_s4", full)):
        reference = ref[key]
        assert tuple(ours_out.shape) == reference.shape, f"{key} shape {tuple(ours_out.shape)} != {reference.shape}"
        err = float(np.abs(ours_out.numpy() - reference).max())
        tol = 1e-4 * float(np.abs(reference).max()) + 1e-5
        assert err <= tol, f"{key}: max abs error {err:.3g} > tolerance {tol:.3g}"


def _cannot_build(cfg: dict) -> str | None:
    """Why ``cfg`` cannot be built (the unregistered types), or None when every type is registered."""
    missing = _missing_types(cfg)
    if missing:
        return f"types not registered yet: {', '.join(missing)}"
    try:
        with torch.device("meta"):
            MODELS.build(cfg)
    except ConfigError as exc:
        if str(exc).startswith("unknown"):
            return str(exc)
        raise
    return None


def _build(cfg: dict, name: str) -> torch.nn.Module:
    """Build the golden's model; only a NOT_IMPLEMENTED golden may skip, naming what is missing."""
    missing = _missing_types(cfg)
    if missing:
        assert name in NOT_IMPLEMENTED, f"{name}: types not registered: {', '.join(missing)}"
        skip_reason("parity-family-not-implemented", f"{name}: types not registered yet: {', '.join(missing)}")
    return MODELS.build(cfg)


def test_goldens_were_collected():
    assert len(GOLDEN_NAMES) >= 19, f"only {len(GOLDEN_NAMES)} goldens found in {GOLDENS}"
    assert set(MUST_RUN) <= set(GOLDEN_NAMES)
    assert NOT_IMPLEMENTED <= set(GOLDEN_NAMES) and not NOT_IMPLEMENTED & set(MUST_RUN)


def test_not_implemented_list_is_exact():
    """NOT_IMPLEMENTED equals the goldens that cannot build: implementing a family must shrink it."""
    cannot = {name for name in GOLDEN_NAMES if _cannot_build(_manifest(name)["model_cfg"])}
    assert not cannot - NOT_IMPLEMENTED, f"cannot build but not listed: {sorted(cannot - NOT_IMPLEMENTED)}"
    assert not NOT_IMPLEMENTED - cannot, f"build now, remove from NOT_IMPLEMENTED: {sorted(NOT_IMPLEMENTED - cannot)}"


@pytest.mark.parametrize("name", MUST_RUN)
def test_cnn_goldens_are_not_skipped(name):
    missing = _missing_types(_manifest(name)["model_cfg"])
    assert not missing, f"{name} must run, but these types are not registered: {missing}"


# Golden-major order so the filled weights are made once per golden for both variants.
@pytest.mark.parametrize("name,variant", [(n, v) for n in TENSOR_GOLDENS for v in ("model_cfg", "config_file")])
def test_parity(name, variant):
    manifest = _manifest(name)
    if variant == "model_cfg":
        cfg = manifest["model_cfg"]
    else:
        cfg = _config_model_cfg(name, manifest)
        if cfg is None:
            assert name in NOT_IMPLEMENTED, f"configs/{manifest['config']} must exist"
            skip_reason("parity-family-not-implemented", f"configs/{manifest['config']} does not exist yet")
    # The goldens were made by seeding torch.manual_seed(0), building, loading and running model(x) then
    # encode_decode(x); a model that draws random numbers in forward (LightHamHead's NMF bases) matches them
    # only from that global RNG state, and only if building it consumes random numbers as MMSeg's does.
    torch.manual_seed(0)
    _check_parity(_build(cfg, name), name, manifest)
