"""Parsing of comma-separated option values into typed lists with one-line errors."""

from __future__ import annotations

import math

import click


class FloatList(click.ParamType):
    """``1,2,4.5`` -> ``(1.0, 2.0, 4.5)``; every value must be a finite number >= ``minimum``."""

    name = "LIST"

    def __init__(self, minimum: float, what: str) -> None:
        self.minimum, self.what = minimum, what

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        items = [v.strip() for v in str(value).split(",") if v.strip()]
        if not items:
            self.fail(f"give at least one {self.what}, e.g. 1,2,4", param, ctx)
        out = []
        for item in items:
            try:
                number = float(item)
            except ValueError:
                self.fail(f"{item!r} is not a number (expected e.g. 1,2,4.5)", param, ctx)
            if not math.isfinite(number) or number < self.minimum:
                self.fail(f"{self.what} must be >= {self.minimum:g}, got {item} (1 = no pruning)", param, ctx)
            out.append(number)
        return tuple(dict.fromkeys(out))


class IntList(click.ParamType):
    """``0,1,2`` -> ``(0, 1, 2)``; non-negative integers."""

    name = "LIST"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            out = tuple(dict.fromkeys(int(v) for v in str(value).split(",") if v.strip()))
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of integers (e.g. 0,1,2)", param, ctx)
        if not out or min(out) < 0:
            self.fail(f"give non-negative integer seeds, e.g. 0,1,2 (got {value!r})", param, ctx)
        return out
