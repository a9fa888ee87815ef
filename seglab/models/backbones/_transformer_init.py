"""Weight initialisation and pretrained loading shared by the transformer backbones (Swin, ViT, BEiT, MAE).

MMSeg's transformer backbones read their ``init_cfg=dict(type='Pretrained', checkpoint=...)`` themselves
because the checkpoint's tensors need adapting first (position embeddings and relative position tables
resized to the model's grid). These helpers read the file and load the adapted dict, reporting what did
not fit instead of dropping it silently.
"""
from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ...registry import ConfigError

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


def read_pretrained_state(init_cfg: dict, owner: str) -> dict[str, torch.Tensor]:
    """The weights named by ``init_cfg['checkpoint']`` with MMSeg's ``backbone.`` and ``module.`` prefixes stripped."""
    from ...engine.checkpoint import download_checkpoint, get_state_dict, load_state_dict_file  # lazy: engine

    checkpoint = init_cfg.get("checkpoint")
    if not checkpoint:
        raise ConfigError(f"{owner}: init_cfg {init_cfg!r} of type 'Pretrained' needs a 'checkpoint' path or URL")
    path = str(checkpoint)
    if path.startswith(("http://", "https://")):
        path = download_checkpoint(path)
    source = get_state_dict(load_state_dict_file(path, init_cfg.get("map_location", "cpu")))
    prefix = init_cfg.get("prefix")
    state: dict[str, torch.Tensor] = {}
    for key, value in source.items():
        if prefix is not None:
            if not key.startswith(prefix):
                continue
            key = key[len(prefix):]
        elif key.startswith("backbone."):
            key = key[len("backbone."):]
        if key.startswith("module."):
            key = key[len("module."):]
        state[key] = value
    if not state:
        raise ConfigError(f"{owner}: checkpoint {checkpoint!r} holds no weights" +
                          (f" under prefix {prefix!r}" if prefix else ""))
    return state


def load_adapted_state(module: nn.Module, state: dict[str, torch.Tensor], owner: str) -> None:
    """Load ``state`` non-strictly; warn naming missing, unexpected and shape-mismatched (skipped) keys."""
    own = module.state_dict()
    mismatched = [k for k, v in state.items() if k in own and tuple(v.shape) != tuple(own[k].shape)]
    kept = {k: v for k, v in state.items() if k not in mismatched}
    result = module.load_state_dict(kept, strict=False)
    # Index buffers are fixed functions of the window size, so a checkpoint need not hold them.
    missing = [k for k in result.missing_keys if not k.endswith("relative_position_index")]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)}: {missing[:8]}")
    if result.unexpected_keys:
        problems.append(f"unexpected {len(result.unexpected_keys)}: {result.unexpected_keys[:8]}")
    if mismatched:
        problems.append("shape mismatch (not loaded): " + ", ".join(
            f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in mismatched[:8]))
    if problems:
        warnings.warn(f"{owner}: pretrained weights do not fully match: " + "; ".join(problems), stacklevel=3)
