"""new-config's pieces: pairing by stem, image statistics, label decisions, split, config text."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from own_data_folders import make_cells

from seglab.cli import main
from seglab.config import Config
from seglab.tools.new_config import new_config
from seglab.tools.new_config.plan import crop_size, plan_labels, plan_schedule, split_stems
from seglab.tools.new_config.render import py
from seglab.tools.new_config.scan import MaskStats, ScanError, pair_folders, scan_images


def _touch(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        cv2.imwrite(str(folder / name), np.zeros((2, 2), np.uint8))


def test_pairs_by_stem_across_suffixes_and_reports_the_rest(tmp_path: Path) -> None:
    _touch(tmp_path / "im", "a.jpg", "b.jpg", "lonely.jpg")
    _touch(tmp_path / "ma", "a.png", "b.png", "orphan.png")
    pairs = pair_folders(str(tmp_path / "im"), str(tmp_path / "ma"))
    assert (pairs.stems, pairs.img_suffix, pairs.seg_map_suffix) == (["a", "b"], ".jpg", ".png")
    assert pairs.images_without_mask == ["lonely"] and pairs.masks_without_image == ["orphan"]


def test_mask_name_tail_becomes_the_suffix(tmp_path: Path) -> None:
    _touch(tmp_path / "im", "a.tif", "b.tif")
    _touch(tmp_path / "ma", "a_mask.png", "b_mask.png")
    pairs = pair_folders(str(tmp_path / "im"), str(tmp_path / "ma"))
    assert (pairs.stems, pairs.seg_map_suffix) == (["a", "b"], "_mask.png")


def test_mixed_suffixes_and_unmatched_names_fail(tmp_path: Path) -> None:
    _touch(tmp_path / "im", "a.jpg", "b.png", "c.png")
    _touch(tmp_path / "ma", "a.png")
    with pytest.raises(ScanError, match=r"several suffixes \(.png x2, .jpg x1\)"):
        pair_folders(str(tmp_path / "im"), str(tmp_path / "ma"))
    _touch(tmp_path / "im2", "x.png")
    with pytest.raises(ScanError, match="no image .* has a mask of the same name .*image x.png, mask a.png"):
        pair_folders(str(tmp_path / "im2"), str(tmp_path / "ma"))


def test_image_statistics_in_model_channel_order(tmp_path: Path) -> None:
    (tmp_path / "im").mkdir()
    bgr = np.zeros((2, 2, 3), np.uint8)
    bgr[..., 0], bgr[..., 2] = 10, np.array([[0, 100], [100, 0]])  # B constant 10, R 0/100
    cv2.imwrite(str(tmp_path / "im" / "a.png"), bgr)
    cv2.imwrite(str(tmp_path / "im" / "b.png"), bgr)
    stats = scan_images(str(tmp_path / "im"), ["a", "b"], ".png", ["a"])
    assert (stats.mode, stats.channels, stats.dtype, stats.stats_images) == ("color", 3, "uint8", 1)
    assert stats.mean == [50.0, 0.0, 10.0] and stats.std == [50.0, 0.001, 0.001]  # RGB order; std floor 1e-3
    assert stats.sizes == Counter({(2, 2): 2})


def test_16bit_png_is_a_raster_in_file_order(tmp_path: Path) -> None:
    (tmp_path / "im").mkdir()
    bgra = np.zeros((2, 2, 4), np.uint16)
    bgra[..., 0], bgra[..., 3] = 1000, 7  # B = 1000, alpha/4th band = 7
    cv2.imwrite(str(tmp_path / "im" / "a.png"), bgra)
    stats = scan_images(str(tmp_path / "im"), ["a"], ".png", ["a"])
    assert (stats.mode, stats.channels, stats.dtype) == ("bands", 4, "uint16")
    assert stats.mean == [0.0, 0.0, 1000.0, 7.0]  # RGBA, as LoadSingleRSImageFromFile reads it


def test_grey_stored_as_rgb_is_read_as_grayscale(tmp_path: Path) -> None:
    (tmp_path / "im").mkdir()
    cv2.imwrite(str(tmp_path / "im" / "a.png"), np.full((2, 2, 3), 7, np.uint8))
    stats = scan_images(str(tmp_path / "im"), ["a"], ".png", ["a"])
    assert (stats.mode, stats.channels, stats.mean, stats.gray_stored_as_rgb) == ("gray", 1, [7.0], True)


@pytest.mark.parametrize("values, classes, label_map", [
    ({0: 90, 255: 10}, ["background", "foreground"], {255: 1}),
    ({0: 5, 1: 5}, ["background", "foreground"], None),
    ({0: 5, 1: 5, 2: 5, 255: 5}, ["class_0", "class_1", "class_2"], None),
    ({0: 5, 1: 5, 3: 5}, ["class_0", "class_1", "class_2", "class_3"], None),
    ({0: 5, 128: 5, 200: 5}, ["class_0", "class_128", "class_200"], {128: 1, 200: 2}),
    ({0: 5, 100: 5, 255: 5}, ["class_0", "class_100", "class_255"], {100: 1, 255: 2}),
])
def test_label_decisions(values: dict, classes: list, label_map) -> None:
    plan = plan_labels(MaskStats(kind="index", values=Counter(values)))
    assert (plan.classes, plan.label_map, plan.rgb_label) == (classes, label_map, False)
    assert len(plan.palette) == len(classes) and sum(plan.shares) == pytest.approx(1.0)


def test_ignore_share_and_single_value() -> None:
    plan = plan_labels(MaskStats(kind="index", values=Counter({0: 30, 1: 10, 2: 10, 255: 50})))
    assert plan.shares == [0.6, 0.2, 0.2] and "255 is read as ignore_index (50 pixels" in plan.notes[0]
    with pytest.raises(ScanError, match="only the value 0"):
        plan_labels(MaskStats(kind="index", values=Counter({0: 4})))


def test_colour_masks_plan() -> None:
    plan = plan_labels(MaskStats(kind="color", colours=Counter({(255, 0, 0): 1, (0, 0, 0): 3})))
    assert (plan.classes, plan.palette, plan.rgb_label) == (["background", "foreground"],
                                                             [[0, 0, 0], [255, 0, 0]], True)


def test_split_is_seeded_and_disjoint() -> None:
    stems = [f"s{i}" for i in range(10)]
    train, val = split_stems(stems, 0.2)
    assert (len(train), len(val)) == (8, 2) and not set(train) & set(val) and sorted(train + val) == stems
    assert split_stems(list(reversed(stems)), 0.2) == (train, val)
    with pytest.raises(ScanError, match="at least 2"):
        split_stems(["one"], 0.2)


def test_crop_and_schedule_rules() -> None:
    class Sizes:
        sizes = Counter({(600, 1000): 1, (700, 900): 1})

    assert crop_size(Sizes()) == (512, 512)
    Sizes.sizes = Counter({(61, 70): 1})
    assert crop_size(Sizes()) == (56, 64)
    cpu = plan_schedule(num_train=24, crop=(64, 64), device="cpu", cpu_count=2)
    assert (cpu.batch_size, cpu.max_iters, cpu.num_workers, cpu.val_interval, cpu.warmup) == (4, 900, 0, 180, 22)
    big = plan_schedule(num_train=5000, crop=(512, 512), device="cpu", cpu_count=8)
    assert (big.batch_size, big.max_iters, big.num_workers) == (2, 2000, 4)
    assert plan_schedule(num_train=5000, crop=(512, 512), device="cuda", cpu_count=8).max_iters == 20000


def test_py_writes_loadable_config_literals(tmp_path: Path) -> None:
    value = dict(a=[dict(type="X", scale=(64, 32), ratio=(0.5, 2.0)), {255: 1}], b=None, c="s" * 120)
    (tmp_path / "c.py").write_text(f"value = {py(value, 0, 8)}\n")
    assert Config.fromfile(str(tmp_path / "c.py")).to_dict()["value"] == value


def test_generated_config_loads_and_records_every_choice(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    make_cells(tmp_path / "d", n=6, size=40)
    big = tmp_path / "d" / "images" / "cell00.png"
    cv2.imwrite(str(big), cv2.resize(cv2.imread(str(big), cv2.IMREAD_GRAYSCALE), (80, 40)))
    cv2.imwrite(str(tmp_path / "d" / "masks" / "cell00.png"),
                cv2.resize(cv2.imread(str(tmp_path / "d" / "masks" / "cell00.png"), 0), (80, 40),
                           interpolation=cv2.INTER_NEAREST))
    out = tmp_path / "cfg" / "cells.py"
    assert main(["new-config", str(tmp_path / "d" / "images"), str(tmp_path / "d" / "masks"), "--out", str(out),
                 "--val-split", "0.34", "--crop", "32", "24", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert f"train:           seglab train {out}" in printed and "mask value 255           -> class 1" in printed
    cfg = Config.fromfile(str(out))
    train, val = cfg.train_dataloader.dataset, cfg.val_dataloader.dataset
    assert train.label_map == {255: 1} and train.classes == ("background", "foreground")
    assert Path(train.ann_file).read_text().split() == ["cell00", "cell01", "cell03", "cell05"]
    assert Path(val.ann_file).read_text().split() == ["cell02", "cell04"]
    assert cfg.crop_size == (32, 24) and cfg.model.data_preprocessor.size == (32, 24)
    # one image is 40x80: larger than the crop, so evaluation slides crop-size windows
    assert cfg.model.test_cfg == dict(mode="slide", crop_size=(32, 24), stride=(21, 16))
    assert cfg.model.decode_head.num_classes == cfg.model.auxiliary_head.num_classes == 2
    assert cfg.model.backbone.in_channels == 1 and len(cfg.model.data_preprocessor.mean) == 1
    text = out.read_text()
    assert "(set by --crop)" in text and "a seeded random split of the 6 pairs: 4 train, 2 val" in text


def test_separate_validation_folders_and_scan_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    make_cells(tmp_path / "tr", n=3, size=16)
    make_cells(tmp_path / "va", n=2, size=16, seed=5)
    out = tmp_path / "c.py"
    new_config(str(tmp_path / "tr" / "images"), str(tmp_path / "tr" / "masks"), str(out),
               val_images=str(tmp_path / "va" / "images"), val_masks=str(tmp_path / "va" / "masks"), device="cpu")
    cfg = Config.fromfile(str(out))
    assert cfg.val_dataloader.dataset.img_dir == str(tmp_path / "va" / "images")
    assert Path(cfg.train_dataloader.dataset.ann_file).read_text().split() == ["cell00", "cell01", "cell02"]
    cv2.imwrite(str(tmp_path / "tr" / "masks" / "cell00.png"), np.zeros((8, 8), np.uint8))
    assert main(["new-config", str(tmp_path / "tr" / "images"), str(tmp_path / "tr" / "masks"), "--out",
                 str(out)]) == 1
    assert "masks must have their image's size (H, W): cell00 (image (16, 16), mask (8, 8))" in capsys.readouterr().out
