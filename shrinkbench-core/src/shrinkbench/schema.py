"""The results schema: the one place where the columns of ``results.csv`` are named, ordered and typed.

A result row is a dict ``{column: value}``. The run pipeline writes rows, the results store orders and
serialises them, the report and the tests read them back typed -- all through the names and functions here.
Metric columns follow their metric's spec; the core metrics' columns are named here so that they are spelled
once. Measurements taken before finetuning carry the :data:`PRE_SUFFIX` (``top1_pre``). This module imports
neither torch nor any plugin.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "ACCURACY", "COLUMN_ORDER", "PERPLEXITY", "FLOPS", "IDENTITY", "INT_COLUMNS", "LATENCY", "MEMORY", "PRE_SUFFIX", "SIZE",
    "STATUS_FAILED", "STATUS_OK", "TEXT_COLUMNS", "BOOL_COLUMNS", "TIMINGS", "dense", "format_value", "order_columns", "parse_row", "pre", "val",
]

# -- identity: which run a row is -------------------------------------------------------------------------
RUN_ID, DATASET, MODEL, STRATEGY, SEED, TARGET = "run_id", "dataset", "model", "strategy", "seed", "compression_target"
SCHEDULE, VARIANT = "schedule", "variant"
IDENTITY = (RUN_ID, DATASET, MODEL, VARIANT, STRATEGY, SCHEDULE, SEED, TARGET)

# -- the core metrics' columns (registered by shrinkbench.metrics.plugin) --------------------------------
SIZE = ("params", "nonzero_params", "compression")
FLOPS = ("macs", "nonzero_macs", "flops", "nonzero_flops", "speedup")
MEMORY = ("activations", "activation_bytes", "nonzero_activations")
ACCURACY = ("top1", "top5", "loss")
PERPLEXITY = ("perplexity", "token_top1", "loss")
LATENCY = ("latency_ms", "latency_ms_spread", "latency_ms_64", "latency_ms_64_spread", "latency_speedup",
           "latency_speedup_spread", "latency_speedup_64", "latency_speedup_64_spread")
"""Measured forward time (ms per pass, batch 1 and 64) and speedup over the dense model, each followed by its
relative spread ``<column>_spread`` (interquartile range / median of the samples: see
:mod:`shrinkbench.metrics.latency`)."""
COMPRESSION, SPEEDUP, TOP1, TOP5 = "compression", "speedup", "top1", "top5"
LATENCY_NOTE = "latency_note"
"""What a reader must know about a row's measured latency, e.g. an unstructured-mask run whose measured speedup
left the band around 1x (:func:`shrinkbench.metrics.latency.outside_mask_band`); empty otherwise. Apart from
``notes`` because it follows the clock: the same run repeated may or may not carry it. The report counts the
rows that carry one."""

CALIBRATION = ("calibration_samples", "calibration_length", "calibration_source")
"""The calibration set of a post-training strategy's row (see :mod:`shrinkbench.engine.calibration`)."""
RECONSTRUCTED = "reconstructed"
"""True in the rows of a strategy that updated the weights it keeps (SparseGPT)."""
RECIPE, ONE_SHOT = "recipe", "one-shot"
"""``recipe`` is ``one-shot`` in the rows of runs that trained no epoch after pruning (``--finetune-epochs 0``)."""

# -- bookkeeping of the run -------------------------------------------------------------------------------
VAL_TOP1, DENSE_TOP1, SELECTED_EPOCH = "val_top1", "dense_top1", "selected_epoch"
REFERENCE_TOP1, REFERENCE_SOURCE, BELOW_REFERENCE = "reference_top1", "reference_source", "below_reference"
FINETUNE_EPOCHS = "finetune_epochs"
SECONDS, THREADS, STATUS, ERROR, NOTES = "seconds", "threads", "status", "error", "notes"
DEVICE, PRECISION, COMPILE_SECONDS = "device", "precision", "compile_seconds"
DEVICE_REASON = "device_reason"
TF32, DETERMINISTIC, NODE = "tf32", "deterministic", "node"
STATUS_OK, STATUS_FAILED = "ok", "failed"

PRE_SUFFIX = "_pre"
"""Suffix of the columns measured after pruning and before finetuning (``top1_pre``)."""


def dense(column: str) -> str:
    """The column of the dense model's test value of a task metric, e.g. ``dense("top1") == "dense_top1"``."""
    return f"dense_{column}"


def val(column: str) -> str:
    """The column of the selected epoch's validation value of a task metric (``val_top1``, ``val_perplexity``)."""
    return f"val_{column}"


def pre(column: str) -> str:
    """The name of ``column`` measured before finetuning, e.g. ``pre("top1") == "top1_pre"``."""
    return f"{column}{PRE_SUFFIX}"


QUALITY = ("top1", "top5", "perplexity", "token_top1", "loss")
"""The built-in tasks' quality columns in the order rows show them (a row has its task's)."""
EVAL_CONTEXT, EVAL_WINDOWS, TOKENIZER = "eval_context", "eval_windows", "tokenizer"
"""How a language model's perplexity was measured (see :mod:`shrinkbench.language`)."""

COLUMN_ORDER: tuple[str, ...] = (
    *IDENTITY, COMPRESSION, "prunable_sparsity", SPEEDUP, "latency_speedup", "latency_speedup_spread", "params", "nonzero_params",
    "flops", "nonzero_flops", "macs", "nonzero_macs",
    *(pre(c) for c in QUALITY), *QUALITY, VAL_TOP1, val("perplexity"), DENSE_TOP1, dense("perplexity"),
    EVAL_CONTEXT, EVAL_WINDOWS, TOKENIZER, *CALIBRATION, RECONSTRUCTED, RECIPE, REFERENCE_TOP1, BELOW_REFERENCE, FINETUNE_EPOCHS, SELECTED_EPOCH, SECONDS, DEVICE,
    DEVICE_REASON, PRECISION, TF32, DETERMINISTIC, THREADS, NODE, STATUS, ERROR, NOTES, LATENCY_NOTE,
)
"""The columns that come first in ``results.csv``, in this order; any other column follows, sorted."""

TIMINGS = frozenset({SECONDS, COMPILE_SECONDS, *LATENCY, LATENCY_NOTE})
"""Columns measured with a clock (every latency column, spreads included, and the note about them): they differ
from one run of the same work to the next, unlike every other."""

TEXT_COLUMNS = frozenset({RUN_ID, DATASET, MODEL, VARIANT, STRATEGY, SCHEDULE, STATUS, ERROR, NOTES, DEVICE, PRECISION,
                          NODE, REFERENCE_SOURCE, DEVICE_REASON, LATENCY_NOTE, TOKENIZER, "calibration_source", RECIPE})
BOOL_COLUMNS = frozenset({TF32, DETERMINISTIC, BELOW_REFERENCE, RECONSTRUCTED})
INT_COLUMNS = frozenset({SEED, "params", "nonzero_params", SELECTED_EPOCH, FINETUNE_EPOCHS, THREADS, EVAL_CONTEXT,
                         EVAL_WINDOWS, "calibration_samples", "calibration_length"})


def order_columns(columns: Iterable[str]) -> list[str]:
    """``columns`` in schema order: :data:`COLUMN_ORDER` first, then the others sorted by name."""
    present = set(columns)
    return [c for c in COLUMN_ORDER if c in present] + sorted(present - set(COLUMN_ORDER))


def format_value(value: Any) -> str:
    """The text of one cell: integers (and integral floats) without a decimal point, other floats exactly
    (``repr``), NaN and missing values as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return repr(value)
    return str(value)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def parse_row(raw: Mapping[str, str]) -> dict[str, Any]:
    """A row read from ``results.csv`` with typed values: text columns stay ``str``, :data:`BOOL_COLUMNS` become
    ``bool`` (``None`` when empty), :data:`INT_COLUMNS` become ``int`` (``None`` when empty), every other column ``float`` (NaN when empty). A third-party column
    that does not parse as a number stays text."""
    row: dict[str, Any] = {}
    for column, text in raw.items():
        text = text or ""
        if column in TEXT_COLUMNS:
            row[column] = text
        elif column in BOOL_COLUMNS:
            row[column] = {"true": True, "false": False}.get(text.lower())
        elif column in INT_COLUMNS:
            row[column] = int(float(text)) if text else None
        elif text == "":
            row[column] = math.nan
        else:
            number = _number(text)
            row[column] = text if math.isnan(number) and text.lower() != "nan" else number
    return row
