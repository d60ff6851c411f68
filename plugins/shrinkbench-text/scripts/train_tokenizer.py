"""Train the bundled tokenizer: a byte-level BPE of 4,096 tokens, written as ``tokenizer.json``.

Usage (from the repository root; pass the TRAINING split of the bundled corpus only -- a tokenizer fitted on
the test text would leak it)::

    .venv/bin/python plugins/shrinkbench-text/scripts/train_tokenizer.py CORPUS [--out FILE] [--vocab 4096]

``CORPUS`` is a text file (UTF-8, ``.gz`` allowed) or a directory whose ``*.txt``/``*.txt.gz`` files are read in
sorted order. Paragraphs (text between blank lines) are the training sequences. The result depends only on
the text and the options: the same corpus gives a byte-identical file (the script checks by training twice
with ``--check``). The default output is the file the plugin ships, ``src/shrinkbench_text/tokenizer.json``.

The tokenizer: GPT-2's byte-level pre-tokenisation (no prefix space, so text cut at line starts encodes the
same as whole), merges learnt by ``tokenizers.trainers.BpeTrainer`` (minimum pair frequency 2, the 256 byte
symbols always in the vocabulary), one special token ``<|endoftext|>`` (id 0), byte-level decoding.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "shrinkbench_text" / "tokenizer.json"
END_OF_TEXT = "<|endoftext|>"


def read_corpus(path: Path) -> str:
    """The text of ``path``: one file, or the ``*.txt``/``*.txt.gz`` files of a directory in sorted order
    (joined by a blank line)."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.name.endswith((".txt", ".txt.gz")))
    if not files:
        raise SystemExit(f"{path}: no text file (give a .txt/.txt.gz file or a directory holding some)")
    texts = []
    for file in files:
        raw = file.read_bytes()
        texts.append((gzip.decompress(raw) if file.name.endswith(".gz") else raw).decode("utf-8"))
    return "\n\n".join(texts)


def paragraphs(text: str) -> Iterator[str]:
    """The non-empty paragraphs of ``text`` (separated by blank lines), in order."""
    for part in re.split(r"\n\s*\n", text):
        if part.strip():
            yield part


def train(text: str, vocab: int) -> str:
    """The serialised tokenizer (``tokenizer.json`` content) trained on ``text``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, min_frequency=2, special_tokens=[END_OF_TEXT],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(paragraphs(text), trainer)
    if tokenizer.get_vocab_size() != vocab:
        raise SystemExit(f"the corpus gives only {tokenizer.get_vocab_size()} tokens, not {vocab}: use more text")
    return tokenizer.to_str(pretty=True)


def main(argv: list[str] | None = None) -> int:
    """Train on the corpus, write the file, print its size and SHA-256."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="text file or directory of the training text")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output file (default {DEFAULT_OUT})")
    parser.add_argument("--vocab", type=int, default=4096, help="vocabulary size (default 4096)")
    parser.add_argument("--check", action="store_true", help="train twice and fail unless both are identical")
    args = parser.parse_args(argv)
    text = read_corpus(args.corpus)
    result = train(text, args.vocab)
    if args.check and train(text, args.vocab) != result:
        print("two trainings on the same text differ", file=sys.stderr)
        return 1
    args.out.write_text(result + "\n", encoding="utf-8")
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"{args.out}: {args.vocab} tokens from {len(text.encode()):,} bytes of text; sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
