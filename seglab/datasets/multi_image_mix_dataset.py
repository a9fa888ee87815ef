"""MultiImageMixDataset: run mixing transforms (RandomMosaic) that need other samples of the dataset."""
from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from seglab.registry import DATASETS, TRANSFORMS

__all__ = ["MultiImageMixDataset"]


def _type_name(transform: dict | Callable) -> str:
    if isinstance(transform, dict):
        t = transform.get("type")
        return t if isinstance(t, str) else getattr(t, "__name__", str(t))
    return type(transform).__name__


@DATASETS.register_module()
class MultiImageMixDataset:
    """Wrap ``dataset`` (whose pipeline loads the samples) and apply ``pipeline`` on top.

    A transform with ``get_indices(dataset)`` (e.g. ``RandomMosaic``) gets those samples, each run
    through the wrapped dataset's pipeline, in ``results['mix_results']``. Transforms whose type name
    is in ``skip_type_keys`` are skipped (``update_skip_type_keys`` changes that, e.g. from a hook).
    """

    def __init__(
        self,
        dataset: dict | Any,
        pipeline: Sequence[dict | Callable],
        skip_type_keys: Sequence[str] | None = None,
        lazy_init: bool = False,
    ) -> None:
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        if isinstance(pipeline, (dict, str)) or not isinstance(pipeline, Sequence):
            raise TypeError(f"MultiImageMixDataset: pipeline must be a list of transforms, got {type(pipeline).__name__}")
        self.pipeline_types = [_type_name(t) for t in pipeline]
        self.pipeline = [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in pipeline]
        self._skip_type_keys: list[str] | None = None
        if skip_type_keys is not None:
            self.update_skip_type_keys(skip_type_keys)
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        """The wrapped dataset's metainfo (a copy)."""
        return copy.deepcopy(self.dataset.metainfo)

    def full_init(self) -> None:
        """Initialise the wrapped dataset."""
        if self._fully_initialized:
            return
        if hasattr(self.dataset, "full_init"):
            self.dataset.full_init()
        self._fully_initialized = True

    def __len__(self) -> int:
        return len(self.dataset)

    def get_data_info(self, idx: int) -> dict:
        """The wrapped dataset's sample dict before any pipeline."""
        return self.dataset.get_data_info(idx)

    def __getitem__(self, idx: int) -> Any:
        results = copy.deepcopy(self.dataset[idx])
        for transform, type_name in zip(self.pipeline, self.pipeline_types):
            if self._skip_type_keys is not None and type_name in self._skip_type_keys:
                continue
            if hasattr(transform, "get_indices"):
                indices = transform.get_indices(self.dataset)
                if isinstance(indices, int):
                    indices = [indices]
                n = len(self.dataset)
                bad = [i for i in indices if not 0 <= i < n]
                if bad:
                    raise IndexError(f"{type_name}.get_indices gave {bad}, outside [0, {n}) of the wrapped dataset")
                results["mix_results"] = [copy.deepcopy(self.dataset[i]) for i in indices]
            results = transform(results)
            if results is None:
                raise RuntimeError(f"MultiImageMixDataset: transform {type_name} returned None for sample {idx}")
            results.pop("mix_results", None)
        return results

    def update_skip_type_keys(self, skip_type_keys: Sequence[str]) -> None:
        """Skip the transforms with these type names from now on."""
        if isinstance(skip_type_keys, str) or not all(isinstance(k, str) for k in skip_type_keys):
            raise TypeError(f"skip_type_keys must be a list of transform type names, got {skip_type_keys!r}")
        self._skip_type_keys = list(skip_type_keys)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dataset={self.dataset!r}, pipeline={self.pipeline_types})"
