"""Claim 3: a time-invariant (bag-of-words) phi gives "the man ate the hot dog" and "the
hot dog ate the man" the same representation, so it cannot tell who eats; a recurrent
phi can.

One run = one sentence classifier (bag of words, or a unidirectional RNN cell) trained
on the word-order corpus (pairs of sentences with the same words in both orders, labelled
with who eats) for one seed: test accuracy, and for the lecture's two sentences, each
model's p(label) and the distance between their two phi vectors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from experiments import _common as common
from lab.report import stats, verdict

NAME = "word_order"
CLAIM = (
    "A time-invariant phi (bag of words) maps 'the man ate the hot dog' and 'the hot dog "
    "ate the man' to the same vector, so a classifier on it cannot tell them apart; an "
    "RNN's phi depends on word order and can."
)
LECTURE_SENTENCES = ("the man ate the hot dog", "the hot dog ate the man")
MODELS = ("bow", "elman", "residual", "gated", "lstm", "gru")


def grid(scale: str) -> list[dict]:
    # early stopping on dev accuracy under an epoch cap and patience shared by every
    # model; max_seconds is a safety net (its hits are counted and left out)
    base = common.pick(
        scale,
        {"n_train": 200, "n_test": 200, "hidden": 16, "max_epochs": 2, "patience": 2},
        {"n_train": 2000, "n_test": 1000, "hidden": 32, "max_epochs": 15, "patience": 3},
        {"n_train": 10000, "n_test": 4000, "hidden": 64, "max_epochs": 40, "patience": 5},
        # every cell is at 1.000 or 0.500 exactly within 5 epochs at quick: standard adds
        # seeds and test sentences, not epochs
        standard={"n_train": 2000, "n_test": 4000, "hidden": 32, "max_epochs": 15, "patience": 3},
    )
    models = MODELS if scale != "tiny" else ("bow", "lstm")
    return [
        {"model": m, "seed": s, "lr": 3e-3, "batch_size": 32, "embedding_dim": 32,
         "max_seconds": 300, **base}
        for m in models
        for s in common.seeds(scale)
    ]  # fmt: skip


def bag(tokens: Sequence[str]) -> tuple[str, ...]:
    """A sentence's word multiset (what a bag-of-words phi sees), hashable."""
    return tuple(sorted(tokens))


def unseen_bags(train, test):
    """The test examples whose word multiset never occurs in training: an RNN right on
    these cannot have memorised the bag (pairs stay together: both orders share a bag)."""
    seen = {bag(tokens) for tokens, _ in train}
    return [(tokens, label) for tokens, label in test if bag(tokens) not in seen]


def run(config: dict) -> dict:
    import torch

    from lab.data import Vocab, pad_ids, word_order_corpus
    from lab.data.synthetic.word_order import LABELS
    from lab.models import SequenceClassifier
    from lab.models.classifier import ClassificationBatch

    device = common.start_run(config)
    seed = int(config["seed"])
    train, dev, test = common.synthetic_splits(
        lambda n, sample_seed: word_order_corpus(n, seed=sample_seed),
        config["n_train"], 200, config["n_test"], seed,
    )  # fmt: skip
    test = unseen_bags(train, test)
    vocab = Vocab.build([tokens for tokens, _ in train])
    label_id = {label: i for i, label in enumerate(LABELS)}

    def batch(examples) -> ClassificationBatch:
        words, mask = pad_ids([vocab.encode(t) for t, _ in examples], device)
        labels = torch.tensor([label_id[y] for _, y in examples], device=device)
        return ClassificationBatch(words, mask, labels)

    bow = config["model"] == "bow"
    model = SequenceClassifier(
        len(vocab),
        len(LABELS),
        encoder=config["model"],
        embedding_dim=int(config["embedding_dim"]),
        hidden=int(config["hidden"]),
        pooling="mean" if bow else "last",  # bow + mean: the lecture's time-invariant phi
    ).to(device)
    size = int(config["batch_size"])
    train_batches = [batch(train[i : i + size]) for i in range(0, len(train), size)]
    dev_batch = batch(dev)

    def accuracy(m, b: ClassificationBatch) -> float:
        return float((m.predict(b.words, b.mask) == b.labels).float().mean())

    fit = common.fit_model(
        model, train_batches, [dev_batch], config, score=lambda m: accuracy(m, dev_batch)
    )
    test_batch = batch(test)
    with torch.no_grad():
        test_accuracy = accuracy(model, test_batch)
        pair = batch([(s.split(), LABELS[0]) for s in LECTURE_SENTENCES])
        phi = model.features(pair.words, pair.mask)  # (2, D)
        probs = model.log_probs(pair.words, pair.mask).exp()  # (2, K)
    person = label_id["person"]
    majority = max(sum(1 for _, y in test if y == label) for label in LABELS) / len(test)
    return {
        "accuracy": test_accuracy,
        "n_test_unseen": len(test),
        "chance": majority,
        "phi_distance": float((phi[0] - phi[1]).norm()),
        "p_person_sentence_1": float(probs[0, person]),
        "p_person_sentence_2": float(probs[1, person]),
        "prediction_1": LABELS[int(probs[0].argmax())],
        "prediction_2": LABELS[int(probs[1].argmax())],
        **common.fit_metrics(fit),
    }


# --- the rule ----------------------------------------------------------------------

MIN_UNSEEN = 200  # validity: test sentences whose word multiset training never showed
MARGIN = 0.05  # bag of words "at chance": its CI inside chance +- this
RNN_MIN = 0.9  # a recurrent phi "tells them apart": its CI's lower end >= this

RULE = (
    "on test sentences whose word multiset never occurs in training (validity first, else "
    "insufficient: >= {min_unseen} of them per seed): supported if the bag-of-words "
    "classifier's accuracy is at chance (its 95% CI over seeds inside chance +- {margin:g}) "
    "AND every recurrent classifier's is high (each cell's CI lower end >= {rnn_min:g}); "
    "not supported if neither holds; mixed otherwise"
)


def rule(
    bow_accuracy: Sequence[float],
    rnn_accuracy: Mapping[str, Sequence[float]],
    chance: float,
    min_unseen: int,
    margin: float = MARGIN,
    rnn_min: float = RNN_MIN,
) -> verdict.Verdict:
    """Claim 3: an order-blind phi cannot separate "the man ate the hot dog" from "the hot
    dog ate the man"; a recurrent phi can, on word multisets it never saw.

    bow_accuracy, rnn_accuracy[cell]: one test accuracy per seed; ``min_unseen``: the
    fewest unseen-multiset test sentences of any run."""
    text = RULE.format(min_unseen=MIN_UNSEEN, margin=margin, rnn_min=rnn_min)
    if not bow_accuracy or not rnn_accuracy:
        return verdict.skipped("no bag-of-words or no recurrent runs", text)
    if min_unseen < MIN_UNSEEN:
        return verdict.insufficient(
            f"{min_unseen} test sentences with an unseen word multiset (needs {MIN_UNSEEN})", text
        )
    bow = stats.estimate(bow_accuracy)
    rnns = {name: stats.estimate(v) for name, v in rnn_accuracy.items() if v}
    at_chance = bow.low >= chance - margin and bow.high <= chance + margin
    rnn_ok = all(e.low >= rnn_min for e in rnns.values())
    worst = min(rnns, key=lambda k: rnns[k].low)
    figures = (
        f"unseen word multisets (>= {min_unseen} test sentences per seed): bag-of-words "
        f"accuracy {bow.format()} (chance {chance:.3f}); recurrent: "
        + ", ".join(f"{k} {e.format()}" for k, e in sorted(rnns.items()))
        + f"; lowest CI end {worst} {rnns[worst].low:.3f}"
    )
    key = (bow.figure("bag-of-words accuracy"),) + tuple(
        e.figure(f"{k} accuracy") for k, e in sorted(rnns.items())
    )
    return verdict.Verdict(verdict.both(at_chance, rnn_ok), text, figures, key)


def summarize(records: list[dict], out_dir: Path, context: dict) -> dict:
    from lab.report.tables import aggregate

    df, n_capped = common.uncapped(common.frame(records))
    if df.empty:
        return verdict.skipped("no finished runs").as_dict()
    table = aggregate(
        df,
        by=["model"],
        metrics=["accuracy", "phi_distance", "p_person_sentence_1", "p_person_sentence_2"],
    )
    common.write_table(
        table,
        out_dir,
        "accuracy",
        context,
        "Word-order corpus: accuracy of each sentence classifier on the test sentences whose "
        "word multiset never occurs in training (chance = "
        f"{df['chance'].mean():.3f}); phi_distance = ||phi(s1) - phi(s2)|| and "
        f"p(person eats | s) for s1 = '{LECTURE_SENTENCES[0]}', s2 = '{LECTURE_SENTENCES[1]}'.",
    )
    first_seed = df[df["seed"] == df["seed"].min()]
    sentences = first_seed[
        ["model", "phi_distance", "prediction_1", "p_person_sentence_1", "prediction_2",
         "p_person_sentence_2"]
    ]  # fmt: skip
    common.write_table(
        sentences,
        out_dir,
        "lecture_sentences",
        context,
        f"The lecture's two sentences: s1 = '{LECTURE_SENTENCES[0]}' (the man eats), s2 = "
        f"'{LECTURE_SENTENCES[1]}' (the hot dog eats); identical bag-of-words phi "
        "(distance 0) means identical predictions. First seed.",
    )
    print(
        "\n".join(
            f"  {row.model:<9} phi distance {row.phi_distance:.3g}: s1 -> {row.prediction_1}, "
            f"s2 -> {row.prediction_2}"
            for row in sentences.itertuples()
        )
    )
    common.plot(
        df,
        out_dir,
        "accuracy",
        context,
        x="model",
        y="accuracy",
        hue=None,
        hline=(float(df["chance"].mean()), "chance"),
        xlabel="sentence classifier (phi)",
        ylabel="test accuracy (fraction)",
        title="Who eats? Bag of words vs recurrent phi",
    )
    bow = list(df.loc[df["model"] == "bow", "accuracy"])
    rnns = {m: list(g["accuracy"]) for m, g in df[df["model"] != "bow"].groupby("model")}
    result = rule(
        bow, rnns, chance=float(df["chance"].mean()), min_unseen=int(df["n_test_unseen"].min())
    )
    if n_capped:
        return verdict.Verdict(
            result.verdict,
            result.rule,
            f"{result.key_figures}; {n_capped} run(s) stopped by the time safety net, left out",
        ).as_dict()
    return result.as_dict()
