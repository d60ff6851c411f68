"""``report.html`` of a grid (a directory of several experiments): one self-contained page with the warnings
about under-trained dense models, the experiments and their dense models, the summary table, the small
multiples, the confounders section (rankings, Kendall's tau, rank flips per variant axis), failed runs and the
fixed configurations side by side. Every text is HTML-escaped. The summary is one table when every pair has
one primary metric, else one table per experiment (each with its task's headers)."""

from __future__ import annotations

import html
from string import Template

from .confounders import FLIP_RULE, AxisReport, tau_rule
from .grid_tables import (
    axis_title,
    dense_models_title,
    experiment_rows,
    fixed_rows,
    flip_rows,
    flips_summary,
    ranking_rows,
)
from .html_report import Figure, _figure, html_table, quality_heading, warnings_html
from .results import Directory, report_warnings
from .summary import SPREAD
from .table import caption, grid_table_rows, single_task, table_rows
from .task_view import metrics_phrase

STYLE = """body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1400px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
caption { caption-side: top; text-align: left; padding-bottom: 0.4em; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; }
figcaption, .meta { color: #555; font-size: 0.9em; }
.warning { color: #a00; font-weight: bold; border: 2px solid #a00; padding: 0.5em 0.8em; }"""

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>$title</title>
<style>
$style
</style>
</head>
<body>
<h1>$title</h1>
<p class="meta">$meta</p>
$warnings
<h2>Experiments</h2>
$experiments
<h2>$quality</h2>
$summary
$figures
<h2>Confounders</h2>
$confounders
<h2>Failed runs</h2>
$failed
<h2>Fixed configuration</h2>
$config
</body>
</html>
""")


def grid_subject(directory: Directory) -> str:
    """``4 experiments: 2 (dataset, model) pairs x 2 variants``."""
    pairs, variants = directory.pairs(), directory.variants()
    return (f"{len(directory.experiments)} experiments: {len(pairs)} (dataset, model) pair{'s' * (len(pairs) > 1)} "
            f"x {len(variants)} variant{'s' * (len(variants) > 1)}")


def confounders_html(reports: list[AxisReport]) -> str:
    """The confounders section: the rules, then per axis a heading, the rankings table and the flips."""
    if not reports:
        return "<p>one variant only: no confounder to examine (run variants with --variant)</p>"
    views = [r.task for report in reports for r in report.rankings]
    parts = [f'<p class="meta">{html.escape(tau_rule(views))}; {html.escape(FLIP_RULE)}.</p>']
    for report in reports:
        parts.append(f'<h3 class="axis">{html.escape(axis_title(report))}</h3>')
        headers, rows = ranking_rows(report, means=True)
        metric = metrics_phrase(r.task for r in report.rankings)
        parts.append(html_table(headers, rows, f"ranking of the methods by mean {metric} (best first) and Kendall's tau-b "
                                "with the base variant's ranking", numeric_from=len(headers) - 2 * (len(report.axis.variants) - 1)))
        summary = html.escape(flips_summary(report))
        if report.flips:
            headers, rows = flip_rows(report)
            parts.append(html_table(headers, rows, f"rank flips beyond seed noise: {flips_summary(report)}"))
        else:
            parts.append(f'<p class="flips">{summary}</p>')
    return "\n".join(parts)


def summary_html(directory: Directory, selections: str) -> str:
    """The summary: one table led by dataset, model and variant (every pair of one primary metric), else one
    table per experiment under its caption."""
    if not single_task(directory.experiments):
        return "\n".join(html_table(*table_rows([e]), f"{e.dataset} · {e.model} · variant {e.variant}: {caption([e])}",
                                     numeric_from=1) for e in directory.experiments)
    summary_headers, summary_rows = grid_table_rows(directory.experiments)
    return html_table(summary_headers, summary_rows, f"{directory.experiments[0].task.caption(selections)}; cells: "
                      f"{SPREAD}", numeric_from=5)


def render_grid_html(directory: Directory, figures: list[Figure], reports: list[AxisReport], versions: str) -> str:
    """The page of a grid (see the module's docstring)."""
    headers, rows = experiment_rows(directory)
    failed = [[r["run_id"], r.get("error", "")] for e in directory.experiments for r in e.failed]
    config_headers, config_rows = fixed_rows(directory)
    selections = "/".join(sorted({e.selection for e in directory.experiments}))
    return PAGE.substitute(
        title=html.escape(f"ShrinkBench report: {grid_subject(directory)}"),
        style=STYLE,
        meta=html.escape(f"{directory.directory} · select: {selections} · {versions}"),
        warnings=warnings_html(report_warnings(directory.experiments)),
        experiments=html_table(headers, rows, f"{dense_models_title(directory)}; changes: from the base variant of "
                               "the same pair", numeric_from=4),
        quality=html.escape(quality_heading(directory.tasks())),
        summary=summary_html(directory, selections),
        figures="\n".join(_figure(f) for f in figures),
        confounders=confounders_html(reports),
        failed=html_table(["run", "error"], failed) if failed else "<p>none</p>",
        config=html_table(config_headers, config_rows),
    )
