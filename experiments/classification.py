"""Claim 5: tagging as classification (run the RNN, take a softmax per token, take the
argmax) defines p(y_1:T | x) = prod_t softmax(W h_t)[y_t]: a proper distribution over
sequences that models no dependence between tags, so its argmax can be an impossible
sequence (an I-X that follows no X, under BIO).

One run = one BiLSTM tagger (softmax head, or an UNconstrained CRF head: it may learn the
BIO structure from the data, nothing forbids an invalid sequence) on a synthetic BIO
corpus with known structure (quick and standard scales: a BiLSTM reaches > 0.9 token
accuracy on it in seconds; WNUT 17 at the full scale, where present) for one seed: the
three stages checked against ``decode``; by enumeration over all C^T tag sequences of
short inputs, the sum of p(y | x) and the largest gap between p(y_1, y_2 | x) and
p(y_1 | x) p(y_2 | x); and the invalid-transition rate and span F1 of the decoded test set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from experiments import _common as common
from lab.report import stats, verdict

NAME = "classification"
CLAIM = (
    "Run the RNN, take a softmax per token, take the argmax: p(y_1:T | x) = prod_t "
    "softmax(W h_t)[y_t] is a proper distribution over sequences that models no dependence "
    "between the tags, so its argmax can be an impossible sequence."
)
MODELS = {
    "softmax": {"encoder": "lstm", "bidirectional": True, "head": "softmax"},
    # no bio_constraints: a CRF whose invalid rate is 0 by a hard mask would prove nothing
    "crf": {"encoder": "lstm", "bidirectional": True, "head": "crf"},
}
SYNTHETIC_BIO_TAGS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")
ENUMERATION_LENGTHS = (2, 3, 4)  # short inputs: C^4 = 28,561 sequences for WNUT's 13 tags


def grid(scale: str) -> list[dict]:
    wnut = scale == "full" and common.corpus_available("wnut17")
    corpus = "wnut17" if wnut else "synthetic_bio"
    # early stopping on dev span F1 under one epoch cap and patience for both heads;
    # max_seconds is a safety net (its hits are counted and left out)
    base = common.pick(
        scale,
        {"n_train": 100, "n_dev": 50, "n_test": 100, "hidden": 16, "max_epochs": 2,
         "patience": 2},
        {"n_train": 2000, "n_dev": 300, "n_test": 1000, "hidden": 32, "max_epochs": 12,
         "patience": 3},
        {"n_train": None, "n_dev": None, "n_test": None, "hidden": 128, "max_epochs": 40,
         "patience": 5},
        standard={"n_train": 2000, "n_dev": 300, "n_test": 2000, "hidden": 32,
                  "max_epochs": 30, "patience": 5},
    )  # fmt: skip
    return [
        {"corpus": corpus, "model": m, "seed": s, "batch_size": 16, "lr": 3e-3,
         "max_seconds": 600, "embedding_dim": base["hidden"], **base}
        for m in MODELS
        for s in common.seeds(scale)
    ]  # fmt: skip


def synthetic_bio(n: int, seed: int):
    """Sentences from an HMM whose tags obey BIO: the random transitions of
    lab.data.make_hmm_params with the forbidden ones (I-X after anything but X) removed;
    each word emitted by two tags (ambiguity 2), so that a word alone does not fix its tag
    but a BiLSTM reaches > 0.9 token accuracy (three tags per word: about 0.84)."""
    import numpy as np

    from lab.data import HMMParams, make_hmm_params, sample_hmm
    from lab.structured import allowed_start, allowed_transitions

    base = make_hmm_params(num_tags=len(SYNTHETIC_BIO_TAGS), vocab_size=100, ambiguity=2, seed=7)
    allowed = allowed_transitions(list(SYNTHETIC_BIO_TAGS)).numpy()
    transition = base.transition * allowed
    start = base.start * allowed_start(list(SYNTHETIC_BIO_TAGS)).numpy()
    params = HMMParams(
        start=start / start.sum(),
        transition=transition / transition.sum(1, keepdims=True),
        emission=base.emission,
        tag_names=SYNTHETIC_BIO_TAGS,
        word_names=base.word_names,
    )
    assert np.isfinite(params.transition).all()
    return sample_hmm(params, n, seed=seed)


def load(config: dict) -> dict:
    seed = int(config["seed"])
    if config["corpus"] == "wnut17":
        from lab.data import load_real_corpus

        splits = load_real_corpus("wnut17")
        n, n_dev = config["n_train"], config.get("n_dev")
        train = splits["train"] if n is None else splits["train"][:n]
        dev = splits["dev"] if n_dev is None else splits["dev"][:n_dev]
        return {"train": train, "dev": dev, "test": splits["test"]}
    n = int(config["n_train"] or 3000)
    train, dev, test = common.synthetic_splits(
        lambda size, sample_seed: synthetic_bio(size, seed=sample_seed),
        n, int(config.get("n_dev") or 300), int(config.get("n_test") or 1000), seed,
    )  # fmt: skip
    return {"train": train, "dev": dev, "test": test}


def enumeration_checks(model, sentences, vocabs, device) -> dict:
    """By enumeration over all C^T tag sequences of each (short) sentence: the largest
    |sum_y p(y | x) - 1| and the largest |p(y_1, y_2 | x) - p(y_1 | x) p(y_2 | x)|."""
    import itertools

    import torch

    from lab.data import make_batches

    C = len(vocabs.tags)
    sum_error = pair_gap = 0.0
    model.eval()
    for sentence in sentences:
        T = len(sentence)
        batch = make_batches([sentence], vocabs, batch_size=1)[0].to(device)
        tags = torch.tensor(list(itertools.product(range(C), repeat=T)), device=device)  # (N, T)
        n = tags.shape[0]
        many = type(batch)(
            words=batch.words.expand(n, -1),
            mask=batch.mask.expand(n, -1),
            lengths=batch.lengths.expand(n),
            tags=None,
            chars=None if batch.chars is None else batch.chars.expand(n, -1, -1),
            tokens=batch.tokens * n,
        )
        with torch.no_grad():
            log_p = model.log_prob(many, tags).double()  # (N,) the model's own log p(y | x)
        p = log_p.exp()
        sum_error = max(sum_error, abs(float(p.sum()) - 1.0))
        joint = torch.zeros(C, C, dtype=torch.float64, device=device)
        joint.index_put_((tags[:, 0], tags[:, 1]), p, accumulate=True)  # p(y_1, y_2 | x)
        product = joint.sum(1, keepdim=True) * joint.sum(0, keepdim=True)  # p(y_1) p(y_2)
        pair_gap = max(pair_gap, float((joint - product).abs().max()))
    return {"sum_to_one_error": sum_error, "factorisation_gap": pair_gap}


def three_stages_match(model, batches, device) -> bool:
    """The lecture's three stages, by hand (1. run the RNN, 2. softmax, 3. argmax), give
    exactly the tags of the model's own ``decode``."""
    import torch

    with torch.no_grad():
        for batch in batches:
            batch = batch.to(device)
            states = model.encode(batch)  # 1. (B, T, D)
            probs = torch.softmax(model.head.proj(states), dim=-1)  # 2. (B, T, C)
            tags = probs.argmax(-1) * batch.mask  # 3. (B, T)
            if not torch.equal(tags, model.decode(batch)):
                return False
    return True


def run(config: dict) -> dict:
    from lab.data import TagVocab, Vocab, Vocabs, make_batches
    from lab.data.sentence import Sentence
    from lab.training.evaluate import evaluate

    device = common.start_run(config)
    data = load(config)
    tag_names = sorted({t for part in data.values() for s in part for t in s.tags})
    vocabs = Vocabs(words=Vocab.build([s.tokens for s in data["train"]]), tags=TagVocab(tag_names))
    kwargs = {**MODELS[config["model"]], "hidden": config["hidden"]}
    kwargs["embedding_dim"] = config["embedding_dim"]
    model, fit = common.train_tagger(kwargs, data["train"], data["dev"], vocabs, config, "span_f1")
    metrics = evaluate(model, data["test"], vocabs)
    # short inputs: the first test sentences, cut to 2, 3 and 4 tokens
    long_enough = [s for s in data["test"] if len(s) >= max(ENUMERATION_LENGTHS)]
    short = [
        Sentence(s.tokens[:T], s.tags[:T])
        for s, T in zip(long_enough[:6], ENUMERATION_LENGTHS * 2, strict=False)
    ]
    out = enumeration_checks(model, short, vocabs, device)
    if config["model"] == "softmax":
        out["three_stages_match_decode"] = three_stages_match(
            model, make_batches(data["test"][:200], vocabs, batch_size=64), device
        )
    out.update(
        corpus=config["corpus"],
        num_tags=len(tag_names),
        enumerated_lengths=[len(s) for s in short],
        invalid_transition_rate=metrics["invalid_transition_rate"],
        majority_rate=majority_rate(data["test"]),
        span_f1=metrics["span_f1"],
        token_accuracy=metrics["token_accuracy"],
        **common.fit_metrics(fit),
    )
    return out


def majority_rate(sentences) -> float:
    """The most frequent tag's share of the tokens: the all-"O" baseline's accuracy."""
    from collections import Counter

    counts = Counter(t for s in sentences for t in s.tags)
    return max(counts.values()) / sum(counts.values())


# --- the rule ----------------------------------------------------------------------

TOL = 1e-5  # the product of softmaxes: sums to one, factorises (float32)
MIN_ACCURACY = 0.9  # validity: both taggers trained (and above the all-"O" baseline)
MIN_ABOVE_MAJORITY = 0.1

RULE = (
    "validity first (else insufficient): both taggers trained, mean test token accuracy "
    ">= {min_acc:g} and >= the all-O baseline + {above:g}. Then: the product of per-token "
    "softmaxes sums to one over all tag sequences and its pairwise marginals factorise "
    "(|sum - 1| and max |p(y_t, y_t+1) - p(y_t) p(y_t+1)| <= {tol:g}, by enumeration: a "
    "proper distribution with no dependence between tags), and its argmax makes impossible "
    "BIO sequences more often than an unconstrained CRF trained alike (softmax minus CRF "
    "invalid-transition rate, paired over seeds: 95% CI lower end > 0). supported if both "
    "hold; not supported if the argmax part fails; mixed if only it holds"
)


def rule(
    sum_to_one_error: float,
    factorisation_gap: float,
    invalid_softmax: Mapping[int, float],
    invalid_crf: Mapping[int, float],
    accuracy: Mapping[str, Sequence[float]],
    majority: float,
    corpus: str,
    tol: float = TOL,
) -> verdict.Verdict:
    """Claim 5: the RNN-softmax-argmax pipeline is a proper distribution over sequences
    with no dependence between tags, so its argmax can be an impossible sequence.

    invalid_softmax / invalid_crf: per seed, the test invalid-transition rate;
    accuracy: per model, per-seed test token accuracy; majority: the all-O accuracy."""
    text = RULE.format(min_acc=MIN_ACCURACY, above=MIN_ABOVE_MAJORITY, tol=tol)
    if not invalid_softmax or not invalid_crf:
        return verdict.skipped("the softmax or the CRF runs are missing", text)
    acc = {m: stats.estimate(v) for m, v in accuracy.items()}
    acc_text = ", ".join(f"{m} {e.format()}" for m, e in sorted(acc.items()))
    bar = max(MIN_ACCURACY, majority + MIN_ABOVE_MAJORITY)
    if any(e.mean < bar for e in acc.values()):
        return verdict.insufficient(
            f"token accuracy on {corpus} {acc_text}: below {bar:.3f} (>= {MIN_ACCURACY:g} "
            f"and the all-O baseline {majority:.3f} + {MIN_ABOVE_MAJORITY:g})",
            text,
        )
    proper = sum_to_one_error <= tol and factorisation_gap <= tol
    gap = stats.paired_estimate(invalid_softmax, invalid_crf)
    impossible = gap.low > 0
    if impossible:
        result = verdict.SUPPORTED if proper else verdict.MIXED
    else:
        result = verdict.NOT_SUPPORTED
    soft = stats.estimate(list(invalid_softmax.values()))
    crf = stats.estimate(list(invalid_crf.values()))
    figures = (
        f"token accuracy on {corpus}: {acc_text} (all-O {majority:.3f}); max |sum_y p(y|x) - "
        f"1| = {sum_to_one_error:.1e}; factorisation gap {factorisation_gap:.1e}; invalid "
        f"BIO transitions per token: softmax argmax {soft.format('.2f', 100, '%')} vs "
        f"unconstrained CRF Viterbi {crf.format('.2f', 100, '%')}; softmax - CRF "
        f"{gap.format('+.2f', 100, ' pts')}"
    )
    key = tuple(e.figure(f"{m} token accuracy") for m, e in sorted(acc.items())) + (
        soft.figure("softmax argmax invalid BIO transitions per token"),
        crf.figure("unconstrained CRF invalid BIO transitions per token"),
        gap.figure("softmax - CRF invalid rate (paired)"),
        verdict.figure("proper distribution, factorised (within tol)", proper, exact=True),
    )
    return verdict.Verdict(result, text, figures, key)


def summarize(records: list[dict], out_dir: Path, context: dict) -> dict:
    from lab.report.tables import aggregate

    df, n_capped = common.uncapped(common.frame(records))
    if df.empty:
        return verdict.skipped("no finished runs").as_dict()
    metrics = [
        "sum_to_one_error",
        "factorisation_gap",
        "invalid_transition_rate",
        "span_f1",
        "token_accuracy",
    ]
    table = aggregate(df, by=["corpus", "model"], metrics=metrics)
    corpus = ", ".join(sorted(df["corpus"].unique()))
    common.write_table(
        table,
        out_dir,
        "classification",
        context,
        f"BiLSTM tagger with a per-token softmax vs an unconstrained CRF on {corpus}: "
        "|sum_y p(y|x) - 1| and max |p(y1,y2|x) - p(y1|x)p(y2|x)| by enumeration on "
        f"inputs of {list(ENUMERATION_LENGTHS)} tokens; invalid-transition rate (fraction of "
        "tokens tagged I-X after neither B-X nor I-X) and span F1 of the decoded test set.",
    )
    common.plot(
        df,
        out_dir,
        "invalid_transition_rate",
        context,
        x="model",
        y="invalid_transition_rate",
        hue=None,
        xlabel="model (decoder: softmax argmax, CRF Viterbi)",
        ylabel="invalid BIO transitions per token (fraction)",
        title=f"Impossible BIO sequences on {corpus}",
    )
    soft = df[df["model"] == "softmax"]
    crf = df[df["model"] == "crf"]
    if soft.empty or crf.empty:
        return verdict.skipped("the softmax or the CRF runs are missing").as_dict()
    result = rule(
        sum_to_one_error=float(soft["sum_to_one_error"].max()),
        factorisation_gap=float(soft["factorisation_gap"].max()),
        invalid_softmax=dict(zip(soft["seed"], soft["invalid_transition_rate"], strict=True)),
        invalid_crf=dict(zip(crf["seed"], crf["invalid_transition_rate"], strict=True)),
        accuracy={m: list(g["token_accuracy"]) for m, g in df.groupby("model")},
        majority=float(df["majority_rate"].mean()),
        corpus=corpus,
    )
    figures = (
        f"{result.key_figures}; the CRF's factorisation gap (it models dependence) "
        f"{float(crf['factorisation_gap'].max()):.2e}; span F1 softmax "
        f"{soft['span_f1'].mean():.3f} vs CRF {crf['span_f1'].mean():.3f}"
    )
    if "three_stages_match_decode" in soft:
        figures += f"; three stages = decode: {bool(soft['three_stages_match_decode'].all())}"
    if n_capped:
        figures += f"; {n_capped} run(s) stopped by the time safety net, left out"
    return result.with_key_figures(figures).as_dict()
