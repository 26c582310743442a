"""Claim 4: in a tanh RNN the gradient d loss_T / d h_t vanishes as T - t grows;
residual and gated connections (and the LSTM and GRU built on them) carry it further,
and with it the information a long-range task needs.

One run = one unidirectional cell on the long-range task with one lag k for one seed:
the norm of d loss_T / d h_t against T - t at initialisation and after training (loss_T
is the tagging loss at the query, the last position whose answer lies k tokens back),
and the trained tagger's accuracy on the query positions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from experiments import _common as common
from lab.report import verdict

NAME = "vanishing_gradients"
CLAIM = (
    "Backpropagating through a tanh RNN multiplies T - t Jacobians, so d loss_T / d h_t "
    "vanishes with distance and long-range information is hard to learn; residual and "
    "gated connections (LSTM, GRU) pass the gradient, and the information, further."
)
CELLS = ("elman", "residual", "gated", "lstm", "gru")
PROBE_SENTENCES = 32  # sentences whose gradient norms are averaged


def grid(scale: str) -> list[dict]:
    lags = common.pick(scale, [3, 8], [5, 10, 20, 50], [5, 10, 20, 50, 100])
    base = common.pick(
        scale,
        {"n_train": 100, "hidden": 16, "max_epochs": 2, "max_seconds": 3},
        {"n_train": 1000, "hidden": 32, "max_epochs": 10, "max_seconds": 5},
        {"n_train": 5000, "hidden": 64, "max_epochs": 40, "max_seconds": None},
    )
    cells = CELLS if scale != "tiny" else ("elman", "residual", "gated")
    return [
        {"cell": cell, "lag": lag, "seed": s, "lr": 3e-3, "batch_size": 32, "patience": 3, **base}
        for cell in cells
        for lag in lags
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


def run(config: dict) -> dict:
    from lab.data import TagVocab, Vocab, Vocabs, long_range_corpus, make_batches
    from lab.training.metrics import unpad

    device = common.start_run(config)
    seed, lag = int(config["seed"]), int(config["lag"])
    train, dev, test = common.synthetic_splits(
        lambda n, sample_seed: long_range_corpus(n, lag, seed=sample_seed),
        config["n_train"], 200, 500, seed,
    )  # fmt: skip
    tags = sorted({t for s in train + dev + test for t in s.tags})
    vocabs = Vocabs(words=Vocab.build([s.tokens for s in train]), tags=TagVocab(tags))
    kwargs = {
        "encoder": config["cell"],
        "bidirectional": False,
        "head": "softmax",
        "hidden": int(config["hidden"]),
        "embedding_dim": int(config["hidden"]),
    }
    probe = probe_sentences(lag, seed=900_003)
    import torch

    from lab.models import ModelConfig, build_model

    torch.manual_seed(seed)
    initial = build_model(ModelConfig(**kwargs), len(vocabs.words), len(vocabs.tags))
    grad_init = gradient_norms(initial, probe, vocabs)
    model, fit = common.train_tagger(kwargs, train, dev, vocabs, config)
    model.to("cpu")
    grad_trained = gradient_norms(model, probe, vocabs)

    # accuracy on the query positions only (every other tag is "O")
    model.to(device).eval()
    right = total = 0
    with torch.no_grad():
        for batch in make_batches(test, vocabs, batch_size=128):
            pred = unpad(model.decode(batch.to(device)).cpu(), batch.lengths)
            for gold_row, pred_row in zip(unpad(batch.tags, batch.lengths), pred, strict=True):
                for g, p in zip(gold_row, pred_row, strict=True):
                    if vocabs.tags.names[g] != "O":
                        right += int(g == p)
                        total += 1
    return {
        "query_accuracy": right / total,
        "chance": 1.0 / (len(tags) - 1),
        "grad_init": grad_init,
        "grad_trained": grad_trained,
        "max_distance": len(grad_init) - 1,
        "epochs": fit.epochs,
        "train_seconds": fit.train_seconds,
    }


# --- the rule ----------------------------------------------------------------------

RULE = (
    "supported if, at initialisation, the Elman RNN's gradient norm ||d loss_T / d h_t|| at "
    "the largest distance T - t, relative to its norm at T - t = 0, is at least {factor:g}x "
    "smaller than that of the residual and of the gated cell (the lecture's two fixes), AND "
    "on the long-range task the Elman RNN's query accuracy, averaged over the lags k, is "
    "below the best of residual/gated/lstm/gru by more than {acc_margin:g}; not supported "
    "if neither holds; mixed otherwise"
)


def rule(
    relative_grad_at_init: Mapping[str, float],
    accuracy_over_lags: Mapping[str, float],
    largest_distance: int,
    lags: Sequence[int],
    factor: float = 10.0,
    acc_margin: float = 0.02,
) -> verdict.Verdict:
    """Claim 4: tanh RNN gradients vanish with distance; residual/gated connections
    carry them (and the information) further. ``accuracy_over_lags``: per cell, the mean
    query accuracy over ``lags``."""
    text = RULE.format(factor=factor, acc_margin=acc_margin)
    needed = ("elman", "residual", "gated")
    missing = [c for c in needed if c not in relative_grad_at_init]
    if missing or "elman" not in accuracy_over_lags:
        return verdict.skipped(f"missing cells {missing or ['elman (long-range)']}", text)
    elman = relative_grad_at_init["elman"]
    grads_ok = all(relative_grad_at_init[c] >= factor * elman for c in ("residual", "gated"))
    others = {c: a for c, a in accuracy_over_lags.items() if c != "elman"}
    if not others:
        return verdict.skipped("no gated-family long-range runs", text)
    best = max(others, key=others.get)
    acc_ok = others[best] - accuracy_over_lags["elman"] > acc_margin
    grads = ", ".join(f"{c} {v:.1e}" for c, v in sorted(relative_grad_at_init.items()))
    figures = (
        f"relative gradient norm at T - t = {largest_distance} (init): {grads}; long-range "
        f"query accuracy averaged over lags {list(lags)}: elman "
        f"{accuracy_over_lags['elman']:.3f} vs best {best} {others[best]:.3f}"
    )
    return verdict.Verdict(verdict.both(grads_ok, acc_ok), text, figures)


def summarize(records: list[dict], out_dir: Path, context: dict) -> dict:
    import numpy as np
    import pandas as pd

    from lab.report.tables import aggregate

    df = common.frame(records)
    if df.empty:
        return verdict.skipped("no finished runs").as_dict()
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
    common.write_table(
        table,
        out_dir,
        "gradient_norms",
        context,
        f"log10 of ||d loss_T / d h_t|| / ||d loss_T / d h_T|| against the distance T - t, "
        f"on {PROBE_SENTENCES} lag-{largest_lag} probe sentences (norms averaged over the "
        "sentences; log10 averaged over seeds).",
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
    init = grads[grads["when"] == "init"]
    farthest = int(init["distance"].max())
    # geometric mean over seeds of the relative norm at the largest distance
    at_far = (
        10 ** init[init["distance"] == farthest].groupby("cell")["log10_relative_grad_norm"].mean()
    )
    mean_over_lags = df.groupby("cell")["query_accuracy"].mean()
    return rule(
        dict(at_far), dict(mean_over_lags), farthest, sorted(df["lag"].unique().tolist())
    ).as_dict()
