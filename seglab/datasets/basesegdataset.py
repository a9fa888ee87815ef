"""BaseSegDataset: pairs images with label maps in MMSeg's folder layout and runs the pipeline."""
from __future__ import annotations

import copy
import os
import pickle
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from seglab.registry import DATASETS

from ..unused_arguments import warn_unused
from .transforms.compose import Compose

__all__ = ["BaseSegDataset", "list_files", "suffix_hint", "suffixes_found"]


def list_files(root: str, suffix: str) -> list[str]:
    """Paths relative to ``root`` of all files under it (recursively) ending with ``suffix``, sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        rel = os.path.relpath(dirpath, root)
        for name in filenames:
            if name.endswith(suffix):
                found.append(name if rel == "." else os.path.join(rel, name))
    return sorted(found)


def suffix_hint(folder: str, stem: str, suffix: str, what: str) -> str:
    """Where ``<folder>/<stem><suffix>`` was looked for and, when a file with that stem but another
    suffix exists there, the suffix to set instead (``what`` is 'img_suffix' or 'seg_map_suffix')."""
    expected = os.path.join(folder, stem + suffix)
    text = f"looked for {expected} ({what}={suffix!r})"
    parent, base = os.path.split(os.path.join(folder, stem))
    if os.path.isdir(parent):
        others = sorted(n for n in os.listdir(parent) if n.startswith(base) and n != base + suffix
                        and os.path.isfile(os.path.join(parent, n)))
        if others:
            found = others[0]
            text += f"; found {found} - set {what}={found[len(base):]!r}"
    return text


def suffixes_found(folder: str | None) -> str:
    """'; files there end with .png x12, .txt x1' for a folder (recursive), or '' when there is none."""
    if not folder or not os.path.isdir(folder):
        return ""
    counts: dict[str, int] = {}
    for path in list_files(folder, ""):
        ext = os.path.splitext(path)[1] or "(no suffix)"
        counts[ext] = counts.get(ext, 0) + 1
    if not counts:
        return f"; '{folder}' is empty"
    shown = ", ".join(f"{ext} x{n}" for ext, n in sorted(counts.items(), key=lambda kv: -kv[1])[:5])
    return f"; files in '{folder}' end with {shown}"


def _describe(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} others" if len(names) > limit else "")


def _check_label_map(label_map: dict[int, int] | None, owner: str) -> dict[int, int]:
    """``label_map`` as ``{int: int}`` with values in 0..255, or a ValueError naming the bad entry."""
    if label_map is None:
        return {}
    if not isinstance(label_map, dict):
        raise ValueError(f"{owner}: label_map must be a dict {{old value: new value}}, e.g. {{255: 1}}; got {label_map!r}")
    out = {}
    for old, new in label_map.items():
        try:
            old_i, new_i = int(old), int(new)
        except (TypeError, ValueError):
            raise ValueError(f"{owner}: label_map entry {old!r}: {new!r} must map an integer to an integer") from None
        if not (0 <= old_i <= 255 and 0 <= new_i <= 255):
            raise ValueError(f"{owner}: label_map entry {old_i}: {new_i} is outside 0..255 (masks are uint8)")
        out[old_i] = new_i
    return out


@DATASETS.register_module()
class BaseSegDataset:
    """A segmentation dataset: image ``<img_path>/<name><img_suffix>`` pairs with label map
    ``<seg_map_path>/<name><seg_map_suffix>``.

    Names come from ``ann_file`` (one stem per line) or from scanning ``data_prefix['img_path']``
    recursively. Label values, in MMSeg's order: ``reduce_zero_label`` (0 -> ignore, v -> v - 1), then
    ``label_map`` (value -> new value, e.g. ``{255: 1}`` for 0/255 binary masks; unmapped values stay),
    merged over the subclass's ``RAW_LABEL_MAP`` (e.g. a void value -> 255). ``metainfo=dict(classes=
    [subset])`` trains on a subset of ``METAINFO['classes']``: old ids go to new ids and the rest to
    ``ignore_index``, composed after that; ``self.label_map`` is the composed map.
    ``dataset[i]`` runs ``pipeline`` on ``get_data_info(i)``. ``rgb_label=True`` marks colour-coded
    masks: ``get_data_info`` then carries the palette as ``color_map`` and LoadAnnotations maps each
    colour to its class index.
    """

    METAINFO: dict = dict()
    RAW_LABEL_MAP: dict[int, int] = {}

    def __init__(
        self,
        ann_file: str = "",
        metainfo: dict | None = None,
        data_root: str | None = None,
        data_prefix: dict = dict(img_path="", seg_map_path=""),  # noqa: B006 - MMSeg's default, copied
        img_suffix: str = ".jpg",
        seg_map_suffix: str = ".png",
        filter_cfg: dict | None = None,
        indices: int | Sequence[int] | None = None,
        serialize_data: bool = True,
        pipeline: Sequence[dict | Callable] = (),
        test_mode: bool = False,
        lazy_init: bool = False,
        max_refetch: int = 1000,
        ignore_index: int = 255,
        reduce_zero_label: bool = False,
        backend_args: dict | None = None,
        rgb_label: bool = False,
        label_map: dict[int, int] | None = None,
    ) -> None:
        warn_unused(type(self).__name__, filter_cfg=filter_cfg, backend_args=backend_args)
        self.ann_file = ann_file
        self._raw_label_map = {**self.RAW_LABEL_MAP, **_check_label_map(label_map, type(self).__name__)}
        self.rgb_label = rgb_label
        self.data_root = data_root
        self.data_prefix = copy.copy(dict(data_prefix))
        self.img_suffix = img_suffix
        self.seg_map_suffix = seg_map_suffix
        self.filter_cfg = copy.deepcopy(filter_cfg)  # MMSeg's datasets define no filtering; kept for configs
        self._indices = indices
        self.serialize_data = serialize_data
        self.test_mode = test_mode
        self.max_refetch = max_refetch
        self.ignore_index = ignore_index
        self.reduce_zero_label = reduce_zero_label
        self.backend_args = copy.deepcopy(backend_args)
        self._fully_initialized = False
        self._data_list: list[dict] = []
        self._data_bytes: np.ndarray | None = None
        self._data_address: np.ndarray | None = None

        self._metainfo = copy.deepcopy(dict(self.METAINFO))
        self._metainfo.update(copy.deepcopy(dict(metainfo or {})))
        self.label_map = self.get_label_map(self._metainfo.get("classes"))
        self._metainfo.update(label_map=self.label_map, reduce_zero_label=self.reduce_zero_label)
        self._metainfo["palette"] = self._update_palette()
        if test_mode and not self._metainfo.get("classes"):
            raise ValueError(f"{type(self).__name__}: test_mode needs class names; set METAINFO or metainfo=dict(classes=...)")

        # Colour-coded masks (rgb_label) use the colours of the classes they were drawn with: the
        # dataset's own palette, or METAINFO's when a class subset remaps ids (label_map runs after).
        full_palette = self.METAINFO.get("palette") if self.label_map is not None else None
        self._color_map = [list(c) for c in (full_palette or self._metainfo["palette"])]
        if rgb_label and not self._color_map:
            raise ValueError(f"{type(self).__name__}: rgb_label=True needs metainfo['palette'] (one RGB colour per class)")

        self._join_prefix()
        self.pipeline = Compose(pipeline)
        if not lazy_init:
            self.full_init()

    # ----------------------------------------------------------------- meta information
    @property
    def metainfo(self) -> dict:
        """classes, palette, label_map, reduce_zero_label (a copy)."""
        return copy.deepcopy(self._metainfo)

    @property
    def color_map(self) -> list[list[int]] | None:
        """The colours (index = class) that colour-coded masks are read with when ``rgb_label``, else None."""
        return [list(c) for c in self._color_map] if self.rgb_label else None

    def get_label_map(self, new_classes: Sequence[str] | None = None) -> dict[int, int] | None:
        """Mask value -> training id: ``RAW_LABEL_MAP`` and the ``label_map`` argument, then, for a class
        subset, old -> new id."""
        old_classes = self.METAINFO.get("classes")
        subset: dict[int, int] = {}
        if new_classes is not None and old_classes is not None and list(new_classes) != list(old_classes):
            unknown = [c for c in new_classes if c not in old_classes]
            if unknown:
                raise ValueError(
                    f"{type(self).__name__}: classes {unknown} are not in the dataset's classes {list(old_classes)}"
                )
            for i, c in enumerate(old_classes):
                subset[i] = list(new_classes).index(c) if c in new_classes else self.ignore_index
        raw_map = getattr(self, "_raw_label_map", self.RAW_LABEL_MAP)
        if not raw_map and not subset:
            return None
        # Compose: a raw value goes through the raw map (RAW_LABEL_MAP + label_map) first, then the subset map.
        label_map = {raw: subset.get(mid, mid) for raw, mid in raw_map.items()}
        for old, new in subset.items():
            label_map.setdefault(old, new)
        return label_map

    def _update_palette(self) -> list:
        classes = list(self._metainfo.get("classes") or [])
        palette = [list(p) for p in self._metainfo.get("palette") or []]
        if len(palette) == len(classes):
            return palette
        if not palette:
            # Fixed seed so a palette made up for user classes is the same in every run.
            rng = np.random.RandomState(42)
            return rng.randint(0, 255, size=(len(classes), 3)).tolist()
        old = self.METAINFO.get("classes") or []
        if self.label_map is not None and len(palette) == len(old):
            return [palette[old.index(c)] for c in classes]
        raise ValueError(
            f"{type(self).__name__}: palette has {len(palette)} colours for {len(classes)} classes; "
            "give one colour per class in metainfo['palette']"
        )

    # ----------------------------------------------------------------- data list
    def _join_prefix(self) -> None:
        if self.data_root is None:
            return
        if self.ann_file and not os.path.isabs(self.ann_file):
            self.ann_file = os.path.join(self.data_root, self.ann_file)
        for key, prefix in self.data_prefix.items():
            if isinstance(prefix, str) and not os.path.isabs(prefix):
                self.data_prefix[key] = os.path.join(self.data_root, prefix)

    def full_init(self) -> None:
        """Load the data list (scan folders / read ann_file), apply ``indices``, serialize."""
        if self._fully_initialized:
            return
        if self.data_root is not None and not os.path.isdir(self.data_root):
            raise FileNotFoundError(
                f"{type(self).__name__}: data_root '{self.data_root}' does not exist (cwd: {os.getcwd()}); "
                "set data_root to the dataset folder (relative paths are from the current directory)"
            )
        data_list = self.load_data_list()
        if not data_list:
            where = self.ann_file or self.data_prefix.get("img_path")
            raise ValueError(
                f"{type(self).__name__}: no samples found in '{where}' (img_suffix='{self.img_suffix}'); "
                f"check data_root, data_prefix and img_suffix{suffixes_found(self.data_prefix.get('img_path'))}"
            )
        if self._indices is not None:
            data_list = self._select(data_list, self._indices)
        if self.serialize_data:
            self._data_bytes, self._data_address = self._serialize(data_list)
            self._data_list = []
        else:
            self._data_list = data_list
        self._length = len(data_list)
        self._fully_initialized = True

    @staticmethod
    def _select(data_list: list[dict], indices: int | Sequence[int]) -> list[dict]:
        if isinstance(indices, int):
            return data_list[:indices] if indices >= 0 else data_list[indices:]
        return [data_list[i] for i in indices]

    @staticmethod
    def _serialize(data_list: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        # One numpy buffer instead of many Python objects: dataloader workers then share the pages
        # copy-on-write instead of duplicating them through reference-count updates.
        chunks = [np.frombuffer(pickle.dumps(d, protocol=4), dtype=np.uint8) for d in data_list]
        address = np.cumsum(np.array([len(c) for c in chunks], dtype=np.int64))
        data = np.concatenate(chunks) if chunks else np.zeros(0, np.uint8)
        return data, address

    def load_data_list(self) -> list[dict]:
        """One dict per sample: img_path, seg_map_path, label_map, reduce_zero_label, seg_fields."""
        img_dir = self.data_prefix.get("img_path")
        ann_dir = self.data_prefix.get("seg_map_path")
        if self.ann_file and not os.path.isdir(self.ann_file):
            if not os.path.isfile(self.ann_file):
                raise FileNotFoundError(f"{type(self).__name__}: ann_file '{self.ann_file}' does not exist")
            with open(self.ann_file) as f:
                names = [line.strip() for line in f if line.strip()]
            pairs = [(os.path.join(img_dir, n + self.img_suffix),
                      None if ann_dir is None else os.path.join(ann_dir, n + self.seg_map_suffix)) for n in names]
            if ann_dir is not None:
                missing = [p for _, p in pairs if not os.path.isfile(p)]
                if missing:
                    raise FileNotFoundError(
                        f"{type(self).__name__}: {len(missing)} label maps listed in '{self.ann_file}' are missing: "
                        f"{_describe(missing)}"
                    )
        else:
            if not os.path.isdir(img_dir):
                raise FileNotFoundError(
                    f"{type(self).__name__}: image folder '{img_dir}' does not exist; "
                    "check data_root and data_prefix['img_path']"
                )
            stems = [p[: len(p) - len(self.img_suffix)] for p in list_files(img_dir, self.img_suffix)]
            if ann_dir is not None:
                self._check_pairs(img_dir, ann_dir, stems)
            pairs = [(os.path.join(img_dir, s + self.img_suffix),
                      None if ann_dir is None else os.path.join(ann_dir, s + self.seg_map_suffix)) for s in stems]
        data_list = []
        for img_path, seg_map_path in pairs:
            info: dict[str, Any] = dict(img_path=img_path)
            if seg_map_path is not None:
                info["seg_map_path"] = seg_map_path
            info.update(label_map=self.label_map, reduce_zero_label=self.reduce_zero_label, seg_fields=[])
            data_list.append(info)
        return sorted(data_list, key=lambda d: d["img_path"])

    def _check_pairs(self, img_dir: str, ann_dir: str, stems: list[str]) -> None:
        if not os.path.isdir(ann_dir):
            raise FileNotFoundError(
                f"{type(self).__name__}: label folder '{ann_dir}' does not exist; "
                "check data_root and data_prefix['seg_map_path']"
            )
        ann_stems = {p[: len(p) - len(self.seg_map_suffix)] for p in list_files(ann_dir, self.seg_map_suffix)}
        no_mask = [s for s in stems if s not in ann_stems]
        if no_mask:
            raise FileNotFoundError(
                f"{type(self).__name__}: {len(no_mask)} images in '{img_dir}' have no label map "
                f"'<name>{self.seg_map_suffix}' in '{ann_dir}': {_describe([s + self.img_suffix for s in no_mask])} "
                f"({suffix_hint(ann_dir, no_mask[0], self.seg_map_suffix, 'seg_map_suffix')}); add the masks, "
                "remove the images, or list the samples to use in ann_file"
            )
        if os.path.samefile(img_dir, ann_dir):
            return  # images and masks share a folder: other files there are not necessarily masks
        img_stems = set(stems)
        no_img = sorted(s for s in ann_stems if s not in img_stems)
        if no_img:
            raise FileNotFoundError(
                f"{type(self).__name__}: {len(no_img)} label maps in '{ann_dir}' have no image "
                f"'<name>{self.img_suffix}' in '{img_dir}': {_describe([s + self.seg_map_suffix for s in no_img])} "
                f"({suffix_hint(img_dir, no_img[0], self.img_suffix, 'img_suffix')}); add the images, remove the "
                "masks, or check img_suffix"
            )

    # ----------------------------------------------------------------- access
    def __len__(self) -> int:
        self.full_init()
        return self._length

    def get_data_info(self, idx: int) -> dict:
        """The sample's dict before the pipeline (a fresh copy), with sample_idx, num_classes, ignore_index."""
        self.full_init()
        if idx < 0:
            idx += self._length
        if not 0 <= idx < self._length:
            raise IndexError(f"index {idx} out of range for a dataset of {self._length} samples")
        if self._data_bytes is not None:
            start = 0 if idx == 0 else int(self._data_address[idx - 1])
            info = pickle.loads(self._data_bytes[start: int(self._data_address[idx])].tobytes())
        else:
            info = copy.deepcopy(self._data_list[idx])
        info["sample_idx"] = idx
        classes = self._metainfo.get("classes")
        info["num_classes"] = len(classes) if classes else None
        info["ignore_index"] = self.ignore_index
        if self.rgb_label:
            info["color_map"] = self._color_map
        return info

    def prepare_data(self, idx: int) -> Any:
        """``pipeline(get_data_info(idx))``."""
        return self.pipeline(self.get_data_info(idx))

    def __getitem__(self, idx: int) -> Any:
        self.full_init()
        if self.test_mode:
            data = self.prepare_data(idx)
            if data is None:
                raise RuntimeError(f"{type(self).__name__}: the pipeline returned None for sample {idx} in test mode")
            return data
        for _ in range(self.max_refetch + 1):
            data = self.prepare_data(idx)
            if data is not None:
                return data
            idx = int(np.random.randint(0, len(self)))  # a transform dropped the sample: try another
        raise RuntimeError(f"{type(self).__name__}: no valid sample after {self.max_refetch} retries; check the pipeline")

    def __repr__(self) -> str:
        n = self._length if self._fully_initialized else "not loaded"
        return (
            f"{type(self).__name__}(data_root={self.data_root!r}, samples={n}, "
            f"classes={len(self._metainfo.get('classes') or [])}, pipeline={self.pipeline!r})"
        )
