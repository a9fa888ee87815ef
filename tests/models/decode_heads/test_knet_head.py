"""K-Net: IterativeDecodeHead stage losses, eval output, gradients, training, init; KernelUpdateHead shapes."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from seglab.models.decode_heads import IterativeDecodeHead
from seglab.models.layers import KernelUpdateHead, KernelUpdator
from seglab.registry import ConfigError
from seglab.structures import PixelData, SegDataSample

C, K = 16, 3  # kernel width, classes


def _stage(**kw) -> dict:
    cfg = dict(type="KernelUpdateHead", num_classes=K, num_heads=2, num_mask_fcs=1, feedforward_channels=32,
               in_channels=C, out_channels=C, feat_transform_cfg=dict(conv_cfg=dict(type="Conv2d"), act_cfg=None),
               kernel_updator_cfg=dict(type="KernelUpdator", in_channels=8, feat_channels=8, out_channels=8))
    return {**cfg, **kw}


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """One intra-op thread: on a loaded 2-core machine OpenMP workers waiting for each other dominate."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _head(num_stages: int = 2, **stage_kw) -> IterativeDecodeHead:
    torch.manual_seed(0)
    return IterativeDecodeHead(
        num_stages=num_stages, kernel_update_head=[_stage(**stage_kw) for _ in range(num_stages)],
        kernel_generate_head=dict(type="FCNHead", in_channels=8, channels=C, num_convs=1, num_classes=K,
                                  dropout_ratio=0.0, norm_cfg=dict(type="BN")))


def _batch(n: int = 2, size: int = 8) -> tuple[list[torch.Tensor], list[SegDataSample]]:
    torch.manual_seed(1)
    feats = [torch.randn(n, 8, size, size)]
    # Labels the features determine (argmax of their first K channels), so a few steps can fit them.
    labels = F.interpolate(feats[0][:, :K].argmax(1, keepdim=True).float(), scale_factor=4, mode="nearest").long()
    labels[:, :, :2] = 255  # ignored rows
    samples = [SegDataSample(gt_sem_seg=PixelData(data=labels[i])) for i in range(n)]
    return feats, samples


def test_stage_losses_are_the_generate_heads_loss_of_each_stage():
    head = _head()
    feats, samples = _batch()
    head.train()
    losses = head.loss(feats, samples)
    assert sorted(losses) == sorted(f"{k}.s{i}" for k in ("loss_ce", "acc_seg") for i in range(3))
    torch.manual_seed(0)
    stage_logits = head.forward(feats)  # BN in train mode: same statistics as inside loss()
    labels = torch.stack([s.gt_sem_seg.data for s in samples]).squeeze(1)
    for i, logits in enumerate(stage_logits):
        up = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=False)
        # MMSeg's default avg_non_ignore=False: the mean runs over every pixel, ignored ones included.
        expected = F.cross_entropy(up, labels, ignore_index=255, reduction="sum") / labels.numel()
        torch.testing.assert_close(losses[f"loss_ce.s{i}"], expected)


def test_eval_returns_the_last_stage_and_predict_resizes_it():
    head = _head().eval()
    feats, _ = _batch()
    out = head(feats)
    head.train()
    for m in head.modules():  # batch statistics would differ from the running ones: keep BN in eval
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()
    stages = head(feats)
    assert len(stages) == 3 and out.shape == (2, K, 8, 8)
    torch.testing.assert_close(stages[-1], out)
    assert not torch.allclose(stages[0], out)  # the update stages change the generate head's logits
    head.eval()
    pred = head.predict(feats, [dict(img_shape=(32, 32), pad_shape=(32, 32))])
    torch.testing.assert_close(pred, F.interpolate(out, size=(32, 32), mode="bilinear", align_corners=False))


def test_backward_reaches_every_parameter_and_training_lowers_the_loss():
    head = _head()
    feats, samples = _batch()
    opt = torch.optim.AdamW(head.parameters(), lr=1e-2)
    history = []
    for step in range(20):
        losses = head.loss(feats, samples)
        total = sum(v for k, v in losses.items() if k.startswith("loss"))
        opt.zero_grad()
        total.backward()
        if step == 0:
            missing = [n for n, p in head.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
            assert not missing, missing
        opt.step()
        history.append(total.item())
    assert history[-1] < 0.5 * history[0], history


def test_num_stages_must_match_the_update_heads():
    with pytest.raises(ConfigError, match="num_stages=3 but kernel_update_head has 2"):
        IterativeDecodeHead(num_stages=3, kernel_update_head=[_stage(), _stage()],
                            kernel_generate_head=dict(type="FCNHead", in_channels=8, channels=C, num_classes=K))


def test_update_stages_keep_pytorch_init_inside_the_head_but_init_weights_applies_xavier():
    head = _head()
    before = {k: v.clone() for k, v in head.kernel_update_head.state_dict().items()}
    head.init_weights()
    after = head.kernel_update_head.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # MMSeg never re-initialises them

    with pytest.warns(UserWarning, match="kernel_init=True has no effect"):
        _head(kernel_init=True)
    stage = KernelUpdateHead(**{k: v for k, v in _stage(kernel_init=True).items() if k != "type"})
    stage.init_weights()
    w = stage.ffn.layers[0][0].weight.detach()  # (32, 16): Xavier-uniform bound sqrt(6 / (16 + 32))
    assert w.abs().max() <= math.sqrt(6 / 48) and w.abs().max() > 0.8 * math.sqrt(6 / 48)
    assert 0.005 < float(stage.fc_mask.weight.detach().std()) < 0.015  # kernel_init: N(0, 0.01)


@pytest.mark.parametrize("kernel_size,mask_stride", [(1, 1), (3, 2)])
def test_update_head_shapes(kernel_size: int, mask_stride: int):
    stage = KernelUpdateHead(num_classes=K, num_heads=2, num_mask_fcs=2, feedforward_channels=32, in_channels=C,
                             out_channels=C, conv_kernel_size=kernel_size, mask_transform_stride=mask_stride,
                             kernel_updator_cfg=dict(type="KernelUpdator", in_channels=C, feat_channels=C,
                                                     out_channels=C, gate_norm_act=True, activate_out=True))
    x = torch.randn(2, C, 8, 8)
    masks, kernels = stage(x, torch.randn(2, K, C, kernel_size, kernel_size), torch.randn(2, K, 4, 4),
                           mask_shape=(16, 16))
    assert masks.shape == (2, K, 16, 16) and kernels.shape == (2, K, C, kernel_size, kernel_size)
    assert "kernel_update_conv.gate_norm.weight" in stage.state_dict()


def test_updator_reads_wide_kernels_as_rows_of_in_channels():
    # A 16-wide kernel through an 8-wide updator equals updating its two halves as separate kernels.
    torch.manual_seed(0)
    upd = KernelUpdator(in_channels=8, feat_channels=8, out_channels=8).eval()
    feat, kernel = torch.randn(2, 3, 16), torch.randn(2, 3, 1, 16)
    out = upd(feat, kernel).reshape(2, 3, 16)
    halves = upd(feat.reshape(12, 8), kernel.reshape(12, 1, 8)).reshape(2, 3, 16)
    torch.testing.assert_close(out, halves)


def test_updator_needs_feat_channels_equal_to_in_channels():
    with pytest.raises(ConfigError, match=r"feat_channels \(64\) must equal in_channels \(256\)"):
        KernelUpdator(in_channels=256, feat_channels=64)


def test_segmentor_losses_are_named_per_stage_and_stage_classes_are_checked():
    from seglab.models.segmentors import EncoderDecoder

    torch.manual_seed(0)
    model = EncoderDecoder(
        backbone=dict(type="ResNetV1c", depth=18, stem_channels=4, base_channels=4, out_indices=(2, 3)),
        decode_head=dict(type="IterativeDecodeHead", num_stages=1, kernel_update_head=[_stage(in_channels=C)],
                         kernel_generate_head=dict(type="FCNHead", in_channels=32, in_index=1, channels=C,
                                                   num_convs=1, num_classes=K)),
        auxiliary_head=dict(type="FCNHead", in_channels=16, in_index=0, channels=4, num_convs=1, num_classes=K,
                            loss_decode=dict(type="CrossEntropyLoss", loss_weight=0.4)))
    _, samples = _batch(size=8)
    losses = model.loss(torch.randn(2, 3, 32, 32), samples)
    assert sorted(losses) == ["aux.acc_seg", "aux.loss_ce", "decode.acc_seg.s0", "decode.acc_seg.s1",
                              "decode.loss_ce.s0", "decode.loss_ce.s1"]
    assert model.num_classes == K and model.out_channels == K
    with pytest.warns(UserWarning, match=r"num_classes \[150\] differ from kernel_generate_head.num_classes \(3\)"):
        _head(num_classes=150)
