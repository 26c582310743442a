"""Claim 2, the central question: is exact inference (a CRF's sum-product) still needed
when there is a lot of data, or does an RNN with an independent softmax per token catch
up?

One run = one model trained on the first ``size`` sentences of one seeded permutation of
a corpus's training set (nested subsets), evaluated on the test set: token and sentence
accuracy, span F1 and invalid-transition rate (BIO corpora), ECE of the token marginals,
inference tokens/s of each decoder, and (synthetic HMM) the Bayes-optimal accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from experiments import _common as common
from lab.report import stats, verdict

NAME = "learning_curve"
CLAIM = (
    "With enough data an RNN tagger with an independent softmax per token catches up with "
    "a structured model that uses exact inference (CRF); the CRF's advantage shrinks as "
    "the training set grows."
)

CELLS = ("elman", "residual", "gated", "lstm", "gru")


def model_kwargs(model: str, hidden: int, embedding_dim: int, char_features: bool) -> dict:
    """ModelConfig fields of a model name: ``hmm``, ``bow-crf``, ``<cell>-<head>`` (one
    direction) or ``bi<cell>-<head>`` with head ``softmax`` or ``crf``."""
    if model == "hmm":
        return {"encoder": "bow", "bidirectional": False, "head": "hmm"}
    encoder, _, head = model.partition("-")
    bidirectional = encoder.startswith("bi") and encoder[2:] in CELLS
    encoder = encoder[2:] if bidirectional else encoder
    if encoder not in (*CELLS, "bow") or head not in ("softmax", "crf"):
        raise ValueError(
            f"unknown model {model!r}: expected 'hmm', 'bow-crf', '<cell>-softmax|crf' or "
            f"'bi<cell>-softmax|crf' with cell in {CELLS}"
        )
    chars = char_features and encoder != "bow"
    return {
        "encoder": encoder,
        "bidirectional": bidirectional,
        "head": head,
        "hidden": hidden,
        "embedding_dim": embedding_dim,
        "char_features": chars,
        # with char features, those that took the EWT tagger past 95% (ewt_quality)
        **({"char_encoder": "lstm", "word_dropout": 0.25} if chars else {}),
    }


# The CRF vs softmax pairs whose accuracy gap the verdict reads.
PAIRS = (("bilstm-crf", "bilstm-softmax"), ("lstm-crf", "lstm-softmax"))
STRUCTURED = ("hmm", "bow-crf", "lstm-crf", "bilstm-crf")


def grid(scale: str) -> list[dict]:
    common.check_scale(scale)
    # the verdict needs a CI over paired seeds, so even the test scale runs two
    seeds = common.seeds(scale) if scale != "tiny" else [0, 1]
    core = [*STRUCTURED, "lstm-softmax", "bilstm-softmax"]
    train = common.pick(
        scale,
        {"hidden": 16, "embedding_dim": 16, "max_epochs": 2, "patience": 1, "max_seconds": 3},
        {"hidden": 32, "embedding_dim": 32, "max_epochs": 30, "patience": 3, "max_seconds": 10},
        {"hidden": 128, "embedding_dim": 100, "max_epochs": 50, "patience": 5, "max_seconds": None},
    )
    train.update(lr=5e-3 if scale != "full" else 2e-3, batch_size=32)
    cells: list[tuple[str, list[int], list[str]]] = []
    if scale == "tiny":
        cells.append(("synthetic", [30, 100], ["hmm", "bilstm-crf", "bilstm-softmax"]))
    elif scale == "quick":
        # the other encoders, bidirectional (as the BiLSTM they are compared with), at one size
        others = [f"bi{c}-softmax" for c in ("elman", "residual", "gated", "gru")]
        cells += [
            ("synthetic", [100, 300, 1000, 3000], core),
            ("synthetic", [1000], others),
            # real corpora: the BiLSTM pair only (CPU budget). WNUT 17 is left to the full
            # scale: its entity F1 stays at 0 in the seconds a quick run can give it.
            ("ud_ewt", [300, 1000], list(PAIRS[0])),
        ]
    else:
        every = [*STRUCTURED]
        every += [f"{c}-softmax" for c in CELLS] + [f"bi{c}-softmax" for c in CELLS]
        cells += [
            ("synthetic", [100, 300, 1000, 3000, 10000, 30000], every),
            ("ud_ewt", [100, 300, 1000, 3000, 12544], every),
            ("wnut17", [300, 1000, 3394], every),
        ]
    configs = []
    pools: dict[str, int] = {}  # one training pool per corpus, so subsets are shared
    for corpus, sizes, _ in cells:
        pools[corpus] = max(pools.get(corpus, 0), *sizes)
    for corpus, sizes, models in cells:
        if corpus != "synthetic" and not common.corpus_available(corpus):
            print(
                f"{NAME}: corpus {corpus} not found (see lab.data.real_corpus); skipping its runs"
            )
            continue
        for model in models:
            for size in sizes:
                for seed in seeds:
                    configs.append(
                        {
                            "corpus": corpus,
                            "size": size,
                            "pool": pools[corpus],
                            "model": model,
                            "seed": seed,
                            "scale": scale,
                            **train,
                        }
                    )
    return configs


# ------------------------------------------------------------------------------- data

SYNTHETIC = {
    "dev": {"tiny": 50, "quick": 300, "full": 1000},
    "test": {"tiny": 100, "quick": 1000, "full": 3000},
}
REAL_DEV = {"tiny": 100, "quick": 400, "full": None}  # dev sentences used for early stopping


def load_corpus(config: dict) -> dict:
    """{"train": the run's nested subset, "dev", "test", "tag_names", "params" (HMM or
    None)}. A real corpus that is absent raises FileNotFoundError with its location."""
    from lab.data import load_real_corpus, nested_subsets, synthetic_hmm

    scale, seed = config["scale"], int(config["seed"])
    if config["corpus"] == "synthetic":
        (pool, params), (dev, _), (test, _) = common.synthetic_splits(
            lambda n, sample_seed: synthetic_hmm(n, seed=sample_seed),
            config["pool"], SYNTHETIC["dev"][scale], SYNTHETIC["test"][scale], seed,
        )  # fmt: skip
        tag_names = list(params.tag_names)
    elif config["corpus"] in ("ud_ewt", "wnut17"):
        splits = load_real_corpus(config["corpus"])
        pool, params = splits["train"], None
        n_dev = REAL_DEV[scale]
        dev = splits["dev"][:n_dev] if n_dev else splits["dev"]
        test = splits["test"] if scale != "tiny" else splits["test"][:200]
        # the tag set is known in advance; a small subset may not show every tag
        tag_names = sorted({t for part in splits.values() for s in part for t in s.tags})
    else:
        raise ValueError(f"unknown corpus {config['corpus']!r}: expected synthetic, ud_ewt, wnut17")
    size = int(config["size"])
    if size > len(pool):
        raise ValueError(
            f"size {size} exceeds the {len(pool)} training sentences of {config['corpus']}"
        )
    train = nested_subsets(pool, [size], seed)[size]
    return {"train": train, "dev": dev, "test": test, "tag_names": tag_names, "params": params}


def bayes_optimal_accuracy(test, params) -> dict:
    """Token / sentence accuracy of exact inference under the true HMM on ``test``."""
    from lab.structured import bayes_optimal

    word_index = {w: i for i, w in enumerate(params.word_names)}
    tag_index = {t: i for i, t in enumerate(params.tag_names)}
    words = [[word_index[w] for w in s.tokens] for s in test]
    tags = [[tag_index[t] for t in s.tags] for s in test]
    return bayes_optimal(words, tags, params.start, params.transition, params.emission)


def run(config: dict) -> dict:
    from lab.data import TagVocab, Vocab, Vocabs, make_batches, token_count
    from lab.training.cost import measure_inference, training_cost
    from lab.training.evaluate import evaluate

    common.start_run(config)  # seeds; fit puts the model on config["device"]
    data = load_corpus(config)
    real = config["corpus"] != "synthetic"
    char_features = real and config["scale"] == "full"
    vocabs = Vocabs(
        words=Vocab.build([s.tokens for s in data["train"]]),
        tags=TagVocab(data["tag_names"]),
        chars=None,
    )
    if char_features:
        vocabs = Vocabs.build(data["train"], chars=True, lower=True)
        vocabs.tags = TagVocab(data["tag_names"])
    kwargs = model_kwargs(config["model"], config["hidden"], config["embedding_dim"], char_features)
    bio = config["corpus"] == "wnut17"
    model, fit = common.train_tagger(
        kwargs, data["train"], data["dev"], vocabs, config, "span_f1" if bio else "token_accuracy"
    )
    metrics = evaluate(model, data["test"], vocabs)
    out = {
        key: metrics[key]
        for key in (
            "token_accuracy",
            "sentence_accuracy",
            "span_f1",
            "invalid_transition_rate",
            "ece",
            "nll_per_token",
            "oov_accuracy",
        )
        if key in metrics
    }
    # throughput on the first 300 test sentences: a rate, it needs no more
    test_batches = make_batches(data["test"][:300], vocabs, batch_size=64)
    for method in model.decoders:
        cost = measure_inference(model, test_batches, method, repeats=3)
        out[f"tokens_per_s_{method}"] = cost["tokens_per_s"]
    out["inference_threads"] = cost["threads"]
    out["inference_batch_size"] = cost["batch_size"]
    out["train_tokens_per_s"] = training_cost(fit)["train_tokens_per_s"]
    out.update(
        train_sentences=len(data["train"]),
        train_tokens=token_count(data["train"]),
        train_seconds=fit.train_seconds,
        epochs=fit.epochs,
        stopped=fit.stopped_reason,
    )
    if data["params"] is not None:
        best = bayes_optimal_accuracy(data["test"], data["params"])
        out["bayes_token_accuracy"] = best["token_accuracy"]
        out["bayes_sentence_accuracy"] = best["sentence_accuracy"]
    return out


# -------------------------------------------------------------------------- summary

METRICS = (
    "token_accuracy",
    "sentence_accuracy",
    "span_f1",
    "invalid_transition_rate",
    "ece",
    "train_seconds",
)


def paired_gaps(df, structured: str, neural: str, metric: str):
    """Per (corpus, size): the per-seed differences structured - neural of ``metric``."""
    a = df[df["model"] == structured].set_index(["corpus", "size", "seed"])[metric]
    b = df[df["model"] == neural].set_index(["corpus", "size", "seed"])[metric]
    joined = (a - b).dropna()
    return {key: list(group.values) for key, group in joined.groupby(level=[0, 1])}


# --- the rule ----------------------------------------------------------------------

RULE = (
    "supported (the structured model's advantage shrinks with data) if the mean "
    "{structured} minus {neural} {metric} gap over seeds is smaller at the largest size than "
    "at the smallest AND at the largest size it is within the seeds' 95% CI of zero or below "
    "(the CI's lower end <= 0); not supported if the gap does not shrink and stays "
    "significantly above zero at the largest size; mixed otherwise"
)


def rule(
    gaps_smallest: Sequence[float],
    gaps_largest: Sequence[float],
    smallest: int,
    largest: int,
    structured: str = "BiLSTM-CRF",
    neural: str = "BiLSTM-softmax",
    metric: str = "token accuracy",
    label: str = "",
) -> verdict.Verdict:
    """Claim 2: ``gaps_*`` hold, per seed, structured minus neural at a training size."""
    text = RULE.format(structured=structured, neural=neural, metric=metric)
    if len(gaps_smallest) < 2 or len(gaps_largest) < 2:
        # one seed has no confidence interval: any verdict would rest on nothing
        return verdict.skipped(
            f"{label}: fewer than 2 paired seeds at the smallest or largest size", text
        )
    m_small, h_small, _ = stats.mean_ci95(gaps_smallest)
    m_large, h_large, n = stats.mean_ci95(gaps_largest)
    shrinks = m_large < m_small
    caught_up = m_large - h_large <= 0
    if shrinks and caught_up:
        result = verdict.SUPPORTED
    elif not shrinks and not caught_up:
        result = verdict.NOT_SUPPORTED
    else:
        result = verdict.MIXED
    prefix = f"{label}: " if label else ""
    figures = (
        f"{prefix}{structured} - {neural} {metric}: {_pct(m_small)} +- {_pts(h_small)} at "
        f"{smallest} sentences, {_pct(m_large)} +- {_pts(h_large)} at {largest} (95% CI, "
        f"{n} seeds)"
    )
    return verdict.Verdict(result, text, figures)


def _pct(x: float) -> str:
    """A signed difference of fractions in percentage points."""
    return f"{100 * x:+.2f} pts"


def _pts(x: float) -> str:
    """A CI half-width in percentage points (infinite for one seed)."""
    return "inf" if math.isinf(x) else f"{100 * x:.2f}"


def summarize(records: list[dict], out_dir: Path, context: dict) -> dict:
    import pandas as pd

    from lab.report.tables import aggregate

    df = common.frame(records)
    failed = [r for r in records if r.get("status") != "ok"]
    if df.empty:
        return verdict.skipped(f"no finished runs ({len(failed)} failed)").as_dict()
    out_dir = Path(out_dir)
    verdicts = []
    gap_rows = []
    for corpus, part in df.groupby("corpus", sort=False):
        metrics = [m for m in METRICS if m in part.columns and part[m].notna().any()]
        tps = sorted(c for c in part.columns if c.startswith("tokens_per_s_"))
        extra = ["bayes_token_accuracy"] if "bayes_token_accuracy" in part.columns else []
        table = aggregate(part, by=["model", "size"], metrics=[*metrics, *tps, *extra])
        common.write_table(
            table,
            out_dir,
            f"{corpus}_scores",
            context,
            f"Learning curve on {corpus}: test scores by model and training size (sentences); "
            "mean, std and 95% CI over seeds; tokens_per_s_<decoder> = inference throughput "
            "(lab.training.cost.measure_inference: median of 3 passes over 300 test sentences in "
            "batches of 64 on the run's device; runs may share the CPU with a parallel run).",
        )
        score = "span_f1" if corpus == "wnut17" else "token_accuracy"
        hline = None
        if extra:
            hline = (float(part["bayes_token_accuracy"].mean()), "Bayes-optimal (true HMM)")
        if part["size"].nunique() > 1:
            curve = part[part.groupby("model")["size"].transform("nunique") > 1]
            common.plot(
                curve,
                out_dir,
                f"{corpus}_{score}",
                context,
                x="size",
                y=score,
                hue="model",
                hline=hline,
                logx=True,
                xlabel="training sentences (log scale)",
                ylabel=f"test {score.replace('_', ' ')} (fraction)",
                title=f"Learning curves on {corpus}",
            )
        for structured, neural in PAIRS:
            gaps = paired_gaps(part, structured, neural, score)
            for (c, size), values in sorted(gaps.items()):
                mean, ci, n = stats.mean_ci95(values)
                gap_rows.append(
                    {
                        "corpus": c,
                        "pair": f"{structured} - {neural}",
                        "metric": score,
                        "size": size,
                        "gap_mean": mean,
                        "gap_ci95": ci,
                        "seeds": n,
                    }
                )
            sizes = sorted(size for (_, size) in gaps)
            if len(sizes) >= 2:
                v = rule(
                    gaps[(corpus, sizes[0])],
                    gaps[(corpus, sizes[-1])],
                    sizes[0],
                    sizes[-1],
                    structured=structured,
                    neural=neural,
                    metric=score.replace("_", " "),
                    label=corpus,
                )
                verdicts.append((structured, v))
    if gap_rows:
        common.write_table(
            pd.DataFrame(gap_rows),
            out_dir,
            "crf_minus_softmax",
            context,
            "Structured minus independent-softmax score, paired by seed: where, and by how "
            "much, the CRF's advantage shrinks as data grows (uni- vs bidirectional LSTM).",
        )
    rule_pair = PAIRS[0][0]
    bidirectional = [v for name, v in verdicts if name == rule_pair]
    unidirectional = [v for name, v in verdicts if name != rule_pair]
    if not bidirectional:
        return verdict.skipped("no corpus with the BiLSTM pair at two sizes").as_dict()
    result = verdict.combine(bidirectional, bidirectional[0].rule + " (per corpus; combined)")
    figures = result.key_figures
    if unidirectional:
        figures += "; unidirectional contrast: " + "; ".join(
            v.key_figures + f" [{v.verdict}]" for v in unidirectional
        )
    capped = int((df["stopped"] == "max_seconds").sum()) if "stopped" in df else 0
    if capped:
        figures += (
            f"; {capped} of {len(df)} runs stopped at the scale's time cap (max_seconds), "
            "not by early stopping: their scores are lower bounds"
        )
    if failed:
        figures += f"; {len(failed)} run(s) failed or were skipped (see results.jsonl)"
    return verdict.Verdict(result.verdict, result.rule, figures).as_dict()
