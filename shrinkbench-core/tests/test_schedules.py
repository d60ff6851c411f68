"""Schedules on the toy plugin: every schedule ends exactly at the target, iterative rewinding restores the
dense run's early weights on the kept entries, gradual follows Zhu & Gupta's cubic curve weight for weight."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from shrinkbench.engine import Recipe, ResultsStore, SweepConfig, run_sweep
from shrinkbench.engine.schedules import cubic_pruned, gradual, iterative, oneshot
from shrinkbench.errors import ShrinkBenchError
from shrinkbench.pruning import prunable_parameters, weights_to_keep


def config(**changes) -> SweepConfig:
    base = dict(dataset="toy-blobs", model="toy-mlp", pretrain=Recipe(epochs=3, lr=0.05),
                finetune=Recipe(epochs=2, lr=0.01, schedule="constant", batch_size=32), strategies=("toy-magnitude",),
                compressions=(4.0, 16.0), seeds=(0,), threads=1, device="cpu")
    return SweepConfig(**{**base, **changes})


def test_plans_reach_the_target_with_the_budget_they_declare():
    assert [(r.compression, r.epochs) for r in oneshot({})(8, 5, 10, 1000, 900).rounds] == [(8, 5)]
    plan = iterative({"rounds": "3"})(8, 5, 10, 1000, 900)
    assert [r.compression for r in plan.rounds] == pytest.approx([2, 4, 8]) and plan.total_epochs == 15
    assert plan.rewind_epoch is None and not any(r.rewind for r in plan.rounds)
    rewinding = iterative({"rounds": 2, "rewind_epoch": "1"})(4, 3, 10, 1000, 900)
    assert rewinding.rewind_epoch == 1 and all(r.rewind for r in rewinding.rounds)
    ramp = gradual({})(8, 4, 10, 1000, 900).rounds[0]
    assert ramp.compression == 1 and ramp.steps[-1][1] == pytest.approx(8) and ramp.epochs == 4


def test_gradual_follows_the_cubic_schedule_within_one_weight():
    total, prunable, target = 10_000, 9_000, 10.0
    final = prunable - (round(total / target) - (total - prunable))
    plan = gradual({"start": "0.1", "end": "0.6", "frequency": "3"})(target, 5, 20, total, prunable)
    first, last = 10, 60
    for step, compression in plan.rounds[0].steps:
        pruned_by_formula = final * (1 - (1 - (min(step, last) - first) / (last - first)) ** 3)
        pruned = total - round(total / compression)
        assert abs(pruned - pruned_by_formula) <= 1, (step, pruned, pruned_by_formula)
    assert [s for s, _ in plan.rounds[0].steps][:3] == [13, 16, 19]
    assert cubic_pruned(final, 0, first, last) == 0 and cubic_pruned(final, 100, first, last) == final


@pytest.mark.parametrize("schedule", ["oneshot", "iterative", "gradual"])
def test_every_schedule_ends_exactly_at_the_target(toy_registry, tmp_path, schedule):
    run_sweep(toy_registry, config(schedules=(schedule,)), ResultsStore(tmp_path))
    rows = ResultsStore(tmp_path).rows()
    assert len(rows) == 2 and all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
    model = toy_registry.model("toy-mlp").load()(4, (1, 8, 8))
    for row in rows:
        weights = load_file(tmp_path / "runs" / row["run_id"] / "weights.safetensors")
        kept = sum(int(weights[name].count_nonzero()) for name in prunable_parameters(model))
        assert kept == weights_to_keep(model, prunable_parameters(model), row["compression_target"])
        assert row["schedule"] == schedule
        assert row["finetune_epochs"] == (6 if schedule == "iterative" else 2)
        assert row["run_id"].startswith("toy-magnitude_c" if schedule == "oneshot" else f"toy-magnitude+{schedule}_c")


def test_iterative_rewinding_restores_the_dense_runs_early_weights_on_kept_entries(toy_registry, tmp_path):
    cfg = config(schedules=("iterative",), schedule_options=(("rewind_epoch", "1"), ("rounds", "2")), compressions=(4.0,),
                 finetune=Recipe(epochs=1, lr=1e-12, schedule="constant", batch_size=32))  # lr ~0: weights stay put
    run_sweep(toy_registry, cfg, ResultsStore(tmp_path))
    row = ResultsStore(tmp_path).rows()[0]
    assert row["status"] == "ok", row["error"]
    from shrinkbench.engine.dense import cached_dense
    from shrinkbench.engine.sweep import validate

    dense = cached_dense(validate(toy_registry, cfg), 0)
    early = load_file(dense.meta["rewind"]["1"])
    final = load_file(dense.path)
    weights = load_file(tmp_path / "runs" / row["run_id"] / "weights.safetensors")
    for name in prunable_parameters(toy_registry.model("toy-mlp").load()(4, (1, 8, 8))):
        kept = weights[name] != 0
        torch.testing.assert_close(weights[name][kept], early[name][kept])
        assert not torch.equal(early[name], final[name])  # epoch 1 is not the end of pretraining


def test_unknown_schedule_options_and_late_rewinds_are_refused(toy_registry, tmp_path):
    with pytest.raises(ShrinkBenchError, match="takes option 'round'; did you mean 'rounds'"):
        run_sweep(toy_registry, config(schedules=("iterative",), schedule_options=(("round", "3"),)),
                  ResultsStore(tmp_path / "a"))
    with pytest.raises(ShrinkBenchError, match="rewind_epoch 9 is after the last pretraining epoch"):
        run_sweep(toy_registry, config(schedules=("iterative",), schedule_options=(("rewind_epoch", "9"),)),
                  ResultsStore(tmp_path / "b"))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()

