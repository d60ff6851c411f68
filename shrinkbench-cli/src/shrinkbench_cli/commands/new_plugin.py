"""``shrinkbench new-plugin NAME``: write a ready-to-install plugin skeleton whose own tests pass.

The files come from the package data folder ``shrinkbench_cli/templates/plugin/``, a mirror of the generated
tree: ``.tmpl`` files are filled in with :class:`string.Template` (``${name}``, ``${dist}``, ``${module}``,
``${function}``, ``${core_version}``) and the path components ``__module__`` and ``__function__`` are renamed.
"""

from __future__ import annotations

import contextlib
import keyword
import os
import re
import shutil
import tempfile
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

import click

from shrinkbench.errors import ShrinkBenchError

TEMPLATE_PACKAGE = "shrinkbench_cli"
TEMPLATE_DIR = ("templates", "plugin")
DIST_PREFIX = "shrinkbench-"
NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
MAX_NAME = 64  # a folder, distribution and module name: far below any file system's limit


def plugin_names(name: str) -> dict[str, str]:
    """The substitutions for plugin ``name``: ``name`` (strategy and entry-point name), ``dist``
    (``shrinkbench-<name>``), ``module`` (``shrinkbench_<name>``), ``function`` (the strategy function) and
    ``core_version`` (the installed core's ``major.minor``).

    A leading ``shrinkbench-`` is dropped (``shrinkbench-foo`` and ``foo`` give the same plugin). Raises
    :class:`ShrinkBenchError` unless the rest is lowercase letters, digits and single hyphens, starting with a
    letter (so it is a valid strategy name, distribution name and, with ``-`` as ``_``, Python identifier).
    """
    short = name.removeprefix(DIST_PREFIX)
    if len(short) > MAX_NAME:
        raise ShrinkBenchError(f"invalid plugin name {name[:20]!r}...: use at most {MAX_NAME} characters")
    if not NAME_PATTERN.fullmatch(short):
        raise ShrinkBenchError(
            f"invalid plugin name {name!r}: use lowercase letters, digits and single hyphens, starting with a "
            "letter (e.g. 'my-pruner')"
        )
    snake = short.replace("-", "_")
    return {
        "name": short,
        "dist": DIST_PREFIX + short,
        "module": "shrinkbench_" + snake,
        "function": snake + "_" if keyword.iskeyword(snake) else snake,
        "core_version": _core_version(),
    }


def _core_version() -> str:
    try:
        major, minor, *_ = metadata.version("shrinkbench-core").split(".")
        return f"{major}.{minor}"
    except (metadata.PackageNotFoundError, ValueError):
        return "0.1"


def _templates() -> Traversable:
    return resources.files(TEMPLATE_PACKAGE).joinpath(*TEMPLATE_DIR)


def _walk(folder: Traversable, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Traversable]]:
    """Every template file under ``folder`` with its relative path parts, sorted."""
    out = []
    for item in sorted(folder.iterdir(), key=lambda t: t.name):
        if item.is_dir():
            if item.name != "__pycache__":
                out += _walk(item, (*prefix, item.name))
        elif item.name.endswith(".tmpl"):
            out.append(((*prefix, item.name), item))
    return out


def _target_path(parts: tuple[str, ...], names: dict[str, str]) -> Path:
    """``src/__module__/plugin.py.tmpl`` -> ``src/shrinkbench_foo/plugin.py``."""
    renamed = [p.replace("__module__", names["module"]).replace("__function__", names["function"]) for p in parts]
    renamed[-1] = renamed[-1].removesuffix(".tmpl")
    return Path(*renamed)


def _existing_owner(names: dict[str, str]) -> str | None:
    """Why the name is taken: an installed distribution of that name, or an installed plugin's strategy."""
    try:
        metadata.distribution(names["dist"])
        return f"a distribution called {names['dist']!r} is already installed"
    except metadata.PackageNotFoundError:
        pass
    from shrinkbench.plugins import get_registry

    registry = get_registry()
    if names["name"] in registry.entries["strategies"] or names["name"] in registry.aliases["strategies"]:
        owner = registry.plugin_of("strategies", names["name"])
        return f"the installed plugin {owner} already provides a strategy called {names['name']!r}"
    return None


def check_target(directory: Path, names: dict[str, str]) -> Path:
    """``directory/shrinkbench-<name>``, after checking it can be written: ``directory`` is, or can be
    created as, a writable directory, and the target does not exist or is an empty directory. Raises a
    one-line :class:`ShrinkBenchError` otherwise; writes nothing (a probe file is removed at once)."""
    from shrinkbench.atomic import check_writable_dir

    target = directory / names["dist"]
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise ShrinkBenchError(f"{target} already exists and is a file; choose another --dir or remove it")
    if target.exists() and any(target.iterdir()):
        raise ShrinkBenchError(f"{target} already exists and is not empty; choose another --dir or remove it")
    check_writable_dir(directory, "--dir", "choose another --dir")
    return target


def write_plugin(name: str, directory: Path) -> list[Path]:
    """Write the skeleton of plugin ``name`` into ``directory/shrinkbench-<name>``; return the files written.

    Raises :class:`ShrinkBenchError` for an invalid name (see :func:`plugin_names`), a ``directory`` that
    cannot be written, or a target that exists and is not an empty directory. The skeleton is written into a
    temporary folder beside the target and renamed into place whole: nothing is left behind when it raises
    (folders created for ``directory`` are removed again).
    """
    names = plugin_names(name)
    target = check_target(directory, names)
    rendered = []
    for parts, template in _walk(_templates()):
        try:
            text = Template(template.read_text(encoding="utf-8")).substitute(names)
        except (KeyError, ValueError) as exc:  # a bug in a template, not the user's fault
            raise RuntimeError(f"template {'/'.join(parts)}: bad placeholder {exc}") from exc
        rendered.append((target / _target_path(parts, names), text))
    created = [p for p in (directory.absolute(), *directory.absolute().parents) if not p.exists()]
    try:
        directory.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{names['dist']}-", dir=directory))
        try:
            for path, text in rendered:
                draft = work / path.relative_to(target)
                draft.parent.mkdir(parents=True, exist_ok=True)
                draft.write_text(text, encoding="utf-8")
            os.chmod(work, 0o777 & ~_umask())
            os.rename(work, target)  # replaces an empty target folder; atomic
        finally:
            shutil.rmtree(work, ignore_errors=True)
    except OSError as exc:
        for folder in created:
            with contextlib.suppress(OSError):  # only while empty
                folder.rmdir()
        raise ShrinkBenchError(f"cannot write {target}: {exc.strerror or exc}; nothing was written") from None
    return [path for path, _ in rendered]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@click.command("new-plugin")
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Where to create the shrinkbench-NAME folder.")
def new_plugin(name: str, directory: Path) -> None:
    """Write a ready-to-install plugin skeleton: DIR/shrinkbench-NAME with a strategy called NAME.

    The skeleton has its pyproject.toml entry point, a README, src/shrinkbench_NAME/{plugin,strategies}.py
    (a working magnitude strategy to edit) and tests using the conformance kit that pass as generated.

    \b
    Example:
      shrinkbench new-plugin my-pruner
      cd shrinkbench-my-pruner && uv pip install -e ".[test]" && pytest
      shrinkbench bench --strategy my-pruner -c 2,4,8
    """
    names = plugin_names(name)
    check_target(directory, names)  # a bad --dir is reported before the (slower) name check
    reason = _existing_owner(names)
    if reason:
        raise ShrinkBenchError(f"cannot use the name {names['name']!r}: {reason}; choose another name")
    files = write_plugin(name, directory)
    root = directory / names["dist"]
    click.echo(f"Created {root} ({len(files)} files):")
    for path in files:
        click.echo(f"  {path.relative_to(root)}")
    click.echo(f"\nNext:\n  cd {root}\n  uv pip install -e \".[test]\"    # or: pip install -e \".[test]\"\n"
               f"  pytest\n  shrinkbench list strategies {names['name']}\n"
               f"  shrinkbench bench --strategy {names['name']} -c 2,4,8")
