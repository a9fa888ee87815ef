"""Process setup of one run: distributed init, seeds, cudnn/threads/start method, work dir and logger.

``setup_run(cfg)`` does everything that changes process-wide state, once, before anything is
built; what it decided (rank, device, seed, log folder ...) comes back as a small ``RunContext``.
"""
from __future__ import annotations

import logging
import os
import os.path as osp
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from seglab.registry import ConfigError

from .distributed import broadcast_object, init_dist
from .logging import setup_logger
from .runtime import check_keys, collect_env, fresh_timestamp

__all__ = ["RunContext", "apply_env_cfg", "seed_everything", "setup_run"]

_ENV_KEYS = {"cudnn_benchmark", "mp_cfg", "dist_cfg", "resource_limit"}
_DIST_KEYS = {"backend", "timeout", "port", "init_method"}
_MP_KEYS = {"mp_start_method", "opencv_num_threads"}
_RANDOMNESS_KEYS = {"seed", "deterministic", "diff_rank_seed"}


@dataclass
class RunContext:
    """What process setup decided: who this process is, where it writes and which seed it uses."""

    rank: int
    world_size: int
    launcher: str
    device: torch.device
    work_dir: str
    timestamp: str
    log_dir: str
    experiment_name: str
    logger: logging.Logger
    seed: int  # this rank's seed (differs per rank with diff_rank_seed)
    sampler_seed: int  # shared by every rank: samplers draw one global order

    def environment(self) -> dict[str, str]:
        """Versions and devices of this run (logged at the start of training)."""
        info = collect_env()
        info["distributed"] = f"launcher={self.launcher} world_size={self.world_size}"
        info["device"] = str(self.device)
        return info


def apply_env_cfg(env_cfg: Mapping | None) -> None:
    """Apply ``env_cfg``: cudnn benchmark, the multiprocessing start method and OpenCV's thread count."""
    env_cfg = env_cfg or {}
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = bool(env_cfg.get("cudnn_benchmark", False))
    mp_cfg = env_cfg.get("mp_cfg") or {}
    check_keys(mp_cfg, _MP_KEYS, "env_cfg.mp_cfg")
    method = mp_cfg.get("mp_start_method")
    if method is not None:
        import multiprocessing as mp

        if method not in mp.get_all_start_methods():
            raise ConfigError(f"env_cfg.mp_cfg.mp_start_method: {method!r} is not available here; "
                              f"choose from {mp.get_all_start_methods()}")
        if mp.get_start_method(allow_none=True) != method:
            mp.set_start_method(method, force=True)  # for DataLoader workers
    if "opencv_num_threads" in mp_cfg:
        import cv2

        cv2.setNumThreads(int(mp_cfg["opencv_num_threads"]))


def seed_everything(randomness: Mapping | None, rank: int = 0) -> tuple[int, int]:
    """Seed Python, NumPy and torch from ``randomness``; return (this rank's seed, the samplers' seed)."""
    randomness = randomness or {}
    seed = randomness.get("seed")
    if seed is None:
        # All ranks need one seed: the samplers draw the same global permutation everywhere.
        seed = broadcast_object(int(np.random.SeedSequence().entropy % 2**31))
    sampler_seed = int(seed)  # samplers share it on every rank even with diff_rank_seed
    if randomness.get("diff_rank_seed", False):
        seed += rank
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if randomness.get("deterministic", False):
        # cuBLAS needs this workspace setting for reproducible matmuls (read when CUDA starts).
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        # warn_only: some segmentation ops (bilinear upsampling backward on CUDA) have no
        # deterministic kernel; they warn instead of stopping the run.
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    return int(seed), sampler_seed


def _device(device: str | torch.device | None) -> torch.device:
    if device is None:
        device = f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())  # torchrun set it from LOCAL_RANK
    return device


def setup_run(cfg: Mapping[str, Any], device: str | torch.device | None = None) -> RunContext:
    """Set up this process for the run ``cfg`` describes (keys work_dir, launcher, env_cfg, randomness, log_level)."""
    env_cfg, randomness = cfg.get("env_cfg"), cfg.get("randomness")
    check_keys(env_cfg, _ENV_KEYS, "env_cfg")
    check_keys(randomness, _RANDOMNESS_KEYS, "randomness")
    dist_cfg = dict((env_cfg or {}).get("dist_cfg") or {})
    check_keys(dist_cfg, _DIST_KEYS, "env_cfg.dist_cfg")
    launcher = cfg.get("launcher", "none")
    rank, world_size = init_dist(launcher, dist_cfg.get("backend"), dist_cfg.get("timeout"))
    work_dir = osp.abspath(cfg["work_dir"])
    # Every rank must name the same log folder: rank 0 picks it (a fresh one) and tells the others.
    timestamp = None
    if rank == 0:
        os.makedirs(work_dir, exist_ok=True)
        timestamp = fresh_timestamp(work_dir)
    timestamp = broadcast_object(timestamp)
    log_dir = osp.join(work_dir, timestamp)
    # Only rank 0 writes files; the other ranks print warnings and errors only.
    log_file = osp.join(log_dir, f"{timestamp}.log") if rank == 0 else None
    logger = setup_logger(log_file, cfg.get("log_level", "INFO") if rank == 0 else "WARNING")
    apply_env_cfg(env_cfg)
    seed, sampler_seed = seed_everything(randomness, rank)
    return RunContext(rank=rank, world_size=world_size, launcher=launcher, device=_device(device), work_dir=work_dir,
                      timestamp=timestamp, log_dir=log_dir, experiment_name=cfg.get("experiment_name") or timestamp,
                      logger=logger, seed=seed, sampler_seed=sampler_seed)
