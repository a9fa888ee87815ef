"""Loading transforms: read images and segmentation masks from disk (or take arrays) into ``results``."""
from __future__ import annotations

import io
import os

import cv2
import numpy as np

from seglab.registry import TRANSFORMS

from ...unused_arguments import warn_unused
from .color_lookup import ColorLookup, ColorMap
from .png import GREY, decode_png, png_layout

__all__ = ["LoadAnnotations", "LoadImageFromFile", "LoadImageFromNDArray", "imread", "read_mask"]

_CV2_FLAGS = {
    "color": cv2.IMREAD_COLOR,
    "grayscale": cv2.IMREAD_GRAYSCALE,
    "unchanged": cv2.IMREAD_UNCHANGED,
    "color_ignore_orientation": cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION,
    "grayscale_ignore_orientation": cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION,
}
_BACKENDS = ("cv2", "pillow", "turbojpeg", "tifffile")


def _check_exists(path: str) -> None:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: file not found; check data_root, data_prefix and the suffixes")


def _read_bytes(path: str) -> bytes:
    _check_exists(path)
    # Reading the bytes + imdecode also handles non-ASCII paths, which cv2.imread does not on every platform.
    with open(path, "rb") as f:
        return f.read()


def imread(path: str, color_type: str = "color", backend: str = "cv2") -> np.ndarray:
    """Read an image file as a numpy array (H, W, 3) BGR for 'color', (H, W) for 'grayscale'.

    'pillow'/'turbojpeg' fall back to OpenCV, which decodes ordinary images to the same BGR array.
    """
    if color_type not in _CV2_FLAGS:
        raise ValueError(f"color_type must be one of {list(_CV2_FLAGS)}, got {color_type!r}")
    if backend not in _BACKENDS:
        raise ValueError(f"imdecode_backend must be one of {list(_BACKENDS)}, got {backend!r}")
    data = _read_bytes(path)
    if backend == "tifffile":
        try:
            import tifffile
        except ImportError as exc:
            raise ImportError("imdecode_backend='tifffile' needs the 'tiff' extra: pip install seglab[tiff]") from exc
        img = tifffile.imread(io.BytesIO(data))
    else:
        img = decode_png(data, color_type)  # the same array through libspng when the 'png' extra is installed
        if img is None and data:
            img = cv2.imdecode(np.frombuffer(data, np.uint8), _CV2_FLAGS[color_type])
    if img is None:
        raise ValueError(f"{path}: cannot decode the image (empty, corrupt or not an image file); re-create or remove it")
    return img


def read_mask(path: str, backend: str = "pillow") -> np.ndarray:
    """Read a label map (H, W) of class indices; palette PNGs give their indices (needs pillow)."""
    if backend == "pillow":
        try:
            from PIL import Image
        except ImportError:
            backend = "cv2"  # pillow is optional; OpenCV reads ordinary single-channel masks identically
        else:
            data = _read_bytes(path)
            if png_layout(data) == GREY:
                # A plain 8-bit greyscale PNG: OpenCV decodes the same samples as Pillow, faster.
                return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
            try:
                with Image.open(io.BytesIO(data)) as im:
                    mask = np.array(im)
            except Exception as exc:
                raise ValueError(f"{path}: cannot decode the mask ({exc}); re-create or remove it") from exc
            return _check_mask_channels(mask, path)
    mask = imread(path, "unchanged", "tifffile" if backend == "tifffile" else "cv2")
    return _check_mask_channels(mask, path)


def _check_mask_channels(mask: np.ndarray, path: str) -> np.ndarray:
    mask = np.squeeze(mask) if mask.ndim == 3 and mask.shape[2] == 1 else mask
    if mask.ndim != 2:
        raise ValueError(
            f"{path}: a label map must be single-channel class indices, got shape {mask.shape}; "
            "convert colour masks to index PNGs (palette PNGs need 'pip install pillow')"
        )
    if mask.dtype != np.uint8:
        if mask.size and (mask.min() < 0 or mask.max() > 255):
            raise ValueError(f"{path}: label values must fit in 0..255, found {mask.min()}..{mask.max()}")
        mask = mask.astype(np.uint8)
    return mask


@TRANSFORMS.register_module()
class LoadImageFromFile:
    """Read ``results['img_path']`` into ``img`` (H, W, 3) BGR uint8 (float32 if ``to_float32``).

    Sets ``img_shape`` and ``ori_shape`` (H, W). With ``ignore_empty`` a missing file returns None.
    """

    def __init__(
        self,
        to_float32: bool = False,
        color_type: str = "color",
        imdecode_backend: str = "cv2",
        file_client_args: dict | None = None,
        ignore_empty: bool = False,
        *,
        backend_args: dict | None = None,
    ) -> None:
        warn_unused(type(self).__name__, file_client_args=file_client_args, backend_args=backend_args)
        if color_type not in _CV2_FLAGS:
            raise ValueError(f"LoadImageFromFile: color_type must be one of {list(_CV2_FLAGS)}, got {color_type!r}")
        if imdecode_backend not in _BACKENDS:
            raise ValueError(f"LoadImageFromFile: imdecode_backend must be one of {list(_BACKENDS)}")
        self.to_float32 = to_float32
        self.color_type = color_type
        self.imdecode_backend = imdecode_backend
        self.ignore_empty = ignore_empty
        self.backend_args = backend_args  # only local files are supported; kept for config compatibility

    def __call__(self, results: dict) -> dict | None:
        path = results["img_path"]
        if self.ignore_empty and not os.path.isfile(path):
            return None
        img = imread(path, self.color_type, self.imdecode_backend)
        if self.to_float32:
            img = img.astype(np.float32)
        results["img"] = img
        results["img_shape"] = img.shape[:2]
        results["ori_shape"] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(ignore_empty={self.ignore_empty}, to_float32={self.to_float32}, "
            f"color_type={self.color_type!r}, imdecode_backend={self.imdecode_backend!r})"
        )


@TRANSFORMS.register_module()
class LoadImageFromNDArray:
    """Take ``results['img']`` (H, W, C) as already loaded (inference on arrays); sets the shape keys."""

    def __init__(
        self,
        to_float32: bool = False,
        color_type: str = "color",
        imdecode_backend: str = "cv2",
        file_client_args: dict | None = None,
        ignore_empty: bool = False,
        *,
        backend_args: dict | None = None,
    ) -> None:
        # MMSeg's LoadImageFromNDArray takes LoadImageFromFile's arguments; only to_float32 applies to an array.
        warn_unused("LoadImageFromNDArray", color_type=color_type, imdecode_backend=imdecode_backend,
                    file_client_args=file_client_args, ignore_empty=ignore_empty, backend_args=backend_args)
        self.to_float32 = to_float32

    def __call__(self, results: dict) -> dict:
        img = results["img"]
        if self.to_float32:
            img = img.astype(np.float32)
        results["img"] = img
        results.setdefault("img_path", None)
        results["img_shape"] = img.shape[:2]
        results["ori_shape"] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(to_float32={self.to_float32})"


@TRANSFORMS.register_module()
class LoadAnnotations:
    """Read ``results['seg_map_path']`` into ``gt_seg_map`` (H, W) uint8 class indices.

    Order as in MMSeg: ``reduce_zero_label`` (0 -> 255, v -> v-1) then ``label_map`` (old -> new id).
    ``reduce_zero_label=None`` follows the dataset's value in ``results``, so it is set once, on the
    dataset. When the dataset put ``num_classes`` in ``results``, labels outside 0..num_classes-1 that
    are not ``ignore_index`` raise, as does a mask whose size differs from the loaded image.

    Colour-coded masks: ``color_map`` (a palette ``[[r, g, b], ...]`` with index = class, or a dict
    ``{(r, g, b): class_id}``) reads the mask as RGB and maps each colour to its id before the steps
    above; a dataset built with ``rgb_label=True`` supplies its palette as ``results['color_map']``
    instead. A colour not in the map raises naming the file and the colours.
    """

    def __init__(
        self,
        reduce_zero_label: bool | None = None,
        backend_args: dict | None = None,
        imdecode_backend: str = "pillow",
        color_map: ColorMap | None = None,
    ) -> None:
        warn_unused(type(self).__name__, backend_args=backend_args)
        self.reduce_zero_label = reduce_zero_label
        self.backend_args = backend_args
        self.imdecode_backend = imdecode_backend
        self.color_map = color_map
        self._lookup = None if color_map is None else ColorLookup(color_map, owner="LoadAnnotations")
        self._dataset_lookups: dict[str, ColorLookup] = {}  # palette repr -> lookup, built once per dataset

    def _read_colour(self, path: str, color_map: ColorMap | None) -> np.ndarray:
        lookup = self._lookup
        if lookup is None:
            key = repr(color_map)
            lookup = self._dataset_lookups.get(key)
            if lookup is None:
                lookup = self._dataset_lookups[key] = ColorLookup(color_map, owner="LoadAnnotations")
        if self.imdecode_backend == "tifffile":
            rgb = imread(path, "unchanged", "tifffile")  # tifffile keeps the file's RGB order
        else:
            rgb = imread(path, "color", "cv2")[..., ::-1]  # OpenCV decodes to BGR
        if rgb.ndim != 3 or rgb.shape[2] < 3:
            raise ValueError(f"{path}: a colour-coded mask must have 3 channels, got shape {rgb.shape}")
        return lookup(np.ascontiguousarray(rgb[..., :3]), path)

    def __call__(self, results: dict) -> dict:
        path = results["seg_map_path"]
        if self._lookup is not None or results.get("color_map") is not None:
            seg = self._read_colour(path, results.get("color_map"))
        else:
            seg = read_mask(path, self.imdecode_backend)
        dataset_rzl = results.get("reduce_zero_label")
        rzl = self.reduce_zero_label
        if rzl is None:
            rzl = bool(dataset_rzl)
        elif dataset_rzl is not None and bool(dataset_rzl) != bool(rzl):
            raise ValueError(
                f"LoadAnnotations(reduce_zero_label={rzl}) disagrees with the dataset's "
                f"reduce_zero_label={dataset_rzl}; set it on the dataset only and leave LoadAnnotations' at None"
            )
        if rzl:
            # 0 ("other"/unlabelled) becomes ignore; uint8 wrap-around turns 0-1 into 255 directly.
            seg = seg.copy()
            seg[seg == 0] = 255
            seg = seg - 1
            seg[seg == 254] = 255
        label_map = results.get("label_map")
        if label_map and seg.dtype == np.uint8 and all(0 <= k < 256 and 0 <= v < 256 for k, v in label_map.items()):
            # One table lookup maps from the original values, so chained ids (1->2, 2->3) don't collide.
            table = np.arange(256, dtype=np.uint8)
            table[list(label_map)] = list(label_map.values())
            seg = cv2.LUT(seg, table) if seg.flags.c_contiguous else table[seg]
        elif label_map:
            src = seg.copy()  # map from the original values so chained ids (1->2, 2->3) don't collide
            for old_id, new_id in label_map.items():
                seg[src == old_id] = new_id
        # Compare with the image as read (ori_shape): test pipelines resize the image before loading the mask.
        img_hw = results.get("ori_shape") or (results["img"].shape[:2] if "img" in results else None)
        if img_hw is not None and tuple(seg.shape[:2]) != tuple(img_hw[:2]):
            raise ValueError(
                f"{path}: mask size {seg.shape[:2]} differs from image {results.get('img_path')} size "
                f"{tuple(img_hw[:2])} (H, W); masks must be pixel-aligned with their images"
            )
        num_classes = results.get("num_classes")
        if num_classes is not None:
            ignore_index = results.get("ignore_index", 255)
            bad = (seg >= num_classes) & (seg != ignore_index)
            if bad.any():
                values = np.unique(seg[bad]).tolist()
                raise ValueError(
                    f"{path}: label values {values[:10]} exceed num_classes-1={num_classes - 1} and are not the "
                    f"ignore index {ignore_index}; check the dataset's classes, reduce_zero_label ({rzl}) or "
                    "label_map, or fix the mask"
                )
        results["gt_seg_map"] = seg
        results.setdefault("seg_fields", [])
        if "gt_seg_map" not in results["seg_fields"]:
            results["seg_fields"].append("gt_seg_map")
        return results

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(reduce_zero_label={self.reduce_zero_label}, "
            f"imdecode_backend={self.imdecode_backend!r}, color_map={'yes' if self._lookup else None})"
        )
