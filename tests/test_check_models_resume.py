"""``check-models`` over hours: a resume file that a stopped check goes on from, shards, and their merge; and
the summary, the shard slices and the MAC comparison on their own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import cli_env
from test_check_models import CLI, check_models, rows_of

FAST = ("broken:only-240", "broken:refuses", "broken:needs-weights", "broken:miscounted", "broken:diverges")
"""Five quick members of the test family: 1 passed, 2 failed, 2 not checked."""


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_shards_resume_where_they_stopped_and_merge_into_one_table(tmp_path):
    first, second = tmp_path / "shard1.jsonl", tmp_path / "shard2.jsonl"
    one = check_models(tmp_path, *FAST, "--steps", "2", "--shard", "1/2", "--resume", str(first))
    assert one.returncode == 1, one.stdout + one.stderr  # broken:miscounted fails
    header, *rows = lines(first)
    models = ["broken:diverges", "broken:needs-weights", "broken:refuses"]  # every second of the sorted five
    assert header["check-models"]["models"] == models and header["check-models"]["shard"] == "1/2"
    assert [r["model"] for r in rows] == models
    # killed while writing its second row: the cut-short line is dropped and that model is checked again
    first.write_text("\n".join(first.read_text().splitlines()[:2]) + "\n" + '{"model": "broken:needs-w')
    again = check_models(tmp_path, *FAST, "--steps", "2", "--shard", "1/2", "--resume", str(first))
    assert "Resuming" in again.stdout and "1 of 3 models already done" in again.stdout, again.stdout
    assert "broken:diverges: failed" not in again.stdout and "[2/3] broken:needs-weights: not checked" in again.stdout
    assert [r["model"] for r in lines(first)[1:]] == ["broken:diverges", "broken:needs-weights", "broken:refuses"]
    done = check_models(tmp_path, *FAST, "--steps", "2", "--shard", "1/2", "--resume", str(first))
    assert "3 of 3 models already done" in done.stdout and "[1/3]" not in done.stdout

    check_models(tmp_path, *FAST, "--steps", "2", "--shard", "2/2", "--resume", str(second))
    merged = check_models(tmp_path, "--merge", str(first), str(second), "--json", str(tmp_path / "all.json"))
    assert merged.returncode == 1, merged.stdout + merged.stderr
    rows = rows_of(tmp_path / "all.json")
    assert sorted(rows) == sorted(FAST)
    assert {name: row["status"] for name, row in rows.items()} == {
        "broken:only-240": "passed", "broken:miscounted": "failed", "broken:diverges": "failed",
        "broken:refuses": "not checked", "broken:needs-weights": "not checked"}
    assert ("2 not checked (input size 1, weights 1); pass rate 33.3% (1 of 3 checked)") in merged.stdout
    # the one run, unsharded, gives the same rows (but for the seconds)
    whole = check_models(tmp_path, *FAST, "--steps", "2", "--json", str(tmp_path / "whole.json"))
    assert whole.returncode == 1
    strip = lambda table: {n: {k: v for k, v in r.items() if k != "seconds"} for n, r in table.items()}  # noqa: E731
    assert strip(rows_of(tmp_path / "whole.json")) == strip(rows)

    # a merge says what has not run yet: a shard stopped before its first model, a shard not given at all
    second.write_text(second.read_text().splitlines()[0] + "\n")
    partial = check_models(tmp_path, "--merge", str(second))
    assert partial.returncode == 0, partial.stderr
    assert f"{second}: 2 of 2 models not run yet" in partial.stdout
    assert "shards 1/2 of the 5 models are missing: their models are not in this table" in partial.stdout
    assert "0 passed, 0 failed, 2 not checked (not run 2); pass rate n/a (none checked)" in partial.stdout


def test_retry_checks_again_what_was_not_checked_for_that_cause(tmp_path):
    # broken:slow sleeps 1 s per forward pass: more than a 1 s timeout allows between two progress reports
    first = check_models(tmp_path, "broken:slow", "broken:refuses", "--steps", "2", "--timeout", "1", "--resume", "r.jsonl")
    assert "[2/2] broken:slow: not checked (time)" in first.stdout, first.stdout + first.stderr
    again = check_models(tmp_path, "broken:slow", "broken:refuses", "--steps", "2", "--timeout", "5", "--resume", "r.jsonl",
                         "--retry", "time", "--json", "rows.json")
    assert "broken:refuses:" not in again.stdout and "[2/2] broken:slow: passed" in again.stdout, again.stdout
    assert rows_of(tmp_path / "rows.json")["broken:slow"]["status"] == "passed"
    assert [row["model"] for row in lines(tmp_path / "r.jsonl")[1:]] == ["broken:refuses", "broken:slow", "broken:slow"]
    merged = check_models(tmp_path, "--merge", "r.jsonl")  # the later row of a model replaces the earlier
    assert "1 passed, 0 failed, 1 not checked (input size 1)" in merged.stdout


def test_two_checks_never_append_to_one_resume_file(tmp_path):
    env = cli_env(tmp_path / "cache", SHRINKBENCH_PLUGINS="broken_models_plugin",
                  PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]))
    running = subprocess.Popen([sys.executable, "-c", CLI, "check-models", "broken:hangs", "--timeout", "60",
                                "--resume", "r.jsonl"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "r.jsonl").exists() or not (tmp_path / "r.jsonl").read_text():
            assert time.monotonic() < deadline and running.poll() is None, "the first check did not start"
            time.sleep(0.2)
        second = check_models(tmp_path, "broken:hangs", "--resume", "r.jsonl")
        assert second.returncode == 2, second.stdout + second.stderr
        assert second.stderr.strip() == "error: r.jsonl is in use by another check-models; wait for it, or give another file"
    finally:
        running.kill()
        running.wait()
    assert len(lines(tmp_path / "r.jsonl")) == 1  # the header alone: the killed check wrote no row


@pytest.mark.parametrize("args, message", [
    (("--shard", "3/2"), "'3/2' is not I/N with 1 <= I <= N"),
    (("--merge", "x.jsonl"), "x.jsonl is not a file; --merge takes the files written by --resume"),
    (("--merge",), "--merge needs the --resume files to merge"),
    (("--merge", "--sample", "3", "rows.jsonl"), "--merge checks nothing: drop --sample"),
    (("broken:refuses", "--steps", "3", "--resume", "rows.jsonl"), "rows.jsonl was started with --steps 2, not 3"),
    (("broken:needs-weights", "--steps", "2", "--resume", "rows.jsonl"), "rows.jsonl was started for another list"),
    (("broken:refuses", "--resume", "not-rows.json"), "not-rows.json is not a check-models --resume file"),
    (("broken:refuses", "--retry", "time"), "--retry checks again the models of a --resume file"),
])
def test_bad_resume_shard_and_merge_options_are_one_line(tmp_path, args, message):
    settings = {"strategy": "global-magnitude", "compression": 4.0, "steps": 2, "batch": 8, "seed": 0}
    header = {"settings": settings, "models": ["broken:refuses"], "shard": None, "selection": 1}
    (tmp_path / "rows.jsonl").write_text(json.dumps({"check-models": header}) + "\n")  # as `--steps 2` starts it
    (tmp_path / "not-rows.json").write_text("[]\n")
    result = check_models(tmp_path, *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_the_pass_rate_leaves_out_the_models_not_checked():
    from shrinkbench_cli.model_check_rows import summary

    rows = [{"status": "passed"}] * 3 + [{"status": "failed"}] + \
        [{"status": "not checked", "cause": "memory"}] * 2 + [{"status": "not checked", "cause": "time"}]
    assert summary(rows) == ("check-models: 3 passed, 1 failed, 3 not checked (memory 2, time 1); "
                             "pass rate 75.0% (3 of 4 checked)")


def test_shards_cover_the_list_once():
    from shrinkbench_cli.commands.check_models import shard_of

    names = [f"m{i:02d}" for i in range(11)]
    shards = [shard_of(names, (i, 4)) for i in range(1, 5)]
    assert sorted(sum(shards, [])) == names and [len(s) for s in shards] == [3, 3, 3, 2]


def test_macs_agree_exactly_on_operations_both_count_and_to_a_tenth_of_a_percent_overall():
    from shrinkbench_cli.model_check import mac_problem

    assert mac_problem({"aten.mm": 1000, "aten.convolution": 0}, {"aten.mm": 1000}) == ""
    # one MAC off on an operation both count: a real disagreement, however small
    assert mac_problem({"aten.mm": 100_001}, {"aten.mm": 100_000}) == \
        "MACs 100,001 vs FlopCounterMode 100,000 (0.00% apart): aten.mm 100,001 vs 100,000"
    # an operation FlopCounterMode has no formula for: within 0.1% a note, above it a failure
    assert mac_problem({"aten.mm": 100_000, "aten.mv": 50}, {"aten.mm": 100_000}).startswith("note: MACs 100,050")
    assert mac_problem({"aten.mm": 100_000, "aten.mv": 500}, {"aten.mm": 100_000}) == \
        "MACs 100,500 vs FlopCounterMode 100,000 (0.50% apart): aten.mv 500 counted only here"
    assert "aten.bmm 300 counted only by FlopCounterMode" in mac_problem({"aten.mm": 10}, {"aten.mm": 10, "aten.bmm": 300})
