"""Install ShrinkBench the way pip users do, into fresh virtual environments made with ``python -m venv``:

1. from wheels: ``pip install --find-links WHEELS shrinkbench`` (the published meta-distribution, its packages
   and their dependencies resolved by pip), then ``shrinkbench --version``, ``shrinkbench list`` and a 2-run bench;
2. from the clone: ``pip install .`` at the repository root, then ``shrinkbench list``.

torch, torchvision and timm are put into each venv first from uv's cache, at the versions of the lock (pip would
otherwise download several GB of CUDA torch every time); pip then finds them installed and resolves the rest.
Run by the nox session ``pip-install``: ``python tests/check_pip_install.py WHEELS_DIR CONSTRAINTS``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "timm")


def run(*args: str, cwd: Path | None = None, env: dict | None = None) -> str:
    """Run a command, echo it, fail loudly with its output."""
    print("+", " ".join(args), flush=True)
    result = subprocess.run(args, capture_output=True, text=True, cwd=cwd, env=env)
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(args)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


def fresh_venv(where: Path, constraints: Path) -> Path:
    """A ``python -m venv`` with the heavy dependencies linked from uv's cache; returns its bin directory."""
    run(sys.executable, "-m", "venv", str(where))
    pins = [line.split(";")[0].strip() for line in constraints.read_text().splitlines()
            if line.split("==")[0] in HEAVY]
    run("uv", "pip", "install", "--quiet", "--python", str(where / "bin" / "python"), *pins)
    return where / "bin"


def main(wheels: Path, constraints: Path) -> None:
    """Both installs and their checks; exits non-zero with the failing command's output."""
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(scratch), "SHRINKBENCH_CACHE": str(scratch / "cache"),
               "HF_HUB_OFFLINE": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        bin_dir = fresh_venv(scratch / "wheels-venv", constraints)
        run(str(bin_dir / "pip"), "install", "--quiet", "--find-links", str(wheels), "shrinkbench", env=env)
        versions = run(str(bin_dir / "shrinkbench"), "--version", env=env)
        for dist in ("shrinkbench-core", "shrinkbench-magnitude", "shrinkbench-gradient", "shrinkbench-random",
                     "shrinkbench-vision", "shrinkbench-timm"):
            assert dist in versions, f"{dist} missing from shrinkbench --version:\n{versions}"
        listing = run(str(bin_dir / "shrinkbench"), "list", "strategies", env=env)
        assert "global-magnitude" in listing and "random" in listing, listing
        out = scratch / "out"
        run(str(bin_dir / "shrinkbench"), "bench", "-s", "global-magnitude", "-c", "2,4", "--pretrain-epochs", "1",
            "--finetune-epochs", "1", "--out", str(out), "--no-report", env=env)
        rows = (out / "results.csv").read_text().splitlines()
        assert len(rows) == 3 and all(",ok," in row for row in rows[1:]), rows
        print("ok: pip install --find-links WHEELS shrinkbench; --version lists every plugin; a 2-run bench")
        bin_dir = fresh_venv(scratch / "clone-venv", constraints)
        run(str(bin_dir / "pip"), "install", "--quiet", ".", cwd=ROOT, env=env)
        assert "global-magnitude" in run(str(bin_dir / "shrinkbench"), "list", "strategies", env=env)
        print("ok: pip install . from the clone")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
