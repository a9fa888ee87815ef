"""Samplers (InfiniteSampler, DefaultSampler) and building a DataLoader from an MMEngine-style config dict."""
from __future__ import annotations

import functools
import math
import random
from collections.abc import Iterator, Mapping, Sized

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Sampler

from seglab.registry import DATA_SAMPLERS, DATASETS, ConfigError

__all__ = ["DefaultSampler", "InfiniteSampler", "build_dataloader"]


def _rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


@DATA_SAMPLERS.register_module()
class DefaultSampler(Sampler):
    """One pass over this rank's share of the dataset (shuffled with ``seed + epoch`` when ``shuffle``).

    ``round_up`` pads so every rank gets the same number of samples (as in MMEngine).
    """

    def __init__(self, dataset: Sized, shuffle: bool = True, seed: int | None = None, round_up: bool = True) -> None:
        self.dataset = dataset
        self.shuffle = shuffle
        self.seed = 0 if seed is None else int(seed)
        self.round_up = round_up
        self.rank, self.world_size = _rank_world()
        self.epoch = 0
        self._skip = 0
        n = len(dataset)
        self.num_samples = math.ceil(n / self.world_size) if round_up else math.ceil((n - self.rank) / self.world_size)
        self.total_size = self.num_samples * self.world_size if round_up else n

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            indices = torch.randperm(n, generator=g).tolist()
        else:
            indices = list(range(n))
        if self.round_up and n:
            indices = (indices * math.ceil(self.total_size / n))[: self.total_size]
        skip, self._skip = self._skip, 0  # a resume skips only into the epoch it stopped in
        return iter(indices[self.rank : self.total_size : self.world_size][skip:])

    def skip(self, n: int) -> None:
        """Start the next pass after ``n`` of this rank's indices (resuming in the middle of an epoch)."""
        self._skip = int(n)

    def state_dict(self) -> dict:
        """The seed of the shuffle order (the position within it is the loop's iteration count)."""
        return {"seed": self.seed}

    def load_state_dict(self, state: Mapping) -> None:
        """Use a saved seed: a resumed run draws the same order even if its own seed was random."""
        self.seed = int(state["seed"])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Use another shuffle order for ``epoch``."""
        self.epoch = epoch


@DATA_SAMPLERS.register_module()
class InfiniteSampler(Sampler):
    """An endless stream of indices (a new permutation per pass), split across ranks.

    ``skip(n)`` drops the first ``n`` indices of this rank's stream: resuming a run continues with
    the same samples an uninterrupted run would have seen.
    """

    def __init__(self, dataset: Sized, shuffle: bool = True, seed: int | None = None) -> None:
        self.dataset = dataset
        self.shuffle = shuffle
        self.seed = 0 if seed is None else int(seed)
        self.rank, self.world_size = _rank_world()
        self.size = len(dataset)
        self._skip = 0

    def _indices(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed)
        while True:
            if self.shuffle:
                yield from torch.randperm(self.size, generator=g).tolist()
            else:
                yield from range(self.size)

    def __iter__(self) -> Iterator[int]:
        count = 0
        for i, index in enumerate(self._indices()):
            if i % self.world_size != self.rank:
                continue
            count += 1
            if count <= self._skip:
                continue
            yield index

    def __len__(self) -> int:
        return self.size

    def skip(self, n: int) -> None:
        """Start the next iteration after ``n`` of this rank's indices."""
        self._skip = int(n)

    state_dict = DefaultSampler.state_dict
    load_state_dict = DefaultSampler.load_state_dict

    def set_epoch(self, epoch: int) -> None:
        """Infinite streams have no epochs; kept for the hook's interface."""


def _worker_init(worker_id: int, seed: int, num_workers: int, rank: int, opencv_threads: int | None = None) -> None:
    # Each worker gets its own stream for numpy/random transforms, reproducible from the run's seed.
    s = seed + worker_id + rank * num_workers
    np.random.seed(s % 2**32)
    random.seed(s)
    torch.manual_seed(s)
    if opencv_threads is not None:
        # The workers already run side by side (torch sets each to one thread): OpenCV's own thread pool
        # in every worker would oversubscribe the cores. A spawned worker does not inherit the setting.
        import cv2

        cv2.setNumThreads(int(opencv_threads))


_LOADER_KEYS = {"batch_size", "num_workers", "persistent_workers", "sampler", "batch_sampler", "dataset",
                "collate_fn", "drop_last", "pin_memory", "prefetch_factor", "shuffle", "timeout"}


def build_dataloader(cfg: Mapping | DataLoader, seed: int | None = None, where: str = "dataloader",
                     device: str | torch.device | None = None, opencv_threads: int | None = 0) -> DataLoader:
    """Build a DataLoader from ``dict(batch_size, num_workers, sampler, dataset, collate_fn, ...)``.

    Defaults where the config leaves them out: ``pin_memory=True`` when ``device`` is CUDA (batches are
    copied to the GPU without blocking), ``persistent_workers=True`` with workers (no new processes at
    every epoch); each worker runs OpenCV with ``opencv_threads`` threads (0: sequential; None: untouched).
    """
    if isinstance(cfg, DataLoader):
        return cfg
    cfg = dict(cfg)
    unknown = set(cfg) - _LOADER_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; valid keys: {sorted(_LOADER_KEYS)}")
    if "dataset" not in cfg:
        raise ConfigError(f"{where}: needs a 'dataset' entry")
    try:
        dataset = DATASETS.build(cfg.pop("dataset"))
    except ConfigError as exc:
        raise ConfigError(f"{where}.dataset: {exc}") from exc
    sampler_cfg = cfg.pop("sampler", dict(type="DefaultSampler", shuffle=cfg.pop("shuffle", False)))
    cfg.pop("shuffle", None)
    if isinstance(sampler_cfg, Mapping):
        sampler_cfg = dict(sampler_cfg)
        sampler_cfg.setdefault("seed", seed)
        try:
            sampler = DATA_SAMPLERS.build(sampler_cfg, dataset=dataset)
        except ConfigError as exc:
            raise ConfigError(f"{where}.sampler: {exc}") from exc
    else:
        sampler = sampler_cfg
    if cfg.pop("batch_sampler", None) is not None:
        raise ConfigError(f"{where}: batch_sampler is not supported; use batch_size and sampler")
    collate = cfg.pop("collate_fn", dict(type="pseudo_collate"))
    if isinstance(collate, Mapping):
        from seglab.datasets import COLLATE_FUNCTIONS

        collate = dict(collate)
        name = collate.pop("type", "pseudo_collate")
        if name not in COLLATE_FUNCTIONS:
            raise ConfigError(f"{where}.collate_fn: unknown type {name!r}; choose from {sorted(COLLATE_FUNCTIONS)}")
        collate = functools.partial(COLLATE_FUNCTIONS[name], **collate) if collate else COLLATE_FUNCTIONS[name]
    num_workers = int(cfg.pop("num_workers", 0))
    persistent = bool(cfg.pop("persistent_workers", True)) and num_workers > 0
    if "pin_memory" not in cfg:
        cfg["pin_memory"] = device is not None and torch.device(device).type == "cuda"
    rank, _ = _rank_world()
    init = functools.partial(_worker_init, seed=int(seed or 0), num_workers=num_workers, rank=rank,
                             opencv_threads=opencv_threads) if num_workers else None
    return DataLoader(dataset, batch_size=int(cfg.pop("batch_size", 1)), sampler=sampler, num_workers=num_workers,
                      persistent_workers=persistent, collate_fn=collate, worker_init_fn=init, **cfg)
