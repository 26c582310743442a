"""The ``lab`` command. Each subcommand lives in its own module, which exposes
``add_arguments(parser)`` and ``main(args) -> int`` and imports heavy libraries
(torch, pandas) only inside ``main`` so that ``lab --help`` stays fast."""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "reproduce": ("lab.cli.reproduce", "run every lecture experiment and write results/"),
    "run": ("lab.cli.run", "run one experiment's grid of runs (resumable)"),
    "report": ("lab.cli.report", "turn a results directory into tables and plots"),
    "train": ("lab.cli.train", "train one model on a corpus"),
    "evaluate": ("lab.cli.evaluate", "evaluate a checkpoint on a corpus"),
    "data": ("lab.cli.data", "corpus statistics and synthetic corpora"),
    "bench": ("lab.cli.bench", "speed benchmarks (crf, rnn)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lab", description="Structured vs neural sequence models: the lab's commands."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module_name, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        module = importlib.import_module(module_name)
        module.add_arguments(sp)
        sp.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._module.main(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
