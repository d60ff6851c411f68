"""Check that an example third-party plugin works once installed: ``python tests/check_installed_plugin.py NAME``.

Run by the nox session ``example-NAME`` in a venv holding wheels of shrinkbench-core, shrinkbench-cli and
shrinkbench-vision plus ``examples/NAME`` installed from its path. Through the real ``shrinkbench`` command
(subprocesses, a temporary ``SHRINKBENCH_CACHE``) it checks that:

1. ``shrinkbench list --json`` shows the example's strategies and metrics with ``plugin`` = its distribution;
2. ``shrinkbench list plugins`` shows its entry points with status ``ok``;
3. ``shrinkbench bench --strategy S ...`` on the bundled MNIST subset (mnist-5k, lenet-300-100, compressions
   2 and 4, one pretrain and one finetune epoch) exits 0 and results.csv has an ``ok`` row per strategy and
   compression, with finite values in every column of the example's metrics.

Exits 1 with one ``FAIL: ...`` line per problem (and the command's output) on failure, 0 when all is well.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMPRESSIONS = (2.0, 4.0)
BENCH_ARGS = ["-d", "mnist-5k", "-m", "lenet-300-100", "-c", ",".join(f"{c:g}" for c in COMPRESSIONS),
              "--pretrain-epochs", "1", "--finetune-epochs", "1", "--no-report"]


class CheckFailed(Exception):
    """One failed expectation; the message says what was expected and what was seen."""


def distribution_name(example: str) -> str:
    """The ``[project] name`` of ``examples/<example>/pyproject.toml``."""
    pyproject = ROOT / "examples" / example / "pyproject.toml"
    if not pyproject.exists():
        raise CheckFailed(f"no {pyproject.relative_to(ROOT)}: is {example!r} a folder under examples/?")
    return tomllib.loads(pyproject.read_text())["project"]["name"]


def shrinkbench_command() -> list[str]:
    """The installed ``shrinkbench`` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / ("shrinkbench.exe" if os.name == "nt" else "shrinkbench")
    found = str(script) if script.exists() else shutil.which("shrinkbench")
    if found is None:
        raise CheckFailed("the 'shrinkbench' command is not installed in this environment (install shrinkbench-cli)")
    return [found]


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """Run ``shrinkbench ARGS``; raise :class:`CheckFailed` with its output unless it exits 0."""
    command = [*shrinkbench_command(), *args]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=1800, check=False)
    if result.returncode != 0:
        raise CheckFailed(f"'shrinkbench {' '.join(args)}' exited {result.returncode}\n"
                          f"--- stdout ---\n{result.stdout[-3000:]}\n--- stderr ---\n{result.stderr[-3000:]}")
    return result


def check_listing(dist: str, env: dict[str, str], cwd: Path) -> tuple[list[str], list[str]]:
    """Steps 1 and 2; return the names of the strategies and metrics that ``dist`` provides."""
    data = json.loads(run(["list", "--json"], env, cwd).stdout)
    strategies = [row["name"] for row in data["strategies"] if row["plugin"] == dist]
    metrics = [row["name"] for row in data["metrics"] if row["plugin"] == dist]
    plugins = [row for row in data["plugins"] if row["plugin"] == dist]
    if not plugins:
        raise CheckFailed(f"'shrinkbench list --json' shows no plugin of distribution {dist!r}; plugins seen: "
                          f"{sorted({row['plugin'] for row in data['plugins']})}")
    broken = [f"{row['name']}: {row['status']} {row['error']}" for row in plugins if row["status"] != "ok"]
    if broken:
        raise CheckFailed(f"{dist}'s plugin is not ok in 'shrinkbench list --json': {broken}")
    if not strategies:
        raise CheckFailed(f"'shrinkbench list --json' shows no strategy with plugin == {dist!r}")
    table = run(["list", "plugins"], env, cwd).stdout
    for row in plugins:
        if not any(row["name"] in line and " ok " in f" {line} " for line in table.splitlines()):
            raise CheckFailed(f"'shrinkbench list plugins' has no 'ok' line for {row['name']!r}:\n{table}")
    print(f"ok: shrinkbench list shows {dist}: strategies {strategies}, metrics {metrics}, plugins ok")
    return strategies, metrics


def check_bench(dist: str, strategies: list[str], metrics: list[str], env: dict[str, str], work: Path) -> None:
    """Step 3: a tiny bench with every strategy of ``dist``, then its rows and metric columns in results.csv."""
    listed = json.loads(run(["list", "metrics", "--json"], env, work).stdout)["metrics"]
    columns = [c for row in listed if row["name"] in metrics for c in row["columns"]]
    out = work / "results"
    args = ["bench", *[a for s in strategies for a in ("--strategy", s)], *BENCH_ARGS, "--out", str(out)]
    run(args, env, work)
    csv_path = out / "results.csv"
    if not csv_path.exists():
        raise CheckFailed(f"'shrinkbench {' '.join(args)}' exited 0 but wrote no {csv_path}")
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    for strategy in strategies:
        for compression in COMPRESSIONS:
            row = next((r for r in rows if r["strategy"] == strategy
                        and float(r["compression_target"]) == compression), None)
            where = f"results.csv row of {strategy} at compression {compression:g}"
            if row is None:
                raise CheckFailed(f"no {where}; rows: {[(r['strategy'], r['compression_target']) for r in rows]}")
            if row["status"] != "ok":
                raise CheckFailed(f"{where} has status {row['status']!r}: {row['error']}")
            for column in columns:
                value = row.get(column)
                if value in (None, "") or not math.isfinite(float(value)):
                    raise CheckFailed(f"{where}: column {column!r} is {value!r} (error column: {row['error']!r})")
            achieved = float(row["compression"])
            if abs(achieved - compression) > 0.01 * compression:
                raise CheckFailed(f"{where}: achieved compression {achieved:g}, target {compression:g}")
    shown = ", ".join(f"{c}={rows[-1][c]}" for c in columns)
    print(f"ok: shrinkbench bench ran {strategies} at {list(COMPRESSIONS)}; results.csv has {shown} (last row)")


def main(argv: list[str]) -> int:
    """Run every check for the example named in ``argv``; return the process exit code."""
    if len(argv) != 1:
        print("usage: python tests/check_installed_plugin.py NAME   (a folder under examples/)", file=sys.stderr)
        return 2
    try:
        dist = distribution_name(argv[0])
        with tempfile.TemporaryDirectory(prefix="shrinkbench-check-") as tmp:
            work = Path(tmp)
            env = {**os.environ, "SHRINKBENCH_CACHE": str(work / "cache"), "COLUMNS": "200"}
            for variable in ("SHRINKBENCH_DISABLE_PLUGINS", "SHRINKBENCH_PLUGINS"):
                env.pop(variable, None)  # see the installed plugins exactly, nothing inline
            strategies, metrics = check_listing(dist, env, work)
            check_bench(dist, strategies, metrics, env, work)
    except CheckFailed as exc:
        print(f"FAIL: {argv[0]}: {exc}", file=sys.stderr)
        return 1
    print(f"ok: {dist} installs, lists and benches")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
