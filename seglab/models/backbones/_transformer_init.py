"""Weight initialisation and pretrained loading shared by the transformer backbones (Swin, ViT, BEiT, MAE).

MMSeg's transformer backbones read their ``init_cfg=dict(type='Pretrained', checkpoint=...)`` themselves
because the checkpoint's tensors need adapting first (position embeddings and relative position tables
resized to the model's grid). These helpers read the file and load the adapted dict, reporting what did
not fit instead of dropping it silently.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ...registry import ConfigError
from ..weight_init import load_pretrained_state, read_pretrained

__all__ = ["load_adapted_state", "read_pretrained_state", "trunc_normal_transformer_init"]


@torch.no_grad()
def trunc_normal_transformer_init(module: nn.Module, std: float = 0.02, ffn_bias_std: float | None = None) -> None:
    """Linear weights ~ trunc_normal(std), biases 0 (or N(0, ffn_bias_std) inside ``ffn``); norms 1/0; convs kaiming."""
    for name, m in module.named_modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=std)
            if m.bias is not None:
                if ffn_bias_std is not None and "ffn" in name:
                    nn.init.normal_(m.bias, mean=0.0, std=ffn_bias_std)
                else:
                    nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.LayerNorm, nn.GroupNorm, _BatchNorm)) and getattr(m, "weight", None) is not None:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def read_pretrained_state(init_cfg: dict, owner: str) -> tuple[dict[str, torch.Tensor], str]:
    """The weights named by a Pretrained ``init_cfg`` (read through seglab.io: paths, URLs, named schemes)
    and where they came from (for the load report).

    Without a ``prefix``, MMSeg's ``backbone.`` (a whole-segmentor checkpoint) and ``module.`` are stripped.
    """
    if not init_cfg.get("checkpoint"):
        raise ConfigError(f"{owner}: init_cfg {init_cfg!r} of type 'Pretrained' needs a 'checkpoint' path or URL")
    state, where = read_pretrained(init_cfg, owner)
    if init_cfg.get("prefix") is None and any(k.startswith("backbone.") for k in state):
        state = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    return state, where


def load_adapted_state(module: nn.Module, state: dict[str, torch.Tensor], owner: str, where: str) -> None:
    """Load ``state`` non-strictly and log what was loaded, missing, unexpected and shape-mismatched (skipped)."""
    own = module.state_dict()
    # Index buffers are fixed functions of the window size, so a checkpoint need not hold them.
    state = dict(state)
    for key, value in own.items():
        if key.endswith("relative_position_index") and key not in state:
            state[key] = value
    load_pretrained_state(module, state, owner, where)
