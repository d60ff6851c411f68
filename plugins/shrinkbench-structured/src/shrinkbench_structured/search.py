"""Which channels to remove to reach a compression: plans from channel scores, and the search for the
fraction of channels whose removal reaches the target parameter count.

Parameters do not fall linearly with the channels removed (a channel of a wide layer weighs more than one of
a narrow layer, and removing a channel shrinks the layers on both sides of it), so the fraction is found by a
bracketing search: every candidate plan is carried out on a copy of the model (:func:`dry_run`) and its
parameters are counted. The real model is pruned once, with the best plan.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from shrinkbench import STRUCTURED_TOLERANCE, ShrinkBenchError, eval_mode
from shrinkbench.errors import one_line
from shrinkbench.pruning import count_parameters

from .graph import Plan, remove, trace

__all__ = ["PRECISION", "SCOPES", "dry_run", "make_plan", "search"]

SCOPES = ("layer", "global")
PRECISION = 0.005
"""The search stops once the achieved compression is within this relative distance of the target."""
MAX_STEPS = 24


def make_plan(scores: Mapping[str, Tensor], fraction: float, scope: str) -> dict[str, list[int]]:
    """The channels to remove at ``fraction`` (0 to 1) of the removable channels, lowest scores first.

    ``scope="layer"``: every group loses ``floor(fraction * channels)`` of its own channels (a uniform
    ratio); ``"global"``: the ``round(fraction * R)`` lowest scores over all groups go, ``R`` being all
    channels but the best of each group. Every group keeps at least one channel. Of equal scores, the lower
    channel index of a group is kept (core's tie rule), and across groups the channel of the group that comes
    first in ``scores`` goes first. A larger fraction removes a superset."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    # removal order of each group: lowest score first, of equal scores the highest index first
    orders = {root: torch.argsort(s, descending=True, stable=True).flip(0) for root, s in scores.items()}
    if scope == "layer":
        return {root: sorted(order[:min(math.floor(fraction * len(order)), len(order) - 1)].tolist())
                for root, order in orders.items()}
    roots = list(orders)
    candidates = [(scores[root][order[:-1]], i, order[:-1])
                  for i, (root, order) in enumerate(orders.items())]
    values = torch.cat([v for v, _, _ in candidates])
    owner = torch.cat([torch.full((len(o),), i) for _, i, o in candidates])
    channel = torch.cat([o for _, _, o in candidates])
    chosen = torch.argsort(values, stable=True)[:round(fraction * len(values))]
    plan: dict[str, list[int]] = {root: [] for root in roots}
    for i, c in zip(owner[chosen].tolist(), channel[chosen].tolist(), strict=True):
        plan[roots[i]].append(c)
    return {root: sorted(idxs) for root, idxs in plan.items()}


def dry_run(model: nn.Module, example: Tensor, plan: Plan) -> int:
    """Parameters of ``model`` after removing ``plan``, carried out on a deep copy (``model`` is not touched).

    The copy must still map ``example`` to outputs of the same shape; otherwise, or when Torch-Pruning fails,
    a one-line :class:`ShrinkBenchError` names the model type and the reason."""
    if not any(plan.values()):
        return count_parameters(model)
    trial = copy.deepcopy(model)
    graph = trace(trial, example)
    try:
        remove(graph, trial, plan)
        with eval_mode(model), eval_mode(trial), torch.inference_mode():
            was, now = model(example).shape, trial(example).shape
    except ShrinkBenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - Torch-Pruning left the copy inconsistent
        raise ShrinkBenchError(f"Torch-Pruning cannot remove channels of {type(model).__name__} "
                               f"consistently ({one_line(exc, 160)})") from None
    if was != now:
        raise ShrinkBenchError(f"removing channels changed the output of {type(model).__name__} from "
                               f"{tuple(was)} to {tuple(now)}")
    return count_parameters(trial)


def search(count: Callable[[Plan], int], scores: Mapping[str, Tensor], scope: str, dense: int,
           compression: float, who: str) -> dict[str, list[int]]:
    """The plan whose parameter count ``count(plan)`` comes closest to ``dense / compression``, searched over
    the fraction of removable channels (:func:`make_plan`): at most 24 steps, stopping within 0.5%.

    The fraction is bracketed between one that keeps too many parameters and one that keeps few enough; each
    step tries the point where sqrt(parameters) -- close to linear in the fraction, as a layer's weights
    shrink with its inputs and its outputs -- crosses the target, kept within the middle 80% of the bracket.

    When even the largest fraction (one channel kept per group) keeps more than the target but within
    :data:`STRUCTURED_TOLERANCE`, the closer of no removal and that plan is returned without searching: no
    plan removes more, so there is no bracket to narrow.

    Raises a one-line :class:`ShrinkBenchError` (``who`` names the model) when no plan comes within
    :data:`STRUCTURED_TOLERANCE` of the target, e.g. when keeping one channel per group is still too many."""
    target = dense / compression
    counted: dict[tuple, int] = {}  # fractions close together often give the same plan

    def tried(fraction: float) -> tuple[float, int, float, dict[str, list[int]]]:
        plan = make_plan(scores, fraction, scope)
        key = tuple((root, tuple(idxs)) for root, idxs in plan.items())
        if key not in counted:
            counted[key] = count(plan)
        return abs(target / counted[key] - 1), counted[key], fraction, plan

    lo = best = tried(0.0)
    if lo[1] <= target:
        return lo[3]
    hi = tried(1.0)
    if hi[1] > target and hi[0] > STRUCTURED_TOLERANCE:
        raise ShrinkBenchError(f"{who} cannot reach {compression:g}x by removing channels: keeping one "
                               f"channel per removable group gives {dense / hi[1]:.2f}x")
    best = min(best, hi, key=lambda t: t[0])
    if hi[1] > target:
        # even the largest fraction keeps too many (within tolerance): no plan removes more, and with no end
        # of the bracket at or below the target there is nothing to narrow (lo and hi may even count the same)
        return best[3]
    for _ in range(MAX_STEPS):
        if best[0] <= PRECISION:
            break
        share = (math.sqrt(lo[1]) - math.sqrt(target)) / (math.sqrt(lo[1]) - math.sqrt(hi[1]))
        trial = tried(lo[2] + (hi[2] - lo[2]) * min(max(share, 0.1), 0.9))
        best = min(best, trial, key=lambda t: t[0])
        lo, hi = (trial, hi) if trial[1] > target else (lo, trial)
    if best[0] > STRUCTURED_TOLERANCE:
        raise ShrinkBenchError(f"{who} cannot reach {compression:g}x within {STRUCTURED_TOLERANCE:.0%} by "
                               f"removing whole channels (closest: {dense / best[1]:.2f}x)")
    return best[3]
