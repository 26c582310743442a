"""Claim 4: in a tanh RNN the gradient d loss_T / d h_t vanishes as T - t grows;
residual and gated connections (and the LSTM and GRU built on them) carry it further,
and with it the information a long-range task needs.

One run = one unidirectional cell on the long-range task with one lag k for one seed:
the norm of d loss_T / d h_t against T - t at initialisation and after training (loss_T
is the tagging loss at the query, the last position whose answer lies k tokens back),
the trained tagger's accuracy on the query positions, and its dev query accuracy over
the updates (``dev_curve``) with the updates it took to learn the lag.

The protocol is the one the field checks long lags with: every cell gets the same fixed
budget of updates and stops early only when it has solved the task on dev (dev query
accuracy >= ``SOLVED``), never because dev was flat for a while. Long-lag learning comes
in steps after tens of flat epochs (Hochreiter & Schmidhuber 1997; measured here: an
LSTM at lag 20 sat at chance for ~100 epochs, then reached 0.998), so patience-based
early stopping would measure the stopping rule, not the cells. Each cell runs at the
configuration chosen for it by the same small tuning grid (``TUNED``; the tuning is the
companion experiment ``vanishing_gradients_tuning``, on seeds of its own and dev only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from experiments import _common as common
from lab.report import stats, verdict

NAME = "vanishing_gradients"
CLAIM = (
    "Backpropagating through a tanh RNN multiplies T - t Jacobians, so d loss_T / d h_t "
    "vanishes with distance and long-range information is hard to learn; residual and "
    "gated connections (LSTM, GRU) pass the gradient, and the information, further."
)
CELLS = ("elman", "residual", "gated", "lstm", "gru")
PROBE_SENTENCES = 32  # sentences whose gradient norms are averaged
LEARNED = 0.9  # a run learned its lag: query accuracy >= this (dev: updates to learn)
SOLVED = 0.99  # the only early stop: dev query accuracy >= this
PATIENCE_BEFORE = 40  # the standard grid's patience before the fixed budget

# Per cell, the configuration the tuning grid chose (vanishing_gradients_tuning: learning
# rate x one initialisation choice per cell, at lags 20 and 50 on seeds 100-101, dev
# query accuracy only; results/standard/vanishing_gradients/tuning/). Every scale runs
# it. Dev runs that learned their lag (of 4: lags 20 and 50 x 2 seeds), the chosen one:
# Elman 0 (no configuration learned either lag: the best dev accuracy), residual 4, gated
# 4 (lambda bias 1; torch's draw 3), LSTM 4 (forget bias 1; torch's draw 3), GRU 2 (update
# bias 1, lag 20 in 658 updates; no GRU configuration learned lag 50 on these seeds).
TUNED: dict[str, dict] = {
    "elman": {"lr": 1e-3, "gate_init": "default", "recurrent_init": "default"},
    "residual": {"lr": 3e-3, "gate_init": "default", "recurrent_init": "default"},
    "gated": {"lr": 3e-3, "gate_init": "bias:1", "recurrent_init": "default"},
    "lstm": {"lr": 3e-3, "gate_init": "bias:1", "recurrent_init": "default"},
    "gru": {"lr": 3e-3, "gate_init": "bias:1", "recurrent_init": "default"},
}


def budget(scale: str) -> dict:
    """The training budget of every run at ``scale``: the same for every cell and lag.
    ``max_epochs`` passes over ``n_train`` sentences in batches of 32 (standard: 300 x 94
    = 28,200 updates), no patience (``patience`` None), the one early stop at
    ``solved_at``. No wall-clock cap: a run that does not learn within the budget is
    "not learned", never dropped."""
    base = common.pick(
        scale,
        {"n_train": 100, "hidden": 16, "max_epochs": 3},
        {"n_train": 1000, "hidden": 32, "max_epochs": 100},
        {"n_train": 5000, "hidden": 64, "max_epochs": 400},
        standard={"n_train": 3000, "hidden": 32, "max_epochs": 300},
    )  # fmt: skip
    return {**base, "batch_size": 32, "patience": None, "solved_at": SOLVED}


def lags(scale: str) -> list[int]:
    return common.pick(scale, [3, 8], [5, 10, 20], [5, 10, 20, 50, 100, 200],
                       standard=[5, 10, 20, 50, 100])  # fmt: skip


def grid(scale: str) -> list[dict]:
    cells = CELLS if scale != "tiny" else ("elman", "residual", "gated")
    # lag by lag, every cell at each: a sweep stopped part-way has whole lags, shortest first
    return [
        {"cell": cell, "lag": lag, "seed": s, **TUNED[cell], **budget(scale)}
        for lag in lags(scale)
        for cell in cells
        for s in common.seeds(scale)
    ]


def unrolled_states(encoder, x):
    """Run a one-layer unidirectional encoder one step at a time so that every state is a
    node of the graph: x (B, T, D) -> list of T states, each (B, H) with retained grad
    (for the LSTM, the state is (h_t, c_t): its cell carries the memory)."""
    from lab.models.encoders import CustomRecurrentEncoder, TorchRecurrentEncoder

    states = []
    if isinstance(encoder, CustomRecurrentEncoder):
        cell = encoder.layers[0][0]
        xp = cell.project(x)  # (B, T, G*H)
        h = cell.initial_state(x.shape[0], xp)  # (B, H)
        w_rec_t = cell.recurrent.t()  # (H, G*H)
        for t in range(x.shape[1]):
            h = cell.step(xp[:, t], h, w_rec_t)  # (B, H)
            h.retain_grad()
            states.append((h,))
        return states
    if isinstance(encoder, TorchRecurrentEncoder):
        rnn, state = encoder.rnn, None
        for t in range(x.shape[1]):
            out, state = rnn(x[:, t : t + 1], state)  # state (1, B, H) or a pair
            parts = state if isinstance(state, tuple) else (state,)
            for p in parts:
                p.retain_grad()
            states.append(parts)
        return states
    raise TypeError(f"expected a recurrent encoder, got {type(encoder).__name__}")


def gradient_norms(model, sentences, vocabs) -> list[float]:
    """Mean over ``sentences`` (all of one length T, query last) of ||d loss_T / d h_t||
    for t = T-1 .. 0, i.e. indexed by the distance T - 1 - t, normalised by the norm at
    distance 0."""
    import torch

    from lab.data import make_batches

    batch = make_batches(sentences, vocabs, batch_size=len(sentences))[0]
    was_training = model.training
    model.eval()
    x = model.features(batch.words, batch.chars)  # (B, T, E)
    states = unrolled_states(model.encoder, x)
    last = states[-1][0]
    h_last = last.reshape(x.shape[0], -1)  # (B, H)
    log_probs = model.head.log_probs(h_last.unsqueeze(1)).squeeze(1)  # (B, C)
    loss = -log_probs.gather(1, batch.tags[:, -1:]).mean()
    loss.backward()
    model.train(was_training)
    norms = []
    for parts in reversed(states):
        # a part the loss never reads (the LSTM's last cell state) has no gradient: zero
        grads = [
            (p.grad if p.grad is not None else torch.zeros_like(p)).reshape(x.shape[0], -1)
            for p in parts
        ]
        per_sentence = torch.cat(grads, dim=1).norm(dim=1)  # (B,)
        norms.append(float(per_sentence.mean()))
    model.zero_grad(set_to_none=True)
    return [n / norms[0] if norms[0] > 0 else float("nan") for n in norms]


def probe_sentences(lag: int, seed: int):
    """Long-range sentences of exactly lag + 1 tokens: the key first, the query last, so
    the distance T - t runs from 0 to ``lag``."""
    from lab.data import long_range_corpus

    return long_range_corpus(PROBE_SENTENCES, lag, seed=seed, extra_length=0)


def query_accuracy(model, sentences, vocabs, device) -> float:
    """Accuracy on the query positions only (every other tag is "O"): (tags != O)."""
    import torch

    from lab.data import make_batches

    no_tag = vocabs.tags.names.index("O")
    right = total = 0
    model.eval()
    with torch.no_grad():
        for batch in make_batches(sentences, vocabs, batch_size=256):
            batch = batch.to(device)
            pred = model.decode(batch)  # (B, T)
            query = (batch.tags != no_tag) & batch.mask
            right += int(((pred == batch.tags) & query).sum())
            total += int(query.sum())
    return right / total


def updates_per_epoch(config: Mapping) -> int:
    return -(-int(config["n_train"]) // int(config.get("batch_size", 32)))


def patience_stop(scores: Sequence[float], patience: int) -> int | None:
    """The epoch (from 1) at which early stopping with ``patience`` would have ended a run
    whose dev scores per epoch were ``scores`` (its training up to there is the same), or
    None if it would have run them all."""
    best, stale = float("-inf"), 0
    for epoch, score in enumerate(scores, start=1):
        if score > best:
            best, stale = score, 0
        else:
            stale += 1
        if stale >= patience:
            return epoch
    return None


def abandoned_by_patience(curve: Sequence[Sequence[float]], patience: int) -> bool:
    """True when a run that learned (dev >= LEARNED in ``curve``, [updates, score] per
    epoch) would have been stopped before that by early stopping with ``patience``."""
    scores = [score for _, score in curve]
    learned = next((e for e, s in enumerate(scores, start=1) if s >= LEARNED), None)
    stop = patience_stop(scores, patience)
    return learned is not None and stop is not None and stop < learned


def run(config: dict) -> dict:
    import torch

    from lab.data import TagVocab, Vocab, Vocabs, long_range_corpus
    from lab.models import ModelConfig, build_model

    device = common.start_run(config)
    seed, lag = int(config["seed"]), int(config["lag"])
    train, dev, test = common.synthetic_splits(
        lambda n, sample_seed: long_range_corpus(n, lag, seed=sample_seed),
        config["n_train"], 400, 500, seed,
    )  # fmt: skip
    tags = sorted({t for s in train + dev + test for t in s.tags})
    vocabs = Vocabs(words=Vocab.build([s.tokens for s in train]), tags=TagVocab(tags))
    model_config = ModelConfig(
        encoder=config["cell"],
        bidirectional=False,
        head="softmax",
        hidden=int(config["hidden"]),
        embedding_dim=int(config["hidden"]),
        gate_init=str(config.get("gate_init", "default")),
        recurrent_init=str(config.get("recurrent_init", "default")),
    )
    probe = probe_sentences(lag, seed=900_003)
    torch.manual_seed(seed)
    model = build_model(model_config, len(vocabs.words), len(vocabs.tags))
    grad_init = gradient_norms(model, probe, vocabs)
    # what the claim is about: dev accuracy at the query positions
    fit = common.fit_model(
        model, train, dev, config, vocabs=vocabs,
        score=lambda m: query_accuracy(m, dev, vocabs, device),
    )  # fmt: skip
    accuracy = query_accuracy(model, test, vocabs, device)
    model.to("cpu")
    grad_trained = gradient_norms(model, probe, vocabs)
    curve = [[int(h["updates"]), float(h["score"])] for h in fit.history]
    learned_at = next((u for u, score in curve if score >= LEARNED), None)
    return {
        "query_accuracy": accuracy,
        "dev_query_accuracy": float(fit.best_dev_metric),
        "chance": 1.0 / (len(tags) - 1),
        "grad_init": grad_init,
        "grad_trained": grad_trained,
        "max_distance": len(grad_init) - 1,
        "dev_curve": curve,
        "updates_to_learn": learned_at,
        "budget_updates": updates_per_epoch(config) * int(config["max_epochs"]),
        **common.fit_metrics(fit),
    }


# --- the rule ----------------------------------------------------------------------

BAND = (-3.0, 3.0)  # log10 relative gradient norm: below vanished, above exploded
CHANCE_MARGIN = 0.1  # "at chance": mean query accuracy <= chance + this
ALPHA = 0.05  # level of each of the information half's tests (one per GATED cell)
GATED = ("gated", "lstm", "gru")  # the cells the information half reads

RULE = (
    "every cell trained on the same budget of updates, stopped early only when solved "
    "(dev query accuracy >= {solved:g}), at the configuration its tuning chose. Validity "
    "first (else insufficient): every cell's mean query accuracy at the shortest lag is "
    ">= {learned:g} (trained to the point where it carries information at all). Gradient "
    "half: after training, ||d loss_T / d h_t|| at the largest distance T - t relative to "
    "T - t = 0 has vanished for the Elman RNN (95% CI over seeds of its log10 below "
    "{lo:g}) while every other cell kept it (CI of log10 within [{lo:g}, {hi:g}]: neither "
    "vanished nor exploded; above {hi:g} is reported as an explosion). Information half: "
    "a seed either learns a lag (test query accuracy >= {learned:g}) or stays near "
    "chance, so the half counts seeds: at some lag the Elman RNN is at chance (its mean "
    "query accuracy <= chance + {margin:g}) while each of {gated} learned "
    "the lag in more seeds than the Elman RNN (Fisher's exact test, one-sided, p <= "
    "{alpha:g} for each of the {n_gated}: the claim needs every one, an intersection-union "
    "test, so no correction is due; 4 of 5 seeds against 0 of 5 gives p = 0.024, 3 of 5 "
    "p = 0.083, 3 of 3 against 0 of 3 p = 0.05). supported if both halves hold, mixed if one "
    "does; if neither does, not supported where the runs speak against a half (the Elman "
    "RNN's gradient kept, another cell's vanished or exploded; the Elman RNN at chance at no "
    "lag, or learning a lag in more seeds than a gated cell, the same Fisher test reversed), "
    "else insufficient (both halves undecided: more seeds or a larger budget would decide)"
)


def _band(est) -> str:
    """Where a log10-norm estimate lies: vanished, kept, exploded, or undecided."""
    if est.high < BAND[0]:
        return "vanished"
    if est.low > BAND[1]:
        return "exploded"
    if est.low >= BAND[0] and est.high <= BAND[1]:
        return "kept"
    return "undecided"


def seeds_learned(values: Sequence[float]) -> tuple[int, int]:
    """(seeds whose query accuracy >= LEARNED, seeds)."""
    return sum(float(v) >= LEARNED for v in values), len(values)


def learned_text(values: Sequence[float]) -> str:
    """ "k/n (95% CI lo-hi)": seeds that learned, with the exact binomial interval."""
    k, n = seeds_learned(values)
    lo, hi = stats.clopper_pearson(k, n)
    return f"{k}/{n} ({lo:.2f}-{hi:.2f})"


def info_holds(accuracy: Mapping[str, Mapping[int, Sequence[float]]], lag: int, chance: float):
    """(holds, p-values per gated cell) of the information half at ``lag``."""
    elman = accuracy["elman"][lag]
    # the test below is what errs or not; "at chance" says what the Elman RNN's failure
    # looks like, and a t CI over 3 seeds near chance is too wide to say it
    at_chance = stats.estimate(elman).mean <= chance + CHANCE_MARGIN
    k0, n0 = seeds_learned(elman)
    gated = [c for c in GATED if c in accuracy]
    p_values = {c: stats.fisher_greater(*seeds_learned(accuracy[c][lag]), k0, n0) for c in gated}
    # "each gated cell" is an intersection of alternatives: each test at ALPHA, no
    # correction (an intersection-union test errs only if every one of its tests errs)
    return bool(gated) and at_chance and all(p <= ALPHA for p in p_values.values()), p_values


def info_speaks_against(
    accuracy: Mapping[str, Mapping[int, Sequence[float]]], lags: Sequence[int], chance: float
) -> bool:
    """True when the runs contradict the information half: the Elman RNN is at chance at
    no lag (nothing for a gate to rescue), or at some lag it learned in more seeds than a
    gated cell (one-sided Fisher test at ALPHA, the half's own test reversed)."""
    elman = accuracy["elman"]
    if not any(stats.estimate(elman[k]).mean <= chance + CHANCE_MARGIN for k in lags):
        return True
    return any(
        stats.fisher_greater(*seeds_learned(elman[k]), *seeds_learned(accuracy[c][k])) <= ALPHA
        for c in GATED
        if c in accuracy
        for k in lags
    )


def rule(
    log10_grad_far: Mapping[str, Sequence[float]],
    accuracy: Mapping[str, Mapping[int, Sequence[float]]],
    chance: float,
    largest_distance: int,
) -> verdict.Verdict:
    """Claim 4: tanh RNN gradients vanish with distance; residual/gated connections carry
    them (and the information) further.

    log10_grad_far  per cell, per seed: log10 of the trained relative gradient norm at
                    ``largest_distance``
    accuracy        per cell, per lag, per seed: test query accuracy
    """
    text = RULE.format(
        solved=SOLVED, learned=LEARNED, lo=BAND[0], hi=BAND[1], margin=CHANCE_MARGIN,
        gated="/".join(GATED), n_gated=len(GATED), alpha=ALPHA,
    )  # fmt: skip
    if "elman" not in accuracy or "elman" not in log10_grad_far or len(accuracy) < 2:
        return verdict.skipped("no Elman runs, or no other cell", text)
    lags = sorted(set.intersection(*(set(v) for v in accuracy.values())))
    shortest = lags[0]
    at_shortest = {c: stats.estimate(v[shortest]) for c, v in accuracy.items()}
    untrained = {c: e.mean for c, e in at_shortest.items() if e.mean < LEARNED}
    shortest_text = ", ".join(f"{c} {e.mean:.3f}" for c, e in sorted(at_shortest.items()))
    if untrained:
        return verdict.insufficient(
            f"not every cell learned the shortest lag {shortest} (query accuracy >= "
            f"{LEARNED:g}): {shortest_text}",
            text,
        )
    grads = {c: stats.estimate(v) for c, v in log10_grad_far.items()}
    bands = {c: _band(e) for c, e in grads.items()}
    others = [c for c in grads if c != "elman"]
    grad_half = (
        bands["elman"] == "vanished" and bool(others) and all(bands[c] == "kept" for c in others)
    )
    grad_against = bands["elman"] == "kept" or any(
        bands[c] in ("vanished", "exploded") for c in others
    )
    gated = [c for c in GATED if c in accuracy]
    info_lag, info_p = None, {}
    for lag in lags:
        holds, p_values = info_holds(accuracy, lag, chance)
        if holds:
            info_lag, info_p = lag, p_values
            break
    info_half = info_lag is not None
    info_against = info_speaks_against(accuracy, lags, chance)
    grad_text = "; ".join(
        f"{c} 1e{e.mean:+.1f} (log10 {e.mean:.1f} +- {e.half:.1f}, {bands[c]})"
        for c, e in sorted(grads.items())
    )
    curve = "; ".join(
        f"{c}: " + ", ".join(f"{stats.estimate(accuracy[c][k]).mean:.2f}" for k in lags)
        for c in sorted(accuracy)
    )
    learned = "; ".join(
        f"{c}: " + ", ".join(f"{seeds_learned(accuracy[c][k])[0]}" for k in lags)
        for c in sorted(accuracy)
    )
    n = min(len(v) for v in log10_grad_far.values())
    seeds = min(len(v) for a in accuracy.values() for v in a.values())
    figures = (
        f"query accuracy at the shortest lag {shortest}: {shortest_text} (all >= {LEARNED:g}); "
        f"trained relative gradient norm at T - t = {largest_distance} ({n} seeds, 95% CI): "
        f"{grad_text}; query accuracy by lag {lags} (chance {chance:.2f}): {curve}; "
        f"seeds that learned each lag (of {seeds}): {learned}; "
        + (
            f"Elman at chance where {'/'.join(gated)} learned the key in more seeds: lag "
            f"{info_lag} (Fisher p: " + ", ".join(f"{c} {p:.3f}" for c, p in info_p.items()) + ")"
            if info_half
            else "no lag where the Elman RNN is at chance and every gated cell learned the key "
            "in more seeds"
        )
    )
    key = tuple(
        e.figure(f"{c} trained log10 relative gradient norm") for c, e in sorted(grads.items())
    )
    key += tuple(
        stats.estimate(accuracy[c][k]).figure(f"{c} query accuracy at lag {k}")
        for c in sorted(accuracy)
        for k in lags
    )
    if grad_half or info_half:
        return verdict.Verdict(verdict.both(grad_half, info_half), text, figures, key)
    if grad_against or info_against:
        return verdict.Verdict(verdict.NOT_SUPPORTED, text, figures, key)
    return verdict.insufficient(
        "neither half holds and neither is contradicted (gradients undecided, no lag where "
        "the seeds separate the cells): more seeds or a larger budget would decide",
        text,
        figures,
    )


def summarize(records: list[dict], out_dir: Path, context: dict) -> dict:
    import numpy as np
    import pandas as pd

    from lab.atomic import write_atomic
    from lab.report.tables import aggregate, mean_ci_cell

    df = common.frame(records)
    if df.empty:
        return verdict.skipped("no finished runs").as_dict()
    learning_tables(df, out_dir, context)
    acc = aggregate(df, by=["cell", "lag"], metrics=["query_accuracy"])
    common.write_table(
        acc,
        out_dir,
        "long_range_accuracy",
        context,
        "Long-range task: accuracy on the query tokens, whose tag is the key seen `lag` "
        f"tokens earlier (chance {df['chance'].mean():.2f}); unidirectional taggers.",
    )
    common.plot(
        df,
        out_dir,
        "long_range_accuracy",
        context,
        x="lag",
        y="query_accuracy",
        hue="cell",
        hline=(float(df["chance"].mean()), "chance"),
        logx=True,
        xlabel="lag k (tokens between key and query, log scale)",
        ylabel="query accuracy (fraction)",
        title="Carrying information k steps",
    )
    largest_lag = int(df["lag"].max())
    rows = []
    for r in df[df["lag"] == largest_lag].itertuples():
        for when, norms in (("init", r.grad_init), ("trained", r.grad_trained)):
            for distance, value in enumerate(norms):
                rows.append(
                    {"cell": r.cell, "seed": r.seed, "when": when, "distance": distance,
                     "relative_grad_norm": value}
                )  # fmt: skip
    grads = pd.DataFrame(rows)
    # norms shrink geometrically: average (and put CIs on) their logarithms; a norm that
    # underflowed to 0 is the strongest vanishing there is, so it is floored at the
    # smallest positive float32 rather than dropped
    floor = float(np.finfo(np.float32).smallest_subnormal)
    grads["log10_relative_grad_norm"] = np.log10(grads["relative_grad_norm"].clip(lower=floor))
    table = aggregate(grads, by=["when", "cell", "distance"], metrics=["log10_relative_grad_norm"])
    # every distance in the CSV; the Markdown a reader compares: cells side by side at a
    # few distances
    write_atomic(Path(out_dir) / "gradient_norms_all.csv", table.to_csv(index=False))
    shown = sorted({0, 1, 2, 5, 10, 20, 50, 100} & set(table["distance"]))
    cells = [c for c in CELLS if c in set(table["cell"])]
    pivot = []
    for when in ("init", "trained"):
        for distance in shown:
            row = {"when": when, "distance": distance}
            for cell in cells:
                hit = table[(table["when"] == when) & (table["cell"] == cell)
                            & (table["distance"] == distance)]  # fmt: skip
                row[cell] = (
                    mean_ci_cell(float(hit["log10_relative_grad_norm_mean"].iloc[0]),
                                 float(hit["log10_relative_grad_norm_ci95"].iloc[0]))
                    if len(hit) else "-"
                )  # fmt: skip
            pivot.append(row)
    common.write_table(
        pd.DataFrame(pivot),
        out_dir,
        "gradient_norms",
        context,
        f"log10 of ||d loss_T / d h_t|| / ||d loss_T / d h_T|| at distances T - t, on "
        f"{PROBE_SENTENCES} lag-{largest_lag} probe sentences (norms averaged over the "
        "sentences; log10 averaged over seeds, +- its 95% CI over seeds). Every distance: "
        "gradient_norms_all.csv.",
    )
    for when in ("init", "trained"):
        common.plot(
            grads[grads["when"] == when],
            out_dir,
            f"gradient_norm_{when}",
            context,
            x="distance",
            y="log10_relative_grad_norm",
            hue="cell",
            xlabel="distance T - t (tokens)",
            ylabel="log10 ||d loss_T / d h_t|| / ||d loss_T / d h_T||",
            title=f"d loss_T / d h_t, {'at initialisation' if when == 'init' else 'trained'}",
        )
    trained = grads[grads["when"] == "trained"]
    farthest = int(trained["distance"].max())
    far = trained[trained["distance"] == farthest]
    log10_far = {c: list(g["log10_relative_grad_norm"]) for c, g in far.groupby("cell")}
    init_far = grads[(grads["when"] == "init") & (grads["distance"] == farthest)]
    accuracy = {
        c: {int(k): list(gk["query_accuracy"]) for k, gk in g.groupby("lag")}
        for c, g in df.groupby("cell")
    }
    result = rule(log10_far, accuracy, float(df["chance"].mean()), farthest)
    missing = missing_runs(df, context)
    if missing and result.verdict != verdict.SKIPPED:
        return verdict.insufficient(
            f"{missing} run(s) of the {context.get('scale')}-scale grid not finished yet "
            "(resume the sweep): a verdict on part of the cells or lags would read as one "
            "on all of them",
            result.rule, result.key_figures,
        ).as_dict()  # fmt: skip
    mismatch = tuning_mismatch(Path(out_dir))
    if mismatch and result.verdict != verdict.SKIPPED:
        return verdict.insufficient(
            f"the grid's configurations are not what its tuning chose: {mismatch}",
            result.rule, result.key_figures,
        ).as_dict()  # fmt: skip
    init_text = ", ".join(
        f"{c} 1e{g['log10_relative_grad_norm'].mean():+.1f}" for c, g in init_far.groupby("cell")
    )
    extra = f"; at initialisation (geometric mean): {init_text}; " + configurations_text(df)
    return result.with_key_figures(result.key_figures + extra).as_dict()


def missing_runs(df, context: dict) -> int:
    """How many (cell, lag, seed) runs of the grid at the context's scale (with its
    overrides) have no finished record; 0 when the scale is not stated."""
    wanted = {(c["cell"], int(c["lag"]), int(c["seed"])) for c in common.stated_grid(grid, context)}
    done = {(str(r.cell), int(r.lag), int(r.seed)) for r in df.itertuples()}
    return len(wanted - done)


def tuning_mismatch(out_dir: Path) -> str:
    """Where ``TUNED`` differs from what the tuning records in ``out_dir/tuning`` choose
    ("" when they agree or there are none: a reproduction elsewhere uses the committed
    choice, results/standard/vanishing_gradients/tuning)."""
    from experiments import vanishing_gradients_tuning as tuning
    from lab.runs.records import load_records

    folder = out_dir / "tuning"
    if not (folder / "results.jsonl").is_file():
        return ""
    chosen = tuning.choose(load_records(folder))
    keys = ("lr", "gate_init", "recurrent_init")
    return "; ".join(
        f"{cell}: tuned {[pick[k] for k in keys]}, grid {[TUNED[cell][k] for k in keys]}"
        for cell, pick in chosen.items()
        if cell in TUNED and any(pick[k] != TUNED[cell][k] for k in keys)
    )


def configurations_text(df) -> str:
    """The configuration each cell ran at, as the records say (one per cell)."""
    parts = []
    for cell in [c for c in CELLS if c in set(df["cell"])]:
        rows = df[df["cell"] == cell]
        configs = {
            (float(r.lr), str(getattr(r, "gate_init", "default")),
             str(getattr(r, "recurrent_init", "default")))
            for r in rows.itertuples()
        }  # fmt: skip
        parts.append(
            f"{cell} " + " | ".join(f"lr {lr:g}, gate {g}, recurrent {w}" for lr, g, w in configs)
        )
    budget_updates = int(df["budget_updates"].max()) if "budget_updates" in df else 0
    return f"budget {budget_updates:,} updates per run; configurations: " + "; ".join(parts)


def learning_tables(df, out_dir: Path, context: dict) -> None:
    """Seeds that learned each lag (exact binomial CI) and the updates it took (first dev
    evaluation at >= LEARNED), per cell and lag: the claim told as a learning speed."""
    import pandas as pd

    if "updates_to_learn" not in df:
        return  # records from before the fixed budget
    rows = []
    for (cell, lag), g in df.groupby(["cell", "lag"]):
        learned = [u for u in g["updates_to_learn"] if u is not None and u == u]
        rows.append(
            {
                "cell": cell,
                "lag": int(lag),
                "learned": learned_text(list(g["query_accuracy"])),
                "dev_learned": f"{len(learned)}/{len(g)}",
                "median_updates_to_learn": (
                    f"{int(pd.Series(learned).median()):,}" if learned else "never"
                ),
                "updates_to_learn": ", ".join(
                    f"{int(u):,}" if u is not None and u == u else "never"
                    for u in g.sort_values("seed")["updates_to_learn"]
                ),
                "budget_updates": int(g["budget_updates"].max()),
                f"patience_{PATIENCE_BEFORE}_abandons": sum(
                    abandoned_by_patience(c, PATIENCE_BEFORE) for c in g["dev_curve"]
                ),
            }
        )
    table = pd.DataFrame(rows)
    order = {c: i for i, c in enumerate(CELLS)}
    table = table.sort_values(
        ["cell", "lag"], key=lambda col: col.map(order) if col.name == "cell" else col
    )
    common.write_table(
        table,
        out_dir,
        "updates_to_learn",
        context,
        f"Seeds that learned each lag (test query accuracy >= {LEARNED:g}; exact 95% "
        f"binomial CI), seeds whose dev query accuracy reached {LEARNED:g}, and the updates "
        f"(batches of 32) before the first dev evaluation at >= {LEARNED:g}, per seed in "
        f'seed order ("never": not within the budget of `budget_updates`); and how many '
        "of the runs that learned would have been stopped at chance first by the "
        f"patience-{PATIENCE_BEFORE} early stopping the standard grid used before.",
    )
    # the plot: updates to learn, a seed that never learned drawn at the budget (a lower
    # bound of its true cost)
    curve = df.assign(
        updates=[
            float(u) if u is not None and u == u else float(b)
            for u, b in zip(df["updates_to_learn"], df["budget_updates"], strict=True)
        ]
    )
    common.plot(
        curve,
        out_dir,
        "updates_to_learn",
        context,
        x="lag",
        y="updates",
        hue="cell",
        logx=True,
        hline=(float(df["budget_updates"].max()), "budget (never learned)"),
        xlabel="lag k (tokens between key and query, log scale)",
        ylabel="updates to dev query accuracy >= 0.9",
        title="How long each cell takes to learn a lag",
    )
