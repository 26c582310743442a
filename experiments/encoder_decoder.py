"""Claim 7: an encoder-decoder RNN translates: the encoder reads the source into one
context C; the decoder emits each target word from its state, C and the previous word.
One fixed-size C must hold the whole source, so accuracy falls as the source grows;
beam search finds more probable translations than greedy decoding.

One run = one encoder-decoder (a recurrent cell for both RNNs) trained on the toy
translation task for one seed: exact-match and token accuracy of greedy and beam
decoding, by source length.
"""

from __future__ import annotations

from pathlib import Path

from experiments import _common as common
from lab.report import verdict

NAME = "encoder_decoder"
CLAIM = (
    "An encoder-decoder RNN (the source read into one context C; each target word from "
    "the decoder state, C and the previous word) learns to translate, less well as the "
    "source grows; beam search improves on greedy decoding."
)
BOS, EOS = "<s>", "</s>"
BEAM = 4


def grid(scale: str) -> list[dict]:
    base = common.pick(
        scale,
        {"n_train": 200, "n_test": 60, "hidden": 16, "max_epochs": 2, "max_seconds": 3,
         "cells": ["gru"]},
        {"n_train": 4000, "n_test": 600, "hidden": 64, "max_epochs": 15, "max_seconds": 45,
         "cells": ["gru"]},
        {"n_train": 20000, "n_test": 2000, "hidden": 128, "max_epochs": 40,
         "max_seconds": None, "cells": ["gru", "lstm", "gated", "elman"]},
    )  # fmt: skip
    cells = base.pop("cells")
    return [
        {"cell": cell, "seed": s, "lr": 3e-3, "batch_size": 32, "embedding_dim": 32, **base}
        for cell in cells
        for s in common.seeds(scale)
    ]


def run(config: dict) -> dict:
    import torch

    from lab.data import Vocab, pad_ids, translation_pairs
    from lab.models import EncoderDecoder

    device = common.start_run(config)
    seed = int(config["seed"])
    train, dev, test = common.synthetic_splits(
        lambda n, sample_seed: translation_pairs(n, seed=sample_seed),
        config["n_train"], 200, config["n_test"], seed,
    )  # fmt: skip
    src_vocab = Vocab.build([s for s, _ in train])
    # target ids: 0 <pad>, 1 <unk>, then BOS and EOS, then the words
    tgt_vocab = Vocab.build([[BOS, EOS]] * 2 + [t for _, t in train])
    bos, eos = tgt_vocab.index(BOS), tgt_vocab.index(EOS)
    model = EncoderDecoder(
        len(src_vocab),
        len(tgt_vocab),
        hidden=int(config["hidden"]),
        cell=config["cell"],
        embedding_dim=int(config["embedding_dim"]),
        bos=bos,
        eos=eos,
    ).to(device)

    def tensors(pairs):
        src, src_mask = pad_ids([src_vocab.encode(s) for s, _ in pairs], device)
        tgt = [tgt_vocab.encode(t) for _, t in pairs]
        tgt_in, tgt_mask = pad_ids([[bos, *t] for t in tgt], device)
        tgt_out, _ = pad_ids([[*t, eos] for t in tgt], device)
        return src, src_mask, tgt_in, tgt_out, tgt_mask

    batches = [
        tensors([train[i] for i in idx])
        for idx in common.shuffled_chunks(len(train), int(config["batch_size"]), seed, 0)
    ]
    max_len = max(len(t) for _, t in train + dev + test) + 1

    def predict(pairs, k: int) -> list[list[int]]:
        src, src_mask, *_ = tensors(pairs)
        out = model.beam(src, src_mask, max_len, k=k).tolist()
        return [row[: row.index(eos) + 1] if eos in row else row for row in out]

    def dev_exact() -> float:
        gold = [[*tgt_vocab.encode(t), eos] for _, t in dev]
        return sum(p == g for p, g in zip(predict(dev, 1), gold, strict=True)) / len(dev)

    order = torch.Generator().manual_seed(seed)
    fit = common.train_steps(
        model,
        lambda b: model.loss(*b),
        lambda epoch: [batches[i] for i in torch.randperm(len(batches), generator=order)],
        config,
        score_fn=dev_exact,
    )
    rows = []
    gold = [[*tgt_vocab.encode(t), eos] for _, t in test]
    with torch.no_grad():
        for name, k in (("greedy", 1), (f"beam{BEAM}", BEAM)):
            pred = predict(test, k)
            for (src, _), p, g in zip(test, pred, gold, strict=True):
                same = sum(a == b for a, b in zip(p, g, strict=False))
                rows.append(
                    {"decoder": name, "length": len(src), "exact": float(p == g),
                     "token_right": same, "tokens": len(g)}
                )  # fmt: skip
    by_length = {}
    for row in rows:
        key = (row["decoder"], row["length"])
        acc = by_length.setdefault(key, {"n": 0, "exact": 0.0, "right": 0, "tokens": 0})
        acc["n"] += 1
        acc["exact"] += row["exact"]
        acc["right"] += row["token_right"]
        acc["tokens"] += row["tokens"]
    out = {
        "by_length": [
            {
                "decoder": d,
                "length": length,
                "n": a["n"],
                "exact_match": a["exact"] / a["n"],
                "token_accuracy": a["right"] / a["tokens"],
            }
            for (d, length), a in sorted(by_length.items())
        ],  # fmt: skip
        "epochs": fit["epochs"],
        "train_seconds": fit["train_seconds"],
        "best_dev_exact_match": fit["best_score"],
    }
    for name in ("greedy", f"beam{BEAM}"):
        mine = [r for r in rows if r["decoder"] == name]
        out[f"exact_match_{name}"] = sum(r["exact"] for r in mine) / len(mine)
        out[f"token_accuracy_{name}"] = sum(r["token_right"] for r in mine) / sum(
            r["tokens"] for r in mine
        )
    return out


# --- the rule ----------------------------------------------------------------------

RULE = (
    "supported if the encoder-decoder learns the toy translation (greedy token accuracy >= "
    "{min_acc:g} on the shortest sources) AND its exact-match accuracy falls from the "
    "shortest to the longest sources (one context vector C must hold the whole source); "
    "not supported if neither holds; mixed otherwise"
)


def rule(
    token_accuracy_shortest: float,
    exact_match_shortest: float,
    exact_match_longest: float,
    shortest: int,
    longest: int,
    beam_minus_greedy: float,
    min_acc: float = 0.8,
) -> verdict.Verdict:
    """Claim 7: an encoder-decoder with a fixed context C translates, less well as the
    source grows."""
    text = RULE.format(min_acc=min_acc)
    learns = token_accuracy_shortest >= min_acc
    falls = exact_match_longest < exact_match_shortest
    figures = (
        f"greedy token accuracy {token_accuracy_shortest:.3f} at source length {shortest}; "
        f"exact match {exact_match_shortest:.3f} at length {shortest} vs "
        f"{exact_match_longest:.3f} at {longest}; beam minus greedy exact match "
        f"{beam_minus_greedy:+.3f}"
    )
    return verdict.Verdict(verdict.both(learns, falls), text, figures)


def summarize(records: list[dict], out_dir: Path, context: dict) -> dict:
    import pandas as pd

    from lab.report.tables import aggregate

    df = common.frame(records)
    if df.empty:
        return verdict.skipped("no finished runs").as_dict()
    rows = [{**row, "cell": r.cell, "seed": r.seed} for r in df.itertuples() for row in r.by_length]
    lengths = pd.DataFrame(rows)
    table = aggregate(
        lengths, by=["cell", "decoder", "length"], metrics=["exact_match", "token_accuracy"]
    )
    common.write_table(
        table,
        out_dir,
        "accuracy_by_length",
        context,
        "Toy translation (SVO -> SOV with particles and postpositions): exact-match and "
        f"token accuracy of greedy and beam (k = {BEAM}) decoding by source length (tokens).",
    )
    decoders = ("greedy", f"beam{BEAM}")
    overall = aggregate(
        df,
        by=["cell"],
        metrics=[f"{m}_{d}" for m in ("exact_match", "token_accuracy") for d in decoders],
    )
    common.write_table(overall, out_dir, "accuracy", context, "Test accuracy over all lengths.")
    lengths["model"] = lengths["cell"] + " " + lengths["decoder"]
    common.plot(
        lengths,
        out_dir,
        "exact_match_by_length",
        context,
        x="length",
        y="exact_match",
        hue="model",
        xlabel="source length (tokens)",
        ylabel="exact-match accuracy (fraction)",
        title="Encoder-decoder: one context C for the whole source",
    )
    main = "gru" if "gru" in set(df["cell"]) else sorted(df["cell"])[0]
    greedy = table[(table["cell"] == main) & (table["decoder"] == "greedy")].sort_values("length")
    beam = df[df["cell"] == main]
    # the shortest and longest source lengths, pooled over their neighbours (up to 3
    # lengths each, never overlapping)
    pooled = min(3, len(greedy) // 2)
    if pooled < 1:
        return verdict.skipped("fewer than 2 source lengths", RULE.format(min_acc=0.8)).as_dict()
    short, long_ = greedy.head(pooled), greedy.tail(pooled)
    return rule(
        token_accuracy_shortest=float(short["token_accuracy_mean"].mean()),
        exact_match_shortest=float(short["exact_match_mean"].mean()),
        exact_match_longest=float(long_["exact_match_mean"].mean()),
        shortest=int(short["length"].min()),
        longest=int(long_["length"].max()),
        beam_minus_greedy=float(
            (beam[f"exact_match_beam{BEAM}"] - beam["exact_match_greedy"]).mean()
        ),
    ).as_dict()
