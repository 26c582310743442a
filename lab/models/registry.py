"""``build_model``: any tagger from a ``ModelConfig`` and the corpus sizes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lab.data.tagset import is_bio_tagset
from lab.models.config import ModelConfig
from lab.models.encoders import WordFeatures, build_encoder
from lab.models.heads import AutoregressiveHead, CRFHead, Head, SoftmaxHead
from lab.models.hmm_tagger import HMMTagger
from lab.models.tagger import NeuralTagger, Tagger
from lab.structured.constraints import bio_masks


def _check_size(name: str, value: int, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def build_model(
    config: ModelConfig,
    num_words: int,
    num_tags: int,
    num_chars: int = 0,
    tag_names: Sequence[str] | None = None,
) -> Tagger:
    """The tagger ``config`` describes, for a word vocabulary of ``num_words`` (pad=0,
    unk=1), ``num_tags`` tags and ``num_chars`` characters (needed iff char_features).
    ``tag_names`` (length C) is needed iff ``bio_constraints``. Parameters are initialised
    from torch's global RNG: seed it first for a reproducible model."""
    if not isinstance(config, ModelConfig):
        raise TypeError(f"expected a ModelConfig, got {type(config).__name__}")
    _check_size("num_words", num_words, 2)
    _check_size("num_tags", num_tags, 1)
    _check_size("num_chars", num_chars, 0)
    if tag_names is not None and len(tag_names) != num_tags:
        raise ValueError(f"tag_names has {len(tag_names)} names but num_tags is {num_tags}")
    if config.bio_constraints and tag_names is None:
        raise ValueError("bio_constraints=True needs tag_names (the C tag strings)")
    if config.bio_constraints and not is_bio_tagset(tag_names):
        # without B-/I- tags the masks allow every transition: the option would do nothing
        raise ValueError(
            f"bio_constraints=True needs BIO tags (O, B-X, I-X), got {list(tag_names)[:8]}"
        )
    if config.char_features and num_chars < 2:
        raise ValueError(f"char_features=True needs num_chars >= 2, got {num_chars}")

    if config.head == "hmm":
        return HMMTagger(config, num_words, num_tags, tag_names=tag_names)

    features = WordFeatures(
        num_words,
        config.embedding_dim,
        num_chars=num_chars if config.char_features else 0,
        char_dim=config.char_dim,
        char_encoder=config.char_encoder,
        word_dropout=config.word_dropout,
        freeze=config.freeze_vectors,
    )
    encoder = build_encoder(
        config.encoder,
        features.out_dim,
        config.hidden,
        layers=config.layers,
        bidirectional=config.bidirectional,
        dropout=config.dropout,
        gate_init=config.gate_init,
        recurrent_init=config.recurrent_init,
    )
    head: Head
    if config.head == "softmax":
        head = SoftmaxHead(encoder.out_dim, num_tags)
    elif config.head == "crf":
        allowed, start = bio_masks(tag_names) if config.bio_constraints else (None, None)
        head = CRFHead(encoder.out_dim, num_tags, allowed=allowed, allowed_start=start)
    else:
        head = AutoregressiveHead(
            encoder.out_dim,
            num_tags,
            tag_dim=config.tag_embedding_dim,
            hidden=config.hidden,
            beam_width=config.beam_width,
        )
    return NeuralTagger(config, features, encoder, head)


def build_tagger(config: ModelConfig, vocabs: Any, load_vectors: bool = True) -> Tagger:
    """``build_model`` with the sizes and tag names read off ``vocabs`` (a
    ``lab.data.Vocabs``: words, tags, optional chars); with ``config.vectors``, the
    embeddings of the words the file has start from its vectors (``load_vectors``
    False: not read, as when a checkpoint's weights follow)."""
    model = build_model(
        config,
        num_words=len(vocabs.words),
        num_tags=len(vocabs.tags),
        num_chars=len(vocabs.chars) if vocabs.chars is not None else 0,
        tag_names=list(vocabs.tags.names),
    )
    if config.vectors is not None and load_vectors:
        from lab.data.vectors import read_vectors

        vectors = read_vectors(config.vectors, config.embedding_dim)
        model.features.load_vectors(vocabs.words.itos, vectors)
    return model
