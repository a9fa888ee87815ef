"""BatchPredictor: one worker thread batches queued requests; a bad request fails alone."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
import torch
from _serve_fixtures import shapes_image, tiny_model

from seglab.apis import inference_model
from seglab.apis.batching import BatchPredictor


def test_batches_wait_for_each_other_and_a_bad_request_fails_alone(tmp_path):
    _, _, model = tiny_model(tmp_path)
    torch.set_num_threads(1)
    paths = []
    for i, (h, w) in enumerate(((32, 48), (32, 48), (20, 28))):
        paths.append(str(tmp_path / f"img{i}.png"))
        cv2.imwrite(paths[-1], shapes_image(h, w, i))
    expected = [inference_model(model, p).pred_sem_seg.data[0].numpy() for p in paths]
    missing = str(tmp_path / "missing.png")
    # A long wait: the four requests, queued together, form one batch of up to max_batch=4.
    predictor = BatchPredictor(model, max_batch=4, max_wait=2.0)
    try:
        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(predictor.predict, item) for item in [*paths, missing]]
            results = [f.exception() or f.result() for f in futures]
        for got, want in zip(results[:3], expected):
            np.testing.assert_array_equal(got, want)
        assert isinstance(results[3], Exception) and not isinstance(results[3], np.ndarray)
        assert sum(predictor.batch_sizes) == 4 and max(predictor.batch_sizes) >= 2
    finally:
        predictor.close()
    with pytest.raises(RuntimeError, match="closed"):
        predictor.predict(paths[0])
    with pytest.raises(ValueError, match="max_batch"):
        BatchPredictor(model, max_batch=0)
