"""Careful input for ``report`` and ``compare``: a missing or foreign directory, a results.csv that is not ours,
lacks required columns, has damaged lines or holds nothing, a sweep.json damaged or of the old layout -- each is
one ``error: ...`` line on stderr naming the file, the problem and the fix, exit code 2, no traceback, nothing
on stdout and nothing written (``--json`` included)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from shrinkbench import schema
from shrinkbench_cli.main import cli

SLUG = "toy-d-toy-m"
FIXED = {"dataset": "toy-d", "model": "toy-m", "variant": "default", "finetune": {"epochs": 1, "lr": 0.01}}


def good_rows() -> list[dict[str, str]]:
    rows = []
    for strategy, top1 in (("a-strategy", 0.9), ("b-strategy", 0.8)):
        for seed in (0, 1):
            rows.append({schema.RUN_ID: f"{SLUG}/{strategy}_c4_s{seed}", schema.DATASET: "toy-d", schema.MODEL: "toy-m",
                         schema.VARIANT: "default", schema.STRATEGY: strategy, schema.SCHEDULE: "oneshot",
                         schema.SEED: str(seed), schema.TARGET: "4", schema.COMPRESSION: "4", schema.SPEEDUP: "3.5",
                         schema.TOP1: str(top1 + seed / 100), schema.DENSE_TOP1: "0.95",
                         schema.STATUS: schema.STATUS_OK, schema.ERROR: ""})
    return rows


def csv_text(rows: list[dict[str, str]], columns: list[str] | None = None) -> str:
    columns = columns or list(rows[0])
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()


def write(directory: Path, results: str | bytes | None, sweep: str | None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    if results is not None:
        path = directory / "results.csv"
        path.write_bytes(results if isinstance(results, bytes) else results.encode())
    if sweep is not None:
        (directory / "sweep.json").write_text(sweep)
    return directory


GOOD_SWEEP = json.dumps({"version": 2, "experiments": {SLUG: {"fixed": FIXED, "fingerprint": "abc"}}})


def with_row(**changes: str) -> str:
    rows = good_rows()
    rows[0] = {**rows[0], **changes}
    return csv_text(rows)


CASES = {  # name: (results.csv content or None, sweep.json content or None, expected words)
    "empty-directory": (None, None, "no results.csv in"),
    "foreign-csv": ("name,value\nx,1\n", GOOD_SWEEP, "is not a ShrinkBench results file"),
    "missing-columns": (csv_text(good_rows(), [c for c in good_rows()[0] if c not in (schema.VARIANT, schema.STATUS)]),
                        GOOD_SWEEP, "lacks the required columns variant, status"),
    "short-line": (csv_text(good_rows()) + f"{SLUG}/x_c4_s0,toy-d\n", GOOD_SWEEP, "line 6 has 2 fields, the header 14"),
    "long-line": (csv_text(good_rows()).replace("\n", ",extra\n", 2).replace("error,extra", "error"), GOOD_SWEEP,
                  "line 2 has 15 fields"),
    "bad-seed": (with_row(seed="zero"), GOOD_SWEEP, "line 2: seed 'zero' is not an integer"),
    "bad-target": (with_row(compression_target="big"), GOOD_SWEEP, "compression_target 'big' is not a number >= 1"),
    "bad-status": (with_row(status="maybe"), GOOD_SWEEP, "status 'maybe' is neither 'ok' nor 'failed'"),
    "bad-run-id": (with_row(run_id="x_c4_s0"), GOOD_SWEEP, "run_id 'x_c4_s0' is not <experiment>/<run>"),
    "huge-field": (with_row(error="x" * 200_000), GOOD_SWEEP, "cannot be parsed as CSV"),
    "empty-csv": ("", GOOD_SWEEP, "results.csv is empty"),
    "header-only": (csv_text(good_rows()).splitlines()[0] + "\n", GOOD_SWEEP, "holds no runs (a header only)"),
    "binary-csv": (bytes(range(128, 256)) * 4, GOOD_SWEEP, "cannot read"),
    "no-sweep": (csv_text(good_rows()), None, "has a results.csv but no sweep.json"),
    "damaged-sweep": (csv_text(good_rows()), '{"version": 2, "experi', "sweep.json is damaged"),
    "old-sweep": (csv_text(good_rows()), json.dumps({"fixed": FIXED, "fingerprint": "abc"}),
                  "earlier version of ShrinkBench (no experiments table)"),
    "newer-sweep": (csv_text(good_rows()), json.dumps({"version": 9, "experiments": {}}), "newer version"),
    "sweep-entry": (csv_text(good_rows()), json.dumps({"version": 2, "experiments": {SLUG: "x"}}),
                    f"experiment '{SLUG}' has no fixed configuration"),
    "other-sweep": (csv_text(good_rows()), json.dumps({"version": 2, "experiments": {"other": {"fixed": FIXED}}}),
                    f"belongs to experiment '{SLUG}', which sweep.json does not list"),
}


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def one_line_error(result) -> str:
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception  # no other exception escaped
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    assert result.stdout == ""
    return lines[0]


@pytest.fixture
def good(tmp_path) -> Path:
    return write(tmp_path / "good", csv_text(good_rows()), GOOD_SWEEP)


def test_the_good_directory_reports(good, tmp_path):
    result = CliRunner().invoke(cli, ["report", str(good), "--to", str(tmp_path / "out")])
    assert result.exit_code == 0, (result.output, result.exception)
    assert (tmp_path / "out" / "report.html").is_file()


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("command", ["report", "report-json", "compare", "compare-json"])
def test_bad_input_is_one_line_exit_2_and_nothing_written(name, command, good, tmp_path):
    results, sweep, expected = CASES[name]
    bad = write(tmp_path / "bad", results, sweep)
    before = snapshot(bad)
    out = tmp_path / "out"
    args = {"report": ["report", str(bad), "--to", str(out)], "report-json": ["report", str(bad), "--json"],
            "compare": ["compare", str(good), str(bad), "--out", str(out)],
            "compare-json": ["compare", str(good), str(bad), "--json"]}[command]
    line = one_line_error(CliRunner().invoke(cli, args))
    assert expected in line, line
    assert str(bad) in line or "nowhere" in line
    assert snapshot(bad) == before and not out.exists()


def test_missing_directory_names_the_fix(tmp_path):
    line = one_line_error(CliRunner().invoke(cli, ["report", str(tmp_path / "nowhere")]))
    assert line == f"error: no results.csv in {tmp_path / 'nowhere'}: run 'shrinkbench bench --out {tmp_path / 'nowhere'}' first"


def test_a_file_given_as_directory_is_refused(tmp_path):
    (tmp_path / "afile").write_text("")
    line = one_line_error(CliRunner().invoke(cli, ["report", str(tmp_path / "afile")]))
    assert "is a file" in line
