"""Compression 1 prunes nothing: one run per experiment, seed and schedule, its row shared by every strategy."""

from __future__ import annotations

import toy_plugin

import shrinkbench.engine.run as engine_run
from shrinkbench import StrategySpec, hookimpl, schema
from shrinkbench.engine import Recipe, ResultsStore, SweepConfig, run_sweep
from shrinkbench.engine import plugin as core_engine
from shrinkbench.metrics import plugin as core_metrics
from shrinkbench.plugins import load_registry

EXPERIMENT = "toy-blobs-toy-mlp"
OWN = schema.TIMINGS | {schema.RUN_ID, schema.STRATEGY, schema.NOTES}


def config(**changes) -> SweepConfig:
    base = dict(dataset="toy-blobs", model="toy-mlp", pretrain=Recipe(epochs=2, lr=0.05),
                finetune=Recipe(epochs=2, lr=0.01, lr_schedule="constant"),
                strategies=("toy-magnitude", "toy-random", "toy-layer"), compressions=(1.0, 4.0), seeds=(0, 1),
                jobs=1)
    return SweepConfig(**{**base, **changes})


def rows_by_id(directory) -> dict[str, dict]:
    return {r["run_id"]: r for r in ResultsStore(directory).rows()}


def results(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in OWN}


def test_compression_one_runs_once_per_seed_and_every_strategy_gets_its_row(toy_registry, tmp_path, monkeypatch):
    executed: list[str] = []
    real = engine_run.execute
    monkeypatch.setattr(engine_run, "execute", lambda work, task: executed.append(work.run.run_id) or real(work, task))
    outcome = run_sweep(toy_registry, config(), ResultsStore(tmp_path))
    rows = rows_by_id(tmp_path)
    assert len(rows) == len(outcome.new_rows) == 12 and all(r["status"] == "ok" for r in rows.values())
    assert sorted(r for r in executed if "_c1_" in r) == [f"{EXPERIMENT}/toy-magnitude_c1_s0",
                                                          f"{EXPERIMENT}/toy-magnitude_c1_s1"]
    assert len(executed) == 8  # 6 at compression 4, 2 at compression 1
    for seed in (0, 1):
        leader = rows[f"{EXPERIMENT}/toy-magnitude_c1_s{seed}"]
        for strategy in ("toy-random", "toy-layer"):
            copy = rows[f"{EXPERIMENT}/{strategy}_c1_s{seed}"]
            assert copy["strategy"] == strategy and results(copy) == results(leader)
            assert f"the same computation as {leader['run_id']}" in copy["notes"]
            leader_dir, copy_dir = (tmp_path / "runs" / r["run_id"] for r in (leader, copy))
            assert (copy_dir / "weights.safetensors").read_bytes() == (leader_dir / "weights.safetensors").read_bytes()
            assert f'"strategy": "{strategy}"' in (copy_dir / "config.json").read_text()
    assert rows[f"{EXPERIMENT}/toy-random_c4_s0"]["top1_pre"] != rows[f"{EXPERIMENT}/toy-magnitude_c4_s0"]["top1_pre"]


def test_a_shared_row_equals_that_strategy_run_alone(toy_registry, tmp_path):
    """The claim behind sharing: the copy is what the strategy's own compression-1 run computes."""
    run_sweep(toy_registry, config(compressions=(1.0,), seeds=(0,)), ResultsStore(tmp_path / "shared"))
    run_sweep(toy_registry, config(strategies=("toy-random",), compressions=(1.0,), seeds=(0,)),
              ResultsStore(tmp_path / "alone"))
    shared = rows_by_id(tmp_path / "shared")[f"{EXPERIMENT}/toy-random_c1_s0"]
    alone = rows_by_id(tmp_path / "alone")[f"{EXPERIMENT}/toy-random_c1_s0"]
    assert "same computation" in shared["notes"] and "same computation" not in alone["notes"]
    assert results(shared) == results(alone)


def _boom(ctx):
    raise AssertionError(f"called at compression {ctx.compression}")


class _Boom:
    @staticmethod
    @hookimpl
    def shrinkbench_strategies():
        return [StrategySpec("boom", "fails whenever it is called", _boom)]


def test_no_strategy_is_called_at_compression_one(tmp_path):
    registry = load_registry(inline=[("core", core_metrics), ("core-engine", core_engine), ("toy", toy_plugin),
                                     ("boom", _Boom)], entry_points=False)
    run_sweep(registry, config(strategies=("boom",), compressions=(1.0, 2.0), seeds=(0,)), ResultsStore(tmp_path))
    rows = {r["compression_target"]: r for r in ResultsStore(tmp_path).rows()}
    assert rows[1.0]["status"] == "ok" and rows[1.0]["compression"] == 1.0
    assert rows[2.0]["status"] == "failed" and "called at compression 2" in rows[2.0]["error"]


def test_structured_and_unstructured_strategies_do_not_share(toy_registry, tmp_path):
    run_sweep(toy_registry, config(strategies=("toy-magnitude", "toy-shrink"), compressions=(1.0,), seeds=(0,)),
              ResultsStore(tmp_path))
    assert not any("same computation" in r["notes"] for r in ResultsStore(tmp_path).rows())


def test_a_resumed_sweep_copies_a_leader_computed_before_the_interruption(toy_registry, tmp_path, monkeypatch):
    """Interrupted after a compression-1 leader's row but before its copies': resuming runs it no second time
    (under another leader) and gives the rows an uninterrupted sweep gives."""
    run_sweep(toy_registry, config(seeds=(0,)), ResultsStore(tmp_path / "whole"))
    whole = rows_by_id(tmp_path / "whole")
    store = ResultsStore(tmp_path / "resumed")
    run_sweep(toy_registry, config(seeds=(0,)), store)
    kept = [r for r in store.raw_rows() if r["run_id"] in (f"{EXPERIMENT}/toy-magnitude_c1_s0",
                                                            f"{EXPERIMENT}/toy-random_c4_s0")]
    store.csv_path.write_text("")  # as if interrupted with two rows written: the leader's, one other
    for row in kept:
        store.append(row)
    executed: list[str] = []
    real = engine_run.execute
    monkeypatch.setattr(engine_run, "execute", lambda work, task: executed.append(work.run.run_id) or real(work, task))
    outcome = run_sweep(toy_registry, config(seeds=(0,)), store)
    assert outcome.skipped == 2
    assert sorted(executed) == [f"{EXPERIMENT}/toy-layer_c4_s0", f"{EXPERIMENT}/toy-magnitude_c4_s0"]
    resumed = rows_by_id(tmp_path / "resumed")
    assert {k: results(r) | {"notes": r["notes"]} for k, r in resumed.items()} == \
        {k: results(r) | {"notes": r["notes"]} for k, r in whole.items()}


def test_a_copy_of_a_stored_leader_keeps_its_row_when_the_dense_model_fails_on_resume(toy_registry, tmp_path,
                                                                                       monkeypatch):
    """Resumed with an empty dense cache whose retraining fails: the runs that need it fail, but a copy that took
    the stored leader's row needs nothing and stays ok."""
    import shrinkbench.engine.dense as engine_dense

    store = ResultsStore(tmp_path / "resumed")
    run_sweep(toy_registry, config(seeds=(0,)), store)
    leader = next(r for r in store.raw_rows() if r["run_id"] == f"{EXPERIMENT}/toy-magnitude_c1_s0")
    store.csv_path.write_text("")
    store.append(leader)
    monkeypatch.setenv("SHRINKBENCH_CACHE", str(tmp_path / "empty-cache"))

    def broken(*args, **kwargs):
        raise RuntimeError("dense training broke")

    monkeypatch.setattr(engine_dense, "make_dense", broken)
    run_sweep(toy_registry, config(seeds=(0,)), store)
    rows = rows_by_id(tmp_path / "resumed")
    for strategy in ("toy-random", "toy-layer"):
        copy = rows[f"{EXPERIMENT}/{strategy}_c1_s0"]
        assert copy["status"] == "ok" and f"the same computation as {leader['run_id']}" in copy["notes"]
    assert all(rows[f"{EXPERIMENT}/{s}_c4_s0"]["status"] == "failed" for s in ("toy-magnitude", "toy-random", "toy-layer"))


def test_a_resume_left_with_copies_of_a_stored_leader_makes_no_dense_model(toy_registry, tmp_path, monkeypatch):
    """Only copies of a stored compression-1 leader are left, and the dense cache is empty: they take the stored
    row, and no dense model is trained (or planned by --dry-run) for them."""
    import shrinkbench.engine.dense as engine_dense
    from shrinkbench.engine import resolve
    from shrinkbench.engine.estimate import plan_sweep

    store = ResultsStore(tmp_path / "resumed")
    run_sweep(toy_registry, config(seeds=(0,)), store)
    copies = {f"{EXPERIMENT}/toy-random_c1_s0", f"{EXPERIMENT}/toy-layer_c1_s0"}
    kept = [r for r in store.raw_rows() if r["run_id"] not in copies]
    store.csv_path.write_text("")
    for row in kept:
        store.append(row)
    monkeypatch.setenv("SHRINKBENCH_CACHE", str(tmp_path / "empty-cache"))
    made: list[object] = []
    real = engine_dense.make_dense
    monkeypatch.setattr(engine_dense, "make_dense", lambda *a, **k: made.append(a) or real(*a, **k))
    plan = plan_sweep(toy_registry, resolve(toy_registry, config(seeds=(0,), out=str(tmp_path / "resumed"))),
                      estimate=False)
    assert (len(plan.todo), plan.dense) == (2, {})
    run_sweep(toy_registry, config(seeds=(0,)), store)
    rows = rows_by_id(tmp_path / "resumed")
    assert made == [] and all(rows[c]["status"] == "ok" for c in copies)
