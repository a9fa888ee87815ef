"""TestTimeAug: cartesian product of the transform lists, dict-of-lists output, view markers."""
import numpy as np
import pytest

from seglab.datasets.transforms import TestTimeAug
from seglab.registry import TRANSFORMS


def test_product_of_transform_lists_gives_one_view_per_combination():
    img = np.arange(2 * 4 * 3, dtype=np.uint8).reshape(2, 4, 3)
    tta = TRANSFORMS.build(dict(type="TestTimeAug", transforms=[
        [dict(type="Resize", scale_factor=r, keep_ratio=True) for r in (1.0, 2.0)],
        [dict(type="RandomFlip", prob=0.0), dict(type="RandomFlip", prob=1.0)],
        [dict(type="PackSegInputs")],
    ]))
    assert len(tta) == 4
    out = tta(dict(img=img, img_shape=(2, 4), ori_shape=(2, 4), img_path="x.png"))
    assert set(out) == {"inputs", "data_samples"}
    assert [tuple(x.shape) for x in out["inputs"]] == [(3, 2, 4), (3, 2, 4), (3, 4, 8), (3, 4, 8)]
    assert [s.flip for s in out["data_samples"]] == [False, True, False, True]
    assert [s.tta_view for s in out["data_samples"]] == [0, 1, 2, 3]
    assert all(s.ori_shape == (2, 4) for s in out["data_samples"])
    np.testing.assert_array_equal(out["inputs"][1].numpy(), img.transpose(2, 0, 1)[:, :, ::-1])


def test_views_do_not_share_state():
    tta = TestTimeAug([[dict(type="RandomFlip", prob=1.0), dict(type="RandomFlip", prob=0.0)]])
    img = np.arange(6, dtype=np.uint8).reshape(1, 6, 1)
    out = tta(dict(img=img))
    np.testing.assert_array_equal(out["img"][1], img)  # the first view's flip did not leak
    np.testing.assert_array_equal(out["img"][0], img[:, ::-1])


@pytest.mark.parametrize("bad", [[], [dict(type="RandomFlip", prob=1.0)], [[]]])
def test_bad_transform_lists_are_rejected(bad):
    with pytest.raises(ValueError, match="TestTimeAug"):
        TestTimeAug(bad)
