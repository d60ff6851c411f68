"""An executor's ``prepare`` runs before ``bench`` imports torch, with the options of the flags over the config
file's, and not for ``--dry-run`` (the ``ray`` executor starts its local instance there)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import TOY_DIR

PLUGIN = '''
import json, os, sys
from shrinkbench import ExecutorSpec, hookimpl

def prepare(options):
    with open(os.environ["PREPARED"], "a") as out:
        out.write(json.dumps({"torch": "torch" in sys.modules, "options": dict(options)}) + "\\n")

def create(options, context):
    from shrinkbench.engine.executors import SequentialExecutor
    return SequentialExecutor()

@hookimpl
def shrinkbench_executors():
    return [ExecutorSpec("probe", "Records prepare calls", create, prepare=prepare, options=(("flag", "any"),))]
'''


def probe_env(tmp_path: Path, toy: bool = False) -> dict[str, str]:
    """The probe executor, and with ``toy`` core's toy dataset and model (whose module imports torch)."""
    (tmp_path / "probe_executor.py").write_text(PLUGIN)
    paths = [str(tmp_path), *([str(TOY_DIR)] if toy else []), os.environ.get("PYTHONPATH", "")]
    return {"SHRINKBENCH_PLUGINS": "probe_executor" + (",toy_plugin" if toy else ""),
            "PREPARED": str(tmp_path / "prepared.jsonl"), "PYTHONPATH": os.pathsep.join(paths)}


def calls(tmp_path: Path) -> list[dict]:
    path = tmp_path / "prepared.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_prepare_runs_before_torch_with_the_flags_options_even_when_the_sweep_is_refused(run_cli, tmp_path):
    result = run_cli("bench", "-m", "no-such-model", "--executor", "probe", "--executor-option", "flag=1",
                     toy=False, env=probe_env(tmp_path))
    assert result.returncode == 2, result.stderr
    assert calls(tmp_path) == [{"torch": False, "options": {"flag": "1"}}]


def test_the_flag_wins_over_the_config_file_and_dry_run_prepares_nothing(run_cli, tmp_path):
    config = tmp_path / "sweep.toml"
    config.write_text('[executor]\nname = "probe"\nflag = "from-file"\n')
    run_cli("bench", "--config", str(config), "-m", "no-such-model", toy=False, env=probe_env(tmp_path))
    run_cli("bench", "--config", str(config), "-m", "no-such-model", "--executor-option", "flag=2", toy=False,
            env=probe_env(tmp_path))
    run_cli("bench", "--config", str(config), "--dry-run", toy=False, env=probe_env(tmp_path))
    assert [c["options"] for c in calls(tmp_path)] == [{"flag": "from-file"}, {"flag": "2"}]


def test_an_option_the_executor_does_not_take_is_reported_by_the_sweep_not_prepared(run_cli, tmp_path):
    result = run_cli("bench", "-d", "toy-blobs", "-m", "toy-mlp", "-c", "2", "--executor", "probe",
                     "--executor-option", "nope=1", toy=False, env=probe_env(tmp_path, toy=True))
    assert result.returncode == 2 and "executor probe has no option 'nope'" in result.stderr, result.stderr
    assert calls(tmp_path) == []
