"""Claim 6: when every y_t depends on all of y_1:t-1 (an autoregressive tagger), exact
decoding must enumerate the C^T sequences (exponential in T); greedy search is linear in
T but only approximate: it can miss the model's own most probable sequence. A CRF, whose
tags depend on their neighbour only, decodes exactly in linear time (Viterbi).

One run = one tagger (autoregressive head, or CRF head, on the same unidirectional LSTM
encoder) trained on a synthetic HMM corpus of short sentences for one seed: test accuracy
of each decoder (greedy, beam k = 2 and 5, exact enumeration; Viterbi for the CRF), the
rate at which each approximate decoder misses the exact argmax (a strictly lower
log-probability under the model), and decode time per sentence against T.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from experiments import _common as common
from lab.report import stats, verdict

NAME = "greedy_vs_exact"
CLAIM = (
    "With tags that depend on all previous tags, exact decoding enumerates C^T sequences "
    "(exponential in T) while greedy search is linear in T but approximate: it can miss "
    "the model's own best sequence."
)
SERIAL = True  # it measures time: lab reproduce runs it alone, one run at a time
THREADS = 1  # one CPU thread: small sequential ops time reliably on a shared machine
HMM = {"num_tags": 3, "vocab_size": 50, "concentration": 0.3, "ambiguity": 2}
BEAMS = (2, 5)
TIMING_SENTENCES = 4  # sentences of each length T whose decoding is timed


def grid(scale: str) -> list[dict]:
    # exact decoding timed to its limit (C^T sequences per sentence), greedy to T = 100
    # (quick) and 200 (standard); early stopping on dev accuracy under one epoch cap and
    # patience for both heads, max_seconds a safety net (its hits counted and left out)
    base = common.pick(
        scale,
        {"n_train": 100, "n_test": 40, "max_test_len": 5, "exact_T": [2, 3, 4, 5, 6],
         "greedy_T": [10, 25, 50], "hidden": 16, "max_epochs": 2, "patience": 2},
        {"n_train": 500, "n_test": 100, "max_test_len": 7, "exact_T": list(range(2, 10)),
         "greedy_T": [10, 25, 50, 100], "hidden": 32, "max_epochs": 15, "patience": 3},
        {"n_train": 2000, "n_test": 1000, "max_test_len": 10, "exact_T": list(range(2, 13)),
         "greedy_T": [10, 25, 50, 100, 200, 400], "hidden": 64, "max_epochs": 40,
         "patience": 5},
        standard={"n_train": 1000, "n_test": 300, "max_test_len": 8,
                  "exact_T": list(range(2, 12)), "greedy_T": [10, 25, 50, 100, 200],
                  "hidden": 32, "max_epochs": 30, "patience": 5},
    )  # fmt: skip
    return [
        {
            "head": head,
            "seed": s,
            "lr": 3e-3,
            "batch_size": 32,
            "threads": THREADS,
            "max_seconds": 600,
            **base,
        }
        for head in ("autoregressive", "crf")
        for s in common.seeds(scale)
    ]


def corpus(n: int, seed: int, min_len: int, max_len: int, mean: float):
    from lab.data import synthetic_hmm

    sentences, _ = synthetic_hmm(
        n, seed=seed, param_seed=3, min_length=min_len, max_length=max_len, mean_length=mean,
        **HMM,
    )  # fmt: skip
    return sentences


def run(config: dict) -> dict:
    with common.pinned_threads(config.get("threads")):
        return _run(config)


def _run(config: dict) -> dict:
    import torch

    from lab.data import TagVocab, Vocab, Vocabs, make_batches

    device = common.start_run(config)
    seed, top = int(config["seed"]), int(config["max_test_len"])
    mean = (2 + top) / 2
    train, dev, test = common.synthetic_splits(
        lambda n, sample_seed: corpus(n, sample_seed, 2, top, mean),
        config["n_train"], 100, config["n_test"], seed,
    )  # fmt: skip
    tag_names = [f"T{j}" for j in range(HMM["num_tags"])]
    vocabs = Vocabs(words=Vocab.build([s.tokens for s in train]), tags=TagVocab(tag_names))
    kwargs = {
        "encoder": "lstm",
        "bidirectional": False,
        "head": config["head"],
        "hidden": int(config["hidden"]),
        "embedding_dim": int(config["hidden"]),
    }
    model, fit = common.train_tagger(kwargs, train, dev, vocabs, config)
    model.eval()
    C = HMM["num_tags"]
    limit = C ** max(config["exact_T"])  # enumerate up to the longest timed sentence
    if config["head"] == "autoregressive":
        decoders = {
            "greedy": {"method": "greedy"},
            **{f"beam{k}": {"method": "beam", "k": k} for k in BEAMS},
            "exact": {"method": "exact", "limit": limit},
        }
    else:
        decoders = {"viterbi": {"method": "viterbi"}}

    def decode(batch, name: str):
        return model.decode(batch, **decoders[name])

    out: dict = {"head": config["head"], **common.fit_metrics(fit)}
    out["majority_rate"] = majority_rate(test)
    gold, decoded, log_probs = [], {name: [] for name in decoders}, {name: [] for name in decoders}
    with torch.no_grad():
        for batch in make_batches(test, vocabs, batch_size=64):
            batch = batch.to(device)
            gold.append((batch.tags, batch.mask))
            for name in decoders:
                tags = decode(batch, name)
                decoded[name].append(tags)
                log_probs[name].append(model.log_prob(batch, tags))  # (B,) under the model
    for name in decoders:
        right = tokens = sentences_right = 0
        for (g, m), p in zip(gold, decoded[name], strict=True):
            right += int(((g == p) & m).sum())
            tokens += int(m.sum())
            sentences_right += int(((g == p) | ~m).all(1).sum())
        out[f"token_accuracy_{name}"] = right / tokens
        out[f"sentence_accuracy_{name}"] = sentences_right / len(test)
    if "exact" in decoders:
        best = torch.cat(log_probs["exact"])
        for name in decoders:
            if name != "exact":
                # a miss: a sequence strictly less probable than the exact argmax
                missed = torch.cat(log_probs[name]) < best - 1e-5
                out[f"miss_rate_{name}"] = float(missed.float().mean())
        out["n_test"] = len(test)

    rows = []
    # greedy, beam and Viterbi decode a batch at once: timed at every length; exact
    # enumerates each sentence in turn: timed up to its limit only
    lengths = sorted(set(config["exact_T"]) | set(config["greedy_T"]))
    for T in lengths:
        sentences = corpus(TIMING_SENTENCES, 800_000 + T, T, T, T)
        batch = make_batches(sentences, vocabs, batch_size=TIMING_SENTENCES)[0].to(device)
        for name in decoders:
            if name == "exact" and T not in config["exact_T"]:
                continue

            def one_pass(name=name, batch=batch):
                with torch.no_grad():
                    decode(batch, name)

            seconds = common.best_time(
                one_pass, device, repeats=2 if name == "exact" and T > 7 else 5
            )
            rows.append(
                {"decoder": name, "T": T, "ms_per_sentence": 1000 * seconds / len(sentences)}
            )
    out["timing"] = rows
    return out


def majority_rate(sentences) -> float:
    """The most frequent tag's share of the tokens."""
    from collections import Counter

    counts = Counter(t for s in sentences for t in s.tags)
    return max(counts.values()) / sum(counts.values())


# --- the rule ----------------------------------------------------------------------

MIN_GROWTH = 1.5  # exact: at least x1.5 per extra token (C = 3: about x3)
GROWTH_POINTS = 4  # fitted over exact's 4 largest T
FLAT_FACTOR = 2.0  # greedy: time / T within a factor 2 over T >= LINEAR_FROM
LINEAR_FROM = 25  # below, the fixed per-call cost (the encoder call) dominates
MIN_GREEDY_T = 100  # validity: greedy timed to at least this length
MIN_EXACT_POINTS = 4
TRAINED_MARGIN = 0.05  # validity: the AR model within this of the CRF's accuracy ...
ABOVE_MAJORITY = 0.1  # ... and this above the majority tag

RULE = (
    "validity first (else insufficient): both taggers trained (the autoregressive model's "
    "exact-decoding token accuracy within {margin:g} of the CRF's Viterbi and >= the "
    "majority tag + {above:g}, means over seeds), greedy timed to T >= {min_t} and exact at "
    ">= {min_points} lengths. supported if greedy misses the autoregressive model's own "
    "exact argmax on some sentences (miss rate's 95% CI over seeds above 0) AND exact "
    "decoding time grows exponentially (CI over seeds of its growth per extra token, over "
    "its {points} largest T, above x{min_growth:g}) while greedy's is linear (time / T, "
    "median over seeds, within a factor {flat:g} (max / min) over T >= {linear_from}); not "
    "supported if neither holds; mixed otherwise"
)

Curve = tuple[list[float], list[float]]  # (T values, ms per sentence) of one seed


def rule(
    miss_rate: Sequence[float],
    exact_curves: list[Curve],
    greedy_curves: list[Curve],
    ar_accuracy: Sequence[float],
    crf_accuracy: Sequence[float],
    majority: float,
    n_sentences: int,
    min_growth: float = MIN_GROWTH,
    flat: float = FLAT_FACTOR,
) -> verdict.Verdict:
    """Claim 6: greedy search is linear in T but only approximates the exponential exact
    search. ``miss_rate``, accuracies: one per seed; curves: one (Ts, ms) per seed."""
    import numpy as np

    text = RULE.format(
        margin=TRAINED_MARGIN, above=ABOVE_MAJORITY, min_t=MIN_GREEDY_T,
        min_points=MIN_EXACT_POINTS, points=GROWTH_POINTS, min_growth=min_growth, flat=flat,
        linear_from=LINEAR_FROM,
    )  # fmt: skip
    if not miss_rate or not exact_curves or not greedy_curves or not crf_accuracy:
        return verdict.skipped("no autoregressive or no CRF runs", text)
    ar, crf = stats.estimate(ar_accuracy), stats.estimate(crf_accuracy)
    greedy_ts = np.asarray(greedy_curves[0][0], dtype=float)
    problems = []
    if ar.mean < crf.mean - TRAINED_MARGIN or ar.mean < majority + ABOVE_MAJORITY:
        problems.append(
            f"autoregressive token accuracy {ar.mean:.3f} vs CRF {crf.mean:.3f} (majority "
            f"{majority:.3f})"
        )
    if greedy_ts.max() < MIN_GREEDY_T or len(exact_curves[0][0]) < MIN_EXACT_POINTS:
        problems.append(
            f"greedy timed to T = {greedy_ts.max():.0f}, exact at {len(exact_curves[0][0])} lengths"
        )
    if problems:
        return verdict.insufficient("; ".join(problems), text)
    miss = stats.estimate(miss_rate)
    approximate = miss.low > 0
    log_growth = stats.slope_estimate(exact_curves, log_x=False, last=GROWTH_POINTS)
    exponential = log_growth.low > math.log(min_growth)
    ratio, slope = stats.per_token_spread(greedy_curves, LINEAR_FROM)
    linear = ratio <= flat
    figures = (
        f"token accuracy: autoregressive (exact) {ar.format()}, CRF {crf.format()}; greedy "
        f"misses the exact argmax on {miss.format('.1f', 100, '%')} of {n_sentences} "
        f"sentences; exact decode time x{math.exp(log_growth.mean):.2f} per extra token "
        f"(95% CI x{math.exp(log_growth.low):.2f} to x{math.exp(log_growth.high):.2f}); "
        f"greedy time / T varies x{ratio:.2f} over T = {LINEAR_FROM}..{greedy_ts.max():.0f}, "
        f"log-log slope {slope.format('.2f')}"
    )
    key = (
        ar.figure("autoregressive token accuracy"),
        crf.figure("CRF token accuracy"),
        miss.figure("greedy miss rate"),
        log_growth.figure("exact decoding log time growth per extra token"),
        slope.figure("greedy log-log slope of time vs T"),
    )
    return verdict.Verdict(verdict.both(approximate, exponential and linear), text, figures, key)


def curves(timing, decoder: str) -> list[Curve]:
    """Per seed, (Ts, ms per sentence) of ``decoder``, T ascending, the Ts all seeds have."""
    sub = timing[timing["decoder"] == decoder]
    if sub.empty:
        return []
    shared = sorted(set.intersection(*(set(g["T"]) for _, g in sub.groupby("seed"))))
    out = []
    for _, g in sub.groupby("seed"):
        g = g[g["T"].isin(shared)].sort_values("T")
        out.append((g["T"].astype(float).tolist(), g["ms_per_sentence"].astype(float).tolist()))
    return out


def summarize(records: list[dict], out_dir: Path, context: dict) -> dict:
    import pandas as pd

    from lab.report.tables import aggregate

    df, n_capped = common.uncapped(common.frame(records))
    if df.empty:
        return verdict.skipped("no finished runs").as_dict()
    rows = []
    for r in df.itertuples():
        names = [c[len("token_accuracy_") :] for c in df.columns if c.startswith("token_accuracy_")]
        for name in names:
            acc = getattr(r, f"token_accuracy_{name}")
            if pd.isna(acc):
                continue
            rows.append(
                {
                    "decoder": name,
                    "seed": r.seed,
                    "token_accuracy": acc,
                    "sentence_accuracy": getattr(r, f"sentence_accuracy_{name}"),
                    "miss_rate": getattr(r, f"miss_rate_{name}", float("nan"))
                    if name not in ("exact", "viterbi")
                    else 0.0,
                }
            )
    scores = pd.DataFrame(rows)
    table = aggregate(
        scores, by=["decoder"], metrics=["token_accuracy", "sentence_accuracy", "miss_rate"]
    )
    common.write_table(
        table,
        out_dir,
        "decoders",
        context,
        "Autoregressive tagger (greedy, beam k, exact enumeration) vs CRF Viterbi, same "
        "unidirectional LSTM encoder: test accuracy; miss_rate = fraction of sentences where "
        "the decoder's sequence is strictly less probable under the model than its exact "
        "argmax (0 by definition for exact and Viterbi).",
    )
    timing = pd.DataFrame([{**row, "seed": r.seed} for r in df.itertuples() for row in r.timing])
    times = aggregate(timing, by=["decoder", "T"], metrics=["ms_per_sentence"])
    common.write_table(
        times,
        out_dir,
        "decode_time",
        context,
        f"Decode time per sentence (ms) against T, C = {HMM['num_tags']} tags: the fastest "
        f"of repeated decodings of {TIMING_SENTENCES} sentences of each length (one batch), "
        f"{THREADS} CPU thread(s) on a CPU device, mean over seeds.",
    )
    common.plot(
        times.assign(ms_per_sentence_ci95=0.0),  # no bands: with 2-3 seeds they say little
        out_dir,
        "decode_time",
        context,
        x="T",
        y="ms_per_sentence",
        hue="decoder",
        logy=True,
        xlabel="sentence length T (tokens)",
        ylabel="decode time per sentence (ms, log scale)",
        title="Exact enumeration (C^T) vs greedy, beam and Viterbi",
    )
    greedy = scores[scores["decoder"] == "greedy"]
    if greedy.empty:
        return verdict.skipped("no autoregressive runs").as_dict()
    ar_rows = df[df["head"] == "autoregressive"]
    result = rule(
        miss_rate=list(greedy["miss_rate"]),
        exact_curves=curves(timing, "exact"),
        greedy_curves=curves(timing, "greedy"),
        ar_accuracy=list(scores.loc[scores["decoder"] == "exact", "token_accuracy"]),
        crf_accuracy=list(scores.loc[scores["decoder"] == "viterbi", "token_accuracy"]),
        majority=float(df["majority_rate"].mean()),
        n_sentences=int(ar_rows["n_test"].iloc[0]) if len(ar_rows) else 0,
    )
    mean = table.set_index("decoder")
    extra = "; token accuracy " + ", ".join(
        f"{d} {mean.loc[d, 'token_accuracy_mean']:.3f}" for d in mean.index
    )
    beams = [d for d in mean.index if d.startswith("beam")]
    extra += "; miss rate " + ", ".join(
        f"{d} {100 * mean.loc[d, 'miss_rate_mean']:.1f}%" for d in beams
    )
    if n_capped:
        extra += f"; {n_capped} run(s) stopped by the time safety net, left out"
    return result.with_key_figures(result.key_figures + extra).as_dict()
