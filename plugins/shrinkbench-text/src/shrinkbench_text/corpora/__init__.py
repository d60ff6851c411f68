"""The text corpora of shrinkbench-text, as :class:`shrinkbench.DatasetSpec` s of the ``causal-lm`` task
(:mod:`.specs`): the bundled ``shakespeare`` corpus (:mod:`.bundled`), and ``wikitext2``, ``c4`` and ``ptb`` read
from a data directory (:mod:`.files`, checked by :mod:`.status`, fetched by :mod:`.download`).

Every loader returns a split's text as one ``str``, its documents joined as the papers' evaluation code joins
them; the engine tokenizes it with the model's tokenizer. Nothing here imports torch or transformers.
"""
