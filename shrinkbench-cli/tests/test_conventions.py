"""Conventions every command follows: ``python -m shrinkbench`` runs the CLI, every boolean flag has its
``--no-`` form, and nothing a script parses is wrapped, whatever the width of the terminal (or of none)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import click
import pytest
from conftest import TOY_DIR

from shrinkbench_cli.main import cli

OTHERS: set[str] = set()  # commands exempt from the conventions: none


def commands(group: click.Group, prefix: str = "shrinkbench"):  # noqa: ANN201 - yields (path, command)
    for name, command in group.commands.items():
        yield f"{prefix} {name}", command
        if isinstance(command, click.Group):
            yield from commands(command, f"{prefix} {name}")


def test_every_boolean_flag_has_its_no_form():
    missing = []
    for path, command in [("shrinkbench", cli), *commands(cli)]:
        if path.split()[-1] in OTHERS:
            continue
        for param in command.params:
            eager = param.is_eager and param.name in ("help", "version")
            if isinstance(param, click.Option) and param.is_bool_flag and not eager:
                if not any(opt.startswith("--no-") for opt in param.secondary_opts):
                    missing.append(f"{path} {param.opts[-1]}")
    assert not missing, f"boolean flags without their --no- form: {', '.join(missing)}"


def test_the_no_forms_work(run_cli, tmp_path):
    listed = run_cli("list", "datasets", "--json", "--no-json")
    assert listed.returncode == 0 and not listed.stdout.lstrip().startswith("{")


def test_python_dash_m_shrinkbench_runs_the_cli(tmp_path):
    env = {**os.environ, "SHRINKBENCH_CACHE": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-m", "shrinkbench", "--version"], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("shrinkbench-cli ")
    usage = subprocess.run([sys.executable, "-m", "shrinkbench", "lisst"], capture_output=True, text=True, env=env,
                           cwd=tmp_path, timeout=300)
    assert usage.returncode == 2 and usage.stderr.startswith("error: No such command 'lisst'")
    assert "'shrinkbench --help'" in usage.stderr  # the program is called shrinkbench, not __main__.py


def test_python_dash_m_shrinkbench_without_the_cli_is_one_line(monkeypatch, capsys):
    from shrinkbench import __main__ as entry

    monkeypatch.setattr(entry.metadata, "entry_points", lambda **_: [])
    with pytest.raises(SystemExit) as exited:
        entry.main()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: the shrinkbench command is not installed")


def run_piped(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``shrinkbench ARGS`` with the toy plugin, stdout a pipe and no ``COLUMNS``: rich's 80-column default."""
    environment = {**os.environ, "SHRINKBENCH_CACHE": str(tmp_path / "cache"), "SHRINKBENCH_PLUGINS": "toy_plugin",
                   "PYTHONPATH": os.pathsep.join([str(TOY_DIR), os.environ.get("PYTHONPATH", "")]), **env}
    for name in ("COLUMNS", "LINES", "SHRINKBENCH_DISABLE_PLUGINS"):
        environment.pop(name, None)
    return subprocess.run([sys.executable, "-c", "from shrinkbench_cli.main import main; main()", *args],
                          capture_output=True, text=True, env=environment, cwd=tmp_path, timeout=600)


@pytest.fixture
def deep(tmp_path):
    """A directory under a path of more than 150 characters (wherever pytest's tmp_path lives)."""
    path = tmp_path / ("d" * 75) / ("e" * 75)
    path.mkdir(parents=True)
    return path


def test_long_lines_of_bench_and_its_report_are_never_wrapped(tmp_path, deep):
    out = deep / "results"
    result = run_piped(tmp_path, "bench", "-d", "toy-blobs", "-m", "toy-mlp", "-s", "toy-magnitude", "-c", "2",
                       "--pretrain-epochs", "1", "--finetune-epochs", "1", "--out", str(out))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("shrinkbench bench: toy-mlp on toy-blobs"))
    assert header.startswith("shrinkbench bench: toy-mlp on toy-blobs, 1 strategies x 1 compressions x 1 seeds on ")
    assert f") -> {out}: " in header  # the device and why it was chosen, in brackets, before the output directory
    assert "1 run at a time" in header and len(header) > 200
    wrote = next(line for line in lines if line.startswith("1 runs (0 failed). Wrote summary.csv, "))
    assert wrote.endswith(f"report.html in {out}") and len(wrote) > 200
    assert "1 runs done, 0 already complete, 0 failed." in lines
    dry = run_piped(tmp_path, "bench", "-d", "toy-blobs", "-m", "toy-mlp", "-s", "toy-magnitude", "-c", "2",
                    "--pretrain-epochs", "1", "--finetune-epochs", "1", "--out", str(out), "--seeds", "0,1",
                    "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"results would go to: {out}" in dry.stdout.splitlines()


def test_long_lines_of_cache_list_and_errors_are_never_wrapped(tmp_path, deep):
    from test_cache_cli import make_unit

    cache = deep / "cache"
    unit = make_unit(cache)
    listed = run_piped(tmp_path, "cache", "list", SHRINKBENCH_CACHE=str(cache))
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if "toy-blobs" in line)
    assert row.endswith(f"  {unit}") and len(row) > 200
    refused = run_piped(tmp_path, "cache", "clear", SHRINKBENCH_CACHE=str(cache))
    assert refused.returncode == 2 and len(refused.stderr.splitlines()) == 1 and str(cache) in refused.stderr
    bad = run_piped(tmp_path, "bench", "-d", "toy-blobs", "-m", "toy-mlp", "-c", "2", "--out", str(deep / "f" / "x"),
                    "--checkpoint", str(deep / "missing.pt"))
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1 and str(deep / "missing.pt") in bad.stderr
    assert json.loads(run_piped(tmp_path, "cache", "list", "--json", SHRINKBENCH_CACHE=str(cache)).stdout)["dense"]
