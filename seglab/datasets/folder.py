"""FolderSegDataset: any ``img_dir`` + ``ann_dir`` pair of folders with user-given class names."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from seglab.registry import DATASETS

from .basesegdataset import BaseSegDataset

__all__ = ["FolderSegDataset"]


@DATASETS.register_module()
class FolderSegDataset(BaseSegDataset):
    """Images in ``img_dir`` paired by name with index masks in ``ann_dir`` (relative to ``data_root``).

    ``classes`` names the mask values 0..len(classes)-1; ``palette`` defaults to fixed random colours.
    Every BaseSegDataset argument applies: ``ann_file`` (names to use), ``label_map`` (e.g. ``{255: 1}``
    for 0/255 masks), ``reduce_zero_label``, ``ignore_index``, ``rgb_label`` (colour masks, read through
    ``palette``). ``seglab new-config`` writes one from two folders; see docs/own_data.md.
    """

    def __init__(
        self,
        img_dir: str,
        ann_dir: str,
        classes: Sequence[str],
        palette: Sequence[Sequence[int]] | None = None,
        img_suffix: str = ".jpg",
        seg_map_suffix: str = ".png",
        **kwargs: Any,
    ) -> None:
        if "data_prefix" in kwargs or "metainfo" in kwargs:
            raise ValueError("FolderSegDataset: give img_dir/ann_dir and classes/palette instead of data_prefix/metainfo")
        if not classes:
            raise ValueError("FolderSegDataset: classes must name at least one class")
        metainfo: dict[str, Any] = dict(classes=tuple(classes))
        if palette is not None:
            metainfo["palette"] = [list(p) for p in palette]
        super().__init__(metainfo=metainfo, data_prefix=dict(img_path=img_dir, seg_map_path=ann_dir),
                         img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)
