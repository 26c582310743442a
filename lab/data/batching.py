"""From sentences to padded ``Batch`` tensors: collate, a length-bucketed sampler, and
``make_batches``, the one call the training loop uses."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from lab.data.batch import Batch
from lab.data.sentence import Sentence
from lab.data.vocab import PAD_ID, Vocabs


def collate(sentences: Sequence[Sentence], vocabs: Vocabs, max_word_len: int = 20) -> Batch:
    """Pad B sentences into a ``Batch``.

    words (B, T), mask (B, T), lengths (B,), tags (B, T) or None when no sentence is
    tagged, chars (B, T, L) with L = min(longest token, ``max_word_len``) (longer tokens
    are cut) or None when ``vocabs.chars`` is None. T is the longest sentence. Raises
    ValueError for an empty list, an empty sentence, tagged and untagged sentences
    mixed, or a tag unseen in training.
    """
    if len(sentences) == 0:
        raise ValueError("collate needs at least one sentence, got none")
    if max_word_len < 1:
        raise ValueError(f"max_word_len must be >= 1, got {max_word_len}")
    for i, s in enumerate(sentences):
        if len(s) == 0:
            raise ValueError(f"sentence {i} of the batch has no tokens; expected at least one")
    tagged = [s.has_tags for s in sentences]
    if any(tagged) and not all(tagged):
        raise ValueError("a batch mixes tagged and untagged sentences; expected one kind")

    # Fill numpy arrays and convert once: per-row torch.tensor calls are ~10x slower.
    B, T = len(sentences), max(len(s) for s in sentences)
    lengths = np.array([len(s) for s in sentences], dtype=np.int64)
    words = np.full((B, T), PAD_ID, dtype=np.int64)
    tags = np.zeros((B, T), dtype=np.int64) if all(tagged) else None
    for b, s in enumerate(sentences):
        words[b, : len(s)] = vocabs.words.encode(s.tokens)
        if tags is not None:
            tags[b, : len(s)] = vocabs.tags.encode(s.tags)

    chars = None
    if vocabs.chars is not None:
        L = min(max_word_len, max(len(t) for s in sentences for t in s.tokens))
        chars = np.full((B, T, L), PAD_ID, dtype=np.int64)
        # One scatter for the whole batch: ids of every token, with their (b, t, l).
        encode = vocabs.chars.encode_token
        pieces = [encode(token)[:L] for s in sentences for token in s.tokens]
        sizes = np.array([len(p) for p in pieces])
        b_of_token = np.repeat(np.arange(B), lengths)
        t_of_token = np.arange(len(pieces)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        l_index = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        chars[np.repeat(b_of_token, sizes), np.repeat(t_of_token, sizes), l_index] = np.concatenate(
            pieces
        )

    lengths_t = torch.from_numpy(lengths)
    return Batch(
        words=torch.from_numpy(words),
        mask=torch.arange(T)[None, :] < lengths_t[:, None],  # (B, T)
        lengths=lengths_t,
        tags=None if tags is None else torch.from_numpy(tags),
        chars=None if chars is None else torch.from_numpy(chars),
        tokens=[list(s.tokens) for s in sentences],
    )


class BucketBatchSampler:
    """Batches of indices whose items have similar lengths (less padding).

    With ``shuffle=True`` each epoch sorts the indices by length with random tie-breaks,
    cuts them into batches of ``batch_size`` and shuffles the order of the batches; the
    result depends only on ``(seed, epoch)``, so every epoch differs and each is
    reproducible (set the epoch with ``set_epoch`` or the constructor). With
    ``shuffle=False`` the batches are the length-sorted order (stable), the same every
    epoch. Every index appears exactly once per epoch.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        epoch: int = 0,
    ) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        if self.lengths.ndim != 1:
            raise ValueError(f"lengths must be one number per item, got shape {self.lengths.shape}")
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = epoch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        n = len(self.lengths)
        if self.shuffle:
            rng = np.random.default_rng([self.seed, self.epoch])
            tie_break = rng.permutation(n)
            order = tie_break[np.argsort(self.lengths[tie_break], kind="stable")]
        else:
            order = np.argsort(self.lengths, kind="stable")
        batches = [order[i : i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return iter(batches)


def make_batches(
    sentences: Sequence[Sentence],
    vocabs: Vocabs,
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int = 0,
    epoch: int = 0,
    max_word_len: int = 20,
) -> list[Batch]:
    """All of ``sentences`` as batches of at most ``batch_size``.

    ``shuffle=True`` (training): length-bucketed batches from ``BucketBatchSampler`` for
    ``(seed, epoch)``. ``shuffle=False`` (evaluation): consecutive chunks in corpus order,
    so predictions line up with the input.
    """
    if shuffle:
        sampler = BucketBatchSampler([len(s) for s in sentences], batch_size, True, seed, epoch)
        index_batches = list(sampler)
    else:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        n = len(sentences)
        index_batches = [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]
    return [collate([sentences[i] for i in idx], vocabs, max_word_len) for idx in index_batches]


def pad_ids(
    rows: Sequence[Sequence[int]], device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad ragged id lists with ``PAD_ID``: (ids (B, T) long, mask (B, T) bool),
    T the longest row; on ``device`` when given."""
    T = max(len(r) for r in rows)
    ids = torch.full((len(rows), T), PAD_ID, dtype=torch.long)
    mask = torch.zeros(len(rows), T, dtype=torch.bool)
    for b, r in enumerate(rows):
        ids[b, : len(r)] = torch.as_tensor(list(r), dtype=torch.long)
        mask[b, : len(r)] = True
    if device is not None:
        ids, mask = ids.to(device), mask.to(device)
    return ids, mask
