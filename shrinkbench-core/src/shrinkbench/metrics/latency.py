"""Measured inference latency of the pruned model against the dense one, on the run's device, with its spread.

Theoretical speedup (dense MACs / nonzero MACs) says what an ideal sparse kernel could gain; this says what the
model gains as it runs: unstructured masks leave the dense kernels doing the same work (about 1x), structured
pruning makes the layers smaller and shows its real gain. A measured number is only as good as its spread, so
every time and speedup comes with one.

The calibration rule, after :meth:`timeit.Timer.autorange` (grow the loop count until one timing is long enough)
and pytest-benchmark (a minimum round time above the clock's resolution, a minimum number of rounds even past
the time budget):

- **sample**: the time of ``number`` forward passes run back to back, the device synchronised before and after
  (CUDA and MPS run asynchronously), divided by ``number``: seconds per pass. Eval mode,
  ``torch.inference_mode()`` and the run's ``autocast()`` hold throughout.
- **calibration**: one untimed warm-up pass, then ``number`` = 1, 10, 100, ... until a sample takes at least a
  tenth of :data:`MIN_SAMPLE_S`, then ``number`` = 1.25 x :data:`MIN_SAMPLE_S` / (that time per pass), until
  a sample takes at least :data:`MIN_SAMPLE_S` (so the clock's resolution and the per-sample overhead of the
  loop and the synchronisation weigh under 0.1 % and about 1 %); that last sample is the first one kept.
- **spread** (relative): the interquartile range over the median of the samples, ``(Q3 - Q1) / median``, the
  quartiles from :func:`statistics.quantiles` (``method="inclusive"``). It is a width: the middle half of the
  samples lie within ``median x spread`` of each other. Unlike a standard deviation it ignores the rare
  preempted sample that a shared machine produces.
- **stop**: after at least :data:`MIN_REPEATS` samples, as soon as every spread is at most :data:`MAX_SPREAD`,
  or once the time budget (:data:`BUDGET_S` per model, from the first warm-up pass on) has run out, whichever
  comes first; never after more than :data:`MAX_REPEATS` samples.
- **reported**: the median of the samples in milliseconds per pass, the spread, the number of samples.

A pair (the dense and the pruned model) is measured interleaved: one sample of one, then one of the other, in
the order dense-pruned, pruned-dense, dense-pruned, ... so that drift (other load on the cores, clock
frequency changes) reaches both alike and a linear drift cancels. The speedup is the median of the per-pair
ratios dense / pruned, its spread their interquartile range over their median: it carries both models' noise
and any drift left between the two samples of a pair.

A run holds both models when it measures (the pruned one it trained, the dense one reloaded from the weights it
started from, placed alike): the metric times them as pairs (:func:`time_pair`) at each batch size, so the
reference is measured under the run's own conditions (threads, batch, memory format, precision, device) and
moments apart from the pruned model, and a drift during the measurement shows as spread instead of bias. The
whole measurement runs inside :func:`shrinkbench.measuring.alone`: other tasks of the machine (parallel runs of
the sweep) pause at their next safe point meanwhile; a row whose measurement could not get the machine to
itself says so in its notes. A model timed on its own (:func:`time_forward`) against a dense time recorded
apart gets its speedup from :func:`speedup_against` instead: the two spreads combined, drift between the two
unseen (a metric context without a dense model).

**Mask band**: an unstructured-mask run keeps the dense kernels, so its measured speedup is 1x up to noise;
:func:`outside_mask_band` flags one that leaves :data:`MASK_BAND` by more than its spread allows, and the run
says so in its ``latency_note`` column (:data:`shrinkbench.schema.LATENCY_NOTE`): a disturbed measurement, not a
property of the method.

Cost per batch size: about ``max(2 x BUDGET_S, 2 x (MIN_REPEATS + 1) forward passes)`` (the last pair of
samples may end past the budget) plus the calibration of small models (a few ``MIN_SAMPLE_S``): well under a
second in all for LeNet-class models, a dozen forward passes per batch size for large ones.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .. import accelerator, measuring
from ..errors import MetricNote
from ..modules import eval_mode
from . import MetricContext

__all__ = ["BAND_NOTE", "BATCHES", "MASK_BAND", "PairTiming", "Timing", "forward_ms", "measure", "outside_mask_band",
           "relative_spread", "speedup_against", "time_forward", "time_pair"]

BATCHES = (1, 64)
MIN_SAMPLE_S = max(2e-3, 1000 * time.get_clock_info("perf_counter").resolution)
"""Shortest sample (seconds): a thousand clock ticks, and long enough that the per-sample overhead (Python
loop, device synchronisation: microseconds) is about 1 % of it."""
MIN_REPEATS = 5
"""Fewest samples per model (pairs for a pair), budget or not: the fewest for which an IQR means anything."""
MAX_REPEATS = 1000
"""Most samples per model: a guard for clocks that do not advance (the budget ends every real measurement)."""
MAX_SPREAD = 0.05
"""Relative spread (IQR / median) at which sampling stops early."""
BUDGET_S = 0.05
"""Seconds of measurement per model and batch size (a pair gets twice as much), warm-up included."""
MAX_NUMBER = 10**6
"""Most forward passes per sample."""
MASK_BAND = (0.8, 1.25)
"""Measured speedups an unstructured-mask model stays within (1x, give or take a quarter either way)."""
BAND_NOTE = "measured speedup outside the mask band"
"""How the ``latency_note`` of a run outside :data:`MASK_BAND` begins."""

Clock = Callable[[], float]
AutocastFn = Callable[[], contextlib.AbstractContextManager]


@dataclass(frozen=True)
class Timing:
    """One model's calibrated forward time: ``ms`` the median over samples of milliseconds per pass,
    ``spread`` the samples' relative spread (IQR / median), ``samples`` their count, ``number`` the forward
    passes per sample, ``times`` every sample in seconds per pass (in order), ``seconds`` the wall-clock time
    the measurement took (warm-up and calibration included)."""

    ms: float
    spread: float
    samples: int
    number: int
    times: tuple[float, ...]
    seconds: float


@dataclass(frozen=True)
class PairTiming:
    """A dense and a pruned model timed interleaved: each one's :class:`Timing`, and ``speedup`` the median of
    the per-pair ratios dense / pruned with ``speedup_spread`` their relative spread (IQR / median)."""

    dense: Timing
    model: Timing
    speedup: float
    speedup_spread: float
    seconds: float


def relative_spread(values: Sequence[float]) -> float:
    """``(Q3 - Q1) / median`` of ``values``, quartiles by ``statistics.quantiles(method="inclusive")``; NaN
    for fewer than two values or a median that is not positive."""
    if len(values) < 2:
        return math.nan
    median = statistics.median(values)
    if not median > 0:
        return math.nan
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return (q3 - q1) / median


def speedup_against(dense_ms: float, dense_spread: float, mine: Timing) -> tuple[float, float]:
    """``dense_ms / mine.ms`` and its relative spread for two measurements taken apart (not interleaved, e.g.
    the dense model's values recorded before pruning): the relative spreads added in quadrature, the
    first-order propagation for a ratio of independent measurements. Drift between the two is not seen."""
    if not mine.ms > 0:
        return math.nan, math.nan
    return dense_ms / mine.ms, math.hypot(dense_spread, mine.spread)


class _Sampler:
    """Samples of one model's forward time, in the contexts its caller holds (eval, inference, autocast)."""

    def __init__(self, model: nn.Module, inputs: torch.Tensor, clock: Clock) -> None:
        self.model, self.inputs, self.clock = model, inputs, clock
        self.number = 1
        self.times: list[float] = []

    def _run(self, number: int) -> float:
        """Seconds taken by ``number`` passes, the device synchronised before and after."""
        device = self.inputs.device
        accelerator.synchronize(device)
        start = self.clock()
        for _ in range(number):
            self.model(self.inputs)
        accelerator.synchronize(device)
        return self.clock() - start

    def calibrate(self) -> None:
        """One warm-up pass, then grow ``number`` until a sample lasts :data:`MIN_SAMPLE_S`; keep that sample."""
        self.model(self.inputs)
        while True:
            taken = self._run(self.number)
            if taken >= MIN_SAMPLE_S or self.number >= MAX_NUMBER:
                break
            if taken >= MIN_SAMPLE_S / 10:
                self.number = math.ceil(1.25 * MIN_SAMPLE_S * self.number / taken)
            else:
                self.number *= 10
            self.number = min(self.number, MAX_NUMBER)
        self.times.append(taken / self.number)

    def sample(self) -> None:
        """Take one more sample."""
        self.times.append(self._run(self.number) / self.number)

    def spread(self) -> float:
        return relative_spread(self.times)

    def timing(self, seconds: float) -> Timing:
        return Timing(1000 * statistics.median(self.times), self.spread(), len(self.times), self.number,
                      tuple(self.times), seconds)


def _settled(spreads: Sequence[float], max_spread: float) -> bool:
    return all(s <= max_spread for s in spreads)  # NaN never settles


def time_forward(model: nn.Module, inputs: torch.Tensor, autocast: AutocastFn = contextlib.nullcontext,
                 budget_s: float = BUDGET_S, max_spread: float = MAX_SPREAD,
                 clock: Clock = time.perf_counter) -> Timing:
    """The calibrated forward time of ``model`` on ``inputs`` (see the module's rule): samples until their
    spread is at most ``max_spread`` after :data:`MIN_REPEATS` samples, or ``budget_s`` seconds (read on
    ``clock``) have passed since the warm-up began. Every module's mode is restored."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(eval_mode(model))
        stack.enter_context(torch.inference_mode())
        stack.enter_context(autocast())
        start = clock()
        sampler = _Sampler(model, inputs, clock)
        sampler.calibrate()
        while len(sampler.times) < MAX_REPEATS and (
                len(sampler.times) < MIN_REPEATS
                or not (_settled([sampler.spread()], max_spread) or clock() - start >= budget_s)):
            sampler.sample()
        return sampler.timing(clock() - start)


def time_pair(dense: nn.Module, model: nn.Module, inputs: torch.Tensor,
              autocast: AutocastFn = contextlib.nullcontext, budget_s: float = 2 * BUDGET_S,
              max_spread: float = MAX_SPREAD, clock: Clock = time.perf_counter) -> PairTiming:
    """``dense`` and ``model`` timed interleaved (ABBA order: dense first in even pairs, ``model`` first in odd
    ones), each calibrated on its own, until the spreads of both and of the per-pair ratios are at most
    ``max_spread`` after :data:`MIN_REPEATS` pairs, or ``budget_s`` seconds have passed (``budget_s`` covers
    both models). Every module's mode is restored."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(eval_mode(dense))
        stack.enter_context(eval_mode(model))
        stack.enter_context(torch.inference_mode())
        stack.enter_context(autocast())
        start = clock()
        pair = (_Sampler(dense, inputs, clock), _Sampler(model, inputs, clock))
        for sampler in pair:
            sampler.calibrate()

        def ratios() -> list[float]:
            return [d / m if m > 0 else math.nan for d, m in zip(pair[0].times, pair[1].times, strict=True)]

        while len(pair[0].times) < MAX_REPEATS and (
                len(pair[0].times) < MIN_REPEATS
                or not (_settled([pair[0].spread(), pair[1].spread(), relative_spread(ratios())], max_spread)
                        or clock() - start >= budget_s)):
            for sampler in pair if len(pair[0].times) % 2 == 0 else reversed(pair):
                sampler.sample()
        seconds = clock() - start
        per_pair = ratios()
        return PairTiming(pair[0].timing(seconds), pair[1].timing(seconds), statistics.median(per_pair),
                          relative_spread(per_pair), seconds)


def forward_ms(model: nn.Module, inputs: torch.Tensor, autocast: AutocastFn = contextlib.nullcontext) -> float:
    """Median milliseconds of one forward pass of ``inputs``: ``time_forward(...).ms``."""
    return time_forward(model, inputs, autocast).ms


def outside_mask_band(speedup: float, spread: float) -> bool:
    """Whether a measured ``speedup`` with relative ``spread`` (IQR / median) lies outside :data:`MASK_BAND` by
    more than its spread allows: its whole interval ``speedup x (1 +- spread)`` on one side of the band. NaN
    (not measured) is never outside; a NaN spread counts as 0."""
    if not math.isfinite(speedup):
        return False
    width = spread if math.isfinite(spread) else 0.0
    low, high = MASK_BAND
    return speedup * (1 + width) < low or speedup * (1 - width) > high


def measure(ctx: MetricContext) -> dict[str, float]:
    """At batch 1 and 64 (suffix ``""`` / ``"_64"``; only those of ``ctx.latency_batches``, the task's: a
    language model's windows are timed at batch 1 only, the others are missing): ``latency_ms``: the model's
    median ms per forward
    pass; ``latency_speedup``: the dense model's time over the model's (1.0 without a dense model or
    reference); each with its relative spread (IQR / median) in ``<column>_spread``. With ``ctx.dense`` the two
    are timed interleaved (:func:`time_pair`: the speedup and its spread come from the per-pair ratios);
    without it, against ``ctx.reference``'s dense time (:func:`speedup_against`). Timed inside
    :func:`shrinkbench.measuring.alone`; a :class:`shrinkbench.errors.MetricNote` says when other tasks did not
    pause in time."""
    example = ctx.example_input[:1]
    out: dict[str, float] = {f"{column}{'' if batch == 1 else f'_{batch}'}{spread}": math.nan for batch in BATCHES
                             for column in ("latency_ms", "latency_speedup") for spread in ("", "_spread")}
    with measuring.alone() as quiet:
        for batch in ctx.latency_batches:
            inputs = example.expand(batch, *example.shape[1:]).contiguous(memory_format=_memory_format(example))
            suffix = "" if batch == 1 else f"_{batch}"
            speedup, speedup_spread = 1.0, 0.0
            if ctx.dense is not None:
                pair = time_pair(ctx.dense, ctx.model, inputs, ctx.autocast)
                mine, speedup, speedup_spread = pair.model, pair.speedup, pair.speedup_spread
            else:
                mine = time_forward(ctx.model, inputs, ctx.autocast)
                if ctx.reference is not None and f"latency_ms{suffix}" in ctx.reference:
                    speedup, speedup_spread = speedup_against(
                        ctx.reference[f"latency_ms{suffix}"], ctx.reference.get(f"latency_ms{suffix}_spread", 0.0), mine)
            out[f"latency_ms{suffix}"] = mine.ms
            out[f"latency_ms{suffix}_spread"] = mine.spread
            out[f"latency_speedup{suffix}"] = speedup
            out[f"latency_speedup{suffix}_spread"] = speedup_spread
    if not quiet.alone:
        why = quiet.problem or f"the machine's other tasks did not pause within {quiet.waited_s:.0f} s"
        warnings.warn(f"latency timed while other work may have run: {why}", MetricNote, stacklevel=2)
    return out


def _memory_format(example: torch.Tensor) -> torch.memory_format:
    """The memory format of ``example`` (channels-last inputs stay channels-last when expanded to a batch)."""
    if example.dim() == 4 and example.is_contiguous(memory_format=torch.channels_last) and not example.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format
