"""Official MAE checkpoints (github.com/facebookresearch/mae: ``mae_pretrain_vit_{base,large,huge}.pth``, or a
fine-tuned ViT) -> MMSeg's ``MAE`` backbone layout.

MMSeg documents converting MAE weights with its BEiT converter, so the renames are BEiT's: ``blocks.`` ->
``layers.``, ``norm1``/``norm2`` -> ``ln1``/``ln2``, ``mlp.fc1``/``mlp.fc2`` -> ``ffn.layers.0.0``/``ffn.layers.1``,
``patch_embed.proj`` -> ``patch_embed.projection``; ``cls_token``, ``pos_embed``, ``attn.qkv``, ``attn.proj`` keep
their names. In addition, so that the result loads strictly and computes exactly the upstream ViT:
- the final ``norm.*`` -> ``ln1.*`` (MMSeg's final norm, used with ``final_norm=True``);
- each layer gets ``gamma_1``/``gamma_2`` of ones (MAE has no layer scale; MMSeg's MAE layers always have one);
- each layer gets a zero ``attn.relative_position_bias_table`` (no relative bias, which is how MMSeg's MAE
  initialises it) and its ``relative_position_index`` for the checkpoint's square patch grid; the backbone
  resizes both to its own grid when it loads the file. The table has one column per head: ``num_heads``
  defaults to ``embed_dims // 64``, the head width of every official MAE model.
Dropped: the pre-training decoder (``decoder_*``, ``mask_token``) and a fine-tuned classifier (``head.*``,
``fc_norm.*``). Any other key is an error.
"""
from __future__ import annotations

import math
import re

import torch

from seglab.models.backbones.beit import beit_relative_position_index

from ._keys import reject_unknown
from .beit import convert as convert_beit

__all__ = ["convert"]

_KNOWN = re.compile(r"cls_token|pos_embed|"
                    r"(norm|patch_embed\.proj|blocks\.\d+\.(norm[12]|attn\.qkv|attn\.proj|mlp\.fc[12]))\.(weight|bias)")
_DROPPED = ("decoder_", "mask_token", "head.", "fc_norm.")
_LAYER = re.compile(r"layers\.(\d+)\.ln1\.weight")


def convert(state: dict[str, torch.Tensor], num_heads: int | None = None) -> dict[str, torch.Tensor]:
    """Upstream MAE keys -> MMSeg's MAE keys (see the module doc); ``num_heads`` sizes the relative bias tables."""
    encoder = {k: v for k, v in state.items() if not k.startswith(_DROPPED)}
    unknown = [k for k in encoder if not _KNOWN.fullmatch(k)]
    reject_unknown(unknown, "MAE", "; a BEiT checkpoint (q_bias/v_bias, gamma_1) converts with "
                   "`seglab convert-weights beit`")
    if "pos_embed" not in encoder or not any(k.startswith("blocks.") for k in encoder):
        raise KeyError("no MAE encoder found (expected 'pos_embed' and 'blocks.<i>.*' keys)")
    out = {("ln1." + k[len("norm."):] if k.startswith("norm.") else k): v for k, v in convert_beit(encoder).items()}

    tokens, dims = encoder["pos_embed"].shape[-2:]
    side = math.isqrt(tokens - 1)
    if side * side != tokens - 1:
        raise KeyError(f"pos_embed holds {tokens} tokens: not a class token plus a square patch grid")
    heads = num_heads or dims // 64
    if heads < 1 or dims % heads:
        raise ValueError(f"num_heads={heads} does not divide the embedding width {dims}; pass num_heads")
    table_rows = (2 * side - 1) ** 2 + 3  # relative offsets plus the three class-token entries (BEiT's layout)
    index = beit_relative_position_index(side, side)
    dtype = encoder["pos_embed"].dtype
    for layer in sorted(int(m[1]) for k in out if (m := _LAYER.fullmatch(k))):
        prefix = f"layers.{layer}."
        out[prefix + "gamma_1"] = torch.ones(dims, dtype=dtype)
        out[prefix + "gamma_2"] = torch.ones(dims, dtype=dtype)
        out[prefix + "attn.relative_position_bias_table"] = torch.zeros(table_rows, heads, dtype=dtype)
        out[prefix + "attn.relative_position_index"] = index.clone()
    return out
