"""PNG plots: top-1 accuracy against compression and against theoretical speedup."""

from __future__ import annotations

import math
from pathlib import Path

from shrinkbench import schema

from .summary import Point


def plot_curves(points: list[Point], dense_top1: float, directory: Path) -> list[Path]:
    """Write ``accuracy_vs_compression.png`` and ``accuracy_vs_speedup.png`` into ``directory``.

    One line per strategy with the spread over seeds as error bars, log-2 x axis, and the dense model's
    accuracy as a dashed reference line. Returns the paths written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for x_col, label, name in ((schema.COMPRESSION, "compression (params / nonzero params)", "accuracy_vs_compression.png"),
                               (schema.SPEEDUP, "theoretical speedup (FLOPs / nonzero FLOPs)", "accuracy_vs_speedup.png")):
        fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
        for strategy in sorted({p.strategy for p in points}):
            pts = sorted((p for p in points if p.strategy == strategy), key=lambda p: p.mean[x_col])
            ax.errorbar([p.mean[x_col] for p in pts], [p.mean[schema.TOP1] for p in pts],
                        yerr=[p.std[schema.TOP1] for p in pts], marker="o", ms=4, capsize=3, label=strategy)
        if not math.isnan(dense_top1):
            ax.axhline(dense_top1, color="black", linestyle="--", linewidth=1, label="dense")
        ax.set_xscale("log", base=2)
        ax.set_xlabel(label)
        ax.set_ylabel("top-1 accuracy (test, after finetuning)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = directory / name
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
