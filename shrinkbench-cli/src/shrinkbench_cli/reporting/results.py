"""One results directory, read once for reporting: its fixed configuration, rows, curves and dense reference."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shrinkbench import schema
from shrinkbench.engine.store import ResultsStore

from .summary import Dense, Point, dense_reference, successful, summarize


@dataclass(frozen=True)
class Results:
    """What the report shows of one directory. ``label`` names it in tables and legends (its base name unless
    two compared directories share one); ``fixed`` and ``fingerprint`` come from ``sweep.json``."""

    directory: Path
    label: str
    fixed: dict[str, Any]
    fingerprint: str
    rows: list[dict[str, Any]]
    points: list[Point]
    dense: Dense

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The rows of failed runs, in file order."""
        return [r for r in self.rows if r.get(schema.STATUS) == schema.STATUS_FAILED]

    @property
    def selection(self) -> str:
        """How the reported epoch was chosen: ``final`` or ``best-val`` (``final`` when not recorded)."""
        return str(self.fixed.get("selection", "final"))

    def highest_compression_run(self) -> dict[str, Any] | None:
        """The successful run of the first strategy (in file order) with the highest target compression, the
        lowest seed among equals; ``None`` when no run succeeded."""
        ok = successful(self.rows)
        mine = [r for r in ok if r[schema.STRATEGY] == ok[0][schema.STRATEGY]] if ok else []
        return max(mine, key=lambda r: (r[schema.TARGET], -r[schema.SEED]), default=None)

    def flat_fixed(self) -> dict[str, Any]:
        """The fixed configuration with nested tables flattened to dotted keys (``finetune.lr``), in order."""
        return _flatten(self.fixed)

    def title(self) -> str:
        """``dataset · model``, the subject of every plot of this directory."""
        return f"{self.fixed.get(schema.DATASET, '?')} · {self.fixed.get(schema.MODEL, '?')}"

    def recipe_line(self) -> str:
        """Selection mode, precision, finetune recipe and fingerprint in one short line."""
        finetune = self.fixed.get("finetune") or {}
        recipe = f"finetune {finetune.get('epochs', '?')} ep, lr {finetune.get('lr', '?')}" if finetune else ""
        parts = [f"select: {self.selection}", self.fixed.get("precision", ""), recipe, f"recipe {self.fingerprint}"]
        return " · ".join(p for p in parts if p)


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def load_results(directory: str | Path, label: str | None = None) -> Results:
    """Read ``directory`` through its :class:`ResultsStore`. Raises the store's one-line
    :class:`~shrinkbench.errors.ShrinkBenchError` when it holds no ``results.csv``."""
    store = ResultsStore.existing(directory)
    experiments = store.experiments()
    rows = store.rows()
    if len(experiments) == 1:
        (stored,) = experiments.values()
        fixed, fingerprint = stored.get("fixed", {}), str(stored.get("fingerprint", "?"))
    else:  # several experiments: what they share, and the fingerprints of each
        parts = [e.get("fixed", {}) for e in experiments.values()]
        fixed = {k: val for k, val in parts[0].items() if all(p.get(k) == val for p in parts)} if parts else {}
        fingerprint = "+".join(str(e.get("fingerprint", "?")) for e in experiments.values()) or "?"
    return Results(Path(directory), label or Path(directory).resolve().name, fixed, fingerprint, rows,
                   summarize(rows), dense_reference(rows))
