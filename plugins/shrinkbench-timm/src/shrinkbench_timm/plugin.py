"""The ``timm`` plugin: one model family, ``timm:<name>``, resolved lazily (no timm import at list time)."""

from __future__ import annotations

from shrinkbench import ModelFamilySpec, hookimpl


@hookimpl
def shrinkbench_models() -> list[ModelFamilySpec]:
    """Every architecture of ``timm.list_models()`` as ``timm:<name>``, each made for the input size of its
    default pretrained config."""
    return [
        ModelFamilySpec("timm", "timm model", "shrinkbench_timm.names:names", "shrinkbench_timm.zoo:build",
                        default_shape="shrinkbench_timm.zoo:default_shape"),
    ]
