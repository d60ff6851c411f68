"""``shrinkbench env``: what ShrinkBench will run on here and why -- the facts a bug report needs
(:mod:`shrinkbench.environment`). It imports torch (the facts are torch's), but only when it runs."""

from __future__ import annotations

import json

import click


@click.command("env")
@click.option("--json/--no-json", "as_json", default=False, help="Print one JSON object instead of text.")
def env(as_json: bool) -> None:
    """Show the torch build and its CUDA version, the NVIDIA driver and whether the two fit, the GPUs (name,
    memory, compute capability), MPS, CPU cores and threads, Python, the installed plugins and their versions,
    and the cache and data roots; and which device --device auto picks, and why.

    Paste its output into a bug report. It never fails on what it finds: a torch that cannot use the driver
    is reported, with the fix, and the exit code is 0.

    \b
    Examples:
      shrinkbench env              one 'name: value' line each
      shrinkbench env --json       the same for scripts (keys: python, platform, torch {version,
                                   cuda_build}, driver {version, cuda}, compatibility {ok, text, fix},
                                   cuda_available, gpus [{index, id, name, memory_bytes, capability}],
                                   gpus_torch_cannot_use, cuda_visible_devices, mps_available,
                                   cpu {cores, torch_threads, machine, memory_available_bytes},
                                   device_auto {device, reason}, plugins [{name, distribution,
                                   version, status}], cache_dir, data_roots)
    """
    from shrinkbench.environment import collect, render

    facts = collect()
    if as_json:
        click.echo(json.dumps(facts, indent=2))
    else:
        click.echo("\n".join(render(facts)))
