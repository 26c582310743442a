"""The one evaluation: every metric of a tagger on tagged sentences, and the dev score
the training loop stops on. Uses only the ``Tagger`` interface: ``decode``,
``resolve_decoder``, ``log_prob`` and ``marginals``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from lab.data.batch import Batch
from lab.data.batching import make_batches
from lab.data.sentence import Sentence
from lab.data.tagset import is_bio_tagset
from lab.device import model_device
from lab.models.trainable import TrainBatch
from lab.training import metrics
from lab.training.config import DEV_METRICS

if TYPE_CHECKING:
    from lab.models.tagger import Tagger


def is_batches(data: Sequence[Any]) -> bool:
    """True for a list of ready batches (``TrainBatch``: ``.to`` and ``.num_tokens``),
    False for a list of ``Sentence``; ValueError when empty, TypeError for anything else."""
    if len(data) == 0:
        raise ValueError("expected a non-empty list of Sentence or batches, got an empty one")
    if all(isinstance(x, Sentence) for x in data):
        return False
    if all(isinstance(x, TrainBatch) for x in data):
        return True
    raise TypeError(
        "expected a list of lab.data.Sentence or a list of batches (lab.data.Batch, "
        f"ClassificationBatch, TranslationBatch), got {sorted({type(x).__name__ for x in data})}"
    )


def eval_batches(data: Sequence[Any], vocabs: Any, batch_size: int) -> list[Any]:
    """``data`` as a list of batches: ready batches as they are, sentences batched in
    corpus order (needs ``vocabs``)."""
    if is_batches(data):
        return list(data)
    if vocabs is None:
        raise ValueError("sentences need vocabs to be batched: pass vocabs=Vocabs(...)")
    return make_batches(data, vocabs, batch_size, shuffle=False)


def _gold_and_pred(
    model: Tagger, batches: Sequence[Batch], device: torch.device, decoder: str | None
) -> tuple[list[list[int]], list[list[int]]]:
    gold, pred = [], []
    for batch in batches:
        if batch.tags is None:
            raise ValueError("evaluation needs tagged sentences; a batch has tags=None")
        decoded = model.decode(batch.to(device), method=decoder)  # (B, T)
        gold += metrics.unpad(batch.tags, batch.lengths)
        pred += metrics.unpad(decoded.cpu(), batch.lengths)
    return gold, pred


def _names(ids: list[list[int]], tag_names: Sequence[str]) -> list[list[str]]:
    return [[tag_names[i] for i in row] for row in ids]


def dev_scores(
    model: Tagger,
    batches: Sequence[Batch],
    metric: str = "token_accuracy",
    tag_names: Sequence[str] | None = None,
    decoder: str | None = None,
) -> tuple[float, float]:
    """(dev metric, token accuracy) from one decoding pass; ``fit`` ranks epochs by the
    pair, so span-F1 ties (0 while a tagger still predicts only O) are broken by token
    accuracy instead of spending patience on a flat zero."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            gold, pred = _gold_and_pred(model, batches, model_device(model), decoder)
    finally:
        model.train(was_training)
    accuracy = metrics.token_accuracy(gold, pred)
    if metric == "token_accuracy":
        return accuracy, accuracy
    if metric == "span_f1":
        if tag_names is None:
            raise ValueError("dev_metric 'span_f1' needs the tag names: pass vocabs")
        f1 = metrics.span_prf(_names(gold, tag_names), _names(pred, tag_names))["f1"]
        return f1, accuracy
    raise ValueError(f"dev metric must be one of {list(DEV_METRICS)}, got {metric!r}")


def _sequence_nll(model: Tagger, batch: Batch) -> float:
    """-sum over sentences of log p(gold tags | x). ``log_prob`` where the model has it:
    a generative model's ``loss`` is the joint -log p(x, y), not comparable."""
    try:
        return -float(model.log_prob(batch, batch.tags).sum())
    except NotImplementedError:  # the Tagger default: no conditional, use the loss
        return float(model.loss(batch)) * batch.num_tokens


def evaluate_batches(
    model: Tagger,
    batches: Sequence[Batch],
    tag_names: Sequence[str],
    decoder: str | None = None,
    tag_scheme: str | None = None,
    known_words: Any = None,
    length_edges: Sequence[int] = (10, 20, 40),
) -> dict[str, Any]:
    """Every metric of ``evaluate`` on ready batches, on the model's current device."""
    if tag_scheme not in (None, "bio", "none"):
        raise ValueError(f"tag_scheme must be None (auto), 'bio' or 'none', got {tag_scheme!r}")
    decoder = model.resolve_decoder(decoder)
    device = model_device(model)
    was_training = model.training
    model.eval()
    gold, pred, tokens = [], [], []
    probs, flat_gold = [], []
    nll_sum, has_marginals = 0.0, True
    try:
        with torch.no_grad():
            for batch in batches:
                if batch.tags is None:
                    raise ValueError("evaluation needs tagged sentences; a batch has tags=None")
                on_device = batch.to(device)
                decoded = model.decode(on_device, method=decoder)  # (B, T)
                gold += metrics.unpad(batch.tags, batch.lengths)
                pred += metrics.unpad(decoded.cpu(), batch.lengths)
                tokens += batch.tokens
                nll_sum += _sequence_nll(model, on_device)
                if has_marginals:
                    try:
                        marg = model.marginals(on_device).float().cpu()  # (B, T, C)
                    except NotImplementedError:
                        has_marginals = False
                        continue
                    probs.append(marg[batch.mask])  # (N_b, C)
                    flat_gold.append(batch.tags[batch.mask])  # (N_b,)
    finally:
        model.train(was_training)
    n_tokens = sum(len(g) for g in gold)
    out: dict[str, Any] = {
        "decoder": decoder,
        "n_sentences": len(gold),
        "n_tokens": n_tokens,
        "token_accuracy": metrics.token_accuracy(gold, pred),
        "sentence_accuracy": metrics.sentence_accuracy(gold, pred),
        "nll_per_token": nll_sum / n_tokens if n_tokens else float("nan"),
    }
    if has_marginals and probs:
        p, g = torch.cat(probs), torch.cat(flat_gold)
        out["marginal_nll"] = metrics.nll_per_token(p, g)
        out["ece"] = metrics.expected_calibration_error(p, g)
        out["brier"] = metrics.brier_score(p, g)
    if known_words is not None and len(tokens) == len(gold):
        out.update(metrics.accuracy_by_oov(gold, pred, tokens, known_words))
    for bucket, stats in metrics.accuracy_by_length(gold, pred, length_edges).items():
        out[f"accuracy_len_{bucket}"] = stats["accuracy"]
    scheme = tag_scheme or ("bio" if is_bio_tagset(tag_names) else "none")
    if scheme == "bio":
        gold_names, pred_names = _names(gold, tag_names), _names(pred, tag_names)
        prf = metrics.span_prf(gold_names, pred_names)
        out["span_precision"], out["span_recall"], out["span_f1"] = (
            prf["precision"],
            prf["recall"],
            prf["f1"],
        )
        out["invalid_transition_rate"] = metrics.invalid_transition_rate(pred_names)
    return out


def evaluate(
    model: Tagger,
    sentences: Sequence[Any],
    vocabs: Any,
    batch_size: int = 64,
    decoder: str | None = None,
    tag_scheme: str | None = None,
    train_vocab: Any = None,
    length_edges: Sequence[int] = (10, 20, 40),
    hmm_params: Any = None,
) -> dict[str, Any]:
    """Every metric of one model on tagged ``sentences``, as one flat dict.

    decoder      a name from ``model.decoders`` (None: the model's default; an unknown
                 name -> ValueError from ``model.resolve_decoder``)
    tag_scheme   None (auto: "bio" when every tag is O/B-X/I-X), "bio" or "none"
    train_vocab  the known words for the OOV split (anything supporting ``in``; default
                 ``vocabs.words``, i.e. OOV = outside the model's word vocabulary)
    hmm_params   the true ``HMMParams`` of a synthetic corpus: adds
                 bayes_token_accuracy, bayes_sentence_accuracy and
                 bayes_gap = bayes_token_accuracy - token_accuracy

    Keys: decoder, n_sentences, n_tokens, token_accuracy, sentence_accuracy,
    nll_per_token (-log p(gold tag sequence | x) per token, from ``log_prob``, else
    the model's loss),
    marginal_nll, ece, brier (from the token marginals; absent if the model has none),
    in_vocab_accuracy, oov_accuracy, oov_rate, n_oov, accuracy_len_<bucket>, and for
    BIO tags span_precision, span_recall, span_f1, invalid_transition_rate.
    """
    batches = eval_batches(sentences, vocabs, batch_size)
    known = train_vocab if train_vocab is not None else vocabs.words
    out = evaluate_batches(
        model, batches, vocabs.tags.names, decoder, tag_scheme, known, length_edges
    )
    if hmm_params is not None:
        bayes = metrics.bayes_optimal_accuracy(sentences, hmm_params)
        out["bayes_token_accuracy"] = bayes["token_accuracy"]
        out["bayes_sentence_accuracy"] = bayes["sentence_accuracy"]
        out["bayes_gap"] = bayes["token_accuracy"] - out["token_accuracy"]
    return out
