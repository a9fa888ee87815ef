"""acc_seg: top-k pixel accuracy in percent, ignored pixels skipped."""

import pytest
import torch

from seglab.models.losses import Accuracy
from seglab.models.losses.accuracy import accuracy


def _reference(pred, target, k, thresh, ignore):
    """Pixel by pixel: the target among the k largest logits (and the largest above thresh)."""
    hits = total = 0
    n, c, h, w = pred.shape
    for i in range(n):
        for y in range(h):
            for x in range(w):
                t = int(target[i, y, x])
                if t == ignore:
                    continue
                total += 1
                ranked = sorted(range(c), key=lambda j: -float(pred[i, j, y, x]))
                hits += t in ranked[:k] and (thresh is None or float(pred[i, ranked[0], y, x]) > thresh)
    return 100.0 * hits / total


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("thresh", [None, 0.5])
def test_known_values(k, thresh):
    g = torch.Generator().manual_seed(k)
    pred = torch.randn(2, 5, 4, 6, generator=g)
    target = torch.randint(0, 5, (2, 4, 6), generator=g)
    target[0, 0, :3] = 255
    got = float(accuracy(pred, target, topk=k, thresh=thresh, ignore_index=255))
    assert got == pytest.approx(_reference(pred, target, k, thresh, 255), abs=1e-4)
    assert float(Accuracy(topk=k, thresh=thresh, ignore_index=255)(pred, target)) == pytest.approx(got)


def test_top1_ties_pick_the_first_class_and_all_ignored_is_zero():
    pred = torch.zeros(1, 3, 1, 2)
    target = torch.tensor([[[0, 2]]])
    assert float(accuracy(pred, target)) == 50.0  # a tie goes to class 0
    assert float(accuracy(pred, torch.full((1, 1, 2), 255), ignore_index=255)) == 0.0
    assert float(accuracy(torch.tensor([[[[1.0, -1.0]]]]), torch.tensor([[[1, 1]]]))) == 50.0  # sigmoid: logit > 0
