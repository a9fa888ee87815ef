"""Where the visualizer's colours come from: float 0/1 masks draw like labels; a generated palette is logged once."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from seglab.structures import SegDataSample
from seglab.visualization import SegLocalVisualizer, random_palette


@pytest.fixture
def seglab_log():
    """Records of the 'seglab' logger (it does not propagate to pytest's caplog)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("seglab")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def test_float_binary_mask_draws_with_the_palette_and_labels() -> None:
    vis = SegLocalVisualizer(classes=["bg", "cell"], palette=[[1, 2, 3], [200, 100, 50]], alpha=1.0)
    pred = torch.zeros(1, 6, 8, dtype=torch.float32)
    pred[:, :, 4:] = 1.0  # a 0.0/1.0 mask, as sigmoid heads used to return
    drawn = vis.add_datasample("x", np.zeros((6, 8, 3), np.uint8), SegDataSample(pred_sem_seg=pred), with_labels=True)
    plain = vis.add_datasample("x", np.zeros((6, 8, 3), np.uint8), SegDataSample(pred_sem_seg=pred))
    expected = np.asarray([[1, 2, 3], [200, 100, 50]], np.uint8)[pred[0].long().numpy()]
    np.testing.assert_array_equal(plain, expected)
    assert drawn.shape == plain.shape and not np.array_equal(drawn, plain)  # the names were written on top


def test_generated_palette_is_logged_once(seglab_log) -> None:
    vis = SegLocalVisualizer(alpha=1.0)
    sample = SegDataSample(pred_sem_seg=torch.tensor([[[0, 1, 2]]]))
    for _ in range(3):
        drawn = vis.add_datasample("x", np.zeros((1, 3, 3), np.uint8), sample)
    np.testing.assert_array_equal(drawn[0], random_palette(3))  # deterministic: the same colours every run
    notes = [r for r in seglab_log if "generated palette" in r.getMessage()]
    assert len(notes) == 1 and "no dataset_meta" in notes[0].getMessage()


def test_known_palette_logs_nothing(seglab_log) -> None:
    vis = SegLocalVisualizer(classes=["a", "b"], palette=[[0, 0, 0], [9, 9, 9]])
    vis.add_datasample("x", np.zeros((1, 2, 3), np.uint8), SegDataSample(pred_sem_seg=torch.tensor([[[0, 1]]])))
    assert not [r for r in seglab_log if "generated palette" in r.getMessage()]
