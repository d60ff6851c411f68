"""Download size of a first install: the wheels ``uv sync`` fetches for the default install (or the packages of
one extra), read from ``uv.lock`` for this machine's platform and Python, without downloading anything.

    uv run python benchmarks/install_size.py            # the default install (uv run shrinkbench ...)
    uv run python benchmarks/install_size.py --extra ray
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.tags import sys_tags
from packaging.utils import parse_wheel_filename

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    """Print the number of wheels and their total size in MB, and the ten largest."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", default=None, help="an extra of the meta-distribution (e.g. ray)")
    args = parser.parse_args()
    export = ["uv", "export", "--frozen", "--no-hashes", "--no-emit-workspace", "--no-dev", "--quiet"]
    if args.extra:
        export += ["--extra", args.extra]
    wanted = {line.split("==")[0].lower().replace("_", "-") for line in
              subprocess.run(export, capture_output=True, text=True, check=True, cwd=ROOT).stdout.splitlines()
              if "==" in line and not line.startswith("#")}
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    tags = list(sys_tags())
    chosen: dict[str, int] = {}
    for package in lock["package"]:
        name = package["name"]
        if name not in wanted:
            continue
        best = None
        for wheel in package.get("wheels", []):
            _, _, _, wheel_tags = parse_wheel_filename(wheel["url"].rsplit("/", 1)[1])
            rank = min((tags.index(t) for t in wheel_tags if t in tags), default=None)
            if rank is not None and (best is None or rank < best[0]):
                best = (rank, wheel.get("size", 0))
        if best is not None:
            chosen[name] = best[1]
    total = sum(chosen.values())
    print(f"{len(chosen)} wheels for {platform.machine()} CPython {sys.version_info.major}.{sys.version_info.minor}"
          f"{' + extra ' + args.extra if args.extra else ''}: {total / 1e6:,.0f} MB to download")
    for name, size in sorted(chosen.items(), key=lambda kv: -kv[1])[:10]:
        print(f"  {name:<32} {size / 1e6:>9,.1f} MB")


if __name__ == "__main__":
    main()
