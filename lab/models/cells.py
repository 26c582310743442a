"""The lecture's three recurrent cells: Elman, residual and gated.

Each cell computes the input projections of all T steps in one matmul outside the
time loop (``project``) and then runs a loop of one ``addmm`` plus elementwise ops per
step (``step``). States start at zero. Shapes: x (B, T, D), h (B, H).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class RecurrentCell(nn.Module):
    """Base class: ``gates`` blocks of H units, each with an input and a recurrent map.

    ``input_proj`` holds [W1; W3 ...] (G*H, D) and the biases; ``recurrent`` holds
    [W2; W4 ...] (G*H, H) without bias (the bias is added once, in ``project``).
    """

    gates: int = 1

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        if input_size < 1 or hidden_size < 1:
            raise ValueError(
                f"input_size and hidden_size must be >= 1, got {input_size}, {hidden_size}"
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.input_proj = nn.Linear(input_size, self.gates * hidden_size)
        self.recurrent = nn.Parameter(torch.empty(self.gates * hidden_size, hidden_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # the same uniform(-1/sqrt(H), 1/sqrt(H)) as torch.nn.RNN
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, D) -> input projections of every step (B, T, G*H), biases included."""
        return self.input_proj(x)

    def step(self, xp_t: torch.Tensor, h: torch.Tensor, w_rec_t: torch.Tensor) -> torch.Tensor:
        """One step: projected input xp_t (B, G*H), state h (B, H), W_rec^T (H, G*H)
        -> new state (B, H)."""
        raise NotImplementedError

    def initial_state(self, batch_size: int, like: torch.Tensor) -> torch.Tensor:
        """Zero state (B, H) with the dtype and device of ``like``."""
        return like.new_zeros(batch_size, self.hidden_size)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, D) -> states h_1..h_T (B, T, H).

        Runs over every position, padding included: with right padding, padded steps come
        after every real one, so they never change a state that a real position reads.
        """
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"expected x of shape (B, T, {self.input_size}), got {tuple(x.shape)}")
        xp = self.project(x)  # (B, T, G*H)
        h = self.initial_state(x.shape[0], xp) if h0 is None else h0  # (B, H)
        w_rec_t = self.recurrent.t()  # (H, G*H)
        states = []
        for xp_t in xp.unbind(1):
            h = self.step(xp_t, h, w_rec_t)  # (B, H)
            states.append(h)
        return torch.stack(states, 1)  # (B, T, H)


class ElmanCell(RecurrentCell):
    """Elman RNN: h_t = tanh(W1 x_t + W2 h_{t-1} + b)."""

    gates = 1

    def step(self, xp_t: torch.Tensor, h: torch.Tensor, w_rec_t: torch.Tensor) -> torch.Tensor:
        return torch.tanh(torch.addmm(xp_t, h, w_rec_t))


class ResidualCell(RecurrentCell):
    """Residual RNN: h_t = h_{t-1} + tanh(W1 x_t + W2 h_{t-1} + b)."""

    gates = 1

    def step(self, xp_t: torch.Tensor, h: torch.Tensor, w_rec_t: torch.Tensor) -> torch.Tensor:
        return h + torch.tanh(torch.addmm(xp_t, h, w_rec_t))


class GatedCell(RecurrentCell):
    """The lecture's gated RNN, exactly:

        h_t    = lambda * h_{t-1} + (1 - lambda) * tanh(W1 x_t + W2 h_{t-1} + b)
        lambda = sigmoid(W4 h_{t-1} + W3 x_t + b')

    ``input_proj.weight`` is [W1; W3] (2H, D) with bias [b; b'];
    ``recurrent`` is [W2; W4] (2H, H).
    """

    gates = 2

    def step(self, xp_t: torch.Tensor, h: torch.Tensor, w_rec_t: torch.Tensor) -> torch.Tensor:
        pre = torch.addmm(xp_t, h, w_rec_t)  # (B, 2H)
        candidate_pre, gate_pre = pre.chunk(2, dim=-1)  # (B, H) each
        candidate = torch.tanh(candidate_pre)
        lam = torch.sigmoid(gate_pre)
        # lam * h + (1 - lam) * candidate, with one fewer op
        return candidate + lam * (h - candidate)


CELLS: dict[str, type[RecurrentCell]] = {
    "elman": ElmanCell,
    "residual": ResidualCell,
    "gated": GatedCell,
}
