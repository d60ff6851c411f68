"""Kendall's rank correlation tau-b, with ties (scipy is not a dependency of ShrinkBench; for the handful of
strategies a report ranks, the O(n^2) count over pairs is exact and fast).

For paired values ``(x_i, y_i)``, over the ``n0 = n (n - 1) / 2`` pairs ``i < j``: a pair is *concordant*
when ``x`` and ``y`` order it the same way, *discordant* when they order it oppositely; ``n1`` pairs are tied
in ``x``, ``n2`` tied in ``y`` (a pair tied in both counts in both, and is neither concordant nor
discordant). Then

    tau_b = (concordant - discordant) / sqrt((n0 - n1) * (n0 - n2))

which is 1 for identical orders, -1 for reversed ones, and equals ``scipy.stats.kendalltau`` (its default
variant ``b``). It is undefined -- NaN here -- with fewer than two values or when every pair is tied in
``x`` or in ``y`` (e.g. all strategies exactly equal under one variant).
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def tau_b(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b of the paired sequences ``x`` and ``y`` (same length; NaN where undefined, see the
    module's docstring). Raises ``ValueError`` when the lengths differ or a value is NaN."""
    if len(x) != len(y):
        raise ValueError(f"tau_b needs paired values, got {len(x)} and {len(y)}")
    if any(math.isnan(v) for v in (*x, *y)):
        raise ValueError("tau_b of NaN values")
    concordant = discordant = tied_x = tied_y = 0
    n = len(x)
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = _sign(x[i] - x[j]), _sign(y[i] - y[j])
            tied_x += dx == 0
            tied_y += dy == 0
            if dx and dy:
                concordant += dx == dy
                discordant += dx != dy
    pairs = n * (n - 1) // 2
    denominator = math.sqrt((pairs - tied_x) * (pairs - tied_y))
    return (concordant - discordant) / denominator if denominator else math.nan


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)
