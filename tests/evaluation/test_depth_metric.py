"""DepthMetric: hand-computed values, masks (depth range, NYU crop), per-image averaging, options."""

from __future__ import annotations

import math

import cv2
import pytest
import torch

from seglab.evaluation import DepthMetric
from seglab.evaluation.metrics import depth_metric as depth_metric_module
from seglab.evaluation.metrics.depth_metric import depth_metrics
from seglab.registry import METRICS, ConfigError
from seglab.structures import SegDataSample

pytestmark = pytest.mark.usefixtures("single_thread")

GT = torch.tensor([[1.0, 2.0, 4.0]])
PRED = torch.tensor([[1.0, 1.0, 5.0]])
# By hand: ratios max(gt/pred, pred/gt) = [1, 2, 1.25]; diff = [0, -1, 1]; log diff = [0, -ln 2, ln 1.25].
_DLOG = [0.0, -math.log(2), math.log(1.25)]
EXPECTED = {
    "d1": 1 / 3,  # only ratio 1 is < 1.25 (1.25 itself is not)
    "d2": 2 / 3,  # 1 and 1.25 < 1.5625
    "d3": 2 / 3,  # 2 >= 1.953125
    "abs_rel": (0 + 1 / 2 + 1 / 4) / 3,
    "sq_rel": (0 + 1 / 2 + 1 / 4) / 3,
    "rmse": math.sqrt(2 / 3),
    "rmse_log": math.sqrt(sum(d * d for d in _DLOG) / 3),
    "log10": sum(abs(d) for d in _DLOG) / 3 / math.log(10),
    "silog": math.sqrt(sum(d * d for d in _DLOG) / 3 - 0.5 * (sum(_DLOG) / 3) ** 2),
}


def sample(pred: torch.Tensor, gt: torch.Tensor | None, **meta) -> SegDataSample:
    s = SegDataSample(metainfo=meta, pred_depth_map=pred[None])
    if gt is not None:
        s.gt_depth_map = gt[None]
    return s


def test_pure_function_matches_hand_computed_values():
    got = depth_metrics(GT.flatten(), PRED.flatten())
    assert got == pytest.approx(EXPECTED, rel=1e-6)


def test_metric_reports_every_mmseg_key_by_default():
    metric = METRICS.build(dict(type="DepthMetric"))
    metric.process({}, [sample(PRED, GT)])
    result = metric.evaluate(1)
    assert list(result) == ["d1", "d2", "d3", "abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "silog"]
    assert result == pytest.approx(EXPECTED, rel=1e-6)
    assert metric.num_images == 0  # evaluate resets


def test_depth_range_masks_pixels_strictly():
    # gt 0 (no depth) and gt >= max_depth_eval are left out: only the first two pixels count.
    gt = torch.tensor([[1.0, 2.0, 0.0, 10.0]])
    pred = torch.tensor([[2.0, 2.0, 7.0, 3.0]])
    metric = DepthMetric(min_depth_eval=0.001, max_depth_eval=10.0, depth_metrics=["d1", "abs_rel", "rmse"])
    metric.process({}, [sample(pred, gt)])
    assert metric.evaluate() == pytest.approx({"d1": 0.5, "abs_rel": 0.5, "rmse": math.sqrt(0.5)})


def test_nyu_crop_keeps_rows_45_to_470_and_columns_41_to_600():
    gt = torch.full((480, 640), 2.0)
    pred = torch.full((480, 640), 100.0)  # wrong everywhere outside the crop
    pred[45:471, 41:601] = 2.0
    cropped = DepthMetric(crop_type="nyu_crop")
    cropped.process({}, [sample(pred, gt)])
    assert cropped.evaluate()["abs_rel"] == 0.0
    whole = DepthMetric()
    whole.process({}, [sample(pred, gt)])
    outside = 480 * 640 - 426 * 560
    assert whole.evaluate()["abs_rel"] == pytest.approx(outside / (480 * 640) * 49, rel=1e-5)


def test_mean_is_over_images_not_pixels():
    # Image A: 1 pixel, abs_rel 1; image B: 3 pixels, abs_rel 0 -> mean over images 0.5 (pixels would give 0.25).
    metric = DepthMetric(depth_metrics=["abs_rel"], prefix="depth")
    metric.process({}, [sample(torch.tensor([[2.0]]), torch.tensor([[1.0]])),
                        sample(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[1.0, 2.0, 3.0]]))])
    assert metric.evaluate(2) == {"depth/abs_rel": pytest.approx(0.5)}


def test_image_without_valid_depth_is_left_out_with_a_warning():
    metric = DepthMetric(depth_metrics=["abs_rel"])
    with pytest.warns(UserWarning, match="no ground-truth depth"):
        metric.process({}, [sample(torch.tensor([[1.0]]), torch.tensor([[0.0]]), img_path="empty.png"),
                            sample(PRED, GT)])
    assert metric.evaluate()["abs_rel"] == pytest.approx(EXPECTED["abs_rel"])


def test_output_dir_writes_scaled_uint16_png(tmp_path):
    metric = DepthMetric(output_dir=str(tmp_path), format_only=True, depth_scale_factor=1000)
    metric.process({}, [sample(torch.tensor([[1.5, 2.25]]), None, img_path="/x/scene_1.jpg")])
    assert metric.evaluate() == {}
    written = cv2.imread(str(tmp_path / "scene_1.png"), cv2.IMREAD_UNCHANGED)
    assert written.dtype.name == "uint16" and written.tolist() == [[1500, 2250]]


@pytest.mark.parametrize("kwargs, match", [
    (dict(depth_metrics=["d1", "delta1"]), "delta1"),
    (dict(crop_type="kitti_crop"), "crop_type"),
    (dict(min_depth_eval=10, max_depth_eval=1), "min_depth_eval"),
    (dict(format_only=True), "output_dir"),
])
def test_bad_arguments_fail_with_the_key(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        DepthMetric(**kwargs)


def test_missing_prediction_or_ground_truth_is_an_error():
    with pytest.raises(ValueError, match="pred_depth_map"):
        DepthMetric().process({}, [SegDataSample(gt_depth_map=GT[None])])
    with pytest.raises(ValueError, match="gt_depth_map"):
        DepthMetric().process({}, [sample(PRED, None)])



def test_evaluate_all_reduces_sums_and_counts_together(monkeypatch):
    # Two ranks: rank 0 evaluates images 0 and 2, rank 1 image 1; all_reduce adds rank 1's vector (fake gloo).
    images = [(PRED, GT), (torch.tensor([[2.0, 3.0]]), torch.tensor([[1.0, 3.0]])), (GT, GT)]
    other = DepthMetric()
    other.process({}, [sample(*images[1])])
    other_vector = torch.cat([other.sums, torch.tensor([1.0, 1.0], dtype=torch.float64)])
    dist = depth_metric_module.dist
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    monkeypatch.setattr(dist, "get_backend", lambda: "gloo")
    monkeypatch.setattr(dist, "all_reduce", lambda t: t.add_(other_vector))
    rank0 = DepthMetric(prefix="depth")
    rank0.process({}, [sample(*images[0]), sample(*images[2])])
    reduced = rank0.evaluate(3)
    monkeypatch.undo()
    single = DepthMetric(prefix="depth")
    single.process({}, [sample(*img) for img in images])
    assert reduced == pytest.approx(single.evaluate(3), rel=1e-12)
