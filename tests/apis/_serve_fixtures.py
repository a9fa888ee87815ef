"""A tiny model behind a SegServer on 127.0.0.1 (a free port), for the serve tests."""
from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import _tiny_seg
import cv2
import numpy as np

from seglab.apis import init_model
from seglab.apis.server import SegServer


def tiny_model(root: Path):
    """``(config, checkpoint, model)`` of the seeded tiny FCN written under ``root``."""
    config, ckpt = _tiny_seg.write_setup(str(root))
    return config, ckpt, init_model(config, ckpt)


@contextmanager
def running(model, **kwargs) -> Iterator[SegServer]:
    """A SegServer on 127.0.0.1 with a free port, serving on a thread until the block ends."""
    server = SegServer(model, "127.0.0.1", 0, **kwargs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: dict | None = None) -> tuple[int, str, bytes]:
    """``(status, content type, body)`` of one request on a fresh connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        conn.close()


def post_json(port: int, path: str, body: bytes, headers: dict | None = None) -> tuple[int, dict]:
    """``(status, decoded JSON)`` of a POST."""
    status, _, data = request(port, "POST", path, body, headers)
    return status, json.loads(data)


def decode_png(data: bytes) -> np.ndarray:
    """A PNG's pixels as stored (index PNGs: the labels)."""
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def shapes_image(height: int, width: int, seed: int) -> np.ndarray:
    """A BGR image of random coloured rectangles (the tiny model predicts several classes on it)."""
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), rng.integers(0, 256, 3), np.uint8)
    for _ in range(8):
        y, x = rng.integers(0, height - 4), rng.integers(0, width - 4)
        image[y : y + rng.integers(4, height // 2 + 5), x : x + rng.integers(4, width // 2 + 5)] = rng.integers(0, 256, 3)
    return image
