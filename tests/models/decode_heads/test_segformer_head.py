"""SegformerHead: per-level 1x1 projections, resize to the first level, fusion; MMSeg variant parity."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from seglab.models.decode_heads import SegformerHead
from seglab.registry import ConfigError


def _ref():
    """tests/data/segformer_segnext/reference_cases.py, loaded once (tests/ is not a package)."""
    if "segformer_segnext_cases" not in sys.modules:
        path = Path(__file__).resolve().parents[2] / "data" / "segformer_segnext" / "reference_cases.py"
        spec = importlib.util.spec_from_file_location("segformer_segnext_cases", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["segformer_segnext_cases"] = module
        spec.loader.exec_module(module)
    return sys.modules["segformer_segnext_cases"]


def test_forward_is_project_resize_concat_fuse_classify():
    torch.manual_seed(0)
    head = SegformerHead(in_channels=[4, 6], in_index=[0, 1], channels=5, num_classes=3, dropout_ratio=0.0,
                         interpolate_mode="nearest").eval()
    assert [k for k in head.state_dict() if k.endswith("conv.weight")] == ["convs.0.conv.weight", "convs.1.conv.weight",
                                                                           "fusion_conv.conv.weight"]
    feats = [torch.randn(2, 4, 6, 8), torch.randn(2, 6, 3, 4)]
    projected = [F.relu(F.conv2d(x, conv.conv.weight, conv.conv.bias)) for x, conv in zip(feats, head.convs)]
    projected[1] = F.interpolate(projected[1], size=(6, 8), mode="nearest")
    fused = F.relu(F.conv2d(torch.cat(projected, 1), head.fusion_conv.conv.weight, head.fusion_conv.conv.bias))
    torch.testing.assert_close(head(feats), head.conv_seg(fused))


@pytest.mark.filterwarnings("ignore:When align_corners")  # odd sizes on purpose; MMSeg warns too
def test_variant_matches_mmseg():
    """Three levels, BN, align_corners=True."""
    ref = _ref()
    head = ref.filled("segformer_head")
    with torch.no_grad():
        ref.assert_close(head(ref.inputs(ref.CASES["segformer_head"]["inputs"])), "segformer_head.logits")


def test_other_input_transform_is_refused():
    with pytest.raises(ConfigError, match="multiple_select"):
        SegformerHead(in_channels=[4, 6], in_index=[0, 1], channels=5, num_classes=3, input_transform="resize_concat")


def _head_pair(mode: str, align_corners: bool = False) -> tuple[SegformerHead, SegformerHead]:
    torch.manual_seed(1)
    kw = dict(in_channels=[4, 6, 8], in_index=[0, 1, 2], channels=5, num_classes=3, dropout_ratio=0.0,
              interpolate_mode=mode, align_corners=align_corners, norm_cfg=dict(type="BN"))
    fast, plain = SegformerHead(**kw), SegformerHead(commute_fusion=False, **kw)
    for bn in (m for m in fast.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.running_mean.uniform_(-0.5, 0.5), bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5), bn.bias.data.uniform_(-0.3, 0.3)
    plain.load_state_dict(fast.state_dict())
    return fast.double(), plain.double()


@pytest.mark.parametrize(("mode", "align_corners"), [("bilinear", False), ("bilinear", True), ("nearest", False),
                                                      ("bicubic", False)])
def test_commuted_fusion_equals_concat_order_in_eval_and_training(mode, align_corners):
    """Fusing each level before resizing is the same linear map: equal outputs, losses' gradients and BN statistics."""
    fast, plain = _head_pair(mode, align_corners)
    feats = [torch.randn(2, 4, 12, 16, dtype=torch.float64), torch.randn(2, 6, 6, 8, dtype=torch.float64),
             torch.randn(2, 8, 3, 5, dtype=torch.float64)]
    calls = []
    hooks = [h.fusion_conv.conv.register_forward_hook(lambda m, a, o, h=h: calls.append((h is fast, a[0].shape[1:])))
             for h in (fast, plain)]
    try:
        with torch.no_grad():
            torch.testing.assert_close(fast.eval()(feats), plain.eval()(feats), rtol=1e-12, atol=1e-12)
    finally:
        for hook in hooks:
            hook.remove()
    assert calls == [(False, (15, 12, 16))]  # the plain head fused the concatenation; the fast one never built it
    fast.train(), plain.train()
    xs = [[f.clone().requires_grad_() for f in feats] for _ in range(2)]
    target = torch.randn(2, 3, 12, 16, dtype=torch.float64)
    for head, x in zip((fast, plain), xs):
        ((head(x) - target) ** 2).sum().backward()
    for a, b in zip(xs[0], xs[1]):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-10)
    for (name, p), q in zip(fast.named_parameters(), plain.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-10, atol=1e-10, msg=name)
    torch.testing.assert_close(fast.fusion_conv.bn.running_var, plain.fusion_conv.bn.running_var)


def test_commuted_fusion_with_folded_batchnorm_float32():
    """With BN folded into the fusion conv (init_model's default), float32 outputs agree to rounding."""
    from seglab.models import fuse_conv_bn

    fast, plain = (h.float().eval() for h in _head_pair("bilinear"))
    folded = fuse_conv_bn(fast)
    feats = [torch.randn(1, 4, 32, 32), torch.randn(1, 6, 16, 16), torch.randn(1, 8, 8, 8)]
    with torch.no_grad():
        torch.testing.assert_close(folded(feats), plain(feats), rtol=1e-5, atol=1e-5)


def test_commute_fusion_must_be_a_bool():
    with pytest.raises(ConfigError, match="commute_fusion"):
        SegformerHead(in_channels=[4, 6], in_index=[0, 1], channels=5, num_classes=3, commute_fusion="yes")


def test_cpu_inference_gives_channels_last_logits_and_respects_hooks():
    """CPU inference returns channels-last logits (what the resize and argmax after it read); a hook on level 0's conv
    sends the head back to the module path, where the hook is called."""
    fast, plain = (h.float().eval() for h in _head_pair("bilinear"))
    feats = [torch.randn(1, 4, 16, 16), torch.randn(1, 6, 8, 8), torch.randn(1, 8, 4, 4)]
    with torch.no_grad():
        out = fast(feats)
        torch.testing.assert_close(out, plain(feats), rtol=1e-5, atol=1e-5)
    assert out.is_contiguous(memory_format=torch.channels_last)
    seen = []
    hook = fast.convs[0].conv.register_forward_hook(lambda m, a, o: seen.append(o.shape))
    with torch.no_grad():
        torch.testing.assert_close(fast(feats), plain(feats), rtol=1e-5, atol=1e-5)
    hook.remove()
    assert seen == [torch.Size([1, 5, 16, 16])]


@pytest.mark.parametrize(("norm_cfg", "act"), [(dict(type="BN"), "ReLU"), (None, "GELU"), (dict(type="GN", num_groups=1), "ReLU")])
def test_cpu_inference_by_pixel_blocks_equals_the_map_path(monkeypatch, norm_cfg, act):
    """Gradient-free CPU inference runs level 0, fusion and classifier on blocks of pixels (any block size, a batch
    of two): the same logits as MMSeg's order. GroupNorm mixes pixels, so that head keeps the map path."""
    from seglab.models.decode_heads import segformer_head

    monkeypatch.setattr(segformer_head, "ROWS_PER_BLOCK", 7)  # 2 x 12 x 16 pixels: the last block is partial
    torch.manual_seed(3)
    kw = dict(in_channels=[4, 6, 8], in_index=[0, 1, 2], channels=6, num_classes=5, dropout_ratio=0.1,
              norm_cfg=norm_cfg, act_cfg=dict(type=act))
    fast, plain = SegformerHead(**kw), SegformerHead(commute_fusion=False, **kw)
    for bn in (m for m in fast.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.running_mean.uniform_(-0.5, 0.5), bn.running_var.uniform_(0.5, 2.0)
    plain.load_state_dict(fast.state_dict())
    fast.eval(), plain.eval()
    calls = []
    real = SegformerHead._logits_by_rows
    monkeypatch.setattr(SegformerHead, "_logits_by_rows", lambda self, *a: calls.append(1) or real(self, *a))
    feats = [torch.randn(2, 4, 12, 16), torch.randn(2, 6, 6, 8), torch.randn(2, 8, 3, 4)]
    with torch.no_grad():
        out = fast(feats)
        torch.testing.assert_close(out, plain(feats), rtol=1e-5, atol=1e-5)
    assert len(calls) == (0 if norm_cfg and norm_cfg["type"] == "GN" else 1)
    with torch.enable_grad():  # with gradients the map path runs (blocks would each keep their own graph)
        fast(feats)
    assert len(calls) == (0 if norm_cfg and norm_cfg["type"] == "GN" else 1)
