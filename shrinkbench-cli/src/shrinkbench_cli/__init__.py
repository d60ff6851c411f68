"""The ``shrinkbench`` command-line interface (click)."""
