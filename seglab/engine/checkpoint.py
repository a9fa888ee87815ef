"""Checkpoint I/O for the engine: re-exports ``seglab.io.checkpoint`` (its home since models load through it)."""

from ..io.checkpoint import (  # noqa: F401 - re-exported
    LoadReport,
    UnsafeCheckpointError,
    _atomic_write,
    download_checkpoint,
    get_state_dict,
    load_checkpoint,
    load_state_dict_file,
    load_weights,
    read_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
    save_safetensors,
)

__all__ = [
    "UnsafeCheckpointError",
    "download_checkpoint",
    "get_state_dict",
    "load_checkpoint",
    "load_state_dict_file",
    "save_checkpoint",
    "save_safetensors",
]
