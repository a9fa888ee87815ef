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
