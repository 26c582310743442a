"""``lab bench tagger``: training and decoding tokens/s of lab's taggers against the tagger
a user would write (nn.Embedding + packed nn.LSTM + Linear + pytorch-crf's CRF).

Both sides get the same batches (the first ``--sentences`` UD EWT training sentences,
length-bucketed as the training loop makes them; synthetic ones when the corpus is
absent), the same sizes and AdamW; a training step is forward + backward + optimiser
step, and tokens/s counts real tokens. Rounds interleave every model so that drifting
machine load hits them alike; the median round is kept, and each ratio lab / reference
is taken within the same run. Writes a markdown table atomically to ``--out``.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import time
from dataclasses import dataclass

# (row name, head, bidirectional) x char features (None, "cnn", "lstm")
MODELS = (
    ("bilstm-crf", "crf", True),
    ("bilstm-softmax", "softmax", True),
    ("lstm-crf", "crf", False),
)
CHARS = (None, "cnn", "lstm")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="cpu, cuda, ... (default cpu)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the median is kept")
    parser.add_argument("--batch-sizes", default="32,64", help="comma-separated B (32,64)")
    parser.add_argument("--sentences", type=int, default=960, help="training sentences (960)")
    parser.add_argument("--max-batches", type=int, default=10, help="batches per round (10)")
    parser.add_argument("--embedding-dim", type=int, default=100, help="E (default 100)")
    parser.add_argument("--hidden", type=int, default=200, help="H per direction (200)")
    parser.add_argument("--char-dim", type=int, default=50, help="char size (default 50)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--synthetic", action="store_true", help="synthetic data, not EWT")
    parser.add_argument("--models", default="", help="comma-separated row names (all)")
    parser.add_argument("--out", default="results/bench_tagger.md", help="'' = print only")


@dataclass
class Row:
    """One table row: a model, its char features and a batch size, lab vs reference."""

    name: str
    head: str
    bidirectional: bool
    chars: str | None
    batch_size: int


def _data(args: argparse.Namespace):
    """(sentences, source description): EWT train's first ``--sentences``, or synthetic."""
    from lab.data import builtin_corpus, load_real_corpus

    if not args.synthetic:
        try:
            train = load_real_corpus("ud_ewt")["train"][: args.sentences]
            return train, f"UD EWT train, first {len(train)} sentences"
        except FileNotFoundError:
            pass
    train = builtin_corpus("synthetic-hmm", args.sentences, seed=0)
    return train, f"synthetic-hmm, {len(train)} sentences (UD EWT not found or --synthetic)"


def reference_tagger(row: Row, num_words: int, num_chars: int, num_tags: int, args):
    """The tagger a user would write: nn.Embedding (+ a char CNN or a packed char BiLSTM)
    -> packed nn.LSTM -> Linear -> pytorch-crf's CRF or a softmax; lab's sizes.
    ``loss(batch)`` is the mean NLL per real token, as lab's; ``decode(batch)``."""
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    class Tagger(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(num_words, args.embedding_dim, padding_idx=0)
            c = args.char_dim
            features = args.embedding_dim
            if row.chars is not None:
                self.char_embedding = nn.Embedding(num_chars, c, padding_idx=0)
                if row.chars == "cnn":
                    self.conv = nn.Conv1d(c, c, 3, padding=1)
                    features += c
                else:
                    self.char_lstm = nn.LSTM(c, c, batch_first=True, bidirectional=True)
                    features += 2 * c
            self.lstm = nn.LSTM(
                features, args.hidden, batch_first=True, bidirectional=row.bidirectional
            )
            self.proj = nn.Linear(args.hidden * (2 if row.bidirectional else 1), num_tags)
            if row.head == "crf":
                from torchcrf import CRF

                self.crf = CRF(num_tags, batch_first=True)

        def char_features(self, chars):  # (B, T, L) -> (B, T, F)
            b, t, length = chars.shape
            flat = chars.reshape(b * t, length)
            if row.chars == "cnn":
                e = self.char_embedding(flat).transpose(1, 2)  # (B*T, C, L)
                f = torch.relu(self.conv(e)).masked_fill((flat == 0).unsqueeze(1), 0.0)
                return f.max(dim=2).values.reshape(b, t, -1)
            n = (flat != 0).sum(1)
            real = n.nonzero().squeeze(1)
            packed = pack_padded_sequence(
                self.char_embedding(flat[real]), n[real].cpu(), batch_first=True,
                enforce_sorted=False,
            )  # fmt: skip
            _, (h, _) = self.char_lstm(packed)
            out = torch.zeros(b * t, 2 * h.shape[-1], device=chars.device)
            return out.index_copy(0, real, torch.cat([h[0], h[1]], -1)).reshape(b, t, -1)

        def emissions(self, batch):  # (B, T, C)
            x = self.embedding(batch.words)
            if row.chars is not None:
                x = torch.cat([x, self.char_features(batch.chars)], dim=-1)
            packed = pack_padded_sequence(
                x, batch.lengths.cpu(), batch_first=True, enforce_sorted=False
            )
            out, _ = pad_packed_sequence(
                self.lstm(packed)[0], batch_first=True, total_length=x.shape[1]
            )
            return self.proj(out)

        def loss(self, batch):
            e = self.emissions(batch)
            if row.head == "crf":
                nll = -self.crf(e, batch.tags, mask=batch.mask, reduction="sum")
            else:
                nll = nn.functional.cross_entropy(
                    e[batch.mask], batch.tags[batch.mask], reduction="sum"
                )
            return nll / batch.mask.sum()

        def decode(self, batch):
            e = self.emissions(batch)
            if row.head == "crf":
                return self.crf.decode(e, mask=batch.mask)
            return e.argmax(-1) * batch.mask

    return Tagger()


def _lab_model(row: Row, vocabs, args):
    from lab.models import ModelConfig, build_tagger

    config = ModelConfig(
        encoder="lstm",
        bidirectional=row.bidirectional,
        embedding_dim=args.embedding_dim,
        hidden=args.hidden,
        head=row.head,
        char_features=row.chars is not None,
        char_encoder=row.chars or "cnn",
        char_dim=args.char_dim,
    )
    return build_tagger(config, vocabs)


def _time(fn, batches, device) -> float:
    """Seconds to run ``fn`` on every batch (synchronising a CUDA device at the end)."""
    import torch

    start = time.perf_counter()
    for batch in batches:
        fn(batch)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def _trainer(model, device, lr: float = 1e-3, lab_optimizer: bool = False, amp: str = "none"):
    """One training step of ``model``: lab's taggers step with lab.training.fit's
    optimizer (fused AdamW) and its autocast (``amp``: TrainConfig.amp), the reference
    with the AdamW a user would write."""
    import torch

    from lab.training.fit import autocast, make_optimizer

    if lab_optimizer:
        optimizer = make_optimizer(model, lr)
    else:
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr)

    def step(batch) -> None:
        model.train()
        optimizer.zero_grad()
        with autocast(device, amp):
            loss = model.loss(batch)
        loss.backward()
        optimizer.step()

    return step


def _encoder_pass(model):
    """Forward + backward of ``model``'s word features and encoder alone (no head, no
    loss, no optimizer step): the part of a training step that the rest cannot speed up,
    so tokens/s here over the reference's bounds what lab / reference can reach."""

    def step(batch) -> None:
        model.train()
        model.zero_grad(set_to_none=True)
        model.encode(batch).sum().backward()

    return step


def _decoder(model, device, amp: str = "none"):
    import torch

    from lab.training.fit import autocast

    def decode(batch) -> None:
        model.eval()
        with torch.no_grad(), autocast(device, amp):
            model.decode(batch)

    return decode


def _viterbi_jobs(lab, ref, row: Row, batches: list, device) -> dict:
    """Viterbi alone, lab's CRF head vs pytorch-crf's decode, on the same encoder states
    (B, T, D) of each batch (computed once, outside the timing); both sides include the
    head's Linear to emissions (B, T, C): {side: (fn, B)}."""
    import torch

    lab.eval()
    with torch.no_grad():
        states = {id(x): lab.encode(x) for x in batches}

    def run_lab(batch) -> None:
        with torch.no_grad():
            lab.head.decode(states[id(batch)], batch.mask, "viterbi")

    def run_ref(batch) -> None:
        with torch.no_grad():
            ref.crf.decode(lab.head.emissions(states[id(batch)]), mask=batch.mask)

    return {"lab": (run_lab, row.batch_size), "ref": (run_ref, row.batch_size)}


def _median_rates(jobs: dict, batches_of: dict, rounds: int, device) -> dict:
    """jobs {key: (fn, batch-size key)} -> {key: median tokens/s}, rounds interleaved."""
    tokens = {b: sum(x.num_tokens for x in bs) for b, bs in batches_of.items()}
    for fn, b in jobs.values():  # warm up kernels, allocators and caches
        _time(fn, batches_of[b][:2], device)
    seconds: dict = {key: [] for key in jobs}
    for _ in range(rounds):
        for key, (fn, b) in jobs.items():
            seconds[key].append(_time(fn, batches_of[b], device))
    return {key: tokens[jobs[key][1]] / statistics.median(s) for key, s in seconds.items()}


def main(args: argparse.Namespace) -> int:
    import torch

    from lab import device as devices
    from lab.data import Vocabs, make_batches

    sizes = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    for flag in ("rounds", "sentences", "max_batches", "embedding_dim", "hidden", "char_dim"):
        if getattr(args, flag) < 1:
            raise ValueError(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    if not sizes or min(sizes) < 1:
        raise ValueError(f"--batch-sizes must be ints >= 1, got {args.batch_sizes!r}")
    names = [m for m in args.models.split(",") if m.strip()] or [m[0] for m in MODELS]
    unknown = sorted(set(names) - {m[0] for m in MODELS})
    if unknown:
        raise ValueError(f"unknown models {unknown}; expected some of {[m[0] for m in MODELS]}")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    train, source = _data(args)
    vocabs = Vocabs.build(train, chars=True)
    batches_of = {
        b: [
            x.to(device)
            for x in make_batches(train, vocabs, batch_size=b, shuffle=True)[: args.max_batches]
        ]
        for b in sizes
    }
    rows = [
        Row(name, head, bi, chars, b)
        for b in sizes
        for name, head, bi in MODELS
        if name in names
        for chars in CHARS
    ]
    bf16 = devices.bf16_is_fast(device)  # else no bf16 column: emulated, slower than fp32
    sides = [("lab", "none")] + [("bf16", "bf16")] * bf16 + [("ref", "none")]
    train_jobs, decode_jobs, viterbi_jobs = {}, {}, {}
    for i, row in enumerate(rows):
        torch.manual_seed(i)
        lab = _lab_model(row, vocabs, args).to(device)
        ref = reference_tagger(row, len(vocabs.words), len(vocabs.chars), len(vocabs.tags), args)
        ref = ref.to(device)
        for side, amp in sides:
            # bf16: the same weights would train on, so a copy steps apart
            model = ref if side == "ref" else copy.deepcopy(lab) if side == "bf16" else lab
            step = _trainer(model, device, lab_optimizer=side != "ref", amp=amp)
            train_jobs[i, side] = (step, row.batch_size)
            decode_jobs[i, side] = (_decoder(model, device, amp), row.batch_size)
        train_jobs[i, "encoder"] = (_encoder_pass(lab), row.batch_size)
        if row.head == "crf" and row.chars is None:
            jobs = _viterbi_jobs(lab, ref, row, batches_of[row.batch_size], device)
            viterbi_jobs.update({(i, side): job for side, job in jobs.items()})
    train_rate = _median_rates(train_jobs, batches_of, args.rounds, device)
    decode_rate = _median_rates(decode_jobs, batches_of, args.rounds, device)
    viterbi_rate = _median_rates(viterbi_jobs, batches_of, args.rounds, device)
    text = _table(args, rows, train_rate, decode_rate, viterbi_rate, source, device)
    print(text, end="")
    if args.out:
        from lab.atomic import write_atomic

        write_atomic(args.out, text)
        print(f"wrote {args.out}")
    return 0


RATE_HEADER = [
    "| model | chars | B | lab fp32 tokens/s | lab bf16 tokens/s | reference tokens/s "
    "| lab fp32 / ref | lab bf16 / ref |",
    "|---|---|---:|---:|---:|---:|---:|---:|",
]
CEILING_HEADER = (
    RATE_HEADER[0] + " lab fp32 encoder alone tokens/s | ceiling: encoder alone / ref |",
    RATE_HEADER[1] + "---:|---:|",
)


def _rate_rows(rows, rates) -> list[str]:
    """One Markdown row per bench row: lab's tokens/s (fp32, and under bf16 autocast, '-'
    where not measured), the reference's, and the two ratios; where the rates hold lab's
    encoder alone (training), its tokens/s and its ratio to the reference's too."""
    out = []
    for i, row in enumerate(rows):
        lab, ref, bf16 = rates[i, "lab"], rates[i, "ref"], rates.get((i, "bf16"))
        bf16_cells = ("-", "-") if bf16 is None else (f"{bf16:,.0f}", f"{bf16 / ref:.2f}")
        line = (
            f"| {row.name} | {row.chars or '-'} | {row.batch_size} | {lab:,.0f} "
            f"| {bf16_cells[0]} | {ref:,.0f} | {lab / ref:.2f} | {bf16_cells[1]} |"
        )
        if (i, "encoder") in rates:
            encoder = rates[i, "encoder"]
            line += f" {encoder:,.0f} | {encoder / ref:.2f} |"
        out.append(line)
    return out


def _table(args, rows, train_rate, decode_rate, viterbi_rate, source, device) -> str:
    import torch

    from lab import device as devices
    from lab.runs.provenance import command_line, describe_commit, describe_device, now

    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    if device.type == "cuda":
        machine += f", {torch.cuda.get_device_name(device)}"
    else:
        machine += f", {torch.backends.cpu.get_cpu_capability()}, AMX tiles " + (
            "yes" if torch.cpu._is_amx_tile_supported() else "no"
        )
    lines = [
        "# Tagger throughput: lab vs the tagger a user would write",
        "",
        f"Command `{command_line()}`; commit {describe_commit()}; {now()}.",
        "",
        f"Device {describe_device(str(device), args.threads)}; machine {machine}; "
        f"{args.threads} torch thread(s); torch {torch.__version__}, CUDA "
        f"{torch.version.cuda or 'none'}. Data: {source}, length-bucketed batches (first "
        f"{args.max_batches} per size). E={args.embedding_dim}, H={args.hidden} per "
        f"direction, chars {args.char_dim} (CNN filters; BiLSTM per direction), one layer, "
        f"no dropout; lab steps with lab's optimizer (fused AdamW, lab.training.fit), the "
        f"reference with torch.optim.AdamW's default; lab bf16 = the same lab model under "
        f"bf16 autocast (TrainConfig amp='bf16': encoder in bf16, heads score in float32)"
        f"{'' if devices.bf16_is_fast(device) else ', not measured here (no native bf16)'}, "
        f"the reference in fp32 as a user writes it. {args.rounds} interleaved rounds, "
        "median; tokens/s of real tokens.",
        "Reference: nn.Embedding (+ the same char CNN, or the same char BiLSTM as a packed "
        "nn.LSTM) + packed nn.LSTM + Linear + pytorch-crf's CRF (or softmax). Targets (CPU, "
        "1 thread, B=32): bilstm-crf >= 3.0x words only and with char BiLSTM; Viterbi >= 3x.",
        "",
        "## Training (forward + backward + AdamW step)",
        "",
        "The last two columns: lab's word features and encoder alone (forward + backward; "
        "no head, loss or optimizer step), and their tokens/s over the reference's: the "
        "most lab fp32 / ref could reach with this encoder if everything else cost nothing.",
        "",
        *CEILING_HEADER,
    ]
    lines += _rate_rows(rows, train_rate)
    lines += [
        "",
        "## Decoding (encoder + Viterbi for crf heads, argmax for softmax; no grad)",
        "",
        *RATE_HEADER,
    ]
    lines += _rate_rows(rows, decode_rate)
    lines += [
        "",
        "## Viterbi alone (the same encoder states; lab's CRF head vs pytorch-crf's decode)",
        "",
        "| model | B | lab tokens/s | reference tokens/s | lab / reference |",
        "|---|---:|---:|---:|---:|",
    ]
    for i, row in enumerate(rows):
        if (i, "lab") in viterbi_rate:
            lab, ref = viterbi_rate[i, "lab"], viterbi_rate[i, "ref"]
            lines.append(
                f"| {row.name} | {row.batch_size} | {lab:,.0f} | {ref:,.0f} | {lab / ref:.2f} |"
            )
    return "\n".join(lines) + "\n"
