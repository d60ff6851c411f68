"""Side by side: the original ShrinkBench's default MNIST sweep, run unmodified, against ``shrinkbench bench``.

The original is JJGO/shrinkbench at commit b24497451b6815a4dbdf2ded7b10c264805e772b (the head of its ``master``,
2023-07-07). None of its code is in this repository; get a checkout at that commit with::

    git clone https://github.com/JJGO/shrinkbench && git -C shrinkbench checkout b24497451b6815a4dbdf2ded7b10c264805e772b

Usage (from the repository root, with the project's venv; on 2 idle CPUs ~15 min, longer under load)::

    .venv/bin/python benchmarks/original_shrinkbench.py --original ../shrinkbench               # the measurement
    .venv/bin/python benchmarks/original_shrinkbench.py --original ../shrinkbench --quick       # smoke run, 3-6 min

What it does, in one invocation:

1. prints the load average; checks that ``--original`` is a git checkout at the pinned commit;
2. makes the original's own venv under ``--work`` (default ``.bench-original/``, git-ignored) with ``uv`` (else
   ``venv`` + pip): :data:`REQUIREMENTS`, the project's own torch / torchvision so that the comparison is of the
   two programs, not of two torch builds (the original's code runs unmodified under them: its requirements are
   unpinned and it uses only stable APIs); ``--requirements`` picks others, e.g. the oldest torch with Python
   3.11 wheels: ``"torch==2.0.1 torchvision==0.15.2 numpy==1.24.4 pandas==1.5.3 tqdm==4.65.0"``;
3. writes the bundled ``mnist-5k`` digits (exactly our 4,000 train / 1,000 test split) as the uncompressed idx
   files torchvision's ``MNIST`` reads, under ``DATAPATH/MNIST/MNIST/raw`` (the original looks in
   ``$DATAPATH/MNIST`` and hands that folder to torchvision);
4. runs, in ``--order``, each timed whole (process start to exit, dense training included):
   ``orig0`` / ``orig8``, the original with 0 / 8 (its default) DataLoader workers: a small driver of ours calls
   its API as its tutorial does -- ``TrainingExperiment`` for the dense MnistNet (10 epochs), then one
   ``PruningExperiment`` per (strategy, compression) from a copy of those weights (5 epochs; at compression 1 the
   original only evaluates). The tutorial's own loop cannot run at that commit (``MnistNet`` asserts
   ``not pretrained`` while ``PruningExperiment`` defaults to ``pretrained=True``; ``resume=`` raises
   AttributeError), so the trained module is passed as ``model=``, which its ``build_model`` supports; its
   tutorial's strategies and default recipe, with the issue's compressions (1-32) and epochs. No shim: nothing of
   the original is patched; the driver only seeds torch with the original's seed (42) before the dense model is
   built (the original seeds in ``run()``, after building it, so its init would differ from process to process). Its recipe (``TrainingExperiment`` defaults): SGD, Nesterov momentum 0.9, lr 1e-3, no
   weight decay, constant lr, batch 128 (train and test), shuffled, 8 workers, all 4,000 training digits;
   ``ours``: ``shrinkbench bench -m mnistnet -s global-magnitude -s layer-magnitude -s random -c ...
   --pretrain-epochs 10 --finetune-epochs 5`` with an empty ``SHRINKBENCH_CACHE`` and no speed flag. With
   ``--ours-recipe matched`` (default) a ``--config`` file gives it the original's recipe: SGD, Nesterov momentum
   0.9, lr 1e-3, no weight decay, constant lr, batch 128, all 4,000 training digits (``val_fraction = 0``);
   ``standard`` keeps our mnist recipe (lr 0.05 cosine / 0.01 constant, weight decay 5e-4, batch 64, 10% held out).
   Ours also finetunes at compression 1 (one run of 5 epochs, shared by the three strategies' rows; the original
   only evaluates there);
5. prints and writes (``result.json``, ``result.md`` in the run folder) the wall times, the ratios and the top-1
   of every (strategy, compression). The original logs per-batch means of ``correct / 128``, so on 1,000 test
   digits its ``val_acc1`` is ``correct / 1024``; the table shows its final epoch exactly (``correct / 1000``,
   what the accuracy target uses, max over its two runs) and its own reported value (best epoch on the test
   split, as logged). Targets: ours <= 0.5 x the original's best, <= 0.35 x its default, top-1 >= original - 0.02.

``--quick``: 1 dense epoch, 1 finetuning epoch, compressions 1,4; proves the harness works; its times mean nothing.
Exit status: 0 all ran, 1 a sweep failed, 2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import shutil
import signal
import struct
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path

PINNED_COMMIT = "b24497451b6815a4dbdf2ded7b10c264805e772b"
REQUIREMENTS = "torch==2.15.0 torchvision==0.29.2 numpy==2.4.6 pandas==2.3.3 tqdm==4.67.1"
ORIGINAL_WORKERS = 8  # TrainingExperiment.default_dl_kwargs['num_workers']
ORIGINAL_BATCH = 128  # TrainingExperiment.default_dl_kwargs['batch_size'], also its test batch size
STRATEGIES = {"GlobalMagWeight": "global-magnitude", "LayerMagWeight": "layer-magnitude", "RandomPruning": "random"}
FULL = {"dense_epochs": 10, "finetune_epochs": 5, "compressions": [1, 2, 4, 8, 16, 32]}
QUICK = {"dense_epochs": 1, "finetune_epochs": 1, "compressions": [1, 4]}
SWEEPS = ("ours", "orig0", "orig8")
TARGET_BEST, TARGET_DEFAULT, TARGET_ACC = 0.5, 0.35, 0.02
REPO = Path(__file__).resolve().parents[1]

# Runs inside the original's venv; uses its API only (argv[1]: JSON settings).
DRIVER = '''\
import copy, json, os, sys, time
cfg = json.loads(sys.argv[1])
sys.path.insert(0, cfg["pkgroot"])
os.environ["DATAPATH"] = cfg["datapath"]
os.chdir(cfg["results"])
start = time.perf_counter()
import torch
from shrinkbench.experiment import PruningExperiment, TrainingExperiment
torch.manual_seed(42)  # its seed; it seeds only in run(), after building the model, so init is otherwise random
dl_kwargs = {"num_workers": cfg["workers"]}
dense = TrainingExperiment(dataset="MNIST", model="MnistNet", pretrained=False, dl_kwargs=dl_kwargs,
                           train_kwargs={"epochs": cfg["dense_epochs"]})
dense.run()
out = {"dense": {"path": str(dense.path.resolve()), "seconds": time.perf_counter() - start}, "runs": []}
for strategy in cfg["strategies"]:
    for compression in cfg["compressions"]:
        exp = PruningExperiment(dataset="MNIST", model=copy.deepcopy(dense.model), strategy=strategy,
                                compression=compression, pretrained=False, dl_kwargs=dl_kwargs,
                                train_kwargs={"epochs": cfg["finetune_epochs"]})
        exp.run()
        out["runs"].append({"strategy": strategy, "compression": compression, "path": str(exp.path.resolve())})
out["seconds"] = time.perf_counter() - start
with open(cfg["manifest"], "w") as f:
    json.dump(out, f, indent=1)
'''


class BadInput(Exception):
    """A one-line error about the command line or the checkout."""


def sh(*cmd: str | Path, **kw) -> str:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=True, **kw).stdout.strip()


def check_checkout(path: Path) -> Path:
    path = path.expanduser().resolve()
    if not path.is_dir():
        raise BadInput(f"--original {path}: no such directory (see the docstring: git clone ... && git checkout ...)")
    if not (path / "experiment" / "prune.py").is_file():
        raise BadInput(f"--original {path}: not a checkout of JJGO/shrinkbench (no experiment/prune.py)")
    try:
        head = sh("git", "-C", path, "rev-parse", "HEAD")
        if Path(sh("git", "-C", path, "rev-parse", "--show-toplevel")).resolve() != path:
            raise subprocess.CalledProcessError(1, "git")
    except (OSError, subprocess.CalledProcessError):
        raise BadInput(f"--original {path}: not a git checkout (git rev-parse HEAD failed)") from None
    if head != PINNED_COMMIT:
        raise BadInput(f"--original {path} is at {head[:12]}, not the pinned {PINNED_COMMIT[:12]}; "
                       f"run: git -C {path} checkout {PINNED_COMMIT}")
    if sh("git", "-C", path, "status", "--porcelain", "--untracked-files=no"):
        raise BadInput(f"--original {path} has local changes; the original must run unmodified")
    return path


def make_env(work: Path, requirements: str) -> Path:
    """The original's venv (reused while its requirements are unchanged); returns its python."""
    venv, marker = work / "venv", work / "venv" / "requirements.txt"
    python = venv / "bin" / "python"
    if python.exists() and marker.exists() and marker.read_text() == requirements:
        return python
    shutil.rmtree(venv, ignore_errors=True)
    print(f"setting up the original's environment in {venv}: {requirements}", flush=True)
    reqs = requirements.split()
    if shutil.which("uv"):
        subprocess.run(["uv", "venv", "-q", "--python", sys.executable, str(venv)], check=True)
        subprocess.run(["uv", "pip", "install", "-q", "--python", str(python), *reqs], check=True)
    else:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *reqs], check=True)
    marker.write_text(requirements)
    return python


def write_mnist(datapath: Path) -> int:
    """Our mnist-5k splits as torchvision's raw MNIST files; returns the number of test digits."""
    try:
        from shrinkbench_vision.datasets.bundled import mnist_5k
    except ImportError:
        raise BadInput("shrinkbench_vision is not importable: run with the project's venv (.venv/bin/python)") from None
    raw = datapath / "MNIST" / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        data = mnist_5k(split)
        images = data.images.squeeze(1).contiguous().numpy()  # (N, 28, 28) uint8
        labels = data.targets.numpy().astype("uint8")
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x803, *images.shape) + images.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, len(labels)) + labels.tobytes())
    return len(labels)


def matched_toml(path: Path) -> Path:
    """A ``--config`` giving ``shrinkbench bench`` the original's recipe (both pretraining and finetuning)."""
    # the lr schedule's field name, whatever this version of ours calls it
    from shrinkbench.engine.config import Recipe

    sched = "lr_schedule" if "lr_schedule" in {f.name for f in fields(Recipe)} else "schedule"
    table = (f'optimizer = "sgd"\nlr = 0.001\nmomentum = 0.9\nnesterov = true\nweight_decay = 0.0\n'
             f'{sched} = "constant"\nbatch_size = {ORIGINAL_BATCH}\n')
    path.write_text(f"val_fraction = 0.0\n\n[pretrain]\n{table}\n[finetune]\n{table}")
    return path


def timed(cmd: list[str], log: Path, env: dict, timeout: float) -> tuple[float, int]:
    """Run ``cmd`` (its own session, output to ``log``); wall seconds and exit status."""
    with open(log, "w") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except (KeyboardInterrupt, subprocess.TimeoutExpired) as exc:
            os.killpg(proc.pid, signal.SIGKILL)  # the original ignores SIGINT; its workers share the group
            proc.wait()
            if isinstance(exc, KeyboardInterrupt):
                raise
            rc = 124
        return time.perf_counter() - start, rc


def original_rows(manifest: dict, n_test: int) -> dict:
    """(strategy, compression) -> top-1 of the original: final epoch exact, final and best as logged."""
    batches = math.ceil(n_test / ORIGINAL_BATCH)
    rows = {}
    for run in manifest["runs"]:
        with open(Path(run["path"]) / "logs.csv") as f:
            accs = [float(r["val_acc1"]) for r in csv.DictReader(f) if r["val_acc1"]]
        exact = [round(a * ORIGINAL_BATCH * batches) / n_test for a in accs]  # logged = correct / (128 * batches)
        rows[(STRATEGIES[run["strategy"]], float(run["compression"]))] = {
            "final": exact[-1], "final_logged": accs[-1], "best_logged": max(accs), "best": max(exact)}
    return rows


def ours_rows(out: Path) -> dict:
    rows = {}
    with open(out / "results.csv") as f:
        for r in csv.DictReader(f):
            if r.get("status", "ok") == "ok":
                rows[(r["strategy"], float(r["compression_target"]))] = {"top1": float(r["top1"])}
    return rows


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--original", type=Path, required=True, help=f"checkout of JJGO/shrinkbench at {PINNED_COMMIT}")
    parser.add_argument("--work", type=Path, default=REPO / ".bench-original", help="venv, data and runs go here")
    parser.add_argument("--order", default="ours,orig0,orig8", help="comma-separated order of: ours, orig0, orig8")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1+1 epochs, compressions 1,4")
    parser.add_argument("--ours-recipe", choices=("matched", "standard"), default="matched")
    parser.add_argument("--requirements", default=REQUIREMENTS, help="the original's venv, pip requirement specs")
    parser.add_argument("--shrinkbench", type=Path, default=REPO / ".venv" / "bin" / "shrinkbench", help="our CLI")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed to each sweep")
    args = parser.parse_args(argv)
    try:
        order = [s.strip() for s in args.order.split(",") if s.strip()]
        if sorted(order) != sorted(SWEEPS):
            raise BadInput(f"--order must name each of {', '.join(SWEEPS)} once, got {args.order!r}")
        if not args.shrinkbench.is_file():
            raise BadInput(f"--shrinkbench {args.shrinkbench}: not found (make the project's venv: uv sync)")
        print(f"load average (1/5/15 min): {loadavg()} on {os.cpu_count()} CPUs", flush=True)
        original = check_checkout(args.original)
        work = args.work.expanduser().resolve()
        work.mkdir(parents=True, exist_ok=True)
        n_test = write_mnist(work / "data")
    except BadInput as exc:
        print(f"original_shrinkbench: error: {exc}", file=sys.stderr)
        return 2
    recipe = QUICK if args.quick else FULL
    try:
        python = make_env(work, args.requirements)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"original_shrinkbench: error: cannot make the original's environment: {exc}", file=sys.stderr)
        return 1
    (work / "pkg").mkdir(exist_ok=True)
    link = work / "pkg" / "shrinkbench"  # the original imports itself as the package `shrinkbench`
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(original, target_is_directory=True)
    (work / "driver.py").write_text(DRIVER)
    run_dir = work / "runs" / time.strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True)
    ours_python = args.shrinkbench.parent / "python"
    versions = {  # untimed: also warms the file cache for both programs
        "original_torch": sh(python, "-c", "import torch, torchvision, pandas; print(torch.__version__)"),
        "ours_torch": sh(ours_python, "-c", "import torch, shrinkbench_vision; print(torch.__version__)")}
    print(f"torch: original {versions['original_torch']}, ours {versions['ours_torch']}", flush=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SHRINKBENCH_CACHE", "VIRTUAL_ENV")}
    comps = ",".join(str(c) for c in recipe["compressions"])
    walls, rcs, results = {}, {}, {}
    for name in order:
        where = run_dir / name
        where.mkdir()
        if name == "ours":
            cmd = [str(args.shrinkbench), "bench", "-m", "mnistnet", *sum((["-s", s] for s in STRATEGIES.values()), []),
                   "-c", comps, "--pretrain-epochs", str(recipe["dense_epochs"]),
                   "--finetune-epochs", str(recipe["finetune_epochs"]), "--out", str(where / "out")]
            if args.ours_recipe == "matched":
                cmd += ["--config", str(matched_toml(run_dir / "matched.toml"))]
            run_env = {**env, "SHRINKBENCH_CACHE": str(where / "cache")}
        else:
            cfg = {"pkgroot": str(work / "pkg"), "datapath": str(work / "data"), "results": str(where),
                   "manifest": str(where / "manifest.json"), "workers": 0 if name == "orig0" else ORIGINAL_WORKERS,
                   "strategies": list(STRATEGIES), **recipe}
            cmd, run_env = [str(python), str(work / "driver.py"), json.dumps(cfg)], env
        print(f"[{time.strftime('%H:%M:%S')}] {name}: {' '.join(cmd) if name == 'ours' else 'original, workers=' + str(cfg['workers'])}",
              flush=True)
        walls[name], rcs[name] = timed(cmd, where / "log.txt", run_env, args.timeout)
        print(f"    {walls[name]:.1f} s, exit {rcs[name]} (log: {where / 'log.txt'})", flush=True)
        try:
            results[name] = (ours_rows(where / "out") if name == "ours"
                             else original_rows(json.loads((where / "manifest.json").read_text()), n_test))
        except (OSError, ValueError, KeyError) as exc:
            print(f"    no results: {type(exc).__name__}: {exc}; last lines of its log:", flush=True)
            print("      " + "\n      ".join((where / "log.txt").read_text().splitlines()[-15:]))
    return report(args, recipe, versions, walls, rcs, results, run_dir)


def report(args, recipe, versions, walls, rcs, results, run_dir: Path) -> int:
    ok = all(rc == 0 for rc in rcs.values())
    best = min(walls["orig0"], walls["orig8"])
    ratios = {"ours/original-best": walls["ours"] / best, "ours/original-default": walls["ours"] / walls["orig8"]}
    targets = {"ours/original-best": ratios["ours/original-best"] <= TARGET_BEST,
               "ours/original-default": ratios["ours/original-default"] <= TARGET_DEFAULT}
    cells = []
    for strategy in STRATEGIES.values():
        for c in map(float, recipe["compressions"]):
            ours = results.get("ours", {}).get((strategy, c), {}).get("top1")
            origs = [results[n][(strategy, c)] for n in ("orig0", "orig8") if (strategy, c) in results.get(n, {})]
            orig = max(origs, key=lambda o: o["final"]) if origs else None
            diff = ours - orig["final"] if ours is not None and orig else None
            cells.append({"strategy": strategy, "compression": c, "ours_top1": ours,
                          "original_final": orig and orig["final"], "original_best_logged": orig and orig["best_logged"],
                          "original_runs": origs, "diff": diff, "ok": diff is not None and diff >= -TARGET_ACC})
    targets["accuracy"] = all(cell["ok"] for cell in cells)
    md = [f"{'SMOKE RUN (--quick): times mean nothing. ' if args.quick else ''}Load average after: {loadavg()}; "
          f"{os.cpu_count()} CPUs; {platform.platform()}; original at {PINNED_COMMIT[:12]} under torch "
          f"{versions['original_torch']}, ours under torch {versions['ours_torch']}, ours' recipe: {args.ours_recipe}; "
          f"{recipe['dense_epochs']} dense + {recipe['finetune_epochs']} finetuning epochs; order {args.order}.", "",
          "| sweep | wall (s) | exit |", "| --- | ---: | ---: |"]
    labels = {"orig0": "original, 0 workers", "orig8": f"original, {ORIGINAL_WORKERS} workers (default)", "ours": "ours"}
    md += [f"| {labels[n]} | {walls[n]:.1f} | {rcs[n]} |" for n in SWEEPS]
    md += ["", f"ours / original's best = {ratios['ours/original-best']:.3f} (target <= {TARGET_BEST}: "
           f"{'met' if targets['ours/original-best'] else 'NOT met'}); ours / original's default = "
           f"{ratios['ours/original-default']:.3f} (target <= {TARGET_DEFAULT}: "
           f"{'met' if targets['ours/original-default'] else 'NOT met'})", "",
           "| strategy | compression | ours top-1 | original final epoch | ours - original | original as logged "
           "(best epoch) | within 0.02 |", "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    fmt = lambda x: "-" if x is None else f"{x:.4f}"  # noqa: E731
    sign = lambda x: "-" if x is None else f"{x:+.4f}"  # noqa: E731
    md += [f"| {c['strategy']} | {c['compression']:g} | {fmt(c['ours_top1'])} | {fmt(c['original_final'])} | "
           f"{sign(c['diff'])} | {fmt(c['original_best_logged'])} | {'yes' if c['ok'] else 'NO'} |" for c in cells]
    md += ["", f"accuracy target (every cell >= original - {TARGET_ACC}): {'met' if targets['accuracy'] else 'NOT met'}. "
           "Original: final epoch exact (correct / test digits; best of its two runs) and its own reported value "
           "(best epoch on the test split, logged as correct / 1024). At compression 1 the original only "
           f"evaluates the dense model; ours finetunes it {recipe['finetune_epochs']} epochs, once, shared by the "
           "three strategies' rows."]
    text = "\n".join(md)
    print("\n" + text)
    data = {"pinned_commit": PINNED_COMMIT, "quick": args.quick, "order": args.order, "ours_recipe": args.ours_recipe,
            "requirements": args.requirements, "versions": versions, "recipe": recipe, "walls_s": walls,
            "exit_codes": rcs, "ratios": ratios, "targets": targets, "cells": cells, "cpus": os.cpu_count(),
            "loadavg_after": loadavg(), "platform": platform.platform()}
    (run_dir / "result.json").write_text(json.dumps(data, indent=1))
    (run_dir / "result.md").write_text(text + "\n")
    print(f"\nwritten: {run_dir / 'result.json'}, {run_dir / 'result.md'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
