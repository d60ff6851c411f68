"""shrinkbench-text's registration (nothing heavy imported: every spec names its code lazily)."""

from __future__ import annotations

from shrinkbench import DatasetSpec, hookimpl


@hookimpl
def shrinkbench_datasets() -> list[DatasetSpec]:
    """The text corpora (task ``causal-lm``): the bundled ``shakespeare``, and ``wikitext2``, ``c4`` and ``ptb``
    from a data directory (see :mod:`shrinkbench_text.corpora`)."""
    from .corpora.specs import dataset_specs

    return dataset_specs()
