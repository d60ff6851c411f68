"""Click parameter types for comma-separated lists. They only parse the text; ranges (compression >= 1,
seeds >= 0, ...) are checked by core's :func:`shrinkbench.engine.assemble.build_sweep_config`, the same
rule for flags and config files."""

from __future__ import annotations

import click


class NumberList(click.ParamType):
    """``1,2,4.5`` -> ``(1.0, 2.0, 4.5)`` (``integers=True``: ``0,1,2`` -> ``(0, 1, 2)``)."""

    name = "LIST"

    def __init__(self, integers: bool = False) -> None:
        self.integers = integers

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        items = [v.strip() for v in str(value).split(",") if v.strip()]
        kind, example = ("integer", "0,1,2") if self.integers else ("number", "1,2,4.5")
        if not items:
            self.fail(f"give at least one {kind}, e.g. {example}", param, ctx)
        out = []
        for item in items:
            try:
                out.append(int(item) if self.integers else float(item))
            except ValueError:
                self.fail(f"{item!r} is not a{'n' if self.integers else ''} {kind} (expected e.g. {example})", param, ctx)
        return tuple(out)


def switch(name: str, help_text: str):  # noqa: ANN201 - a click decorator
    """A boolean ``--NAME/--no-NAME`` option whose value is ``None`` when neither is given (so a config file's
    value stands), e.g. ``--compile`` / ``--no-compile``."""
    return click.option(f"--{name}/--no-{name}", default=None, help=help_text)
