"""The acceptance check of the GPU path: everything it promises, on whatever accelerator is present, one PASS /
FAIL / SKIP line per check with what was measured; exit code 1 when any check fails.

Checks (each a real ``shrinkbench bench`` or benchmark process, on synthetic CIFAR-10-shaped data written here):
``default-device`` (no ``--device`` flag: auto must pick the GPU when there is one), ``jobs-2`` (two runs at once,
sharing one GPU), ``bf16`` and ``fp16``, ``compile``, ``channels-last``, ``deterministic`` (a rerun gives
bit-identical weights), ``gradual`` (the schedule reaches its target), ``structured`` (``l1-filter`` really
removes channels), ``2:4`` (the N:M strategy, and ``torch.sparse.to_sparse_semi_structured`` latency where the
GPU supports it), ``epoch-eager`` and ``epoch-compiled`` (``benchmarks/epoch_time.py``: ResNet-56, targets
<= 5.6 s and <= 3.5 s per epoch on one H100/H200).

On a bare GPU machine (Python >= 3.11 with torch, torchvision, pluggy, click, rich, safetensors; no internet),
build the wheels beforehand on a machine with the repository::

    uv build --all-packages -o .whl                     # every package of the workspace
    pip download --no-deps -d .whl platformdirs torch-pruning   # what the GPU machine may lack

carry ``.whl`` and ``benchmarks/`` there, and run (about 6 minutes on one H200)::

    python3 benchmarks/gpu_check.py --install .whl      # installs into /tmp/shrinkbench-site, offline

CI runs it on the CPU at tiny sizes (``--device cpu --size tiny``, about 3 minutes) so the script never rots.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
SITE = "/tmp/shrinkbench-site"
SIZES = {"tiny": {"per_batch": 16, "test": 16, "epoch_images": 128},
         "full": {"per_batch": 2000, "test": 2000, "epoch_images": 45000}}
TARGETS = {"epoch-eager": 5.6, "epoch-compiled": 3.5}  # seconds per ResNet-56 CIFAR-10 epoch, on one H100/H200


@dataclass
class Outcome:
    """One check: ``PASS``/``FAIL``/``SKIP`` and what was measured (or why it failed or was skipped)."""

    status: str
    detail: str


class Checker:
    """Runs ``shrinkbench bench`` in subprocesses on the synthetic data, with one dense-model cache."""

    def __init__(self, device: str, size: str, root: Path, env: dict[str, str]) -> None:
        self.device, self.size, self.root, self.env = device, size, root, env
        self.data = root / "cifar"
        self.count = 0

    def bench(self, *args: str, out: str | None = None, timeout: float = 900) -> tuple[list[dict], float, str]:
        """Run a small sweep on ResNet-20 (1 + 1 epochs); its rows, its seconds and its output."""
        self.count += 1
        out = out or str(self.root / f"out{self.count}")
        device = () if self.device == "auto" else ("--device", self.device)
        command = [sys.executable, "-m", "shrinkbench_cli", "bench", "-d", "cifar10", "--data-root", str(self.data),
                   "-m", "resnet20", "--pretrain-epochs", "1", "--finetune-epochs", "1", "--no-report", "--out", out,
                   *device, *args]
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, env=self.env, timeout=timeout)
        seconds = time.perf_counter() - started
        rows = _rows(Path(out) / "results.csv")
        if result.returncode not in (0, 1) or not rows:
            raise RuntimeError(" ".join((result.stderr or result.stdout).split())[-400:] or f"exit {result.returncode}")
        return rows, seconds, result.stdout


def _rows(path: Path) -> list[dict]:
    import csv

    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _ok(rows: list[dict]) -> str | None:
    """Why the rows are not all ok, or ``None``."""
    bad = [r for r in rows if r.get("status") != "ok"]
    return f"{bad[0]['run_id']}: {bad[0].get('error')}" if bad else None


def _accelerator() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    return "mps" if mps and mps.is_available() else "cpu"


def check_default_device(c: Checker) -> Outcome:
    """No device flag: the row's device is the accelerator present."""
    rows, seconds, _ = Checker(  # deliberately without --device, whatever the script was told
        "auto", c.size, c.root, c.env).bench("-s", "global-magnitude", "-c", "4")
    want = _accelerator()
    problem = _ok(rows) or (None if rows[0]["device"].startswith(want) else f"device {rows[0]['device']!r}, expected {want}")
    return Outcome("FAIL" if problem else "PASS", problem or f"device {rows[0]['device']}, {seconds:.1f} s")


def check_jobs(c: Checker) -> Outcome:
    """Two runs at once on one device."""
    rows, seconds, stdout = c.bench("-s", "global-magnitude", "-s", "random", "-c", "2,4", "--jobs", "2")
    problem = _ok(rows) or (None if "2 runs at a time" in stdout else "the layout did not run 2 at a time")
    return Outcome("FAIL" if problem else "PASS", problem or f"{len(rows)} runs in {seconds:.1f} s, 2 at a time")


def check_precision(precision: str) -> Callable[[Checker], Outcome]:
    def check(c: Checker) -> Outcome:
        rows, seconds, _ = c.bench("-s", "global-magnitude", "-c", "4", "--precision", precision)
        problem = _ok(rows) or (None if rows[0]["precision"] == precision else "precision not recorded")
        return Outcome("FAIL" if problem else "PASS", problem or f"top-1 {float(rows[0]['top1']):.3f}, {seconds:.1f} s")

    return check


def check_flag(flag: str) -> Callable[[Checker], Outcome]:
    def check(c: Checker) -> Outcome:
        rows, seconds, _ = c.bench("-s", "global-magnitude", "-c", "4", flag)
        notes = rows[0].get("notes", "") if rows else ""
        problem = _ok(rows) or ("compiled model fell back to eager: " + notes if "ran eager" in notes else None)
        compile_s = f", compile {float(rows[0]['compile_seconds']):.1f} s" if rows and rows[0].get("compile_seconds") else ""
        return Outcome("FAIL" if problem else "PASS", problem or f"{seconds:.1f} s{compile_s}")

    return check


def check_deterministic(c: Checker) -> Outcome:
    """Twice with --deterministic: bit-identical weights (and the rows say deterministic)."""
    digests = []
    for attempt in range(2):
        out = c.root / f"deterministic{attempt}"
        rows, _, _ = c.bench("-s", "global-magnitude", "-c", "4", "--deterministic", out=str(out))
        problem = _ok(rows)
        if problem:
            return Outcome("FAIL", problem)
        weights = next(out.glob("runs/*/*/weights.safetensors"))
        digests.append(hashlib.sha256(weights.read_bytes()).hexdigest())
    same = digests[0] == digests[1]
    flagged = rows[0].get("deterministic")
    detail = f"weights {'identical' if same else 'differ'}; row deterministic={flagged} {rows[0].get('notes', '')}"
    return Outcome("PASS" if same else "FAIL", detail.strip())


def check_gradual(c: Checker) -> Outcome:
    rows, seconds, _ = c.bench("-s", "global-magnitude", "-c", "8", "--schedule", "gradual")
    problem = _ok(rows)
    return Outcome("FAIL" if problem else "PASS", problem or f"compression {float(rows[0]['compression']):.2f}x for 8x, "
                                                              f"{seconds:.1f} s")


def check_structured(c: Checker) -> Outcome:
    try:
        import shrinkbench_structured  # noqa: F401
    except ImportError:
        return Outcome("SKIP", "shrinkbench-structured is not installed")
    rows, seconds, _ = c.bench("-s", "l1-filter", "-c", "2")
    row = rows[0]
    shrunk = abs(float(row["params"]) - float(row["nonzero_params"])) < 0.01 * float(row["params"])  # no masked zeros
    problem = _ok(rows) or (None if shrunk and float(row["compression"]) > 1.5 else "the model did not shrink")
    return Outcome("FAIL" if problem else "PASS", problem or (f"{float(rows[0]['compression']):.2f}x, measured speedup "
                                                              f"{float(rows[0]['latency_speedup_64']):.2f}x, {seconds:.1f} s"))


def check_n_m(c: Checker) -> Outcome:
    rows, _, _ = c.bench("-s", "2:4-magnitude", "-c", "2")
    problem = _ok(rows)
    if problem:
        return Outcome("FAIL", problem)
    result = subprocess.run([sys.executable, str(HERE / "nm_latency.py"), *(() if c.size == "full" else
                             ("--width", "256", "--batch", "256", "--reps", "5"))],
                            capture_output=True, text=True, env=c.env, timeout=600)
    text = " ".join(result.stdout.split())
    if "not measured" in text:
        return Outcome("PASS", f"2:4 run ok; semi-structured latency {text}")
    return Outcome("PASS" if result.returncode == 0 else "FAIL", text[-300:] or result.stderr[-300:])


def check_epoch(compiled: bool) -> Callable[[Checker], Outcome]:
    def check(c: Checker) -> Outcome:
        images = SIZES[c.size]["epoch_images"]
        args = [sys.executable, str(HERE / "epoch_time.py"), "--device", c.device, "--images", str(images),
                "--reps", "3" if c.size == "full" else "1", *(("--compile",) if compiled else ())]
        result = subprocess.run(args, capture_output=True, text=True, env=c.env, timeout=1200)
        lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
        if result.returncode or not lines:
            return Outcome("FAIL", " ".join(result.stderr.split())[-300:])
        data = json.loads(lines[-1])
        seconds = data["project"]["total_s"]
        name = "epoch-compiled" if compiled else "epoch-eager"
        gpu = data["device"]
        target = TARGETS[name] if ("H100" in gpu or "H200" in gpu) else None
        verdict = "PASS" if target is None or seconds <= target else "FAIL"
        goal = f" (target <= {target} s)" if target else " (no target for this device)"
        return Outcome(verdict, f"{seconds:.2f} s per ResNet-56 epoch on {gpu}, lean loop {data['lean']['total_s']:.2f} s,"
                                f" first epoch {data['project']['first_epoch_s']:.1f} s{goal}")

    return check


CHECKS: dict[str, Callable[[Checker], Outcome]] = {
    "default-device": check_default_device,
    "jobs-2": check_jobs,
    "bf16": check_precision("bf16"),
    "fp16": check_precision("fp16"),
    "compile": check_flag("--compile"),
    "channels-last": check_flag("--channels-last"),
    "deterministic": check_deterministic,
    "gradual": check_gradual,
    "structured": check_structured,
    "2:4": check_n_m,
    "epoch-eager": check_epoch(False),
    "epoch-compiled": check_epoch(True),
}


def install(wheels: Path) -> None:
    """Install the wheels in ``wheels`` into :data:`SITE` without the network, and use them from now on."""
    files = sorted(str(p) for p in wheels.glob("*.whl"))
    if not files:
        sys.exit(f"error: no wheels in {wheels}; build them with 'uv build --all-packages -o {wheels}'")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--target", SITE, *files],
                   check=True)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [SITE, os.environ.get("PYTHONPATH")]))
    sys.path.insert(0, SITE)


def main() -> int:
    """Run the checks; print one line per check and a summary; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="where the checks run: auto (default), cuda, cpu, mps")
    parser.add_argument("--size", choices=sorted(SIZES), default=None, help="tiny (CI on a CPU) or full (default on a GPU)")
    parser.add_argument("--install", type=Path, metavar="WHEELS", help="install these wheels offline first")
    parser.add_argument("--only", nargs="*", choices=sorted(CHECKS), help="run only these checks")
    args = parser.parse_args()
    if args.install:
        install(args.install)
    import torch

    size = args.size or ("full" if torch.cuda.is_available() and args.device != "cpu" else "tiny")
    print(f"gpu_check: torch {torch.__version__}, accelerator {_accelerator()}"
          f"{' ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else ''}, device {args.device}, size {size}")
    failed = 0
    with tempfile.TemporaryDirectory() as root:
        env = {**os.environ, "SHRINKBENCH_CACHE": str(Path(root) / "cache"), "HF_HUB_OFFLINE": "1"}
        from shrinkbench_vision.datasets.synthetic import write_cifar

        write_cifar(Path(root) / "cifar", train_per_batch=SIZES[size]["per_batch"], test_size=SIZES[size]["test"])
        checker = Checker(args.device, size, Path(root), env)
        for name in args.only or CHECKS:
            started = time.perf_counter()
            try:
                outcome = CHECKS[name](checker)
            except Exception as exc:  # noqa: BLE001 - a check that cannot run failed
                outcome = Outcome("FAIL", " ".join(f"{type(exc).__name__}: {exc}".split())[:400])
            failed += outcome.status == "FAIL"
            print(f"{outcome.status} {name}: {outcome.detail} [{time.perf_counter() - started:.0f} s]", flush=True)
    print(f"gpu_check: {len(args.only or CHECKS) - failed} of {len(args.only or CHECKS)} checks passed or skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
