"""Initialisations of recurrent encoders beyond torch's defaults (``ModelConfig.gate_init``
and ``ModelConfig.recurrent_init``).

Every gated cell has a gate that keeps the old state: the LSTM's forget gate f
(c_t = f * c_{t-1} + i * g), the GRU's update gate z (h_t = (1 - z) * n + z * h_{t-1})
and the lecture's lambda (h_t = lambda * h_{t-1} + (1 - lambda) * candidate). torch
draws its bias, like every other, from U(-1/sqrt(H), 1/sqrt(H)), so it starts near 0
(keep half). ``gate_init``:

    default      torch's draw, untouched
    bias:B       the keep gate's bias set to B (Jozefowicz et al. 2015 advise B = 1 for
                 every LSTM; Keras's ``unit_forget_bias``); for an LSTM the input gate
                 keeps torch's draw
    chrono:TMAX  Tallec & Ollivier 2018: keep bias ~ log U(1, TMAX - 1), so that the
                 units' memory time scales (about 1 + e^b steps) spread up to TMAX; for an
                 LSTM the input gate's bias is its negative

The bias a gate reads is the sum of two torch parameters (``bias_ih`` + ``bias_hh``): the
value goes into ``bias_ih`` and ``bias_hh``'s part is zeroed, so the sum is the value.

``recurrent_init`` sets each H x H block of the recurrent weights: ``default`` (torch's
draw), ``orthogonal`` (Saxe et al. 2014; keeps the norm of a linear recurrence) or
``identity`` (Le et al. 2015's IRNN for the Elman cell: h_t starts as a running sum).
Random draws come from torch's global RNG: seed it before building the model.
"""

from __future__ import annotations

import torch
from torch import nn

from lab.models.cells import GatedCell, RecurrentCell
from lab.models.config import parse_gate_init


def _keep_bias(kind: str, value: float, size: int, like: torch.Tensor) -> torch.Tensor:
    """(size,) biases of a keep gate: the constant, or chrono's log U(1, TMAX - 1)."""
    if kind == "bias":
        return torch.full((size,), value, dtype=like.dtype, device=like.device)
    draws = torch.empty(size, dtype=like.dtype, device=like.device).uniform_(1.0, value - 1.0)
    return draws.log()


def _set_blocks(weight: torch.Tensor, how: str) -> None:
    """Each (H, H) block of a (G*H, H) recurrent weight, set by ``how``."""
    h = weight.shape[1]
    for block in weight.split(h, dim=0):
        if how == "orthogonal":
            nn.init.orthogonal_(block)
        elif how == "identity":
            block.copy_(torch.eye(h, dtype=block.dtype, device=block.device))


@torch.no_grad()
def init_cell(cell: RecurrentCell, gate_init: str, recurrent_init: str) -> None:
    """Apply the inits to one of the lecture's cells (Elman, residual, gated)."""
    kind, value = parse_gate_init(gate_init)
    if kind != "default":
        if not isinstance(cell, GatedCell):
            raise ValueError(f"gate_init={gate_init!r}: a {type(cell).__name__} has no gate")
        h = cell.hidden_size
        bias = cell.input_proj.bias  # [b; b'], b' the lambda gate's
        bias[h:] = _keep_bias(kind, value, h, bias)
    if recurrent_init != "default":
        _set_blocks(cell.recurrent, recurrent_init)


@torch.no_grad()
def init_torch_rnn(rnn: nn.LSTM | nn.GRU, gate_init: str, recurrent_init: str) -> None:
    """Apply the inits to every layer and direction of an ``nn.LSTM`` or ``nn.GRU``.

    Gate order in torch's stacked parameters: LSTM (i, f, g, o), GRU (r, z, n)."""
    kind, value = parse_gate_init(gate_init)
    h = rnn.hidden_size
    keep = 1  # the forget gate f of (i, f, g, o); the update gate z of (r, z, n)
    for name, param in rnn.named_parameters():
        if name.startswith("weight_hh") and recurrent_init != "default":
            _set_blocks(param, recurrent_init)
        if kind == "default" or not name.startswith("bias_"):
            continue
        if name.startswith("bias_hh"):
            param[keep * h : (keep + 1) * h] = 0.0
            if isinstance(rnn, nn.LSTM) and kind == "chrono":
                param[:h] = 0.0
            continue
        forget = _keep_bias(kind, value, h, param)
        param[keep * h : (keep + 1) * h] = forget
        if isinstance(rnn, nn.LSTM) and kind == "chrono":
            param[:h] = -forget  # chrono's input gate: b_i = -b_f
