"""``seglab publish CKPT OUT``: a release file with weights and meta only, named ``<stem>-<sha256[:8]>.pth``."""
from __future__ import annotations

import argparse
import hashlib
import os
import os.path as osp
from typing import Any

import torch

__all__ = ["add_parser", "publish_checkpoint", "run"]

# Training state a published model does not need (MMSeg's tools/misc/publish_model.py drops the same).
_DROPPED = ("optimizer", "optim_wrapper", "param_schedulers", "scheduler", "message_hub", "loops", "ema_state",
            "loss_scaler", "sampler", "training_state")


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def publish_checkpoint(src: str, out: str) -> str:
    """Write ``{'meta', 'state_dict'}`` of ``src`` to ``<out stem>-<first 8 hex of sha256>.pth``; return its path.

    The hash is of the written file (what MMSeg's zoo names and ``check_hash`` verify); the file is
    written to a temporary name and renamed, so a crash never leaves a half-written release.
    """
    from seglab.io.checkpoint import get_state_dict, load_state_dict_file, save_checkpoint

    ckpt = load_state_dict_file(src)
    weights = get_state_dict(ckpt)
    if not weights or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise ValueError(f"{src}: no tensor state_dict found to publish")
    published: dict[str, Any] = {"state_dict": {k: v.detach().cpu() for k, v in weights.items()}}
    if "meta" in ckpt:
        published["meta"] = ckpt["meta"]
    stem = out[: -len(".pth")] if out.endswith(".pth") else out
    tmp = f"{stem}.publishing.pth"
    save_checkpoint(published, tmp)
    final = f"{stem}-{_sha256(tmp)[:8]}.pth"
    os.replace(tmp, final)
    return final


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``publish`` on an argparse subparsers object."""
    p = subparsers.add_parser("publish", help="strip training state from a checkpoint and add a sha256 suffix",
                              description=__doc__)
    p.add_argument("checkpoint", help="training checkpoint (.pth)")
    p.add_argument("out", help="output path; the written name gets '-<sha256[:8]>.pth'")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Publish ``args.checkpoint``; 0 on success."""
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f"seglab publish: checkpoint not found: {args.checkpoint}")
    path = publish_checkpoint(args.checkpoint, args.out)
    kept = sorted(torch.load(path, map_location="cpu", weights_only=True))
    print(f"seglab publish: wrote {path} (keys: {', '.join(kept)}; sha256 {_sha256(path)})")
    return 0
