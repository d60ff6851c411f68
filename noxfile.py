"""Cross-plugin test matrix: every package alone with core, all together, the example third-party plugin
installed from its path, and lint. ``uvx nox`` runs the default set; ``uvx nox -l`` lists the sessions;
``uvx nox -s plugin-magnitude`` runs one.

Every session installs from the workspace lock (``uv export``) so all sessions test the same versions, and
the uv cache makes the torch install after the first one a matter of seconds.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
# Byte-compile installs: with PYTHONDONTWRITEBYTECODE set, torch is otherwise recompiled by every process.
os.environ.setdefault("UV_COMPILE_BYTECODE", "1")
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
PLUGINS = sorted(p.name.removeprefix("shrinkbench-") for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists())
EXAMPLES = sorted(p.name for p in (ROOT / "examples").iterdir() if (p / "pyproject.toml").exists()) if (ROOT / "examples").exists() else []
PYTHON = "3.11"
OPTIONAL = {"ray", "structured", "text", "posttraining"}  # not in the default install: only in their own session
TEST_EXTRAS = {"structured": ["-e", "plugins/shrinkbench-vision"],  # what a plugin's tests need besides it
               "posttraining": ["transformers"],  # a tiny Llama
               "text": ["-e", "plugins/shrinkbench-magnitude"]}  # check-models masks with global-magnitude
CORE = ["-e", "shrinkbench-core", "-e", "shrinkbench-cli"]
TEST_TOOLS = ["pytest", "pytest-timeout", "pytest-xdist", "hypothesis"]
# A test that hangs (a child process waiting forever) fails after this long instead of stalling CI.
PYTEST = ["pytest", "-q", "--timeout=900"]
# The two long suites run a test file per worker on two workers (one file's module fixtures stay in one
# process): core 14 min -> 8 min on 2 cores, as much of the time is spent starting subprocesses.
IN_PARALLEL = ["-n", "2", "--dist", "loadfile"]


def constraints(session: nox.Session) -> list[str]:
    """``-c <file>`` pinning every third-party package to the workspace lock."""
    path = Path(session.create_tmp()) / "constraints.txt"
    session.run_install(
        "uv", "export", "--frozen", "--no-hashes", "--all-packages", "--no-emit-workspace", "--all-groups",
        "--quiet", "-o", str(path), external=True, silent=True,
    )
    return ["-c", str(path)]


def isolated_env(session: nox.Session) -> None:
    """Hide any plugin that is not installed in this venv from discovery, never touch the network, and keep
    temporary files at a short path whatever the checkout's: ``session.create_tmp()`` points ``$TMPDIR`` into
    ``.nox/``, and in a deep checkout multiprocessing's Unix sockets (DataLoader workers share tensors through
    them) exceed the 107-byte limit of a socket path, so worker processes hang."""
    session.env["SHRINKBENCH_CACHE"] = str(Path(session.create_tmp()) / "cache")
    session.env["HF_HUB_OFFLINE"] = "1"
    session.env.pop("SHRINKBENCH_DISABLE_PLUGINS", None)
    short = Path(tempfile.gettempdir()) / f"sbnox-{session.name}"
    short.mkdir(exist_ok=True)
    session.env["TMPDIR"] = str(short)


@nox.session(name="core", python=PYTHON)
def core(session: nox.Session) -> None:
    """Core and CLI with no plugin installed: listing works and shows only core's metrics."""
    session.install(*constraints(session), *CORE, *TEST_TOOLS)
    isolated_env(session)
    session.run(*PYTEST, *IN_PARALLEL, "shrinkbench-core/tests", "shrinkbench-cli/tests", *session.posargs)


def plugin_session(plugin: str) -> None:
    """Define ``plugin-<name>``: one plugin alone with core and the CLI, running its own tests."""

    @nox.session(name=f"plugin-{plugin}", python=PYTHON)
    def session_fn(session: nox.Session) -> None:
        session.install(*constraints(session), *CORE, "-e", f"plugins/shrinkbench-{plugin}",
                        *TEST_EXTRAS.get(plugin, []), *TEST_TOOLS)
        isolated_env(session)
        session.run(*PYTEST, f"plugins/shrinkbench-{plugin}/tests", *session.posargs)

    session_fn.__doc__ = f"shrinkbench-{plugin} alone with core and the CLI: its own tests."


for _plugin in PLUGINS:
    plugin_session(_plugin)


@nox.session(name="all", python=PYTHON)
def all_packages(session: nox.Session) -> None:
    """Every package of the default install together: the end-to-end CLI tests in tests/."""
    packages = [arg for p in PLUGINS if p not in OPTIONAL for arg in ("-e", f"plugins/shrinkbench-{p}")]
    session.install(*constraints(session), *CORE, *packages, *TEST_TOOLS)
    isolated_env(session)
    session.run(*PYTEST, *IN_PARALLEL, "tests", *session.posargs)


def example_session(example: str) -> None:
    """Define ``example-<name>``: a third-party plugin installed from its path (non-editable, like
    ``pip install ./plugin``) next to wheels of the released packages: its own tests pass, it shows in
    ``shrinkbench list`` and runs in ``shrinkbench bench``."""

    @nox.session(name=f"example-{example}", python=PYTHON)
    def session_fn(session: nox.Session) -> None:
        run_example(session, example)

    session_fn.__doc__ = f"examples/{example} installed from its path beside wheels of core, CLI and vision."


def run_example(session: nox.Session, example: str) -> None:
    """Build wheels of the released packages, install them and the example plugin, run its checks."""
    wheels = Path(session.create_tmp()) / "wheels"
    for package in ("shrinkbench-core", "shrinkbench-cli", "shrinkbench-vision"):
        session.run_install("uv", "build", "--quiet", "--package", package, "--wheel", "-o", str(wheels), external=True)
    session.install(*constraints(session), *sorted(str(w) for w in wheels.glob("*.whl")), *TEST_TOOLS)
    session.install(*constraints(session), f"examples/{example}")
    isolated_env(session)
    session.run(*PYTEST, f"examples/{example}/tests", *session.posargs)
    session.run("python", "tests/check_installed_plugin.py", example, external=False)


for _example in EXAMPLES:
    example_session(_example)


@nox.session(name="pip-install", python=PYTHON)
def pip_install(session: nox.Session) -> None:
    """Plain pip, no uv in the loop: wheels of every package installed by name into a fresh venv, and
    `pip install .` from the clone; then `shrinkbench list` and a 2-run bench (tests/check_pip_install.py)."""
    wheels = Path(session.create_tmp()) / "wheels"
    session.run_install("uv", "build", "--quiet", "--all-packages", "--wheel", "-o", str(wheels), external=True)
    session.run_install("uv", "build", "--quiet", "--wheel", "-o", str(wheels), ".", external=True,
                        env={"SHRINKBENCH_RELEASE": "1"})  # the meta-distribution as it is published
    constraints = Path(session.create_tmp()) / "constraints.txt"
    session.run_install("uv", "export", "--frozen", "--no-hashes", "--all-packages", "--no-emit-workspace",
                        "--quiet", "-o", str(constraints), external=True, silent=True)
    session.run("python", "tests/check_pip_install.py", str(wheels), str(constraints), external=False)


@nox.session(name="gpu-check", python=PYTHON)
def gpu_check(session: nox.Session) -> None:
    """benchmarks/gpu_check.py, the GPU path's acceptance script, on the CPU at tiny sizes: so the script that a
    lent GPU machine runs never rots (on a GPU machine run it directly, see its docstring)."""
    packages = [arg for p in PLUGINS if p != "ray" for arg in ("-e", f"plugins/shrinkbench-{p}")]
    session.install(*constraints(session), *CORE, *packages)
    isolated_env(session)
    session.run("python", "benchmarks/gpu_check.py", "--device", "cpu", "--size", "tiny", *session.posargs)


@nox.session(name="posttraining-reference", python=PYTHON, default=False)
def posttraining_reference(session: nox.Session) -> None:
    """benchmarks/posttraining_reference.py: our SparseGPT (and Wanda's norms) against the papers' reference code
    on one layer; give the checkouts: ``-- --sparsegpt DIR [--wanda DIR]`` (see the script's docstring)."""
    session.install(*constraints(session), *CORE, "-e", "plugins/shrinkbench-posttraining", "transformers")
    isolated_env(session)
    session.run("python", "benchmarks/posttraining_reference.py", *session.posargs)


LLMCOMPRESSOR = "llmcompressor==0.14.0.1"  # the version benchmarks/README.md reports


@nox.session(name="posttraining-llmcompressor", python=PYTHON, default=False)
def posttraining_llmcompressor(session: nox.Session) -> None:
    """benchmarks/llmcompressor_side_by_side.py: our Wanda and SparseGPT against llm-compressor's on one tiny
    Llama (time, memory, perplexity, mask agreement). llm-compressor runs in an environment of its own, never
    this one: ``-- --llmc-python PATH`` names an existing one's python; without it one is made in the session's
    temp dir with ``uv pip install`` of ``LLMCOMPRESSOR`` (about 5 GB with its CUDA torch). Other arguments go to the
    script (``--repeats``, ``--threads``, ``--device cuda``, ``--workdir DIR`` ...)."""
    session.install(*constraints(session), *CORE, "-e", "plugins/shrinkbench-posttraining", "transformers")
    isolated_env(session)
    args = list(session.posargs)
    if not any(a == "--llmc-python" or a.startswith("--llmc-python=") for a in args):
        venv = Path(session.create_tmp()) / "llmcompressor-venv"
        if not (venv / "bin" / "python").exists():
            session.run_install("uv", "venv", "--quiet", "-p", PYTHON, str(venv), external=True)
        session.run_install("uv", "pip", "install", "--quiet", "--python", str(venv), LLMCOMPRESSOR, external=True)
        args += ["--llmc-python", str(venv / "bin" / "python")]
    session.run("python", "benchmarks/llmcompressor_side_by_side.py", *args)


@nox.session(name="docs", python=PYTHON)
def docs(session: nox.Session) -> None:
    """Every code block of README.md and docs/ marked runnable (``<!-- docs: run -->``), in the default install:
    the README's first session, its config and grid examples, and its plugin example built, installed, tested
    and benched (tests/run_doc_blocks.py)."""
    packages = [arg for p in PLUGINS if p not in OPTIONAL for arg in ("-e", f"plugins/shrinkbench-{p}")]
    session.install(*constraints(session), *CORE, *packages, *TEST_TOOLS)
    isolated_env(session)
    # the blocks run with VIRTUAL_ENV unset, as a stranger's shell; their `uv pip install` finds this venv as the
    # work directory's .venv (tests/run_doc_blocks.py)
    # a reused venv still has the README's example plugin from the last run, installed from a deleted directory
    session.run_install("uv", "pip", "uninstall", "--quiet", "shrinkbench-lamp", external=True)
    documents = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
    session.run("python", "tests/run_doc_blocks.py", *(session.posargs or documents))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff over the whole repository."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """The README's main job in an isolated venv (not in the default set: it trains models)."""
    packages = [arg for p in PLUGINS if p not in OPTIONAL for arg in ("-e", f"plugins/shrinkbench-{p}")]
    session.install(*constraints(session), *CORE, *packages)
    session.env.setdefault("SHRINKBENCH_CACHE", os.environ.get("SHRINKBENCH_CACHE", str(Path(session.create_tmp()) / "cache")))
    session.run("shrinkbench", "bench", *session.posargs)
