"""The bad-input corpus: every way a user or a config file can get ``shrinkbench`` wrong gives one line on
stderr naming the problem and the fix, exit code 2, no traceback -- and nothing written: no results directory,
the dense-model cache unchanged. Each case runs the real command in a subprocess (two at a time)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from conftest import CLI, cli_env

NO_GPU = not torch.cuda.is_available()
TINY = ("-s", "global-magnitude", "-c", "2", "--pretrain-epochs", "1", "--finetune-epochs", "1", "--threads", "1")

# (id, arguments after "shrinkbench" -- "{d}" is the case's scratch directory -- extra environment, message)
CASES: list[tuple[str, tuple[str, ...], dict[str, str], str]] = [
    ("unknown-strategy", ("bench", "-s", "global-magnitud"), {}, "did you mean 'global-magnitude'"),
    ("strategy-case", ("bench", "-s", "globalmagweight"), {}, "did you mean 'GlobalMagWeight'"),
    ("unknown-model", ("bench", "-m", "lenet-300-10"), {}, "did you mean 'lenet-300-100'"),
    ("unknown-dataset", ("bench", "-d", "mnist5k"), {}, "did you mean 'mnist-5k'"),
    ("unknown-family", ("bench", "-m", "timmm:resnet18"), {}, "unknown model family 'timmm'"),
    ("compression-zero", ("bench", "-c", "0"), {}, "--compression must be a finite number >= 1"),
    ("compression-below-one", ("bench", "-c", "1,0.5"), {}, "got 0.5"),
    ("compression-inf", ("bench", "-c", "inf"), {}, "finite number >= 1 (1 = no pruning), got inf"),
    ("compression-nan", ("bench", "-c", "nan"), {}, "got nan"),
    ("compression-word", ("bench", "-c", "two"), {}, "'two' is not a number"),
    ("compression-empty", ("bench", "-c", ","), {}, "give at least one number"),
    ("compression-unreachable", ("bench", "-c", "300"), {}, "allow at most 189.1x"),
    ("seeds-negative", ("bench", "--seeds", "-1"), {}, "--seeds must be integers from 0 to 4294967295"),
    ("seeds-huge", ("bench", "--seeds", "99999999999999999999"), {}, "--seeds must be integers from 0"),
    ("seeds-word", ("bench", "--seeds", "a,b"), {}, "'a' is not an integer"),
    ("jobs-zero", ("bench", "--jobs", "0"), {}, "--jobs must be an integer >= 1"),
    ("jobs-sequential", ("bench", "--executor", "sequential", "--jobs", "2", *TINY), {},
     "--jobs 2 with --executor sequential, which runs one run at a time"),
    ("threads-zero", ("bench", "--threads", "0"), {}, "--threads must be an integer >= 1"),
    ("threads-word", ("bench", "--threads", "two"), {}, "(or auto)"),
    ("workers-negative", ("bench", "--workers", "-1"), {}, "--workers must be an integer >= 0"),
    ("finetune-epochs", ("bench", "--finetune-epochs", "-1"), {}, "--finetune-epochs must be an integer >= 0"),
    ("finetune-lr", ("bench", "--finetune-lr", "0"), {}, "--finetune-lr must be a number > 0"),
    ("pretrain-lr", ("bench", "--pretrain-lr", "-1"), {}, "--pretrain-lr must be a number > 0"),
    ("batch-size", ("bench", "--batch-size", "0"), {}, "--batch-size must be an integer >= 1"),
    ("eval-batch-size", ("bench", "--eval-batch-size", "0"), {}, "--eval-batch-size must be an integer >= 1"),
    ("val-fraction", ("bench", "--val-fraction", "1.5"), {}, "--val-fraction must be a number in [0, 1)"),
    ("best-val-without-val", ("bench", "--select", "best-val", "--val-fraction", "0"), {}, "needs a validation split"),
    ("select-choice", ("bench", "--select", "best-test"), {}, "'best-test' is not one of"),
    ("device-unknown", ("bench", "--device", "tpu"), {}, "--device must be auto, cpu, cuda, cuda:N or mps"),
    ("precision-choice", ("bench", "--precision", "fp8"), {}, "'fp8' is not one of"),
    ("unknown-option", ("bench", "--finetune-epoch", "3"), {}, "No such option '--finetune-epoch'. (Did you mean"),
    ("checkpoint-missing", ("bench", "--checkpoint", "{d}/nope.safetensors"), {}, "cannot read checkpoint"),
    ("checkpoint-text", ("bench", "--checkpoint", "{d}/text.pt"), {}, "is not a weights file"),
    ("checkpoint-pickled-model", ("bench", "--checkpoint", "{d}/model.pt"), {}, "holds pickled Python objects"),
    ("checkpoint-truncated", ("bench", "--checkpoint", "{d}/truncated.pt"), {}, "truncated or damaged"),
    ("checkpoint-other-model", ("bench", "--checkpoint", "{d}/mnistnet.pt"), {}, "do not fit LeNet300100"),
    ("checkpoint-and-pretrained", ("bench", "--checkpoint", "{d}/mnistnet.pt", "--pretrained", "{d}/mnistnet.pt"), {},
     "either checkpoint"),
    ("pretrained-missing", ("bench", "--pretrained", "{d}/missing.pth"), {}, "does not exist"),
    ("model-too-small-for-data", ("bench", "-d", "imagenet"), {}, "at most 32px"),
    ("data-missing", ("bench", "-d", "cifar10", "-m", "resnet20", "--data-root", "{d}"), {}, "cifar10 data not found"),
    ("mnist-random-bytes", ("bench", "-d", "mnist", "--data-root", "{d}/garbage"), {}, "is not an MNIST idx file"),
    ("mnist-truncated", ("bench", "-d", "mnist", "--data-root", "{d}/truncated"), {},
     "train-images-idx3-ubyte is truncated or damaged"),
    ("out-is-a-file", ("bench", "--out", "{d}/afile"), {}, "is a file"),
    ("out-under-a-file", ("bench", "--out", "{d}/afile/sub"), {}, "cannot be created: {d}/afile is a file"),
    ("out-read-only", ("bench", "--out", "/sys/shrinkbench-out"), {}, "results directory /sys/shrinkbench-out cannot"),
    ("cache-read-only", ("bench",), {"SHRINKBENCH_CACHE": "/sys/shrinkbench-cache"}, "set SHRINKBENCH_CACHE"),
    ("config-missing", ("bench", "--config", "{d}/missing.toml"), {}, "cannot read config file"),
    ("config-syntax", ("bench", "--config", "{d}/syntax.toml"), {}, "is not valid TOML"),
    ("config-old-key", ("bench", "--config", "{d}/old-key.toml"), {}, "unknown key 'strategies'; did you mean 'strategy'"),
    ("config-string-list", ("bench", "--config", "{d}/string-list.toml"), {}, "compression must be a list of numbers"),
    ("config-strategy-string", ("bench", "--config", "{d}/strategy-string.toml"), {}, "strategy must be a list of names"),
    ("config-epochs-word", ("bench", "--config", "{d}/epochs-word.toml"), {}, "finetune.epochs must be an integer"),
    ("config-optimizer", ("bench", "--config", "{d}/optimizer.toml"), {}, "optimizer must be one of sgd, adam"),
    ("config-table", ("bench", "--config", "{d}/table.toml"), {}, "[finetune] must be a table"),
    ("report-missing", ("report", "{d}/nowhere"), {}, "no results.csv in"),
    ("list-kind", ("list", "bogus"), {}, "'bogus' is not one of"),
    # every other command validates like bench: one line, exit 2, nothing written
    ("list-option", ("list", "--jsn"), {}, "No such option '--jsn'"),
    ("list-extra-argument", ("list", "models", "a*", "b*"), {}, "unexpected extra argument"),
    ("new-plugin-odd-name", ("new-plugin", "my pruner!"), {}, "invalid plugin name 'my pruner!'"),
    ("new-plugin-path-name", ("new-plugin", "../evil"), {}, "invalid plugin name '../evil'"),
    ("new-plugin-long-name", ("new-plugin", "a" * 300), {}, "use at most 64 characters"),
    ("new-plugin-taken-name", ("new-plugin", "global-magnitude"), {}, "already provides a strategy called"),
    ("new-plugin-dir-is-a-file", ("new-plugin", "my-pruner", "--dir", "{d}/afile"), {}, "'{d}/afile' is a file"),
    ("new-plugin-dir-under-a-file", ("new-plugin", "my-pruner", "--dir", "{d}/afile/sub"), {},
     "--dir {d}/afile/sub cannot be created: {d}/afile is a file"),
    ("new-plugin-dir-read-only", ("new-plugin", "my-pruner", "--dir", "/sys/shrinkbench-plugins"), {},
     "--dir /sys/shrinkbench-plugins cannot be created in /sys"),
    ("new-plugin-target-exists", ("new-plugin", "taken", "--dir", "{d}"), {},
     "{d}/shrinkbench-taken already exists and is not empty"),
    ("new-plugin-target-is-a-file", ("new-plugin", "filed", "--dir", "{d}"), {},
     "{d}/shrinkbench-filed already exists and is a file"),
    ("check-models-csv-is-a-dir", ("check-models", "lenet-300-100", "--csv", "{d}"), {}, "is a directory"),
    ("check-models-csv-under-a-file", ("check-models", "lenet-300-100", "--csv", "{d}/afile/rows.csv"), {},
     "{d}/afile is a file"),
    ("check-models-json-no-dir", ("check-models", "lenet-300-100", "--json", "{d}/nowhere/rows.json"), {},
     "{d}/nowhere does not exist"),
    ("check-models-json-read-only", ("check-models", "lenet-300-100", "--json", "/sys/rows.json"), {},
     "its directory /sys is not writable"),
    ("check-models-same-file", ("check-models", "lenet-300-100", "--csv", "{d}/rows", "--json", "{d}/rows"), {},
     "--csv and --json name the same file"),
    ("check-models-no-match", ("check-models", "no-such-model-*"), {}, "no model matches no-such-model-*"),
    ("check-models-strategy", ("check-models", "lenet-300-100", "--strategy", "global-magnitud"), {},
     "did you mean 'global-magnitude'"),
    ("data-root-is-a-file", ("data", "list", "--root", "{d}/afile"), {}, "--root {d}/afile is a file, not a directory"),
    ("env-unknown-option", ("env", "--verbose"), {}, "No such option '--verbose'"),
    ("data-root-missing", ("data", "path", "mnist", "--root", "{d}/nowhere"), {}, "--root {d}/nowhere does not exist"),
    ("data-datapath-is-a-file", ("data", "list"), {"DATAPATH": "{d}/afile"}, "$DATAPATH entry {d}/afile is a file"),
    ("data-unknown-dataset", ("data", "path", "mnistt"), {}, "did you mean 'mnist'"),
    ("data-download-no-root", ("data", "download", "mnist"), {"DATAPATH": ""}, "pass --root DIR"),
    ("data-download-two-roots", ("data", "download", "mnist", "--root", f"{{d}}/x{os.pathsep}{{d}}/y"), {}, "names 2"),
    ("data-download-under-a-file", ("data", "download", "mnist", "--root", "{d}/afile/data"), {}, "{d}/afile is a file"),
    ("data-download-read-only", ("data", "download", "mnist", "--root", "/sys/shrinkbench-data"), {},
     "data directory /sys/shrinkbench-data cannot be created in /sys"),
    ("data-download-damaged", ("data", "download", "mnist", "--root", "{d}/garbage"), {},
     "is not an MNIST idx file"),
    ("data-download-licence", ("data", "download", "imagenet", "--root", "{d}/x"), {}, "imagenet cannot be downloaded"),
    ("cache-clear-no-terminal", ("cache", "clear"), {}, "pass --yes to confirm (there is no terminal to ask on)"),
    ("cache-clear-all-no-terminal", ("cache", "clear", "--all"), {}, "pass --yes to confirm"),
    ("cache-is-a-file", ("cache", "list"), {"SHRINKBENCH_CACHE": "{d}/afile"}, "cache directory {d}/afile is a file"),
    ("cache-under-a-file", ("cache", "clear", "--yes"), {"SHRINKBENCH_CACHE": "{d}/afile/cache"},
     "cannot exist: {d}/afile is a file"),
    ("cache-dense-is-a-file", ("cache", "clear", "--yes"), {"SHRINKBENCH_CACHE": "{d}/foreign-cache"},
     "{d}/foreign-cache/dense is not a directory"),
    ("cache-unknown-command", ("cache", "purge"), {}, "No such command 'purge'"),
    ("dry-run-out-is-a-file", ("bench", "--dry-run", "--out", "{d}/afile"), {}, "is a file"),
    ("dry-run-other-configuration", ("bench", "--dry-run", *TINY, "--finetune-lr", "0.5", "--out", "{d}/good"), {},
     "holds results of another configuration"),
    ("print-config-with-dry-run", ("bench", "--print-config", "--dry-run"), {}, "--print-config prints the configuration"),
    ("print-config-bad-request", ("bench", "--print-config", "-c", "0"), {}, "compression must be a finite number"),
    ("json-bad-input", ("bench", "--json", "-s", "global-magnitud"), {}, "did you mean 'global-magnitude'"),
]
if NO_GPU:
    CASES.append(("device-cuda", ("bench", "--device", "cuda"), {}, "device 'cuda' is not available"))

TOML = {
    "syntax.toml": "compression = [2, 4\n",
    "old-key.toml": 'strategies = ["random"]\n',
    "string-list.toml": 'compression = "2,4"\n',
    "strategy-string.toml": 'strategy = "random"\n',
    "epochs-word.toml": '[finetune]\nepochs = "one"\n',
    "optimizer.toml": '[finetune]\noptimizer = "rmsprop"\n',
    "table.toml": "finetune = 3\n",
}


def write_inputs(d: Path) -> None:
    """The bad files the cases point at."""
    from shrinkbench.plugins import load_registry

    for name, text in TOML.items():
        (d / name).write_text(text)
    (d / "text.pt").write_text("not a checkpoint\n")
    registry = load_registry()
    model = registry.model("mnistnet").load()(10, (1, 28, 28), None)
    torch.save(model, d / "model.pt")
    torch.save(model.state_dict(), d / "mnistnet.pt")
    (d / "truncated.pt").write_bytes((d / "mnistnet.pt").read_bytes()[:5000])
    (d / "afile").write_text("")
    (d / "shrinkbench-taken").mkdir()
    (d / "shrinkbench-taken" / "notes.txt").write_text("mine\n")
    (d / "shrinkbench-filed").write_text("mine\n")
    (d / "foreign-cache").mkdir()
    (d / "foreign-cache" / "dense").write_text("not a folder\n")
    for folder, damage in (("garbage", "random"), ("truncated", "truncate")):
        raw = d / folder / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for prefix, n in (("train", 20), ("t10k", 10)):
            images = struct.pack(">iiii", 0x0803, n, 28, 28) + bytes(n * 784)
            labels = struct.pack(">ii", 0x0801, n) + bytes(n)
            if damage == "random":
                images = os.urandom(len(images))
            else:
                images = images[:-100]
            (raw / f"{prefix}-images-idx3-ubyte").write_bytes(images)
            (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(labels)


def snapshot(directory: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple]:
    """Every file and folder under ``directory`` (but the top-level entries ``skip``): a file's size and time, a
    folder's entries (not its time: a probe file written and removed at once to test writability changes it)."""
    return {str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file()
            else tuple(sorted(c.name for c in p.iterdir()))
            for p in directory.rglob("*") if p.relative_to(directory).parts[0] not in skip}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Run every case (after one good run fills the dense cache); returns {id: (result, scratch dir)}."""
    root = tmp_path_factory.mktemp("bad-input")
    cache = root / "cache"
    good = subprocess.run([sys.executable, "-c", CLI, "bench", *TINY, "--out", str(root / "good"), "--no-report"],
                          capture_output=True, text=True, env=cli_env(cache), timeout=600)
    assert good.returncode == 0, good.stderr
    write_inputs(root)
    before = snapshot(cache)
    scratches = ("cache", *(name for name, *_ in CASES))
    inputs = snapshot(root, skip=scratches)

    def run(case):
        name, args, env, _ = case
        scratch = root / name
        scratch.mkdir()
        argv = [a.replace("{d}", str(root)) for a in args]
        if argv[0] == "bench" and "--out" not in argv:
            argv += ["--out", str(scratch / "out")]
        env = {k: v.replace("{d}", str(root)) for k, v in env.items()}
        result = subprocess.run([sys.executable, "-c", CLI, *argv], capture_output=True, text=True,
                                env=cli_env(cache, **env), cwd=scratch, timeout=300)
        return name, (result, scratch)

    with ThreadPoolExecutor(2) as pool:
        found = dict(pool.map(run, CASES))
    after = snapshot(root, skip=scratches)
    changed = sorted(k for k in inputs.keys() | after.keys() if inputs.get(k) != after.get(k))
    cache_after = snapshot(cache)
    cache_changed = sorted(k for k in before.keys() | cache_after.keys() if before.get(k) != cache_after.get(k))
    return found, cache_changed, root, changed


def test_the_corpus_is_large():
    assert len(CASES) >= 50


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(outcomes, case):
    name, _args, _env, message = case
    found, _cache_changed, root, _inputs_changed = outcomes
    result, scratch = found[name]
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and message.replace("{d}", str(root)) in lines[0], lines[0]
    assert not (scratch / "out").exists() and not Path("/sys/shrinkbench-out").exists()
    assert list(scratch.iterdir()) == [], "a bad input wrote into the working directory"


def test_the_dense_cache_is_unchanged_by_every_bad_input(outcomes):
    assert outcomes[1] == []


def test_no_bad_input_writes_beside_its_inputs(outcomes):
    """The folders and files the cases point at (and their parent) are exactly as they were."""
    assert outcomes[3] == []  # the paths that changed


def test_every_command_is_in_the_corpus():
    from shrinkbench_cli.main import cli

    covered = {args[0] for _name, args, _env, _message in CASES}
    assert set(cli.commands) - {"report", "compare"} <= covered  # report and compare have their own corpus
