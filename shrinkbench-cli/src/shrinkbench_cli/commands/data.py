"""``shrinkbench data``: which datasets are on this machine, where the loaders find them, and their download.

Works through the optional ``status`` / ``download`` targets of :class:`shrinkbench.DatasetSpec`; a dataset
that declares neither shows as unknown. Downloads go into a temporary directory inside the data root and are
moved into place only once complete and verified: a failure or Ctrl-C leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import click

from shrinkbench.errors import ShrinkBenchError
from shrinkbench.plugins import Registry, get_registry
from shrinkbench.specs import DatasetSpec, DataStatus

from ..app import Interrupted

DATAPATH_VAR = "DATAPATH"
ROOT_HELP = (f"Data directory; several separated by '{os.pathsep}' are searched in order, the first that has a "
             "dataset wins. Default: $DATAPATH.")


@click.group("data")
def data() -> None:
    """See, check and download datasets: what is under your data directories, where each loader reads it.

    A data directory is --root, else $DATAPATH; both may list several directories separated by ':' (the first
    that has a dataset wins, as for 'shrinkbench bench --data-root'). ImageNet cannot be downloaded (licence):
    'shrinkbench data download imagenet' says where to get it.

    \b
    From nothing to a first CIFAR-10 result (drop the epoch flags for the standard 160 + 30 epoch recipe):
      shrinkbench data download cifar10 --root ~/data
      shrinkbench bench -d cifar10 -m resnet20 --data-root ~/data -s global-magnitude -c 2,4 --pretrain-epochs 10 --finetune-epochs 3
      shrinkbench report shrinkbench-results/cifar10-resnet20

    \b
    Examples:
      shrinkbench data list                 every dataset: present? verified? size, where
      shrinkbench data list --json          the same for scripts
      shrinkbench data path cifar10         the folder the loader reads (exit 1 when absent)
      DATAPATH=/fast:/big shrinkbench data list
    """


def _search_path(root: str | None) -> list[Path]:
    """The directories to search: ``--root`` (each must be an existing directory) or ``$DATAPATH``'s entries
    (missing ones are skipped by the loaders too); an entry that is a file is an error."""
    if root is None:
        return _entries(os.environ.get(DATAPATH_VAR, ""), f"${DATAPATH_VAR} entry")
    dirs = _entries(root, "--root")
    for directory in dirs:
        if not directory.exists():
            raise ShrinkBenchError(f"--root {directory} does not exist")
    return dirs


def _entries(value: str, label: str) -> list[Path]:
    """The ``os.pathsep``-separated directories of ``value``; empty is an error for ``--root``."""
    dirs = [Path(p).expanduser() for p in value.split(os.pathsep) if p.strip()]
    if label == "--root" and not dirs:
        raise ShrinkBenchError("--root is empty: give a directory")
    for directory in dirs:
        if directory.exists() and not directory.is_dir():
            raise ShrinkBenchError(f"{label} {directory} is a file, not a directory")
    return dirs


def _check(registry: Registry, name: str, spec: DatasetSpec, roots: list[Path], verify: bool) -> DataStatus | None:
    with registry.blame("datasets", name):
        status = spec.locate(roots, verify=verify)
    if status is not None and not isinstance(status, DataStatus):
        raise ShrinkBenchError(f"dataset {name!r}: its status check returned {type(status).__name__}, not DataStatus")
    return status


def human(size: int) -> str:
    """Bytes as a short decimal size: ``178 MB``, ``1.8 GB``."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            value = size / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{size} B"


def _row(name: str, plugin: str, spec: DatasetSpec, status: DataStatus | None, error: str = "") -> dict:
    unknown = "bundled with its plugin" if spec.bundled else "the plugin declares no status check"
    row = {"name": name, "plugin": plugin, "present": True if spec.bundled and not error else None,
           "verified": None, "size": 0, "path": None, "root": None, "detail": error or unknown,
           "bundled": spec.bundled, "downloadable": spec.download is not None, "source": spec.source}
    if status is not None:
        row.update(present=status.present, verified=status.verified, size=status.size, detail=status.detail,
                   path=str(status.path) if status.path else None, root=str(status.root) if status.root else None)
    return row


@data.command("list")
@click.option("--root", metavar="DIR", help=ROOT_HELP)
@click.option("--json/--no-json", "as_json", default=False,
              help="Print one JSON object (keys roots, datasets) instead of a table.")
def list_data(root: str | None, as_json: bool) -> None:
    """Show every installed dataset: present, verified, size on disk and where it was found.

    Verifying reads the files: CIFAR's MD5s take about a second per dataset, an ImageNet tree is walked to
    count its 1.3M images. 'verified' is yes when every file matches its published checksum, NO when one does
    not (the detail says which), '-' when there is nothing to check against.

    With --json: {"roots": [dirs searched], "datasets": [{name, plugin, present, verified, size (bytes), path,
    root, detail, bundled, downloadable, source}]}; present/verified are true, false or null (unknown).
    """
    registry = get_registry()
    roots = _search_path(root)
    rows = []
    for entry in registry.list("datasets"):
        with _spinner(f"checking {entry.name}"):
            try:
                status = _check(registry, entry.name, entry.spec, roots, verify=True)
            except ShrinkBenchError as exc:
                rows.append(_row(entry.name, entry.plugin, entry.spec, None, f"status check failed: {exc}"))
                continue
        rows.append(_row(entry.name, entry.plugin, entry.spec, status))
    if as_json:
        click.echo(json.dumps({"roots": [str(r) for r in roots], "datasets": rows}, indent=2))
        return
    _print_table(rows, roots)


def _spinner(text: str):
    if not sys.stderr.isatty():
        return contextlib.nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(text)


def _print_table(rows: list[dict], roots: list[Path]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from ..progress_view import make_console

    verified_marks = {True: "yes", False: "[red]NO[/red]", None: "-"}

    where = ", ".join(str(r) for r in roots) or f"no data directory (${DATAPATH_VAR} not set, no --root)"
    table = Table(title=f"datasets under {where}", title_justify="left")
    for column in ("name", "present", "verified", "size", "where / detail"):
        table.add_column(column, overflow="fold", style="bold cyan" if column == "name" else None)
    for row in rows:
        present = {True: "bundled" if row["bundled"] else "yes", False: "no", None: "?"}[row["present"]]
        verified = verified_marks[row["verified"]] if row["present"] else "-"
        detail = row["detail"].removeprefix(f"looked in {where}: ")
        if not roots and not row["bundled"] and row["present"] is False:
            detail = "-"
        if row["present"] and row["path"]:
            detail = f"{row['path']}: {detail}"
        elif not row["present"] and row["downloadable"]:
            detail += f" (shrinkbench data download {row['name']})"
        table.add_row(escape(row["name"]), present, verified, human(row["size"]) if row["size"] else "-", escape(detail))
    make_console().print(table)


@data.command("path")
@click.argument("name")
@click.option("--root", metavar="DIR", help=ROOT_HELP)
def path(name: str, root: str | None) -> None:
    """Print the folder holding NAME's files, the one its loader reads (e.g. ~/data/cifar-10-batches-py).

    Exit 1, with the directories searched on stderr, when the dataset is absent. Checks presence only, not
    checksums ('shrinkbench data list' verifies). Example: ls "$(shrinkbench data path cifar10)"
    """
    registry = get_registry()
    spec = registry.dataset(name)
    status = _check(registry, name, spec, _search_path(root), verify=False)
    if status is None:
        raise ShrinkBenchError(f"dataset {name!r} declares no status check: see its plugin's documentation")
    if not status.present:
        click.echo(f"{name} not found: {status.detail}", err=True)
        sys.exit(1)
    click.echo(str(status.path))


@data.command("download")
@click.argument("name")
@click.option("--root", metavar="DIR",
              help=f"Directory to download into (created if missing). Default: the first entry of ${DATAPATH_VAR}.")
@click.option("--force/--no-force", default=False,
              help="Download again and replace what is there, even when present (or damaged, or incomplete).")
def download(name: str, root: str | None, force: bool) -> None:
    """Download dataset NAME into --root, checking every file against its published checksum.

    The vision datasets use torchvision's downloader, URLs and MD5s, with a progress bar. Writes exactly the
    layout the loader reads, so 'bench --data-root DIR' finds it. Already present and verified: says so and
    downloads nothing. The files arrive in a temporary directory inside DIR and are moved into place only when
    complete and verified: a network error, a failed checksum or Ctrl-C leaves nothing behind. What each
    dataset fetches, and how big it is: 'source' in 'shrinkbench data list --json', or the line printed when
    the download starts.

    \b
    Examples:
      shrinkbench data download cifar10 --root ~/data      170 MB
      shrinkbench data download mnist                      into the first $DATAPATH directory
      shrinkbench data download cifar10 --root ~/data --force   replace a damaged copy
    """
    registry = get_registry()
    spec = registry.dataset(name)
    name = spec.name
    if spec.bundled:
        click.echo(f"{name} is bundled with its plugin ({registry.plugin_of('datasets', name)}): nothing to download")
        return
    if spec.download is None:
        where = spec.source or "its plugin declares no download; see the plugin's documentation"
        raise ShrinkBenchError(f"{name} cannot be downloaded by shrinkbench: {where}")
    target = _download_root(root)
    _check_writable(target)
    status = _check(registry, name, spec, [target], verify=True) if target.is_dir() else None
    if status is not None and status.present and not force:
        if status.verified is False:
            raise ShrinkBenchError(f"{name} is in {status.path} but does not verify: {status.detail}; "
                                   "--force downloads it again and replaces it")
        state = "present and verified" if status.verified else "present (nothing to verify it against)"
        click.echo(f"{name} is already {state} in {status.path}: {status.detail}")
        return
    if status is not None and status.path is not None and not status.present and not force:
        raise ShrinkBenchError(f"{status.detail}; remove it or pass --force to replace it")
    _check_space(name, spec, target)
    click.echo(f"downloading {name} into {target}: {spec.source}", err=True)
    created = [p for p in (target, *target.parents) if not p.exists()]  # removed again if the download fails
    target.mkdir(parents=True, exist_ok=True)
    try:
        _download_into(registry, name, spec, target, status if force else None, force)
    except BaseException:
        for directory in created:
            with contextlib.suppress(OSError):  # only while empty
                directory.rmdir()
        raise
    final = _check(registry, name, spec, [target], verify=False)
    size = f" ({human(final.size)})" if final and final.size else ""
    click.echo(f"{name}: downloaded and verified into {final.path if final else target}{size}")
    click.echo(f"next: shrinkbench bench -d {name} --data-root {target}")


def _download_root(root: str | None) -> Path:
    if root is not None:
        dirs = _entries(root, "--root")
        if len(dirs) != 1:
            raise ShrinkBenchError(f"download writes into one directory, --root {root!r} names {len(dirs)}")
        return dirs[0]
    dirs = _entries(os.environ.get(DATAPATH_VAR, ""), f"${DATAPATH_VAR} entry")
    if not dirs:
        raise ShrinkBenchError(f"where to? pass --root DIR (${DATAPATH_VAR} is not set)")
    return dirs[0]


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return path


def _check_writable(target: Path) -> None:
    """A one-line error unless ``target`` is, or can be created as, a directory this process can write to
    (tried with a probe file, removed at once: permission bits do not tell for root or read-only mounts)."""
    from shrinkbench.atomic import check_writable_dir

    anchor = _existing_ancestor(target)
    if not anchor.is_dir():
        raise ShrinkBenchError(f"cannot create {target}: {anchor} is a file")
    check_writable_dir(target, "data directory", "choose another --root")


def _check_space(name: str, spec: DatasetSpec, target: Path) -> None:
    free = shutil.disk_usage(_existing_ancestor(target)).free
    if spec.download_size and free < spec.download_size:
        raise ShrinkBenchError(f"{name} needs about {human(spec.download_size)} free in {target}, "
                               f"{human(free)} available")


def _download_into(registry: Registry, name: str, spec: DatasetSpec, target: Path, old: DataStatus | None,
                   force: bool) -> None:
    """Run the plugin's download into a fresh temporary directory in ``target``, verify it, move it into place
    (with ``force``, replacing what is in the way, ``old``'s folder first); always delete the temporary
    directory."""
    try:
        work = Path(tempfile.mkdtemp(prefix=f".shrinkbench-download-{name}-", dir=target))
    except OSError as exc:
        raise ShrinkBenchError(f"cannot write to {target}: {exc.strerror or exc}") from None
    fresh = work / "new"
    fresh.mkdir()
    try:
        with registry.blame("datasets", name):
            spec.fetcher()(fresh)
            status = spec.locate([fresh], verify=True)
        if status is None or not status.present or status.verified is False:
            why = status.detail if status else "no status check"
            raise ShrinkBenchError(f"{name} download did not produce the layout its loader reads: {why}")
        _move_into_place(fresh, target, work, old, force)
    except KeyboardInterrupt:
        raise Interrupted(f"{name} download stopped; nothing was written to {target}") from None
    except OSError as exc:
        raise ShrinkBenchError(f"{name} download failed: {exc.strerror or exc} ({exc.filename or target})") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _move_into_place(fresh: Path, target: Path, work: Path, old: DataStatus | None, force: bool) -> None:
    """Move every entry of ``fresh`` into ``target``, merging into existing folders. A file or folder in the
    way is a conflict (nothing is moved) unless ``force``: then ``old.path`` (the dataset's previous folder) is
    set aside whole, and anything else in the way is deleted."""
    aside = None
    if force and old is not None and old.path is not None and old.path.exists():
        try:
            relative = old.path.resolve().relative_to(target.resolve())
        except ValueError:
            relative = None
        if relative is not None and (fresh / relative).exists():
            aside = (old.path, work / "replaced")
            os.rename(*aside)
    try:
        moves: list[tuple[Path, Path]] = []
        conflicts: list[Path] = []
        _plan(fresh, target, moves, conflicts)
        if conflicts and not force:
            more = f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
            raise ShrinkBenchError(f"{conflicts[0]}{more} is in the way: move it away or pass --force to replace it")
        for path in conflicts:
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        for source, destination in moves:
            os.rename(source, destination)
    except BaseException:
        if aside and not aside[0].exists():
            os.rename(aside[1], aside[0])
        raise


def _plan(source_dir: Path, target_dir: Path, moves: list, conflicts: list) -> None:
    for entry in sorted(source_dir.iterdir()):
        destination = target_dir / entry.name
        if not destination.exists() and not destination.is_symlink():
            moves.append((entry, destination))
        elif entry.is_dir() and destination.is_dir() and not destination.is_symlink():
            _plan(entry, destination, moves, conflicts)
        else:
            conflicts.append(destination)
            moves.append((entry, destination))
