"""What ``fit`` trains: ``Trainable``, and what it trains on: ``TrainBatch``.

Only torch is imported here, so that every model family (``lab.models``) can derive from
``Trainable`` without importing the training loop.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn


@runtime_checkable
class TrainBatch(Protocol):
    """Anything ``fit`` can step on: ``lab.data.Batch``,
    ``lab.models.classifier.ClassificationBatch``, ``lab.models.seq2seq.TranslationBatch``."""

    @property
    def num_tokens(self) -> int:
        """The real (unpadded) tokens the loss averages over; weights the epoch's loss."""
        ...

    def to(self, device: torch.device | str) -> Any:
        """The same batch with every tensor on ``device``."""
        ...


class Trainable(nn.Module, abc.ABC):
    """The interface ``fit`` needs, and nothing more.

    loss(batch)              scalar tensor to minimise (a mean per token or per example)
    fit_closed_form(batches) fit without gradients, if the model can; returns whether it
                             did. The default returns False: no closed form, take steps.
    config                   what ``fit`` saves beside the state in a checkpoint (a
                             ``ModelConfig`` for taggers; None where there is none)
    """

    config: Any = None

    @abc.abstractmethod
    def loss(self, batch: Any) -> torch.Tensor:
        """Scalar training loss of one batch."""

    def fit_closed_form(self, batches: Iterable[Any]) -> bool:
        """Fit from ``batches`` (on the model's device) in closed form and return True, or
        return False without reading them (then ``fit`` takes gradient steps)."""
        return False
