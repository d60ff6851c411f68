"""ShrinkBench models: every timm architecture as ``timm:<name>``, listed from a per-version name cache and
built offline. Importing this package (and its ``plugin`` module) imports neither torch nor timm."""

__version__ = "0.1.0"
