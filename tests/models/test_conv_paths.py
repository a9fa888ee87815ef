"""conv_paths: the shared rules for when a CPU fast path may stand in for the stock ops."""
from __future__ import annotations

import torch
from torch import nn

from seglab.models.conv_paths import eager_cpu_inference, unhooked


def test_eager_cpu_inference_only_without_gradients_tracing_or_compiling():
    x = torch.zeros(1, 2, 3, 3)
    assert not eager_cpu_inference(x)  # gradients on
    with torch.no_grad():
        assert eager_cpu_inference(x)
    with torch.inference_mode():
        assert eager_cpu_inference(x)
    seen = []

    def probe(t: torch.Tensor) -> torch.Tensor:
        seen.append(eager_cpu_inference(t))
        return t * 2

    with torch.no_grad():
        torch.jit.trace(probe, (x,), check_trace=False)
    assert seen == [False]  # a trace would bake one input size's blocks into the graph


def test_unhooked_sees_forward_and_pre_hooks():
    a, b = nn.ReLU(), nn.Identity()
    assert unhooked(a, b, None)
    handle = b.register_forward_pre_hook(lambda m, args: None)
    assert not unhooked(a, b)
    handle.remove()
    handle = a.register_forward_hook(lambda m, args, out: None)
    assert not unhooked(a)
    handle.remove()
    assert unhooked(a, b)


def test_eager_cpu_inference_is_off_under_autocast():
    x = torch.zeros(1, 2, 3, 3)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert not eager_cpu_inference(x)


def test_segformer_blocks_leave_cpu_autocast_to_the_whole_map_ops():
    """bf16 autocast inference of MiT + SegformerHead runs (the block paths step aside) and gives the same logits as
    the same autocast forward with the block paths switched off."""
    from seglab.models.backbones.mit import MixVisionTransformer
    from seglab.models.decode_heads import SegformerHead

    torch.manual_seed(0)
    backbone = MixVisionTransformer(embed_dims=4, num_layers=(1, 1, 1, 1), num_heads=(1, 1, 1, 1)).eval()
    plain_backbone = MixVisionTransformer(embed_dims=4, num_layers=(1, 1, 1, 1), num_heads=(1, 1, 1, 1),
                                          ffn_row_blocks=False).eval()
    plain_backbone.load_state_dict(backbone.state_dict())
    kw = dict(in_channels=[4, 4, 4, 4], in_index=[0, 1, 2, 3], channels=8, num_classes=3, norm_cfg=dict(type="BN"))
    head, plain_head = SegformerHead(**kw).eval(), SegformerHead(commute_fusion=False, **kw).eval()
    plain_head.load_state_dict(head.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = head(backbone(x))
        ref = plain_head(plain_backbone(x))
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ref.float(), rtol=0.05, atol=0.05)
