"""shrinkbench-text's registration (nothing heavy imported: every spec names its code lazily)."""

from __future__ import annotations
