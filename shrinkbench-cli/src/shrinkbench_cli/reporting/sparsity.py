"""Per-layer sparsity of one run: the fraction of zero entries of each weight tensor of its saved weights.

The file is read directly in the safetensors layout (8-byte little-endian header length, JSON header naming
each tensor's dtype, shape and byte range, then the data): no torch import (a report stays fast) and every
dtype works, bf16 included, which numpy cannot represent. A float entry is zero when all its bits but the
sign bit are 0 (so -0.0 counts as zero).
"""

from __future__ import annotations

import difflib
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shrinkbench import schema
from shrinkbench.engine.store import ResultsStore
from shrinkbench.errors import ShrinkBenchError

from .plots import png_bytes, pyplot
from .results import Results

WEIGHTS_FILE = "weights.safetensors"
_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
          "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1}


@dataclass(frozen=True)
class LayerSparsity:
    """One weight tensor: its name and shape, how many of its entries are zero, out of how many."""

    name: str
    shape: tuple[int, ...]
    zeros: int
    size: int

    @property
    def fraction(self) -> float:
        """Fraction of zero entries (0 for an empty tensor)."""
        return self.zeros / self.size if self.size else 0.0


def layer_sparsity(path: Path) -> list[LayerSparsity]:
    """The zero count of every tensor of 2 or more dimensions in the safetensors file ``path``, in file
    order (biases and norms, 1-d, are never pruned and are left out). A file that cannot be read or parsed is
    a one-line :class:`ShrinkBenchError`."""
    try:
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(length))
            data = f.read()
        return [_count(name, info, data) for name, info in header.items()
                if name != "__metadata__" and len(info["shape"]) >= 2]
    except (OSError, ValueError, KeyError, TypeError, struct.error) as exc:
        raise ShrinkBenchError(f"cannot read {path}: {type(exc).__name__}: {exc}") from None


def _count(name: str, info: dict[str, Any], data: bytes) -> LayerSparsity:
    width = _BYTES[info["dtype"]]
    begin, end = info["data_offsets"]
    bits = np.frombuffer(data[begin:end], dtype=f"<u{width}")
    if info["dtype"].startswith(("F", "BF")):
        bits = bits & np.array((1 << (8 * width - 1)) - 1, dtype=bits.dtype)  # drop the sign bit
    return LayerSparsity(name, tuple(info["shape"]), int(np.count_nonzero(bits == 0)), int(bits.size))


def run_weights(results: Results, run_id: str) -> Path:
    """Where run ``run_id`` of ``results`` saved its final weights (``DIR/runs/<run_id>/weights.safetensors``),
    whether or not the file exists."""
    return ResultsStore(results.directory).run_dir(run_id) / WEIGHTS_FILE


def weights_path(results: Results, run_id: str) -> tuple[dict[str, Any], Path]:
    """The row and :func:`run_weights` of a run that has them (``run_id`` in full, or its method part when that
    names one run); a one-line :class:`ShrinkBenchError` naming the known run ids when there is no such run, or
    naming the file when it is missing."""
    known = [r[schema.RUN_ID] for r in results.rows]
    by_method = [k for k in known if k.rpartition("/")[2] == run_id]
    if run_id not in known and len(by_method) == 1:
        run_id = by_method[0]
    if run_id not in known:
        close = difflib.get_close_matches(run_id, known, n=3)
        listed = ", ".join(known[:4]) + (", ..." if len(known) > 4 else "")
        hint = f"did you mean {' or '.join(close)}?" if close else f"its runs are {listed or 'none'}"
        raise ShrinkBenchError(f"no run {run_id!r} in {results.directory}: {hint}")
    path = run_weights(results, run_id)
    if not path.is_file():
        raise ShrinkBenchError(f"run {run_id!r} has no saved weights ({path} is missing): choose another --run")
    return next(r for r in results.rows if r[schema.RUN_ID] == run_id), path


def sparsity_plot(layers: list[LayerSparsity], results: Results, row: dict[str, Any]) -> bytes:
    """A horizontal bar chart (PNG bytes) of the fraction of zeros per tensor, top to bottom in file order,
    titled with the directory's subject, the run and its strategy, target and achieved compression."""
    plt = pyplot()
    from matplotlib.ticker import PercentFormatter

    fig, ax = plt.subplots(figsize=(9, max(3.0, 1.6 + 0.32 * len(layers))), dpi=110, layout="constrained")
    names = [f"{layer.name} {'×'.join(map(str, layer.shape))}" for layer in layers]
    ax.barh(range(len(layers)), [layer.fraction for layer in layers], color="tab:blue")
    for i, layer in enumerate(layers):
        ax.text(layer.fraction + 0.01, i, f"{layer.fraction:.1%}", va="center", fontsize=8)
    ax.set_yticks(range(len(layers)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.12)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("zero entries of the tensor")
    zeros, size = sum(layer.zeros for layer in layers), sum(layer.size for layer in layers)
    ax.set_title(f"{results.title()}: zero weights per tensor, run {row[schema.RUN_ID]}\n{row[schema.STRATEGY]}, "
                 f"target {row[schema.TARGET]:g}× (achieved {row[schema.COMPRESSION]:.2f}× over the whole model); "
                 f"{zeros / max(size, 1):.1%} of these entries are zero", fontsize=9)
    ax.grid(True, axis="x", alpha=0.3)
    return png_bytes(fig)
