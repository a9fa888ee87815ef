"""``SegServer``: a local HTTP server (standard library only) with a web page and a JSON/PNG prediction API.

Routes: ``GET /`` the page, ``GET /healthz``, ``GET /meta`` (classes, palette, limits), ``POST /predict``
(JSON: size, classes, palette, area shares, index PNG and colour PNG as base64) and ``POST /predict.png``
(the index PNG: 8-bit up to 256 classes, 16-bit beyond, as ``seglab infer`` writes). A request body is
the image file's bytes, or a multipart/form-data form whose file field holds them.
Requests are served on their own threads; every prediction goes through one BatchPredictor, whose
single worker thread owns the only copy of the model.
"""
from __future__ import annotations

import base64
import email.parser
import email.policy
import json
import logging
import os
import shutil
import tempfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import cv2
import numpy as np
from torch import nn

from seglab.visualization import colorize

from .batching import BatchPredictor
from .inference import _num_classes
from .uploads import UploadError, check_image

__all__ = ["SegServer", "encode_label_png"]

logger = logging.getLogger("seglab")
_DRAIN_LIMIT = 64 << 20  # an oversized body up to this size is read and dropped so the client sees the 413


def encode_label_png(labels: np.ndarray, num_classes: int) -> bytes:
    """Index PNG bytes of a label map (H, W): 8-bit for up to 256 classes, 16-bit beyond."""
    dtype = np.uint8 if num_classes <= 256 else np.uint16
    if labels.size and (labels.min() < 0 or labels.max() > np.iinfo(dtype).max):
        raise ValueError(f"labels {int(labels.min())}..{int(labels.max())} do not fit a {dtype.__name__} PNG")
    ok, buf = cv2.imencode(".png", labels.astype(dtype))
    if not ok:
        raise OSError("could not encode the label PNG")
    return buf.tobytes()


def _colour_png(labels: np.ndarray, palette: list) -> bytes:
    """RGBA PNG of the class colours; labels without a colour (e.g. 255) are transparent."""
    colour, valid = colorize(labels, palette)
    rgba = np.dstack([colour[..., ::-1], np.where(valid, 255, 0).astype(np.uint8)])  # cv2 writes BGRA
    ok, buf = cv2.imencode(".png", rgba)
    if not ok:
        raise OSError("could not encode the colour PNG")
    return buf.tobytes()


class SegServer(ThreadingHTTPServer):
    """Serve ``model`` (built by ``init_model``) on ``(host, port)``; port 0 picks a free one (see ``port``).

    ``max_upload_bytes`` bounds a request body (larger: 413), ``max_pixels`` an image's width x height read
    from its header (larger: 400, before decoding); ``max_batch`` and ``max_wait`` (seconds) shape the
    dynamic batches of the one worker thread. ``close()`` (``server_close``) stops it.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, model: nn.Module, host: str = "127.0.0.1", port: int = 8000,
                 max_upload_bytes: int = 20 << 20, max_pixels: int = 4096 * 4096, max_batch: int = 4,
                 max_wait: float = 0.005) -> None:
        if max_upload_bytes < 1 or max_pixels < 1:
            raise ValueError(f"SegServer: max_upload_bytes and max_pixels must be >= 1, got "
                             f"{max_upload_bytes} and {max_pixels}")
        meta = dict(getattr(model, "dataset_meta", None) or {})
        self.num_classes = _num_classes(model)
        self.classes = [str(c) for c in meta.get("classes") or [f"class_{i}" for i in range(self.num_classes)]]
        self.palette = [[int(v) for v in c] for c in meta.get("palette") or []]
        if len(self.palette) < self.num_classes:
            from seglab.visualization import get_palette

            self.palette = [[int(v) for v in c] for c in get_palette(self.classes)]
        self.max_upload_bytes = max_upload_bytes
        self.max_pixels = max_pixels
        self.page = resources.files("seglab.apis").joinpath("static/serve.html").read_bytes()
        self._tmp = tempfile.mkdtemp(prefix="seglab-serve-")
        self.predictor = BatchPredictor(model, max_batch=max_batch, max_wait=max_wait)
        try:
            super().__init__((host, port), _Handler)
        except BaseException:
            self.predictor.close()
            shutil.rmtree(self._tmp, ignore_errors=True)
            raise

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return self.server_address[1]

    def meta(self) -> dict[str, Any]:
        """What ``GET /meta`` answers."""
        return dict(classes=self.classes, palette=self.palette, num_classes=self.num_classes,
                    max_upload_bytes=self.max_upload_bytes, max_pixels=self.max_pixels,
                    max_batch=self.predictor.max_batch)

    def predict_bytes(self, data: bytes) -> tuple[Any, np.ndarray]:
        """``(header, labels (H, W))`` of an uploaded image file; raises UploadError for a refused upload.

        The checked bytes are written to a temporary file and predicted from its path, so the config's
        own loading step (colour type, TIFF bands) reads them exactly as ``inference_model(path)`` would.
        """
        header, _ = check_image(data, self.max_pixels)
        fd, path = tempfile.mkstemp(suffix=header.suffix, dir=self._tmp)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            return header, self.predictor.predict(path)
        finally:
            os.unlink(path)

    def server_close(self) -> None:
        """Stop listening, finish queued predictions, remove the temporary folder."""
        super().server_close()
        self.predictor.close()
        shutil.rmtree(self._tmp, ignore_errors=True)


class _Handler(BaseHTTPRequestHandler):
    server: SegServer
    protocol_version = "HTTP/1.1"  # keep-alive: a client may send many requests on one connection
    server_version = "seglab-serve"

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("serve %s: " + format, self.address_string(), *args)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: dict) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json(status, dict(error=message, status=status))

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path in ("/", "/index.html"):
            self._send(200, self.server.page, "text/html; charset=utf-8")
        elif path == "/healthz":
            self._json(200, dict(status="ok"))
        elif path == "/meta":
            self._json(200, self.server.meta())
        else:
            self._error(404, f"no route GET {path}; routes: GET / /healthz /meta, POST /predict /predict.png")

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path not in ("/predict", "/predict.png"):
            self.close_connection = True  # the unread body must not be taken for the next request
            self._error(404, f"no route POST {path}; POST /predict (JSON) or /predict.png (index PNG)")
            return
        try:
            data = self._image_bytes(self._body())
            header, labels = self.server.predict_bytes(data)
        except UploadError as exc:
            self._error(exc.status, str(exc))
            return
        except Exception as exc:  # a model failure must answer, not drop the connection
            logger.exception("serve: prediction failed")
            self._error(500, f"prediction failed: {type(exc).__name__}: {exc}")
            return
        png = encode_label_png(labels, self.server.num_classes)
        if path == "/predict.png":
            self._send(200, png, "image/png")
            return
        counts = np.bincount(labels.ravel(), minlength=self.server.num_classes)
        areas = [dict(index=int(i), name=self.server.classes[i] if i < len(self.server.classes) else str(i),
                      pixels=int(counts[i]), share=float(counts[i] / labels.size))
                 for i in np.argsort(-counts, kind="stable") if counts[i] > 0]
        self._json(200, dict(
            # The size of the prediction: a JPEG's EXIF orientation may turn the stored image.
            width=labels.shape[1], height=labels.shape[0], format=header.format, num_classes=self.server.num_classes,
            classes=self.server.classes, palette=self.server.palette, areas=areas,
            label_png_bits=8 if self.server.num_classes <= 256 else 16,
            label_png=base64.b64encode(png).decode(),
            colour_png=base64.b64encode(_colour_png(labels, self.server.palette)).decode()))

    def _length(self) -> int:
        raw = self.headers.get("Content-Length")
        if raw is None or not raw.strip().isdigit():
            self.close_connection = True
            raise UploadError("send the image with a Content-Length header (chunked uploads are not accepted)", 411)
        return int(raw)

    def _drain(self, length: int) -> None:
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 20))
            if not chunk:
                break
            length -= len(chunk)

    def _body(self) -> bytes:
        length = self._length()
        limit = self.server.max_upload_bytes
        if length > limit:
            # Read and drop a moderately large body so the client is not cut off before it reads the
            # answer; beyond that, answer and close the connection.
            if length <= _DRAIN_LIMIT:
                self._drain(length)
            else:
                self.close_connection = True
            raise UploadError(f"upload too large: {length} bytes, the server accepts at most {limit} "
                              "(seglab serve --max-upload-mb)", 413)
        data = self.rfile.read(length)
        if len(data) != length:
            self.close_connection = True
            raise UploadError(f"incomplete request body: {len(data)} of {length} bytes")
        return data

    def _image_bytes(self, body: bytes) -> bytes:
        """The raw body, or the first file part of a multipart/form-data body."""
        content_type = self.headers.get("Content-Type", "")
        if not content_type.lower().startswith("multipart/form-data"):
            return body
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + body)
        for part in message.iter_parts() if message.is_multipart() else []:
            if part.get_filename() is not None or part.get_param("name", header="content-disposition") in ("file", "image"):
                return part.get_payload(decode=True) or b""
        raise UploadError("multipart upload without a file: send the image in a form field named 'file'")
