"""``lab bench crf|rnn|tagger``: speed benchmarks that print figures and same-run ratios."""

from __future__ import annotations

import argparse
import importlib

# benchmark name -> module exposing add_arguments(parser) and main(args)
BENCHMARKS = {
    "crf": ("lab.bench.crf", "CRF inference: native vs torch-struct vs pytorch-crf"),
    "rnn": ("lab.bench.rnn", "training tokens/s of each encoder vs torch.nn.RNN"),
    "tagger": ("lab.bench.tagger", "lab's taggers vs nn.LSTM + pytorch-crf: tokens/s"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK")
    sub.required = True
    for name, (module_name, help_text) in BENCHMARKS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        module = importlib.import_module(module_name)
        module.add_arguments(sp)
        sp.set_defaults(_bench=module)


def main(args: argparse.Namespace) -> int:
    return int(args._bench.main(args) or 0)
