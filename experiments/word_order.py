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
    base = common.pick(
        scale,
        {"n_train": 200, "n_test": 100, "hidden": 16, "max_epochs": 2, "max_seconds": 3},
        {"n_train": 2000, "n_test": 1000, "hidden": 32, "max_epochs": 8, "max_seconds": 5},
        {"n_train": 10000, "n_test": 2000, "hidden": 64, "max_epochs": 20, "max_seconds": None},
    )
    models = MODELS if scale != "tiny" else ("bow", "lstm")
    return [
        {"model": m, "seed": s, "lr": 3e-3, "batch_size": 32, "embedding_dim": 32, **base}
        for m in models
        for s in common.seeds(scale)
    ]


def run(config: dict) -> dict:
    import torch

    from lab.data import Vocab, pad_ids, word_order_corpus
    from lab.data.synthetic.word_order import LABELS
    from lab.models import SequenceClassifier

    device = common.start_run(config)
    seed = int(config["seed"])
    train, dev, test = common.synthetic_splits(
        lambda n, sample_seed: word_order_corpus(n, seed=sample_seed),
        config["n_train"], 200, config["n_test"], seed,
    )  # fmt: skip
    vocab = Vocab.build([tokens for tokens, _ in train])
    label_id = {label: i for i, label in enumerate(LABELS)}

    def tensors(examples):
        words, mask = pad_ids([vocab.encode(t) for t, _ in examples], device)
        labels = torch.tensor([label_id[y] for _, y in examples], device=device)
        return words, mask, labels

    bow = config["model"] == "bow"
    model = SequenceClassifier(
        len(vocab),
        len(LABELS),
        encoder=config["model"],
        embedding_dim=int(config["embedding_dim"]),
        hidden=int(config["hidden"]),
        pooling="mean" if bow else "last",  # bow + mean: the lecture's time-invariant phi
    ).to(device)
    train_batches = [
        tensors([train[i] for i in idx])
        for idx in common.shuffled_chunks(len(train), int(config["batch_size"]), seed, 0)
    ]
    dev_words, dev_mask, dev_labels = tensors(dev)

    def dev_accuracy() -> float:
        return float((model.predict(dev_words, dev_mask) == dev_labels).float().mean())

    fit = common.train_steps(
        model,
        lambda b: model.loss(*b),
        lambda epoch: [train_batches[i] for i in torch.randperm(len(train_batches)).tolist()],
        config,
        score_fn=dev_accuracy,
    )
    words, mask, labels = tensors(test)
    with torch.no_grad():
        accuracy = float((model.predict(words, mask) == labels).float().mean())
        pair = [(s.split(), LABELS[0]) for s in LECTURE_SENTENCES]
        pw, pm, _ = tensors(pair)
        phi = model.features(pw, pm)  # (2, D)
        probs = model.log_probs(pw, pm).exp()  # (2, K)
    person = label_id["person"]
    majority = max(sum(1 for _, y in test if y == label) for label in LABELS) / len(test)
    return {
        "accuracy": accuracy,
        "chance": majority,
        "phi_distance": float((phi[0] - phi[1]).norm()),
        "p_person_sentence_1": float(probs[0, person]),
        "p_person_sentence_2": float(probs[1, person]),
        "prediction_1": LABELS[int(probs[0].argmax())],
        "prediction_2": LABELS[int(probs[1].argmax())],
        "epochs": fit["epochs"],
        "train_seconds": fit["train_seconds"],
    }


# --- the rule ----------------------------------------------------------------------

RULE = (
    "supported if the bag-of-words classifier's mean test accuracy is within {margin:g} of "
    "chance (the majority-class rate) AND the best recurrent classifier's mean accuracy is "
    ">= {rnn_min:g}; not supported if neither holds; mixed otherwise"
)


def rule(
    bow_accuracy: Sequence[float],
    rnn_accuracy: Mapping[str, Sequence[float]],
    chance: float,
    margin: float = 0.1,
    rnn_min: float = 0.9,
) -> verdict.Verdict:
    """Claim 3: an order-blind phi cannot separate "the man ate the hot dog" from "the hot
    dog ate the man"; a recurrent phi can."""
    text = RULE.format(margin=margin, rnn_min=rnn_min)
    if not bow_accuracy or not rnn_accuracy:
        return verdict.skipped("no bag-of-words or no recurrent runs", text)
    bow, _, _ = stats.mean_ci95(bow_accuracy)
    means = {name: stats.mean_ci95(v)[0] for name, v in rnn_accuracy.items() if v}
    best_name = max(means, key=means.get)
    at_chance = abs(bow - chance) <= margin
    rnn_ok = means[best_name] >= rnn_min
    figures = (
        f"bag-of-words accuracy {bow:.3f} (chance {chance:.3f}); best RNN ({best_name}) "
        f"{means[best_name]:.3f}; " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(means.items()))
    )
    return verdict.Verdict(verdict.both(at_chance, rnn_ok), text, figures)


def summarize(records: list[dict], out_dir: Path, context: dict) -> dict:
    from lab.report.tables import aggregate

    df = common.frame(records)
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
        "Word-order corpus: test accuracy of each sentence classifier (chance = "
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
    return rule(bow, rnns, chance=float(df["chance"].mean())).as_dict()
