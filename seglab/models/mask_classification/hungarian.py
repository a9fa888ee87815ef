"""Minimum-cost one-to-one assignment (the linear sum assignment problem).

``linear_sum_assignment`` uses SciPy's solver when SciPy is importable and otherwise this module's own
O(n² m) shortest-augmenting-path Hungarian algorithm with potentials (Kuhn-Munkres / Jonker-Volgenant
style), vectorised over columns with NumPy. Both give an optimal assignment (ties may pick different
but equally cheap pairs); tests/models/mask_classification/test_hungarian.py checks it against brute force.
"""
from __future__ import annotations

import numpy as np

__all__ = ["hungarian", "linear_sum_assignment"]


def _solve_rows_le_cols(cost: np.ndarray) -> np.ndarray:
    """Column assigned to each row of ``cost`` (n, m) with n <= m, minimising the total."""
    n, m = cost.shape
    u = np.zeros(n + 1)
    v = np.zeros(m + 1)
    row_of_col = np.zeros(m + 1, dtype=np.int64)  # 1-based row matched to column j; 0 = free (column 0 is virtual)
    way = np.zeros(m + 1, dtype=np.int64)
    for i in range(1, n + 1):
        row_of_col[0] = i
        j0 = 0
        minv = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, dtype=bool)
        while True:  # grow the alternating tree until a free column is reached
            used[j0] = True
            i0 = row_of_col[j0]
            free = ~used[1:]
            reduced = cost[i0 - 1] - u[i0] - v[1:]
            better = free & (reduced < minv[1:])
            minv[1:][better] = reduced[better]
            way[1:][better] = j0
            candidates = np.where(free, minv[1:], np.inf)
            j1 = int(np.argmin(candidates)) + 1
            delta = candidates[j1 - 1]
            u[row_of_col[used]] += delta
            v[used] -= delta
            minv[1:][free] -= delta
            j0 = j1
            if row_of_col[j0] == 0:
                break
        while j0:  # flip the augmenting path
            j1 = way[j0]
            row_of_col[j0] = row_of_col[j1]
            j0 = j1
    col_of_row = np.empty(n, dtype=np.int64)
    cols = np.nonzero(row_of_col[1:])[0]
    col_of_row[row_of_col[1:][cols] - 1] = cols
    return col_of_row


def hungarian(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Own solver: ``(row_ind, col_ind)`` of a minimum-cost assignment of ``min(n, m)`` pairs, rows ascending."""
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2:
        raise ValueError(f"cost matrix must be 2-D, got shape {cost.shape}")
    if not np.isfinite(cost).all():
        raise ValueError("cost matrix contains NaN or infinite entries")
    n, m = cost.shape
    if n == 0 or m == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if n <= m:
        return np.arange(n, dtype=np.int64), _solve_rows_le_cols(cost)
    rows = _solve_rows_le_cols(cost.T)  # row matched to each column
    order = np.argsort(rows)
    return rows[order], np.arange(m, dtype=np.int64)[order]


def linear_sum_assignment(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``scipy.optimize.linear_sum_assignment`` when SciPy is installed, else :func:`hungarian`."""
    try:
        from scipy.optimize import linear_sum_assignment as scipy_lsa
    except ImportError:
        return hungarian(cost)
    rows, cols = scipy_lsa(np.asarray(cost, dtype=np.float64))
    return rows.astype(np.int64), cols.astype(np.int64)
