"""``TrainConfig``: how a model is trained, the same fields for every model."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from lab.configs import config_from_dict


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


LR_SCHEDULES = ("none", "linear", "cosine")
DEV_METRICS = ("token_accuracy", "span_f1")
AMP_MODES = ("none", "bf16", "fp16")


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained (the same for every model).

    lr, weight_decay  AdamW's; the lr decays to 0 over ``max_epochs`` by ``lr_schedule``
                      (none | linear | cosine)
    batch_size        sentences per batch
    max_epochs        upper bound on passes over the training data: the budget
    patience          stop after this many epochs without a better dev score; None: never
                      stop on a flat dev score (a fixed budget)
    min_updates       patience may stop the run only after this many gradient updates: a
                      long-lag task or an NER tagger can sit on a plateau (chance, all-O)
                      for tens of epochs before it learns, which patience alone reads as
                      convergence
    solved_at         stop as soon as the dev score reaches this (the task is solved; None:
                      never), the only early stop a fixed budget allows
    clip_norm         clip the gradient's global L2 norm to this (None: no clipping)
    dev_metric        "token_accuracy" or "span_f1" (BIO tags), higher is better
    device            "auto" (cuda, then mps, then cpu) or a torch device name
    amp               mixed precision for the forward pass: none | bf16 | fp16 (CUDA only)
    compile           wrap ``model.loss`` in ``torch.compile``
    seed              seeds torch, numpy, random and the data order
    max_seconds       wall-time budget: stop (after a dev evaluation) once exceeded
    progress          show a tqdm progress bar (hidden anyway when stderr is no terminal)
    """

    lr: float = 2e-3
    weight_decay: float = 0.0
    batch_size: int = 32
    max_epochs: int = 20
    patience: int | None = 3
    min_updates: int = 0
    solved_at: float | None = None
    clip_norm: float | None = 5.0
    lr_schedule: str = "none"
    dev_metric: str = "token_accuracy"
    device: str = "auto"
    amp: str = "none"
    compile: bool = False
    seed: int = 0
    max_seconds: float | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if not (_is_number(self.lr) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if not (
            _is_number(self.weight_decay)
            and math.isfinite(self.weight_decay)
            and self.weight_decay >= 0
        ):
            raise ValueError(
                f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}"
            )
        for name in ("batch_size", "max_epochs", "patience"):
            value = getattr(self, name)
            if name == "patience" and value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if not _is_int(self.min_updates) or self.min_updates < 0:
            raise ValueError(f"min_updates must be an int >= 0, got {self.min_updates!r}")
        if self.solved_at is not None and not (
            _is_number(self.solved_at) and math.isfinite(self.solved_at)
        ):
            raise ValueError(f"solved_at must be a finite number or None, got {self.solved_at!r}")
        if self.clip_norm is not None and not (
            _is_number(self.clip_norm) and math.isfinite(self.clip_norm) and self.clip_norm > 0
        ):
            raise ValueError(
                f"clip_norm must be a finite number > 0 or None, got {self.clip_norm!r}"
            )
        for name, allowed in (
            ("lr_schedule", LR_SCHEDULES),
            ("dev_metric", DEV_METRICS),
            ("amp", AMP_MODES),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"{name} must be one of {list(allowed)}, got {getattr(self, name)!r}"
                )
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ValueError(f"seed must be an int, got {self.seed!r}")
        if not 0 <= self.seed < 2**32:  # what numpy's and torch's seeding accept
            raise ValueError(f"seed must be an int in [0, 2^32), got {self.seed!r}")
        if self.max_seconds is not None and not (
            _is_number(self.max_seconds)
            and math.isfinite(self.max_seconds)
            and self.max_seconds > 0
        ):
            raise ValueError(f"max_seconds must be a number > 0 or None, got {self.max_seconds!r}")
        if not isinstance(self.device, str):
            raise ValueError(f"device must be a string, got {self.device!r}")

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (JSON-ready) of every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """The config from a dict; an unknown key -> ValueError listing the valid keys."""
        return config_from_dict(cls, data)
