"""shrinkbench-text's language models: ``tiny-llama`` (bundled, with its own tokenizer), ``hf:<id or dir>``
(any Hugging Face causal LM) and ``hf-tiny:<model_type>`` (every transformers causal-LM architecture at a tiny
size). Each builds a :class:`~shrinkbench_text.models.wrapper.CausalLM` -- ``forward(token_ids) -> logits`` --
and has a :class:`~shrinkbench_text.models.tokenizer.TextTokenizer`. Importing this package imports neither
torch nor transformers."""
