"""SAN (open-vocabulary segmentation: MultimodalEncoderDecoder + SideAdapterCLIPHead + CLIPTextEncoder)
gives MMSegmentation 1.2.2's outputs and losses, and CLIP's tokenizer gives MMSeg's token ids.

Fixtures in tests/data/san come from tools/make_san_fixtures.py (run in the MMSeg reference env): a
shrunk SAN (``overrides`` applied to MMSeg's model dict; ../shared/parity/fill.py weights), its per-layer
class and mask logits, the semantic logits and the training losses for a fixed label map and seed.
"""
from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _shared import FILL, require

from seglab.config import Config
from seglab.registry import MODELS
from seglab.structures import PixelData, SegDataSample

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "san"
NAME = "san-vit-b16_coco-stuff164k-640x640"


@functools.lru_cache(maxsize=1)
def _fill():
    spec = importlib.util.spec_from_file_location("parity_fill", require(FILL))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _decode_tuples(obj: object) -> object:
    if isinstance(obj, dict):
        if set(obj) == {"__tuple__"}:
            return tuple(_decode_tuples(v) for v in obj["__tuple__"])
        return {k: _decode_tuples(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode_tuples(v) for v in obj]
    return obj


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for k, v in override.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """One intra-op thread: on a loaded 2-core machine OpenMP workers waiting for each other dominate."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _meta() -> dict:
    return json.loads((DATA / f"{NAME}.json").read_text())


def _filled(cfg: dict) -> torch.nn.Module:
    model = MODELS.build(cfg)
    fill = _fill().fill
    state = {k: torch.from_numpy(fill(k, tuple(v.shape), v.is_floating_point())) for k, v in model.state_dict().items()}
    model.load_state_dict(state, strict=True)
    return model.eval()


def _close(ours: torch.Tensor, ref: np.ndarray, what: str) -> None:
    ref_t = torch.from_numpy(np.asarray(ref))
    assert tuple(ours.shape) == tuple(ref_t.shape), f"{what}: shape {tuple(ours.shape)} vs {tuple(ref_t.shape)}"
    err = (ours.float() - ref_t.float()).abs().max().item()
    assert err <= 1e-4 * ref_t.abs().max().item() + 1e-5, f"{what}: max abs error {err}"


def _labels(shape: list[int], boxes: list[list[int]]) -> SegDataSample:
    seg = torch.zeros(shape[2:], dtype=torch.long)
    for y0, y1, x0, x1, label in boxes:
        seg[y0:y1, x0:x1] = label
    hw = tuple(shape[2:])
    sample = SegDataSample(metainfo=dict(img_shape=hw, ori_shape=hw, pad_shape=hw, padding_size=[0, 0, 0, 0]))
    sample.gt_sem_seg = PixelData(data=seg[None])
    return sample


@pytest.mark.parametrize("variant", ["model_cfg", "config_file"])
def test_san_matches_mmseg(variant: str):
    meta = _meta()
    if variant == "model_cfg":
        cfg = _decode_tuples(meta["model_cfg"])
    else:
        cfg = Config.fromfile(str(REPO / "configs" / meta["config"])).model
        cfg = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
        cfg.pop("pretrained", None)
        cfg["data_preprocessor"] = None
        cfg = _merge(cfg, _decode_tuples(meta["overrides"]))
    model = _filled(cfg)
    ref = np.load(DATA / f"{NAME}.npz")
    shape = tuple(meta["input_shape"])
    x = torch.from_numpy(_fill().parity_input(shape))
    with torch.no_grad():
        cls, masks = model(x, mode="tensor")
        assert len(cls) == len(masks) == 2  # deep-supervised layer 1 and the last layer
        for i in range(2):
            _close(cls[i], ref[f"cls_{i}"], f"class logits of layer {i}")
            _close(masks[i], ref[f"mask_{i}"], f"mask logits of layer {i}")
        hw = shape[2:]
        full = model.encode_decode(x, [dict(img_shape=hw, ori_shape=hw, pad_shape=hw)])
        _close(full[:, :, ::4, ::4], ref["full_s4"], "encode_decode")
        pred = model.predict(x)[0].pred_sem_seg.data
    assert torch.equal(pred, full.argmax(1))
    torch.manual_seed(0)
    losses = model.loss(x, [_labels(meta["input_shape"], meta["loss_labels"])])
    ref_losses = {k[len("loss_"):]: float(ref[k]) for k in ref.files if k.startswith("loss_")}
    assert sorted(losses) == sorted(ref_losses)
    for k, v in ref_losses.items():
        assert losses[k].item() == pytest.approx(v, rel=1e-4, abs=1e-6), k
