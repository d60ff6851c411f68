"""``hf-tiny:<model_type>``: every causal-LM architecture transformers has, built from its own default config
shrunk to a tiny size, randomly initialised, reading bytes.

The members are the keys of transformers' ``MODEL_FOR_CAUSAL_LM_MAPPING_NAMES`` (``llama``, ``mistral``,
``gpt2``, ``opt``, ...). :func:`tiny_config` takes ``AutoConfig.for_model(model_type)`` and sets every size
it knows by name -- width :data:`HIDDEN`, :data:`LAYERS` layers (more when the model mixes kinds of layers:
one of each is kept), :data:`HEADS` heads (keys/values in the same ratio), feed-forward :data:`FFN`,
:data:`POSITIONS` positions, 4 experts (2 per token) -- in the config and its sub-configs (a multimodal model's
text and vision configs). The vocabulary is bytes (:func:`~shrinkbench_text.models.tokenizer.byte_tokenizer`,
257 ids): with a 4,096-token one the embeddings of so narrow a model would outweigh its decoder layers, and no
compression above ~1.2x would be reachable. ``shrinkbench check-models 'hf-tiny:*'`` checks them all: this is
how ShrinkBench knows which architectures it can prune, train and count.

An architecture whose shrunk config does not build raises :class:`~shrinkbench.errors.IncompatibleError`
(check-models: not checked, cause ``config``; the message says whether transformers' own default config
builds); one that builds but does not run is a failure of the model.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from shrinkbench.errors import IncompatibleError, UnknownNameError, one_line

from .tokenizer import TextTokenizer, byte_tokenizer

__all__ = ["FFN", "HEADS", "HIDDEN", "LAYERS", "POSITIONS", "build", "names", "tiny_config", "tokenizer"]

HIDDEN, LAYERS, HEADS, KV_HEADS, FFN, POSITIONS, EXPERTS, VOCAB = 64, 3, 4, 2, 256, 128, 4, 257
MAX_PARAMETERS = 20_000_000
"""More parameters than this at the tiny size means the shrinking rules missed a size: refused unbuilt."""
_SIZES: tuple[tuple[int, tuple[str, ...]], ...] = (
    (HIDDEN, ("hidden_size", "d_model", "n_embd", "n_embed", "embed_dim", "dim", "hidden_dim", "model_dim",
              "word_embed_proj_dim", "embedding_size", "d_embed", "embedding_dim", "input_embedding_size",
              "output_embedding_size", "pronunciation_embed_dim", "shape_embed_dim")),
    (LAYERS, ("num_hidden_layers", "n_layer", "n_layers", "num_layers", "decoder_layers", "num_decoder_layers",
              "encoder_layers", "num_blocks")),
    (HEADS, ("num_attention_heads", "n_head", "n_heads", "num_heads", "decoder_attention_heads",
             "encoder_attention_heads", "mamba_n_heads", "n_mamba_heads")),
    (KV_HEADS, ("num_key_value_heads", "n_kv_heads", "num_kv_heads", "multi_query_group_num", "kv_heads")),
    (HIDDEN // HEADS, ("head_dim", "d_head", "qk_nope_head_dim", "v_head_dim", "qk_rope_head_dim",
                       "attention_head_dim", "kv_channels", "mamba_d_head", "mamba_headdim", "rotary_dim")),
    (FFN, ("intermediate_size", "ffn_dim", "n_inner", "decoder_ffn_dim", "encoder_ffn_dim", "d_ff",
           "ffn_hidden_size", "moe_intermediate_size", "shared_expert_intermediate_size", "expert_intermediate_size",
           "d_inner", "ff_dim", "inner_dim", "expert_ffn_hidden_size", "shared_intermediate_size")),
    (POSITIONS, ("max_position_embeddings", "n_positions", "n_ctx", "max_sequence_length", "seq_length",
                 "max_seq_len", "sliding_window", "attention_window")),
    (EXPERTS, ("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts", "num_experts_routed",
               "zero_expert_num")),
    (2, ("num_experts_per_tok", "num_experts_per_token", "moe_topk", "moe_k", "top_k", "n_group", "topk_group")),
    (16, ("kv_lora_rank", "q_lora_rank", "state_size", "d_state", "ssm_state_size", "mamba_d_state", "rank",
          "time_step_rank", "laurel_rank")),
    (1, ("expand", "mamba_expand", "n_groups", "mamba_n_groups", "mamba_ngroups", "num_nextn_predict_layers",
         "mtp_num_layers", "num_mtp_layers", "first_k_dense_replace", "n_input_layers", "n_recurrent_layers",
         "n_output_layers")),
    (0, ("num_kv_shared_layers",)),
)
_SIZE_OF = {key: size for size, keys in _SIZES for key in keys}
_LAYER_KEYS = _SIZES[1][1]


def transformers_version() -> str:
    """The installed transformers' version, without importing it."""
    return metadata.version("transformers")


def _list() -> list[str]:
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    return list(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)


def names() -> list[str]:
    """Every model type transformers has a causal-LM class for (cached per transformers version)."""
    from shrinkbench.cache import cached_names

    return cached_names("hf-tiny", transformers_version(), _list)


def tiny_config(model_type: str) -> Any:
    """transformers' default config of ``model_type`` shrunk to the tiny sizes of this module: its values
    (and its sub-configs') changed by name, the values it derives left out, then the config made again from
    them, so that derived sizes (a head's width, rotary parameters, a hybrid model's layer plan) follow."""
    from transformers import AutoConfig

    default = AutoConfig.for_model(model_type)
    return type(default).from_dict(_shrink(default))


def _shrink(config: Any) -> dict[str, Any]:
    """The values of ``config`` (a transformers config) with every size of :data:`_SIZES` at most its tiny
    value, the vocabulary at :data:`VOCAB`, token ids inside it, per-layer lists and per-layer configs cut to
    the layers kept (:func:`_layers_kept`), key/value heads in the same ratio to heads, and decoder mode for
    encoder classes. Values the config derives in its constructor (declared ``None``) are left out, except
    per-layer lists."""
    values = config.to_dict()
    derived = _derived(config)
    out = {k: v for k, v in values.items() if k not in derived or isinstance(v, list) or _is_config(_attr(config, k))}
    layers = next((values[k] for k in _LAYER_KEYS if _is_int(values.get(k))), None)
    kept = _layers_kept(values, layers) if layers else None
    for key, value in values.items():
        sub = _attr(config, key)
        if key not in out:
            continue
        if _is_config(sub):
            out[key] = _shrink(sub)
        elif key == "per_layer_config" and isinstance(value, dict) and kept:
            out[key] = {kept.index(int(i)): _shrink_layer(v) for i, v in value.items() if int(i) in kept}
        elif _is_int(value) and (key in ("vocab_size", "n_vocab") or ("vocab" in key and value > VOCAB)):
            out[key] = VOCAB
        elif _is_int(value) and key in _SIZE_OF:
            out[key] = len(kept) if key in _LAYER_KEYS and kept and layers == value else min(value, _SIZE_OF[key])
        elif isinstance(value, list) and kept and len(value) == layers:
            out[key] = [_shrink_item(key, value[i]) for i in kept]
    _keep_head_ratio(values, out)
    for index, key in enumerate(k for k in out if k.endswith(("_token_id", "_token_index", "_token_ids"))):
        value = out[key]
        if _is_int(value) and value >= VOCAB:
            out[key] = max(VOCAB - 1 - index, 0)
        elif isinstance(value, list):
            out[key] = [v if _is_int(v) and v < VOCAB else max(VOCAB - 1 - index, 0) for v in value]
    if "is_decoder" in out:
        out["is_decoder"] = True
    return out


def _derived(config: Any) -> set[str]:
    """The fields of ``config`` declared ``None`` that its constructor filled in (derived from others)."""
    import dataclasses

    if not dataclasses.is_dataclass(config):
        return set()
    return {f.name for f in dataclasses.fields(config) if f.default is None and _attr(config, f.name) is not None
            and f.name not in ("model_type",)}


def _layers_kept(values: dict[str, Any], layers: int) -> list[int]:
    """The indices of the layers a tiny model keeps out of ``layers``: the first :data:`LAYERS`, and the first
    layer of every kind a per-layer list names (attention, linear attention, Mamba, MLP...), in order."""
    kept = set(range(min(LAYERS, layers)))
    for value in values.values():
        if isinstance(value, list) and len(value) == layers and all(isinstance(v, str) for v in value):
            kept |= {value.index(kind) for kind in dict.fromkeys(value)}
    return sorted(kept)


def _shrink_layer(values: Any) -> Any:
    """One layer's overrides of a per-layer config (a dict), its sizes shrunk."""
    if not isinstance(values, dict):
        return values
    return _keep_head_ratio(values, {k: _shrink_item(k, v) for k, v in values.items()})


def _keep_head_ratio(values: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    """``out`` with as many query heads per key/value head as ``values`` had (multi-head, grouped or
    multi-query attention stays so, as multi-head latent attention needs)."""
    heads, kv_heads = values.get("num_attention_heads"), values.get("num_key_value_heads")
    if _is_int(heads) and _is_int(kv_heads) and kv_heads and heads % kv_heads == 0 and "num_key_value_heads" in out:
        out["num_key_value_heads"] = max(1, min(heads, HEADS) // (heads // kv_heads))
    return out


def _shrink_item(key: str, value: Any) -> Any:
    """One layer's entry of a per-layer list (a size is shrunk like the single value of ``key``)."""
    if _is_int(value) and key in _SIZE_OF:
        return min(value, _SIZE_OF[key])
    return value


def _attr(config: Any, key: str) -> Any:
    """``config.key``, or ``None`` where reading it raises (a per-layer value read globally)."""
    try:
        return getattr(config, key, None)
    except Exception:  # noqa: BLE001 - transformers' AmbiguousGlobalPerLayerAttributeError and the like
        return None


def _is_config(value: Any) -> bool:
    return hasattr(value, "to_dict") and hasattr(value, "model_type")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def build(name: str, num_classes: int = 0, input_shape: tuple[int, ...] = (), pretrained: str | None = None):  # noqa: ANN201
    """A tiny random ``hf-tiny:<name>`` (:class:`~shrinkbench_text.models.wrapper.CausalLM`), its weights drawn
    from torch's generator, or loaded from the state dict file ``pretrained``. Raises :class:`UnknownNameError`
    for a model type transformers has no causal LM for, :class:`IncompatibleError` when the shrunk config
    does not build."""
    import torch
    from transformers import AutoModelForCausalLM

    from .wrapper import CausalLM

    if name not in _list():
        raise UnknownNameError("model", f"hf-tiny:{name}", [f"hf-tiny:{n}" for n in names()])
    try:
        config = tiny_config(name)
        with torch.device("meta"):  # a config the rules missed must not build at full size
            size = sum(p.numel() for p in AutoModelForCausalLM.from_config(config).parameters())
        if size > MAX_PARAMETERS:
            raise IncompatibleError(f"hf-tiny:{name} does not shrink: {size:,} parameters at the tiny size "
                                    f"(at most {MAX_PARAMETERS:,})")
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    except IncompatibleError:
        raise
    except ImportError as exc:
        raise IncompatibleError(f"hf-tiny:{name} needs a package that is not installed: "
                                f"{one_line(exc, 200, with_type=False)}") from None
    except Exception as exc:  # noqa: BLE001 - any constructor error means the shrunk config is not buildable
        raise IncompatibleError(f"hf-tiny:{name} {_why_not(name)}: {one_line(exc, 200)}") from None
    wrapped = CausalLM(model, "random")
    if pretrained:
        from shrinkbench.checkpoints import load_into, read_state_dict, weights_file

        file = weights_file(pretrained, f"pass the path of a hf-tiny:{name} state dict")
        if file is None:
            raise ValueError(f"hf-tiny:{name} has no pretrained weights {pretrained!r}; pass a state dict file")
        load_into(wrapped, read_state_dict(file), str(file))
        wrapped.shrinkbench_source = str(file)
    return wrapped


def _why_not(model_type: str) -> str:
    """Whether transformers' own default config of ``model_type`` builds (on the meta device: no memory)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        with torch.device("meta"):
            AutoModelForCausalLM.from_config(AutoConfig.for_model(model_type))
    except Exception:  # noqa: BLE001
        return "does not build, nor does transformers' default config of it"
    return "does not build at the tiny size"


def tokenizer(name: str, pretrained: str | None = None) -> TextTokenizer:
    """The byte-level tokenizer every member reads (257 ids), context length :data:`POSITIONS`."""
    return TextTokenizer(byte_tokenizer(), "bytes", POSITIONS)
