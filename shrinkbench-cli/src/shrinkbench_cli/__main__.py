"""``python -m shrinkbench_cli``: the ``shrinkbench`` command without its console script."""

from .main import main

main()
