"""The row invariant, for every strategy x schedule x compression x model: an ``ok`` row is what its saved weights
show -- its compression within tolerance of the target, its pruned weights zero -- and anything else is a
``failed`` row naming the shortfall. Property-tested with hypothesis on the toy plugin; the check here recomputes
everything from the weights file, independently of the engine's own check."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

from shrinkbench import STRUCTURED_TOLERANCE
from shrinkbench.engine import Recipe, ResultsStore, SweepConfig, run_sweep
from shrinkbench.errors import ShrinkBenchError
from shrinkbench.pruning import count_parameters, prunable_parameters

SCHEDULES = {
    "oneshot": st.just(()),
    "iterative": st.tuples(st.integers(1, 3)).map(lambda r: (("rounds", str(r[0])),)),
    "gradual": st.tuples(st.floats(0, 0.4), st.floats(0.5, 1.0), st.integers(1, 6)).map(
        lambda g: (("start", f"{g[0]:.2f}"), ("end", f"{g[1]:.2f}"), ("frequency", str(g[2])))),
}


def independent_check(registry, row: dict, out) -> None:
    """What an ``ok`` row promises, recomputed from its weights file alone."""
    model = registry.model(row["model"]).load()(4, (1, 8, 8))
    dense = count_parameters(model)
    saved = load_file(out / "runs" / row["run_id"] / "weights.safetensors")
    names = [n for n, _ in model.named_parameters()]
    params = sum(saved[n].numel() for n in names)
    nonzero = sum(int(saved[n].count_nonzero()) for n in names)
    target = row["compression_target"]
    if row["strategy"] == "toy-shrink":
        assert abs((dense / params) / target - 1) <= STRUCTURED_TOLERANCE, (dense, params, target)
    else:
        prunable = sum(p.numel() for p in prunable_parameters(model).values())
        assert abs(nonzero - round(dense / target)) <= max(5, prunable // 1000), (nonzero, dense / target)
    assert row["compression"] == pytest.approx(dense / nonzero, rel=1e-9)


@settings(max_examples=24, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_ok_row_is_what_its_weights_show(toy_registry, tmp_path_factory, data):
    model = data.draw(st.sampled_from(["toy-mlp", "toy-conv"]), label="model")
    strategies = ["toy-magnitude", "toy-random", "toy-layer"] + (["toy-shrink"] if model == "toy-mlp" else [])
    strategy = data.draw(st.sampled_from(strategies), label="strategy")
    schedule = data.draw(st.sampled_from(sorted(SCHEDULES)), label="schedule")
    if strategy == "toy-shrink" and schedule == "gradual":
        schedule = "oneshot"  # refused up front (tested below)
    options = data.draw(SCHEDULES[schedule], label="options")
    compression = data.draw(st.sampled_from([1.0, 1.5, 2.0, 3.3, 8.0, 12.5]), label="compression")
    epochs = data.draw(st.integers(0, 2), label="finetune epochs")
    config = SweepConfig(dataset="toy-blobs", model=model, pretrain=Recipe(2, 0.05),
                         finetune=Recipe(epochs, 0.01, lr_schedule="constant", batch_size=32), strategies=(strategy,),
                         schedules=(schedule,), schedule_options=((schedule, options),) if options else (),
                         compressions=(compression,), jobs=1, threads=1, device="cpu")
    out = tmp_path_factory.mktemp("sweep")
    try:
        run_sweep(toy_registry, config, ResultsStore(out))
    except ShrinkBenchError as exc:  # refused up front: a one-line reason, nothing written
        assert str(exc) and not (out / "results.csv").exists()
        return
    (row,) = ResultsStore(out).rows()
    if row["status"] == "ok":
        independent_check(toy_registry, row, out)
    else:
        assert row["error"], row


def test_gradual_with_no_finetuning_still_prunes_to_the_target(toy_registry, tmp_path):
    """Its only pruning event sat on a round without steps: the row said 32x, the model was dense."""
    config = SweepConfig(dataset="toy-blobs", model="toy-mlp", pretrain=Recipe(2, 0.05),
                         finetune=Recipe(0, 0.01), strategies=("toy-magnitude",), schedules=("gradual",),
                         compressions=(16.0,), jobs=1)
    run_sweep(toy_registry, config, ResultsStore(tmp_path))
    (row,) = ResultsStore(tmp_path).rows()
    assert row["status"] == "ok", row["error"]
    independent_check(toy_registry, row, tmp_path)


def test_a_model_that_revives_its_pruned_weights_makes_a_failed_row(toy_registry, tmp_path):
    """The engine keeps pruned weights at zero after every optimizer step; a model that writes into them during
    its forward pass defeats that, and its row must not say ok."""
    config = SweepConfig(dataset="toy-blobs", model="toy-reviving", pretrain=Recipe(1, 0.05),
                         finetune=Recipe(1, 0.01), strategies=("toy-magnitude",), compressions=(4.0,), jobs=1)
    run_sweep(toy_registry, config, ResultsStore(tmp_path))
    (row,) = ResultsStore(tmp_path).rows()
    assert row["status"] == "failed"
    assert "saved weights" in row["error"] and ("4x" in row["error"] or "not zero" in row["error"]), row["error"]


def test_a_schedule_whose_plan_misses_the_target_is_refused_up_front(toy_registry, tmp_path):
    import toy_plugin

    from shrinkbench import Round, SchedulePlan, ScheduleSpec
    from shrinkbench.engine import plugin as core_engine
    from shrinkbench.metrics import plugin as core_metrics
    from shrinkbench.plugins import load_registry

    class Short:
        @staticmethod
        def shrinkbench_schedules():
            return [ScheduleSpec("half-way", "prunes to the square root of the target",
                                 lambda ctx: SchedulePlan((Round(ctx.epochs, prune_to=math.sqrt(ctx.target)),)))]

    from shrinkbench import hookimpl

    Short.shrinkbench_schedules = hookimpl(Short.shrinkbench_schedules)
    registry = load_registry(inline=[("core-metrics", core_metrics), ("core-engine", core_engine), ("toy", toy_plugin),
                                     ("short", Short)], entry_points=False)
    config = SweepConfig(dataset="toy-blobs", model="toy-mlp", pretrain=Recipe(1, 0.05), finetune=Recipe(1, 0.01),
                         strategies=("toy-magnitude",), schedules=("half-way",), compressions=(4.0,), jobs=1)
    with pytest.raises(ShrinkBenchError, match="does not reach the target 4x"):
        run_sweep(registry, config, ResultsStore(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("schedule", "options", "message"), [
    ("gradual", (), "prunes during training, which structured strategy 'toy-shrink' cannot"),
    ("iterative", (("rewind_epoch", "1"),), "rewinds, which needs the dense architecture"),
])
def test_impossible_combinations_are_refused_before_any_work(toy_registry, tmp_path, schedule, options, message):
    config = SweepConfig(dataset="toy-blobs", model="toy-mlp", pretrain=Recipe(2, 0.05), finetune=Recipe(1, 0.01),
                         strategies=("toy-shrink",), schedules=(schedule,),
                         schedule_options=((schedule, options),) if options else (), compressions=(2.0,), jobs=1)
    with pytest.raises(ShrinkBenchError, match=message):
        run_sweep(toy_registry, config, ResultsStore(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_a_second_structured_round_is_checked_against_the_dense_model(toy_registry, tmp_path):
    """Round 2 of an iterative schedule prunes an already smaller model to a dense-relative target."""
    config = SweepConfig(dataset="toy-blobs", model="toy-mlp", pretrain=Recipe(1, 0.05), finetune=Recipe(1, 0.01),
                         strategies=("toy-shrink",), schedules=("iterative",),
                         schedule_options=(("iterative", (("rounds", "2"),)),), compressions=(3.0,), jobs=1)
    run_sweep(toy_registry, config, ResultsStore(tmp_path))
    (row,) = ResultsStore(tmp_path).rows()
    assert row["status"] == "ok", row["error"]
    independent_check(toy_registry, row, tmp_path)
    assert torch.equal(torch.tensor(row["params"]), torch.tensor(row["nonzero_params"]))  # no masks: all nonzero


def test_the_default_strategies_leave_out_what_cannot_run_and_say_so(toy_registry, tmp_path):
    """Named, an impossible combination is refused; in the default set (every installed strategy) it is left out
    with a note and everything else runs."""
    from shrinkbench.engine import resolve

    config = SweepConfig(dataset="toy-blobs", model="toy-mlp", pretrain=Recipe(2, 0.05), finetune=Recipe(1, 0.01),
                         schedules=("oneshot", "gradual"), compressions=(2.0,), jobs=1)
    sweep = resolve(toy_registry, config)
    methods = {(r.strategy, r.schedule) for r in sweep.runs()}
    assert ("toy-shrink", "oneshot") in methods and ("toy-shrink", "gradual") not in methods
    assert ("toy-magnitude", "gradual") in methods
    assert any(note.startswith("left out toy-shrink + gradual at 2x") for note in sweep.notes)
