"""shrinkbench-posttraining (see the package README)."""
