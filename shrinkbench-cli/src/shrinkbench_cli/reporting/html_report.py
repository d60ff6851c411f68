"""``report.html``: one self-contained page (plots embedded as base64 PNG data URIs, no external resource)
with the summary table, the plots, run counts, failed runs and the fixed configuration of a directory."""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from string import Template
from typing import Any

from shrinkbench import schema

from .results import Results, report_warnings
from .table import caption, table_rows
from .task_view import TaskView, all_plain, metrics_phrase

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>$title</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
caption { caption-side: top; text-align: left; padding-bottom: 0.4em; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; }
figcaption, .meta { color: #555; font-size: 0.9em; }
.warning { color: #a00; font-weight: bold; border: 2px solid #a00; padding: 0.5em 0.8em; }
</style>
</head>
<body>
<h1>$title</h1>
<p class="meta">$meta</p>
$warnings
<h2>Runs</h2>
$counts
<h2>$quality</h2>
$summary
$figures
<h2>Failed runs</h2>
$failed
<h2>Fixed configuration</h2>
$config
</body>
</html>
""")


@dataclass(frozen=True)
class Figure:
    """A plot of the report: its file name (also written beside the page), PNG bytes and caption; ``panels``:
    what each panel of small multiples shows (``{"dataset", "model", "variant"}``, row by row), ``()`` for a
    single plot."""

    name: str
    png: bytes
    caption: str
    panels: tuple[dict[str, str], ...] = ()


def html_table(headers: list[str], rows: list[list[Any]], title: str = "", numeric_from: int | None = None) -> str:
    """An escaped HTML table; columns from index ``numeric_from`` on (if given) are right-aligned (class ``num``)."""
    def cell(i: int, value: Any) -> str:
        opening = '<td class="num">' if numeric_from is not None and i >= numeric_from else "<td>"
        return f"{opening}{html.escape(str(value))}</td>"

    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "\n".join("<tr>" + "".join(cell(i, v) for i, v in enumerate(row)) + "</tr>" for row in rows)
    cap = f"<caption>{html.escape(title)}</caption>" if title else ""
    return f"<table>{cap}\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table>"


def _figure(figure: Figure) -> str:
    data = base64.b64encode(figure.png).decode("ascii")
    text = html.escape(figure.caption)
    panels = f' data-panels="{html.escape(json.dumps(list(figure.panels)))}"' if figure.panels else ""
    return (f'<figure{panels}><img src="data:image/png;base64,{data}" alt="{text}">'
            f"<figcaption>{html.escape(figure.name)}: {text}</figcaption></figure>")


def quality_heading(views: list[TaskView]) -> str:
    """The heading over the summary and plots: ``Accuracy`` (top-1), else the metrics, e.g. ``Perplexity (lower
    is better)``."""
    if all_plain(views):
        return "Accuracy"
    text = metrics_phrase(views)
    return text[:1].upper() + text[1:]


def warnings_html(lines: list[str]) -> str:
    """Each warning (:func:`~.results.report_warnings`) as a prominent ``<p class="warning">``; ``""`` for none."""
    return "\n".join(f'<p class="warning">{html.escape(line)}</p>' for line in lines)


def _counts(results: Results) -> str:
    rows = results.rows
    ok = len(rows) - len(results.failed)
    distinct = {col: sorted({r[col] for r in rows}) for col in (schema.STRATEGY, schema.TARGET, schema.SEED)}
    return html_table(["runs", "succeeded", "failed", "strategies", "target compressions", "seeds"], [[
        len(rows), ok, len(results.failed), ", ".join(distinct[schema.STRATEGY]),
        ", ".join(f"{t:g}" for t in distinct[schema.TARGET]), ", ".join(map(str, distinct[schema.SEED]))]])


def render_html(results: Results, figures: list[Figure], versions: str) -> str:
    """The page for ``results``: its title (dataset · model), ``versions`` and the directory in the header,
    then run counts, the summary table (one row per strategy and target), ``figures``, failed runs with their
    errors and the fixed configuration from ``sweep.json``. Every text is HTML-escaped."""
    headers, rows = table_rows([results])
    failed = [[r[schema.RUN_ID], r.get(schema.ERROR, "")] for r in results.failed]
    meta = f"{results.directory} · {results.recipe_line()} · {versions}"
    return PAGE.substitute(
        title=html.escape(f"ShrinkBench report: {results.title()}"),
        meta=html.escape(meta),
        warnings=warnings_html(report_warnings([results])),
        counts=_counts(results),
        quality=html.escape(quality_heading([results.task])),
        summary=html_table(headers, rows, caption([results]), numeric_from=1),
        figures="\n".join(_figure(f) for f in figures),
        failed=html_table(["run", "error"], failed) if failed else "<p>none</p>",
        config=html_table(["key", "value"], [[k, v if isinstance(v, str) else json.dumps(v)]
                                             for k, v in results.flat_fixed().items()]
                          + [["fingerprint", results.fingerprint]]),
    )
