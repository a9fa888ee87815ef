"""Official Twins checkpoints (github.com/Meituan-AutoML/Twins, ``gvt.py``: ``pcpvt_*``, ``alt_gvt_*``) -> MMSeg's
``PCPVT`` / ``SVT`` key layout.

Upstream layout and what each key becomes:
- ``patch_embeds.<i>.proj.*`` -> ``patch_embeds.<i>.projection.*``; ``patch_embeds.<i>.norm.*`` keeps its name
- ``pos_block.<i>.proj.0.*`` (the PEG conv in a Sequential) -> ``position_encodings.<i>.proj.*``
- ``blocks.<i>.<j>.*`` -> ``layers.<i>.<j>.*``, inside which:
  - global sub-sampled attention (a block with ``attn.q``): ``attn.q.*`` + ``attn.kv.*`` ->
    ``attn.attn.in_proj_*`` (q rows, then k, v), ``attn.proj.*`` -> ``attn.attn.out_proj.*``;
    ``attn.sr.*``/``attn.norm.*`` keep their names
  - locally-grouped attention (a block with ``attn.qkv``, SVT's even blocks): ``attn.qkv.*``, ``attn.proj.*`` kept
  - ``mlp.fc1.*`` -> ``ffn.layers.0.0.*``, ``mlp.fc2.*`` -> ``ffn.layers.1.*``; ``norm1``/``norm2`` kept
- the ImageNet classifier ``head.*`` and its final ``norm.*`` are dropped: MMSeg's backbones have no place
  for them (its own converter writes ``norm.*``, which its loader then ignores).
The attention kind is read from each block's keys, so PCPVT and SVT need no flag. Any other key is an
error, so nothing is lost silently. SVT's ``norm_list`` (MMSeg's ``norm_after_stage``) is not in ImageNet
checkpoints; the backbone initialises it and the load report lists it as missing.
"""
from __future__ import annotations

import re

import torch

from ._keys import reject_unknown

__all__ = ["convert"]

_BLOCK = re.compile(r"blocks\.(\d+)\.(\d+)\.(.+)")
_PATCH = re.compile(r"patch_embeds\.(\d+)\.(proj|norm)\.(weight|bias)")
_PEG = re.compile(r"pos_block\.(\d+)\.proj\.0\.(weight|bias)")
# inside a block: upstream sub-key prefix -> MMSeg's (q/kv and proj handled apart)
_RENAMES = {"mlp.fc1.": "ffn.layers.0.0.", "mlp.fc2.": "ffn.layers.1.", "norm1.": "norm1.", "norm2.": "norm2.",
            "attn.sr.": "attn.sr.", "attn.norm.": "attn.norm.", "attn.qkv.": "attn.qkv."}


def _gsa_in_proj(state: dict[str, torch.Tensor], block: str, part: str) -> torch.Tensor:
    """``attn.q.<part>`` and ``attn.kv.<part>`` of ``block`` stacked into one in-projection (q, k, v rows)."""
    q_key, kv_key = f"{block}attn.q.{part}", f"{block}attn.kv.{part}"
    if kv_key not in state:
        raise KeyError(f"{q_key} has no matching {kv_key}: not an upstream Twins checkpoint")
    if f"{block}attn.q.bias" not in state:
        # nn.MultiheadAttention(bias=False) has no output bias either, so attn.proj.bias would be lost
        raise KeyError(f"{q_key} has no bias (qkv_bias=False): MMSeg's global sub-sampled attention then has no "
                       "output bias to hold attn.proj.bias; only qkv_bias=True checkpoints (all official Twins) convert")
    return torch.cat([state[q_key], state[kv_key]], dim=0)


def _block_entry(stage: str, index: str, rest: str, state: dict[str, torch.Tensor]) -> tuple[str, torch.Tensor] | None:
    """The MMSeg key and tensor of one upstream block entry (None for ``attn.kv.*``, merged into ``attn.q``)."""
    block, prefix = f"blocks.{stage}.{index}.", f"layers.{stage}.{index}."
    if rest.startswith("attn.kv."):
        return None
    if rest.startswith("attn.q."):
        part = rest[len("attn.q."):]
        return f"{prefix}attn.attn.in_proj_{part}", _gsa_in_proj(state, block, part)
    if rest.startswith("attn.proj."):
        if f"{block}attn.q.weight" in state:
            return prefix + "attn.attn.out_proj." + rest[len("attn.proj."):], state[block + rest]
        if f"{block}attn.qkv.weight" in state:
            return prefix + rest, state[block + rest]
        raise KeyError(f"{block}attn.proj has neither attn.q/attn.kv nor attn.qkv beside it")
    for old, new in _RENAMES.items():
        if rest.startswith(old):
            return prefix + new + rest[len(old):], state[block + rest]
    raise KeyError(f"unexpected key {block + rest!r} in an upstream Twins block")


def convert(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map an upstream Twins (PCPVT or SVT) state dict to MMSeg's keys (order: upstream order)."""
    out: dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state.items():
        if key.startswith(("head.", "norm.")):
            continue
        if m := _PATCH.fullmatch(key):
            out[f"patch_embeds.{m[1]}.{'projection' if m[2] == 'proj' else 'norm'}.{m[3]}"] = value
        elif m := _PEG.fullmatch(key):
            out[f"position_encodings.{m[1]}.proj.{m[2]}"] = value
        elif m := _BLOCK.fullmatch(key):
            mapped = _block_entry(m[1], m[2], m[3], state)
            if mapped is not None:
                out[mapped[0]] = mapped[1]
        else:
            unknown.append(key)
    reject_unknown(unknown, "Twins")
    if not out:
        raise KeyError("no Twins weights found (expected keys such as 'patch_embeds.0.proj.weight', "
                       "'blocks.0.0.attn.q.weight', 'pos_block.0.proj.0.weight')")
    return out
