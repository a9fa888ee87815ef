"""A sigmoid (out_channels=1) model end to end: inference_model, show_result_pyplot, ``seglab infer`` and
``seglab test --show-dir`` give integer predictions and draw with the dataset palette (pixel colours checked)."""
from __future__ import annotations

import glob
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from seglab.apis import SegInferencer, inference_model, init_model, show_result_pyplot
from seglab.apis.inferencer import expand_inputs, write_label_png
from seglab.cli import main
from seglab.registry import MODELS


@MODELS.register_module(force=True)
class TinyBinaryBackbone(nn.Module):
    """conv(3->8, s2)-ReLU: one stride-2 map."""

    out_channels = [8]

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, 2, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        return (torch.relu(self.conv(x)),)


CFG_PALETTE = [[10, 200, 30], [250, 20, 120]]
CKPT_PALETTE = [[0, 0, 255], [255, 255, 0]]
CONFIG = """
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[100.0] * 3, std=[50.0] * 3, bgr_to_rgb=True),
    backbone=dict(type='TinyBinaryBackbone'),
    decode_head=dict(type='FCNHead', in_channels=8, channels=8, num_convs=0, concat_input=False, num_classes=2,
                     out_channels=1, threshold=0.5, loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=True)),
    test_cfg=dict(mode='whole'))
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'), dict(type='PackSegInputs')]
test_dataloader = dict(batch_size=2, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='BaseSegDataset', data_root='{root}', img_suffix='.png', seg_map_suffix='.png',
                 data_prefix=dict(img_path='img', seg_map_path='ann'), pipeline=test_pipeline,
                 metainfo=dict(classes=('background', 'cell'), palette={palette})))
test_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_cfg = dict(type='TestLoop')
visualizer = dict(type='SegLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')], alpha=1.0)
work_dir = '{root}/work'
"""
SIZES = [(20, 24), (17, 29)]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Config, two images of different sizes with 0/1 masks, and two checkpoints (with and without meta)."""
    root = tmp_path_factory.mktemp("binary_e2e")
    (root / "img").mkdir()
    (root / "ann").mkdir()
    rng = np.random.default_rng(0)
    images = []
    for i, (h, w) in enumerate(SIZES):
        cv2.imwrite(str(root / "img" / f"im{i}.png"), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        cv2.imwrite(str(root / "ann" / f"im{i}.png"), (rng.random((h, w)) > 0.5).astype(np.uint8))
        images.append(root / "img" / f"im{i}.png")
    cfg = root / "binary.py"
    cfg.write_text(CONFIG.format(root=root, palette=CFG_PALETTE))
    torch.manual_seed(0)
    model = init_model(str(cfg))
    with torch.no_grad():  # zero-mean weights put the 0.5 threshold inside the probability range
        model.backbone.conv.weight.normal_(0, 0.5)
        model.decode_head.conv_seg.weight.normal_(0, 1.0)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with_meta = root / "with_meta.pth"
    torch.save(dict(meta=dict(dataset_meta=dict(classes=["bg", "cell"], palette=CKPT_PALETTE)), state_dict=state),
               with_meta)
    bare = root / "bare.pth"
    torch.save(dict(state_dict=state), bare)
    return dict(root=root, cfg=cfg, images=images, with_meta=with_meta, bare=bare)


def colours(palette: list, labels: np.ndarray) -> np.ndarray:
    """RGB image (H, W, 3) of ``labels`` drawn at opacity 1."""
    return np.asarray(palette, dtype=np.uint8)[labels]


def test_inference_model_gives_int64_and_show_result_uses_the_checkpoint_palette(project: dict) -> None:
    model = init_model(str(project["cfg"]), str(project["with_meta"]))
    assert model.dataset_meta == dict(classes=["bg", "cell"], palette=CKPT_PALETTE)
    results = inference_model(model, [str(p) for p in project["images"]])  # two sizes in one call
    for result, (h, w), path in zip(results, SIZES, project["images"]):
        pred = result.pred_sem_seg.data
        assert pred.dtype == torch.int64 and pred.shape == (1, h, w)
        assert set(pred.unique().tolist()) == {0, 1}
        assert torch.equal(pred, (result.seg_logits.data > 0.5).long())
        one = inference_model(model, str(path))
        assert torch.equal(one.pred_sem_seg.data, pred)
        drawn = show_result_pyplot(model, str(path), result, opacity=1.0, withLabels=True, draw_gt=False)
        labels = pred[0].numpy()
        # Class names are written on top of the regions; every other pixel has its class colour.
        plain = show_result_pyplot(model, str(path), result, opacity=1.0, withLabels=False, draw_gt=False)
        np.testing.assert_array_equal(plain, colours(CKPT_PALETTE, labels))
        assert drawn.shape == plain.shape


def test_config_palette_is_used_when_the_checkpoint_has_no_meta(project: dict, recwarn) -> None:
    model = init_model(str(project["cfg"]), str(project["bare"]))
    assert model.dataset_meta == dict(classes=["background", "cell"], palette=CFG_PALETTE)
    assert not [w for w in recwarn if "class names" in str(w.message)]


def test_seglab_infer_writes_label_pngs_and_palette_overlays(project: dict, tmp_path: Path, capsys) -> None:
    model = init_model(str(project["cfg"]), str(project["bare"]))
    out = tmp_path / "out"
    code = main(["infer", str(project["cfg"]), str(project["bare"]), str(project["root"] / "img"),
                 "--out-dir", str(out), "--batch-size", "2", "--opacity", "1.0", "--device", "cpu"])
    assert code == 0
    assert "infer 2/2" in capsys.readouterr().err  # the progress line
    for path, (h, w) in zip(project["images"], SIZES):
        expected = inference_model(model, str(path)).pred_sem_seg.data[0].numpy()
        written = cv2.imread(str(out / "pred" / f"{path.stem}.png"), cv2.IMREAD_UNCHANGED)
        assert written.dtype == np.uint8 and written.shape == (h, w)
        np.testing.assert_array_equal(written, expected)
        vis = cv2.imread(str(out / "vis" / f"{path.stem}.png"))[..., ::-1]
        np.testing.assert_array_equal(vis, colours(CFG_PALETTE, expected))


def test_inferencer_glob_and_names(project: dict, tmp_path: Path) -> None:
    inferencer = SegInferencer(str(project["cfg"]), str(project["bare"]))
    pattern = str(project["root"] / "img" / "im*.png")
    items, single = expand_inputs(pattern)
    assert [name for _, name in items] == ["im0", "im1"] and not single
    result = inferencer(pattern, out_dir=str(tmp_path), batch_size=2)
    assert [p.shape for p in result["predictions"]] == SIZES
    assert sorted(Path(p).name for p in glob.glob(str(tmp_path / "pred" / "*.png"))) == ["im0.png", "im1.png"]
    with pytest.raises(FileNotFoundError, match="matches no images"):
        expand_inputs(str(project["root"] / "img" / "nothing*.png"))
    with pytest.raises(ValueError, match="both be written as im0.png"):
        expand_inputs([str(project["images"][0]), str(project["root"] / "ann" / "im0.png")])


def test_label_png_is_16_bit_beyond_256_classes(tmp_path: Path) -> None:
    label = np.array([[0, 255], [299, 7]])
    write_label_png(str(tmp_path / "a.png"), label, num_classes=300)
    back = cv2.imread(str(tmp_path / "a.png"), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, label)
    write_label_png(str(tmp_path / "b.png"), label[:1], num_classes=256)
    assert cv2.imread(str(tmp_path / "b.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint8


def test_seglab_test_show_dir_draws_with_the_dataset_palette(project: dict, tmp_path: Path, capsys) -> None:
    model = init_model(str(project["cfg"]), str(project["with_meta"]))
    show = tmp_path / "show"
    code = main(["test", str(project["cfg"]), str(project["with_meta"]), "--show-dir", str(show),
                 "--work-dir", str(tmp_path / "work"), "--device", "cpu"])
    assert code == 0
    assert "| cell" in capsys.readouterr().out
    for path in project["images"]:
        files = glob.glob(str(show / "vis_image" / f"test_{path.stem}_*.png"))
        assert len(files) == 1, files
        drawn = cv2.imread(files[0])[..., ::-1]
        gt = cv2.imread(str(project["root"] / "ann" / path.name), cv2.IMREAD_UNCHANGED).astype(np.int64)
        pred = inference_model(model, str(path)).pred_sem_seg.data[0].numpy()
        w = gt.shape[1]
        # ground truth | prediction, both in the config dataset's colours (alpha 1.0 in the config)
        np.testing.assert_array_equal(drawn[:, :w], colours(CFG_PALETTE, gt))
        np.testing.assert_array_equal(drawn[:, w:], colours(CFG_PALETTE, pred))
