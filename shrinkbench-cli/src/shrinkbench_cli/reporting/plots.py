"""PNG plots of the task's primary metric (top-1 accuracy; perplexity for a language model) against
compression, theoretical speedup and measured speedup, for one results directory or several compared ones. The
y axis says which metric and, unless it is top-1, which direction is better (:meth:`.task_view.TaskView.axis_label`);
the file names stay ``accuracy_vs_*.png`` whatever the metric.

Conventions, the same in every plot: one colour per strategy, one marker per results directory; a point is
the mean over seeds and its error bar the sample standard deviation over seeds. A curve whose points have a
single seed has no error bar and is drawn dashed with hollow markers, so 1-seed and several-seed curves never
look alike; the legend gives each curve's seed count. The dense reference is a grey horizontal line at the
mean over the seeds' dense models, with a band of ± one std when there are several.

The measured-speedup plot has horizontal error bars too, on every point (one seed included): a measured speedup
is a clock reading with a spread. The bar is ± the runs' half interquartile range of their per-pair speedup
ratios, pooled in quadrature with the speedup's std over seeds
(:func:`~shrinkbench_cli.reporting.summary.measured_bar`); points of results without spreads have none.
"""

from __future__ import annotations

import io
import math
import textwrap
from typing import Any

from shrinkbench import schema

from .results import Results
from .summary import LATENCY_SPEEDUP, MEASURED_BAR, Dense, Point, seed_text
from .task_view import TaskView

AXES = (
    (schema.COMPRESSION, "compression (params / nonzero params)", "accuracy_vs_compression.png"),
    (schema.SPEEDUP, "theoretical speedup (FLOPs / nonzero FLOPs)", "accuracy_vs_speedup.png"),
    (LATENCY_SPEEDUP, "measured speedup (dense / pruned forward time, batch 64)", "accuracy_vs_measured_speedup.png"),
)
"""(x column, x label, file name) of each accuracy plot (of a task that times batch 64: :func:`plot_axes`)."""


def plot_axes(task: TaskView) -> tuple[tuple[str, str, str], ...]:
    """:data:`AXES` for an experiment of ``task``: its measured speedup is at the batch its task times
    (``latency_speedup``, batch 1, for a language model)."""
    if task.latency_column == LATENCY_SPEEDUP:
        return AXES
    measured = (task.latency_column, f"measured speedup (dense / pruned forward time, batch {task.latency_batch})",
                AXES[2][2])
    return (*AXES[:2], measured)

MARKERS = "osD^vP*X"
DENSE_STYLES = ("--", ":", "-.", (0, (5, 1)))
LEGEND_TITLE = "error bars: ± std over seeds\n(1 seed: dashed, no bar)"
"""The legend's title; the measured-speedup plot adds a line on its x bars (:data:`MEASURED_BAR`)."""


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (files only, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def wrap_title(lines: list[str], inches: float) -> str:
    """The title ``lines`` wrapped to a figure ``inches`` wide (10-point text), never inside a word or a name."""
    width = int(inches * 13)
    return "\n".join(textwrap.fill(line, width, break_long_words=False, break_on_hyphens=False) for line in lines)


def png_bytes(fig: Any) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    pyplot().close(fig)
    return buffer.getvalue()


def _curve(ax: Any, x_col: str, points: list[Point], label: str, color: Any, marker: str,
           y_col: str = schema.TOP1) -> None:
    """One strategy of one directory: the mean line of ``y_col`` (the task's primary metric), and error bars on
    the points with several seeds. Points without a finite x and y (a column the results do not have, e.g. no
    measured latency) are left out."""
    points = sorted((p for p in points if math.isfinite(p.mean[x_col]) and math.isfinite(p.mean.get(y_col, math.nan))),
                    key=lambda p: p.mean[x_col])
    if not points:
        return
    xs, ys = [p.mean[x_col] for p in points], [p.mean[y_col] for p in points]
    seeds = [p.seeds for p in points]
    multi = max(seeds) > 1
    ax.plot(xs, ys, color=color, marker=marker, ms=5, linestyle="-" if multi else "--",
            markerfacecolor=color if multi else "white", label=f"{label} ({seed_text(min(seeds), max(seeds))})")
    barred = [p for p in points if p.seeds > 1]
    if barred:
        ax.errorbar([p.mean[x_col] for p in barred], [p.mean[y_col] for p in barred],
                    yerr=[p.std[y_col] for p in barred], fmt="none", ecolor=color, capsize=3, lw=1)
    spread = [p for p in points if math.isfinite(p.xerr.get(x_col, math.nan))]
    if spread:
        ax.errorbar([p.mean[x_col] for p in spread], [p.mean[y_col] for p in spread],
                    xerr=[p.xerr[x_col] for p in spread], fmt="none", ecolor=color, capsize=3, lw=1)


def _dense_lines(ax: Any, results: list[Results]) -> None:
    """One grey line per distinct dense reference (directories that share dense models share a line)."""
    groups: dict[Dense, list[str]] = {}
    for r in results:
        if r.dense.seeds:
            groups.setdefault(r.dense, []).append(r.label)
    for i, (dense, labels) in enumerate(groups.items()):
        owner = f" ({', '.join(labels)})" if len(results) > 1 else ""
        ax.axhline(dense.mean, color="0.35", linestyle=DENSE_STYLES[i % len(DENSE_STYLES)], lw=1,
                   label=f"dense{owner}: {dense.text(3)}")
        if dense.seeds > 1:
            ax.axhspan(dense.mean - dense.std, dense.mean + dense.std, color="0.5", alpha=0.15, lw=0)


def accuracy_plots(results: list[Results], title: list[str]) -> dict[str, bytes]:
    """The three plots of the primary metric as ``{file name: PNG bytes}`` (names from :data:`AXES`); the
    results share one task (the first's metric is plotted and labels the y axis).

    ``title``: the plot title's lines (dataset, model, selection, recipe fingerprint; for a comparison, what
    differs). Curves are labelled by strategy, prefixed by the directory's label when there are several.
    """
    plt = pyplot()
    task = results[0].task
    strategies = sorted({p.strategy for r in results for p in r.points})
    colors = plt.get_cmap("tab10" if len(strategies) <= 10 else "tab20").colors
    out = {}
    for x_col, x_label, name in plot_axes(task):
        fig, ax = plt.subplots(figsize=(9, 5), dpi=110, layout="constrained")
        for d, r in enumerate(results):
            for strategy in sorted({p.strategy for p in r.points}):
                label = f"{r.label}: {strategy}" if len(results) > 1 else strategy
                color = colors[strategies.index(strategy) % len(colors)]
                _curve(ax, x_col, [p for p in r.points if p.strategy == strategy], label, color,
                       MARKERS[d % len(MARKERS)], task.column)
        _dense_lines(ax, results)
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter("{x:g}")
        ax.set_xlabel(x_label)
        ax.set_ylabel(task.axis_label())
        fig.suptitle(wrap_title(title, fig.get_figwidth()), fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        legend_title = LEGEND_TITLE
        if name == AXES[2][2]:  # x bars on every point: the y bars are the ones a single seed lacks
            legend_title = LEGEND_TITLE.replace("error bars", "y bars") + "\n" + textwrap.fill(
                f"x bars: {MEASURED_BAR}", 36)
        ax.legend(fontsize=8, title=legend_title, title_fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
        out[name] = png_bytes(fig)
    return out
