"""``ModelConfig``: the frozen description of a tagger, validated on construction."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from lab.configs import config_from_dict

ENCODERS = ("bow", "elman", "residual", "gated", "lstm", "gru")
# head -> its decoders; the first is the default
HEAD_DECODERS: dict[str, tuple[str, ...]] = {
    "softmax": ("argmax",),
    "crf": ("viterbi", "max_marginal"),
    "autoregressive": ("greedy", "beam", "exact"),
    "hmm": ("viterbi", "max_marginal"),
}
HEADS = tuple(HEAD_DECODERS)
CHAR_ENCODERS = ("cnn", "lstm")
# initialisations beyond torch's (lab.models.initialisation applies them)
RECURRENT_INITS = ("default", "orthogonal", "identity")
GATED_ENCODERS = ("gated", "lstm", "gru")
RECURRENT_ENCODERS = ("elman", "residual", "gated", "lstm", "gru")


def parse_gate_init(spec: str) -> tuple[str, float]:
    """``"default"`` -> ("default", 0); ``"bias:B"`` -> ("bias", B); ``"chrono:TMAX"`` ->
    ("chrono", TMAX). ValueError naming what was expected otherwise."""
    if not isinstance(spec, str):
        raise ValueError(f"gate_init must be a string, got {spec!r}")
    kind, sep, value = spec.partition(":")
    expected = "expected 'default', 'bias:B' (B a number) or 'chrono:TMAX' (TMAX >= 2)"
    if kind == "default" and not sep:
        return "default", 0.0
    if kind not in ("bias", "chrono") or not sep:
        raise ValueError(f"gate_init {spec!r}: {expected}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"gate_init {spec!r}: {expected}") from None
    if not math.isfinite(number) or (kind == "chrono" and number < 2):
        raise ValueError(f"gate_init {spec!r}: {expected}")
    return kind, number


def check_init(encoder: str, gate_init: str, recurrent_init: str) -> None:
    """ValueError unless the inits exist and apply to ``encoder``."""
    kind, _ = parse_gate_init(gate_init)
    if kind != "default" and encoder not in GATED_ENCODERS:
        raise ValueError(
            f"gate_init={gate_init!r} needs a gated encoder {list(GATED_ENCODERS)}; "
            f"encoder {encoder!r} has no gate"
        )
    if recurrent_init not in RECURRENT_INITS:
        raise ValueError(
            f"unknown recurrent_init {recurrent_init!r}; expected one of {list(RECURRENT_INITS)}"
        )
    if recurrent_init != "default" and encoder not in RECURRENT_ENCODERS:
        raise ValueError(
            f"recurrent_init={recurrent_init!r} needs a recurrent encoder; "
            f"encoder {encoder!r} has no recurrence"
        )


@dataclass(frozen=True)
class ModelConfig:
    """A tagger = word features -> encoder -> head.

    encoder         one of ENCODERS; ``bow`` is each word's own features, no context
    bidirectional   run a second direction (not for ``bow``)
    layers          stacked encoder layers (for ``bow``: Linear+tanh blocks)
    embedding_dim   word embedding size
    hidden          encoder size per direction (a bidirectional encoder outputs 2*hidden);
                    also the size of the autoregressive head's tag GRU
    dropout         on word features, between layers and on encoder outputs; in [0, 1)
    char_features   add character features of each token
    char_encoder    "cnn" (char_dim embeddings, char_dim width-3 filters, max-pooled) or
                    "lstm" (char_dim embeddings, a BiLSTM of char_dim per direction, its
                    two final states: 2 * char_dim features)
    word_dropout    training replaces each word id by <unk> with this probability
    head            one of HEADS; ``hmm`` is the generative chain model and has no
                    encoder: with it, the encoder fields are left at their defaults and
                    stored as encoder='bow', bidirectional=False, char_features=False (one
                    model, one config); asking for an encoder the HMM lacks is an error
    decoder         None (the head's default) or one of HEAD_DECODERS[head]
    beam_width      k for the autoregressive head's beam decoder
    bio_constraints forbid invalid BIO transitions (crf and hmm heads; needs tag_names)
    tag_embedding_dim  size of the y_{t-1} embedding of the autoregressive head
    gate_init       the bias of the gate that keeps the old state (LSTM forget gate, GRU
                    update gate, the lecture's lambda): "default" (torch's draw), "bias:B"
                    or "chrono:TMAX" (lab.models.initialisation); gated encoders only
    recurrent_init  each H x H block of the recurrent weights: "default", "orthogonal" or
                    "identity"; recurrent encoders only
    vectors         a pretrained word-vectors file (GloVe or word2vec text, gz or not) whose
                    vectors initialise the embeddings of the words it has (lab.data.vectors;
                    its dimension must be embedding_dim); the others are drawn as without
    freeze_vectors  keep the word embeddings fixed in training
    """

    encoder: str = "lstm"
    bidirectional: bool = False
    layers: int = 1
    embedding_dim: int = 64
    hidden: int = 64
    dropout: float = 0.0
    char_features: bool = False
    char_dim: int = 32
    char_encoder: str = "cnn"
    word_dropout: float = 0.0
    head: str = "softmax"
    decoder: str | None = None
    beam_width: int = 4
    bio_constraints: bool = False
    tag_embedding_dim: int = 16
    gate_init: str = "default"
    recurrent_init: str = "default"
    vectors: str | None = None
    freeze_vectors: bool = False

    def __post_init__(self) -> None:
        if self.encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {self.encoder!r}; expected one of {list(ENCODERS)}")
        if self.head not in HEADS:
            raise ValueError(f"unknown head {self.head!r}; expected one of {list(HEADS)}")
        valid = HEAD_DECODERS[self.head]
        if self.decoder is not None and self.decoder not in valid:
            raise ValueError(
                f"head {self.head!r} has no decoder {self.decoder!r}; expected one of "
                f"{list(valid)} (or None for {valid[0]!r})"
            )
        for name in ("layers", "embedding_dim", "hidden", "char_dim", "beam_width"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if not isinstance(self.tag_embedding_dim, int) or self.tag_embedding_dim < 1:
            raise ValueError(
                f"tag_embedding_dim must be an int >= 1, got {self.tag_embedding_dim!r}"
            )
        for name in ("dropout", "word_dropout"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 <= float(value) < 1.0):
                raise ValueError(f"{name} must be in [0, 1), got {value!r}")
        if self.char_encoder not in CHAR_ENCODERS:
            raise ValueError(
                f"unknown char_encoder {self.char_encoder!r}; expected one of {list(CHAR_ENCODERS)}"
            )
        if self.encoder == "bow" and self.bidirectional:
            raise ValueError("encoder 'bow' has no direction: set bidirectional=False")
        if self.head == "hmm":
            if self.encoder not in ("bow", "lstm") or self.bidirectional or self.char_features:
                raise ValueError(
                    "head 'hmm' is generative and has no encoder: leave encoder, "
                    f"bidirectional and char_features unset (got encoder={self.encoder!r}, "
                    f"bidirectional={self.bidirectional}, char_features={self.char_features})"
                )
            # the default encoder ('lstm') means "none given": store the encoder-less value,
            # as the committed configs do, so that head='hmm' alone names the same model
            object.__setattr__(self, "encoder", "bow")
        if self.head != "hmm":
            check_init(self.encoder, self.gate_init, self.recurrent_init)
        elif (self.gate_init, self.recurrent_init) != ("default", "default"):
            raise ValueError(
                "head 'hmm' has no encoder to initialise: leave gate_init and recurrent_init unset"
            )
        if self.vectors is not None and not (isinstance(self.vectors, str) and self.vectors):
            raise ValueError(f"vectors must be a file path or None, got {self.vectors!r}")
        if (self.vectors is not None or self.freeze_vectors) and self.head == "hmm":
            raise ValueError("head 'hmm' has no word embeddings: leave vectors unset")
        if self.bio_constraints and self.head not in ("crf", "hmm"):
            raise ValueError(f"bio_constraints needs head 'crf' or 'hmm', got head={self.head!r}")

    @property
    def resolved_decoder(self) -> str:
        """The decoder ``decode`` uses by default: ``decoder`` or the head's first."""
        return self.decoder or HEAD_DECODERS[self.head][0]

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (JSON-ready) of every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """The config from a dict; an unknown key -> ValueError listing the valid keys."""
        return config_from_dict(cls, data)
