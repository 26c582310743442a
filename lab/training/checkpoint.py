"""Checkpoints: a model's state_dict, its resolved ModelConfig, the TrainConfig and the
vocabularies, saved as plain containers with ``torch.save`` and loaded with
``weights_only=True`` (no pickled code runs on load)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from lab.atomic import write_atomic

FORMAT = "lab-checkpoint"
VERSION = 1
REQUIRED_KEYS = ("format", "version", "state_dict", "model_config", "vocabs")


def _as_dict(config: Any, what: str) -> dict[str, Any] | None:
    if config is None:
        return None
    if isinstance(config, dict):
        return dict(config)
    if hasattr(config, "to_dict"):
        return config.to_dict()
    raise TypeError(
        f"{what} must be a config with to_dict() or a dict, got {type(config).__name__}"
    )


def save_checkpoint(
    path: str | Path,
    model: torch.nn.Module,
    model_config: Any,
    train_config: Any,
    vocabs: Any,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``path`` (parents created) atomically: a temporary file renamed into place,
    so an interrupted save never leaves a half-written checkpoint.

    model_config  a ``ModelConfig`` (or its dict); train_config a ``TrainConfig``, dict
    or None; vocabs a ``Vocabs`` (or its dict); extra JSON-like data (metrics, notes).
    """
    path = Path(path)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "model_config": _as_dict(model_config, "model_config"),
        "train_config": _as_dict(train_config, "train_config"),
        "vocabs": _as_dict(vocabs, "vocabs"),
        "extra": dict(extra or {}),
    }
    if payload["model_config"] is None or payload["vocabs"] is None:
        raise ValueError("a checkpoint needs a model_config and vocabs to rebuild the model")
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return write_atomic(path, buffer.getvalue())


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The raw payload of a checkpoint, checked for form; ValueError naming the file and
    what is wrong for an unreadable, foreign or incomplete file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a corrupt zip, a truncated file, a pickle with code in it
        reason = (str(e).splitlines() or [""])[0][:120]
        raise ValueError(
            f"{path}: not a readable lab checkpoint ({type(e).__name__}: {reason})"
        ) from e
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not a lab checkpoint (expected format {FORMAT!r})")
    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise ValueError(f"{path}: checkpoint lacks {missing}")
    if payload["version"] != VERSION:
        raise ValueError(
            f"{path}: checkpoint version {payload['version']!r}, this lab reads {VERSION}"
        )
    return payload


def load_checkpoint(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, Any, dict[str, Any]]:
    """``(model, vocabs, configs)`` from a checkpoint written by ``save_checkpoint``.

    The model is rebuilt with ``build_tagger`` from the saved ModelConfig and vocabulary
    sizes, its weights loaded strictly, put in eval mode on ``device``. ``configs`` is
    ``{"model": ModelConfig, "train": TrainConfig | None, "extra": dict}``. A corrupt file
    or one whose weights do not fit the config -> ValueError naming the file and the
    mismatch.
    """
    from lab.data import Vocabs
    from lab.models import ModelConfig, build_tagger
    from lab.training.config import TrainConfig

    path = Path(path)
    payload = read_checkpoint(path)
    try:
        model_config = ModelConfig.from_dict(payload["model_config"])
        train_dict = payload.get("train_config")
        train_config = TrainConfig.from_dict(train_dict) if train_dict is not None else None
        vocabs = Vocabs.from_dict(payload["vocabs"])
    except (ValueError, TypeError, KeyError) as e:
        raise ValueError(f"{path}: invalid config or vocabularies in checkpoint: {e}") from e
    model = build_tagger(model_config, vocabs, load_vectors=False)  # the weights follow
    load_state(model, payload["state_dict"], path)
    model.to(device)
    model.eval()
    configs = {"model": model_config, "train": train_config, "extra": payload.get("extra", {})}
    return model, vocabs, configs


def load_state(
    model: torch.nn.Module, state_dict: dict[str, torch.Tensor], path: str | Path = "<memory>"
) -> None:
    """Load ``state_dict`` into ``model`` strictly; ValueError listing missing,
    unexpected and wrongly shaped tensors (naming ``path``)."""
    if not isinstance(state_dict, dict):
        raise ValueError(f"{path}: state_dict is a {type(state_dict).__name__}, expected a dict")
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = [
        f"{k}: checkpoint {tuple(getattr(state_dict[k], 'shape', ()))} vs model "
        f"{tuple(own[k].shape)}"
        for k in sorted(set(own) & set(state_dict))
        if not isinstance(state_dict[k], torch.Tensor) or state_dict[k].shape != own[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing tensors {missing}")
    if unexpected:
        problems.append(f"unexpected tensors {unexpected}")
    if shapes:
        problems.append("shape mismatches " + "; ".join(shapes))
    if problems:
        raise ValueError(f"{path}: weights do not match the model: " + ", ".join(problems))
    model.load_state_dict(state_dict)
