"""``seglab convert-weights NAME SRC DST``: official upstream checkpoints -> MMSeg's key layout.

Each converter module has ``convert(state_dict) -> state_dict`` (pure key/tensor mapping) and a one-line
docstring. The result is what MMSegmentation's ``tools/model_converters/<name>2mmseg.py`` writes, so the
configs' ``pretrained=``/``init_cfg`` paths can point at it.
"""
from __future__ import annotations

import argparse
import importlib
import os
from collections import OrderedDict
from types import ModuleType
from typing import Any

import torch

__all__ = ["CONVERTERS", "add_parser", "convert_file", "get_converter", "run"]

# name -> module under this package (imported when used)
CONVERTERS = {
    "swin": "swin",
    "vit": "vit",
    "beit": "beit",
    "mit": "mit",
    "twins": "twins",
    "mae": "mae",
}


def get_converter(name: str) -> ModuleType:
    """The converter module for ``name``; unknown names fail listing the known ones."""
    if name not in CONVERTERS:
        raise ValueError(f"unknown weights converter '{name}'; converters: {', '.join(sorted(CONVERTERS))}")
    return importlib.import_module(f"{__name__}.{CONVERTERS[name]}")


def convert_file(name: str, src: str, dst: str) -> dict[str, torch.Tensor]:
    """Read ``src`` (.pth / .safetensors; weights under 'state_dict' or 'model' or at the top), convert, write ``dst``.

    ``dst`` ending in ``.safetensors`` is written as safetensors, anything else with ``torch.save``.
    Returns the converted state dict.
    """
    from seglab.engine.checkpoint import get_state_dict, load_state_dict_file, save_safetensors

    source = get_state_dict(load_state_dict_file(src))
    tensors = {k: v for k, v in source.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise ValueError(f"convert-weights {name}: {src} holds no tensors")
    converted = OrderedDict(get_converter(name).convert(tensors))
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    if dst.endswith(".safetensors"):
        save_safetensors({k: v.contiguous() for k, v in converted.items()}, dst)
    else:
        torch.save(converted, dst)
    return converted


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``convert-weights NAME SRC DST`` on an argparse subparsers object."""
    p = subparsers.add_parser("convert-weights", help="convert an upstream checkpoint to MMSeg's key layout",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=sorted(CONVERTERS), help="checkpoint family")
    p.add_argument("src", help="upstream checkpoint (.pth or .safetensors)")
    p.add_argument("dst", help="output file (.pth, or .safetensors)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Convert ``args.src`` to ``args.dst``; print the number of tensors written; 0 on success."""
    converted = convert_file(args.name, args.src, args.dst)
    print(f"seglab convert-weights {args.name}: wrote {len(converted)} tensors to {args.dst}")
    return 0
