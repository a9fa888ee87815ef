"""``seglab check-dataset``: open every raw image/mask pair of a split and report what is wrong.

Reads the files directly (no augmentation pipeline): images with ``cv2.IMREAD_UNCHANGED``, masks
with the split's ``LoadAnnotations`` (so ``reduce_zero_label`` and ``label_map`` apply as in training).

Errors (exit 1): missing or unreadable files, size mismatches, mask values that are neither a class
nor ``ignore_index``, an empty split, masks holding only {0, ignore_index} (0/255 binary masks read
with the default ignore_index 255: the foreground would be ignored), and classes without pixels
while nearly all pixels (>= 90%) are ignored. Warnings: masks without a labelled pixel, images whose
channel count differs from the rest, and classes without pixels while most pixels are ignored.
"""
from __future__ import annotations

import argparse
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ._common import build_dataset, describe_names, load_config, progress, split_dataset_cfgs

__all__ = ["Report", "SampleResult", "add_parser", "check_dataset", "class_weights", "run", "scan_pairs"]


@dataclass
class SampleResult:
    """What one image/mask pair contained; ``hist`` counts mask values 0..255 after label mapping."""

    name: str
    img_shape: tuple | None = None
    img_dtype: str | None = None
    hist: np.ndarray | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)  # (kind, message)


@dataclass
class Report:
    """Findings for one split; ``ok`` is False when any error (not warning) was found."""

    classes: list[str]
    ignore_index: int
    num_pairs: int = 0
    missing_masks: list[str] = field(default_factory=list)
    missing_images: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    size_mismatches: list[str] = field(default_factory=list)
    bad_labels: list[str] = field(default_factory=list)
    label_problems: list[str] = field(default_factory=list)  # whole-split findings about the label values
    warnings: list[str] = field(default_factory=list)
    hints: dict[str, str] = field(default_factory=dict)  # missing file -> where it was looked for
    class_pixels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    presence_pixels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    ignore_pixels: int = 0
    image_sizes: Counter = field(default_factory=Counter)
    channels: Counter = field(default_factory=Counter)
    dtypes: Counter = field(default_factory=Counter)
    chart_path: str | None = None

    @property
    def num_errors(self) -> int:
        """Number of problems found (each missing file, unreadable file, mismatch, bad mask)."""
        return (len(self.missing_masks) + len(self.missing_images) + len(self.unreadable)
                + len(self.size_mismatches) + len(self.bad_labels) + len(self.label_problems))

    @property
    def ok(self) -> bool:
        """True when no error was found."""
        return self.num_errors == 0

    @property
    def median_frequency_weights(self) -> list[float]:
        """Median-frequency balancing (Eigen & Fergus 2015), one weight per class."""
        return class_weights(self.class_pixels, self.presence_pixels, "median_frequency")

    @property
    def log_inverse_weights(self) -> list[float]:
        """Log-inverse frequency 1/ln(1.02 + p_c) (ENet, Paszke et al. 2016), one weight per class."""
        return class_weights(self.class_pixels, self.presence_pixels, "log_inverse")

    def format(self) -> str:
        """The human-readable report."""
        lines = [f"checked {self.num_pairs} image/mask pairs, {len(self.classes)} classes, ignore_index={self.ignore_index}"]
        problems = [
            ("images without a mask", self.missing_masks),
            ("masks without an image", self.missing_images),
            ("unreadable or corrupt files", self.unreadable),
            ("image/mask size mismatches", self.size_mismatches),
            ("masks with labels outside 0..num_classes-1 and ignore_index", self.bad_labels),
            ("problems with the label values", self.label_problems),
        ]
        for title, items in problems:
            if items:
                lines.append(f"ERROR {len(items)} {title}:")
                lines.extend(f"  {item}: {self.hints[item]}" if item in self.hints else f"  {item}"
                             for item in items[:50])
                if len(items) > 50:
                    lines.append(f"  ... and {len(items) - 50} more")
        lines.append("")
        lines.append("images: " + self._summary())
        lines.append("")
        lines.extend(self._histogram_table())
        if self.chart_path:
            lines.append(f"bar chart: {self.chart_path}")
        lines.append("")
        absent = [c for c, n in zip(self.classes, self.class_pixels) if n == 0]
        if absent:
            lines.append(f"warning: classes with no pixels (weight 0): {describe_names(absent)}")
        lines.extend(f"warning: {w}" for w in self.warnings)
        lines.append("# suggested class weights for CrossEntropyLoss(class_weight=...)")
        lines.append("# median-frequency balancing (Eigen & Fergus 2015): w_c = median(f) / f_c,")
        lines.append("#   f_c = pixels of c / labelled pixels of the images that contain c")
        lines.append(f"class_weight={self.median_frequency_weights}")
        lines.append("# log-inverse frequency (ENet, Paszke et al. 2016): w_c = 1 / ln(1.02 + p_c),")
        lines.append("#   p_c = pixels of c / all labelled pixels")
        lines.append(f"class_weight={self.log_inverse_weights}")
        lines.append("")
        lines.append("OK: no errors found" if self.ok else f"FAILED: {self.num_errors} errors found")
        return "\n".join(lines)

    def _summary(self) -> str:
        if not self.image_sizes:
            return "none readable"
        sizes = ", ".join(f"{h}x{w} (HxW) x{n}" for (h, w), n in self.image_sizes.most_common(5))
        more = len(self.image_sizes) - 5
        sizes += f", and {more} other sizes" if more > 0 else ""
        hs = [h for h, _ in self.image_sizes]
        ws = [w for _, w in self.image_sizes]
        chans = ", ".join(f"{c} channels x{n}" for c, n in sorted(self.channels.items()))
        dtypes = ", ".join(f"{d} x{n}" for d, n in sorted(self.dtypes.items()))
        return (f"{sizes}; height {min(hs)}..{max(hs)}, width {min(ws)}..{max(ws)}; "
                f"{chans}; dtype {dtypes}")

    def _histogram_table(self) -> list[str]:
        total = int(self.class_pixels.sum())
        width = max([len(c) for c in self.classes] + [5])
        rows = [f"{'id':>3}  {'class':<{width}}  {'pixels':>14}  {'share':>7}"]
        for i, (name, n) in enumerate(zip(self.classes, self.class_pixels)):
            rows.append(f"{i:>3}  {name:<{width}}  {int(n):>14}  {100.0 * n / max(total, 1):>6.2f}%")
        rows.append(f"{'':>3}  {'(ignored)':<{width}}  {self.ignore_pixels:>14}")
        return rows


def class_weights(class_pixels: np.ndarray, presence_pixels: np.ndarray, method: str) -> list[float]:
    """Per-class loss weights from pixel counts (K,); absent classes get 0.

    ``presence_pixels[c]`` is the labelled-pixel total of the images in which class c appears.
    ``method``: 'median_frequency' or 'log_inverse'.
    """
    counts = np.asarray(class_pixels, dtype=np.float64)
    present = counts > 0
    weights = np.zeros_like(counts)
    if not present.any():
        return weights.tolist()
    if method == "median_frequency":
        freq = counts[present] / np.asarray(presence_pixels, dtype=np.float64)[present]
        weights[present] = np.median(freq) / freq
    elif method == "log_inverse":
        p = counts[present] / counts.sum()
        weights[present] = 1.0 / np.log(1.02 + p)
    else:
        raise ValueError(f"unknown class-weight method {method!r}; use 'median_frequency' or 'log_inverse'")
    return [round(float(w), 4) for w in weights]


# ----------------------------------------------------------------------------------------------- scanning
def _stems(folder: str, suffix: str) -> dict[str, str]:
    from seglab.datasets.basesegdataset import list_files

    return {p[: len(p) - len(suffix)]: os.path.join(folder, p) for p in list_files(folder, suffix)}


def scan_pairs(dataset: Any) -> tuple[list[tuple[str, str, str]], list[str], list[str]]:
    """Return ``(pairs, missing_masks, missing_images)``; pairs are (name, img_path, seg_map_path).

    Follows the dataset's own rules (``ann_file`` list, or a recursive scan of ``data_prefix`` with the
    suffixes) but never stops at the first missing file. A dataset class with its own
    ``load_data_list`` is asked for its list, and each listed file is checked for existence.
    """
    from seglab.datasets import BaseSegDataset

    if type(dataset).load_data_list is not BaseSegDataset.load_data_list:
        dataset.full_init()
        pairs, no_mask, no_img = [], [], []
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            img, seg = info["img_path"], info.get("seg_map_path")
            name = os.path.basename(img)
            if not os.path.isfile(img):
                no_img.append(seg or img)
            elif seg is None or not os.path.isfile(seg):
                no_mask.append(img)
            else:
                pairs.append((name, img, seg))
        return pairs, no_mask, no_img
    img_dir = dataset.data_prefix.get("img_path", "")
    ann_dir = dataset.data_prefix.get("seg_map_path", "")
    img_sfx, seg_sfx = dataset.img_suffix, dataset.seg_map_suffix
    for what, folder in (("image", img_dir), ("label", ann_dir)):
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"{what} folder '{folder}' does not exist; check data_root and data_prefix")
    if dataset.ann_file and not os.path.isdir(dataset.ann_file):
        with open(dataset.ann_file) as f:
            names = [line.strip() for line in f if line.strip()]
        imgs = {n: os.path.join(img_dir, n + img_sfx) for n in names}
        segs = {n: os.path.join(ann_dir, n + seg_sfx) for n in names}
        no_img = [segs[n] for n in names if not os.path.isfile(imgs[n])]
        no_mask = [imgs[n] for n in names if os.path.isfile(imgs[n]) and not os.path.isfile(segs[n])]
        pairs = [(n, imgs[n], segs[n]) for n in names if os.path.isfile(imgs[n]) and os.path.isfile(segs[n])]
        return pairs, no_mask, no_img
    imgs = _stems(img_dir, img_sfx)
    segs = _stems(ann_dir, seg_sfx)
    no_mask = sorted(imgs[s] for s in imgs if s not in segs)
    # Images and masks in one folder: other files there are not necessarily masks without an image.
    same = os.path.samefile(img_dir, ann_dir)
    no_img = [] if same else sorted(segs[s] for s in segs if s not in imgs)
    pairs = [(s, imgs[s], segs[s]) for s in sorted(imgs) if s in segs]
    return pairs, no_mask, no_img


def _mask_loader(dataset: Any, pipeline_cfg: list | None) -> Any:
    """The split's LoadAnnotations (from the config's pipeline), or a default one."""
    from seglab.datasets.transforms import LoadAnnotations
    from seglab.registry import TRANSFORMS

    for step in pipeline_cfg or []:
        if isinstance(step, dict) and str(step.get("type", "")).rsplit(".", 1)[-1] == "LoadAnnotations":
            return TRANSFORMS.build(dict(step))
        if isinstance(step, LoadAnnotations):
            return step
    return LoadAnnotations()


def _check_one(name: str, img_path: str, seg_path: str, loader: Any, info: dict) -> SampleResult:
    res = SampleResult(name=name)
    img = None
    try:
        buf = np.fromfile(img_path, dtype=np.uint8)
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
    except OSError as exc:
        res.errors.append(("unreadable", f"{img_path}: {exc}"))
    if img is None and not res.errors:
        res.errors.append(("unreadable", f"{img_path}: cannot decode the image (empty, corrupt or not an image)"))
    if img is not None:
        res.img_shape = tuple(img.shape)
        res.img_dtype = str(img.dtype)
    try:
        seg = loader(dict(seg_map_path=seg_path, reduce_zero_label=info["reduce_zero_label"],
                          label_map=info["label_map"], color_map=info["color_map"], seg_fields=[]))["gt_seg_map"]
    except (OSError, ValueError) as exc:
        res.errors.append(("unreadable", str(exc) if seg_path in str(exc) else f"{seg_path}: {exc}"))
        return res
    if img is not None and tuple(img.shape[:2]) != tuple(seg.shape[:2]):
        msg = (f"{name}: image {img_path} is {img.shape[0]}x{img.shape[1]} (HxW) but mask "
               f"{seg_path} is {seg.shape[0]}x{seg.shape[1]}")
        res.errors.append(("size", msg))
    res.hist = np.bincount(seg.ravel(), minlength=256).astype(np.int64)
    num_classes, ignore = info["num_classes"], info["ignore_index"]
    bad = [v for v in np.flatnonzero(res.hist) if v >= num_classes and v != ignore]
    if bad:
        msg = (f"{seg_path}: values {[int(v) for v in bad[:10]]} are outside 0..{num_classes - 1} and not "
               f"ignore_index {ignore} ({int(res.hist[bad].sum())} pixels); name them in the classes, map them "
               "with label_map={value: class id} (or to the ignore index), or check reduce_zero_label")
        res.errors.append(("labels", msg))
    return res


def check_dataset(dataset: Any, workers: int = 4, out_dir: str | None = None,
                  pipeline_cfg: list | None = None, show_progress: bool = True) -> Report:
    """Open every image/mask pair of ``dataset`` (a BaseSegDataset, built with lazy_init) and report.

    ``pipeline_cfg`` is the split's pipeline config, used only to find its ``LoadAnnotations``;
    ``out_dir`` receives ``class_histogram.png`` when given.
    """
    meta = dataset.metainfo
    classes = [str(c) for c in meta.get("classes") or []]
    if not classes:
        raise ValueError(f"{type(dataset).__name__} has no class names; set metainfo=dict(classes=...)")
    k = len(classes)
    report = Report(classes=classes, ignore_index=dataset.ignore_index)
    pairs, report.missing_masks, report.missing_images = scan_pairs(dataset)
    report.num_pairs = len(pairs)
    loader = _mask_loader(dataset, pipeline_cfg if pipeline_cfg is not None else None)
    info = dict(reduce_zero_label=dataset.reduce_zero_label, label_map=dataset.label_map,
                color_map=getattr(dataset, "color_map", None),
                num_classes=k, ignore_index=dataset.ignore_index)
    report.class_pixels = np.zeros(k, np.int64)
    report.presence_pixels = np.zeros(k, np.int64)
    channels_by_name: dict[str, int] = {}
    empty_masks: list[str] = []
    seen_values = np.zeros(256, bool)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:  # cv2 decoding releases the GIL
        results = pool.map(lambda p: _check_one(p[0], p[1], p[2], loader, info), pairs)
        if show_progress:
            results = progress(results, len(pairs), desc="checking")
        for res in results:
            for kind, msg in res.errors:
                {"unreadable": report.unreadable, "size": report.size_mismatches,
                 "labels": report.bad_labels}[kind].append(msg)
            if res.img_shape is not None:
                report.image_sizes[res.img_shape[:2]] += 1
                channels = 1 if len(res.img_shape) == 2 else res.img_shape[2]
                report.channels[channels] += 1
                channels_by_name[res.name] = channels
                report.dtypes[res.img_dtype] += 1
            if res.hist is not None:
                counts = res.hist[:k]
                report.class_pixels += counts
                report.presence_pixels += (counts > 0) * counts.sum()
                if 0 <= report.ignore_index < 256:
                    report.ignore_pixels += int(res.hist[report.ignore_index])
                seen_values |= res.hist > 0
                if counts.sum() == 0:
                    empty_masks.append(res.name)
    _check_split(report, dataset, pairs, channels_by_name, empty_masks, seen_values)
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        report.chart_path = os.path.join(out_dir, "class_histogram.png")
        palette = meta.get("palette") or [[128, 128, 128]] * k
        draw_histogram(report.class_pixels, classes, palette, report.chart_path)
    return report


def _check_split(report: Report, dataset: Any, pairs: list, channels_by_name: dict[str, int],
                 empty_masks: list[str], seen_values: np.ndarray) -> None:
    """Whole-split findings: empty split, suspicious label values, missing-file hints, odd images."""
    ignore = report.ignore_index
    if not pairs:
        from seglab.datasets.basesegdataset import suffixes_found

        where = dataset.ann_file or dataset.data_prefix.get("img_path")
        report.label_problems.append(
            f"the split is empty: no image/mask pairs in '{where}' (img_suffix={dataset.img_suffix!r}, "
            f"seg_map_suffix={dataset.seg_map_suffix!r}){suffixes_found(dataset.data_prefix.get('img_path'))}; "
            "check data_root, data_prefix, ann_file and the suffixes")
    values = {int(v) for v in np.flatnonzero(seen_values)}
    if 0 <= ignore < 256 and values == {0, ignore}:
        report.label_problems.append(
            f"masks hold only {{0, {ignore}}}: {ignore} is ignore_index, so every non-zero pixel is ignored and "
            f"the model only ever sees class 0 ({report.classes[0]}); for binary masks stored as 0/{ignore} use "
            f"label_map={{{ignore}: 1}} on the dataset, or rewrite the masks as 0/1 with "
            "`seglab dataset-convert binary-mask SRC DST`")
    labelled = int(report.class_pixels.sum())
    absent = [c for c, n in zip(report.classes, report.class_pixels) if n == 0]
    total = labelled + report.ignore_pixels
    share = report.ignore_pixels / total if total else 0.0
    if absent and pairs and share > 0.5 and values != {0, ignore}:
        msg = (f"{describe_names(absent)} {'has' if len(absent) == 1 else 'have'} no pixels while "
               f"{100 * share:.1f}% of the mask pixels equal ignore_index {ignore}; check ignore_index, "
               "reduce_zero_label and label_map (a mask value that should be a class may be mapped to ignore)")
        (report.label_problems if share >= 0.9 else report.warnings).append(msg)
    for name in empty_masks:
        report.warnings.append(f"{name}: the mask has no labelled pixel (every pixel is ignore_index {ignore})")
    if len(set(channels_by_name.values())) > 1:
        usual = Counter(channels_by_name.values()).most_common(1)[0][0]
        odd = sorted(n for n, c in channels_by_name.items() if c != usual)
        shown = describe_names([f"{n} ({channels_by_name[n]} channels)" for n in odd], limit=10)
        report.warnings.append(f"{len(odd)} images have a channel count other than the usual {usual}: {shown}; "
                               "the loader converts them (color_type) or training fails on a channel mismatch")
    _missing_hints(report, dataset)


def _missing_hints(report: Report, dataset: Any) -> None:
    """For each missing image/mask: where it was looked for and the suffix of a same-stem file found."""
    from seglab.datasets import BaseSegDataset
    from seglab.datasets.basesegdataset import suffix_hint

    if type(dataset).load_data_list is not BaseSegDataset.load_data_list:
        return  # a dataset with its own file naming: its list names the files already
    img_dir = dataset.data_prefix.get("img_path", "")
    ann_dir = dataset.data_prefix.get("seg_map_path", "")
    for seg_path in report.missing_images:
        rel = os.path.relpath(seg_path, ann_dir)
        if rel.endswith(dataset.seg_map_suffix):
            stem = rel[: len(rel) - len(dataset.seg_map_suffix)]
            report.hints[seg_path] = suffix_hint(img_dir, stem, dataset.img_suffix, "img_suffix")
    for img_path in report.missing_masks:
        rel = os.path.relpath(img_path, img_dir)
        if rel.endswith(dataset.img_suffix):
            stem = rel[: len(rel) - len(dataset.img_suffix)]
            report.hints[img_path] = suffix_hint(ann_dir, stem, dataset.seg_map_suffix, "seg_map_suffix")


def draw_histogram(counts: np.ndarray, classes: list[str], palette: list, path: str) -> np.ndarray:
    """Write a horizontal bar chart (one row per class, bar in the class colour) to ``path``; return it."""
    row, left, bar_w, right = 20, 12 + 8 * max([len(c) for c in classes] + [4]), 400, 80
    img = np.full((row * len(classes) + 20, left + bar_w + right, 3), 255, np.uint8)
    total = max(int(np.sum(counts)), 1)
    top = max(int(np.max(counts)), 1) if len(counts) else 1
    for i, (name, n) in enumerate(zip(classes, counts)):
        y = 10 + i * row
        r, g, b = (int(v) for v in palette[i % len(palette)])
        length = round(bar_w * int(n) / top)
        cv2.putText(img, name, (6, y + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        if length:
            cv2.rectangle(img, (left, y + 3), (left + length, y + row - 3), (b, g, r), -1)
        cv2.rectangle(img, (left, y + 3), (left + max(length, 1), y + row - 3), (0, 0, 0), 1)
        cv2.putText(img, f"{100.0 * int(n) / total:.2f}%", (left + bar_w + 6, y + 14),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    if not cv2.imwrite(path, img):
        raise OSError(f"cannot write the histogram chart to {path}")
    return img


# ----------------------------------------------------------------------------------------------- CLI
def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``check-dataset`` on an argparse subparsers object."""
    from seglab.config import DictAction

    p = subparsers.add_parser("check-dataset", help="check a split's raw images and masks; exit 1 on errors",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="config file")
    p.add_argument("--split", default="train", choices=["train", "val", "test"],
                   help="which <split>_dataloader.dataset to check (default: train)")
    p.add_argument("--cfg-options", nargs="+", action=DictAction, default={},
                   help="override config keys, e.g. train_dataloader.dataset.data_root=data/x")
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="reader threads")
    p.add_argument("--out-dir", default=None, help="folder for class_histogram.png")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run the check for ``args``; print the report; 1 when errors were found, else 0."""
    cfg = load_config(args.config, args.cfg_options)
    ds_cfgs = split_dataset_cfgs(cfg, args.split)
    failed = False
    for i, ds_cfg in enumerate(ds_cfgs):
        if len(ds_cfgs) > 1:
            print(f"== dataset {i + 1}/{len(ds_cfgs)}: {ds_cfg.get('type')} {ds_cfg.get('data_root', '')}")
        dataset = build_dataset(ds_cfg, lazy_init=True, pipeline=[])
        out_dir = args.out_dir
        if out_dir and len(ds_cfgs) > 1:
            out_dir = os.path.join(out_dir, f"dataset{i}")
        report = check_dataset(dataset, workers=args.workers, out_dir=out_dir,
                               pipeline_cfg=ds_cfg.get("pipeline"))
        print(report.format())
        failed = failed or not report.ok
    return 1 if failed else 0
