"""Resume: failed and lost runs run again (unless retry is off), a late lost-task report never replaces a finished
row, and the dense model behind earlier rows is never retrained or overwritten in place."""

from __future__ import annotations

import pytest

from shrinkbench import TaskContext, TaskLost
from shrinkbench.engine import Recipe, ResultsStore, SweepConfig, resolve, run_sweep
from shrinkbench.engine.dense import dense_dir
from shrinkbench.errors import ShrinkBenchError


def config(**changes) -> SweepConfig:
    base = dict(dataset="toy-blobs", model="toy-mlp", pretrain=Recipe(epochs=2, lr=0.05),
                finetune=Recipe(epochs=1, lr=0.01, lr_schedule="constant"), strategies=("toy-magnitude",),
                compressions=(2.0,), seeds=(0,), jobs=1, threads=1)
    return SweepConfig(**{**base, **changes})


def test_a_failed_run_runs_again_unless_retry_is_off(toy_registry, tmp_path):
    store = ResultsStore(tmp_path)
    bad = config(finetune=Recipe(epochs=1, lr=1e30, lr_schedule="constant"))  # diverges: a failed row
    first = run_sweep(toy_registry, bad, store)
    assert [r["status"] for r in first.new_rows] == ["failed"]
    kept = run_sweep(toy_registry, config(finetune=bad.finetune, retry=False), store)
    assert kept.new_rows == [] and kept.skipped == 1
    again = run_sweep(toy_registry, bad, store)
    assert again.retried == 1 and len(again.new_rows) == 1 and again.skipped == 0
    assert len(store.rows()) == 1  # replaced, not duplicated


class LateLoss:
    """An executor whose workers report a task lost after its run has already finished."""

    def run(self, tasks, emit):
        for task in tasks:
            task.work(TaskContext(emit))
            emit(TaskLost(task.key, "worker process died (exit code -9)"))


def test_a_late_lost_report_never_replaces_a_finished_row(toy_registry, tmp_path):
    outcome = run_sweep(toy_registry, config(), ResultsStore(tmp_path), executor=LateLoss())
    rows = ResultsStore(tmp_path).rows()
    assert [r["status"] for r in rows] == ["ok"] and len(outcome.new_rows) == 1


def test_rewinding_needs_its_own_dense_model_and_never_touches_the_one_behind_earlier_rows(toy_registry, tmp_path):
    run_sweep(toy_registry, config(), ResultsStore(tmp_path / "plain"))
    plain = resolve(toy_registry, config()).experiments[0]
    unit = dense_dir(plain, 0)
    before = {p.name: p.stat().st_mtime_ns for p in unit.iterdir()}
    rewinding = config(schedules=("iterative",), schedule_options=(("iterative", (("rewind_epoch", "1"),)),))
    with pytest.raises(ShrinkBenchError, match="another configuration.*rewind_epochs"):
        run_sweep(toy_registry, rewinding, ResultsStore(tmp_path / "plain"))  # one table, one dense model
    run_sweep(toy_registry, rewinding, ResultsStore(tmp_path / "rewinding"))
    other = resolve(toy_registry, rewinding).experiments[0]
    assert other.rewind_epochs == (1,) and other.fingerprint() != plain.fingerprint()
    assert dense_dir(other, 0) != unit and (dense_dir(other, 0) / "epoch1.safetensors").is_file()
    assert {p.name: p.stat().st_mtime_ns for p in unit.iterdir()} == before
