"""Scan an image folder and a mask folder: pair files by stem and measure what a config must know.

Images: size, channels, bit depth, per-channel mean/std (in the order the model sees them: RGB for
colour images, band order for rasters). Masks: index masks (their values and pixel shares) or
colour-coded RGB masks (their colours), read exactly as ``LoadAnnotations`` reads them.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

import cv2
import numpy as np

from seglab.datasets.basesegdataset import list_files

__all__ = ["IMAGE_SUFFIXES", "FolderPairs", "ImageStats", "MaskStats", "pair_folders", "scan_images", "scan_masks"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".jp2")
MASK_SUFFIXES = (".png", ".bmp", ".tif", ".tiff", ".gif")
MAX_MEAN_STD_IMAGES = 500  # mean/std from at most this many (evenly spaced) training images
MAX_COLOURS = 64  # more distinct colours than this in RGB masks means lossy/anti-aliased masks, not classes


class ScanError(ValueError):
    """The folders cannot become a dataset as they are; the message says why and what to do."""


@dataclass
class FolderPairs:
    """Stems found in both folders (sorted) and the single suffix of each side."""

    stems: list[str]
    img_suffix: str
    seg_map_suffix: str
    images_without_mask: list[str] = field(default_factory=list)
    masks_without_image: list[str] = field(default_factory=list)


def _by_suffix(folder: str, suffixes: tuple[str, ...], what: str) -> dict[str, list[str]]:
    """suffix (as spelled on disk) -> stems, for the files under ``folder`` with an image suffix."""
    if not os.path.isdir(folder):
        raise ScanError(f"{what} folder '{folder}' does not exist")
    found: dict[str, list[str]] = {}
    for rel in list_files(folder, ""):
        stem, ext = os.path.splitext(rel)
        if ext.lower() in suffixes:
            found.setdefault(ext, []).append(stem)
    if not found:
        raise ScanError(f"no {what} files ({', '.join(suffixes)}) under '{folder}'")
    if len(found) > 1:
        shown = ", ".join(f"{ext} x{len(s)}" for ext, s in sorted(found.items(), key=lambda kv: -len(kv[1])))
        raise ScanError(f"{what} files in '{folder}' use several suffixes ({shown}); a dataset reads one suffix: "
                        "convert them to one format or move the others out")
    return found


def _common_tail(img_stems: set[str], mask_stems: list[str]) -> str:
    """A name tail that every mask adds to its image's stem ('_mask' for abc.png + abc_mask.png), or ''."""
    for img in sorted(img_stems, key=len, reverse=True):
        for mask in mask_stems:
            if mask.startswith(img) and len(mask) > len(img):
                tail = mask[len(img):]
                if all(m.endswith(tail) for m in mask_stems):
                    return tail
    return ""


def pair_folders(images: str, masks: str) -> FolderPairs:
    """Pair image and mask files by stem (``abc.jpg`` with ``abc.png``, or with ``abc_mask.png``)."""
    if os.path.isdir(images) and os.path.isdir(masks) and os.path.samefile(images, masks):
        raise ScanError(f"images and masks are both in '{images}'; put the masks in a folder of their own")
    imgs = _by_suffix(images, IMAGE_SUFFIXES, "image")
    segs = _by_suffix(masks, MASK_SUFFIXES, "mask")
    (img_suffix, img_stems), = imgs.items()
    (seg_suffix, mask_stems), = segs.items()
    img_set = set(img_stems)
    if not img_set & set(mask_stems):
        tail = _common_tail(img_set, mask_stems)
        mask_stems = [m[: len(m) - len(tail)] for m in mask_stems] if tail else mask_stems
        seg_suffix = tail + seg_suffix
    mask_set = set(mask_stems)
    stems = sorted(img_set & mask_set)
    if not stems:
        raise ScanError(f"no image in '{images}' has a mask of the same name in '{masks}' (e.g. image "
                        f"{sorted(img_set)[0]}{img_suffix}, mask {sorted(mask_set)[0]}{seg_suffix}); name each mask "
                        "like its image")
    return FolderPairs(stems, img_suffix, seg_suffix,
                       sorted(img_set - mask_set), sorted(mask_set - img_set))


# ------------------------------------------------------------------------------------------- images
@dataclass
class ImageStats:
    """What the images are; ``mode`` is 'gray', 'color' or 'bands' (how the config loads them)."""

    mode: str
    channels: int
    dtype: str
    sizes: Counter
    mean: list[float]
    std: list[float]
    stats_images: int
    gray_stored_as_rgb: bool = False
    shapes: dict[str, tuple[int, int]] = field(default_factory=dict)  # stem -> (H, W)


def _read_image(path: str) -> np.ndarray:
    """(H, W) or (H, W, C) as stored: TIFF through tifffile (any band count), others through OpenCV."""
    if path.lower().endswith((".tif", ".tiff")):
        from seglab.datasets.transforms.loading_extra import read_multiband

        img = read_multiband(path)
        return img[..., 0] if img.shape[2] == 1 else img
    img = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ScanError(f"{path}: cannot decode the image (empty, corrupt or not an image); re-create or remove it")
    return img


def _mode(channels: int, dtype: str, suffix: str, gray_rgb: bool) -> str:
    if dtype == "uint8" and (channels == 1 or gray_rgb):
        return "gray"
    if dtype == "uint8" and channels == 3 and suffix.lower() not in (".tif", ".tiff"):
        return "color"
    return "bands"  # rasters: TIFF, more than 3 bands, 16-bit or float


def scan_images(folder: str, stems: list[str], suffix: str, stats_stems: list[str]) -> ImageStats:
    """Read every image: one channel count and bit depth for all (else ScanError); mean/std over
    ``stats_stems`` (the training images) in the order the model sees the channels."""
    sizes: Counter = Counter()
    shapes: dict[str, tuple[int, int]] = {}
    channels: dict[str, int] = {}
    dtypes: dict[str, str] = {}
    gray_rgb = True
    stats_set = set(_evenly(stats_stems, MAX_MEAN_STD_IMAGES))
    sums: np.ndarray | None = None
    sq_sums: np.ndarray | None = None
    count = 0
    for stem in stems:
        path = os.path.join(folder, stem + suffix)
        img = _read_image(path)
        sizes[img.shape[:2]] += 1
        shapes[stem] = img.shape[:2]
        channels[stem] = 1 if img.ndim == 2 else img.shape[2]
        dtypes[stem] = str(img.dtype)
        if img.ndim == 3 and img.shape[2] == 3 and gray_rgb:
            gray_rgb = bool((img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all())
        if stem in stats_set:
            pixels = img.reshape(-1, channels[stem]).astype(np.float64)
            if sums is not None and pixels.shape[1] != sums.shape[0]:
                continue  # reported below as mixed channel counts
            sums = pixels.sum(0) + (0 if sums is None else sums)
            sq_sums = (pixels ** 2).sum(0) + (0 if sq_sums is None else sq_sums)
            count += pixels.shape[0]
    for what, per_image in (("channel counts", channels), ("bit depths", dtypes)):
        kinds = Counter(per_image.values())
        if len(kinds) > 1:
            usual = kinds.most_common(1)[0][0]
            odd = [f"{s}{suffix} ({per_image[s]})" for s in stems if per_image[s] != usual][:10]
            raise ScanError(f"images in '{folder}' mix {what} ({dict(kinds)}): {', '.join(odd)} differ from the "
                            f"usual {usual}; convert them so that every image has the same")
    n_ch = next(iter(channels.values()))
    dtype = next(iter(dtypes.values()))
    gray_rgb = gray_rgb and n_ch == 3
    mean = sums / max(count, 1)
    std = np.sqrt(np.maximum(sq_sums / max(count, 1) - mean ** 2, 0.0))
    mode = _mode(n_ch, dtype, suffix, gray_rgb)
    if mode == "color":
        mean, std = mean[::-1], std[::-1]  # OpenCV gives BGR; the model sees RGB (bgr_to_rgb=True)
    elif mode == "gray" and gray_rgb:
        mean, std = mean[:1], std[:1]
    elif mode == "bands" and n_ch in (3, 4) and not suffix.lower().endswith((".tif", ".tiff")):
        # OpenCV read BGR(A) here; the raster loader hands the model the file's RGB(A) order.
        order = [2, 1, 0, 3][:n_ch]
        mean, std = mean[order], std[order]
    std = np.maximum(std, 1e-3)  # a constant channel must not divide by zero
    return ImageStats(mode=mode, channels=1 if mode == "gray" else n_ch, dtype=dtype, sizes=sizes,
                      mean=[round(float(v), 3) for v in mean], std=[round(float(v), 3) for v in std],
                      stats_images=len(stats_set), gray_stored_as_rgb=gray_rgb, shapes=shapes)


def _evenly(items: list[str], limit: int) -> list[str]:
    if len(items) <= limit:
        return list(items)
    return [items[round(i * (len(items) - 1) / (limit - 1))] for i in range(limit)]


# -------------------------------------------------------------------------------------------- masks
@dataclass
class MaskStats:
    """Index masks: ``values`` -> pixel count; colour masks: ``colours`` (RGB) -> pixel count."""

    kind: str  # 'index' or 'color'
    values: Counter = field(default_factory=Counter)
    colours: Counter = field(default_factory=Counter)
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)


def _read_mask(path: str) -> tuple[str, np.ndarray]:
    """('index', (H, W)) or ('color', (H, W, 3) RGB), read as LoadAnnotations reads them."""
    from seglab.datasets.transforms.loading import imread, read_mask

    try:
        return "index", read_mask(path)
    except ValueError as exc:
        if "single-channel" not in str(exc):
            raise ScanError(str(exc)) from exc
    return "color", np.ascontiguousarray(imread(path, "color", "cv2")[..., ::-1])


def scan_masks(folder: str, stems: list[str], suffix: str) -> MaskStats:
    """Read every mask; all must be index masks or all colour masks (else ScanError)."""
    kinds: dict[str, str] = {}
    stats = MaskStats(kind="index")
    for stem in stems:
        path = os.path.join(folder, stem + suffix)
        kind, mask = _read_mask(path)
        kinds[stem] = kind
        stats.sizes[stem] = mask.shape[:2]
        if kind == "index":
            hist = np.bincount(mask.ravel(), minlength=256)
            stats.values.update({int(v): int(hist[v]) for v in np.flatnonzero(hist)})
        else:
            packed = (mask[..., 0].astype(np.int64) << 16) | (mask[..., 1].astype(np.int64) << 8) | mask[..., 2]
            keys, counts = np.unique(packed, return_counts=True)
            stats.colours.update({(int(k) >> 16, (int(k) >> 8) & 255, int(k) & 255): int(n)
                                  for k, n in zip(keys, counts)})
            if len(stats.colours) > MAX_COLOURS:
                raise ScanError(f"{path}: the colour masks hold more than {MAX_COLOURS} colours - lossy (JPEG) or "
                                "anti-aliased masks? save them losslessly with one colour per class, or convert "
                                "them with `seglab dataset-convert palette-mask SRC DST --palette FILE.json`")
    if len(set(kinds.values())) > 1:
        odd = [s + suffix for s in stems if kinds[s] == "color"][:10]
        raise ScanError(f"masks in '{folder}' mix single-channel index masks and colour masks ({', '.join(odd)} "
                        "are colour); convert them to one kind")
    stats.kind = next(iter(kinds.values()))
    return stats
