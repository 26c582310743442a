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
TIMING_FIT_POINTS = 4  # the growth rates are fitted over the largest T measured


def grid(scale: str) -> list[dict]:
    base = common.pick(
        scale,
        {"n_train": 100, "n_test": 40, "max_test_len": 5, "timing_T": [2, 3, 4, 5, 6],
         "hidden": 16, "max_epochs": 2, "max_seconds": 3},
        {"n_train": 500, "n_test": 100, "max_test_len": 7, "timing_T": list(range(2, 10)),
         "hidden": 32, "max_epochs": 8, "max_seconds": 15},
        {"n_train": 2000, "n_test": 1000, "max_test_len": 10, "timing_T": list(range(2, 13)),
         "hidden": 64, "max_epochs": 30, "max_seconds": None},
    )  # fmt: skip
    return [
        {
            "head": head,
            "seed": s,
            "lr": 3e-3,
            "batch_size": 32,
            "patience": 3,
            "threads": THREADS,
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
    if config["head"] == "autoregressive":
        model.head.exact_limit = max(model.head.exact_limit, C ** max(config["timing_T"]))
        decoders = {"greedy": None, **{f"beam{k}": k for k in BEAMS}, "exact": None}
    else:
        decoders = {"viterbi": None}

    def decode(batch, name: str):
        if name.startswith("beam"):
            return model.head.beam(model.encode(batch), batch.mask, decoders[name])
        return model.decode(batch, method=name)

    out: dict = {"head": config["head"], "train_seconds": fit.train_seconds, "epochs": fit.epochs}
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
    for T in config["timing_T"]:
        # TIMING_SENTENCES sentences of exactly T tokens, in one batch (greedy, beam and
        # Viterbi decode a batch at once; exact enumerates each sentence in turn)
        sentences = corpus(TIMING_SENTENCES, 800_000 + T, T, T, T)
        batch = make_batches(sentences, vocabs, batch_size=TIMING_SENTENCES)[0].to(device)
        for name in decoders:

            def one_pass(name=name, batch=batch):
                with torch.no_grad():
                    decode(batch, name)

            seconds = common.best_time(one_pass, device, repeats=2 if T > 7 else 5)
            rows.append(
                {"decoder": name, "T": T, "ms_per_sentence": 1000 * seconds / len(sentences)}
            )
    out["timing"] = rows
    return out


# --- the rule ----------------------------------------------------------------------

RULE = (
    "supported if greedy decoding misses the autoregressive model's own exact argmax on "
    "some sentences (miss rate > 0) AND exact decoding time grows exponentially "
    "(>= {min_growth:g}x per extra token over its {points} largest T) while greedy grows at "
    "most linearly (log-log slope <= {max_slope:g}, same T); not supported if neither holds; "
    "mixed otherwise"
)


def rule(
    greedy_miss_rate: float,
    n_sentences: int,
    exact_growth: float,
    greedy_slope: float,
    min_growth: float = 1.5,
    max_slope: float = 1.5,
    points: int = 3,
) -> verdict.Verdict:
    """Claim 6: greedy search is linear in T but only approximates the exponential exact
    search. ``points``: how many of the largest T the growth rates were fitted on."""
    text = RULE.format(min_growth=min_growth, max_slope=max_slope, points=points)
    approximate = greedy_miss_rate > 0
    scaling = exact_growth >= min_growth and greedy_slope <= max_slope
    figures = (
        f"greedy misses the exact argmax on {100 * greedy_miss_rate:.1f}% of "
        f"{n_sentences} sentences; exact decode time x{exact_growth:.2f} per extra token; "
        f"greedy log-log slope {greedy_slope:.2f}"
    )
    return verdict.Verdict(verdict.both(approximate, scaling), text, figures)


def summarize(records: list[dict], out_dir: Path, context: dict) -> dict:
    import pandas as pd

    from lab.report.tables import aggregate

    df = common.frame(records)
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
    ar = scores[scores["decoder"] == "greedy"]
    exact_t = times[times["decoder"] == "exact"]
    greedy_t = times[times["decoder"] == "greedy"]
    if ar.empty or len(exact_t) < 2:
        return verdict.skipped("no autoregressive runs").as_dict()
    n = int(df.loc[df["head"] == "autoregressive", "n_test"].sum())
    result = rule(
        greedy_miss_rate=float(ar["miss_rate"].mean()),
        n_sentences=n,
        exact_growth=stats.growth_per_step(
            exact_t["T"], exact_t["ms_per_sentence_mean"], last=TIMING_FIT_POINTS
        ),
        greedy_slope=stats.loglog_slope(
            greedy_t["T"], greedy_t["ms_per_sentence_mean"], last=TIMING_FIT_POINTS
        ),
        points=TIMING_FIT_POINTS,
    )
    mean = table.set_index("decoder")
    extra = "; token accuracy " + ", ".join(
        f"{d} {mean.loc[d, 'token_accuracy_mean']:.3f}" for d in mean.index
    )
    beams = [d for d in mean.index if d.startswith("beam")]
    extra += "; miss rate " + ", ".join(
        f"{d} {100 * mean.loc[d, 'miss_rate_mean']:.1f}%" for d in beams
    )
    return verdict.Verdict(result.verdict, result.rule, result.key_figures + extra).as_dict()
