"""Every hook specification is documented and implemented by at least one installed plugin."""

from __future__ import annotations

import inspect

import pytest

from shrinkbench import hookspecs
from shrinkbench.plugins import KINDS, load_registry

HOOKS = [name for name, fn in vars(hookspecs).items() if name.startswith("shrinkbench_") and inspect.isfunction(fn)]


def test_hook_names_match_the_registry_kinds():
    assert sorted(HOOKS) == sorted(f"shrinkbench_{kind}" for kind in KINDS)


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_with_an_example(hook):
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert len(doc.splitlines()[0]) > 20, f"{hook} needs a one-line contract"
    assert "Example::" in doc and "@hookimpl" in doc, f"{hook} needs an example implementation"


@pytest.mark.parametrize("kind", KINDS)
def test_hook_is_exercised_by_an_installed_plugin(kind):
    registry = load_registry()
    assert registry.list(kind), f"no installed plugin implements shrinkbench_{kind}"
