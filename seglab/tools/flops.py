"""``seglab flops CONFIG --shape H W``: parameters and FLOPs of the model's forward (torch's FlopCounterMode)."""
from __future__ import annotations

import argparse
from typing import Any

import torch
from torch import nn

__all__ = ["add_parser", "count_flops", "run"]


def count_flops(model: nn.Module, inputs: torch.Tensor) -> tuple[int, dict[str, int]]:
    """Total FLOPs of ``model(inputs)`` and per-operator counts (a multiply-add counts as 2 FLOPs)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(inputs)
    per_op = {str(op): int(n) for op, n in counter.get_flop_counts().get("Global", {}).items()}
    return int(counter.get_total_flops()), per_op


def _human(n: float) -> str:
    for unit in ("", "K", "M", "G", "T"):
        if abs(n) < 1000:
            return f"{n:.2f}{unit}"
        n /= 1000
    return f"{n:.2f}P"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``flops`` on an argparse subparsers object."""
    from seglab.config import DictAction

    p = subparsers.add_parser("flops", help="count parameters and FLOPs of a config's model", description=__doc__)
    p.add_argument("config", help="config file")
    p.add_argument("--shape", type=int, nargs=2, default=[512, 1024], metavar=("H", "W"),
                   help="input height and width (default: 512 1024)")
    p.add_argument("--cfg-options", nargs="+", action=DictAction, default={}, help="override config keys")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Build the model, count, print; 0 on success."""
    from seglab.models.weight_init import without_pretrained
    from seglab.registry import MODELS

    from ._common import load_config

    cfg = load_config(args.config, args.cfg_options)
    model_cfg = without_pretrained(cfg.to_dict()["model"])
    model = MODELS.build(model_cfg).eval()
    channels = _in_channels(model)
    h, w = args.shape
    # The 'tensor' forward: backbone, neck and decode head, without resizing to the input size (as MMSeg's
    # get_flops.py counts it).
    total, per_op = count_flops(model, torch.zeros(1, channels, h, w))
    params = sum(p.numel() for p in model.parameters())
    print(f"input shape: (1, {channels}, {h}, {w})")
    print(f"params: {params} ({_human(params)})")
    print(f"flops: {total} ({_human(total)}FLOPs; a multiply-add counts 2)")
    for op, n in sorted(per_op.items(), key=lambda kv: -kv[1]):
        print(f"  {op}: {n}")
    return 0


def _in_channels(model: nn.Module) -> int:
    """Input channels of the first convolution (3 for RGB models)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module.in_channels
    return 3
