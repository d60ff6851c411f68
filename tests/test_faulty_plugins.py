"""Broken plugins never take down the command line or a sweep: every failure is recorded, names its culprit,
and the rest completes (the fixtures are in ``tests/fixture_plugins/``, registered by SHRINKBENCH_PLUGINS)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import CLI, SMALL, cli_env, read_rows

from shrinkbench.engine.store import ResultsStore

FIXTURES = str(Path(__file__).parent / "fixture_plugins")
TINY = ("-c", "4", "--pretrain-epochs", "1", "--finetune-epochs", "1", "--threads", "1")


def with_plugins(*modules: str) -> dict[str, str]:
    return {"SHRINKBENCH_PLUGINS": ",".join(modules), "PYTHONPATH": FIXTURES}


def test_faulty_strategies_fail_their_runs_and_the_sweep_completes(shrinkbench, tmp_path):
    out = tmp_path / "out"
    strategies = ("faulty-raises", "faulty-missing", "faulty-module", "faulty-keeps-all", "global-magnitude")
    result = shrinkbench("bench", *[a for s in strategies for a in ("-s", s)], *TINY, "--out", str(out),
                         **with_plugins("sb_faulty_strategies"))
    assert result.returncode == 1, result.stderr  # some runs failed: exit 1, the table is still printed
    rows = {r["strategy"]: r for r in ResultsStore(out).rows()}
    assert rows["global-magnitude"]["status"] == "ok"
    errors = {name: rows[name]["error"] for name in strategies[:4]}
    assert all(rows[name]["status"] == "failed" for name in errors)
    plugin = "strategy '{}' (sb_faulty_strategies)"
    assert errors["faulty-raises"] == plugin.format("faulty-raises") + " raised ValueError: scores went negative"
    assert errors["faulty-missing"].startswith(plugin.format("faulty-missing") + " raised AttributeError")
    assert errors["faulty-module"].startswith(plugin.format("faulty-module") + " raised ModuleNotFoundError")
    assert "achieved 1.00x for target 4x" in errors["faulty-keeps-all"]
    assert not [p for p in (out / "runs").iterdir() if p.name.endswith(".tmp") or p.name.startswith(".")]
    assert "global-magnitude" in result.stdout and "4 failed" in result.stdout  # the summary names them
    for name in errors:
        assert f"failed mnist-5k-lenet-300-100/{name}_c4_s0: " in " ".join(result.stdout.split())


@pytest.mark.parametrize(("module", "reason"), [
    ("sb_sys_exit", "SystemExit: called sys.exit(None) while being imported"),
    ("sb_sys_exit_message", "SystemExit: called sys.exit('this plugin refuses to load')"),
    ("sb_keyboard_interrupt", "KeyboardInterrupt"),
    ("sb_os_exit", "ended the process while being imported (exit code 3"),
])
def test_a_plugin_that_exits_at_import_is_named_and_the_rest_works(shrinkbench, tmp_path, module, reason):
    listing = shrinkbench("list", "plugins", **with_plugins(module))
    assert listing.returncode == 0, listing.stderr
    line = next(line for line in listing.stdout.splitlines() if module in line)
    assert "failed" in line and reason[:40] in " ".join(listing.stdout.split())
    out = tmp_path / "out"
    bench = shrinkbench("bench", "-s", "global-magnitude", *TINY, "--out", str(out), "--no-report",
                        **with_plugins(module))
    assert bench.returncode == 0, bench.stderr
    assert [r["status"] for r in ResultsStore(out).rows()] == ["ok"]


def test_a_plugin_whose_import_hangs_is_named_within_the_probe_timeout(shared_cache, tmp_path):
    env = cli_env(shared_cache, **with_plugins("sb_import_hangs"), SHRINKBENCH_PROBE_TIMEOUT="2")
    start = time.monotonic()
    listing = subprocess.run([sys.executable, "-c", CLI, "list", "plugins"], capture_output=True, text=True,
                             env=env, cwd=tmp_path, timeout=40)
    assert listing.returncode == 0, listing.stderr
    assert time.monotonic() - start < 30
    line = next(line for line in listing.stdout.splitlines() if "sb_import_hangs" in line)
    assert "failed" in line and "import did not finish within 2 s" in " ".join(listing.stdout.split())
    others = [line for line in listing.stdout.splitlines() if "shrinkbench-" in line]
    assert len(others) > 1 and not [line for line in others if " failed " in line]  # the others load


def test_an_executor_plugin_written_from_the_docs_is_discovered_and_used(shrinkbench, reference, tmp_path):
    """The toy ``threads`` executor gives the rows of the built-in sequential one."""
    listing = shrinkbench("list", "executors", **with_plugins("sb_threads_executor"))
    assert listing.returncode == 0 and "threads" in listing.stdout and "sb_threads_executor" in listing.stdout
    out = tmp_path / "threads"
    result = shrinkbench(*SMALL, "--executor", "threads", "--executor-option", "workers=2", "--out", str(out),
                         **with_plugins("sb_threads_executor"))
    assert result.returncode == 0, result.stderr
    assert read_rows(out) == read_rows(reference)
