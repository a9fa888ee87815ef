"""Tiled inference: cores partition the image, tiled == whole-image labels, memory bounded by the tile."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch

from seglab.apis import inference_model, init_model
from seglab.apis.tiled import ImageSource, open_image, tile_boxes, tiled_predict


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    import _tiny_seg

    config, ckpt = _tiny_seg.write_setup(str(tmp_path_factory.mktemp("tiled")))
    torch.set_num_threads(1)
    return init_model(config, ckpt)


@pytest.mark.parametrize("size,tile,overlap", [((96, 128), 48, 16), ((100, 37), 32, 8), ((10, 10), 64, 32),
                                               ((65, 65), 64, 0)])
def test_cores_partition_the_image(size, tile, overlap):
    owner = np.zeros(size, np.int64)
    for (y1, y2, x1, x2), (cy1, cy2, cx1, cx2) in tile_boxes(*size, tile, overlap):
        assert y2 - y1 <= tile and x2 - x1 <= tile
        assert y1 <= cy1 < cy2 <= y2 and x1 <= cx1 < cx2 <= x2  # a core lies inside its tile
        owner[cy1:cy2, cx1:cx2] += 1
    assert (owner == 1).all()
    with pytest.raises(ValueError, match="overlap < tile"):
        next(tile_boxes(10, 10, 8, 8))


def test_tiled_equals_whole_image_inside_the_border_rule(model):
    # The model's receptive field (radius 11 px with the x4 bilinear upsampling) fits in overlap // 2 = 16 and the
    # tile origins are multiples of its output stride 4, so every label equals whole-image inference.
    rng = np.random.default_rng(0)
    image = np.zeros((96, 128, 3), np.uint8)
    for _ in range(12):  # coloured boxes give regions of different classes
        y, x = rng.integers(0, 80), rng.integers(0, 110)
        image[y : y + rng.integers(8, 40), x : x + rng.integers(8, 40)] = rng.integers(0, 256, 3)
    whole = inference_model(model, image).pred_sem_seg.data[0].numpy()
    assert len(np.unique(whole)) > 1  # a prediction with structure, not one constant class
    tiled = np.full(whole.shape, 255, np.uint8)
    tiled_predict(model, ImageSource(image, lazy=False, rgb=False), 48, 32, tiled)
    np.testing.assert_array_equal(tiled, whole)
    # Without overlap the tile borders see zero padding instead of their neighbours: the rule is needed.
    no_overlap = np.full(whole.shape, 255, np.uint8)
    tiled_predict(model, ImageSource(image, lazy=False, rgb=False), 48, 0, no_overlap)
    assert (no_overlap != whole).any()


def _peak_traced(model, path: str, tile: int, tmp_path) -> int:
    source = open_image(path)
    assert source.lazy
    h, w, _ = source.shape
    pred = np.lib.format.open_memmap(str(tmp_path / "pred.npy"), mode="w+", dtype=np.uint8, shape=(h, w))
    tracemalloc.start()
    try:
        tiled_predict(model, source, tile, 32, pred)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (np.asarray(pred) < 5).all()
    return peak


def test_memory_stays_bounded_by_the_tile(model, tmp_path):
    # .npy inputs are memory-mapped and read window by window; outputs are memory-mapped too. tracemalloc sees
    # numpy and Python allocations (torch's CPU allocator is not traced; its tensors are tile-sized by construction).
    rng = np.random.default_rng(1)
    peaks = {}
    for h, w in ((256, 384), (768, 1024)):
        path = tmp_path / f"big_{h}.npy"
        np.save(path, rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        peaks[h] = _peak_traced(model, str(path), 128, tmp_path)
    whole_input = 768 * 1024 * 3
    assert peaks[768] < whole_input / 4  # far below even the decoded input of the big image
    assert peaks[768] < 2 * peaks[256]  # 8x the pixels, about the same peak: bounded by the tile


def test_uncompressed_tiff_is_read_lazily_and_compressed_whole(tmp_path):
    from _optional import require

    tifffile = require("tifffile")
    rgb = np.random.default_rng(2).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "plain.tif", rgb)
    source = open_image(str(tmp_path / "plain.tif"))
    assert source.lazy and isinstance(source.array, np.memmap)
    np.testing.assert_array_equal(source.read(8, 24, 10, 50), rgb[8:24, 10:50, ::-1])  # BGR windows, as cv2 reads
    tifffile.imwrite(tmp_path / "packed.tif", rgb, compression="zlib")
    packed = open_image(str(tmp_path / "packed.tif"))
    assert not packed.lazy  # compressed strips cannot be mapped: decoded whole
    np.testing.assert_array_equal(packed.read(8, 24, 10, 50), rgb[8:24, 10:50, ::-1])
