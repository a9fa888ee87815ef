"""ConcatDataset and RepeatDataset: combine or repeat datasets without copying their samples."""
from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

from seglab.registry import DATASETS

__all__ = ["ConcatDataset", "RepeatDataset"]


def _build(cfg: Any) -> Any:
    return DATASETS.build(cfg)


@DATASETS.register_module()
class ConcatDataset:
    """Samples of ``datasets`` one after another; metainfo is the first dataset's (classes must agree)."""

    def __init__(self, datasets: Sequence[Any], lazy_init: bool = False, ignore_keys: str | list[str] | None = None) -> None:
        self.datasets = [_build(d) for d in datasets]
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets is empty")
        ignore = [ignore_keys] if isinstance(ignore_keys, str) else list(ignore_keys or [])
        first = self.datasets[0].metainfo
        for i, d in enumerate(self.datasets[1:], 1):
            for key in ("classes", "palette"):
                if key not in ignore and d.metainfo.get(key) != first.get(key):
                    raise ValueError(
                        f"ConcatDataset: dataset {i} ({type(d).__name__}) has other {key} than dataset 0; "
                        f"pass ignore_keys=['{key}'] if that is intended"
                    )
        self._metainfo = first
        self._cumulative: list[int] = []
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        """The first dataset's metainfo."""
        return dict(self._metainfo)

    def full_init(self) -> None:
        """Initialise every dataset and the index table."""
        total = 0
        self._cumulative = []
        for d in self.datasets:
            total += len(d)
            self._cumulative.append(total)

    def __len__(self) -> int:
        if not self._cumulative:
            self.full_init()
        return self._cumulative[-1]

    def _locate(self, idx: int) -> tuple[int, int]:
        n = len(self)
        if idx < 0:
            idx += n
        if not 0 <= idx < n:
            raise IndexError(f"index {idx} out of range for a ConcatDataset of {n} samples")
        which = bisect.bisect_right(self._cumulative, idx)
        return which, idx - (self._cumulative[which - 1] if which else 0)

    def get_data_info(self, idx: int) -> dict:
        """The sample's dict before the pipeline, from the dataset that holds it."""
        which, local = self._locate(idx)
        return self.datasets[which].get_data_info(local)

    def __getitem__(self, idx: int) -> Any:
        which, local = self._locate(idx)
        return self.datasets[which][local]


@DATASETS.register_module()
class RepeatDataset:
    """``dataset`` repeated ``times`` times (one epoch of it = ``times`` passes)."""

    def __init__(self, dataset: Any, times: int, lazy_init: bool = False) -> None:
        if times < 1:
            raise ValueError(f"RepeatDataset: times must be >= 1, got {times}")
        self.dataset = _build(dataset)
        self.times = times
        self._ori_len: int | None = None
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        """The wrapped dataset's metainfo."""
        return self.dataset.metainfo

    def full_init(self) -> None:
        """Initialise the wrapped dataset."""
        self._ori_len = len(self.dataset)

    def __len__(self) -> int:
        if self._ori_len is None:
            self.full_init()
        return self.times * self._ori_len

    def get_data_info(self, idx: int) -> dict:
        """The wrapped dataset's sample ``idx % len(dataset)``."""
        return self.dataset.get_data_info(idx % len(self.dataset))

    def __getitem__(self, idx: int) -> Any:
        if not -len(self) <= idx < len(self):
            raise IndexError(f"index {idx} out of range for a RepeatDataset of {len(self)} samples")
        return self.dataset[idx % self._ori_len]
