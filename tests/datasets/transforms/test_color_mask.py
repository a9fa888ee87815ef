"""ColorMaskToLabel: palette / dict colour maps, reading from file, unknown colours named in the error."""
import cv2
import numpy as np
import pytest

import seglab.datasets  # noqa: F401 - registration
from seglab.registry import TRANSFORMS

PALETTE = [[0, 0, 0], [128, 0, 0], [0, 128, 0]]


def write_colour_mask(path, labels):
    rgb = np.array(PALETTE, np.uint8)[labels]
    cv2.imwrite(str(path), rgb[..., ::-1])
    return rgb


def test_reads_colour_mask_file_and_maps_palette_indices(tmp_path):
    labels = np.array([[0, 1, 2], [2, 1, 0]])
    write_colour_mask(tmp_path / "m.png", labels)
    t = TRANSFORMS.build(dict(type="ColorMaskToLabel", color_map=PALETTE))
    out = t(dict(seg_map_path=str(tmp_path / "m.png"), ori_shape=(2, 3), seg_fields=[]))
    assert out["gt_seg_map"].dtype == np.uint8 and out["seg_fields"] == ["gt_seg_map"]
    np.testing.assert_array_equal(out["gt_seg_map"], labels)


def test_dict_map_with_ignore_and_bgr_array():
    rgb = np.array([[[255, 255, 255], [0, 128, 0]]], np.uint8)
    t = TRANSFORMS.build(dict(type="ColorMaskToLabel", color_map={(255, 255, 255): 255, (0, 128, 0): 4},
                              channel_order="bgr"))
    out = t(dict(gt_seg_map=np.ascontiguousarray(rgb[..., ::-1])))
    assert out["gt_seg_map"].tolist() == [[255, 4]]


def test_unknown_colours_name_the_file_and_colours(tmp_path):
    labels = np.array([[0, 1], [1, 0]])
    rgb = write_colour_mask(tmp_path / "bad.png", labels)
    rgb[0, 0] = (1, 2, 3)
    cv2.imwrite(str(tmp_path / "bad.png"), rgb[..., ::-1])
    t = TRANSFORMS.build(dict(type="ColorMaskToLabel", color_map=PALETTE))
    with pytest.raises(ValueError, match=r"bad\.png.*\(1, 2, 3\)"):
        t(dict(seg_map_path=str(tmp_path / "bad.png")))


def test_bad_maps_and_size_mismatch(tmp_path):
    with pytest.raises(ValueError, match="twice"):
        TRANSFORMS.build(dict(type="ColorMaskToLabel", color_map=[[1, 2, 3], [1, 2, 3]]))
    write_colour_mask(tmp_path / "m.png", np.zeros((2, 2), int))
    t = TRANSFORMS.build(dict(type="ColorMaskToLabel", color_map=PALETTE))
    with pytest.raises(ValueError, match="differs from the image size"):
        t(dict(seg_map_path=str(tmp_path / "m.png"), ori_shape=(3, 3)))
