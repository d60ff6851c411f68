"""The :class:`shrinkbench.Tokenizer` of a language model, over a Hugging Face ``tokenizers.Tokenizer``.

``encode`` must be fast on corpora of many megabytes: one ``Tokenizer.encode`` call on a 10 MB string takes
~9 s here, while the same text cut into ~16 KB pieces at line starts and encoded as a batch (Rust threads)
takes ~4 s on 2 busy cores. Cutting is exact only where the tokenizer never joins a line break to the next
line's first character -- true of byte-level BPE (GPT-2, Llama 3, Qwen, the bundled tokenizer), false of
SentencePiece-style tokenizers that prepend a word marker to every piece. Each tokenizer is probed once on a
text made to expose that: if the pieces' tokens differ from the whole text's, ``encode`` does not cut.

A tokenizer's ``name`` is its label (hub id, directory or bundled name) and a hash of its whole serialised
definition (vocabulary, merges, normaliser, pre-tokeniser), so two different tokenizers never share a name.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["CHUNK_CHARS", "TextTokenizer", "byte_tokenizer", "context_length_of"]

CHUNK_CHARS = 16_384
"""Characters per piece ``encode`` hands the tokenizer (cut at the next line start after this many)."""

_LINE_START = re.compile(r"\n(?=\S)")
_PROBE = ("First line.\nSecond line, then a blank one.\n\nIndented:\n    code = 1\n\tTabbed\n"
          "Numbers 12345 and symbols -- (a) [b] {c}!\r\nWindows line.\nÜnïcödé wörds, 中文, emoji 🙂.\n"
          "  two spaces\n\n\nThree breaks.\nend")
_POSITION_KEYS = ("max_position_embeddings", "n_positions", "n_ctx", "max_sequence_length", "seq_length",
                  "max_seq_len", "seq_len")


class TextTokenizer:
    """A :class:`shrinkbench.Tokenizer`: ``name``, ``vocab_size``, ``context_length`` and ``encode(text)``.

    ``backend`` is a ``tokenizers.Tokenizer`` (a fast tokenizer); ``label`` names where it comes from (the
    ``name`` adds a hash of its definition); ``context_length`` is the model's maximum sequence length
    (``None``: unknown). ``vocab_size`` counts every id ``encode`` may return (added tokens included).
    """

    def __init__(self, backend: Any, label: str, context_length: int | None) -> None:
        definition = backend.to_str()
        self.backend = backend
        self.name = f"{label}#{hashlib.sha256(definition.encode()).hexdigest()[:12]}"
        self.vocab_size = int(backend.get_vocab_size(with_added_tokens=True))
        self.context_length = context_length
        self.cuts = self._cutting_is_exact()

    def __repr__(self) -> str:
        return f"TextTokenizer({self.name!r}, vocab_size={self.vocab_size}, context_length={self.context_length})"

    def encode(self, text: str) -> list[int]:
        """The token ids of ``text``, without special tokens (no BOS/EOS added)."""
        if not text:
            return []
        if not self.cuts or len(text) <= CHUNK_CHARS:
            return list(self.backend.encode(text, add_special_tokens=False).ids)
        encodings = self.backend.encode_batch_fast(pieces(text, CHUNK_CHARS), add_special_tokens=False)
        return [token for encoding in encodings for token in encoding.ids]

    def decode(self, ids: list[int]) -> str:
        """The text of token ``ids`` (special tokens kept)."""
        return self.backend.decode(ids, skip_special_tokens=False)

    def _cutting_is_exact(self) -> bool:
        """Whether encoding :data:`_PROBE` cut at every line start gives the tokens of the whole text."""
        whole = self.backend.encode(_PROBE, add_special_tokens=False).ids
        cut = self.backend.encode_batch(pieces(_PROBE, 1), add_special_tokens=False)
        return [token for encoding in cut for token in encoding.ids] == whole


def pieces(text: str, size: int) -> list[str]:
    """``text`` cut into consecutive pieces of at least ``size`` characters (the last may be shorter), each
    cut made just after a line break that a non-space character follows."""
    out: list[str] = []
    start = 0
    while start < len(text):
        found = _LINE_START.search(text, start + size) if start + size < len(text) else None
        end = found.end() if found else len(text)
        out.append(text[start:end])
        start = end
    return out


def context_length_of(config: Mapping[str, Any] | Any) -> int | None:
    """The maximum sequence length a model config declares (``max_position_embeddings``, GPT-2's
    ``n_positions``, ...; a text sub-config's for multimodal models), or ``None`` when it declares none."""
    if not isinstance(config, Mapping):
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        config = text.to_dict() if hasattr(text, "to_dict") else vars(text)
    for key in _POSITION_KEYS:
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    nested = config.get("text_config")
    return context_length_of(nested) if isinstance(nested, Mapping) else None


def byte_tokenizer() -> Any:
    """A ``tokenizers.Tokenizer`` with one token per byte (id = byte value + 1) and ``<|endoftext|>`` = 0:
    257 ids, no merges, GPT-2's byte-level pre-tokenisation and decoding."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    shifted = iter(range(256, 512))
    symbol = {b: chr(b) if b in printable else chr(next(shifted)) for b in range(256)}  # GPT-2's byte symbols
    vocab = {"<|endoftext|>": 0, **{symbol[b]: b + 1 for b in range(256)}}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(["<|endoftext|>"])
    return tokenizer
