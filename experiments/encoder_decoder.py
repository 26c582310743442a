"""Claim 7: an encoder-decoder RNN translates: the encoder reads the source into one
context C; the decoder emits each target word from its state, C and the previous word.
One fixed-size C must hold the whole source, so accuracy falls as the source grows;
beam search finds more probable translations than greedy decoding.

One run = one encoder-decoder (a recurrent cell for both RNNs) trained on the toy
translation task for one seed: exact-match and token accuracy of greedy and beam
decoding, by source length.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from experiments import _common as common
from lab.report import stats, verdict

NAME = "encoder_decoder"
CLAIM = (
    "An encoder-decoder RNN (the source read into one context C; each target word from "
    "the decoder state, C and the previous word) learns to translate, less well as the "
    "source grows; beam search improves on greedy decoding."
)
BOS, EOS = "<s>", "</s>"
BEAM = 4


def grid(scale: str) -> list[dict]:
    # early stopping on dev exact match (greedy) under one epoch cap and patience;
    # max_seconds is a safety net only (its hits are counted and left out)
    base = common.pick(
        scale,
        {"n_train": 200, "n_test": 80, "hidden": 16, "max_epochs": 2, "patience": 2,
         "cells": ["gru"]},
        {"n_train": 4000, "n_test": 800, "hidden": 64, "max_epochs": 12, "patience": 3,
         "cells": ["gru"]},
        {"n_train": 20000, "n_test": 4000, "hidden": 128, "max_epochs": 40, "patience": 5,
         "cells": ["gru", "lstm", "gated", "elman"]},
        standard={"n_train": 4000, "n_test": 1600, "hidden": 64, "max_epochs": 30,
                  "patience": 4, "cells": ["gru"]},
    )  # fmt: skip
    cells = base.pop("cells")
    return [
        {"cell": cell, "seed": s, "lr": 3e-3, "batch_size": 32, "embedding_dim": 32,
         "max_seconds": 900, **base}
        for cell in cells
        for s in common.seeds(scale)
    ]  # fmt: skip


def run(config: dict) -> dict:
    import torch

    from lab.data import Vocab, pad_ids, translation_pairs
    from lab.models import EncoderDecoder
    from lab.models.seq2seq import TranslationBatch

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

    def tensors(pairs) -> TranslationBatch:
        src, src_mask = pad_ids([src_vocab.encode(s) for s, _ in pairs], device)
        tgt = [tgt_vocab.encode(t) for _, t in pairs]
        tgt_in, tgt_mask = pad_ids([[bos, *t] for t in tgt], device)
        tgt_out, _ = pad_ids([[*t, eos] for t in tgt], device)
        return TranslationBatch(src, src_mask, tgt_in, tgt_out, tgt_mask)

    size = int(config["batch_size"])
    batches = [tensors(train[i : i + size]) for i in range(0, len(train), size)]
    max_len = max(len(t) for _, t in train + dev + test) + 1

    def predict(pairs, k: int) -> list[list[int]]:
        b = tensors(pairs)
        out = model.beam(b.src, b.src_mask, max_len, k=k).tolist()
        return [row[: row.index(eos) + 1] if eos in row else row for row in out]

    def dev_exact() -> float:
        gold = [[*tgt_vocab.encode(t), eos] for _, t in dev]
        return sum(p == g for p, g in zip(predict(dev, 1), gold, strict=True)) / len(dev)

    fit = common.fit_model(model, batches, [tensors(dev)], config, score=lambda m: dev_exact())
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
        "best_dev_exact_match": float(fit.best_dev_metric),
        **common.fit_metrics(fit),
    }
    for name in ("greedy", f"beam{BEAM}"):
        mine = [r for r in rows if r["decoder"] == name]
        out[f"exact_match_{name}"] = sum(r["exact"] for r in mine) / len(mine)
        out[f"token_accuracy_{name}"] = sum(r["token_right"] for r in mine) / sum(
            r["tokens"] for r in mine
        )
    return out


# --- the rule ----------------------------------------------------------------------

MIN_ACC = 0.8  # validity: greedy token accuracy at the shortest source length

RULE = (
    "validity first (else insufficient): the encoder-decoder learned the toy translation "
    "(greedy token accuracy >= {min_acc:g} at the shortest source length, mean over seeds). "
    "supported if its greedy per-token accuracy falls from the shortest to the longest "
    "source length (single lengths, paired over seeds: 95% CI of the drop above 0; per "
    "token, so not merely the compounding of a constant per-token error that exact match "
    "shows) AND beam search improves on greedy (beam minus greedy exact match over all "
    "lengths, paired over seeds: CI above 0); not supported if neither holds; mixed "
    "otherwise"
)


def rule(
    token_accuracy_shortest: Mapping[int, float],
    token_accuracy_longest: Mapping[int, float],
    exact_beam: Mapping[int, float],
    exact_greedy: Mapping[int, float],
    shortest: int,
    longest: int,
    min_acc: float = MIN_ACC,
) -> verdict.Verdict:
    """Claim 7: an encoder-decoder with a fixed context C translates, less well as the
    source grows, and beam search improves on greedy. Every argument is per seed."""
    text = RULE.format(min_acc=min_acc)
    if not token_accuracy_shortest or not exact_greedy:
        return verdict.skipped("no runs", text)
    short = stats.estimate(list(token_accuracy_shortest.values()))
    if short.mean < min_acc:
        return verdict.insufficient(
            f"greedy token accuracy {short.format()} at source length {shortest} (needs "
            f">= {min_acc:g})",
            text,
        )
    long_ = stats.estimate(list(token_accuracy_longest.values()))
    drop = stats.paired_estimate(token_accuracy_shortest, token_accuracy_longest)
    gain = stats.paired_estimate(exact_beam, exact_greedy)
    falls, improves = drop.low > 0, gain.low > 0
    figures = (
        f"greedy token accuracy {short.format()} at source length {shortest} vs "
        f"{long_.format()} at {longest}: drop {drop.format('+.3f')}; beam minus greedy exact "
        f"match {gain.format('+.3f')}"
    )
    key = (
        short.figure(f"greedy token accuracy at length {shortest}"),
        long_.figure(f"greedy token accuracy at length {longest}"),
        drop.figure("drop from shortest to longest (paired)"),
        gain.figure("beam - greedy exact match (paired)"),
    )
    return verdict.Verdict(verdict.both(falls, improves), text, figures, key)


def summarize(records: list[dict], out_dir: Path, context: dict) -> dict:
    import pandas as pd

    from lab.report.tables import aggregate

    df, n_capped = common.uncapped(common.frame(records))
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
    mine = lengths[(lengths["cell"] == main) & (lengths["decoder"] == "greedy")]
    runs = df[df["cell"] == main]
    if mine["length"].nunique() < 2:
        return verdict.skipped(
            "fewer than 2 source lengths", RULE.format(min_acc=MIN_ACC)
        ).as_dict()
    shortest, longest = int(mine["length"].min()), int(mine["length"].max())

    def per_seed(length: int) -> dict[int, float]:
        rows = mine[mine["length"] == length]
        return dict(zip(rows["seed"], rows["token_accuracy"], strict=True))

    result = rule(
        token_accuracy_shortest=per_seed(shortest),
        token_accuracy_longest=per_seed(longest),
        exact_beam=dict(zip(runs["seed"], runs[f"exact_match_beam{BEAM}"], strict=True)),
        exact_greedy=dict(zip(runs["seed"], runs["exact_match_greedy"], strict=True)),
        shortest=shortest,
        longest=longest,
    )
    n = int(mine.loc[mine["length"] == longest, "n"].min())
    figures = f"{result.key_figures}; cell {main}, >= {n} test sentences per length and seed"
    if n_capped:
        figures += f"; {n_capped} run(s) stopped by the time safety net, left out"
    return result.with_key_figures(figures).as_dict()
