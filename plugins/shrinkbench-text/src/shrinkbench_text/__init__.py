"""shrinkbench-text (see the package README)."""
