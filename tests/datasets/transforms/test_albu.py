"""Albu: albumentations bridge (skipped without the 'albu' extra); missing extra gives the install hint."""
import builtins

import numpy as np
import pytest
from _optional import require

import seglab.datasets  # noqa: F401 - registration
from seglab.registry import TRANSFORMS


def test_missing_albumentations_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def no_albu(name, *args, **kwargs):
        if name == "albumentations":
            raise ImportError("no albumentations")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_albu)
    with pytest.raises(ImportError, match=r"pip install seglab\[albu\]"):
        TRANSFORMS.build(dict(type="Albu", transforms=[dict(type="HorizontalFlip", p=1.0)]))


def coded(h=6, w=8):
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x, y, np.zeros_like(x)], -1).astype(np.uint8)
    return img, (y * w + x).astype(np.uint8)


def test_flip_moves_image_mask_and_second_image_together():
    require("albumentations")
    img, seg = coded()
    t = TRANSFORMS.build(dict(type="Albu", transforms=[dict(type="HorizontalFlip", p=1.0)]))
    out = t(dict(img=img.copy(), img2=img.copy() + 1, gt_seg_map=seg.copy(), seg_fields=["gt_seg_map"]))
    np.testing.assert_array_equal(out["img"], img[:, ::-1])
    np.testing.assert_array_equal(out["img2"], img[:, ::-1] + 1)
    np.testing.assert_array_equal(out["gt_seg_map"], seg[:, ::-1])
    assert out["img_shape"] == (6, 8)


def test_channel_order_round_trip_and_nested_compose():
    require("albumentations")
    img, seg = coded()
    t = TRANSFORMS.build(dict(type="Albu", update_pad_shape=True, transforms=[
        dict(type="OneOf", transforms=[dict(type="VerticalFlip", p=1.0)], p=1.0),
        dict(type="ToGray", p=0.0)]))
    out = t(dict(img=img.copy(), gt_seg_map=seg.copy()))
    np.testing.assert_array_equal(out["img"], img[::-1])  # BGR in, BGR out
    np.testing.assert_array_equal(out["gt_seg_map"], seg[::-1])
    assert out["pad_shape"] == (6, 8)
    with pytest.raises(ValueError, match="NoSuchTransform"):
        TRANSFORMS.build(dict(type="Albu", transforms=[dict(type="NoSuchTransform")]))
