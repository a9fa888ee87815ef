"""Official BEiT checkpoints (github.com/microsoft/unilm/tree/master/beit) -> MMSeg's BEiT (and MAE).

Mapping: ``blocks.`` -> ``layers.``; ``norm1``/``norm2`` -> ``ln1``/``ln2``; ``mlp.fc1``/``mlp.fc2`` ->
``ffn.layers.0.0``/``ffn.layers.1``; ``patch_embed.proj`` -> ``patch_embed.projection``; the classifier
``head.*`` and its pooling norm ``fc_norm.*`` are dropped (MMSeg keeps them unused); everything else
(``cls_token``, ``gamma_1/2``, ``attn.q_bias/v_bias``, relative position tables) keeps its name. Relative position tables of another grid are resized when the
backbone loads the file.
"""
from __future__ import annotations

import torch

__all__ = ["convert"]


def convert(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Upstream BEiT keys -> MMSeg keys (see the module doc)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if key.startswith(("head.", "fc_norm.")):
            continue
        new_key = key
        if key.startswith("patch_embed.proj."):
            new_key = key.replace("patch_embed.proj.", "patch_embed.projection.", 1)
        elif key.startswith("blocks."):
            new_key = key.replace("blocks.", "layers.", 1)
            if ".norm" in new_key:
                new_key = new_key.replace(".norm", ".ln")
            elif "mlp.fc1" in new_key:
                new_key = new_key.replace("mlp.fc1", "ffn.layers.0.0")
            elif "mlp.fc2" in new_key:
                new_key = new_key.replace("mlp.fc2", "ffn.layers.1")
        out[new_key] = value
    return out
