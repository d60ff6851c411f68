"""The plugin import probe: a plugin whose import ends the process or hangs is reported and skipped, the
others load, and a clean set is re-probed when a plugin is edited or upgraded.

The plugins here are real distributions found through the ``shrinkbench`` entry-point group: each is written
as files only (a package plus a ``*.dist-info`` folder with ``METADATA``, ``entry_points.txt`` and ``RECORD``)
into a temporary folder put on the path. Scenarios that could end or hang a process run ``load_registry`` in a
subprocess, so that a regression fails the test instead of killing the test run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest

from shrinkbench import plugin_probe
from shrinkbench.plugin_probe import DEFAULT_TIMEOUT, cache_key, hard_exits, probe_timeout, source_roots
from shrinkbench.plugins import load_registry

HANGS = "import time\ntime.sleep(60)\n"
OS_EXIT = "import os\nos._exit(3)\n"
SEGFAULT = "import ctypes\nctypes.string_at(0)\n"
CLEAN = "VALUE = 1\n"

REGISTRY = ("import json, sys; from shrinkbench.plugins import load_registry; "
            "plugins = {p.name: [p.status, p.error] for p in load_registry().plugins}; "
            "print(json.dumps({'plugins': plugins, 'modules': sorted(m for m in sys.modules if 'sbprobe' in m)}))")


def write_plugin(site: Path, name: str, source: str, version: str = "1.0") -> Path:
    """Write a distribution ``sbprobe-<name>`` at ``version`` into ``site``: its entry point ``<name>`` is the
    module ``sbprobe_<name>.plugin`` holding ``source``. Returns that module's file."""
    package = f"sbprobe_{name.replace('-', '_')}"
    (site / package).mkdir(parents=True, exist_ok=True)
    (site / package / "__init__.py").write_text("")
    module = site / package / "plugin.py"
    module.write_text(source)
    info = site / f"{package}-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: sbprobe-{name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[shrinkbench]\n{name} = {package}.plugin\n")
    files = [f"{package}/__init__.py", f"{package}/plugin.py", *(f"{info.name}/{f}" for f in
                                                                  ("METADATA", "entry_points.txt", "RECORD"))]
    (info / "RECORD").write_text("".join(f"{f},,\n" for f in files))
    return module


def registry_in_subprocess(site: Path, cache: Path, timeout: float = 60, **env: str) -> dict:
    """Build the registry in a fresh interpreter with ``site`` on the path; its plugins' ``[status, error]`` by
    name and the ``sbprobe`` modules it imported. Fails the test when the interpreter dies or hangs."""
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    environment = {**os.environ, "PYTHONPATH": path, "SHRINKBENCH_CACHE": str(cache), **env}
    for name in ("SHRINKBENCH_PLUGINS", "SHRINKBENCH_DISABLE_PLUGINS", "SHRINKBENCH_STRICT_PLUGINS"):
        environment.pop(name, None)
    result = subprocess.run([sys.executable, "-c", REGISTRY], capture_output=True, text=True, env=environment,
                            timeout=timeout)
    assert result.returncode == 0, f"exit code {result.returncode}: {result.stderr}"
    return json.loads(result.stdout.splitlines()[-1])


def installed_plugins(site: Path) -> list[plugin_probe.Plugin]:
    """The probe's view of the distributions in ``site``: (name, distribution, version, entry point)."""
    return [(ep.name, dist.name, dist.version, ep) for dist in metadata.distributions(path=[str(site)])
            for ep in dist.entry_points if ep.group == "shrinkbench"]


def test_a_plugin_whose_import_hangs_is_failed_within_the_timeout_and_the_others_load(tmp_path):
    write_plugin(tmp_path / "site", "hangs", HANGS)
    write_plugin(tmp_path / "site", "zz-clean", CLEAN)
    start = time.monotonic()
    result = registry_in_subprocess(tmp_path / "site", tmp_path / "cache", timeout=40,
                                    SHRINKBENCH_PROBE_TIMEOUT="2")
    assert time.monotonic() - start < 30
    status, error = result["plugins"]["hangs"]
    assert status == "failed"
    assert error == ("import did not finish within 2 s (SHRINKBENCH_PROBE_TIMEOUT); skipped -- fix or uninstall "
                     "it")
    assert result["modules"] == ["sbprobe_zz_clean", "sbprobe_zz_clean.plugin"]  # never imported here
    others = {name: s for name, (s, _) in result["plugins"].items() if name != "hangs"}
    assert {"core-engine", "core-metrics", "zz-clean"} <= others.keys()  # and whichever plugins this venv has
    assert set(others.values()) == {"ok"}


@pytest.mark.parametrize(("source", "reason"), [
    pytest.param(OS_EXIT, "ended the process while being imported (exit code 3: os._exit or a crash in native "
                          "code); skipped -- fix or uninstall it", id="os-exit"),
    pytest.param(SEGFAULT, "ended the process while being imported (exit code -", id="segfault",
                 marks=pytest.mark.skipif(os.name != "posix", reason="signals are POSIX")),
])
def test_a_plugin_that_ends_the_process_is_failed_and_the_rest_is_still_probed(tmp_path, source, reason):
    """``a-ends`` sorts first: the plugins after it are probed by fresh children (the one that hangs is caught
    too) and load."""
    write_plugin(tmp_path / "site", "a-ends", source)
    write_plugin(tmp_path / "site", "zz-hangs", HANGS)
    result = registry_in_subprocess(tmp_path / "site", tmp_path / "cache", SHRINKBENCH_PROBE_TIMEOUT="2")
    status, error = result["plugins"].pop("a-ends")
    assert status == "failed" and error.startswith(reason)
    assert result["plugins"].pop("zz-hangs")[0] == "failed"
    assert {s for s, _ in result["plugins"].values()} == {"ok"}
    assert not list((tmp_path / "cache" / "plugins").glob("clean-*"))  # a set with culprits is not remembered


def test_editing_a_plugin_after_a_clean_probe_reprobes_it(tmp_path):
    """Same size, only a later modification time: the edit that now calls os._exit is caught, not run."""
    module = write_plugin(tmp_path / "site", "edited", "#" * (len(OS_EXIT) - 1) + "\n")
    first = registry_in_subprocess(tmp_path / "site", tmp_path / "cache")
    assert first["plugins"]["edited"][0] == "ok"
    assert len(list((tmp_path / "cache" / "plugins").glob("clean-*"))) == 1
    stat = module.stat()
    module.write_text(OS_EXIT)
    assert module.stat().st_size == stat.st_size
    os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    second = registry_in_subprocess(tmp_path / "site", tmp_path / "cache")
    status, error = second["plugins"]["edited"]
    assert status == "failed" and "exit code 3" in error
    module.write_text(CLEAN)  # fixed: clean again, and its record is replaced, not piled up
    assert registry_in_subprocess(tmp_path / "site", tmp_path / "cache")["plugins"]["edited"][0] == "ok"
    assert len(list((tmp_path / "cache" / "plugins").glob("clean-*"))) == 1


def test_the_cache_key_changes_with_the_version_and_the_files(tmp_path, monkeypatch):
    site = tmp_path / "site"
    module = write_plugin(site, "keyed", CLEAN, version="1.0")
    monkeypatch.syspath_prepend(str(site))
    key = cache_key(installed_plugins(site))
    assert cache_key(installed_plugins(site)) == key
    info = site / "sbprobe_keyed-1.0.dist-info" / "METADATA"  # not a source file: only the version changes
    info.write_text(info.read_text().replace("Version: 1.0", "Version: 1.1"))
    upgraded = cache_key(installed_plugins(site))
    assert upgraded != key
    (module.parent / "helpers.py").write_text("")  # a file added to the package
    assert cache_key(installed_plugins(site)) != upgraded
    assert "sbprobe_keyed" not in sys.modules  # found without importing


def test_a_malformed_entry_point_is_left_to_the_registry_to_report(monkeypatch):
    malformed = metadata.EntryPoint("malformed", "not a module!", "shrinkbench")
    assert hard_exits([("malformed", "malformed", "1.0", malformed)]) == {}
    monkeypatch.setattr(metadata, "entry_points", lambda group: [malformed])
    registry = load_registry()
    assert [(p.name, p.status) for p in registry.plugins] == [("malformed", "failed")]


def test_the_files_of_a_namespace_package_plugin_are_found_without_importing_it(tmp_path, monkeypatch):
    package = tmp_path / "sbprobe_ns" / "inner"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise SystemExit('imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert source_roots("sbprobe_ns.inner.plugin") == [str(package)]
    assert source_roots("sbprobe_no_such_module.plugin") == []
    assert not [m for m in sys.modules if m.startswith("sbprobe_ns")]


def test_a_read_only_cache_probes_every_time(tmp_path):
    (tmp_path / "file").write_text("")
    cache = tmp_path / "file" / "cache"  # cannot be created, even by root
    module = write_plugin(tmp_path / "site", "edited", CLEAN)
    assert registry_in_subprocess(tmp_path / "site", cache)["plugins"]["edited"][0] == "ok"
    module.write_text(OS_EXIT)
    assert registry_in_subprocess(tmp_path / "site", cache)["plugins"]["edited"][0] == "failed"


def test_no_probe_child_means_nothing_is_probed_nor_remembered(tmp_path, monkeypatch):
    site = tmp_path / "site"
    write_plugin(site, "clean", CLEAN)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    assert hard_exits(installed_plugins(site)) == {}
    assert not (Path(os.environ["SHRINKBENCH_CACHE"]) / "plugins").exists()


@pytest.mark.parametrize(("value", "expected"), [("2.5", 2.5), ("", DEFAULT_TIMEOUT), ("soon", DEFAULT_TIMEOUT),
                                                 ("0", DEFAULT_TIMEOUT), ("-1", DEFAULT_TIMEOUT)])
def test_the_probe_timeout_comes_from_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("SHRINKBENCH_PROBE_TIMEOUT", value)
    assert probe_timeout() == expected
