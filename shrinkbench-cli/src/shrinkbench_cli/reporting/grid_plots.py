"""Small multiples (Results I and II of the paper): one figure per x axis -- the primary metric (top-1;
perplexity for a language model) against compression, theoretical speedup and measured speedup -- with one panel
per group of curves, for a grid's report and for ``compare`` across datasets. A panel plots its members' task's
primary metric; a column whose metric differs from the column to its left gets its own y label (a grid of a
text pair and a vision pair: perplexity, lower is better, beside top-1).

Within a panel the conventions of :mod:`.plots` hold unchanged: one colour per strategy, a point is the mean
over seeds with ± one sample std as error bar, a 1-seed curve is dashed with hollow markers, the measured
speedup has horizontal bars, the dense models are a grey line (band: ± std over seeds). Across panels the same
strategy has the same colour, in every panel and every figure; one legend for the figure names them. A
panel's published dense top-1 (when its pair has one) is a black dotted line; a panel whose dense models fall
short of it has a red title that says its results are not comparable.

A grid's report lays its panels out with one column per (dataset, model) pair and one row per recipe variant
(:func:`grid_panels`): a variant is a panel row, not a line style, because line styles already tell 1-seed
curves apart; the confounders section compares the variants' rankings in numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .plots import AXES, LEGEND_TITLE, MARKERS, _curve, _dense_lines, plot_axes, png_bytes, pyplot, wrap_title
from .results import Directory, Results
from .summary import MEASURED_BAR

NOT_COMPARABLE = "NOT COMPARABLE: dense model below the published top-1"


@dataclass(frozen=True)
class Panel:
    """One panel: its title, the results drawn in it (one marker each, labelled by their label when several),
    the published dense top-1 of its pair (``None``: unknown) and whether its dense models fall short of it."""

    title: str
    members: tuple[Results, ...]
    reference: float | None = None
    below_reference: bool = False
    row: int = 0
    column: int = 0
    markers: tuple[int, ...] = ()
    """Marker index of each member (the same member keeps its marker in every panel); default: their order."""


def panel_key(experiment: Results) -> dict[str, str]:
    """What a grid panel shows: ``{"dataset", "model", "variant"}`` (also in the report's JSON)."""
    return {"dataset": experiment.dataset, "model": experiment.model, "variant": experiment.variant}


def grid_panels(directory: Directory) -> list[Panel]:
    """A grid's panels: column = (dataset, model) pair, row = variant, in the directory's order; a cell with
    no experiment (a pair refused for one variant) has no panel."""
    pairs, variants = directory.pairs(), directory.variants()
    panels = []
    for e in directory.experiments:
        reference = e.reference
        title = f"{e.dataset} · {e.model}\nvariant: {e.variant}"
        panels.append(Panel(title, (e,), reference.top1 if reference else None,
                            bool(reference and reference.below), variants.index(e.variant),
                            pairs.index((e.dataset, e.model))))
    return panels


def _layout(panels: list[Panel]) -> tuple[int, int]:
    return max(p.row for p in panels) + 1, max(p.column for p in panels) + 1


def y_labels(panels: list[Panel]) -> dict[int, str]:
    """The y label of each panel column that shows one: the first column, and every column whose primary
    metric differs from the column to its left's (``{column: label}``, e.g. ``top-1 (test, after
    finetuning)``, ``perplexity (test, after finetuning), lower is better``)."""
    by_column = {}
    for panel in sorted(panels, key=lambda p: (p.column, p.row)):
        if panel.members:
            by_column.setdefault(panel.column, panel.members[0].task.axis_label(panel=True))
    out, previous = {}, None
    for column, label in sorted(by_column.items()):
        if column == 0 or label != previous:
            out[column] = label
        previous = label
    return out


def small_multiples(panels: list[Panel], title: list[str], strategies: list[str]) -> dict[str, bytes]:
    """The three figures (names of :data:`~.plots.AXES`) as ``{file name: PNG bytes}``: ``panels`` at their
    (row, column), ``title`` lines above, one figure legend of ``strategies`` (each with its colour, the same
    in every panel) and of the reference lines."""
    plt = pyplot()
    from matplotlib.lines import Line2D

    colors = plt.get_cmap("tab10" if len(strategies) <= 10 else "tab20").colors
    rows, columns = _layout(panels)
    labelled = y_labels(panels)
    out = {}
    for index, (_, _, name) in enumerate(AXES):
        fig, axes = plt.subplots(rows, columns, figsize=(2.2 + 4.0 * columns, 1.2 + 3.3 * rows), dpi=100,
                                 layout="constrained", squeeze=False, sharey="col")
        used = set()
        for panel in panels:
            ax = axes[panel.row][panel.column]
            used.add((panel.row, panel.column))
            x_col, x_label, _ = plot_axes(panel.members[0].task)[index]  # the measured speedup's batch: the task's
            _panel(ax, panel, x_col, strategies, colors)
            if panel.row == rows - 1 or (panel.row + 1, panel.column) not in {(p.row, p.column) for p in panels}:
                ax.set_xlabel(x_label, fontsize=8)
            if panel.column in labelled:
                ax.set_ylabel(labelled[panel.column], fontsize=8)
        for r in range(rows):
            for c in range(columns):
                if (r, c) not in used:
                    axes[r][c].set_axis_off()
        handles = [Line2D([], [], color=colors[i % len(colors)], marker="o", label=s) for i, s in enumerate(strategies)]
        handles.append(Line2D([], [], color="0.35", linestyle="--", label="dense models (band: ± std)"))
        if any(p.reference is not None for p in panels):
            handles.append(Line2D([], [], color="black", linestyle=":", label="published dense top-1"))
        legend_title = LEGEND_TITLE
        if index == 2:
            legend_title += f"\nx bars: {MEASURED_BAR}"
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), fontsize=8,
                   title=legend_title.replace("\n", "; "), title_fontsize=8)
        fig.suptitle(wrap_title(title, fig.get_figwidth()), fontsize=10)
        out[name] = png_bytes(fig)
    return out


def _panel(ax: Any, panel: Panel, x_col: str, strategies: list[str], colors: Any) -> None:
    """One panel's curves, dense lines, published reference and title."""
    for d, member in enumerate(panel.members):
        marker = MARKERS[(panel.markers[d] if panel.markers else d) % len(MARKERS)]
        for strategy in sorted({p.strategy for p in member.points}):
            label = f"{member.label}: {strategy}" if len(panel.members) > 1 else strategy
            _curve(ax, x_col, [p for p in member.points if p.strategy == strategy], label,
                   colors[strategies.index(strategy) % len(colors)], marker, member.task.column)
    _dense_lines(ax, list(panel.members))
    if panel.reference is not None and math.isfinite(panel.reference):
        ax.axhline(panel.reference, color="black", linestyle=":", lw=1)
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter("{x:g}")
    ax.grid(True, which="both", alpha=0.3)
    ax.tick_params(labelsize=8)
    if len(panel.members) > 1:
        ax.legend(fontsize=6, loc="lower left")
    if panel.below_reference:
        ax.set_title(f"{panel.title}\n{NOT_COMPARABLE}", fontsize=9, color="tab:red")
    else:
        ax.set_title(panel.title, fontsize=9)
