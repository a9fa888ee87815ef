"""``seglab print-config CONFIG [--cfg-options ...]``: the fully resolved config (bases merged, overrides applied)."""
from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``print-config`` on an argparse subparsers object."""
    from seglab.config import DictAction

    p = subparsers.add_parser("print-config", help="print the resolved config", description=__doc__)
    p.add_argument("config", help="config file")
    p.add_argument("--cfg-options", nargs="+", action=DictAction, default={}, help="override config keys")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Print ``Config.pretty_text`` of the loaded config; 0 on success."""
    import os.path as osp

    from ._common import load_config

    if not osp.isfile(args.config):
        raise SystemExit(f"seglab print-config: config file not found: {args.config}")
    print(load_config(args.config, args.cfg_options).pretty_text)
    return 0
