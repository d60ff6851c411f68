"""Global magnitude threshold side by side: time and peak extra memory of computing the masks.

Setup: torchvision ResNet-18 and ResNet-50 (random init, 10 classes), the prunable weights of
``shrinkbench.pruning.prunable_parameters`` (conv/linear weights, classifier excluded), compression 10 over
the whole model (``weights_to_keep``), ``torch.set_num_threads(2)``. Every method starts from the model's
parameters (so ``|w|`` is part of its cost) and ends with one mask per parameter:

* ``core``          ``shrinkbench.pruning.global_masks({n: |w|}, keep)``: brackets the threshold between two order
                    statistics of a fixed random sample, counts the entries below the bracket, runs
                    ``torch.kthvalue`` over the ~2% inside it, then fills ties exactly (lowest index first).
* ``core-kthvalue`` the previous core: cat of all scores + ``torch.kthvalue`` over everything + tie fill.
* ``numpy-sb``      the baseline, ShrinkBench's way: ``get_params`` copies every weight to numpy, ``np.abs``,
                    ``np.concatenate``, ``np.quantile(flat, 1 - fraction)``, then ShrinkBench's per-layer
                    ``threshold_mask`` (a float mask of ones with the small entries zeroed).
* ``numpy-lean``    the least numpy can do: ``np.quantile`` over a zero-copy view, torch compares per layer.
* ``torch-prune``   ``torch.nn.utils.prune.global_unstructured(..., L1Unstructured, amount=n - keep)`` on a
                    deep copy of the model (the copy is made outside the timing and the memory baseline).

Time: median of 5 repetitions, methods interleaved, each warmed up first. Peak extra memory: each method
runs in a fresh subprocess (``--child``) that builds the model and warms the method up on a tiny model;
a thread polls the process's anonymous RSS during the real call; peak minus the level before it is
reported (glibc's mmap threshold is pinned so freed blocks go back to the OS at once). The figure includes
the returned masks (and for torch-prune the ``weight_orig`` and float ``weight_mask`` it keeps).
Also: the selection primitives alone on the flat ``|w|`` (kthvalue, topk of the smaller side, sort,
np.partition, np.quantile, core's sampled selection), exactness checks (kept count, core == a stable-sort
reference bit for bit on tie and edge cases), and the OpenBLAS environment the numpy baseline ran under.

Run:  uv run python benchmarks/threshold.py            (about 3-4 minutes on 2 cores)
      uv run python benchmarks/threshold.py --quick    (smoke run)
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping

import numpy as np
import torch
import torchvision
from torch import Tensor, nn
from torch.nn.utils import prune

from shrinkbench.pruning import (
    _kth_smallest,
    _top_k_masks,
    global_masks,
    prunable_parameters,
    weights_to_keep,
)

COMPRESSION = 10.0
METHODS = ["core", "core-kthvalue", "numpy-sb", "numpy-lean", "torch-prune"]


# ------------------------------------------------------------------ the previous core, for comparison
def kthvalue_global_masks(scores: Mapping[str, Tensor], keep: int) -> dict[str, Tensor]:
    """Core before the sampled selection: one ``torch.kthvalue`` over all scores concatenated."""
    names = list(scores)
    flat = torch.cat([scores[n].detach().reshape(-1).float() for n in names])
    threshold = torch.kthvalue(flat, flat.numel() - keep).values
    mask = flat > threshold
    missing = keep - int(mask.count_nonzero())
    if missing > 0:
        mask[(flat == threshold).nonzero().flatten()[:missing]] = True
    out, offset = {}, 0
    for n in names:
        out[n] = mask[offset : offset + scores[n].numel()].view_as(scores[n])
        offset += scores[n].numel()
    return out


# --------------------------------------------------------------------------------------------- methods
def _threshold_mask(tensor: np.ndarray, threshold: float) -> np.ndarray:
    """ShrinkBench's ``strategies/utils.py`` threshold_mask."""
    idx = np.logical_and(tensor < threshold, tensor > -threshold)
    mask = np.ones_like(tensor)
    mask[idx] = 0
    return mask


def run_method(name: str, model: nn.Module, keep: int):
    """Compute the masks with one method (for torch-prune, ``model`` is the copy it may modify)."""
    prunable = prunable_parameters(model)
    if name == "core":
        return global_masks({n: p.detach().abs() for n, p in prunable.items()}, keep)
    if name == "core-kthvalue":
        return kthvalue_global_masks({n: p.detach().abs() for n, p in prunable.items()}, keep)
    if name == "numpy-sb":
        params = {n: p.detach().cpu().numpy().copy() for n, p in prunable.items()}
        importances = {n: np.abs(w) for n, w in params.items()}
        flat = np.concatenate([w.flatten() for w in importances.values()])
        threshold = np.quantile(flat, 1 - keep / flat.size)
        return {n: _threshold_mask(w, threshold) for n, w in importances.items()}
    if name == "numpy-lean":
        scores = {n: p.detach().abs() for n, p in prunable.items()}
        flat = torch.cat([s.reshape(-1) for s in scores.values()])
        threshold = float(np.quantile(flat.numpy(), 1 - keep / flat.numel()))
        return {n: s > threshold for n, s in scores.items()}
    if name == "torch-prune":
        modules = dict(model.named_modules())
        targets = [(modules[n.rpartition(".")[0]], "weight") for n in prunable]
        n_all = sum(p.numel() for p in prunable.values())
        prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=n_all - keep)
        return {n: m.weight_mask for n, (m, _) in zip(prunable, targets, strict=True)}
    raise ValueError(name)


def build(arch: str) -> nn.Module:
    torch.manual_seed(0)
    return getattr(torchvision.models, arch)(num_classes=10)


def kept(masks) -> int:
    return int(sum(int((m != 0).sum()) for m in masks.values()))


def interleaved(fns: dict[str, Callable[[], object]], reps: int, prepare=None) -> dict[str, list[float]]:
    """One warm-up call each, then ``reps`` timed calls each in rotating order; ``prepare(name)`` untimed."""
    names, times = list(fns), {n: [] for n in fns}
    for r in range(-1, reps):
        for n in names[r % len(names) :] + names[: r % len(names)]:
            arg = prepare(n) if prepare else None
            gc.collect()
            t0 = time.perf_counter()
            fns[n](arg)
            if r >= 0:
                times[n].append(time.perf_counter() - t0)
    return times


# ---------------------------------------------------------------------------------------------- memory
def _anon() -> int:
    """Resident anonymous memory of this process (heap and mmapped buffers, not the mapped libraries)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("RssAnon:"))


def child(arch: str, method: str, threads: int) -> None:
    """Subprocess: peak anonymous RSS above the steady state during one call of ``method``; prints JSON.

    A thread polls ``RssAnon`` every 0.2 ms (torch and numpy release the GIL in their big kernels). RSS is
    used rather than ``ru_maxrss`` because the process's peak was reached while importing torch.
    """
    torch.set_num_threads(threads)
    model = build(arch)
    run_method(method, copy.deepcopy(build("resnet18").layer1), 10)  # warm up code paths on a small model
    target = copy.deepcopy(model) if method == "torch-prune" else model
    keep = weights_to_keep(model, prunable_parameters(model), COMPRESSION)
    gc.collect()
    before, peak, done = _anon(), [0], threading.Event()

    def poll() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _anon())
            time.sleep(0.0002)

    poller = threading.Thread(target=poll)
    poller.start()
    result = run_method(method, target, keep)
    done.set()
    poller.join()
    peak[0] = max(peak[0], _anon())
    print(json.dumps({"peak_extra": peak[0] - before, "after_extra": _anon() - before, "kept": kept(result)}))


def measure_memory(arch: str, method: str, threads: int, env: dict | None = None) -> dict:
    env = dict(os.environ if env is None else env, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="0")
    cmd = [sys.executable, __file__, "--child", arch, method, "--threads", str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------- checks
def check_core(reps: int) -> list[str]:
    """Core's selection against a stable-sort reference on tie-heavy and edge inputs; returns failures."""
    g = torch.Generator().manual_seed(0)
    cases = {
        "random": torch.rand(3_000_000, generator=g),
        "half zeros": torch.rand(3_000_000, generator=g) * (torch.rand(3_000_000, generator=g) > 0.5),
        "90% zeros": torch.rand(3_000_000, generator=g) * (torch.rand(3_000_000, generator=g) > 0.9),
        "8 levels": torch.randint(0, 8, (3_000_000,), generator=g).float(),
        "all equal": torch.ones(2_000_000),
        "negative": torch.randn(2_000_000, generator=g),
        "int": torch.randint(0, 1000, (2_000_000,), generator=g),
        "float64": torch.rand(2_000_000, generator=g, dtype=torch.float64),
        "small": torch.rand(1000, generator=g),
    }
    failures = []
    for name, x in cases.items():
        n = x.numel()
        for k in (1, n // 10, n // 2, n - 1, n, 0):
            want = _reference(x, k)
            got = torch.cat(_top_k_masks([x[: n // 3], x[n // 3 :]], k))
            if not torch.equal(got, want) or int(got.sum()) != k:
                failures.append(f"{name} k={k}")
    return failures


def _reference(x: Tensor, k: int) -> Tensor:
    """The ``k`` largest entries by a stable descending sort (ties: lowest index first)."""
    order = torch.sort(x.double(), descending=True, stable=True).indices[:k]
    out = torch.zeros(x.numel(), dtype=torch.bool)
    out[order] = True
    return out


def primitives(flat: Tensor, keep: int, reps: int) -> dict[str, float]:
    """Selection alone on the flat scores: median seconds per primitive."""
    n, a = flat.numel(), flat.numpy()
    fns = {
        "torch.kthvalue(flat, n-k)": lambda _: torch.kthvalue(flat, n - keep),
        "torch.topk(flat, k) (smaller side)": lambda _: torch.topk(flat, min(keep, n - keep), largest=keep < n - keep,
                                                                   sorted=False),
        "torch.sort(flat)": lambda _: torch.sort(flat),
        "np.partition(a, n-k)": lambda _: np.partition(a, n - keep),
        "np.quantile(a, 1-k/n)": lambda _: np.quantile(a, 1 - keep / n),
        "core _kth_smallest([flat])": lambda _: _kth_smallest([flat], n - keep),
    }
    return {k: statistics.median(v) for k, v in interleaved(fns, reps).items()}


# ------------------------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: resnet18, 2 repetitions")
    parser.add_argument("--models", default="resnet18,resnet50")
    parser.add_argument("--reps", type=int, default=None, help="timed repetitions (default 5)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-memory", action="store_true", help="skip the subprocess memory measurement")
    parser.add_argument("--child", nargs=2, metavar=("ARCH", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child, args.threads)
    torch.set_num_threads(args.threads)
    archs = ["resnet18"] if args.quick else args.models.split(",")
    reps = args.reps or (2 if args.quick else 5)
    blas = {v: os.environ.get(v) for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    print(f"# threshold benchmark: torch {torch.__version__}, numpy {np.__version__}, {args.threads} threads, "
          f"compression {COMPRESSION:g}, load average {os.getloadavg()[0]:.2f} at start; "
          + ", ".join(f"{k}={v if v is not None else '(unset)'}" for k, v in blas.items()))
    start = time.perf_counter()
    for arch in archs:
        model = build(arch)
        prunable = prunable_parameters(model)
        n, keep = sum(p.numel() for p in prunable.values()), weights_to_keep(model, prunable, COMPRESSION)

        def prepare(name, model=model):
            return copy.deepcopy(model) if name == "torch-prune" else model  # prune modifies its model

        results = {m: run_method(m, copy.deepcopy(model) if m == "torch-prune" else model, keep) for m in METHODS}
        times = interleaved({m: (lambda target, m=m, keep=keep: run_method(m, target, keep)) for m in METHODS}, reps, prepare)
        memory = {} if args.no_memory else {m: measure_memory(arch, m, args.threads) for m in METHODS}
        same = {m: all(torch.equal(torch.as_tensor(results[m][k]) != 0, results["core"][k]) for k in prunable)
                for m in METHODS}
        base = statistics.median(times["numpy-sb"])
        print(f"\n## {arch}: {n:,} prunable weights, keep {keep:,} ({keep / n:.2%}) for compression {COMPRESSION:g}")
        print(f"{'method':<12} {'time ms':>8} {'x numpy-sb':>10} {'peak extra MB':>13} {'B/weight':>8} "
              f"{'kept - target':>13} {'== core':>7}")
        for m in METHODS:
            t = statistics.median(times[m])
            mem = memory.get(m)
            mb = f"{mem['peak_extra'] / 2**20:13.0f}" if mem else f"{'-':>13}"
            bpw = f"{mem['peak_extra'] / n:8.1f}" if mem else f"{'-':>8}"
            print(f"{m:<12} {1e3 * t:8.0f} {t / base:9.2f}x {mb} {bpw} {kept(results[m]) - keep:13,d} "
                  f"{'yes' if same[m] else 'no':>7}")
        flat = torch.cat([p.detach().abs().reshape(-1) for p in prunable.values()])
        print(f"\n  selection primitives on the flat |w| ({n:,} float32), median of {reps}:")
        for name, t in primitives(flat, keep, reps).items():
            print(f"  {name:<36} {1e3 * t:8.1f} ms")
    failures = check_core(reps)
    print(f"\ncore vs a stable-sort reference on tie/edge cases (ties at the threshold, zeros, all equal, ints, "
          f"negatives, float64, k in 0,1,n/10,n/2,n-1,n): {'all equal' if not failures else failures}")
    if any(v is not None for v in blas.values()):
        clean = {k: v for k, v in os.environ.items() if k not in blas}
        for label, env in (("as is", None), ("OPENBLAS_* unset", clean)):
            out = subprocess.run([sys.executable, "-c", "import numpy as np, time; a=np.random.rand(23_000_000)"
                                  ".astype('f4'); np.quantile(a,.9); t=time.perf_counter(); np.quantile(a,.9); "
                                  "print(time.perf_counter()-t)"], capture_output=True, text=True, env=env)
            print(f"np.quantile over 23M float32, OpenBLAS env {label}: {1e3 * float(out.stdout):.0f} ms")
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
