"""``seglab convert-weights NAME SRC DST``: third-party pretrained weights -> MMSeg's key layout.

Each converter is a module here with a pure ``convert(state_dict) -> state_dict``; ``CONVERTERS`` maps the
command-line name to it. The result is written as ``{'state_dict': ..., 'meta': ...}`` (or a flat
``.safetensors`` file), which ``init_cfg=dict(type='Pretrained', checkpoint=DST)`` loads.
"""
from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

import torch

from . import mit

__all__ = ["CONVERTERS", "add_parser", "run"]

CONVERTERS: dict[str, Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]] = {
    "mit": mit.convert,
}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``convert-weights NAME SRC DST`` on an argparse subparsers object."""
    p = subparsers.add_parser("convert-weights", help="convert official pretrained weights to MMSeg's key layout",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=sorted(CONVERTERS), help="which upstream layout SRC has (mit: NVlabs SegFormer)")
    p.add_argument("src", help="the upstream checkpoint (.pth, or .safetensors)")
    p.add_argument("dst", help="output file (.pth, or .safetensors for a flat safetensors file)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Load SRC safely, convert it with CONVERTERS[name], write DST; 0 on success."""
    from seglab.io.checkpoint import get_state_dict, load_state_dict_file, save_checkpoint, save_safetensors

    source = get_state_dict(load_state_dict_file(args.src, "cpu"))
    try:
        converted = CONVERTERS[args.name](source)
    except KeyError as exc:
        raise SystemExit(f"seglab convert-weights {args.name}: {args.src}: {exc.args[0]}") from None
    os.makedirs(os.path.dirname(os.path.abspath(args.dst)), exist_ok=True)
    meta = {"converted_from": os.path.basename(args.src), "converter": args.name}
    if args.dst.endswith(".safetensors"):
        save_safetensors({k: v.contiguous() for k, v in converted.items()}, args.dst, meta=meta)
    else:
        save_checkpoint({"state_dict": converted, "meta": meta}, args.dst)
    print(f"convert-weights {args.name}: {len(source)} keys in {args.src} -> {len(converted)} keys in {args.dst}")
    return 0
