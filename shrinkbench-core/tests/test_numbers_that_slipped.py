"""Numbers that slipped (issue 34): run ids of targets that print alike, repeated targets, a grid's default
directory name, and the global random stream across the pruning steps of a gradual schedule."""

from __future__ import annotations

import pytest
import torch

from shrinkbench.engine import Recipe, ResultsStore, SweepConfig, resolve, run_sweep
from shrinkbench.engine.experiment import RunSpec
from shrinkbench.errors import ShrinkBenchError


def config(**changes) -> SweepConfig:
    base = dict(dataset="toy-blobs", model="toy-mlp", pretrain=Recipe(epochs=2, lr=0.05),
                finetune=Recipe(epochs=2, lr=0.01, lr_schedule="constant", batch_size=32),
                strategies=("toy-magnitude",), compressions=(4.0,), seeds=(0,), threads=1, device="cpu", jobs=1)
    return SweepConfig(**{**base, **changes})


@pytest.mark.parametrize("pair", [(1.4142135, 1.4142136), (100000.0, 100000.5), (1.0000001, 1.0000002)])
def test_targets_that_print_alike_get_different_readable_run_ids(pair):
    ids = {RunSpec("e", "global-magnitude", c, 0).run_id for c in pair}
    assert len(ids) == 2, ids
    for c in pair:
        label = RunSpec("e", "s", c, 0).run_id.removeprefix("e/s_c").removesuffix("_s0")
        assert float(label) == c and len(label) <= 20 and all(ch.isalnum() or ch in ".+-" for ch in label)


def test_round_targets_keep_their_ids_so_stores_resume():
    assert [RunSpec("e", "s", c, 0).run_id for c in (1.0, 4, 12.5, 32.0)] == \
        ["e/s_c1_s0", "e/s_c4_s0", "e/s_c12.5_s0", "e/s_c32_s0"]


def test_a_repeated_target_is_refused_in_one_line(toy_registry):
    with pytest.raises(ShrinkBenchError) as caught:
        resolve(toy_registry, config(compressions=(2.0, 4.0, 2.0)))
    message = str(caught.value)
    assert "compression 2 is given more than once" in message and "\n" not in message


def test_a_big_grids_default_directory_name_stays_short_and_distinct():
    models = tuple(f"timm:vit_base_patch16_224.augreg2_in21k_ft_in1k_{i}" for i in range(16))
    one = SweepConfig(datasets=("cifar10", "cifar100"), models=models).results_dir
    other = SweepConfig(datasets=("cifar10", "cifar100"), models=models[:15]).results_dir
    assert len(one.name) <= 100 and len(other.name) <= 100 and one != other
    assert one.name.startswith("grid-2-datasets-16-models-")
    small = SweepConfig(datasets=("mnist-5k",), models=("lenet-300-100", "mnistnet")).results_dir
    assert small.name == "grid-mnist-5k-lenet-300-100+mnistnet"  # a short name reads as before


def test_gradual_pruning_steps_do_not_replay_the_training_random_stream(toy_registry, tmp_path, monkeypatch):
    """What a dropout layer would draw right after each pruning step: reseeding the global generator at every
    step made it the same draw each time."""
    from shrinkbench.engine import rounds

    draws: list[float] = []
    real_train = rounds.train

    def spy(*args, on_step=None, **kwargs):
        def recording(step):
            on_step(step)
            draws.append(float(torch.rand(())))
        return real_train(*args, on_step=recording if on_step else None, **kwargs)

    monkeypatch.setattr(rounds, "train", spy)
    run_sweep(toy_registry, config(schedules=("gradual",), compressions=(8.0,)), ResultsStore(tmp_path))
    row = ResultsStore(tmp_path).rows()[0]
    assert row["status"] == "ok", row["error"]
    assert len(draws) > 10 and len(set(draws)) == len(draws)


def test_a_rewinding_schedule_says_what_it_costs_before_anything_runs(toy_registry):
    """rewind_epoch=1 with 3 rounds on a 3-epoch pretraining recipe: 3 rounds x 2 remaining pretraining epochs =
    6 epochs a run, not the finetuning recipe's 2 (on CIFAR's 160-epoch recipe: 3 x 159 = 477)."""
    cfg = config(pretrain=Recipe(epochs=3, lr=0.05), schedules=("iterative",),
                 schedule_options=(("iterative", (("rewind_epoch", "1"), ("rounds", "3"))),))
    notes = [n for n in resolve(toy_registry, cfg).notes if "rewinds" in n]
    assert notes == ["schedule 'iterative' rewinds to pretraining epoch 1: each of its 3 rewound rounds retrains the "
                     "remaining 2 of 3 pretraining epochs with the pretraining recipe, 6 epochs per run of "
                     "toy-blobs-toy-mlp (finetune recipe: 2)"]
