"""timm ViT / DeiT checkpoints (``blocks.<i>.attn.qkv`` layout) -> MMSeg's VisionTransformer.

Mapping: ``blocks.`` -> ``layers.``; ``norm1``/``norm2`` -> ``ln1``/``ln2``; ``attn.qkv.{weight,bias}`` ->
``attn.attn.in_proj_{weight,bias}``; ``attn.proj`` -> ``attn.attn.out_proj``; ``mlp.fc1``/``mlp.fc2`` ->
``ffn.layers.0.0``/``ffn.layers.1``; the final ``norm.`` -> ``ln1.``; ``patch_embed.proj`` ->
``patch_embed.projection``; ``head*`` dropped; ``cls_token``/``pos_embed`` kept.
"""
from __future__ import annotations

import torch

__all__ = ["convert"]


def convert(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """timm ViT keys -> MMSeg keys (see the module doc)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if key.startswith("head"):
            continue
        new_key = key
        if key.startswith("norm."):
            new_key = key.replace("norm.", "ln1.", 1)
        elif key.startswith("patch_embed.proj."):
            new_key = key.replace("patch_embed.proj.", "patch_embed.projection.", 1)
        elif key.startswith("blocks."):
            if ".norm" in key:
                new_key = key.replace(".norm", ".ln")
            elif "mlp.fc1" in key:
                new_key = key.replace("mlp.fc1", "ffn.layers.0.0")
            elif "mlp.fc2" in key:
                new_key = key.replace("mlp.fc2", "ffn.layers.1")
            elif "attn.qkv." in key:
                new_key = key.replace("attn.qkv.", "attn.attn.in_proj_")
            elif "attn.proj" in key:
                new_key = key.replace("attn.proj", "attn.attn.out_proj")
            new_key = new_key.replace("blocks.", "layers.", 1)
        out[new_key] = value
    return out
