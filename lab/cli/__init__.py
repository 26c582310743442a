"""The ``lab`` command. Each subcommand lives in its own module, which exposes
``add_arguments(parser)`` and ``main(args) -> int`` and imports heavy libraries
(torch, pandas) only inside ``main`` so that ``lab --help`` stays fast.

Errors and exit statuses, the same for every command:

- 0: done. 1: done, but some runs failed (``lab run``, ``lab reproduce``).
- 2: a user error, printed as one line ``lab <cmd>: error: ...`` on stderr, no
  traceback. User errors are what the user can fix by changing the command or the files
  it names: ``lab.errors.UsageError``, ``ValueError`` (bad options, configs, corpora,
  records, checkpoints: the lab's readers and checks raise it naming file:line), and
  the OSErrors about a path the user named (``FileNotFoundError``, ``FileExistsError``,
  ``IsADirectoryError``, ``NotADirectoryError``, ``PermissionError``). argparse's own
  usage errors exit 2 as well. ``--debug`` (before the command) or ``LAB_DEBUG=1``
  prints the traceback too.
- 3: ``lab train`` stopped because the loss became non-finite (what was kept is said).
- 130: interrupted (Ctrl-C); ``lab train`` keeps and saves the best state so far.
- anything else (an internal error: a bug, out of memory, a failing disk) keeps its
  traceback and exits 1.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
import traceback
import warnings

from lab.errors import UsageError

EXIT_USER_ERROR = 2
EXIT_NONFINITE = 3
EXIT_INTERRUPTED = 130

USER_ERRORS: tuple[type[BaseException], ...] = (
    UsageError,
    ValueError,
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "reproduce": ("lab.cli.reproduce", "rerun every lecture experiment and compare with results/"),
    "run": ("lab.cli.run", "run one experiment's grid of runs (resumable)"),
    "compare": (
        "lab.cli.compare",
        "run a comparison you declare in a spec (lab compare --example)",
    ),
    "report": ("lab.cli.report", "turn a results directory into tables and plots"),
    "train": ("lab.cli.train", "train one model on a corpus"),
    "evaluate": ("lab.cli.evaluate", "evaluate a checkpoint on a corpus"),
    "data": ("lab.cli.data", "corpus statistics and synthetic corpora"),
    "bench": ("lab.cli.bench", "speed benchmarks (crf, rnn, tagger)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lab", description="Structured vs neural sequence models: the lab's commands."
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of a user error too (also: LAB_DEBUG=1)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module_name, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        module = importlib.import_module(module_name)
        module.add_arguments(sp)
        sp.set_defaults(_module=module)
    return parser


def error_line(err: BaseException) -> str:
    """One line for a user error: an OSError as ``path: reason`` (not ``[Errno 2] ...``),
    anything else as its message, newlines folded."""
    if isinstance(err, OSError) and err.strerror and err.filename is not None:
        text = f"{err.filename}: {err.strerror}"
    else:
        text = str(err) or type(err).__name__
    return " ".join(text.split())


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """A warning as ``lab: warning: MESSAGE`` (not Python's source-line dump)."""
    return f"lab: warning: {' '.join(str(message).split())}\n"


def _out_of_memory(err: RuntimeError) -> bool:
    text = str(err)
    return "can't allocate memory" in text or "out of memory" in text.lower()


def _command_name(args: argparse.Namespace) -> str:
    """``train``, ``data stats``, ``bench crf``: the words the user typed."""
    words = [args.command, getattr(args, "data_command", None), getattr(args, "benchmark", None)]
    return " ".join(w for w in words if w)


def _interrupt(signum: int, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    name = _command_name(args)
    debug = args.debug or os.environ.get("LAB_DEBUG", "") not in ("", "0")
    warnings.formatwarning = _one_line_warning
    # SIGTERM (a scheduler, `kill`, a closed session) ends a command the way Ctrl-C does:
    # the best model so far kept, a sweep's workers and lock released, not killed mid-write
    in_main_thread = threading.current_thread() is threading.main_thread()
    before = signal.signal(signal.SIGTERM, _interrupt) if in_main_thread else None
    try:
        return int(args._module.main(args) or 0)
    except KeyboardInterrupt:
        print(f"lab {name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `lab data synth ... | head -1`: the reader left; not an error
        sys.stderr.close()  # nothing more can be said; no traceback at exit either
        return 0
    except RuntimeError as err:
        if not _out_of_memory(err) or debug:
            raise
        import re

        asked = re.search(r"allocate (\d+) bytes", str(err))
        size = f" of {int(asked.group(1)) / 2**30:,.1f} GiB" if asked else ""
        print(f"lab {name}: error: out of memory: an allocation{size} failed; a size option "
              "(hidden, embedding_dim, a corpus size, --batch-size) asks for more than this "
              "machine has", file=sys.stderr)  # fmt: skip
        return EXIT_USER_ERROR
    except USER_ERRORS as err:
        if debug:
            traceback.print_exc()
        print(f"lab {name}: error: {error_line(err)}", file=sys.stderr)
        return EXIT_USER_ERROR
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, before if before is not None else signal.SIG_DFL)
