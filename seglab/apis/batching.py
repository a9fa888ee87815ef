"""One worker thread owns the model and predicts queued requests in batches (dynamic batching)."""
from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from typing import Any

import numpy as np
from torch import nn

from .inference import inference_model

__all__ = ["BatchPredictor"]

_STOP = object()


class BatchPredictor:
    """Predict label maps for callers on any thread with the ONE model, in batches of up to ``max_batch``.

    ``predict(item)`` queues an image (path or BGR array, as ``inference_model`` takes) and waits for its
    ``(H, W)`` int64 label map. The worker takes the first queued request, then waits at most
    ``max_wait`` seconds for more, up to ``max_batch``, and runs them as one ``inference_model`` call
    (which groups by image size, so each result equals the one-image prediction). Only that thread
    touches the model.
    """

    def __init__(self, model: nn.Module, max_batch: int = 4, max_wait: float = 0.005) -> None:
        if max_batch < 1:
            raise ValueError(f"BatchPredictor: max_batch must be >= 1, got {max_batch}")
        if max_wait < 0:
            raise ValueError(f"BatchPredictor: max_wait must be >= 0 seconds, got {max_wait}")
        self.model = model
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.batch_sizes: list[int] = []  # how many requests each forward call held (the last 1000)
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="seglab-batch-predictor", daemon=True)
        self._thread.start()

    def predict(self, item: Any, timeout: float | None = None) -> np.ndarray:
        """The label map (H, W) int64 of one image; raises what the prediction raised."""
        if not self._thread.is_alive():
            raise RuntimeError("BatchPredictor is closed")
        future: Future = Future()
        self._queue.put((item, future))
        return future.result(timeout)

    def close(self) -> None:
        """Finish the queued requests, then stop the worker thread."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def _collect(self) -> tuple[list, bool]:
        """The next batch, and whether a stop request came with it."""
        first = self._queue.get()
        if first is _STOP:
            return [], True
        batch, deadline = [first], time.monotonic() + self.max_wait
        while len(batch) < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                nxt = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is _STOP:
                return batch, True
            batch.append(nxt)
        return batch, False

    def _run(self) -> None:
        stop = False
        while not stop:
            batch, stop = self._collect()
            if not batch:
                continue
            self.batch_sizes = [*self.batch_sizes[-999:], len(batch)]
            try:
                results = self._labels([item for item, _ in batch])
            except Exception as exc:
                if len(batch) == 1:
                    batch[0][1].set_exception(exc)
                    continue
                # One bad request must not fail the others: predict them one by one.
                for item, future in batch:
                    try:
                        future.set_result(self._labels([item])[0])
                    except Exception as one_exc:
                        future.set_exception(one_exc)
                continue
            for (_, future), labels in zip(batch, results):
                future.set_result(labels)

    def _labels(self, items: list) -> list[np.ndarray]:
        # Keep only the label maps: the (C, H, W) logits of a batch are dropped right here.
        return [s.pred_sem_seg.data[0].cpu().numpy() for s in inference_model(self.model, items)]
