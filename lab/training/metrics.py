"""Evaluation metrics over plain Python sequences and tensors.

Tag sequences are ``Sequence[Sequence[T]]``: one inner sequence per sentence, of tag ids
or tag strings, unpadded (use :func:`unpad` to cut padded ``(B, T)`` tensors). Token
probabilities are flattened over the real tokens of a corpus: ``probs (N, C)`` with rows
summing to 1 and ``gold (N,)`` tag ids, N = number of real tokens.

Span metrics read BIO (= IOB2) tags the way ``conlleval`` and ``seqeval`` (default mode)
do: an ``I-X`` that does not continue an ``X`` span starts a new span.
"""

from __future__ import annotations

from collections.abc import Container, Hashable, Sequence
from typing import Any

import torch

__all__ = [
    "unpad",
    "token_accuracy",
    "sentence_accuracy",
    "bio_spans",
    "span_prf",
    "invalid_transition_rate",
    "nll_per_token",
    "expected_calibration_error",
    "brier_score",
    "accuracy_by_oov",
    "accuracy_by_length",
    "bayes_optimal_accuracy",
]


def unpad(padded: torch.Tensor, lengths: torch.Tensor | Sequence[int]) -> list[list[int]]:
    """Cut a right-padded ``(B, T)`` tensor into B lists of ``lengths[b]`` ints."""
    if padded.dim() != 2:
        raise ValueError(f"unpad expects a (B, T) tensor, got shape {tuple(padded.shape)}")
    rows = padded.tolist()
    lens = lengths.tolist() if isinstance(lengths, torch.Tensor) else list(lengths)
    if len(lens) != len(rows):
        raise ValueError(f"unpad: {len(rows)} rows but {len(lens)} lengths")
    bad = [n for n in lens if not 0 <= n <= padded.shape[1]]
    if bad:
        raise ValueError(f"unpad: lengths must be in [0, T={padded.shape[1]}], got {bad[:3]}")
    return [row[:n] for row, n in zip(rows, lens, strict=True)]


def _check_aligned(gold: Sequence[Sequence], pred: Sequence[Sequence]) -> None:
    if len(gold) != len(pred):
        raise ValueError(
            f"expected as many predicted as gold sentences: {len(pred)} vs {len(gold)}"
        )
    for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted")


def _ratio(num: float, den: float) -> float:
    return num / den if den else float("nan")


def token_accuracy(gold: Sequence[Sequence[Hashable]], pred: Sequence[Sequence[Hashable]]) -> float:
    """Fraction of tokens whose predicted tag equals the gold tag (NaN if no tokens)."""
    _check_aligned(gold, pred)
    correct = sum(
        g == p for gs, ps in zip(gold, pred, strict=True) for g, p in zip(gs, ps, strict=True)
    )
    total = sum(len(gs) for gs in gold)
    return _ratio(correct, total)


def sentence_accuracy(
    gold: Sequence[Sequence[Hashable]], pred: Sequence[Sequence[Hashable]]
) -> float:
    """Fraction of sentences tagged entirely right (exact match; NaN if none)."""
    _check_aligned(gold, pred)
    return _ratio(sum(list(g) == list(p) for g, p in zip(gold, pred, strict=True)), len(gold))


def _split_bio(tag: str, where: str) -> tuple[str, str]:
    """'B-PER' -> ('B', 'PER'); 'O' -> ('O', '')."""
    if tag == "O":
        return "O", ""
    if len(tag) > 2 and tag[1] == "-" and tag[0] in "BI":
        return tag[0], tag[2:]
    raise ValueError(f"{where}: expected a BIO tag ('O', 'B-X' or 'I-X'), got {tag!r}")


def bio_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """The entity spans of one BIO sentence as ``(type, start, end)``, end inclusive.

    >>> bio_spans(["B-PER", "I-PER", "O", "I-LOC"])
    [('PER', 0, 1), ('LOC', 3, 3)]
    """
    spans = []
    prev_prefix, prev_type, begin = "O", "", 0
    for i, tag in enumerate([*tags, "O"]):
        prefix, type_ = _split_bio(tag, f"token {i}")
        continues = prefix == "I" and prev_prefix != "O" and type_ == prev_type
        if prev_prefix != "O" and not continues:
            spans.append((prev_type, begin, i - 1))
        if prefix == "B" or (prefix == "I" and not continues):
            begin = i
        prev_prefix, prev_type = prefix, type_
    return spans


def span_prf(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, float]:
    """Micro-averaged entity precision, recall and F1 over BIO tag strings.

    A predicted span counts as correct when its type, start and end equal a gold span's.
    Returns ``precision, recall, f1`` (0 where undefined, as seqeval) and the counts
    ``n_gold, n_pred, n_correct``.
    """
    _check_aligned(gold, pred)
    n_gold = n_pred = n_correct = 0
    for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
        try:
            gs, ps = set(bio_spans(g)), set(bio_spans(p))
        except ValueError as e:
            raise ValueError(f"sentence {i}: {e}") from None
        n_gold += len(gs)
        n_pred += len(ps)
        n_correct += len(gs & ps)
    precision = n_correct / n_pred if n_pred else 0.0
    recall = n_correct / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "n_gold": n_gold,
        "n_pred": n_pred,
        "n_correct": n_correct,
    }


def invalid_transition_rate(pred: Sequence[Sequence[str]]) -> float:
    """Fraction of tokens tagged ``I-X`` whose previous tag is neither ``B-X`` nor ``I-X``
    (sentence start included): how often a decoder breaks the BIO grammar.

    The denominator is the number of tokens (NaN if none).
    """
    invalid = total = 0
    for i, tags in enumerate(pred):
        prev_prefix, prev_type = "O", ""
        for t, tag in enumerate(tags):
            prefix, type_ = _split_bio(tag, f"sentence {i}, token {t}")
            if prefix == "I" and (prev_prefix == "O" or prev_type != type_):
                invalid += 1
            prev_prefix, prev_type = prefix, type_
        total += len(tags)
    return _ratio(invalid, total)


def _probs_and_gold(probs, gold) -> tuple[torch.Tensor, torch.Tensor]:
    probs = torch.as_tensor(probs, dtype=torch.float64)
    gold = torch.as_tensor(gold, dtype=torch.long)
    if probs.dim() != 2 or gold.dim() != 1 or probs.shape[0] != gold.shape[0]:
        raise ValueError(
            f"expected probs (N, C) and gold (N,), got {tuple(probs.shape)} and {tuple(gold.shape)}"
        )
    if gold.numel() and (gold.min() < 0 or gold.max() >= probs.shape[1]):
        raise ValueError(
            f"gold tag ids must lie in [0, {probs.shape[1]}), got {gold.tolist()[:10]}"
        )
    return probs, gold


def nll_per_token(probs: torch.Tensor, gold: torch.Tensor) -> float:
    """Mean ``-log p(gold_n)`` over N tokens, from token marginals ``probs (N, C)``.

    A zero probability on a gold tag gives ``inf``.
    """
    probs, gold = _probs_and_gold(probs, gold)
    if gold.numel() == 0:
        return float("nan")
    p = probs.gather(1, gold[:, None]).squeeze(1)  # (N,)
    return float(-torch.log(p).mean())


def expected_calibration_error(probs: torch.Tensor, gold: torch.Tensor, n_bins: int = 15) -> float:
    """Top-label expected calibration error of token marginals ``probs (N, C)``.

    Each token's confidence is its largest probability, correct when that argmax tag is
    gold. Tokens fall into ``n_bins`` equal-width confidence bins ``(k/n, (k+1)/n]``;
    ECE = sum over bins of (bin size / N) * |accuracy(bin) - mean confidence(bin)|.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    probs, gold = _probs_and_gold(probs, gold)
    n = gold.numel()
    if n == 0:
        return float("nan")
    confidence, argmax = probs.max(dim=1)  # (N,), (N,)
    correct = (argmax == gold).double()  # (N,)
    # bin k holds confidences in (k/n_bins, (k+1)/n_bins]; confidence 0 joins bin 0
    bins = (torch.ceil(confidence * n_bins).long() - 1).clamp(0, n_bins - 1)  # (N,)
    conf_sum = torch.bincount(bins, weights=confidence, minlength=n_bins)  # (n_bins,)
    acc_sum = torch.bincount(bins, weights=correct, minlength=n_bins)  # (n_bins,)
    return float((conf_sum - acc_sum).abs().sum() / n)


def brier_score(probs: torch.Tensor, gold: torch.Tensor) -> float:
    """Multi-class Brier score: mean over N tokens of ``sum_c (p_c - [c == gold])^2``
    (0 is perfect, 2 the worst)."""
    probs, gold = _probs_and_gold(probs, gold)
    if gold.numel() == 0:
        return float("nan")
    onehot = torch.nn.functional.one_hot(gold, probs.shape[1]).double()  # (N, C)
    return float(((probs - onehot) ** 2).sum(dim=1).mean())


def accuracy_by_oov(
    gold: Sequence[Sequence[Hashable]],
    pred: Sequence[Sequence[Hashable]],
    tokens: Sequence[Sequence[str]],
    known: Container[str],
) -> dict[str, float]:
    """Token accuracy split by whether the token is in ``known`` (e.g. the set of
    training words). Returns ``in_vocab_accuracy, oov_accuracy, oov_rate, n_oov``."""
    _check_aligned(gold, pred)
    _check_aligned(gold, tokens)
    hits = {True: 0, False: 0}
    counts = {True: 0, False: 0}
    for gs, ps, ws in zip(gold, pred, tokens, strict=True):
        for g, p, w in zip(gs, ps, ws, strict=True):
            k = w in known
            counts[k] += 1
            hits[k] += g == p
    total = counts[True] + counts[False]
    return {
        "in_vocab_accuracy": _ratio(hits[True], counts[True]),
        "oov_accuracy": _ratio(hits[False], counts[False]),
        "oov_rate": _ratio(counts[False], total),
        "n_oov": counts[False],
    }


def _bucket_name(lo: int, hi: int | None) -> str:
    return f"{lo}+" if hi is None else f"{lo}-{hi}"


def accuracy_by_length(
    gold: Sequence[Sequence[Hashable]],
    pred: Sequence[Sequence[Hashable]],
    edges: Sequence[int] = (10, 20, 40),
) -> dict[str, dict[str, float]]:
    """Token accuracy per sentence-length bucket.

    ``edges=(10, 20, 40)`` makes buckets ``1-10, 11-20, 21-40, 41+`` (lengths inclusive).
    Returns ``{bucket: {"accuracy": float, "sentences": int, "tokens": int}}`` for every
    bucket, NaN accuracy for an empty one.
    """
    if list(edges) != sorted(set(edges)) or (edges and edges[0] < 1):
        raise ValueError(f"edges must be increasing positive ints, got {list(edges)}")
    _check_aligned(gold, pred)
    bounds = list(zip([1, *[e + 1 for e in edges]], [*edges, None], strict=True))
    stats = {_bucket_name(lo, hi): [0, 0, 0] for lo, hi in bounds}  # hits, tokens, sentences
    for gs, ps in zip(gold, pred, strict=True):
        n = len(gs)
        if n == 0:
            continue
        for lo, hi in bounds:
            if n >= lo and (hi is None or n <= hi):
                s = stats[_bucket_name(lo, hi)]
                s[0] += sum(g == p for g, p in zip(gs, ps, strict=True))
                s[1] += n
                s[2] += 1
                break
    return {
        name: {"accuracy": _ratio(h, t), "sentences": s, "tokens": t}
        for name, (h, t, s) in stats.items()
    }


def bayes_optimal_accuracy(sentences: Sequence, params: Any) -> dict[str, float]:
    """The best token and sentence accuracy any tagger can expect on ``sentences`` drawn
    from the HMM ``params`` (``lab.data.HMMParams``): exact max-marginal and Viterbi
    decoding under the true parameters (``lab.structured.bayes_optimal``).

    Returns ``{"token_accuracy", "sentence_accuracy"}``; ValueError for a word or tag the
    HMM does not have.
    """
    from lab.structured import bayes_optimal

    word_ids = {w: i for i, w in enumerate(params.word_names)}
    tag_ids = {t: i for i, t in enumerate(params.tag_names)}
    try:
        words = [[word_ids[w] for w in s.tokens] for s in sentences]
        tags = [[tag_ids[t] for t in s.tags] for s in sentences]
    except KeyError as e:
        raise ValueError(f"{e.args[0]!r} is not a word or tag of this HMM") from None
    return bayes_optimal(words, tags, params.start, params.transition, params.emission)
