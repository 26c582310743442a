"""``lab compare SPEC.toml``: a comparison a user declares, run as a resumable sweep of the
``comparison`` experiment (experiments/comparison.py) and summarised with paired-seed
statistics.

The spec (``EXAMPLE`` is one, commented) names models, corpora, training-set sizes,
seeds, the training settings every model shares, the baseline every other model is
compared with and the equivalence margin. ``read_spec`` checks every key before any run
and raises a one-line ``SpecError`` naming the key and, where it can, the file's line.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lab.errors import UsageError

EXAMPLE = """\
# lab compare: a comparison you declare. Run it with
#   lab compare spec.toml --out runs/my-comparison --workers 2
# Every model trains on the same nested subsets, seeds and settings; each is compared
# with the baseline by seed-paired gaps (95% CI), a two-one-sided-tests equivalence
# call within the margin, win rates, and the seeds an undecided gap would need.

title = "Does a CRF head beat a softmax head on a BiLSTM and a BiGRU?"
baseline = "bilstm-softmax"   # every other model is compared with this one
margin = 0.5                  # equivalence margin, in points of the metric
sizes = [100, 300]            # training sentences (nested subsets of one permutation)
seeds = [0, 1, 2]             # at least 2: a CI needs them; 5-10 decide more
metric = "auto"               # auto (span F1 on BIO tags, else token accuracy),
                              # token_accuracy or span_f1

[models]                      # label = a short name, or ModelConfig key=value,...
bilstm-softmax = "bilstm-softmax"
bilstm-crf = "bilstm-crf"
bigru-crf = "encoder=gru,bidirectional=true,head=crf,hidden=16,embedding_dim=16"

[corpora]                     # built-in names (synthetic, ud_ewt, wnut17), or files
synthetic = {}
# mytb = { train = "train.conllu", dev = "dev.conllu", test = "test.conllu" }

[train]                       # the same for every model
max_epochs = 10
patience = 3                  # epochs without a better dev score
min_updates = 0               # patience counts only after this many updates
lr = 5e-3
batch_size = 32
epoch_sentences = 300         # an epoch is at least this many sentences
hidden = 16                   # the short-name models' sizes
embedding_dim = 16
char_features = false         # short names: a char BiLSTM and word dropout 0.25
n_dev = 300                   # dev / test sentences used (0: all)
n_test = 1000
"""

TOP_KEYS = ("title", "baseline", "margin", "sizes", "seeds", "metric", "models", "corpora",
            "train")  # fmt: skip
TRAIN_DEFAULTS: dict[str, Any] = {
    "max_epochs": 20, "patience": 3, "min_updates": 0, "lr": 5e-3, "batch_size": 32,
    "epoch_sentences": 300, "hidden": 32, "embedding_dim": 32, "char_features": False,
    "n_dev": 0, "n_test": 0,
}  # fmt: skip
METRICS = ("auto", "token_accuracy", "span_f1")
BUILTIN_SIZES = {"ud_ewt": 12544, "wnut17": 3394}  # their training sets


class SpecError(UsageError):
    """A bad comparison spec: one line naming the file, the line and the key."""


@dataclass
class Spec:
    """A checked comparison spec (module doc). ``models``: label -> ModelConfig fields
    per corpus (a short name's BIO constraints follow the corpus's tags)."""

    path: str
    title: str
    baseline: str
    margin: float
    sizes: list[int]
    seeds: list[int]
    metric: str
    models: dict[str, str]
    corpora: dict[str, dict | None]
    train: dict[str, Any]
    bio: dict[str, bool] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _line_of(text: str, key: str) -> int | None:
    """The first line (from 1) of ``text`` that sets ``key`` or opens table ``[key]``."""
    pattern = re.compile(rf"^\s*(\[\s*{re.escape(key)}\s*\]|\"?{re.escape(key)}\"?\s*=)")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number
    return None


class _Checker:
    """Raises SpecError with the spec's path and the line of a key."""

    def __init__(self, path: Path, text: str) -> None:
        self.path, self.text = path, text

    def fail(self, key: str, message: str, line_key: str | None = None) -> None:
        line = _line_of(self.text, line_key or key.split(".")[-1])
        where = f"{self.path}:{line}" if line else str(self.path)
        raise SpecError(f"{where}: {key}: {message}")

    def ints(self, key: str, value: Any, minimum: int) -> list[int]:
        if not isinstance(value, list) or not value:
            self.fail(key, f"expected a non-empty list of ints >= {minimum}, got {value!r}")
        for v in value:
            if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
                self.fail(key, f"expected ints >= {minimum}, got {v!r}")
        if len(set(value)) != len(value):
            self.fail(key, f"a value is listed twice: {value}")
        return sorted(value)


def read_spec(path: str | Path) -> Spec:
    """The checked spec at ``path`` (module doc); SpecError (one line) otherwise."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: no such spec file (lab compare --example prints one)") from None
    except (IsADirectoryError, UnicodeDecodeError) as err:
        raise SpecError(f"{path}: not a TOML text file ({err})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        found = re.search(r"at line (\d+)", str(err))
        line = getattr(err, "lineno", None) or (found.group(1) if found else None)
        message = str(err).split(" (at line")[0]
        raise SpecError(f"{path}:{line or '?'}: not valid TOML: {message}") from None
    check = _Checker(path, text)
    for key in data:
        if key not in TOP_KEYS:
            check.fail(key, f"unknown key; the spec's keys: {list(TOP_KEYS)}")
    for key in ("models", "corpora", "sizes", "seeds", "baseline"):
        if key not in data:
            raise SpecError(f"{path}: {key}: missing (lab compare --example shows every key)")
    models = data["models"]
    if not isinstance(models, dict) or len(models) < 2:
        check.fail("models", 'expected a table of at least two label = "model" entries')
    for label, model in models.items():
        if not isinstance(model, str):
            check.fail(f"models.{label}", f"expected a string, got {model!r}", label)
    baseline = data["baseline"]
    if baseline not in models:
        check.fail("baseline", f"{baseline!r} is not a model label; labels: {list(models)}")
    margin = data.get("margin", 0.3)
    if (
        not isinstance(margin, (int, float))
        or isinstance(margin, bool)
        or not (math.isfinite(margin) and margin > 0)
    ):
        check.fail("margin", f"expected a number of points > 0, got {margin!r}")
    metric = data.get("metric", "auto")
    if metric not in METRICS:
        check.fail("metric", f"expected one of {list(METRICS)}, got {metric!r}")
    sizes = check.ints("sizes", data["sizes"], 1)
    seeds = check.ints("seeds", data["seeds"], 0)
    if len(seeds) < 2:
        check.fail("seeds", "at least 2 seeds: a paired CI needs them")
    train = {**TRAIN_DEFAULTS}
    given = data.get("train", {})
    if not isinstance(given, dict):
        check.fail("train", "expected a table of training settings")
    for key, value in given.items():
        if key not in TRAIN_DEFAULTS:
            check.fail(f"train.{key}", f"unknown setting; known: {list(TRAIN_DEFAULTS)}", key)
        default = TRAIN_DEFAULTS[key]
        ok = isinstance(value, type(default)) and not (
            isinstance(value, bool) and not isinstance(default, bool)
        )
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok or (isinstance(value, (int, float)) and not isinstance(value, bool)
                      and (not math.isfinite(value) or value < 0)):  # fmt: skip
            check.fail(
                f"train.{key}", f"expected a {type(default).__name__} >= 0, got {value!r}", key
            )
        train[key] = value
    for key in ("max_epochs", "patience", "batch_size", "hidden", "embedding_dim"):
        if train[key] < 1:
            check.fail(f"train.{key}", f"expected >= 1, got {train[key]!r}", key)
    if not train["lr"] > 0:
        check.fail("train.lr", f"expected > 0, got {train['lr']!r}", "lr")
    corpora, bio = _check_corpora(check, data["corpora"], sizes, path.parent)
    if metric == "span_f1" and not all(bio.values()):
        plain = [c for c, b in bio.items() if not b]
        check.fail("metric", f"span_f1 needs BIO tags; corpora without them: {plain}")
    spec = Spec(str(path), str(data.get("title", path.stem)), baseline, float(margin), sizes,
                seeds, metric, dict(models), corpora, train, bio)  # fmt: skip
    for label in models:
        for corpus in corpora:
            try:
                model_config(spec, label, corpus)
            except ValueError as err:
                check.fail(f"models.{label}", str(err), label)
    return spec


def _check_corpora(check: _Checker, corpora: Any, sizes: list[int], base: Path):
    """(corpora as the learning curve takes them, whether each has BIO tags); every file
    read and checked, every size within each training set."""
    from experiments import learning_curve as lc
    from lab.data.corpora import check_corpus
    from lab.data.readers import read_corpus
    from lab.data.tagset import is_bio_tagset

    if not isinstance(corpora, dict) or not corpora:
        check.fail("corpora", "expected a table of at least one corpus")
    out, bio = {}, {}
    for name, value in corpora.items():
        if not isinstance(value, dict):
            check.fail(
                f"corpora.{name}", "expected {} (a built-in name) or train/dev/test paths", name
            )
        if not value:
            if name not in lc.BUILTIN:
                check.fail(f"corpora.{name}", f"not a built-in corpus {list(lc.BUILTIN)}; "
                           "give train, dev and test paths", name)  # fmt: skip
            if name != "synthetic" and not _available(name):
                check.fail(f"corpora.{name}", "not found where lab.data looks (../shared/data "
                           "or $LAB_DATA_DIR)", name)  # fmt: skip
            n_train = BUILTIN_SIZES.get(name)
            out[name], bio[name] = None, name == "wnut17"
        else:
            spec = {k: str(base / v) if k != "format" else v for k, v in value.items()}
            try:
                files = lc._corpus_files(name, spec)
                check_corpus(name, files)
                train = read_corpus(files["train"], fmt=files["format"])
            except (OSError, ValueError) as err:
                check.fail(f"corpora.{name}", str(err).splitlines()[0], name)
            n_train = len(train)
            out[name] = files
            bio[name] = is_bio_tagset(sorted({t for s in train for t in s.tags}))
        if n_train is not None and max(sizes) > n_train:
            check.fail("sizes", f"{max(sizes)} exceeds corpus {name}'s {n_train} training "
                       "sentences")  # fmt: skip
    return out, bio


def _available(name: str) -> bool:
    from lab.data import real_corpus

    try:
        real_corpus(name)
    except FileNotFoundError:
        return False
    return True


def model_config(spec: Spec, label: str, corpus: str) -> dict:
    """The ModelConfig fields of model ``label`` on ``corpus`` (ValueError if invalid)."""
    from experiments import learning_curve as lc
    from lab.configs import parse_config
    from lab.models import ModelConfig

    text = spec.models[label]
    if "=" in text:
        return parse_config(text, ModelConfig).to_dict()
    train = spec.train
    kwargs = lc.model_kwargs(
        text,
        int(train["hidden"]),
        int(train["embedding_dim"]),
        bool(train["char_features"]),
        bio=spec.bio.get(corpus, False),
    )
    return ModelConfig(**kwargs).to_dict()


def configs(spec: Spec) -> list[dict]:
    """The runs of ``spec``: every corpus x model x size x seed, the baseline first."""
    from experiments import learning_curve as lc

    labels = [spec.baseline] + [m for m in spec.models if m != spec.baseline]
    model_keys = ("hidden", "embedding_dim", "char_features", "n_dev", "n_test")
    shared = {k: v for k, v in spec.train.items() if k not in model_keys}
    out = []
    for corpus, files in spec.corpora.items():
        train = dict(shared)
        for key in ("n_dev", "n_test"):  # 0: all of a real split, the default sample of synthetic
            if spec.train[key] or corpus != "synthetic":
                train[key] = spec.train[key] or None
        for label in labels:
            for size in spec.sizes:
                for seed in spec.seeds:
                    config = {
                        "corpus": corpus, "size": size, "model": label, "seed": seed,
                        "model_config": model_config(spec, label, corpus),
                        "threads": lc.THREADS, "time_decoding": True, **train,
                    }  # fmt: skip
                    if spec.metric != "auto":
                        config["metric"] = spec.metric
                    if corpus == "synthetic":
                        config["pool"] = max(spec.sizes)
                    if files is not None:
                        config["corpus_files"] = files
                    out.append(config)
    return out


def run_comparison(
    spec: Spec,
    out_dir: str | Path,
    executor: str | None = None,
    workers: int = 1,
    device: str = "auto",
    progress: bool = True,
    address: str | None = None,
    command: str | None = None,
):
    """Run ``spec``'s sweep into ``out_dir`` (resumable: finished runs are skipped), then
    summarise it; returns the ExperimentResult. The checked spec is written beside the
    records (``spec.json``), so that ``lab report out_dir`` summarises it again."""
    import json

    from lab.atomic import write_atomic
    from lab.device import device_name
    from lab.pipeline.run_experiment import summarize_experiment, warn_other_commits
    from lab.runs import experiment as experiments
    from lab.runs.records import load_records, results_path
    from lab.runs.sweep import run_sweep

    module = experiments.load("comparison")
    out_dir = Path(out_dir)
    if results_path(out_dir).is_file():
        foreign = {r.get("experiment") for r in load_records(out_dir)} - {"comparison"}
        if foreign:
            raise UsageError(
                f"{out_dir} holds runs of {sorted(map(str, foreign))}, not a comparison: "
                "give --out a folder of its own"
            )
    resolved = device_name(device)
    runs = [{**config, "device": resolved} for config in configs(spec)]
    executor = executor or ("pool" if workers > 1 else "local")
    warn_other_commits(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / module.SPEC_FILE, json.dumps(spec.to_dict(), indent=2) + "\n")
    records = run_sweep(module.NAME, runs, out_dir, executor=executor, workers=workers,
                        address=address, progress=progress)  # fmt: skip
    return summarize_experiment(module, records, out_dir, None, command)
