"""Schedules on the toy plugin: every schedule ends exactly at the target, iterative rewinding restores the
dense run's early weights on the kept entries, gradual follows Zhu & Gupta's cubic curve weight for weight."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from shrinkbench import ScheduleContext
from shrinkbench.engine import Recipe, ResultsStore, SweepConfig, run_sweep
from shrinkbench.engine.schedules import cubic_pruned, gradual, iterative, oneshot
from shrinkbench.errors import ShrinkBenchError
from shrinkbench.pruning import prunable_parameters, weights_to_keep

EXPERIMENT = "toy-blobs-toy-mlp"


def ctx(target, epochs, steps, total, prunable, pretrain_epochs=0, **options) -> ScheduleContext:
    return ScheduleContext.of("s", options, target=target, epochs=epochs, steps_per_epoch=steps, parameters=total,
                              prunable=prunable, pretrain_epochs=pretrain_epochs)


def config(**changes) -> SweepConfig:
    base = dict(dataset="toy-blobs", model="toy-mlp", pretrain=Recipe(epochs=3, lr=0.05),
                finetune=Recipe(epochs=2, lr=0.01, lr_schedule="constant", batch_size=32), strategies=("toy-magnitude",),
                compressions=(4.0, 16.0), seeds=(0,), threads=1, device="cpu")
    return SweepConfig(**{**base, **changes})


def test_plans_reach_the_target_with_the_budget_they_declare():
    assert [(r.prune_to, r.epochs) for r in oneshot(ctx(8, 5, 10, 1000, 900)).rounds] == [(8, 5)]
    plan = iterative(ctx(8, 5, 10, 1000, 900, rounds="3"))
    assert [r.prune_to for r in plan.rounds] == pytest.approx([2, 4, 8]) and plan.total_epochs == 15
    assert plan.rewind_epochs == () and not any(r.rewind_to is not None for r in plan.rounds)
    rewinding = iterative(ctx(4, 3, 10, 1000, 900, pretrain_epochs=5, rounds=2, rewind_epoch="1"))
    assert rewinding.rewind_epochs == (1,) and all(r.rewind_to == 1 for r in rewinding.rounds)
    # Frankle et al.: after rewinding to epoch 1, train for the rest of the 5 pretraining epochs
    assert [r.epochs for r in rewinding.rounds] == [4, 4] and rewinding.total_epochs == 8
    ramp = gradual(ctx(8, 4, 10, 1000, 900)).rounds[0]
    assert ramp.prune_to is None and ramp.steps[-1][1] == 8 and ramp.epochs == 4


def test_gradual_follows_the_cubic_schedule_within_one_weight():
    total, prunable, target = 10_000, 9_000, 10.0
    final = prunable - (round(total / target) - (total - prunable))
    plan = gradual(ctx(target, 5, 20, total, prunable, start="0.1", end="0.6", frequency="3"))
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
        method = "toy-magnitude" if schedule == "oneshot" else f"toy-magnitude+{schedule}"
        assert row["run_id"].startswith(f"{EXPERIMENT}/{method}_c")


def test_iterative_rewinding_restores_the_dense_runs_early_weights_on_kept_entries(toy_registry, tmp_path, monkeypatch):
    """Each round rewinds the kept weights to pretraining epoch 1 and then trains the rest of the pretraining
    schedule (epochs 2 and 3 of 3, the pretraining recipe's learning rates): the published procedure."""
    from shrinkbench.engine import rounds
    from shrinkbench.engine.train import lr_at

    seen = []
    real_train = rounds.train

    def spy(model, recipe, *args, **kwargs):
        seen.append(({n: p.detach().clone() for n, p in model.named_parameters()}, recipe, kwargs["first_epoch"],
                     kwargs["epochs"]))
        return real_train(model, recipe, *args, **kwargs)

    monkeypatch.setattr(rounds, "train", spy)
    cfg = config(schedules=("iterative",), schedule_options=(("iterative", (("rewind_epoch", "1"), ("rounds", "2"))),),
                 compressions=(4.0,), jobs=1)
    run_sweep(toy_registry, cfg, ResultsStore(tmp_path))
    row = ResultsStore(tmp_path).rows()[0]
    assert row["status"] == "ok", row["error"]
    assert row["finetune_epochs"] == 2 * 2
    from shrinkbench.engine import resolve
    from shrinkbench.engine.dense import cached_dense, rewind_file

    dense = cached_dense(resolve(toy_registry, cfg).experiments[0], 0)
    early = load_file(rewind_file(dense.path, 1))
    final = load_file(f"{dense.path}/weights.safetensors")
    names = prunable_parameters(toy_registry.model("toy-mlp").load()(4, (1, 8, 8)))
    assert len(seen) == 2
    for state, recipe, first_epoch, epochs in seen:
        assert recipe == cfg.pretrain and (first_epoch, epochs) == (1, 2)
        for name in names:
            kept = state[name] != 0
            torch.testing.assert_close(state[name][kept], early[name][kept])
            assert not torch.equal(early[name], final[name])  # epoch 1 is not the end of pretraining
    log = (tmp_path / "runs" / row["run_id"] / "log.csv").read_text().splitlines()[1:]
    assert [float(line.split(",")[1]) for line in log] == pytest.approx([lr_at(cfg.pretrain, e) for e in (1, 2)] * 2)


def test_unknown_schedule_options_and_late_rewinds_are_refused(toy_registry, tmp_path):
    with pytest.raises(ShrinkBenchError, match="has no option 'round'; did you mean 'rounds'"):
        run_sweep(toy_registry, config(schedules=("iterative",), schedule_options=(("iterative", (("round", "3"),)),)),
                  ResultsStore(tmp_path / "a"))
    with pytest.raises(ShrinkBenchError, match="rewind_epoch 9 is after the last pretraining epoch"):
        run_sweep(toy_registry, config(schedules=("iterative",),
                                       schedule_options=(("iterative", (("rewind_epoch", "9"),)),)),
                  ResultsStore(tmp_path / "b"))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()



def test_gradual_best_val_only_selects_epochs_after_the_last_pruning_step(toy_registry, tmp_path, monkeypatch):
    """The validation score of an epoch before the target sparsity was reached says nothing about the pruned
    model: selection must skip it (here validation falls epoch after epoch, so the first epoch would win)."""
    import itertools

    from shrinkbench.engine import train as train_module

    scores = (1 - 0.01 * i for i in itertools.count())  # every evaluation scores lower than the one before
    monkeypatch.setattr(train_module, "evaluate", lambda *a, **k: {"top1": next(scores), "top5": 1.0, "loss": 0.1})
    cfg = config(schedules=("gradual",), schedule_options=(("gradual", (("end", "0.6"),)),), compressions=(8.0,),
                 selection="best-val", finetune=Recipe(epochs=4, lr=0.01, lr_schedule="constant", batch_size=32),
                 jobs=1)
    run_sweep(toy_registry, cfg, ResultsStore(tmp_path))
    row = ResultsStore(tmp_path).rows()[0]
    assert row["status"] == "ok", row["error"]
    steps_per_epoch = -(-360 // 32)  # 400 training examples, 10% held out
    last_step = round(0.6 * 4 * steps_per_epoch)
    first_eligible = last_step // steps_per_epoch + 1  # the epoch that contains the last pruning step
    assert row["selected_epoch"] == first_eligible > 1


def test_gradual_measures_before_finetuning_right_after_its_last_pruning_step(toy_registry, tmp_path, monkeypatch):
    """The _pre columns of a gradual run showed the dense model (its pruning happens during training)."""
    from shrinkbench.engine import run as run_module

    seen = []
    real = run_module.measure_all

    def spy(registry, model, *args, **kwargs):
        if kwargs.get("data_only"):
            weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
            seen.append(sum(int(p.count_nonzero()) for p in weights))
        return real(registry, model, *args, **kwargs)

    monkeypatch.setattr(run_module, "measure_all", spy)
    run_sweep(toy_registry, config(schedules=("gradual",), compressions=(8.0,), jobs=1), ResultsStore(tmp_path))
    row = ResultsStore(tmp_path).rows()[0]
    model = toy_registry.model("toy-mlp").load()(4, (1, 8, 8))
    dense_weights = sum(p.numel() for n, p in model.named_parameters() if n.endswith("weight"))
    assert len(seen) == 1 and seen[0] < dense_weights / 4  # measured on the pruned model, not the dense one
    assert row["top1_pre"] != row["dense_top1"]
