"""seglab.apis.export / ``seglab export``: ONNX and TorchScript exports of tiny FCN, PSPNet, DeepLabV3+ and
SegFormer configs match PyTorch within 1e-4, at the export size and (dynamic axes) at a second size and batch."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch
from _export_configs import TINY, write_tiny
from _optional import require
from torch import nn

from seglab.apis import init_model
from seglab.apis.export import ExportableAdaptiveAvgPool2d, ExportError, export_model, second_shape
from seglab.cli import main

DOC = Path(__file__).parents[2] / "docs" / "export.md"
README = Path(__file__).parents[2] / "README.md"


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    root = tmp_path_factory.mktemp("tiny_export")
    return {name: write_tiny(str(root), name) for name in TINY}


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("name", list(TINY))
def test_dynamic_export_matches_pytorch_at_two_sizes(tiny, tmp_path, name, fmt):
    if fmt == "onnx":
        require("onnx"), require("onnxruntime")
    model = init_model(*tiny[name])
    result = export_model(model, str(tmp_path / f"{name}.{fmt}"), format=fmt, shape=(32, 32), dynamic=True,
                          output="logits")
    assert list(result.max_abs_diff) == [(1, 3, 32, 32), (2, 3, *second_shape(32, 32))] == [(1, 3, 32, 32),
                                                                                            (2, 3, 64, 64)]
    assert all(d <= 1e-4 for d in result.max_abs_diff.values()), result.max_abs_diff
    # PSPNet's pyramid pooling (bins 2, 3, 6 on a 4x4 map) goes to ONNX as matrix products.
    assert result.swapped_pools == (3 if (name, fmt) == ("pspnet", "onnx") else 0)
    assert Path(result.path).stat().st_size > 10_000


def test_exportable_adaptive_pool_equals_pytorch_at_odd_sizes():
    x = torch.randn(2, 3, 13, 7)
    for size in [(6, 6), 3, (2, None), (5, 4)]:
        expected = nn.AdaptiveAvgPool2d(size)(x)
        torch.testing.assert_close(ExportableAdaptiveAvgPool2d(size)(x), expected, rtol=0, atol=1e-6)


def test_static_torchscript_labels_and_a_failed_check_is_a_clear_error(tiny, tmp_path, capsys):
    config, checkpoint = tiny["fcn"]
    out = tmp_path / "fcn.pt"
    assert main(["export", config, checkpoint, "--format", "torchscript", "--shape", "32", "32", "--out", str(out),
                 "--output", "logits"]) == 0
    assert re.search(r"max abs difference of the logits 0 \(tolerance 0.0001\)", capsys.readouterr().out)
    loaded = torch.jit.load(str(out))
    assert loaded(torch.zeros(1, 3, 32, 32)).shape == (1, 19, 32, 32)
    # A negative tolerance cannot be met: the command fails and says by how much.
    assert main(["export", config, checkpoint, "--format", "torchscript", "--shape", "32", "32", "--out", str(out),
                 "--output", "logits", "--tolerance", "-1"]) == 1
    assert "exported logits differ from PyTorch by 0 > tolerance -1 at input (1, 3, 32, 32)" in capsys.readouterr().out
    model = init_model(config, checkpoint)
    with pytest.raises(ExportError, match="format must be one of"):
        export_model(model, str(out), format="tflite")
    # A sliding-window test_cfg is not part of the graph: said, not silently dropped.
    model.test_cfg = dict(mode="slide", crop_size=(16, 16), stride=(8, 8))
    with pytest.warns(UserWarning, match="test_cfg.mode='slide' is not exported"):
        export_model(model, str(out), format="torchscript", shape=(16, 16), verify=False)


def doc_commands(text: str) -> list[str]:
    """The ``seglab export`` lines of the ```bash blocks, in order."""
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip().startswith("seglab export")]


def test_doc_commands_run_and_the_onnx_file_gives_predict_labels(tiny, tmp_path, monkeypatch, capsys):
    require("onnx")
    ort = require("onnxruntime")
    commands = doc_commands(DOC.read_text())
    assert len(commands) == 4 and "docs/export.md" in README.read_text()
    config, checkpoint = tiny["pspnet"]
    monkeypatch.chdir(tmp_path)
    printed = []
    for command in commands:
        # The only changes: the tiny PSPNet for $CFG/$CKPT and a 32x48 input for 512x1024.
        command = command.replace("$CFG", config).replace("$CKPT", checkpoint).replace("--shape 512 1024",
                                                                                       "--shape 32 48")
        assert main(shlex.split(command)[1:]) == 0, command
        printed.append(capsys.readouterr().out)
    first = printed[0]  # seglab export $CFG $CKPT --format onnx --shape 512 1024 --out pspnet.onnx
    assert "exported onnx to pspnet.onnx" in first
    assert "channels RGB, normalised as (x - mean) / std with mean=[123.675, 116.28, 103.53]" in first
    assert "output: int64 (N, 1, H, W) class labels at the input size (19 classes)" in first
    assert re.search(r"check at input \(1, 3, 32, 48\): max abs difference of the labels 0; 0 labels differ", first)
    assert "check at input (2, 3, 64, 64)" in printed[1] and "of the logits" in printed[2]
    # The file alone: MMDeploy's names, and the labels of SegDataSample.pred_sem_seg.
    session = ort.InferenceSession("pspnet.onnx", providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"] and [o.name for o in session.get_outputs()] == ["output"]
    x = torch.randn(1, 3, 32, 48, generator=torch.Generator().manual_seed(3))
    labels = session.run(None, {"input": x.numpy()})[0]
    model = init_model(config, checkpoint)
    with torch.no_grad():
        expected = model.predict(x)[0].pred_sem_seg.data.numpy()
    assert labels.dtype == np.int64 and labels.shape == (1, 1, 32, 48)
    np.testing.assert_array_equal(labels[0], expected)


def test_functional_adaptive_pooling_fails_with_the_way_out(tmp_path):
    """APCNet pools with F.adaptive_avg_pool2d (no module to swap): ONNX has no operator for it at 4x4 -> 3x3."""
    require("onnx")
    bn = dict(type="BN")
    from seglab.registry import MODELS

    model = MODELS.build(dict(
        type="EncoderDecoder", backbone=dict(type="_tiny_seg.TinyBackbone"),
        decode_head=dict(type="APCHead", in_channels=8, channels=8, pool_scales=(1, 3), num_classes=5, norm_cfg=bn)))
    with pytest.raises(ExportError, match=r"functional adaptive pooling with output size > 1: export without "
                                          r"--dynamic at a shape whose feature maps are multiples of the pool sizes"):
        export_model(model, str(tmp_path / "apc.onnx"), shape=(16, 16))
