"""docs/results.md is generated from the schema and kept in step: every column core declares or a real run
writes has an entry (unit and meaning), and so has every summary.csv column and sweep.json field."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from shrinkbench import schema
from shrinkbench.columns import RESULTS_COLUMNS, SWEEP_JSON_FIELDS
from shrinkbench.metrics import plugin as core_metrics
from shrinkbench_cli.reporting.reference import reference_markdown, summary_columns

DOC = Path(__file__).parents[2] / "docs" / "results.md"


def test_the_reference_page_is_the_generated_one():
    assert DOC.read_text(encoding="utf-8") == reference_markdown(), (
        "docs/results.md is out of step: python -m shrinkbench_cli.reporting.reference > docs/results.md")


def test_every_declared_column_has_an_entry():
    declared = set(schema.COLUMN_ORDER) | schema.TEXT_COLUMNS | schema.BOOL_COLUMNS | schema.INT_COLUMNS
    declared |= set(schema.TIMINGS) | {schema.pre(c) for c in schema.ACCURACY}
    declared |= {c for spec in core_metrics.shrinkbench_metrics() for c in spec.columns}
    declared |= {v for k, v in vars(schema).items() if k.isupper() and isinstance(v, str) and k not in
                 ("STATUS_OK", "STATUS_FAILED", "PRE_SUFFIX", "ONE_SHOT")}
    missing = sorted(declared - set(RESULTS_COLUMNS))
    assert not missing, f"columns without an entry in shrinkbench/columns.py: {missing}"
    assert all(unit and meaning for unit, meaning in RESULTS_COLUMNS.values())


def test_every_column_and_field_of_a_real_sweep_has_an_entry(run_cli, tmp_path):
    out = tmp_path / "res"
    result = run_cli("bench", "-d", "toy-blobs", "-m", "toy-mlp", "-s", "toy-magnitude", "-c", "1,2",
                     "--pretrain-epochs", "1", "--finetune-epochs", "1", "--out", str(out))
    assert result.returncode == 0, result.stderr
    with (out / "results.csv").open() as f:
        header = next(csv.reader(f))
    assert sorted(set(header) - set(RESULTS_COLUMNS)) == []
    with (out / "summary.csv").open() as f:
        assert sorted(set(next(csv.reader(f))) - set(summary_columns())) == []
    stored = json.loads((out / "sweep.json").read_text())
    fields = set(stored) | {f"last_sweep.{k}" for k in stored["last_sweep"]}
    fields |= {f"experiments.<slug>.{k}" for e in stored["experiments"].values() for k in e}
    assert sorted(fields - set(SWEEP_JSON_FIELDS)) == []
    fixed = next(iter(stored["experiments"].values()))["fixed"]
    assert all(k in SWEEP_JSON_FIELDS["experiments.<slug>.fixed"] for k in fixed)
