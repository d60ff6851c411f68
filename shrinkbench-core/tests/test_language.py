"""The causal-lm task: perplexity by the SparseGPT/Wanda protocol, checked against an independent computation;
windows; refusals of mismatched (dataset, model) pairs; an LM row that a fresh evaluation of its saved weights
reproduces."""

from __future__ import annotations

import csv
import math

import pytest
import torch
import toy_plugin

from shrinkbench import hookimpl
from shrinkbench.engine import Experiment, Recipe, ResultsStore, SweepConfig, resolve, run_sweep
from shrinkbench.engine import plugin as core_engine
from shrinkbench.errors import ShrinkBenchError
from shrinkbench.language import TokenWindows, evaluate_lm, prepare_text
from shrinkbench.metrics import plugin as core_metrics
from shrinkbench.plugins import load_registry
from shrinkbench.task_spec import PrepareContext
from shrinkbench.testing import tiny_lm as lm_toy_plugin


@pytest.fixture
def lm_registry():
    """Core, the toy vision plugin and the toy language-model plugin."""
    return load_registry(inline=[("core-metrics", core_metrics), ("core-engine", core_engine), ("toy", toy_plugin),
                                 ("lm", lm_toy_plugin)], entry_points=False)


def papers_perplexity(model: torch.nn.Module, stream: torch.Tensor, length: int) -> float:
    """The protocol as SparseGPT's and Wanda's eval code states it, written independently: n = len // L windows
    of L tokens, each predicts its tokens 2..L from the FULL window's logits, nll summed over all, exp(mean)."""
    n = stream.numel() // length
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(n):
            window = stream[i * length:(i + 1) * length].unsqueeze(0)
            logits = model(window)[0, :-1].double()
            log_probs = logits - torch.logsumexp(logits, dim=-1, keepdim=True)
            targets = window[0, 1:]
            total -= log_probs[torch.arange(length - 1), targets].sum().item()
            count += length - 1
    return math.exp(total / count)


def test_perplexity_equals_an_independent_computation_of_the_protocol():
    torch.manual_seed(3)
    model = lm_toy_plugin.toy_lm(0, ())
    tokenizer = lm_toy_plugin.CharTokenizer(context_length=24)
    text = lm_toy_plugin.corpus("test")
    prepared = prepare_text(text, PrepareContext("test", tokenizer))
    stream = torch.tensor(tokenizer.encode(text))
    loader = torch.utils.data.DataLoader(prepared.dataset, batch_size=5)  # batches cross no window boundary
    ours = evaluate_lm(model, loader)
    theirs = papers_perplexity(model, stream, 24)
    # the model computes in float32 (its log-softmax too): agreement to float32 precision, not bit for bit
    assert ours["perplexity"] == pytest.approx(theirs, rel=1e-6)
    assert ours["loss"] == pytest.approx(math.log(theirs), rel=1e-6)
    assert prepared.protocol == {"eval_context": 24, "tokenizer": "toy-chars-v1", "eval_windows": len(stream) // 24}


def test_windows_do_not_overlap_drop_the_tail_and_shift_by_one():
    windows = TokenWindows(torch.arange(23), 5)
    assert len(windows) == 4
    inputs, targets = windows[1]
    assert inputs.tolist() == [5, 6, 7, 8] and targets.tolist() == [6, 7, 8, 9]


def test_the_context_length_is_the_models_unless_the_sweep_caps_it():
    tokenizer = lm_toy_plugin.CharTokenizer(context_length=32)
    text = lm_toy_plugin.corpus("test")
    assert prepare_text(text, PrepareContext("test", tokenizer)).protocol["eval_context"] == 32
    assert prepare_text(text, PrepareContext("test", tokenizer, 16)).protocol["eval_context"] == 16
    capped = prepare_text(text, PrepareContext("test", tokenizer, 16, max_windows=5))
    assert len(capped.dataset) == 5 and capped.protocol["eval_windows"] == 5  # the first 5 windows of the stream
    assert torch.equal(capped.dataset[4][0], prepare_text(text, PrepareContext("test", tokenizer, 16)).dataset[4][0])
    with pytest.raises(ShrinkBenchError, match="exceeds the model's 32 positions"):
        prepare_text(text, PrepareContext("test", tokenizer, 64))
    with pytest.raises(ShrinkBenchError, match="fewer than 100000 tokens"):
        prepare_text(text, PrepareContext("test", lm_toy_plugin.CharTokenizer(None), 100_000))


@pytest.mark.parametrize(("dataset", "model", "words"), [
    ("toy-text", "toy-mlp", "model 'toy-mlp' serves classification, dataset 'toy-text' is a causal-lm dataset"),
    ("toy-blobs", "toy-lm", "model 'toy-lm' serves causal-lm, dataset 'toy-blobs' is a classification dataset"),
])
def test_a_model_of_another_task_is_refused_up_front_in_one_line(lm_registry, tmp_path, dataset, model, words):
    with pytest.raises(ShrinkBenchError) as info:
        resolve(lm_registry, SweepConfig(dataset=dataset, model=model, out=str(tmp_path)))
    assert words in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "results.csv").exists()


def test_a_grid_runs_the_pairs_whose_tasks_match_and_notes_the_others(lm_registry, tmp_path):
    sweep = resolve(lm_registry, SweepConfig(datasets=("toy-text", "toy-blobs"), models=("toy-lm", "toy-mlp"),
                                             strategies=("toy-magnitude",), compressions=(2.0,), out=str(tmp_path)))
    assert sorted((e.dataset, e.model) for e in sweep.experiments) == [("toy-blobs", "toy-mlp"), ("toy-text", "toy-lm")]
    assert sum("refused" in n for n in sweep.notes) == 2
    text = next(e for e in sweep.experiments if e.dataset == "toy-text")
    assert text.task == "causal-lm" and text.fixed_part()["task"] == "causal-lm"
    vision = next(e for e in sweep.experiments if e.dataset == "toy-blobs")
    assert "task" not in vision.fixed_part()  # classification fingerprints are those of stores made before tasks


def test_a_language_model_row_is_what_a_fresh_evaluation_of_its_saved_weights_gives(lm_registry, tmp_path):
    out = tmp_path / "lm"
    run_sweep(lm_registry, SweepConfig(dataset="toy-text", model="toy-lm", strategies=("toy-magnitude",),
                                       compressions=(1.0, 2.0), out=str(out), jobs=1))
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [r["status"] for r in rows] == ["ok", "ok"], [r["error"] for r in rows]
    pruned = next(r for r in rows if r["compression_target"] == "2")
    assert float(pruned["compression"]) == pytest.approx(2.0, rel=1e-3)
    assert float(pruned["perplexity"]) > 1 and pruned["tokenizer"] == "toy-chars-v1"
    assert int(pruned["eval_context"]) == 32 and int(pruned["eval_windows"]) > 0
    assert float(pruned["latency_ms"]) > 0 and pruned["latency_ms_64"] == ""  # the task times batch 1 only
    assert float(pruned["dense_perplexity"]) == pytest.approx(float(rows[0]["perplexity_pre"]))
    # a fresh model with the saved weights, evaluated by the protocol written independently above
    from safetensors.torch import load_file

    model = lm_toy_plugin.toy_lm(0, ())
    model.load_state_dict(load_file(str(out / "runs" / pruned["run_id"] / "weights.safetensors")))
    stream = torch.tensor(lm_toy_plugin.CharTokenizer().encode(lm_toy_plugin.corpus("test")))
    assert papers_perplexity(model, stream, 32) == pytest.approx(float(pruned["perplexity"]), rel=1e-6)
    nonzero = sum(int((p != 0).sum()) for p in model.parameters())
    assert sum(p.numel() for p in model.parameters()) / nonzero == pytest.approx(float(pruned["compression"]))
    assert ResultsStore(out).stored_config()["experiments"]  # the store reads back


def test_classification_experiments_keep_their_fingerprint():
    recipe = Recipe(epochs=1, lr=0.1)
    plain = Experiment("toy-blobs", "toy-mlp", recipe, recipe)
    assert plain.fingerprint() == Experiment("toy-blobs", "toy-mlp", recipe, recipe, task="classification").fingerprint()
    assert "task" not in plain.fixed_part() and "context_length" not in plain.fixed_part()


def test_sparsity_targets_become_the_compression_they_mean_for_each_model(lm_registry, tmp_path):
    out = tmp_path / "sparse"
    run_sweep(lm_registry, SweepConfig(dataset="toy-text", model="toy-lm", strategies=("toy-layer",),
                                       sparsities=(0.0, 0.5), compressions=(1.0,), out=str(out), jobs=1,
                                       recipe_changes=(("finetune.epochs", 0),)))
    rows = {r["compression_target"]: r for r in csv.DictReader((out / "results.csv").open())}
    half = next(r for t, r in rows.items() if t != "1")
    assert half["status"] == "ok", half["error"]
    assert float(half["prunable_sparsity"]) == pytest.approx(0.5, abs=1e-3)  # of the prunable weights, head left out
    assert float(rows["1"]["prunable_sparsity"]) == 0.0 and half["recipe"] == "one-shot"
    assert half["perplexity"] == half["perplexity_pre"]  # one-shot: the model measured after pruning is the final one
    model = lm_toy_plugin.toy_lm(0, ())
    prunable = sum(p.numel() for n, p in model.named_parameters() if n in ("mix.weight", "mlp.weight"))
    total = sum(p.numel() for p in model.parameters())
    assert float(half["compression_target"]) == pytest.approx(total / (total - prunable / 2))


class _CappedText:
    """A plugin whose text dataset declares how many test windows it evaluates by default (as ``c4`` and the
    bundled ``shakespeare`` declare 256)."""

    @staticmethod
    @hookimpl
    def shrinkbench_datasets():
        from dataclasses import replace

        return [replace(lm_toy_plugin.shrinkbench_datasets()[0], name="toy-text-capped", eval_windows=3)]


@pytest.mark.parametrize(("asked", "windows"), [(None, 3), (2, 2), (0, None)])
def test_a_datasets_declared_evaluation_windows_apply_unless_the_sweep_says_otherwise(asked, windows):
    registry = load_registry(inline=[("core-metrics", core_metrics), ("core-engine", core_engine),
                                     ("toy", toy_plugin), ("lm", lm_toy_plugin), ("capped", _CappedText)],
                             entry_points=False)
    sweep = resolve(registry, SweepConfig(dataset="toy-text-capped", model="toy-lm", strategies=("toy-magnitude",),
                                          compressions=(2.0,), eval_windows=asked, jobs=1))
    experiment = sweep.experiments[0]
    assert experiment.eval_windows == windows  # None: every window of the test stream
    all_windows = len(lm_toy_plugin.CharTokenizer().encode(lm_toy_plugin.corpus("test"))) // 32
    from shrinkbench.engine.tasking import load_data

    assert len(load_data(registry, experiment).test) == (windows or all_windows) and all_windows > 3


def test_eval_windows_all_on_the_command_line_means_every_window():
    from shrinkbench.engine.assemble import SETTINGS

    check = SETTINGS["eval_windows"].check
    assert check("all") == 0 and check("ALL") == 0 and check("12") == 12
    with pytest.raises(Exception, match="or all"):
        check("0")
