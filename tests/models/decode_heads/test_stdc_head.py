"""STDCHead: hand-computed Laplacian boundary targets and the losses trained on them."""
import torch
import torch.nn.functional as F

from seglab.models.decode_heads import STDCHead
from seglab.models.decode_heads.stdc_head import boundary_targets
from seglab.structures import PixelData, SegDataSample


def _head(**kw) -> STDCHead:
    return STDCHead(in_channels=4, channels=4, num_convs=1, concat_input=False, num_classes=2, out_channels=1,
                    boundary_threshold=kw.pop("boundary_threshold", 0.1),
                    loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=True), **kw)


def _label() -> torch.Tensor:
    label = torch.zeros(1, 1, 8, 8, dtype=torch.long)
    label[0, 0, 2, 2] = 2
    return label


def test_boundary_targets_of_one_labelled_pixel():
    head = _head()
    # Laplacian at stride 1: 16 at (2, 2) only. At stride 2, output (1, 1) is centred on (2, 2): 16, and its
    # nearest upsampling covers rows/cols 2-3. Stride 4 centres (0/4, 0/4) never touch (2, 2).
    # Fused: 0.6 + 0.3 at (2, 2), 0.3 at the other three pixels of the block: all > 0.1.
    expected = torch.zeros(1, 1, 8, 8, dtype=torch.long)
    expected[0, 0, 2:4, 2:4] = 1
    got = boundary_targets(_label(), head.laplacian_kernel, head.fusion_kernel, 0.1)
    assert torch.equal(got, expected)
    # With threshold 0.5 only the pixel seen at two scales (0.9) stays a boundary.
    got = boundary_targets(_label(), head.laplacian_kernel, head.fusion_kernel, 0.5)
    assert got.sum() == 1 and got[0, 0, 2, 2] == 1


def test_stdc_head_buffers_match_mmseg():
    head = _head()
    keys = set(head.state_dict())
    assert {"laplacian_kernel", "fusion_kernel"} <= keys
    assert not head.fusion_kernel.requires_grad
    assert head.laplacian_kernel.flatten().tolist() == [-1, -1, -1, -1, 8, -1, -1, -1, -1]
    assert torch.allclose(head.fusion_kernel.flatten(), torch.tensor([0.6, 0.3, 0.1]))


def test_loss_is_computed_against_the_boundary_map():
    head = _head()
    logits = torch.randn(1, 1, 8, 8)
    sample = SegDataSample(gt_sem_seg=PixelData(data=_label()[0]))
    losses = head.loss_by_feat(logits, [sample])
    target = torch.zeros(1, 1, 8, 8)
    target[0, 0, 2:4, 2:4] = 1
    expected = F.binary_cross_entropy_with_logits(logits, target)
    assert torch.allclose(losses["loss_ce"], expected, atol=1e-6)
