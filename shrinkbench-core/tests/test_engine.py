"""The engine on the toy plugin: controlled, deterministic, resumable sweeps with honest evaluation."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch

from shrinkbench import schema
from shrinkbench.engine import Recipe, ResultsStore, SweepConfig, run_sweep
from shrinkbench.engine.dense import build_model, load_weights
from shrinkbench.errors import IncompatibleError, ShrinkBenchError, UnknownNameError
from shrinkbench.metrics.accuracy import evaluate

VARYING = schema.TIMINGS
EXPERIMENT = "toy-blobs-toy-mlp"  # run ids are <experiment>/<method>_c<target>_s<seed>


def config(**changes) -> SweepConfig:
    base = dict(dataset="toy-blobs", model="toy-mlp", pretrain=Recipe(epochs=3, lr=0.05),
                finetune=Recipe(epochs=2, lr=0.01, lr_schedule="constant"),
                strategies=("toy-magnitude", "toy-random"), compressions=(1.0, 4.0, 16.0), seeds=(0,))
    return SweepConfig(**{**base, **changes})


def read(directory) -> list[dict]:
    return ResultsStore(directory).rows()


def comparable(rows):
    return {r["run_id"]: {k: v for k, v in r.items() if k not in VARYING} for r in rows}


def test_sweep_writes_rows_and_run_directories(toy_registry, tmp_path):
    outcome = run_sweep(toy_registry, config(), ResultsStore(tmp_path))
    rows = read(tmp_path)
    assert len(rows) == len(outcome.new_rows) == 6
    for col in ("dataset", "model", "strategy", "seed", "compression_target", "compression", "speedup", "params",
                "nonzero_params", "flops", "nonzero_flops", "top1_pre", "top5_pre", "top1", "top5", "loss", "seconds"):
        assert col in rows[0], col
    for row in rows:
        assert row["status"] == "ok", row["error"]
        assert row["compression"] == pytest.approx(row["compression_target"], rel=0.02)
        run_dir = tmp_path / "runs" / row["run_id"]
        assert {p.name for p in run_dir.iterdir()} == {"config.json", "metrics.json", "log.csv", "weights.safetensors"}
    # random pruning hurts more than magnitude pruning before finetuning
    top1_pre = {r["run_id"]: r["top1_pre"] for r in rows}
    assert top1_pre[f"{EXPERIMENT}/toy-magnitude_c4_s0"] > top1_pre[f"{EXPERIMENT}/toy-random_c4_s0"]


def test_every_strategy_starts_from_the_same_dense_weights(toy_registry, tmp_path):
    run_sweep(toy_registry, config(compressions=(1.0,)), ResultsStore(tmp_path))
    rows = {r["strategy"]: r for r in read(tmp_path)}
    assert rows["toy-magnitude"]["top1_pre"] == rows["toy-random"]["top1_pre"] == rows["toy-random"]["dense_top1"]


def test_saved_weights_load_back_and_give_the_recorded_accuracy(toy_registry, tmp_path):
    cfg = config(strategies=("toy-magnitude",), compressions=(8.0,))
    run_sweep(toy_registry, cfg, ResultsStore(tmp_path))
    row = read(tmp_path)[0]
    model = load_weights(build_model(toy_registry, "toy-blobs", "toy-mlp", 0), tmp_path / "runs" / row["run_id"] / "weights.safetensors")
    from shrinkbench.engine.data import cached_splits, make_loader

    test = evaluate(model, make_loader(cached_splits(toy_registry.dataset("toy-blobs"), None, 0.1).test, 256, False))
    assert test["top1"] == pytest.approx(row["top1"])
    nonzero = sum(int(p.count_nonzero()) for p in model.parameters())
    assert nonzero == row["nonzero_params"]
    # weights_only torch.load also reads it back
    path = tmp_path / "sd.pt"
    torch.save(model.state_dict(), path)
    assert torch.load(path, weights_only=True).keys() == model.state_dict().keys()


def test_same_seed_same_rows(toy_registry, tmp_path):
    run_sweep(toy_registry, config(), ResultsStore(tmp_path / "a"))
    run_sweep(toy_registry, config(), ResultsStore(tmp_path / "b"))
    assert comparable(read(tmp_path / "a")) == comparable(read(tmp_path / "b"))


def test_rerun_skips_completed_runs_and_adds_new_ones(toy_registry, tmp_path):
    store = ResultsStore(tmp_path)
    run_sweep(toy_registry, config(compressions=(1.0, 4.0)), store)
    again = run_sweep(toy_registry, config(compressions=(1.0, 4.0)), store)
    assert again.new_rows == [] and again.skipped == 4
    more = run_sweep(toy_registry, config(compressions=(1.0, 4.0, 16.0)), store)
    assert more.skipped == 4 and len(more.new_rows) == 2
    assert len(read(tmp_path)) == 6


def test_a_different_configuration_is_refused_without_writing(toy_registry, tmp_path):
    store = ResultsStore(tmp_path)
    run_sweep(toy_registry, config(compressions=(2.0,)), store)
    before = (tmp_path / "results.csv").read_bytes()
    with pytest.raises(ShrinkBenchError, match="another configuration.*finetune"):
        run_sweep(toy_registry, config(compressions=(2.0,), finetune=Recipe(epochs=3, lr=0.01)), store)
    assert (tmp_path / "results.csv").read_bytes() == before


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"strategies": ("toy-magnitud",)}, UnknownNameError, "did you mean 'toy-magnitude'"),
        ({"model": "toy-rgb"}, IncompatibleError, "3-channel"),
        ({"compressions": (0.5,)}, ShrinkBenchError, "compression must be a finite number >= 1"),
        ({"checkpoint": "/nonexistent/dense.pt"}, ShrinkBenchError, "cannot read checkpoint"),
    ],
)
def test_bad_input_fails_before_writing(toy_registry, tmp_path, changes, error, message):
    with pytest.raises(error, match=message):
        run_sweep(toy_registry, config(**changes), ResultsStore(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_unreadable_checkpoint_content_is_refused(toy_registry, tmp_path):
    bad = tmp_path / "dense.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ShrinkBenchError, match="is not a weights file"):
        run_sweep(toy_registry, config(checkpoint=str(bad)), ResultsStore(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_user_checkpoint_replaces_pretraining(toy_registry, tmp_path):
    model = build_model(toy_registry, "toy-blobs", "toy-mlp", 0)
    torch.save(model.state_dict(), tmp_path / "dense.pt")  # untrained: chance-level accuracy
    run_sweep(toy_registry, config(strategies=("toy-magnitude",), compressions=(1.0,), checkpoint=str(tmp_path / "dense.pt"),
                                   finetune=Recipe(epochs=1, lr=1e-9)), ResultsStore(tmp_path / "out"))
    row = read(tmp_path / "out")[0]
    assert row["dense_top1"] < 0.5
    sweep = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert sweep["experiments"][EXPERIMENT]["fixed"]["initial_weights"].startswith("checkpoint:")


def test_diverging_run_is_marked_failed_and_the_sweep_goes_on(toy_registry, tmp_path):
    import toy_plugin

    from shrinkbench import StrategySpec
    from shrinkbench.plugins import load_registry

    class Extra:
        @staticmethod
        def shrinkbench_strategies():
            return [StrategySpec("toy-nan", "diverges", toy_plugin.toy_nan, reconstructs=True),  # writes its kept weights
                    StrategySpec("toy-bad-shape", "wrong shapes", toy_plugin.toy_bad_shape)]

    from shrinkbench import hookimpl

    Extra.shrinkbench_strategies = hookimpl(Extra.shrinkbench_strategies)
    from shrinkbench.engine import plugin as core_engine
    from shrinkbench.metrics import plugin as core_metrics

    registry = load_registry(inline=[("core", core_metrics), ("core-engine", core_engine), ("toy", toy_plugin),
                                     ("extra", Extra)], entry_points=False)
    run_sweep(registry, config(strategies=("toy-nan", "toy-bad-shape", "toy-magnitude"), compressions=(2.0,)),
              ResultsStore(tmp_path))
    rows = {r["strategy"]: r for r in read(tmp_path)}
    assert rows["toy-nan"]["status"] == "failed" and "loss became" in rows["toy-nan"]["error"]
    assert rows["toy-bad-shape"]["status"] == "failed"
    assert "strategy 'toy-bad-shape'" in rows["toy-bad-shape"]["error"] and "shape" in rows["toy-bad-shape"]["error"]
    assert rows["toy-magnitude"]["status"] == "ok"


def test_best_val_selection_never_reads_the_test_split(toy_registry, tmp_path):
    cfg = config(strategies=("toy-magnitude",), compressions=(4.0,), selection="best-val",
                 finetune=Recipe(epochs=3, lr=0.01))
    run_sweep(toy_registry, cfg, ResultsStore(tmp_path))
    row = read(tmp_path)[0]
    log = list(csv.DictReader(open(tmp_path / "runs" / row["run_id"] / "log.csv")))
    best = max(log, key=lambda e: float(e["val_top1"]))
    assert row["selected_epoch"] == int(best["epoch"])
    assert row["val_top1"] == pytest.approx(float(best["val_top1"]))
    assert not math.isnan(row["top1"])


def test_two_experiments_of_one_folder_name_are_refused_before_any_work():
    from shrinkbench.engine.experiment import Experiment, slug_clash

    pretrain, finetune = Recipe(epochs=1, lr=0.1), Recipe(epochs=1, lr=0.01)
    hub, local = (Experiment("wikitext2", m, pretrain, finetune) for m in ("hf:org/model", "hf:org-model"))
    assert hub.slug == local.slug == "wikitext2-hf-org-model"
    message = slug_clash([hub, local])
    assert "hf:org/model and wikitext2 x hf:org-model would share the experiment folder" in message
    assert "different --out directories" in message
    assert slug_clash([hub, Experiment("wikitext2", "hf:org/other", pretrain, finetune)]) is None
