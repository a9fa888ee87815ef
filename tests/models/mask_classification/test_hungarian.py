"""The assignment solver: optimal (equal to brute force) on small random and tied cost matrices, both
orientations, and the SciPy/own dispatch."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from seglab.models.mask_classification import hungarian, linear_sum_assignment


def brute_force(cost: np.ndarray) -> float:
    """Minimum total over every injective map of the smaller side into the larger."""
    n, m = cost.shape
    if n <= m:
        return min(cost[np.arange(n), list(p)].sum() for p in itertools.permutations(range(m), n))
    return brute_force(cost.T)


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (4, 6), (6, 4), (5, 5), (2, 7), (7, 3)])
@pytest.mark.parametrize("seed", range(4))
def test_hungarian_equals_brute_force(shape: tuple[int, int], seed: int):
    rng = np.random.default_rng(seed)
    cost = rng.normal(size=shape)
    if seed == 3:
        cost = rng.integers(0, 3, size=shape).astype(float)  # many ties
    rows, cols = hungarian(cost)
    k = min(shape)
    assert len(rows) == len(cols) == k
    assert list(rows) == sorted(rows) and len(set(rows)) == k and len(set(cols)) == k
    assert cost[rows, cols].sum() == pytest.approx(brute_force(cost), abs=1e-9)


def test_known_assignment_and_edge_cases():
    cost = np.array([[4.0, 1.0, 3.0], [2.0, 0.0, 5.0], [3.0, 2.0, 2.0]])
    rows, cols = hungarian(cost)
    assert rows.tolist() == [0, 1, 2] and cols.tolist() == [1, 0, 2]  # total 1 + 2 + 2 = 5
    assert [len(a) for a in hungarian(np.zeros((0, 3)))] == [0, 0]
    with pytest.raises(ValueError, match="NaN or infinite"):
        hungarian(np.array([[0.0, np.nan]]))


def test_linear_sum_assignment_is_optimal_whichever_solver():
    cost = np.random.default_rng(7).normal(size=(6, 4))
    rows, cols = linear_sum_assignment(cost)
    assert cost[rows, cols].sum() == pytest.approx(brute_force(cost))
