"""The dependencies of the ``shrinkbench`` meta-distribution (this repository's root): every package of the
default install, and the optional plugins as extras.

Built from a clone, where the packages sit beside this file, they are direct references to their folders, so
``pip install .`` (or ``pip install git+https://...``) installs the whole clone without a package index. For a
release (``SHRINKBENCH_RELEASE=1 uv build``), or wherever the folders are absent, they are ``name==version``,
resolved from the package index.
"""

from __future__ import annotations

import os
from pathlib import Path

from hatchling.metadata.plugin.interface import MetadataHookInterface

DEFAULT = {"shrinkbench-core": "shrinkbench-core", "shrinkbench-cli": "shrinkbench-cli",
           **{f"shrinkbench-{p}": f"plugins/shrinkbench-{p}" for p in ("magnitude", "gradient", "random", "vision", "timm")}}
EXTRAS = {"ray": {"shrinkbench-ray": "plugins/shrinkbench-ray"},
          "structured": {"shrinkbench-structured": "plugins/shrinkbench-structured"},
          "text": {"shrinkbench-text": "plugins/shrinkbench-text"},
          "posttraining": {"shrinkbench-posttraining": "plugins/shrinkbench-posttraining"}}


class MetaDependencies(MetadataHookInterface):
    """Fills ``dependencies`` and ``optional-dependencies`` (declared dynamic in pyproject.toml)."""

    def update(self, metadata: dict) -> None:
        """Direct references to the sibling folders when they exist, else pins to this version."""
        root, version = Path(self.root), metadata["version"]
        release = os.environ.get("SHRINKBENCH_RELEASE", "") not in ("", "0")

        def requirement(name: str, folder: str) -> str:
            path = root / folder
            local = not release and (path / "pyproject.toml").is_file()
            return f"{name} @ {path.as_uri()}" if local else f"{name}=={version}"

        metadata["dependencies"] = [requirement(n, f) for n, f in DEFAULT.items()]
        metadata["optional-dependencies"] = {extra: [requirement(n, f) for n, f in packages.items()]
                                             for extra, packages in EXTRAS.items()}
