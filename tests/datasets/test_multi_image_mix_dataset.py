"""MultiImageMixDataset: feeds extra samples to mixing transforms, skips by type name, keeps metainfo."""
import numpy as np
import pytest

from seglab.registry import DATASETS


class CodedDataset:
    """Sample i: a 7x8 image with channel 0 = i+1 and label i (already 'loaded')."""

    metainfo = dict(classes=("a", "b", "c", "d", "e"))

    def __init__(self, n: int = 5) -> None:
        self.n = n
        self.requested: list[int] = []

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < self.n:
            raise IndexError(i)
        self.requested.append(i)
        img = np.full((7, 8, 3), i + 1, np.uint8)
        return dict(img=img, gt_seg_map=np.full((7, 8), i, np.uint8), seg_fields=["gt_seg_map"], img_shape=(7, 8))

    def get_data_info(self, i: int) -> dict:
        return dict(sample_idx=i)


def build(**kwargs):
    return DATASETS.build(dict(type="MultiImageMixDataset", dataset=CodedDataset(), pipeline=[
        dict(type="RandomMosaic", prob=1.0, img_scale=(7, 8)), dict(type="PackSegInputs")], **kwargs))


@pytest.mark.parametrize("seed", range(5))
def test_mosaic_through_the_wrapper_keeps_images_and_labels_paired(seed):
    np.random.seed(seed)
    ds = build()
    item = ds[seed % 5]
    img, seg = item["inputs"].numpy(), item["data_samples"].gt_sem_seg.data[0].numpy()
    assert img.shape == (3, 14, 16)
    covered = seg != 255
    assert np.array_equal(img[0][covered], seg[covered] + 1)
    assert np.array_equal(img[0][~covered], np.zeros((~covered).sum(), np.uint8))
    assert all(0 <= i < 5 for i in ds.dataset.requested)
    assert len(ds) == 5 and ds.metainfo["classes"][0] == "a" and ds.get_data_info(3) == dict(sample_idx=3)


def test_skip_type_keys_disables_the_mix():
    ds = build(skip_type_keys=["RandomMosaic"])
    assert tuple(ds[2]["inputs"].shape) == (3, 7, 8) and ds.dataset.requested == [2]
    ds.update_skip_type_keys([])
    assert tuple(ds[2]["inputs"].shape) == (3, 14, 16)
    with pytest.raises(TypeError):
        ds.update_skip_type_keys("RandomMosaic")


def test_out_of_range_indices_from_a_transform_fail_clearly():
    class Bad:
        def get_indices(self, dataset):
            return [len(dataset)]

        def __call__(self, results):
            return results

    ds = DATASETS.build(dict(type="MultiImageMixDataset", dataset=CodedDataset(), pipeline=[Bad()]))
    with pytest.raises(IndexError, match="outside"):
        ds[0]
