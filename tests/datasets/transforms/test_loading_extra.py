"""Remote-sensing, pair and depth loaders: band order, dtypes, values; N-channel packing."""
import cv2
import numpy as np
import pytest
from _optional import require

from seglab.datasets.transforms import (
    LoadDepthAnnotation,
    LoadImageFromNDArray,
    LoadMultipleRSImageFromFile,
    LoadSingleRSImageFromFile,
    PackSegInputs,
)
from seglab.datasets.transforms.loading_extra import read_multiband


def test_four_band_uint16_geotiff_loads_band_order_and_values(tmp_path):
    tifffile = require("tifffile")
    rng = np.random.default_rng(0)
    bands = rng.integers(0, 65535, size=(4, 9, 11), dtype=np.uint16)  # (C, H, W), as GDAL writes bands
    path_planar, path_contig = str(tmp_path / "planar.tif"), str(tmp_path / "contig.tif")
    tifffile.imwrite(path_planar, bands, planarconfig="separate", photometric="minisblack")
    tifffile.imwrite(path_contig, bands.transpose(1, 2, 0), planarconfig="contig", photometric="minisblack")
    for path in (path_planar, path_contig):
        raw = read_multiband(path)
        assert raw.dtype == np.uint16 and raw.shape == (9, 11, 4)
        np.testing.assert_array_equal(raw, bands.transpose(1, 2, 0))
        out = LoadSingleRSImageFromFile()(dict(img_path=path))
        assert out["img"].dtype == np.float32 and out["img_shape"] == (9, 11) == out["ori_shape"]
        np.testing.assert_array_equal(out["img"], bands.transpose(1, 2, 0).astype(np.float32))
    packed = PackSegInputs()(out)
    assert tuple(packed["inputs"].shape) == (4, 9, 11)
    np.testing.assert_array_equal(packed["inputs"][3].numpy(), bands[3].astype(np.float32))


def test_float_single_band_tiff(tmp_path):
    tifffile = require("tifffile")
    data = np.linspace(-1, 1, 30, dtype=np.float32).reshape(5, 6)
    tifffile.imwrite(tmp_path / "f.tif", data)
    out = LoadSingleRSImageFromFile(to_float32=False)(dict(img_path=str(tmp_path / "f.tif")))
    assert out["img"].shape == (5, 6, 1) and out["img"].dtype == np.float32
    np.testing.assert_array_equal(out["img"][..., 0], data)


def test_png_fallback_returns_file_band_order(tmp_path):
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 10, 20, 30  # R, G, B
    cv2.imwrite(str(tmp_path / "a.png"), rgb[..., ::-1])  # cv2 writes BGR arrays
    out = LoadSingleRSImageFromFile(to_float32=False)(dict(img_path=str(tmp_path / "a.png")))
    assert out["img"].dtype == np.uint8 and out["img"][0, 0].tolist() == [10, 20, 30]


def test_pair_loader_checks_shapes(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((4, 5, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "b.png"), np.zeros((4, 6, 3), np.uint8))
    with pytest.raises(ValueError, match="same size"):
        LoadMultipleRSImageFromFile()(dict(img_path=str(tmp_path / "a.png"), img_path2=str(tmp_path / "b.png")))
    with pytest.raises(FileNotFoundError, match="missing.png"):
        LoadMultipleRSImageFromFile()(dict(img_path=str(tmp_path / "a.png"), img_path2=str(tmp_path / "missing.png")))


def test_tiff_without_tifffile_names_the_extra(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tifffile(name, *args, **kwargs):
        if name == "tifffile":
            raise ImportError("no tifffile")
        return real_import(name, *args, **kwargs)

    (tmp_path / "x.tif").write_bytes(b"II*\x00")
    monkeypatch.setattr(builtins, "__import__", no_tifffile)
    with pytest.raises(ImportError, match=r"seglab\[tiff\]"):
        read_multiband(str(tmp_path / "x.tif"))


def test_depth_annotation_uint16_png_rescaled_and_packed(tmp_path):
    depth = (np.arange(20, dtype=np.uint16).reshape(4, 5) * 1000)
    cv2.imwrite(str(tmp_path / "d.png"), depth)
    np.save(tmp_path / "d.npy", depth.astype(np.float32))
    out = LoadDepthAnnotation(depth_rescale_factor=1e-3)(dict(depth_map_path=str(tmp_path / "d.png"), seg_fields=[]))
    np.testing.assert_allclose(out["gt_depth_map"], depth * 1e-3, rtol=1e-6)
    assert out["gt_depth_map"].dtype == np.float32 and out["seg_fields"] == ["gt_depth_map"]
    assert out["depth_rescale_factor"] == 1e-3
    npy = LoadDepthAnnotation(decode_backend="numpy")(dict(depth_map_path=str(tmp_path / "d.npy")))
    np.testing.assert_array_equal(npy["gt_depth_map"], depth)
    out["img"] = np.zeros((4, 5, 3), np.uint8)
    packed = PackSegInputs()(out)
    assert tuple(packed["data_samples"].gt_depth_map.data.shape) == (1, 4, 5)


def test_ndarray_loader_keeps_n_channels():
    img = np.arange(2 * 3 * 5, dtype=np.uint16).reshape(2, 3, 5)
    out = LoadImageFromNDArray()(dict(img=img))
    assert out["img_shape"] == (2, 3) and tuple(PackSegInputs()(out)["inputs"].shape) == (5, 2, 3)
