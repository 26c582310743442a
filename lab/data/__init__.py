"""The data layer: corpus readers, synthetic corpora, vocabularies and batching.

Data flows one way: file or generator -> ``Sentence`` list -> ``Vocabs`` (train only)
-> ``Batch`` (``make_batches``) -> model.

Names are imported lazily (on first use), so that importing ``lab.cli.data`` for
``lab --help`` does not pull in torch or numpy.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Sentence": "lab.data.sentence",
    # readers and files
    "read_conllu": "lab.data.readers",
    "read_columns": "lab.data.readers",
    "read_corpus": "lab.data.readers",
    "detect_format": "lab.data.readers",
    "iter_lines": "lab.data.readers",
    "shared_data_dir": "lab.data.corpora",
    "real_corpus": "lab.data.corpora",
    "load_real_corpus": "lab.data.corpora",
    "REAL_CORPORA": "lab.data.corpora",
    # vocabularies
    "Vocab": "lab.data.vocab",
    "CharVocab": "lab.data.vocab",
    "TagVocab": "lab.data.vocab",
    "Vocabs": "lab.data.vocab",
    "PAD": "lab.data.vocab",
    "UNK": "lab.data.vocab",
    "PAD_ID": "lab.data.vocab",
    "UNK_ID": "lab.data.vocab",
    # batching (torch)
    "Batch": "lab.data.batch",
    "collate": "lab.data.batching",
    "BucketBatchSampler": "lab.data.batching",
    "make_batches": "lab.data.batching",
    "pad_ids": "lab.data.batching",
    # subsets and statistics
    "nested_subsets": "lab.data.subsets",
    "token_count": "lab.data.subsets",
    "CorpusStats": "lab.data.stats",
    "corpus_stats": "lab.data.stats",
    "oov_rate": "lab.data.stats",
    # synthetic corpora
    "HMMParams": "lab.data.synthetic.hmm",
    "make_hmm_params": "lab.data.synthetic.hmm",
    "sample_hmm": "lab.data.synthetic.hmm",
    "synthetic_hmm": "lab.data.synthetic.hmm",
    "word_order_corpus": "lab.data.synthetic.word_order",
    "long_range_corpus": "lab.data.synthetic.long_range",
    "translation_pairs": "lab.data.synthetic.translation",
    "builtin_corpus": "lab.data.corpora",
    "builtin_kind": "lab.data.corpora",
    "builtin_names": "lab.data.corpora",
    "builtin_splits": "lab.data.corpora",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lab.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
