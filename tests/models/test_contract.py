"""Model contract suite (STYLE.md point 9) over every registered backbone, neck, decode head and loss.

Per model: build, forward at odd sizes with the declared output shapes, backward reaches every
trainable parameter, eval mode is deterministic and stateless, and the state dict round-trips
through ``torch.save``/``torch.load(weights_only=True)`` into a fresh instance (strict) with equal
outputs. Per segmentor combination: finite prefixed losses, predictions at ``ori_shape`` with padding,
slide == whole inference when one window covers the image. Per loss: finite value, gradient, and
ignore_index pixels have no effect.
"""
from __future__ import annotations

import io
import math

import pytest
import torch
from _contract_cases import CASES, Case  # tests/models is on sys.path (rootdir-relative "prepend" import mode)
from _optional import require
from torch import nn

import seglab.models  # noqa: F401 - registration
from seglab.models.decode_heads import BaseDecodeHead
from seglab.models.mask_classification.head_base import MaskClassificationHead
from seglab.registry import MODELS
from seglab.structures import SegDataSample

CASE_PARAMS = [pytest.param(c, id=c.name) for c in CASES]
# Parameters whose gradient is zero by construction: they must get one of (numerically) zero, not a real one.
# Whether float rounding leaves it exactly 0 or ~1e-9 depends on the CPU's summation order.
ZERO_GRAD_BY_CONSTRUCTION = {
    "gc_block.conv_mask.bias": "a constant added to every position before the softmax over positions cancels",
    "semantic.stage4_CEBlock.gap.1.bias": "BiSeNetV2's pooled-BN shift reaches the next BN as a per-channel "
                                          "constant, which train-mode BN subtracts",
    # PIDNet's/DDRNet's last context block feeds only the pyramid pooling, whose every branch starts with
    # BN: the block's output shift is a per-channel constant that train-mode BN subtracts.
    "i_branch_layers.2.1.conv3.bn.bias": "PIDNet: a shift into PAPPM/DAPPM's leading BNs cancels",
    "context_branch_layers.2.0.conv3.bn.bias": "DDRNet: a shift into DAPPM's leading BNs cancels",
    "context_branch_layers.2.0.downsample.1.bias": "DDRNet: a shift into DAPPM's leading BNs cancels",
}
_KIND_OF_PACKAGE = {"seglab.models.backbones.": "backbone", "seglab.models.necks.": "neck",
                    "seglab.models.decode_heads.": "head"}


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """Run this module on one intra-op thread (restored afterwards)."""
    # These tensors are tiny: threads gain nothing, and on a loaded machine OpenMP workers waiting for
    # each other made the module 10-100x slower.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def registered_kind(cls: type) -> str | None:
    """'backbone', 'neck' or 'head' for a seglab model class that needs a contract case, else None."""
    module = getattr(cls, "__module__", "")
    if isinstance(cls, type) and issubclass(cls, MaskClassificationHead) and module.startswith("seglab."):
        return "mask_head"
    if isinstance(cls, type) and issubclass(cls, BaseDecodeHead) and module.startswith("seglab."):
        return "head"
    return next((kind for prefix, kind in _KIND_OF_PACKAGE.items() if module.startswith(prefix)), None)


def randomize_(model: nn.Module, seed: int) -> nn.Module:
    """Give every float parameter a seeded, non-degenerate value.

    Several modules start with exact zeros (attention ``gamma`` scales, zero-init residual norms), under
    which the gradient of everything feeding them is exactly zero; random values make "every parameter
    gets a gradient" a real check and make the round trip compare non-default weights.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                fan_in = max(1, p[0].numel())
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(fan_in))
            elif name.endswith("weight"):
                p.copy_(torch.rand(p.shape, generator=gen) + 0.5)
            else:
                p.copy_((torch.rand(p.shape, generator=gen) - 0.5) * 0.2)
    return model


def build(case: Case, seed: int = 0) -> nn.Module:
    """The case's module with seeded random parameters (skipped through ``require`` without its extra)."""
    if case.requires:
        require(case.requires)
    return randomize_(MODELS.build(dict(case.cfg)), seed)


def make_inputs(case: Case, variant: int, seed: int = 0) -> torch.Tensor | list[torch.Tensor]:
    """Random inputs for size ``variant`` (the image for backbones, a list of maps otherwise)."""
    gen = torch.Generator().manual_seed(seed)
    maps = [torch.randn(shape, generator=gen) for shape in case.inputs[variant]]
    return maps[0] if case.kind == "backbone" else maps


def run(model: nn.Module, case: Case, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor | tuple | list:
    """Call ``model`` on its case inputs; a cascade head takes the last map as the previous stage's logits."""
    if case.call is not None:
        return case.call(model, x)
    return model(x[:-1], x[-1]) if case.prev_output else model(x)


def as_list(out: torch.Tensor | tuple | list) -> list[torch.Tensor]:
    """A module output (a tensor, a tuple such as DAHead's or EncHead's, or a mask head's per-layer lists)
    as a flat list of tensors."""
    if isinstance(out, torch.Tensor):
        return [out]
    return [t for part in out for t in ([part] if isinstance(part, torch.Tensor) else part)]


def expected_shapes(case: Case, model: nn.Module, variant: int) -> list[tuple[int, ...]]:
    """The output shapes the case declares for size ``variant``."""
    shapes = case.inputs[variant]
    if case.kind == "backbone":
        n, _, h, w = shapes[0]
        return [(n, c, math.ceil(h / s), math.ceil(w / s)) for c, s in zip(case.out_channels, case.out_strides)]
    if case.kind == "neck":
        return [tuple(s) for s in case.neck_out(shapes)]
    n, _, h, w = shapes[case.out_like]
    if case.kind == "mask_head":
        queries = model.num_queries
        return [(n, queries, model.num_classes + 1)] * case.mask_layers + [(n, queries, h, w)] * case.mask_layers
    return [(n, model.out_channels, h, w)]


def close_dropout(model: nn.Module) -> None:
    # Dropout2d may zero one channel in every sample, and DropPath a whole block in every sample (likelier
    # with a batch of 2), which zeroes gradients that do exist.
    for m in model.modules():
        if isinstance(m, (nn.Dropout, nn.Dropout2d)) or type(m).__name__ == "DropPath":
            m.eval()


# -- guards ---------------------------------------------------------------------------------------------
def test_every_registered_backbone_neck_and_head_has_a_contract_case():
    registered = {name: registered_kind(cls) for name, cls in MODELS.module_dict.items()}
    registered = {name: kind for name, kind in registered.items() if kind is not None}
    covered = {c.type for c in CASES}
    missing = sorted(set(registered) - covered)
    assert not missing, f"registered models without a contract case in tests/models/_contract_cases.py: {missing}"
    wrong_kind = [(c.name, c.kind, registered.get(c.type)) for c in CASES if registered.get(c.type) != c.kind]
    assert not wrong_kind, f"cases whose kind disagrees with the registry (or unregistered types): {wrong_kind}"
    assert len(registered) >= 25, f"suspiciously few registered models: {sorted(registered)}"
    assert len(CASE_PARAMS) == len(CASES) > 0, "the contract parametrisation collected no cases"


# -- per-model contract ---------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASE_PARAMS)
def test_forward_gives_declared_shapes_at_odd_sizes(case: Case):
    model = build(case).eval()
    if case.kind == "backbone":
        assert list(model.out_channels) == list(case.out_channels)
        assert list(model.out_strides) == list(case.out_strides)
    for variant in range(len(case.inputs)):
        with torch.no_grad():
            outs = as_list(run(model, case, make_inputs(case, variant)))
        expected = expected_shapes(case, model, variant)
        got = [tuple(o.shape) for o in outs]
        if case.kind == "head":
            # K-Net's IterativeDecodeHead takes its classes from the head it wraps.
            head_cfg = case.cfg.get("kernel_generate_head", case.cfg)
            declared = case.out_channels[0] if case.out_channels else head_cfg.get("out_channels", head_cfg["num_classes"])
            assert model.out_channels == declared
            got = got[:1]  # extra outputs (DAHead's pam/cam, EncHead's se logits) are checked by backward
        if case.kind == "mask_head":
            assert model.out_channels == case.cfg["num_classes"]  # the segmentor sees one map per class
        assert got == expected, f"{case.name} at input {case.inputs[variant]}"
        assert all(torch.isfinite(o).all() for o in outs)


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_backward_reaches_every_trainable_parameter(case: Case):
    model = build(case).train()
    close_dropout(model)
    outs = as_list(run(model, case, make_inputs(case, 0)))
    gen = torch.Generator().manual_seed(1)
    # A random projection, so no parameter hides behind a symmetric cancellation (e.g. sum after BN).
    scalar = sum((o * torch.randn(o.shape, generator=gen)).sum() for o in outs)
    scalar.backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert trainable, f"{case.name} has no trainable parameters"
    no_grad = [n for n, p in trainable if p.grad is None]
    scale = max(float(p.grad.abs().max()) for _, p in trainable if p.grad is not None)
    by_construction = [(n, p) for n, p in trainable if n in ZERO_GRAD_BY_CONSTRUCTION]
    assert all(p.grad is None or float(p.grad.abs().max()) <= 1e-5 * scale for _, p in by_construction), by_construction
    trainable = [(n, p) for n, p in trainable if n not in ZERO_GRAD_BY_CONSTRUCTION]
    zero_grad = [n for n, p in trainable if p.grad is not None and not p.grad.abs().sum() > 0]
    bad_grad = [n for n, p in trainable if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not no_grad, f"{case.name}: parameters without a gradient: {no_grad}"
    assert not zero_grad, f"{case.name}: parameters with an all-zero gradient: {zero_grad}"
    assert not bad_grad, f"{case.name}: parameters with a non-finite gradient: {bad_grad}"


# Models whose forward draws from the global RNG even in eval, as MMSeg's do (LightHamHead: NMF bases): they
# must be deterministic given the RNG state, so the eval tests seed it before every forward.
RANDOM_IN_FORWARD = {"LightHamHead"}


def seeded_forward(model: nn.Module, case: Case, x: torch.Tensor | list[torch.Tensor]) -> list[torch.Tensor]:
    """``model(x)`` as a list, with the global RNG seeded first for the RANDOM_IN_FORWARD cases."""
    if case.name in RANDOM_IN_FORWARD:
        torch.manual_seed(0)
    return as_list(run(model, case, x))


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_eval_mode_is_deterministic_and_stateless(case: Case):
    model = build(case).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = make_inputs(case, 0)
    with torch.no_grad():
        first, second = seeded_forward(model, case, x), seeded_forward(model, case, x)
        if case.name in RANDOM_IN_FORWARD:  # the exemption must stay true: unseeded forwards differ
            assert not all(torch.equal(a, b) for a, b in zip(as_list(model(x)), as_list(model(x))))
    assert all(torch.equal(a, b) for a, b in zip(first, second)), f"{case.name}: two eval forwards differ"
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert not changed, f"{case.name}: an eval forward changed state: {changed}"


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_state_dict_round_trips_into_a_fresh_instance(case: Case):
    model = build(case, seed=0).train()
    with torch.no_grad():
        run(model, case, make_inputs(case, 1))  # move BN running stats (and EMA bases) off their initial values
    model.eval()
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh = build(case, seed=1)
    fresh.load_state_dict(torch.load(buffer, weights_only=True), strict=True)
    fresh.eval()
    x = make_inputs(case, 0)
    with torch.no_grad():
        ours, theirs = seeded_forward(model, case, x), seeded_forward(fresh, case, x)
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs)), f"{case.name}: outputs differ after reloading"


# -- full segmentors --------------------------------------------------------------------------------
_R18 = dict(type="ResNetV1c", depth=18, stem_channels=8, base_channels=8)  # out_channels 8, 16, 32, 64
_HEAD = dict(channels=8, num_classes=4, norm_cfg=dict(type="BN"))
_FCN_AUX = dict(type="FCNHead", in_channels=32, in_index=2, num_convs=1, concat_input=False, **_HEAD)
SEGMENTORS = {
    "r18-dilated-fcn-aux": dict(
        backbone=dict(_R18, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4), contract_dilation=True),
        decode_head=dict(type="FCNHead", in_channels=64, in_index=3, **_HEAD), auxiliary_head=_FCN_AUX),
    "r18-psp": dict(backbone=_R18, decode_head=dict(type="PSPHead", in_channels=64, in_index=3, **_HEAD)),
    "r18-uper-aux-list": dict(
        backbone=_R18,
        decode_head=dict(type="UPerHead", in_channels=[8, 16, 32, 64], in_index=[0, 1, 2, 3], pool_scales=(1, 2),
                         **_HEAD),
        auxiliary_head=[_FCN_AUX, dict(_FCN_AUX, in_channels=16, in_index=1)]),
    "mobilenetv2-aspp": dict(
        backbone=dict(type="MobileNetV2", widen_factor=0.25, strides=(1, 2, 2, 1, 1, 1, 1),
                      dilations=(1, 1, 1, 2, 2, 4, 4)),
        decode_head=dict(type="ASPPHead", in_channels=80, in_index=3, dilations=(1, 2, 3), **_HEAD)),
    "r18-fpn-fpnhead": dict(
        backbone=_R18, neck=dict(type="FPN", in_channels=[8, 16, 32, 64], out_channels=8, num_outs=4),
        decode_head=dict(type="FPNHead", in_channels=[8, 8, 8, 8], in_index=[0, 1, 2, 3],
                         feature_strides=[4, 8, 16, 32], **_HEAD)),
    "swin-uper": dict(
        backbone=dict(type="SwinTransformer", embed_dims=8, depths=(2, 2), num_heads=(1, 2), strides=(4, 2),
                      out_indices=(0, 1), window_size=3),
        decode_head=dict(type="UPerHead", in_channels=[8, 16], in_index=[0, 1], pool_scales=(1, 2), **_HEAD)),
    "vit-segmenter": dict(
        backbone=dict(type="VisionTransformer", img_size=32, patch_size=8, embed_dims=8, num_layers=2, num_heads=2,
                      final_norm=True),
        decode_head=dict(type="SegmenterMaskTransformerHead", in_channels=8, channels=8, num_classes=4, num_layers=1,
                         num_heads=2, embed_dims=8, dropout_ratio=0.0)),
}
SEG_PARAMS = [pytest.param(name, id=name) for name in SEGMENTORS]
PREPROCESSOR = dict(type="SegDataPreProcessor", mean=[123.7, 116.3, 103.5], std=[58.4, 57.1, 57.4], bgr_to_rgb=True,
                    size_divisor=32, test_cfg=dict(size_divisor=32))
# (H, W) of the (already transformed) images and the ori_shape before the pipeline resized them.
IMAGE_HW = [(33, 47), (30, 41)]
ORI_HW = [(33, 47), (45, 61)]


def build_segmentor(name: str, **test_cfg) -> nn.Module:
    """Segmentor ``name`` of SEGMENTORS with a padding data preprocessor and random parameters."""
    cfg = dict(type="EncoderDecoder", data_preprocessor=PREPROCESSOR, test_cfg=test_cfg or dict(mode="whole"),
               **SEGMENTORS[name])
    return randomize_(MODELS.build(cfg), seed=0)


def make_batch(with_labels: bool) -> dict:
    """Two odd-sized uint8 images (and labels with an ignored band) as a collated batch."""
    gen = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for (h, w), ori in zip(IMAGE_HW, ORI_HW):
        inputs.append(torch.randint(0, 256, (3, h, w), generator=gen, dtype=torch.uint8))
        sample = SegDataSample(metainfo=dict(ori_shape=ori, img_shape=(h, w), scale_factor=(1.0, 1.0), flip=False,
                                             flip_direction=None, reduce_zero_label=False))
        if with_labels:
            label = torch.randint(0, 4, (1, h, w), generator=gen)
            label[:, : h // 4] = 255
            sample.gt_sem_seg = label
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def test_segmentor_parametrisation_is_not_empty():
    assert len(SEG_PARAMS) > 0 and len(LOSS_PARAMS) > 0


@pytest.mark.parametrize("name", SEG_PARAMS)
def test_segmentor_loss_is_finite_prefixed_and_trains_every_parameter(name: str):
    model = build_segmentor(name).train()
    data = model.data_preprocessor(make_batch(with_labels=True), True)
    assert tuple(data["inputs"].shape) == (2, 3, 64, 64)
    losses = model(**data, mode="loss")
    heads = ["decode"] + (["aux"] if isinstance(SEGMENTORS[name].get("auxiliary_head"), dict) else
                          [f"aux_{i}" for i in range(len(SEGMENTORS[name].get("auxiliary_head") or []))])
    assert sorted(losses) == sorted(f"{h}.{k}" for h in heads for k in ("loss_ce", "acc_seg"))
    assert all(torch.isfinite(v).all() for v in losses.values()), losses
    loss, log_vars = model.parse_losses(losses)
    assert log_vars["loss"] == pytest.approx(sum(losses[f"{h}.loss_ce"].item() for h in heads), rel=1e-6)
    loss.backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad, f"{name}: parameters the losses do not reach: {no_grad}"


@pytest.mark.parametrize("name", SEG_PARAMS)
@pytest.mark.filterwarnings("ignore:images in the batch have different ori_shape")
def test_segmentor_predicts_at_ori_shape_and_crops_padding(name: str):
    model = build_segmentor(name).eval()
    with torch.no_grad():
        results = model.test_step(make_batch(with_labels=False))
        data = model.data_preprocessor(make_batch(with_labels=False), False)
        logits = model.inference(data["inputs"], [s.metainfo for s in data["data_samples"]])
    assert tuple(logits.shape) == (2, 4, 64, 64)
    for result, (h, w), ori in zip(results, IMAGE_HW, ORI_HW):
        assert result.img_padding_size == [0, 64 - w, 0, 64 - h]  # left, right, top, bottom (test-time padding)
        assert tuple(result.seg_logits.data.shape) == (4, *ori)
        assert tuple(result.pred_sem_seg.data.shape) == (1, *ori)
        assert torch.equal(result.pred_sem_seg.data, result.seg_logits.data.argmax(0, keepdim=True))
    # The first image was not resized: its logits are the padded batch's logits with the padding cut off.
    h, w = IMAGE_HW[0]
    torch.testing.assert_close(results[0].seg_logits.data, logits[0, :, :h, :w])


@pytest.mark.parametrize("name", SEG_PARAMS)
@pytest.mark.parametrize("crop", [(33, 47), (64, 64)], ids=["crop=image", "crop>image"])
def test_slide_inference_with_one_covering_window_equals_whole(name: str, crop: tuple[int, int]):
    model = build_segmentor(name).eval()
    x = torch.randn(1, 3, 33, 47, generator=torch.Generator().manual_seed(0))
    metas = [dict(ori_shape=(33, 47), img_shape=(33, 47), pad_shape=(33, 47))]
    with torch.no_grad():
        whole = model.inference(x, metas)
        model.test_cfg = dict(mode="slide", crop_size=crop, stride=(16, 16))
        slide = model.inference(x, metas)
    assert tuple(whole.shape) == (1, 4, 33, 47)
    torch.testing.assert_close(slide, whole, rtol=0, atol=0)


# -- losses ---------------------------------------------------------------------------------------------
# (config, logit channels); labels are drawn from range(channels) (binary: {0, 1}) plus ignored pixels.
LOSS_CASES = {
    "CrossEntropyLoss": (dict(type="CrossEntropyLoss"), 4),
    "CrossEntropyLoss-avg_non_ignore-class_weight": (
        dict(type="CrossEntropyLoss", avg_non_ignore=True, class_weight=[1.0, 2.0, 0.5, 1.5]), 4),
    "CrossEntropyLoss-sigmoid": (dict(type="CrossEntropyLoss", use_sigmoid=True), 4),
    "DiceLoss": (dict(type="DiceLoss"), 4),
    "DiceLoss-softmax-naive": (dict(type="DiceLoss", use_sigmoid=False, naive_dice=True), 4),
    "FocalLoss": (dict(type="FocalLoss"), 4),
    "LovaszLoss-multi_class": (dict(type="LovaszLoss", reduction="none"), 4),
    "LovaszLoss-per_image-all": (dict(type="LovaszLoss", per_image=True, classes="all"), 4),
    "LovaszLoss-binary": (dict(type="LovaszLoss", loss_type="binary", per_image=True), 1),
    "TverskyLoss": (dict(type="TverskyLoss"), 4),
    "OhemCrossEntropy": (dict(type="OhemCrossEntropy", thres=0.7, min_kept=10), 4),
    "OhemCrossEntropy-class_weight": (
        dict(type="OhemCrossEntropy", thres=0.9, min_kept=1000, class_weight=[1.0, 2.0, 0.5, 1.5]), 4),
    "BoundaryLoss": (dict(type="BoundaryLoss", loss_weight=20.0), 1),
}
# Registered in seglab.models.losses but not a loss: a metric module.
NOT_LOSSES = {"Accuracy"}
# Losses whose definition does not fit the label-map contract below, each tested in its own file instead.
OWN_LOSS_TESTS = {
    # MMSeg's definition counts ignored pixels as background (they get gradients): test_hausdorff_silog_losses.py
    "HuasdorffDisstanceLoss", "HausdorffDistanceLoss",
}
LOSS_PARAMS = [pytest.param(name, id=name) for name in LOSS_CASES]
# Depth (regression) losses take depth maps, not logits and labels: pixels without ground truth (<= eps) are
# the left-out ones.
DEPTH_LOSS_CASES = {"SiLogLoss": dict(type="SiLogLoss")}


def test_every_registered_loss_has_a_contract_case():
    registered = {n for n, cls in MODELS.module_dict.items()
                  if getattr(cls, "__module__", "").startswith("seglab.models.losses.")} - NOT_LOSSES - OWN_LOSS_TESTS
    covered = {cfg["type"] for cfg, _ in LOSS_CASES.values()} | {cfg["type"] for cfg in DEPTH_LOSS_CASES.values()}
    missing = sorted(registered - covered)
    assert not missing, f"registered losses without a case in LOSS_CASES: {missing}"


def loss_inputs(channels: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits (2, C, 7, 9), labels (2, 7, 9) and the mask of ignored (255) pixels."""
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, channels, 7, 9, generator=gen)
    label = torch.randint(0, max(channels, 2), (2, 7, 9), generator=gen)
    ignored = torch.rand(2, 7, 9, generator=gen) < 0.25
    return logits, label.masked_fill(ignored, 255), ignored


@pytest.mark.parametrize("name", LOSS_PARAMS)
def test_loss_is_finite_has_gradient_and_ignores_ignore_index(name: str):
    cfg, channels = LOSS_CASES[name]
    loss_fn = MODELS.build(dict(cfg))
    assert isinstance(loss_fn.loss_name, str) and loss_fn.loss_name.startswith("loss_")
    logits, label, ignored = loss_inputs(channels)
    logits.requires_grad_(True)
    value = loss_fn(logits, label, weight=None, ignore_index=255).sum()
    assert torch.isfinite(value) and value.dim() == 0
    value.backward()
    grad = logits.grad.movedim(1, -1)  # (N, H, W, C)
    assert torch.isfinite(grad).all()
    assert grad[~ignored].abs().sum() > 0, "no gradient reaches the logits of labelled pixels"
    assert not grad[ignored].any(), "ignored pixels receive a gradient"
    # Changing the logits of ignored pixels must not change the value.
    changed = logits.detach().clone().movedim(1, -1)
    changed[ignored] = 10 * torch.randn(changed[ignored].shape, generator=torch.Generator().manual_seed(1))
    again = loss_fn(changed.movedim(-1, 1), label, weight=None, ignore_index=255).sum()
    torch.testing.assert_close(again, value.detach(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", list(DEPTH_LOSS_CASES))
def test_depth_loss_is_finite_has_gradient_and_ignores_pixels_without_depth(name: str):
    loss_fn = MODELS.build(dict(DEPTH_LOSS_CASES[name]))
    assert isinstance(loss_fn.loss_name, str) and loss_fn.loss_name.startswith("loss_")
    gen = torch.Generator().manual_seed(0)
    gt = torch.rand(2, 1, 7, 9, generator=gen) * 5 + 0.1
    missing = torch.rand(2, 1, 7, 9, generator=gen) < 0.25
    gt[missing] = 0
    pred = (torch.rand(2, 1, 7, 9, generator=gen) * 5 + 0.1).requires_grad_(True)
    value = loss_fn(pred, gt)
    assert torch.isfinite(value) and value.dim() == 0
    value.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad[~missing].abs().sum() > 0
    assert not pred.grad[missing].any(), "pixels without ground-truth depth receive a gradient"
    changed = pred.detach().clone()
    changed[missing] = 7.0
    torch.testing.assert_close(loss_fn(changed, gt), value.detach(), rtol=1e-6, atol=1e-7)
