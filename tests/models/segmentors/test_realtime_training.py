"""One training step of each real-time segmentor with its MMSeg loss list (tiny widths, CPU)."""
import numpy as np
import pytest
import torch

from seglab.datasets.transforms import GenerateEdge
from seglab.registry import MODELS
from seglab.structures import SegDataSample

BN = dict(type="BN")
CE = dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0)
OHEM = dict(type="OhemCrossEntropy", thres=0.9, min_kept=64, class_weight=[0.8, 1.0, 1.2, 0.9])
_R18 = dict(type="ResNetV1c", depth=18, stem_channels=8, base_channels=8)
_STDC = dict(type="STDCNet", stdc_type="STDCNet1", in_channels=3, channels=(8, 16, 32, 64, 128),
             bottleneck_type="cat", norm_cfg=BN, act_cfg=dict(type="ReLU"))


def _fcn(in_channels: int, in_index: int, **kw) -> dict:
    return dict(type="FCNHead", in_channels=in_channels, in_index=in_index, channels=8, num_convs=1,
                concat_input=False, num_classes=4, norm_cfg=BN, loss_decode=kw.pop("loss_decode", CE), **kw)


# name -> (model dict, image size, expected loss keys)
SEGMENTORS = {
    "bisenetv2": (dict(
        backbone=dict(type="BiSeNetV2", detail_channels=(8, 8, 16), semantic_channels=(4, 8, 8, 16),
                      semantic_expansion_ratio=2, bga_channels=16, norm_cfg=BN),
        decode_head=_fcn(16, 0),
        auxiliary_head=[_fcn(4, 1), _fcn(8, 2), _fcn(8, 3), _fcn(16, 4)]),
        64, {"decode.loss_ce", "aux_0.loss_ce", "aux_1.loss_ce", "aux_2.loss_ce", "aux_3.loss_ce"}),
    "bisenetv1": (dict(
        backbone=dict(type="BiSeNetV1", backbone_cfg=_R18, spatial_channels=(8, 8, 8, 16),
                      context_channels=(16, 32, 64), out_channels=16, norm_cfg=BN),
        decode_head=_fcn(16, 0), auxiliary_head=[_fcn(16, 1), _fcn(16, 2)]),
        64, {"decode.loss_ce", "aux_0.loss_ce", "aux_1.loss_ce"}),
    "stdc": (dict(
        backbone=dict(type="STDCContextPathNet", backbone_cfg=_STDC, last_in_channels=(128, 64), out_channels=16,
                      ffm_cfg=dict(in_channels=48, out_channels=32, scale_factor=4), norm_cfg=BN),
        decode_head=_fcn(32, 3, sampler=dict(type="OHEMPixelSampler", thresh=0.7, min_kept=100)),
        auxiliary_head=[_fcn(16, 2), _fcn(16, 1), dict(
            type="STDCHead", in_channels=32, channels=8, num_convs=1, num_classes=2, boundary_threshold=0.1,
            in_index=0, norm_cfg=BN, concat_input=False, align_corners=True,
            loss_decode=[dict(type="CrossEntropyLoss", loss_name="loss_ce", use_sigmoid=True, loss_weight=1.0),
                         dict(type="DiceLoss", loss_name="loss_dice", loss_weight=1.0)])]),
        64, {"decode.loss_ce", "aux_0.loss_ce", "aux_1.loss_ce", "aux_2.loss_ce", "aux_2.loss_dice"}),
    "fastscnn": (dict(
        backbone=dict(type="FastSCNN", downsample_dw_channels=(8, 12), global_in_channels=16,
                      global_block_channels=(16, 24, 32), global_out_channels=32, higher_in_channels=16,
                      lower_in_channels=32, fusion_out_channels=32, norm_cfg=BN),
        decode_head=dict(type="DepthwiseSeparableFCNHead", in_channels=32, channels=8, concat_input=False,
                         num_classes=4, in_index=-1, norm_cfg=BN,
                         loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=True, loss_weight=1)),
        auxiliary_head=[_fcn(32, -2, loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=True, loss_weight=0.4)),
                        _fcn(16, -3, loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=True, loss_weight=0.4))]),
        64, {"decode.loss_ce", "aux_0.loss_ce", "aux_1.loss_ce"}),
    "mobilenet_v3-lraspp": (dict(
        backbone=dict(type="MobileNetV3", arch="small", out_indices=(0, 1, 12), reduction_factor=4, norm_cfg=BN),
        decode_head=dict(type="LRASPPHead", in_channels=(16, 16, 576), in_index=(0, 1, 2), channels=8,
                         input_transform="multiple_select", branch_channels=(4, 4), num_classes=4, norm_cfg=BN,
                         loss_decode=CE)),
        392, {"decode.loss_ce"}),  # LR-ASPP's 49x49 pool needs stride-8 maps of 49x49
    "pidnet": (dict(
        backbone=dict(type="PIDNet", channels=4, ppm_channels=8, num_stem_blocks=2, num_branch_blocks=2, norm_cfg=BN),
        decode_head=dict(type="PIDHead", in_channels=16, channels=8, num_classes=4, norm_cfg=BN, align_corners=True,
                         loss_decode=[dict(CE, class_weight=[0.8, 1.0, 1.2, 0.9], loss_weight=0.4), OHEM,
                                      dict(type="BoundaryLoss", loss_weight=20.0), OHEM])),
        64, {"decode.loss_sem_p", "decode.loss_sem_i", "decode.loss_bd", "decode.loss_sem_bd"}),
    "ddrnet": (dict(
        backbone=dict(type="DDRNet", channels=4, ppm_channels=8, norm_cfg=BN),
        decode_head=dict(type="DDRHead", in_channels=16, channels=8, dropout_ratio=0.0, num_classes=4, norm_cfg=BN,
                         loss_decode=[OHEM, dict(OHEM, loss_weight=0.4)])),
        64, {"decode.loss_context", "decode.loss_spatial"}),
}


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """One intra-op thread (restored afterwards): the tensors are tiny, and on a loaded machine OpenMP
    workers waiting for each other cost more than they compute."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _batch(size: int) -> tuple[torch.Tensor, list[SegDataSample]]:
    gen = torch.Generator().manual_seed(0)
    inputs = torch.randn(2, 3, size, size, generator=gen)
    samples = []
    for _ in range(2):
        label = torch.randint(0, 4, (size // 8, size // 8), generator=gen)
        label = label.repeat_interleave(8, 0).repeat_interleave(8, 1)  # blocks, so there are boundaries
        label[: size // 8] = 255
        edge = GenerateEdge(edge_width=2)(dict(gt_seg_map=label.numpy().astype(np.uint8)))["gt_edge_map"]
        sample = SegDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size)))
        sample.gt_sem_seg = label[None]
        sample.gt_edge_map = torch.from_numpy(edge[None].astype(np.int64))
        samples.append(sample)
    return inputs, samples


@pytest.mark.parametrize("name", list(SEGMENTORS))
def test_training_step_gives_the_mmseg_losses_and_updates_every_parameter(name: str):
    model_cfg, size, keys = SEGMENTORS[name]
    torch.manual_seed(0)
    model = MODELS.build(dict(type="EncoderDecoder", **model_cfg)).train()
    inputs, samples = _batch(size)
    losses = model.loss(inputs, samples)
    loss_terms = {k: v for k, v in losses.items() if "loss" in k}
    assert set(loss_terms) == keys
    assert all(torch.isfinite(v) and v.dim() == 0 for v in loss_terms.values())
    total = sum(loss_terms.values())
    total.backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad, f"{name}: parameters the losses never reach: {no_grad[:5]}"
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    torch.optim.SGD(model.parameters(), lr=0.01).step()
    changed = sum(not torch.equal(p, before[n]) for n, p in model.named_parameters() if p.grad is not None)
    assert changed > 0
    model.eval()
    with torch.no_grad():
        logits = model.encode_decode(inputs, [s.metainfo for s in samples])
    assert logits.shape == (2, 4, size, size)
