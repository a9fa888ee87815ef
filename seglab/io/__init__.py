"""Checkpoint reading and writing, downloads into a cache, named checkpoints and safe unpickling.

Below models and the engine in the layering: both load weights through here.
"""
from .checkpoint import (
    LoadReport,
    UnsafeCheckpointError,
    get_state_dict,
    load_checkpoint,
    load_state_dict_file,
    load_weights,
    read_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
    save_safetensors,
)
from .download import DownloadError, checkpoint_cache_dir, download_checkpoint
from .zoo import resolve_zoo_name

__all__ = [
    "DownloadError",
    "LoadReport",
    "UnsafeCheckpointError",
    "checkpoint_cache_dir",
    "download_checkpoint",
    "get_state_dict",
    "load_checkpoint",
    "load_state_dict_file",
    "load_weights",
    "read_checkpoint",
    "resolve_checkpoint",
    "resolve_zoo_name",
    "save_checkpoint",
    "save_safetensors",
]
