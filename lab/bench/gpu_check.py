"""The CUDA paths measured in one prepared run (``make gpu-check``, scripts/gpu_check.sh):
the ``gpu`` tests, the CRF and tagger benches on the GPU against their references,
packed (cuDNN) against padded for the word and char encoders (which "auto" should pick),
a UD EWT BiLSTM-CRF trained with bf16 autocast for a fixed number of epochs, and one
standard-scale learning-curve cell timed on the device. Every table goes to ``--out``
(results/gpu/) headed by the device, torch and CUDA versions and the commit.

Offline, with the torch it finds (>= 2.1): what it imports beyond torch, numpy and the
lab's pure-Python dependencies is optional, and reported when absent. ``--device cpu
--tiny`` runs every part at a tiny size on the CPU (the test suite does, so that the
script cannot rot while no GPU is at hand); ``--only PART`` reruns one part.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

PARTS = ("device", "tests", "crf", "tagger", "paths", "ewt", "cell")
OPTIONAL = ("torch_struct", "torchcrf", "pytest", "pandas", "numba")
# The learning-curve cell timed on the device: a standard-scale UD EWT BiLSTM-CRF run
# (its CPU record, results/standard/learning_curve, took ~121 s on one core)
CELL = {"corpus": "ud_ewt", "model": "bilstm-crf", "size": 3000, "seed": 0}
EWT_EPOCHS = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (the CPU dry run)")
    parser.add_argument("--only", choices=PARTS, action="append", help="run only this part")
    parser.add_argument("--out", default="results/gpu", help="where the tables go")


def _header(device: str) -> list[str]:
    """How the tables were made: device, torch, CUDA, commit, date."""
    import torch

    from lab.runs.provenance import command_line, describe_commit, describe_device, now

    cuda = torch.version.cuda or "none"
    return [
        f"- command: `{command_line()}`",
        f"- device: {describe_device(device)}; torch {torch.__version__}; CUDA {cuda}",
        f"- commit: {describe_commit()}; date: {now()}",
        "",
    ]


def _write(out: Path, name: str, title: str, device: str, body: list[str]) -> Path:
    from lab.atomic import write_atomic

    path = out / f"{name}.md"
    write_atomic(path, "\n".join([f"# {title}", "", *_header(device), *body]) + "\n")
    print(f"wrote {path}", flush=True)
    return path


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return lines


def part_device(args, out: Path) -> None:
    """The device, the versions, and which optional packages are installed."""
    import torch

    rows = [["torch", torch.__version__], ["CUDA (torch build)", torch.version.cuda or "none"]]
    if args.device.startswith("cuda"):
        props = torch.cuda.get_device_properties(0)
        rows += [["GPU", props.name], ["memory", f"{props.total_memory / 2**30:.1f} GiB"],
                 ["bf16 supported", torch.cuda.is_bf16_supported()]]  # fmt: skip
    for name in OPTIONAL:
        found = importlib.util.find_spec(name) is not None
        rows.append([name, "installed" if found else "not installed"])
    _write(
        out, "device", "The device of the GPU check", args.device, _table(["what", "value"], rows)
    )


def part_tests(args, out: Path) -> None:
    """The ``gpu``-marked tests (the dry run only collects them: no recursion)."""
    if importlib.util.find_spec("pytest") is None:
        body = ["pytest not installed: the gpu tests were not run"]
    else:
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-m",
            "gpu",
            "tests",
            "-p",
            "no:cacheprovider",
        ]
        if args.tiny:
            command.append("--collect-only")
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
        body = [f"`{' '.join(command[2:])}`: exit {done.returncode}", "", "```", *tail, "```"]
    _write(out, "tests", "The gpu-marked tests", args.device, body)


def part_crf(args, out: Path) -> None:
    """``lab bench crf`` on the device, against the references that are installed."""
    from lab.bench import crf

    impls = ["native", "native-tensor", "logspace"]
    missing = []
    for impl, module in (("torch-struct", "torch_struct"), ("pytorch-crf", "torchcrf")):
        (impls if importlib.util.find_spec(module) else missing).append(impl)
    parser = argparse.ArgumentParser()
    crf.add_arguments(parser)
    sizes = "4x5x3" if args.tiny else "32x25x17,64x50x17,256x50x17,64x200x17,64x50x50"
    crf.main(parser.parse_args([
        "--device", args.device, "--sizes", sizes, "--repeats", "1" if args.tiny else "7",
        "--impls", ",".join(impls), "--output", str(out / "bench_crf.md"),
    ]))  # fmt: skip
    if missing:
        print(f"crf: not installed, so not timed: {', '.join(missing)}")


def part_tagger(args, out: Path) -> None:
    """``lab bench tagger`` on the device (lab's taggers against nn.LSTM + pytorch-crf)."""
    from lab.bench import tagger

    if importlib.util.find_spec("torchcrf") is None:
        _write(out, "bench_tagger", "Tagger bench", args.device,
               ["pytorch-crf not installed: the reference tagger cannot run"])  # fmt: skip
        return
    parser = argparse.ArgumentParser()
    tagger.add_arguments(parser)
    extra = ["--synthetic", "--sentences", "64", "--max-batches", "2", "--rounds", "1",
             "--batch-sizes", "8", "--hidden", "16", "--embedding-dim", "16",
             "--char-dim", "8"] if args.tiny else ["--batch-sizes", "32,64"]  # fmt: skip
    tagger.main(parser.parse_args(
        ["--device", args.device, "--out", str(out / "bench_tagger.md"), *extra]
    ))  # fmt: skip


def _median_ms(fn: Callable[[], object], device, repeats: int) -> float:
    from lab.device import synchronize

    fn()
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def part_paths(args, out: Path) -> None:
    """Forward + backward of the word BiLSTM and the char BiLSTM by the packed (cuDNN)
    and the padded path on the device: which one ``resolve_path("auto")`` should pick."""
    import torch

    from lab.models.encoders import CharLSTM, TorchRecurrentEncoder

    device = torch.device(args.device)
    B, T, L = (4, 7, 5) if args.tiny else (32, 40, 12)
    E, H, V, D = (8, 8, 30, 4) if args.tiny else (100, 200, 100, 50)
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(T // 2, T + 1, (B,), generator=g)
    lengths[0] = T
    mask = torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)
    x = torch.randn(B, T, E, generator=g).to(device)
    chars = torch.randint(1, V, (B, T, L), generator=g)
    chars[:, :, L // 2 :] = 0  # padding inside each token
    chars = chars.to(device)
    rows = []
    repeats = 2 if args.tiny else 20
    for name, build, run in (
        ("word BiLSTM", lambda p: TorchRecurrentEncoder("lstm", E, H, bidirectional=True, path=p),
         lambda m: m(x, mask.to(device), lengths.to(device)).sum().backward()),
        ("char BiLSTM", lambda p: CharLSTM(V, D, D, path=p),
         lambda m: m(chars).sum().backward()),
    ):  # fmt: skip
        ms = {}
        for path in ("packed", "padded"):
            torch.manual_seed(0)
            module = build(path).to(device)
            ms[path] = _median_ms(lambda m=module, f=run: f(m), device, repeats)
        pick = min(ms, key=ms.get)
        rows.append([name, f"{ms['packed']:.3f}", f"{ms['padded']:.3f}", pick,
                     "packed" if device.type != "cpu" else "padded"])  # fmt: skip
    body = [f"B={B}, T={T} (lengths {int(lengths.min())}-{T}), L={L}, E={E}, H={H}; "
            f"forward + backward, median of {repeats}", ""]  # fmt: skip
    body += _table(["encoder", "packed ms", "padded ms", "faster", "auto picks today"], rows)
    _write(out, "paths", "Packed (cuDNN) vs padded RNN paths", args.device, body)


def part_ewt(args, out: Path) -> None:
    """A UD EWT BiLSTM-CRF trained with bf16 autocast (fp32 in the dry run) for a fixed
    number of epochs: test accuracy and seconds per epoch."""
    import torch

    from lab.data import TagVocab, Vocabs
    from lab.data.corpora import load_sentences
    from lab.models import ModelConfig
    from lab.models.registry import build_tagger
    from lab.training.config import TrainConfig
    from lab.training.evaluate import evaluate
    from lab.training.fit import fit

    try:
        train, dev, test = (load_sentences(f"ud_ewt:{s}", s) for s in ("train", "dev", "test"))
        corpus = "UD EWT"
    except (FileNotFoundError, ValueError) as err:
        if not args.tiny:
            raise
        print(f"ewt: {err}; the dry run uses the synthetic HMM corpus")
        train, dev, test = (
            load_sentences(f"synthetic-hmm:{n}", s)
            for n, s in ((60, "train"), (20, "dev"), (20, "test"))
        )
        corpus = "synthetic HMM"
    if args.tiny:
        train, dev, test = train[:60], dev[:20], test[:20]
    vocabs = Vocabs.build(train, chars=True, lower=True)
    # the corpus's tag set is known in advance; a small slice may not show every tag
    vocabs.tags = TagVocab(sorted({t for part in (train, dev, test) for x in part for t in x.tags}))
    size = {"hidden": 8, "embedding_dim": 8, "char_dim": 4} if args.tiny else {
        "hidden": 200, "embedding_dim": 100, "char_dim": 50}  # fmt: skip
    config = ModelConfig(encoder="lstm", bidirectional=True, head="crf", char_features=True,
                         char_encoder="lstm", dropout=0.33, word_dropout=0.25, **size)  # fmt: skip
    amp = "bf16" if args.device.startswith("cuda") else "none"
    epochs = 1 if args.tiny else EWT_EPOCHS
    torch.manual_seed(0)
    model = build_tagger(config, vocabs)
    result = fit(model, train, dev, TrainConfig(
        lr=2e-3, max_epochs=epochs, patience=None, device=args.device, amp=amp, progress=False,
    ), vocabs=vocabs)  # fmt: skip
    accuracy = evaluate(model, test, vocabs)["token_accuracy"]
    per_epoch = [h["seconds"] for h in result.history]
    rows = [[corpus, len(train), epochs, amp, f"{100 * accuracy:.2f}",
             f"{statistics.mean(per_epoch):.1f}", f"{result.train_tokens_per_s:,.0f}"]]  # fmt: skip
    body = _table(["corpus", "train sentences", "epochs", "amp", "test accuracy %",
                   "s / epoch", "train tokens/s"], rows)  # fmt: skip
    body += [
        "",
        "BiLSTM-CRF, char BiLSTM, lower-cased words, word dropout 0.25 (ewt_quality's "
        "settings), a fixed number of epochs (no early stop): a speed check, not the bar",
    ]
    _write(out, "ewt", "UD EWT BiLSTM-CRF on the device", args.device, body)


def part_cell(args, out: Path) -> None:
    """One named standard-scale learning-curve cell, timed on the device."""
    from experiments import learning_curve as lc

    scale = "tiny" if args.tiny else "standard"
    wanted = {"corpus": "synthetic", "model": "bilstm-crf", "seed": 0} if args.tiny else CELL
    config = next(c for c in lc.grid(scale) if all(c.get(k) == v for k, v in wanted.items()))
    config = {**config, "device": args.device, "threads": None}
    start = time.perf_counter()
    metrics = lc.run(config)
    seconds = time.perf_counter() - start
    metric = metrics["metric"]
    rows = [[config["corpus"], config["model"], config["size"], config["seed"],
             f"{seconds:.1f}", metrics["epochs"], f"{100 * metrics[metric]:.2f}"]]  # fmt: skip
    body = _table(["corpus", "model", "size", "seed", "wall s", "epochs", f"test {metric} %"], rows)
    _write(out, "cell", f"A {scale}-scale learning-curve cell on the device", args.device, body)


def main(args: argparse.Namespace) -> int:
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device here (use --device cpu --tiny to dry-run)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    failed = []
    for part in args.only or PARTS:
        print(f"== {part}", flush=True)
        start = time.perf_counter()
        try:
            globals()[f"part_{part}"](args, out)
        except Exception as err:  # one part's failure must not hide the others' figures
            failed.append(part)
            print(f"{part} FAILED: {type(err).__name__}: {err}", flush=True)
        print(f"== {part}: {time.perf_counter() - start:.1f} s", flush=True)
    if failed:
        print(f"failed parts: {', '.join(failed)} (rerun one with --only PART)")
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="gpu_check", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
