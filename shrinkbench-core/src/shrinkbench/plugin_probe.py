"""Finding plugins whose import ends the process (``os._exit``, a crash in native code) or never finishes.

Such a plugin cannot be caught in process: the interpreter is gone (or stuck) before any ``except``. So before
the first real import of a set of installed plugins, a *subprocess* (``sys.executable``, safe on every OS,
unlike ``fork``) imports them one by one, announcing each one on its stdout before importing it; the parent
reads the announcements with a timeout per import. When the child dies, the last plugin it announced is the
culprit; when no announcement arrives in time, the plugin being imported is killed with its child. The parent
skips such a plugin (``failed`` with a one-line reason, never imported by the main process) and probes the
rest in a fresh child.

A set that imported cleanly is remembered in ``$SHRINKBENCH_CACHE/plugins/``: one small file per set of
(plugin name, entry point, interpreter), holding a fingerprint of each plugin's distribution name and version
and of the modification time and size of every file of its top-level package. Editing or upgrading a plugin
changes the fingerprint and re-probes the set; a warm check costs a few ``stat`` calls. The files are found
without importing anything: :func:`importlib.util.find_spec` of a *top-level* name executes no plugin code
(it only asks the import system's finders, editable installs' ``.pth`` paths and finders included); namespace
packages are descended through the file system. Sets with a culprit are not remembered (they are probed
again next time), nor is anything when the cache cannot be written (a read-only cache probes every time).

Environment: ``SHRINKBENCH_PROBE_TIMEOUT`` -- seconds one plugin's import may take in the probe
(default :data:`DEFAULT_TIMEOUT`). When no child can be started nothing is probed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:  # imported where a probe runs: a warm check does without them (~3 ms)
    import queue
    import subprocess

from .atomic import atomic_write_text
from .cache import cache_dir

__all__ = ["DEFAULT_TIMEOUT", "Plugin", "cache_key", "hard_exits", "probe_timeout"]

DEFAULT_TIMEOUT = 60.0
"""Seconds one plugin's import may take in the probe child before it counts as hung."""

MAX_FILES = 5000
"""At most this many files of one plugin's package enter its fingerprint (a bound on the warm cost)."""

Plugin = tuple[str, str, str, metadata.EntryPoint]
"""A plugin to probe: (plugin name, distribution name, distribution version, entry point)."""

_DONE = "done"
_TIMED_OUT = "\x00timed out"
_FIX = "skipped -- fix or uninstall it"

# The child: read {"path": sys.path, "modules": [[module, attr], ...]} from stdin, silence fds 0-2, announce
# each plugin's index on a private copy of stdout before importing it, then "done". Only hard exits matter.
_CHILD = r"""
import importlib, json, os, sys
request = json.loads(sys.stdin.read())
sys.path[:] = request["path"]
out = os.dup(1)
null = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(null, fd)
for index, (module, attr) in enumerate(request["modules"]):
    os.write(out, b"%d\n" % index)
    try:
        obj = importlib.import_module(module)
        for name in filter(None, attr.split(".")):
            obj = getattr(obj, name)
    except BaseException:
        pass
os.write(out, b"done\n")
os._exit(0)
"""


def hard_exits(plugins: Sequence[Plugin]) -> dict[str, str]:
    """``{plugin name: one-line reason}`` for the plugins whose import ends or hangs the process ({} when fine).

    Probes in a subprocess unless this exact set (same names, entry points, versions and source files) was
    probed clean before; remembers a clean set when the cache is writable. Never imports a plugin here. An
    entry point that is not ``module[:attr]`` is left out (its import fails, and says why, in the caller).
    """
    plugins = [p for p in plugins if _target(p[3]) is not None]
    if not plugins:
        return {}
    record = cache_dir() / "plugins" / f"clean-{_set_id(plugins)}"
    key = cache_key(plugins)
    try:
        if record.read_text() == key:
            return {}
    except (OSError, ValueError):
        pass
    found, complete = _probe_all(plugins, probe_timeout())
    if complete and not found:
        try:
            record.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(record, key)
        except OSError:
            pass  # a read-only cache: probe again next time
    return found


def _target(entry_point: metadata.EntryPoint) -> tuple[str, str] | None:
    """``(module, attribute path)`` an entry point names (``""``: the module itself); ``None`` when malformed."""
    try:
        return entry_point.module, entry_point.attr or ""
    except AttributeError:  # the value does not match ``module[:attr]``
        return None


def probe_timeout() -> float:
    """Seconds one import may take in the probe: ``$SHRINKBENCH_PROBE_TIMEOUT`` when a positive number, else
    :data:`DEFAULT_TIMEOUT`."""
    try:
        value = float(os.environ.get("SHRINKBENCH_PROBE_TIMEOUT", ""))
    except ValueError:
        return DEFAULT_TIMEOUT
    return value if value > 0 else DEFAULT_TIMEOUT


# -- the cache key --------------------------------------------------------------------------------------


def cache_key(plugins: Sequence[Plugin]) -> str:
    """A digest that changes when the interpreter, a plugin's name, entry point, distribution or version, or
    the modification time, size or name of any file of a plugin's top-level package changes."""
    digest = hashlib.sha256(json.dumps([sys.executable, sys.version]).encode())
    for name, dist, version, entry_point in sorted(plugins, key=lambda p: p[0]):
        digest.update(json.dumps([name, entry_point.value, dist, version]).encode())
    roots = sorted({root for *_, entry_point in plugins for root in source_roots(entry_point.module)})
    for root in roots:
        for path, stat in _files(root):
            digest.update(f"{path}\0{stat.st_mtime_ns}\0{stat.st_size}\n".encode(errors="surrogateescape"))
    return digest.hexdigest()


def _set_id(plugins: Sequence[Plugin]) -> str:
    """The name of a set's record: its plugins and entry points and this interpreter (not versions or files,
    so that an edit replaces the record instead of adding one)."""
    described = [sys.executable, sorted((name, entry_point.value) for name, _, _, entry_point in plugins)]
    return hashlib.sha256(json.dumps(described).encode()).hexdigest()[:16]


def source_roots(module: str) -> list[str]:
    """The files or folders holding the top-level package of ``module``, found without importing anything.

    A regular package or module answers with its own location; a namespace package is descended along
    ``module`` through the file system until a regular package (or nothing) is found. [] when not found.
    """
    top, *rest = module.split(".")
    try:
        spec = importlib.util.find_spec(top)  # a top-level name: no parent package is imported
    except (ImportError, ValueError, AttributeError):
        return []
    if spec is None:
        return []
    if spec.submodule_search_locations is None:
        return [spec.origin] if spec.has_location and spec.origin else []
    roots = [str(p) for p in spec.submodule_search_locations]
    if spec.has_location:  # a regular package
        return roots
    for part in rest:  # a namespace package: descend to the first regular package or module
        folders = [os.path.join(r, part) for r in roots if os.path.isdir(os.path.join(r, part))]
        modules = [os.path.join(r, f) for r in roots if os.path.isdir(r) for f in os.listdir(r)
                   if f.split(".", 1)[0] == part and os.path.isfile(os.path.join(r, f))]
        if modules or not folders:
            return modules
        roots = folders
        if any(os.path.isfile(os.path.join(f, "__init__.py")) for f in folders):
            break
    return roots


def _files(root: str) -> Iterator[tuple[str, os.stat_result]]:
    """``(path, stat)`` of ``root`` (a file) or of the files under it in a stable order, skipping
    ``__pycache__`` and hidden folders, at most :data:`MAX_FILES`."""
    if not os.path.isdir(root):
        try:
            yield root, os.stat(root)
        except OSError:
            pass
        return
    count = 0
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if d != "__pycache__" and not d.startswith("."))
        for name in sorted(names):
            path = os.path.join(folder, name)
            try:
                yield path, os.stat(path)
            except OSError:
                continue
            count += 1
            if count >= MAX_FILES:
                return


# -- the probe ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Run:
    """What one probe child did: the index of the last plugin it announced (-1: none), whether it finished,
    its exit code (``None`` when it was killed for taking too long)."""

    last: int
    done: bool
    exit_code: int | None


def _probe_all(plugins: Sequence[Plugin], timeout: float) -> tuple[dict[str, str], bool]:
    """Probe ``plugins`` until every one imported, failed or was blamed; ``(culprits, complete)``, where
    ``complete`` is False when a child could not be started or died before importing anything."""
    found: dict[str, str] = {}
    remaining = list(plugins)
    while remaining:
        run = _run_child([p[3] for p in remaining], timeout)
        if run is None or (run.last < 0 and not run.done):
            return found, False
        if run.done:
            break
        found[remaining[run.last][0]] = _reason(run.exit_code, timeout)
        remaining = remaining[run.last + 1:]
    return found, True


def _reason(exit_code: int | None, timeout: float) -> str:
    """The one-line reason a plugin is skipped, from its child's exit code (``None``: it timed out)."""
    if exit_code is None:
        return f"import did not finish within {timeout:g} s (SHRINKBENCH_PROBE_TIMEOUT); {_FIX}"
    import signal

    how = f"exit code {exit_code}"
    if exit_code < 0:
        try:
            how += f", {signal.Signals(-exit_code).name}"
        except ValueError:
            pass
    return f"ended the process while being imported ({how}: os._exit or a crash in native code); {_FIX}"


def _run_child(entry_points: Sequence[metadata.EntryPoint], timeout: float) -> _Run | None:
    """Import ``entry_points`` in order in a fresh interpreter, giving each import ``timeout`` seconds; the
    child is always gone on return. ``None`` when no child could be started."""
    import queue
    import subprocess

    if not sys.executable or getattr(sys, "frozen", False):  # embedded, or a frozen app: no interpreter to run
        return None
    request = json.dumps({"path": sys.path, "modules": [_target(ep) for ep in entry_points]})
    try:
        child = subprocess.Popen([sys.executable, "-c", _CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL)
    except (OSError, ValueError):
        return None
    assert child.stdin is not None and child.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_pump, args=(child.stdout, lines), daemon=True)
    reader.start()
    last = -1
    try:
        try:
            child.stdin.write(request.encode())
            child.stdin.close()
        except OSError:
            pass  # the child died at once: its exit code says how
        while (line := _next_line(lines, timeout)) not in (None, _DONE, _TIMED_OUT):
            if line.isdigit():
                last = int(line)
        done, timed_out = line == _DONE, line == _TIMED_OUT
        exit_code = _finish(child, kill=timed_out, timeout=timeout)
    finally:
        if child.poll() is None:  # interrupted (Ctrl-C): never leave the child behind
            child.kill()
            child.wait()
    reader.join(timeout=1)
    return _Run(last, done, None if timed_out else exit_code)


def _next_line(lines: queue.Queue[str | None], timeout: float) -> str | None:
    """The child's next line; ``None`` at its end of output, :data:`_TIMED_OUT` when none came in ``timeout``."""
    import queue

    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return _TIMED_OUT


def _finish(child: subprocess.Popen[bytes], kill: bool, timeout: float) -> int:
    """Wait for ``child`` (killing it first when ``kill``, or when it outlives its output by ``timeout``)."""
    import subprocess

    if not kill:
        try:
            return child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    child.kill()
    return child.wait()


def _pump(stream: IO[bytes], lines: queue.Queue[str | None]) -> None:
    """Copy ``stream``'s lines into ``lines``, then ``None`` at its end (the reader thread)."""
    try:
        for raw in stream:
            lines.put(raw.decode(errors="replace").strip())
    except (OSError, ValueError):
        pass
    finally:
        lines.put(None)
        stream.close()
