"""``seglab new-config IMAGES MASKS``: scan your folders and write a config that trains without edits.

Pairs images with masks by name, reports what it found (count, sizes, channels, bit depth, mask values
and their pixel shares), recognises 0/255 and 0/1 binary masks, colour-coded RGB masks, grayscale and
multi-band images, and writes a FolderSegDataset config with a seeded train/val split (split files next
to the config; nothing is copied), classes, palette, label_map, mean/std of the training images,
in_channels, a small FCN and a schedule sized for the data and the device. Every choice is a comment
in the file.
"""
from __future__ import annotations

import argparse
import os
from typing import Any

from .plan import MODELS, LabelPlan, SchedulePlan, crop_size, model_cfg, plan_labels, plan_schedule, split_stems
from .render import render_config
from .scan import FolderPairs, ImageStats, MaskStats, ScanError, pair_folders, scan_images, scan_masks

__all__ = ["ScanError", "add_parser", "new_config", "run"]


class Raw(str):
    """A name written into the config as is (a reference to an earlier variable)."""

    def __repr__(self) -> str:
        return str(self)


def _scan_split(images: str, masks: str, stats_stems: list[str] | None) -> tuple[FolderPairs, ImageStats, MaskStats]:
    pairs = pair_folders(images, masks)
    img_stats = scan_images(images, pairs.stems, pairs.img_suffix, stats_stems or pairs.stems)
    mask_stats = scan_masks(masks, pairs.stems, pairs.seg_map_suffix)
    wrong = [s for s in pairs.stems if img_stats.shapes[s] != mask_stats.sizes[s]][:5]
    if wrong:
        detail = ", ".join(f"{s} (image {img_stats.shapes[s]}, mask {mask_stats.sizes[s]})" for s in wrong)
        raise ScanError(f"masks must have their image's size (H, W): {detail}")
    return pairs, img_stats, mask_stats


def _report(pairs: FolderPairs, images: ImageStats, masks: MaskStats, labels: LabelPlan, where: str) -> list[str]:
    """The human-readable findings (also the header of the config)."""
    sizes = ", ".join(f"{h}x{w} x{n}" for (h, w), n in images.sizes.most_common(4))
    more = len(images.sizes) - 4
    kind = {"gray": "grayscale", "color": "colour (3 channels)", "bands": f"multi-band ({images.channels} bands)"}
    lines = [f"{where}: {len(pairs.stems)} image/mask pairs (img_suffix={pairs.img_suffix!r}, "
             f"seg_map_suffix={pairs.seg_map_suffix!r})",
             f"  images: {kind[images.mode]}, {images.dtype}, sizes (HxW) {sizes}"
             + (f" and {more} other sizes" if more > 0 else "")
             + ("; stored as RGB with R=G=B, read as grayscale" if images.gray_stored_as_rgb else "")]
    for title, names in (("images without a mask (left out)", pairs.images_without_mask),
                         ("masks without an image (left out)", pairs.masks_without_image)):
        if names:
            lines.append(f"  {len(names)} {title}: {', '.join(names[:5])}" + (" ..." if len(names) > 5 else ""))
    what = "colours" if masks.kind == "color" else "values"
    lines.append(f"  masks: {'colour-coded RGB' if masks.kind == 'color' else 'single-channel'}; {what} and "
                 "pixel shares:")
    for i, (name, source, share) in enumerate(zip(labels.classes, labels.sources, labels.shares)):
        lines.append(f"    {source:<24} -> class {i} {name!r}: {100 * share:.2f}%")
    lines.extend(f"  {n}" for n in labels.notes)
    return lines


def new_config(images: str, masks: str, out: str, val_split: float = 0.2, val_images: str | None = None,
               val_masks: str | None = None, model: str | None = None, crop: tuple[int, int] | None = None,
               device: str | None = None) -> list[str]:
    """Scan the folders, write the config to ``out`` (and its split files), return the report lines."""
    if (val_images is None) != (val_masks is None):
        raise ScanError("give both --val-images and --val-masks, or neither (then --val-split is used)")
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    model = model or ("fcn-r18" if device.startswith("cuda") else "fcn-r18-tiny")
    images, masks = os.path.abspath(images), os.path.abspath(masks)
    pairs = pair_folders(images, masks)
    if val_images is None:
        train_stems, val_stems = split_stems(pairs.stems, val_split)
        split_note = (f"a seeded random split of the {len(pairs.stems)} pairs: {len(train_stems)} train, "
                      f"{len(val_stems)} val (--val-split {val_split}, seed 0)")
    else:
        train_stems = pairs.stems
        split_note = f"train: all {len(train_stems)} pairs of {images}; val: {val_images}"
    pairs, img_stats, mask_stats = _scan_split(images, masks, train_stems)
    labels = plan_labels(mask_stats)
    report = _report(pairs, img_stats, mask_stats, labels, images)
    val_dirs = (images, masks, pairs)
    if val_images is not None:
        val_pairs, val_img, val_mask = _scan_split(os.path.abspath(val_images), os.path.abspath(val_masks), None)
        if (val_img.mode, val_img.channels) != (img_stats.mode, img_stats.channels):
            raise ScanError(f"validation images are {val_img.mode} with {val_img.channels} channels but the training "
                            f"images are {img_stats.mode} with {img_stats.channels}; they must match")
        val_labels = plan_labels(val_mask) if len(val_mask.values) + len(val_mask.colours) > 1 else labels
        if (val_labels.label_map, val_labels.rgb_label) != (labels.label_map, labels.rgb_label) and \
                len(val_labels.classes) == len(labels.classes):
            raise ScanError("validation masks are encoded differently from the training masks "
                            f"({val_labels.notes[0]}); convert one set to match the other")
        val_stems = val_pairs.stems
        val_dirs = (os.path.abspath(val_images), os.path.abspath(val_masks), val_pairs)
        report += _report(val_pairs, val_img, val_mask, val_labels, val_dirs[0])

    out = os.path.abspath(out)
    split_dir = os.path.splitext(out)[0] + "_splits"
    os.makedirs(split_dir, exist_ok=True)
    for name, stems in (("train", train_stems), ("val", val_stems)):
        with open(os.path.join(split_dir, f"{name}.txt"), "w") as f:
            f.writelines(s + "\n" for s in stems)
    crop_hw = tuple(crop) if crop else crop_size(img_stats)
    schedule = plan_schedule(len(train_stems), crop_hw, device, os.cpu_count() or 1)
    text = _config_text(images, masks, pairs, val_dirs, split_dir, img_stats, labels, schedule, crop_hw, model,
                        device, split_note, report, out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write(text)
    return report


def _config_text(images: str, masks: str, pairs: FolderPairs, val_dirs: tuple, split_dir: str, img: ImageStats,
                 labels: LabelPlan, schedule: SchedulePlan, crop: tuple[int, int], model: str, device: str,
                 split_note: str, report: list[str], out: str) -> str:
    load_image = {"gray": dict(type="LoadImageFromFile", color_type="grayscale"),
                  "color": dict(type="LoadImageFromFile"),
                  "bands": dict(type="LoadSingleRSImageFromFile")}[img.mode]
    load_note = {"gray": "grayscale images: color_type='grayscale' reads one channel; one mean/std value; in_channels=1",
                 "color": "colour images: OpenCV reads BGR, bgr_to_rgb=True gives the model RGB; mean/std in RGB order",
                 "bands": f"{img.channels}-band {img.dtype} rasters: LoadSingleRSImageFromFile keeps every band in file "
                          "order as float32 (TIFF needs `pip install seglab[tiff]`); one mean/std value per band"}[img.mode]
    typical = img.sizes.most_common(1)[0][0]
    larger = any(h > crop[0] or w > crop[1] for h, w in img.sizes)
    test_cfg = (dict(mode="slide", crop_size=crop, stride=(max(1, crop[0] * 2 // 3), max(1, crop[1] * 2 // 3)))
                if larger else dict(mode="whole"))

    def dataset(img_dir: str, ann_dir: str, split: str, suffixes: FolderPairs, pipeline: str) -> dict:
        ds: dict[str, Any] = dict(type="FolderSegDataset", img_dir=img_dir, ann_dir=ann_dir,
                                  ann_file=os.path.join(split_dir, f"{split}.txt"), classes=Raw("classes"),
                                  palette=Raw("palette"), img_suffix=suffixes.img_suffix,
                                  seg_map_suffix=suffixes.seg_map_suffix)
        if labels.label_map:
            ds["label_map"] = Raw("label_map")
        if labels.rgb_label:
            ds["rgb_label"] = True
        ds["pipeline"] = Raw(pipeline)
        return ds

    iters, warm = schedule.max_iters, schedule.warmup
    sections: list[tuple[list[str], str, Any]] = [
        (["classes, from the masks (rename them freely; the order is the class index):"]
         + [f"  {i} {c!r}: {s}, {100 * p:.2f}% of the labelled pixels"
            for i, (c, s, p) in enumerate(zip(labels.classes, labels.sources, labels.shares))],
         "classes", tuple(labels.classes)),
        (["one RGB colour per class" + (" - the colours of the masks, mapped to class indices (rgb_label=True)"
                                        if labels.rgb_label else " (drawing only)")], "palette", labels.palette),
    ]
    if labels.label_map:
        sections.append((labels.notes, "label_map", labels.label_map))
    sections += [
        ([f"crop size (H, W): the smallest image is {min(s[0] for s in img.sizes)}x"
          f"{min(s[1] for s in img.sizes)}, capped at 512 and rounded down to a multiple of 8"
          + (" (set by --crop)" if crop != crop_size(img) else "")], "crop_size", crop),
        ([load_note, f"augmentation: random scale 0.5-2.0 around the usual size {typical[0]}x{typical[1]} (HxW), "
          "random crop, horizontal flip"], "train_pipeline", [
            load_image, dict(type="LoadAnnotations"),
            dict(type="RandomResize", scale=(typical[1], typical[0]), ratio_range=(0.5, 2.0), keep_ratio=True),
            dict(type="RandomCrop", crop_size=Raw("crop_size"), cat_max_ratio=0.75),
            dict(type="RandomFlip", prob=0.5), dict(type="PackSegInputs")]),
        (["evaluation at the original size"], "test_pipeline",
         [load_image, dict(type="LoadAnnotations"), dict(type="PackSegInputs")]),
        ([split_note, f"split files (one name per line): {split_dir}; images and masks stay where they are",
          f"batch {schedule.batch_size}; {schedule.num_workers} loader workers"
          + (" (tiny images decode faster than a worker starts)" if schedule.num_workers == 0 else "")],
         "train_dataloader", dict(batch_size=schedule.batch_size, num_workers=schedule.num_workers,
                                  persistent_workers=schedule.num_workers > 0,
                                  sampler=dict(type="InfiniteSampler", shuffle=True),
                                  dataset=dataset(images, masks, "train", pairs, "train_pipeline"))),
        (["one image at a time: images may differ in size"], "val_dataloader",
         dict(batch_size=1, num_workers=0, persistent_workers=False, sampler=dict(type="DefaultSampler", shuffle=False),
              dataset=dataset(val_dirs[0], val_dirs[1], "val", val_dirs[2], "test_pipeline"))),
        ([], "test_dataloader", Raw("val_dataloader")),
        (["IoU and Dice of every class (the best mIoU checkpoint is kept)"], "val_evaluator",
         dict(type="IoUMetric", iou_metrics=["mIoU", "mDice"])),
        ([], "test_evaluator", Raw("val_evaluator")),
        ([f"model: {model} - {MODELS[model][0]}; trained from scratch (no download)",
          f"in_channels={img.channels}, num_classes={len(labels.classes)} (decode and auxiliary head)",
          f"mean/std: per channel over {img.stats_images} training images",
          "test_cfg: " + ("sliding crop_size windows (some images are larger than the crop)" if larger
                          else "whole image")],
         "model", model_cfg(model, img.channels, len(labels.classes), img.mean, img.std, img.mode == "color",
                            crop, test_cfg)),
        (schedule.notes + [f"AdamW lr 0.003 with {warm} warm-up iterations, then poly decay to {iters}"],
         "optim_wrapper", dict(type="OptimWrapper", optimizer=dict(type="AdamW", lr=0.003, weight_decay=0.01))),
        ([], "param_scheduler", [
            dict(type="LinearLR", start_factor=0.1, begin=0, end=warm, by_epoch=False),
            dict(type="PolyLR", eta_min=1e-5, power=0.9, begin=warm, end=iters, by_epoch=False)]),
        ([f"validation and a checkpoint every {schedule.val_interval} iterations (and at the end); the best mIoU "
          "is kept"], "train_cfg", dict(type="IterBasedTrainLoop", max_iters=iters, val_interval=schedule.val_interval)),
        ([], "val_cfg", dict(type="ValLoop")),
        ([], "test_cfg", dict(type="TestLoop")),
        ([], "default_hooks", dict(
            timer=dict(type="IterTimerHook"),
            logger=dict(type="LoggerHook", interval=max(1, min(50, iters // 20)), log_metric_by_epoch=False),
            param_scheduler=dict(type="ParamSchedulerHook"),
            checkpoint=dict(type="CheckpointHook", by_epoch=False, interval=schedule.val_interval, max_keep_ckpts=1,
                            save_best="mIoU"),
            sampler_seed=dict(type="DistSamplerSeedHook"),
            visualization=dict(type="SegVisualizationHook"))),
        (["runtime"], "default_scope", "mmseg"),
        ([], "env_cfg", dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method="fork", opencv_num_threads=0),
                             dist_cfg=dict(backend="nccl"))),
        ([], "vis_backends", [dict(type="LocalVisBackend")]),
        ([], "visualizer", dict(type="SegLocalVisualizer", vis_backends=Raw("vis_backends"), name="visualizer")),
        ([], "log_processor", dict(by_epoch=False)),
        ([], "log_level", "INFO"),
        ([], "load_from", None),
        ([], "resume", False),
        (["seeded: the same config trains the same model"], "randomness", dict(seed=0)),
        ([], "work_dir", os.path.join("work_dirs", os.path.splitext(os.path.basename(out))[0])),
    ]
    header = ["Generated by `seglab new-config`; it trains as it is. What was found:"] + report + [
        "", f"check: seglab check-dataset {out} --split val", f"train: seglab train {out}"]
    return render_config(sections, header)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``new-config`` on an argparse subparsers object."""
    p = subparsers.add_parser("new-config", help="scan an image folder and a mask folder and write a training config",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", help="folder of images (png, jpg, tif, bmp, ...; searched recursively)")
    p.add_argument("masks", help="folder of masks named like their images")
    p.add_argument("--val-split", type=float, default=0.2, help="share of the pairs held out for validation")
    p.add_argument("--val-images", help="a separate validation image folder (instead of --val-split)")
    p.add_argument("--val-masks", help="the masks of --val-images")
    p.add_argument("--model", choices=sorted(MODELS), help="default: fcn-r18-tiny on CPU, fcn-r18 on a GPU")
    p.add_argument("--crop", type=int, nargs=2, metavar=("H", "W"), help="training crop size (default: from the images)")
    p.add_argument("--device", help="what the schedule is sized for: cpu or cuda (default: cuda if available)")
    p.add_argument("--out", default="my_config.py", help="config file to write (default: my_config.py)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Write the config; print what was found and the commands to check and train; 1 on a scan error."""
    try:
        report = new_config(args.images, args.masks, args.out, args.val_split, args.val_images, args.val_masks,
                            args.model, args.crop, args.device)
    except (ScanError, ImportError) as exc:  # ImportError: TIFF images without the tiff extra
        print(f"seglab new-config: {exc}")
        return 1
    print("\n".join(report))
    print(f"\nwrote {args.out} (split files in {os.path.splitext(args.out)[0]}_splits/)")
    print(f"check the data:  seglab check-dataset {args.out} && seglab check-dataset {args.out} --split val")
    print(f"train:           seglab train {args.out}")
    return 0
