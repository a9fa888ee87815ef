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
