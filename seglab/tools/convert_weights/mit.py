"""Official SegFormer / NVlabs ``mit_b*.pth`` (ImageNet-pretrained Mix Transformer) -> MMSeg's MiT key layout.

Upstream layout (github.com/NVlabs/SegFormer, ``mix_transformer.py``) and what each key becomes:
- ``patch_embed<i>.proj.*`` -> ``layers.<i-1>.0.projection.*``; ``patch_embed<i>.norm.*`` -> ``layers.<i-1>.0.norm.*``
- ``block<i>.<j>.attn.q.*`` + ``attn.kv.*`` -> ``layers.<i-1>.1.<j>.attn.attn.in_proj_*`` (q rows, then k, v)
- ``block<i>.<j>.attn.proj.*`` -> ``...attn.attn.out_proj.*``; ``attn.sr.*``/``attn.norm.*``/``norm1``/``norm2`` keep
  their names under ``layers.<i-1>.1.<j>``
- ``block<i>.<j>.mlp.fc1`` / ``mlp.dwconv.dwconv`` / ``mlp.fc2`` -> ``...ffn.layers.0`` / ``.1`` / ``.4`` (the Linear
  weights become 1x1 conv weights)
- ``norm<i>.*`` -> ``layers.<i-1>.2.*``; the ImageNet classifier ``head.*`` is dropped.
Any other key is an error, so nothing is lost silently.
"""
from __future__ import annotations

import re

import torch

from ._keys import reject_unknown

__all__ = ["convert"]

_PATCH = re.compile(r"patch_embed(\d+)\.(proj|norm)\.(weight|bias)")
_BLOCK = re.compile(r"block(\d+)\.(\d+)\.(.+)")
_NORM = re.compile(r"norm(\d+)\.(weight|bias)")
# inside a block: upstream sub-key -> MMSeg sub-key (q/kv handled apart)
_BLOCK_RENAMES = {"attn.proj.": "attn.attn.out_proj.", "mlp.fc1.": "ffn.layers.0.", "mlp.dwconv.dwconv.": "ffn.layers.1.",
                  "mlp.fc2.": "ffn.layers.4.", "attn.sr.": "attn.sr.", "attn.norm.": "attn.norm.", "norm1.": "norm1.",
                  "norm2.": "norm2."}


def _block_key(stage: int, index: int, rest: str, state: dict[str, torch.Tensor], key: str) -> tuple[str, torch.Tensor] | None:
    """The MMSeg key and tensor of one upstream block entry (None for ``attn.kv.*``, merged into ``q``)."""
    prefix = f"layers.{stage - 1}.1.{index}."
    value = state[key]
    if rest.startswith("attn.kv."):
        return None
    if rest.startswith("attn.q."):
        if key.replace(".q.weight", ".q.bias") not in state:
            # MMSeg's MiT with qkv_bias=False has no out_proj bias either, so attn.proj.bias would be lost
            raise KeyError(f"{key} has no bias (qkv_bias=False): MMSeg's MiT layout then has no attention output "
                           "bias to hold attn.proj.bias; only qkv_bias=True checkpoints (all official mit_b*) convert")
        kv_key = key.replace(".attn.q.", ".attn.kv.")
        if kv_key not in state:
            raise KeyError(f"{key} has no matching {kv_key}: not an upstream MiT checkpoint")
        return prefix + "attn.attn.in_proj_" + rest[len("attn.q."):], torch.cat([value, state[kv_key]], dim=0)
    for old, new in _BLOCK_RENAMES.items():
        if rest.startswith(old):
            if old in ("mlp.fc1.", "mlp.fc2.") and rest.endswith("weight"):
                value = value.reshape(*value.shape, 1, 1)  # Linear (out, in) -> 1x1 conv (out, in, 1, 1)
            return prefix + new + rest[len(old):], value
    raise KeyError(f"unexpected key {key!r} in an upstream MiT block")


def convert(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map an upstream MiT state dict to MMSeg's ``MixVisionTransformer`` keys (order: upstream order)."""
    out: dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state.items():
        if key.startswith("head."):
            continue
        if m := _PATCH.fullmatch(key):
            part = "projection" if m[2] == "proj" else "norm"
            out[f"layers.{int(m[1]) - 1}.0.{part}.{m[3]}"] = value
        elif m := _BLOCK.fullmatch(key):
            mapped = _block_key(int(m[1]), int(m[2]), m[3], state, key)
            if mapped is not None:
                out[mapped[0]] = mapped[1]
        elif m := _NORM.fullmatch(key):
            out[f"layers.{int(m[1]) - 1}.2.{m[2]}"] = value
        else:
            unknown.append(key)
    reject_unknown(unknown, "MiT")
    if not out:
        raise KeyError("no MiT weights found (expected keys such as 'patch_embed1.proj.weight', 'block1.0.attn.q.weight')")
    return out
