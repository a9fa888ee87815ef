"""Microsoft Swin Transformer checkpoints (github.com/microsoft/Swin-Transformer) -> MMSeg's SwinTransformer.

Mapping: ``layers.`` -> ``stages.``; ``attn.`` -> ``attn.w_msa.``; ``mlp.fc1``/``mlp.fc2`` ->
``ffn.layers.0.0``/``ffn.layers.1``; ``patch_embed.proj`` -> ``patch_embed.projection``; the classifier
``head.*`` is dropped; the final ``norm`` (applied to the last stage's output upstream) becomes
``norm<last stage>``, the norm MMSeg applies to that output (MMSeg's own converter keeps it as an unused
``norm``); other keys (``absolute_pos_embed``) are kept. Patch merging weights are
reordered: upstream concatenates the 2x2 neighbours as (0,0), (1,0), (0,1), (1,1) blocks of C channels,
MMSeg's ``nn.Unfold`` gives per channel the positions (0,0), (0,1), (1,0), (1,1).
"""
from __future__ import annotations

import torch

__all__ = ["convert", "merging_norm_to_unfold", "merging_reduction_to_unfold"]

_UPSTREAM_TO_UNFOLD = [0, 2, 1, 3]  # upstream block index of unfold positions (0,0), (0,1), (1,0), (1,1)


def merging_reduction_to_unfold(weight: torch.Tensor) -> torch.Tensor:
    """Reduction (out, 4C) with upstream input order -> (out, 4C) in unfold order (channel-major)."""
    out_channels, in_channels = weight.shape
    blocks = weight.reshape(out_channels, 4, in_channels // 4)[:, _UPSTREAM_TO_UNFOLD, :]
    return blocks.transpose(1, 2).reshape(out_channels, in_channels)


def merging_norm_to_unfold(vector: torch.Tensor) -> torch.Tensor:
    """LayerNorm weight/bias (4C,) in upstream order -> unfold order."""
    blocks = vector.reshape(4, vector.shape[0] // 4)[_UPSTREAM_TO_UNFOLD, :]
    return blocks.transpose(0, 1).reshape(-1)


def convert(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Upstream Swin keys -> MMSeg keys (see the module doc)."""
    stages = {int(k.split(".")[1]) for k in state_dict if k.startswith("layers.")}
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if key.startswith("head"):
            continue
        new_key, new_value = key, value
        if key.startswith("norm.") and stages:
            new_key = key.replace("norm.", f"norm{max(stages)}.", 1)
        elif key.startswith("layers"):
            if "attn." in key:
                new_key = key.replace("attn.", "attn.w_msa.")
            elif "mlp.fc1." in key:
                new_key = key.replace("mlp.fc1.", "ffn.layers.0.0.")
            elif "mlp.fc2." in key:
                new_key = key.replace("mlp.fc2.", "ffn.layers.1.")
            elif "downsample.reduction." in key:
                new_value = merging_reduction_to_unfold(value)
            elif "downsample.norm." in key:
                new_value = merging_norm_to_unfold(value)
            new_key = new_key.replace("layers", "stages", 1)
        elif key.startswith("patch_embed.proj."):
            new_key = key.replace("patch_embed.proj.", "patch_embed.projection.", 1)
        out[new_key] = new_value
    return out
