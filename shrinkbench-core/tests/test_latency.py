"""The latency metric's calibrated timer: spread columns, early stop, budget stop and interleaving.

The calibration tests run models whose forward pass advances a fake clock by a known amount, so they are exact
and take no real time: a constant cost, seeded random costs, a cost that drifts upward with every call.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

from shrinkbench import schema
from shrinkbench.metrics import MetricContext, latency


class FakeClock:
    """A clock that advances only when a :class:`Ticking` model runs."""

    def __init__(self) -> None:
        self.now = 0.0
        self.calls = 0

    def __call__(self) -> float:
        return self.now


class Ticking(nn.Module):
    """A model whose forward pass costs ``cost(calls so far on the clock)`` seconds of ``clock`` time."""

    def __init__(self, clock: FakeClock, cost: Callable[[int], float]) -> None:
        super().__init__()
        self.clock, self.cost = clock, cost

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.clock.now += self.cost(self.clock.calls)
        self.clock.calls += 1
        return x


def test_every_latency_column_is_measured_and_its_spreads_are_finite_and_non_negative(one_thread):
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    example = torch.randn(1, 16)
    dense = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 4))
    measured = latency.measure(MetricContext(dense, example))  # the run measures its dense model before pruning
    for reference in (None, measured):
        values = latency.measure(MetricContext(model, example, reference=reference))
        assert set(values) == set(schema.LATENCY) and set(schema.LATENCY) <= schema.TIMINGS
        assert all(math.isfinite(v) for v in values.values()), values
        assert all(values[c] >= 0 for c in schema.LATENCY if c.endswith("_spread")), values
        assert values["latency_ms"] > 0 and values["latency_speedup"] > 0
    assert (values["latency_speedup"], values["latency_speedup_spread"]) != (1.0, 0.0)
    alone = latency.measure(MetricContext(model, example))
    assert (alone["latency_speedup_64"], alone["latency_speedup_64_spread"]) == (1.0, 0.0)


def test_measuring_keeps_every_module_mode(one_thread):
    model = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.5), nn.Linear(8, 2)).train()
    model[1].eval()
    modes = [m.training for m in model.modules()]
    latency.measure(MetricContext(model, torch.randn(1, 8), reference={"latency_ms": 1.0, "latency_ms_64": 2.0}))
    assert [m.training for m in model.modules()] == modes


@pytest.mark.parametrize("per_pass", [1.5, 0.013], ids=["slow-pass", "fast-pass"])
def test_a_constant_time_forward_stops_at_the_minimum_samples(per_pass):
    """No spread to wait for: the bound holds after MIN_REPEATS samples, each of at least MIN_SAMPLE_S."""
    clock = FakeClock()
    cost = per_pass * latency.MIN_SAMPLE_S
    timing = latency.time_forward(Ticking(clock, lambda _: cost), torch.zeros(1), budget_s=10.0, clock=clock)
    assert timing.samples == latency.MIN_REPEATS == len(timing.times)
    assert timing.spread == pytest.approx(0, abs=1e-9) and timing.ms == pytest.approx(1000 * cost)
    assert timing.number * cost >= latency.MIN_SAMPLE_S and (timing.number == 1) == (per_pass > 1)
    assert timing.seconds < 10 * latency.MIN_SAMPLE_S * latency.MIN_REPEATS  # far from the budget


def test_a_noisy_forward_samples_until_the_budget_and_reports_its_spread():
    clock, rng = FakeClock(), random.Random(0)
    base = 2 * latency.MIN_SAMPLE_S
    budget = 60 * base
    timing = latency.time_forward(Ticking(clock, lambda _: base * rng.lognormvariate(0, 0.5)), torch.zeros(1),
                                  budget_s=budget, clock=clock)
    assert budget <= timing.seconds < budget + 20 * base  # stopped by the budget, about one sample past it
    assert timing.samples > latency.MIN_REPEATS
    times = np.array(timing.times)
    expected = (np.percentile(times, 75) - np.percentile(times, 25)) / np.median(times)
    assert timing.spread == pytest.approx(expected) and timing.spread > latency.MAX_SPREAD
    assert timing.ms == pytest.approx(1000 * np.median(times))


def test_interleaving_keeps_identical_models_at_one_where_back_to_back_timing_would_not():
    """Every pass costs 1 % more than the one before (load building up): timed back to back the second model
    looks slower; interleaved (ABBA) its speedup stays at 1 and the drift shows in the spread."""
    clock = FakeClock()
    base = 1.5 * latency.MIN_SAMPLE_S

    def drifting() -> Ticking:
        return Ticking(clock, lambda calls: base * (1 + 0.01 * calls))

    inputs, budget = torch.zeros(1), 40 * base
    first = latency.time_forward(drifting(), inputs, budget_s=budget, max_spread=0.0, clock=clock)
    second = latency.time_forward(drifting(), inputs, budget_s=budget, max_spread=0.0, clock=clock)
    assert first.ms / second.ms < 0.85  # back to back, drift reads as a speedup below 1

    pair = latency.time_pair(drifting(), drifting(), inputs, budget_s=2 * budget, max_spread=0.0, clock=clock)
    assert pair.dense.samples == pair.model.samples > latency.MIN_REPEATS
    assert abs(pair.speedup - 1) < 0.01 and 0 < pair.speedup_spread < 0.05
    assert abs(pair.speedup - 1) <= pair.speedup_spread


def test_a_pair_stops_early_when_both_models_and_their_ratio_are_steady():
    clock = FakeClock()
    dense = Ticking(clock, lambda _: 3 * latency.MIN_SAMPLE_S)
    pruned = Ticking(clock, lambda _: 1.5 * latency.MIN_SAMPLE_S)
    pair = latency.time_pair(dense, pruned, torch.zeros(1), budget_s=10.0, clock=clock)
    assert pair.dense.samples == pair.model.samples == latency.MIN_REPEATS
    assert pair.speedup == pytest.approx(2.0) and pair.speedup_spread == pytest.approx(0, abs=1e-9)


def test_relative_spread_is_the_interquartile_range_over_the_median():
    values = [4.0, 1.0, 3.0, 2.0, 5.0]
    assert latency.relative_spread(values) == pytest.approx((4.0 - 2.0) / 3.0)
    assert math.isnan(latency.relative_spread([1.0])) and math.isnan(latency.relative_spread([0.0, 0.0]))


def test_a_dense_time_recorded_apart_combines_the_spreads_in_quadrature():
    mine = latency.Timing(ms=2.0, spread=0.04, samples=5, number=1, times=(0.002,) * 5, seconds=0.01)
    speedup, spread = latency.speedup_against(6.0, 0.03, mine)
    assert speedup == pytest.approx(3.0) and spread == pytest.approx(0.05)
