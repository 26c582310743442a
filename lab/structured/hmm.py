"""The HMM: the generative cousin of the CRF, inferred by the very same chain code.

p(x, y) = p(y_0) prod_{t>=1} p(y_t | y_{t-1}) prod_t p(x_t | y_t). Conditioned on the
words, the posterior over tags is a linear-chain CRF with emissions log p(x_t | y_t),
transitions log p(y_t | y_{t-1}) and start log p(y_0), and its log Z is log p(x):
``hmm_chain`` builds it (torch-struct's HMM is "a special case of linear chain CRF" in
the same way), ``HMM`` holds fitted parameters and ``HMM.crf`` calls ``hmm_chain``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from lab.data.batching import pad_ids
from lab.structured.crf import LinearChainCRF

PAD_ID, UNK_ID = 0, 1  # the lab's Vocab: id 0 = <pad>, id 1 = <unk>


def _as_f64(name: str, x, dims: int) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if t.dim() != dims:
        raise ValueError(f"{name}: expected a {dims}-d array, got shape {tuple(t.shape)}")
    return t.detach().to(torch.float64).cpu()


class HMM:
    """A discrete HMM over C tags and V words, held as log-probabilities.

    Args:
        start: (C,) p(y_0 = c).
        transition: (C, C) [i, j] = p(y_t = j | y_{t-1} = i).
        emission: (C, V) [c, w] = p(x_t = w | y_t = c).
        log: False (default) when the arrays are probabilities (rows sum to one), True
            when they are already log-probabilities.
    Attributes: ``log_start (C,)``, ``log_transition (C, C)``, ``log_emission (C, V)``,
    float64 tensors on the CPU.
    """

    def __init__(self, start, transition, emission, log: bool = False):
        start = _as_f64("start", start, 1)
        transition = _as_f64("transition", transition, 2)
        emission = _as_f64("emission", emission, 2)
        C = start.shape[0]
        if transition.shape != (C, C) or emission.shape[0] != C:
            raise ValueError(
                f"expected start (C,), transition (C, C), emission (C, V) with C = {C}, got "
                f"{tuple(start.shape)}, {tuple(transition.shape)}, {tuple(emission.shape)}"
            )
        if not log:
            for name, p in (("start", start), ("transition", transition), ("emission", emission)):
                rows = p.sum(-1)
                if (p < 0).any() or not torch.allclose(rows, torch.ones_like(rows), atol=1e-6):
                    raise ValueError(f"{name}: expected probabilities with rows summing to 1")
            start, transition, emission = start.log(), transition.log(), emission.log()
        self.log_start, self.log_transition, self.log_emission = start, transition, emission

    @property
    def num_tags(self) -> int:
        """C."""
        return self.log_start.shape[0]

    @property
    def num_words(self) -> int:
        """V."""
        return self.log_emission.shape[1]

    @classmethod
    def fit(
        cls,
        word_id_seqs: Sequence[Sequence[int]],
        tag_id_seqs: Sequence[Sequence[int]],
        num_tags: int,
        num_words: int,
        smoothing: float = 1.0,
        unk_id: int | None = UNK_ID,
        pad_id: int | None = PAD_ID,
    ) -> HMM:
        """Maximum likelihood with add-``smoothing`` (lambda) counts.

        Start, transition and emission counts each get lambda added before normalising.
        ``pad_id`` (if not None) is never emitted (probability 0). ``unk_id`` (if not
        None) also counts, per tag, the training tokens of words seen only once, so the
        unknown word gets the mass rare words have; pass None for both to fit plain
        counts (e.g. a synthetic corpus without a Vocab).
        """
        if smoothing < 0:
            raise ValueError(f"smoothing: expected >= 0, got {smoothing}")
        if len(word_id_seqs) != len(tag_id_seqs):
            raise ValueError(
                f"expected as many tag as word sequences, got {len(tag_id_seqs)} and "
                f"{len(word_id_seqs)}"
            )
        start = np.zeros(num_tags)
        trans = np.zeros((num_tags, num_tags))
        emit = np.zeros((num_tags, num_words))
        for n, (words, tags) in enumerate(zip(word_id_seqs, tag_id_seqs, strict=True)):
            words, tags = np.asarray(words, dtype=np.int64), np.asarray(tags, dtype=np.int64)
            if len(words) != len(tags) or len(words) == 0:
                raise ValueError(
                    f"sequence {n}: expected equal non-zero lengths, got {len(words)} words "
                    f"and {len(tags)} tags"
                )
            if tags.min() < 0 or tags.max() >= num_tags:
                raise ValueError(f"sequence {n}: expected tag ids in [0, {num_tags}), got {tags}")
            if words.min() < 0 or words.max() >= num_words:
                raise ValueError(
                    f"sequence {n}: expected word ids in [0, {num_words}), got {words}"
                )
            start[tags[0]] += 1
            np.add.at(trans, (tags[:-1], tags[1:]), 1)
            np.add.at(emit, (tags, words), 1)
        if unk_id is not None:
            hapax = emit.sum(0) == 1  # (V,) words seen once
            emit[:, unk_id] += emit[:, hapax].sum(1)
        start += smoothing
        trans += smoothing
        emit += smoothing
        if pad_id is not None:
            emit[:, pad_id] = 0.0
        with np.errstate(divide="ignore"):
            return cls(
                np.log(start / start.sum()),
                np.log(trans / trans.sum(1, keepdims=True)),
                np.log(emit / emit.sum(1, keepdims=True)),
                log=True,
            )

    def crf(
        self, words: torch.Tensor, mask: torch.Tensor | None = None, **kwargs
    ) -> LinearChainCRF:
        """The posterior p(y | words) as a ``LinearChainCRF`` on words (B, T) long (ids
        in [0, V)), on the device of ``words``, float64. Extra kwargs go to the CRF."""
        device = words.device if isinstance(words, torch.Tensor) else "cpu"
        return hmm_chain(
            self.log_start.to(device),
            self.log_transition.to(device),
            self.log_emission.to(device),
            words,
            mask,
            **kwargs,
        )


def hmm_chain(
    log_start: torch.Tensor,
    log_transition: torch.Tensor,
    log_emission: torch.Tensor,
    words: torch.Tensor,
    mask: torch.Tensor | None = None,
    **kwargs,
) -> LinearChainCRF:
    """The HMM's posterior p(y | words) as the chain distribution it is: a
    ``LinearChainCRF`` with emissions log p(x_t | y_t) (B, T, C), transitions
    log p(y_t | y_{t-1}) (C, C) and start log p(y_1) (C,). Its ``score(y)`` is
    log p(x, y) and its log Z is log p(x).

    log_start (C,), log_transition (C, C), log_emission (C, V) on the device of ``words``
    (B, T) long, ids in [0, V) on real tokens; the CRF computes in their dtype. Extra
    kwargs (``allowed``, ``allowed_start``) go to the CRF.
    """
    if not isinstance(words, torch.Tensor) or words.dim() != 2:
        raise ValueError(f"words: expected a (B, T) tensor, got {getattr(words, 'shape', words)}")
    num_words = log_emission.shape[1]
    real = words if mask is None else words[mask]
    if real.numel() and (real.min() < 0 or real.max() >= num_words):
        raise ValueError(
            f"words: expected ids in [0, {num_words}), got [{int(real.min())}, {int(real.max())}]"
        )
    emissions = log_emission.t()[words.clamp(0, num_words - 1)]  # (B, T, C)
    return LinearChainCRF(emissions, log_transition, mask=mask, start=log_start, **kwargs)


def bayes_optimal(
    word_id_seqs: Sequence[Sequence[int]],
    tag_id_seqs: Sequence[Sequence[int]],
    start,
    transition,
    emission,
    batch_size: int = 512,
) -> dict[str, float]:
    """The best accuracies any tagger can expect on a corpus drawn from a known HMM.

    start (C,), transition (C, C), emission (C, V): the true probabilities. Token
    accuracy decodes each token by its max marginal, sentence accuracy by Viterbi, both
    under the true parameters. Returns dict(token_accuracy, sentence_accuracy).
    """
    if len(word_id_seqs) != len(tag_id_seqs) or not word_id_seqs:
        raise ValueError(
            f"expected equal, non-zero numbers of word and tag sequences, got "
            f"{len(word_id_seqs)} and {len(tag_id_seqs)}"
        )
    hmm = HMM(start, transition, emission)
    order = sorted(range(len(word_id_seqs)), key=lambda i: len(word_id_seqs[i]))
    tokens_right = tokens = sentences_right = 0
    with torch.no_grad():
        for lo in range(0, len(order), batch_size):
            idx = order[lo : lo + batch_size]
            words, mask = pad_ids([word_id_seqs[i] for i in idx])
            gold, gold_mask = pad_ids([tag_id_seqs[i] for i in idx])
            if not torch.equal(mask, gold_mask):
                raise ValueError("expected each tag sequence to match its word sequence's length")
            crf = hmm.crf(words, mask)
            best_token = crf.marginals.argmax(2)  # (B, T)
            tokens_right += int(((best_token == gold) & mask).sum())
            tokens += int(mask.sum())
            path, _ = crf.viterbi()
            sentences_right += int(((path == gold) | ~mask).all(1).sum())
    return {
        "token_accuracy": tokens_right / tokens,
        "sentence_accuracy": sentences_right / len(word_id_seqs),
    }
