"""``lab evaluate CHECKPOINT --data F``: every metric of a saved model, as a table.

    lab evaluate runs/crf/model.pt --data synthetic-hmm:500
    lab evaluate runs/crf/model.pt --data ud_ewt:test --decoder all

F is a file, a built-in corpus ``NAME:N`` (its ``test`` sample) or ``NAME:SPLIT``, as
for ``lab train``. ``--decoder all`` gives one column per decoder of the model.
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from lab.cli.common import add_data_arguments

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n", 2)[2]
    parser.add_argument("checkpoint", help="a model.pt written by lab train")
    parser.add_argument("--data", required=True, metavar="F", help="the tagged corpus")
    parser.add_argument(
        "--decoder", default=None, help="a decoder of the model, or 'all' (default: its own)"
    )
    parser.add_argument("--seed", type=int, default=0, help="sample seed of a built-in corpus")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_data_arguments(parser)


def main(args: argparse.Namespace) -> int:
    from lab.cli.common import format_table
    from lab.data.corpora import check_tags, load_sentences
    from lab.device import resolve_device
    from lab.errors import UsageError
    from lab.training.checkpoint import load_checkpoint
    from lab.training.evaluate import evaluate

    # Every check before the evaluation; errors go to lab.cli.main (one line, exit 2).
    if args.batch_size is not None and args.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {args.batch_size}")
    device = resolve_device(args.device or "auto")
    model, vocabs, configs = load_checkpoint(args.checkpoint, device=device)
    if args.decoder not in (None, "all") and args.decoder not in model.decoders:
        raise UsageError(
            f"--decoder {args.decoder!r}: this model's decoders are {list(model.decoders)} "
            "(or 'all')"
        )
    sentences = load_sentences(args.data, "test", args.format, args.seed)
    check_tags(
        sentences,
        set(vocabs.tags.names),
        args.data,
        "test",
        args.format,
        against=f"the training data of {args.checkpoint}",
    )
    decoders = list(model.decoders) if args.decoder == "all" else [args.decoder]
    batch_size = args.batch_size or (configs["train"].batch_size if configs["train"] else 64)
    columns = {
        (name or "default"): evaluate(model, sentences, vocabs, batch_size, decoder=name)
        for name in decoders
    }
    if args.json:
        # strict JSON: a metric that is undefined (NaN) is null, not a bare NaN
        print(json.dumps(_json_safe(columns), indent=2, allow_nan=False))
    else:
        print(f"{args.checkpoint} on {args.data} ({len(sentences)} sentences, {device})")
        print(format_table(columns))
    return 0


def _json_safe(value):
    """``value`` with every non-finite float as None (JSON has no NaN or Infinity)."""
    import math

    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
