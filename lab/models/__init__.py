"""Taggers (encoder + head), a sequence classifier and an encoder-decoder.

Public API::

    ModelConfig                      frozen config (encoder, head, decoder, sizes, ...)
    build_model(config, num_words, num_tags, num_chars=0, tag_names=None) -> Tagger
    build_tagger(config, vocabs) -> Tagger   the same, sizes read off a lab.data.Vocabs
    Tagger                           loss / log_prob / marginals / decode(batch, method,
                                     **options) / decoders / resolve_decoder
    HMMTagger                        generative tagger, fit_closed_form(batches)
    SequenceClassifier, ClassificationBatch   one label per sentence; loss(batch)
    EncoderDecoder, TranslationBatch          seq2seq; loss(batch), greedy, beam
    ENCODERS, HEADS, HEAD_DECODERS   the valid names

Names are imported lazily so that ``lab --help`` (which imports ``lab.bench.rnn``)
does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "ModelConfig": "lab.models.config",
    "ENCODERS": "lab.models.config",
    "HEADS": "lab.models.config",
    "HEAD_DECODERS": "lab.models.config",
    "build_model": "lab.models.registry",
    "build_tagger": "lab.models.registry",
    "Tagger": "lab.models.tagger",
    "NeuralTagger": "lab.models.tagger",
    "HMMTagger": "lab.models.hmm_tagger",
    "SequenceClassifier": "lab.models.classifier",
    "ClassificationBatch": "lab.models.classifier",
    "EncoderDecoder": "lab.models.seq2seq",
    "TranslationBatch": "lab.models.seq2seq",
    "build_encoder": "lab.models.encoders",
    "WordFeatures": "lab.models.encoders",
    "ElmanCell": "lab.models.cells",
    "ResidualCell": "lab.models.cells",
    "GatedCell": "lab.models.cells",
    "SoftmaxHead": "lab.models.heads",
    "CRFHead": "lab.models.heads",
    "AutoregressiveHead": "lab.models.heads",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lab.models' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
