"""MaskFormer/Mask2Former heads and MMCV's deformable attention against MMSeg 1.2.2 / mmdet 3.3.0 / MMCV
2.1.0 outputs for constructor arguments other than the goldens' (tests/data/mask_classification,
made by its make_reference.py): every decoder layer's class and mask logits, ``predict``, and the
training losses (the same seeded random points are drawn in the same order as mmdet)."""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import seglab.models  # noqa: F401 - registration
from seglab.models.mask_classification import MultiScaleDeformableAttention
from seglab.registry import MODELS
from seglab.structures import SegDataSample

DATA = Path(__file__).resolve().parents[2] / "data" / "mask_classification"
CASES = json.loads((DATA / "cases.json").read_text())
HEADS = sorted(CASES["heads"])


@functools.lru_cache(maxsize=1)
def reference() -> dict[str, np.ndarray]:
    with np.load(DATA / "reference.npz") as z:
        return {k: z[k] for k in z.files}


def randomize(module: torch.nn.Module, seed: int) -> None:
    """make_reference.py's rule: seeded values in ``named_parameters`` order."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) / max(1, p[0].numel()) ** 0.5)
            elif name.endswith("weight"):
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))


def close(ours: torch.Tensor, ref: np.ndarray, what: str, rel: float = 1e-4) -> None:
    assert tuple(ours.shape) == ref.shape, f"{what}: shape {tuple(ours.shape)} != {ref.shape}"
    err = float(np.abs(ours.detach().numpy() - ref).max())
    tol = rel * float(np.abs(ref).max()) + 1e-5
    assert err <= tol, f"{what}: max abs error {err:.3g} > {tol:.3g}"


def build_head(name: str) -> torch.nn.Module:
    head = MODELS.build(CASES["heads"][name])
    randomize(head, seed=len(name))
    sums = np.array([float(p.detach().sum()) for p in head.parameters()])
    np.testing.assert_allclose(sums, reference()[f"{name}/param_sums"], rtol=1e-5, atol=1e-5,
                               err_msg="parameter order differs from MMSeg's")
    return head.eval()


def inputs(name: str) -> list[torch.Tensor]:
    ref = reference()
    return [torch.from_numpy(ref[f"{name}/in/{i}"]) for i in range(4)]


@pytest.mark.parametrize("name", HEADS)
def test_forward_and_predict_match_mmseg(name: str):
    ref = reference()
    head = build_head(name)
    x = inputs(name)
    hw = tuple(CASES["img"])
    with torch.no_grad():
        cls_list, mask_list = head(x)  # no data samples needed
        seg = head.predict(x, [dict(img_shape=hw, pad_shape=hw, ori_shape=hw)] * 2)
    num_layers = len([k for k in ref if k.startswith(f"{name}/cls/")])
    assert len(cls_list) == len(mask_list) == num_layers
    for i in range(num_layers):
        close(cls_list[i], ref[f"{name}/cls/{i}"], f"{name} cls[{i}]")
        close(mask_list[i], ref[f"{name}/mask/{i}"], f"{name} mask[{i}]")
    close(seg[:, :, ::4, ::4], ref[f"{name}/seg_s4"], f"{name} predict")


@pytest.mark.parametrize("name", HEADS)
def test_losses_match_mmseg(name: str):
    ref = reference()
    head = build_head(name)
    x = inputs(name)
    hw = tuple(CASES["img"])
    labels = torch.from_numpy(ref[f"{name}/labels"].astype(np.int64))
    samples = []
    for i in range(2):
        sample = SegDataSample(metainfo=dict(img_shape=hw, pad_shape=hw, ori_shape=hw))
        sample.gt_sem_seg = labels[i]
        samples.append(sample)
    torch.manual_seed(0)  # Mask2Former draws its points in mmdet's order
    with torch.no_grad():
        losses = head.loss(x, samples)
    expected = {k.split("/loss/")[1]: v for k, v in ref.items() if k.startswith(f"{name}/loss/")}
    assert sorted(losses) == sorted(expected)
    for key, value in expected.items():  # mmdet's mask losses have shape (1,) (a tensor avg_factor); ours are scalars
        assert losses[key].dim() == 0
        close(losses[key].reshape(-1), value.reshape(-1), f"{name} {key}")


@pytest.mark.parametrize("name", ["msda-ref2", "msda-ref4"])
def test_deformable_attention_matches_mmcv(name: str):
    ref = reference()
    attn = MultiScaleDeformableAttention(**CASES["msda"][name])
    randomize(attn, seed=int(name[-1]))
    with torch.no_grad():
        attn.sampling_offsets.weight.mul_(3.0)
    np.testing.assert_allclose([float(p.detach().sum()) for p in attn.parameters()], ref[f"{name}/param_sums"], rtol=1e-5)
    t = {k: torch.from_numpy(ref[f"{name}/{k}"]) for k in ("query", "value", "pos", "ref", "mask")}
    with torch.no_grad():
        out = attn(t["query"], value=t["value"], query_pos=t["pos"], key_padding_mask=t["mask"],
                   reference_points=t["ref"], spatial_shapes=torch.tensor([[4, 5], [2, 3]]),
                   level_start_index=torch.tensor([0, 20]))
    close(out, ref[f"{name}/out"], name)
