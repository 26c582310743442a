"""``lab bench rnn``: training tokens/s of each encoder vs ``torch.nn.RNN`` (tanh).

Each model is the same tagger (embedding -> encoder -> linear -> cross-entropy) trained
with Adam on random full-length batches, on the CPU, in one run; the rounds interleave
the models so that drifting machine load hits them alike. Prints a markdown table with
tokens/s and the ratio to nn.RNN of the same size, and writes it (atomically) to
``--output``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

BASELINE = "nn.RNN(tanh)"
CUSTOM = ("elman", "residual", "gated")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-size", type=int, default=32, help="B (default 32)")
    parser.add_argument("--seq-len", type=int, default=40, help="T (default 40)")
    parser.add_argument("--hidden", type=int, default=128, help="H (default 128)")
    parser.add_argument("--embedding-dim", type=int, default=64, help="default 64")
    parser.add_argument("--vocab", type=int, default=5000, help="V (default 5000)")
    parser.add_argument("--tags", type=int, default=17, help="C (default 17)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the median is kept")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument(
        "--encoders",
        default="bow,elman,residual,gated,lstm,gru",
        help="comma-separated encoders to time (default: all six)",
    )
    parser.add_argument(
        "--output", default="results/bench_rnn.md", help="markdown file to write ('' = none)"
    )


def _build(name: str, args: argparse.Namespace):
    import torch
    from torch import nn

    from lab.models.encoders import build_encoder

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(args.vocab, args.embedding_dim)
            if name == BASELINE:
                self.rnn = nn.RNN(args.embedding_dim, args.hidden, batch_first=True)
                self.encoder = None
            else:
                self.encoder = build_encoder(name, args.embedding_dim, args.hidden)
            self.out = nn.Linear(args.hidden, args.tags)

        def forward(self, words, mask, lengths, tags):
            x = self.embedding(words)
            h = self.rnn(x)[0] if self.encoder is None else self.encoder(x, mask, lengths)
            return nn.functional.cross_entropy(self.out(h).flatten(0, 1), tags.flatten())

    model = Model()
    return model, torch.optim.Adam(model.parameters(), lr=1e-3)


def _time_steps(model, optimizer, data, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad()
        model(*data).backward()
        optimizer.step()
    return time.perf_counter() - start


def main(args: argparse.Namespace) -> int:
    import torch

    names = [n.strip() for n in args.encoders.split(",") if n.strip()]
    from lab.models.config import ENCODERS

    unknown = sorted(set(names) - set(ENCODERS))
    if unknown:
        raise ValueError(f"unknown encoders {unknown}; expected some of {list(ENCODERS)}")
    for flag in ("batch_size", "seq_len", "hidden", "steps", "rounds", "threads"):
        if getattr(args, flag) < 1:
            raise ValueError(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    b, t = args.batch_size, args.seq_len
    data = (
        torch.randint(2, args.vocab, (b, t)),
        torch.ones(b, t, dtype=torch.bool),
        torch.full((b,), t),
        torch.randint(0, args.tags, (b, t)),
    )
    models = {name: _build(name, args) for name in [BASELINE, *names]}
    for model, optimizer in models.values():  # warm up allocators and kernels
        _time_steps(model, optimizer, data, 2)
    seconds: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, (model, optimizer) in models.items():
            seconds[name].append(_time_steps(model, optimizer, data, args.steps))
    tokens = b * t * args.steps
    rate = {name: tokens / statistics.median(s) for name, s in seconds.items()}

    lines = [
        "# Training throughput of the encoders (CPU)",
        "",
        f"B={b}, T={t}, H={args.hidden}, E={args.embedding_dim}, V={args.vocab}, "
        f"C={args.tags}, one layer, unidirectional; Adam step on cross-entropy; "
        f"{args.steps} steps x {args.rounds} rounds (median); torch {torch.__version__}, "
        f"{args.threads} thread(s), {platform.processor() or platform.machine()}.",
        "Custom cells (elman, residual, gated) target: within 2x of nn.RNN's tokens/s.",
        "",
        "| encoder | tokens/s | ratio to nn.RNN | note |",
        "|---|---:|---:|---|",
    ]
    for name in models:
        ratio = rate[name] / rate[BASELINE]
        note = ""
        if name in CUSTOM:
            note = "within 2x" if ratio >= 0.5 else "SLOWER than 2x"
        lines.append(f"| {name} | {rate[name]:,.0f} | {ratio:.2f} | {note} |")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.output:
        from lab.atomic import write_atomic

        write_atomic(args.output, text)
        print(f"wrote {args.output}")
    return 0
