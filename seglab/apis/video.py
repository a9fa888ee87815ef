"""Video inference: frames through OpenCV, an overlay video with the source's fps and size, optional frame PNGs."""

from __future__ import annotations

import os
import os.path as osp
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np

__all__ = ["VIDEO_EXTENSIONS", "is_video", "predict_video", "read_frames"]

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


def is_video(path: Any) -> bool:
    """Whether ``path`` names a video file by its extension."""
    return isinstance(path, (str, os.PathLike)) and osp.splitext(str(path))[1].lower() in VIDEO_EXTENSIONS


def read_frames(path: str, batch_size: int = 1) -> tuple[float, tuple[int, int], int, Iterator[list[np.ndarray]]]:
    """``(fps, (width, height), frame count or -1, batches of BGR frames)`` of a video file."""
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise ValueError(f"cannot open video {path} (is it a video OpenCV's FFmpeg backend reads?)")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0  # some containers do not store it; 25 is FFmpeg's default too
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or -1)

    def batches() -> Iterator[list[np.ndarray]]:
        try:
            batch: list[np.ndarray] = []
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                batch.append(frame)
                if len(batch) == batch_size:
                    yield batch
                    batch = []
            if batch:
                yield batch
        finally:
            capture.release()

    return fps, size, count, batches()


def predict_video(inferencer: Any, path: str, out_dir: str, name: str, batch_size: int = 1, opacity: float = 0.8,
                  write_frames: bool = True) -> int:
    """Predict every frame of ``path``; write ``out_dir/vis/<name>.mp4`` and ``out_dir/pred/<name>/<frame>.png``.

    The overlay video keeps the source's fps and frame size (codec mp4v). Returns the number of frames.
    """
    from .inference import inference_model
    from .inferencer import write_label_png

    fps, size, _, batches = read_frames(path, batch_size)
    vis_path = osp.join(out_dir, "vis", f"{name}.mp4")
    os.makedirs(osp.dirname(vis_path), exist_ok=True)
    writer = cv2.VideoWriter(vis_path, cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise OSError(f"cannot write video {vis_path} (this OpenCV build has no mp4v encoder)")
    done = 0
    try:
        for frames in batches:
            for frame, sample in zip(frames, inference_model(inferencer.model, frames)):
                if write_frames:
                    write_label_png(osp.join(out_dir, "pred", name, f"{done:06d}.png"), sample.pred_sem_seg.data,
                                    inferencer.num_classes)
                vis = inferencer.visualize(frame, sample, None, opacity)  # RGB
                writer.write(np.ascontiguousarray(vis[..., ::-1]))
                done += 1
    finally:
        writer.release()
    return done
