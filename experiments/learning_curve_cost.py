"""The cost beside claim 2's accuracy, measured alone: per corpus, training size and model
of the learning curve, the training throughput and the inference throughput and latency
of each decoder (argmax, Viterbi, max-marginal; and on BIO tags the softmax's Viterbi
under the BIO constraints), with the device and thread count.

Not a lecture claim: a measurement. ``SERIAL``: one run at a time, so that no parallel
run shares the CPU while it is timed. Each run builds the learning curve's model for the
run's training subset (its vocabulary, hence its embedding table, as in the learning
curve), trains it for a few batches to time the gradient steps, and times decoding of the
first test sentences. Decoding costs the same whatever the weights are (the same
operations on the same shapes), so an untrained model times what a trained one would.
Beside the learning curve's records (a ``learning_curve`` folder next to this one, or the
folder this one is in: ``--out results/learning_curve/cost``), the
cost table adds the epochs to the best dev score and the training time to it at the
throughput measured here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from experiments import _common as common
from experiments import learning_curve as lc
from lab.report import verdict

NAME = "learning_curve_cost"
CLAIM = (
    "Not a claim: the training and inference cost of the learning curve's models (claim 2) "
    "per corpus and training size, each decoder timed alone."
)
SERIAL = True

# gradient steps timed, test sentences decoded, timed passes (median) per decoder
BUDGET = {
    "tiny": {"train_batches": 2, "infer_sentences": 50, "repeats": 1},
    "quick": {"train_batches": 10, "infer_sentences": 300, "repeats": 3},
    "standard": {"train_batches": 20, "infer_sentences": 300, "repeats": 3},
    "full": {"train_batches": 20, "infer_sentences": 300, "repeats": 5},
}
INFER_BATCH = 64


def grid(scale: str, corpora: Mapping[str, Mapping | None] | None = None) -> list[dict]:
    """One run per (corpus, size, model) of the learning curve at ``scale`` (seed 0, its
    training settings), same ``corpora`` argument as ``learning_curve.grid``."""
    common.check_scale(scale)
    seen, configs = set(), []
    for config in lc.grid(scale, corpora):
        key = (config["corpus"], config["size"], config["model"])
        if key in seen:
            continue
        seen.add(key)
        # a cost run times a few batches: the curve's stopping rule (min_updates on BIO
        # tags) does not apply, and leaving it out keeps the committed cost runs' ids
        config = {k: v for k, v in config.items() if k != "min_updates"}
        configs.append({**config, "seed": 0, **BUDGET[scale]})
    return configs


def run(config: dict) -> dict:
    with common.pinned_threads(config.get("threads")):
        return _run(config)


def _run(config: dict) -> dict:
    from lab.data import make_batches, token_count
    from lab.models import ModelConfig
    from lab.models.registry import build_tagger
    from lab.training.cost import measure_inference
    from lab.training.fit import fit

    common.start_run(config)
    data = lc.load_corpus(config)
    vocabs = lc.build_vocabs(data, bool(config.get("char_features", False)))
    model = build_tagger(ModelConfig(**lc.run_model_kwargs(config, data["bio"])), vocabs)
    # time a few gradient steps: one short epoch, scored on a few dev sentences
    steps = int(config["train_batches"]) * int(config["batch_size"])
    train = lc.epoch_data(data["train"], config.get("epoch_sentences"))[:steps]
    short = {**config, "max_epochs": 1, "patience": 1, "max_seconds": None}
    result = fit(model, train, data["dev"][:50], common.train_config(short), vocabs=vocabs)
    out: dict[str, Any] = {
        "train_tokens_per_s": result.train_tokens_per_s,
        "train_sentences": len(data["train"]),
        "train_tokens": token_count(data["train"]),
        "vocabulary": len(vocabs.words),
    }
    batches = make_batches(data["test"][: int(config["infer_sentences"])], vocabs, INFER_BATCH)
    tagger = model
    decoders = list(model.decoders)
    if data["bio"] and config["model"].endswith("-softmax"):
        tagger = lc.bio_viterbi(model, data["tag_names"])
        decoders.append(lc.BIO_DECODER)
    for decoder in decoders:
        cost = measure_inference(tagger, batches, decoder, repeats=int(config["repeats"]))
        out[f"{decoder}_tokens_per_s"] = cost["tokens_per_s"]
        out[f"{decoder}_ms_per_sentence"] = cost["ms_per_sentence"]
        out.update(
            infer_device=cost["device"],
            infer_threads=cost["threads"],
            infer_batch_size=cost["batch_size"],
            infer_sentences=cost["n_sentences"],
        )
    return out


# -------------------------------------------------------------------------- summary


def _curve_epochs(out_dir: Path):
    """Per (corpus, size, model): mean best epoch and tokens per epoch of the learning
    curve's runs in a ``learning_curve`` folder beside ``out_dir`` or in its parent folder
    (None if neither holds them)."""
    from lab.runs.records import load_records

    # beside this folder (results/learning_curve_cost) or around it (.../learning_curve/cost)
    records: list[dict] = []
    for folder in (Path(out_dir).parent / lc.NAME, Path(out_dir).parent):
        try:
            records = [r for r in load_records(folder) if r.get("experiment") == lc.NAME]
        except (OSError, ValueError):
            continue
        if records:
            break
    df = common.frame(records)
    if df.empty or "best_epoch" not in df:
        return None
    df = df[~df["truncated"].fillna(False).astype(bool)] if "truncated" in df else df
    df["epoch_tokens"] = df["train_tokens"] * df["epoch_sentences"] / df["train_sentences"]
    return df.groupby(["corpus", "size", "model"])[["best_epoch", "epoch_tokens"]].mean()


def summarize(records: list[dict], out_dir: Path, context: dict) -> dict:
    import pandas as pd

    df = common.frame(records)
    failed = [r for r in records if r.get("status") != "ok"]
    if df.empty:
        return verdict.skipped(f"no finished runs ({len(failed)} failed)").as_dict()
    epochs = _curve_epochs(out_dir)
    long_rows = []
    for _, r in df.iterrows():
        decoders = sorted(
            c[: -len("_tokens_per_s")]
            for c in df.columns
            if c.endswith("_tokens_per_s") and c != "train_tokens_per_s" and pd.notna(r.get(c))
        )
        best = None
        if epochs is not None and (r["corpus"], r["size"], r["model"]) in epochs.index:
            best = epochs.loc[(r["corpus"], r["size"], r["model"])]
        for decoder in decoders:
            row = {
                "corpus": r["corpus"],
                "size": int(r["size"]),
                "model": r["model"],
                "decoder": decoder,
                "best_epoch": float(best["best_epoch"]) if best is not None else float("nan"),
                "train_s_to_best": (
                    float(best["best_epoch"] * best["epoch_tokens"] / r["train_tokens_per_s"])
                    if best is not None
                    else float("nan")
                ),
                "train_tokens_per_s": float(r["train_tokens_per_s"]),
                "tokens_per_s": float(r[f"{decoder}_tokens_per_s"]),
                "ms_per_sentence": float(r[f"{decoder}_ms_per_sentence"]),
                "device": r["infer_device"],
                "threads": int(r["infer_threads"]),
            }
            long_rows.append(row)
    full = pd.DataFrame(long_rows)
    for corpus, part in full.groupby("corpus", sort=False):
        shown = pd.DataFrame(
            {
                "size": part["size"],
                "model": part["model"],
                "decoder": part["decoder"],
                "best epoch": [_num(v, ".1f") for v in part["best_epoch"]],
                "train s to best": [_num(v, ".1f") for v in part["train_s_to_best"]],
                "train tok/s": [_num(v, ".0f") for v in part["train_tokens_per_s"]],
                "tok/s": [_num(v, ".0f") for v in part["tokens_per_s"]],
                "ms/sentence": [_num(v, ".3f") for v in part["ms_per_sentence"]],
            }
        ).sort_values(["size", "model", "decoder"])
        pairs = zip(part["device"], part["threads"], strict=True)
        device = "; ".join(sorted({f"{d}, {t} thread(s)" for d, t in pairs}))
        lc.write_readable(
            shown, out_dir, f"{corpus}_cost", context,
            f"{corpus}: cost per training size, model and decoder, measured alone (one run at "
            f"a time; {device}; decoding in batches of {INFER_BATCH}, median of timed passes "
            "over the first test sentences). 'best epoch': mean over the learning curve's "
            "seeds; 'train s to best': best epoch x tokens per epoch / the training "
            "throughput measured here (gradient steps only, dev checks excluded); '-' where "
            "the learning curve's records are not beside this folder. One seed; the CSV "
            "has every column.",
            part,
        )  # fmt: skip
    sizes = full.groupby("corpus")["size"].max()
    figures = "; ".join(
        f"{c} at {int(s)}: "
        + ", ".join(
            f"{m}/{d} {t:.0f} tok/s"
            for m, d, t in full[(full["corpus"] == c) & (full["size"] == s)][
                ["model", "decoder", "tokens_per_s"]
            ].itertuples(index=False)
        )
        for c, s in sizes.items()
    )
    return verdict.skipped(f"a measurement, no rule: {figures}", "no rule: cost only").as_dict()


def _num(value: float, spec: str) -> str:
    return "-" if value is None or value != value else format(value, spec)
