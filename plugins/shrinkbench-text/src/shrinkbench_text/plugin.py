"""shrinkbench-text's registration (nothing heavy imported: every spec names its code lazily)."""

from __future__ import annotations

from shrinkbench import DatasetSpec, ModelFamilySpec, ModelSpec, hookimpl

_M = "shrinkbench_text.models."
_LM = ("causal-lm",)


@hookimpl
def shrinkbench_datasets() -> list[DatasetSpec]:
    """The text corpora (task ``causal-lm``): the bundled ``shakespeare``, and ``wikitext2``, ``c4`` and ``ptb``
    from a data directory (see :mod:`shrinkbench_text.corpora`)."""
    from .corpora.specs import dataset_specs

    return dataset_specs()


@hookimpl
def shrinkbench_models() -> list[ModelSpec | ModelFamilySpec]:
    """The bundled ``tiny-llama`` (its own 4,096-token BPE), any Hugging Face causal LM as ``hf:<id or dir>``
    (its own weights: not pretrained further unless asked), and every transformers causal-LM architecture at a
    tiny size as ``hf-tiny:<model_type>``."""
    return [
        ModelSpec("tiny-llama", "Llama-architecture LM, 1.4M parameters (4 layers, width 128), pretrained on the "
                  "bundled corpus (shipped), its 4,096-token BPE, 256 positions", _M + "tiny:build", tasks=_LM,
                  tokenizer=_M + "tiny:tokenizer", trained=True, fresh="random"),
        ModelFamilySpec("hf", "Hugging Face causal LM (hub id or local directory; its own weights and tokenizer)",
                        _M + "hf:names", _M + "hf:build", tasks=_LM, tokenizer=_M + "hf:tokenizer", any_name=True,
                        trained=True, fresh="random"),
        ModelFamilySpec("hf-tiny", "transformers causal-LM architecture at a tiny size (width 64, 3 layers), random "
                        "weights, bytes as tokens", _M + "archs:names", _M + "archs:build", tasks=_LM,
                        tokenizer=_M + "archs:tokenizer"),
    ]
