"""seglab infer: batching, index PNGs (also from `seglab test --out`), TTA, videos, tiles, torchrun sharding."""
from __future__ import annotations

import os
import os.path as osp
import socket
import subprocess
import sys

import _tiny_seg
import cv2
import numpy as np
import pytest
import torch

from seglab.apis import inference_model, init_model
from seglab.cli import main
from seglab.tools.infer import shard


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Config, checkpoint, the 4 generated 32x32 validation images plus two odd-sized ones in one folder."""
    root = tmp_path_factory.mktemp("infer")
    config, ckpt = _tiny_seg.write_setup(str(root))
    from seglab.tools._common import build_dataset, load_config, split_dataset_cfgs

    build_dataset(split_dataset_cfgs(load_config(config), "test")[0])  # generates the images
    images = root / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for src in sorted((root / "data" / "img_dir" / "val").iterdir()):
        (images / src.name).write_bytes(src.read_bytes())
    for name, (h, w) in (("odd_a", (27, 45)), ("odd_b", (40, 24))):
        cv2.imwrite(str(images / f"{name}.png"), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    torch.set_num_threads(1)
    return dict(root=root, config=config, ckpt=ckpt, images=images, model=init_model(config, ckpt))


def _read(folder) -> dict[str, np.ndarray]:
    return {f: cv2.imread(osp.join(folder, f), cv2.IMREAD_UNCHANGED) for f in sorted(os.listdir(folder))}


def test_batched_equals_one_by_one_and_pngs_hold_the_labels(setup, tmp_path):
    for batch in ("1", "4"):
        assert main(["infer", setup["config"], setup["ckpt"], str(setup["images"]), "--out-dir",
                     str(tmp_path / batch), "--batch-size", batch, "--device", "cpu"]) == 0
    one, four = _read(tmp_path / "1" / "pred"), _read(tmp_path / "4" / "pred")
    assert sorted(one) == sorted(four) and len(one) == 6
    for name, labels in one.items():
        np.testing.assert_array_equal(labels, four[name])
        direct = inference_model(setup["model"], str(setup["images"] / name)).pred_sem_seg.data[0].numpy()
        np.testing.assert_array_equal(labels, direct)  # the PNG re-reads to the predicted labels
    assert len(os.listdir(tmp_path / "1" / "vis")) == 6


def test_test_out_writes_the_same_index_pngs_as_infer(setup, tmp_path, capsys):
    out = tmp_path / "test_out"
    assert main(["test", setup["config"], setup["ckpt"], "--out", str(out), "--work-dir", str(tmp_path / "w"),
                 "--device", "cpu"]) == 0
    assert "mIoU" in capsys.readouterr().out
    written = _read(out)
    assert sorted(written) == [f"val_0000{i}.png" for i in range(4)]
    for name, labels in written.items():
        direct = inference_model(setup["model"], str(setup["images"] / name)).pred_sem_seg.data[0].numpy()
        np.testing.assert_array_equal(labels, direct)


def test_tta_averages_the_flipped_views(setup, tmp_path):
    assert main(["infer", setup["config"], setup["ckpt"], str(setup["images"] / "odd_a.png"), "--tta",
                 "--out-dir", str(tmp_path), "--device", "cpu"]) == 0
    got = cv2.imread(str(tmp_path / "pred" / "odd_a.png"), cv2.IMREAD_UNCHANGED)
    image = cv2.imread(str(setup["images"] / "odd_a.png"))
    plain = inference_model(setup["model"], image).seg_logits.data.softmax(0)
    flipped = inference_model(setup["model"], np.ascontiguousarray(image[:, ::-1])).seg_logits.data.softmax(0)
    expected = (plain + flipped.flip(-1)).argmax(0).numpy()
    np.testing.assert_array_equal(got, expected)
    assert (got != plain.argmax(0).numpy()).any()  # the flipped view changed some labels


def _write_video(path: str, frames: int = 5, size: tuple[int, int] = (40, 24), fps: float = 7.0) -> None:
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    rng = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    writer.release()


def test_video_keeps_fps_and_size_and_writes_frame_labels(setup, tmp_path):
    video = str(tmp_path / "clip.mp4")
    _write_video(video)
    assert main(["infer", setup["config"], setup["ckpt"], video, "--out-dir", str(tmp_path / "out"),
                 "--batch-size", "2", "--device", "cpu"]) == 0
    written = cv2.VideoCapture(str(tmp_path / "out" / "vis" / "clip.mp4"))
    assert written.get(cv2.CAP_PROP_FPS) == pytest.approx(7.0)
    assert (written.get(cv2.CAP_PROP_FRAME_WIDTH), written.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (40, 24)
    assert int(written.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    written.release()
    labels = _read(tmp_path / "out" / "pred" / "clip")
    assert sorted(labels) == [f"{i:06d}.png" for i in range(5)]
    source = cv2.VideoCapture(video)  # decoding the source again gives the frames the model saw
    for i in range(5):
        ok, frame = source.read()
        assert ok
        direct = inference_model(setup["model"], frame).pred_sem_seg.data[0].numpy()
        np.testing.assert_array_equal(labels[f"{i:06d}.png"], direct)
    assert main(["infer", setup["config"], setup["ckpt"], video, "--out-dir", str(tmp_path / "only_vis"),
                 "--no-frame-pngs", "--device", "cpu"]) == 0
    assert os.listdir(tmp_path / "only_vis") == ["vis"]


def test_tiled_cli_equals_whole_image(setup, tmp_path):
    rng = np.random.default_rng(3)
    image = np.zeros((96, 128, 3), np.uint8)
    for _ in range(12):
        y, x = rng.integers(0, 80), rng.integers(0, 110)
        image[y : y + rng.integers(8, 40), x : x + rng.integers(8, 40)] = rng.integers(0, 256, 3)
    cv2.imwrite(str(tmp_path / "big.png"), image)
    for args, out in (([], "whole"), (["--tile", "48", "--tile-overlap", "32"], "tiled")):
        assert main(["infer", setup["config"], setup["ckpt"], str(tmp_path / "big.png"), "--out-dir",
                     str(tmp_path / out), "--device", "cpu", *args]) == 0
    whole, tiled = _read(tmp_path / "whole" / "pred")["big.png"], _read(tmp_path / "tiled" / "pred")["big.png"]
    np.testing.assert_array_equal(whole, tiled)
    np.testing.assert_array_equal(_read(tmp_path / "whole" / "vis")["big.png"], _read(tmp_path / "tiled" / "vis")["big.png"])
    assert sorted(os.listdir(tmp_path / "tiled" / "pred")) == ["big.png"]  # the temporary arrays are gone
    with pytest.raises(SystemExit, match="--tile-overlap"):
        main(["infer", setup["config"], setup["ckpt"], str(tmp_path / "big.png"), "--tile", "32"])


def test_shard_is_disjoint_and_complete():
    items = list(range(7))
    parts = [shard(items, r, 3) for r in range(3)]
    assert parts == [[0, 3, 6], [1, 4], [2, 5]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_splits_the_inputs_across_processes(setup, tmp_path):
    import torch.distributed as dist

    if not dist.is_available():
        from _optional import skip_reason

        skip_reason("no-distributed")
    repo = osp.dirname(_tiny_seg.TESTS_DIR)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join([_tiny_seg.TESTS_DIR, repo, os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(_free_port()), "-m", "seglab.cli", "infer", setup["config"], setup["ckpt"],
           str(setup["images"]), "--out-dir", str(tmp_path / "dist"), "--launcher", "pytorch", "--device", "cpu"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "3 images, 0 videos (0 frames) (process 0 of 2)" in proc.stdout
    assert "3 images, 0 videos (0 frames) (process 1 of 2)" in proc.stdout
    got = _read(tmp_path / "dist" / "pred")
    assert len(got) == 6
    for name, labels in got.items():
        direct = inference_model(setup["model"], str(setup["images"] / name)).pred_sem_seg.data[0].numpy()
        np.testing.assert_array_equal(labels, direct)


def test_amp_predicts_under_autocast(setup, tmp_path):
    """--amp: bfloat16 autocast on the CPU; the PNGs hold what init_model(amp=True) predicts."""
    assert main(["infer", setup["config"], setup["ckpt"], str(setup["images"]), "--amp", "--out-dir", str(tmp_path),
                 "--device", "cpu"]) == 0
    amp_model = init_model(setup["config"], setup["ckpt"], amp=True)
    for name, labels in _read(tmp_path / "pred").items():
        sample = inference_model(amp_model, str(setup["images"] / name))
        assert sample.seg_logits.data.dtype == torch.bfloat16  # autocast reached the forward
        np.testing.assert_array_equal(labels, sample.pred_sem_seg.data[0].numpy())
        full = inference_model(setup["model"], str(setup["images"] / name)).pred_sem_seg.data[0].numpy()
        assert (labels == full).mean() > 0.9  # bfloat16 rounding flips only near-tied pixels


def test_compile_and_channels_last_reach_the_model_through_cfg_options(setup, tmp_path, monkeypatch, capsys):
    """`seglab infer --cfg-options compile=True channels_last=True`: the model it predicts with is channels-last and
    its forward compiled; the labels are the plain model's."""
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: compiled.append(fn.__self__) or fn)
    image = str(setup["images"] / "odd_a.png")
    assert main(["infer", setup["config"], setup["ckpt"], image, "--out-dir", str(tmp_path), "--device", "cpu",
                 "--cfg-options", "compile=True", "channels_last=True"]) == 0
    assert len(compiled) == 1
    convs = [p for p in compiled[0].parameters() if p.dim() == 4 and p.shape[-1] > 1]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous() for p in convs)
    got = cv2.imread(str(tmp_path / "pred" / "odd_a.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(got, inference_model(setup["model"], image).pred_sem_seg.data[0].numpy())
    capsys.readouterr()
    assert main(["infer", setup["config"], setup["ckpt"], image, "--out-dir", str(tmp_path), "--device", "cpu",
                 "--cfg-options", "compile=yes"]) != 0
    assert "config error: compile must be True/False or a dict of torch.compile arguments, got 'yes'" in \
        capsys.readouterr().err
