"""``EncoderDecoder``: the lecture's translation model.

Encoder RNN over the source -> context C (its final state). Decoder RNN with state
s_t = cell(s_{t-1}, [E y_{t-1} ; C]), s_0 = C; p(y_t | y_<t, x) = softmax(W [s_t ; C] + b).
Teacher forcing in training; greedy and beam decoding at test time. ``TranslationBatch``
is what it trains on through ``lab.training.fit``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lab.models.cells import CELLS
from lab.models.encoders import build_encoder
from lab.models.trainable import Trainable

SEQ2SEQ_CELLS = ("elman", "residual", "gated", "lstm", "gru")

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class _DecoderRNN(nn.Module):
    """One recurrent layer run over given inputs from a given state, for any cell."""

    def __init__(self, cell: str, input_dim: int, hidden: int) -> None:
        super().__init__()
        self.kind = cell
        if cell in CELLS:
            self.cell = CELLS[cell](input_dim, hidden)
        else:
            self.rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(input_dim, hidden, batch_first=True)

    def initial(self, context: torch.Tensor) -> State:
        """s_0 = C (B, H); the LSTM's memory cell starts at zero."""
        if self.kind in CELLS:
            return context
        h = context.unsqueeze(0).contiguous()  # (1, B, H)
        return (h, torch.zeros_like(h)) if self.kind == "lstm" else h

    def forward(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """x (B, T, D), state -> outputs (B, T, H), final state."""
        if self.kind in CELLS:
            out = self.cell(x, state)
            return out, out[:, -1]
        return self.rnn(x, state)

    def select(self, state: State, index: torch.Tensor) -> State:
        """The states of rows ``index`` (N,) (for beam search)."""
        if self.kind in CELLS:
            return state[index]
        if isinstance(state, tuple):
            return (state[0][:, index], state[1][:, index])
        return state[:, index]


@dataclass
class TranslationBatch:
    """B right-padded (source, target) pairs.

    src       (B, S) long source ids, 0 on padding; src_mask (B, S) bool
    tgt_in    (B, T) long, [bos, y_1 .. y_{n-1}] (teacher forcing), 0 on padding
    tgt_out   (B, T) long, [y_1 .. y_{n-1}, eos], 0 on padding
    tgt_mask  (B, T) bool, True on real target positions (a prefix of each row)
    """

    src: torch.Tensor
    src_mask: torch.Tensor
    tgt_in: torch.Tensor
    tgt_out: torch.Tensor
    tgt_mask: torch.Tensor

    def to(self, device: torch.device | str) -> TranslationBatch:
        """The same batch with every tensor on ``device``."""
        return TranslationBatch(
            *(
                t.to(device, non_blocking=True)
                for t in (self.src, self.src_mask, self.tgt_in, self.tgt_out, self.tgt_mask)
            )
        )

    @property
    def num_tokens(self) -> int:
        """The number of real target tokens (eos included): what ``loss`` averages over."""
        return int(self.tgt_mask.sum())


class EncoderDecoder(Trainable):
    """Args: src_vocab, tgt_vocab (sizes; id 0 is padding in both), hidden (H), cell (one
    of SEQ2SEQ_CELLS, for both RNNs), embedding_dim, layers (encoder), dropout, bos and
    eos (target ids of the start and end symbols).

    Tensors: src (B, S) long, src_mask (B, S) bool (right-padded); tgt_in (B, T) =
    [bos, y_1 .. y_{n-1}], tgt_out (B, T) = [y_1 .. y_{n-1}, eos], tgt_mask (B, T) bool;
    ``loss`` takes them as one ``TranslationBatch`` (what ``fit`` calls).
    """

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        hidden: int = 64,
        cell: str = "gru",
        embedding_dim: int = 32,
        layers: int = 1,
        dropout: float = 0.0,
        bos: int = 1,
        eos: int = 2,
    ) -> None:
        super().__init__()
        if cell not in SEQ2SEQ_CELLS:
            raise ValueError(f"unknown cell {cell!r}; expected one of {list(SEQ2SEQ_CELLS)}")
        for name, value in (("bos", bos), ("eos", eos)):
            if not 0 < value < tgt_vocab:
                raise ValueError(f"{name} must be a target id in [1, {tgt_vocab}), got {value}")
        self.src_embedding = nn.Embedding(src_vocab, embedding_dim, padding_idx=0)
        self.tgt_embedding = nn.Embedding(tgt_vocab, embedding_dim, padding_idx=0)
        self.encoder = build_encoder(cell, embedding_dim, hidden, layers, False, dropout)
        self.decoder = _DecoderRNN(cell, embedding_dim + hidden, hidden)
        self.out = nn.Linear(2 * hidden, tgt_vocab)
        self.dropout = nn.Dropout(dropout)
        self.bos, self.eos, self.tgt_vocab = bos, eos, tgt_vocab

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor) -> torch.Tensor:
        """C (B, H): the encoder's state after the last real source token."""
        if src.dim() != 2 or src_mask.shape != src.shape or src_mask.dtype != torch.bool:
            raise ValueError(
                f"expected src (B, S) and a bool src_mask of the same shape, got "
                f"{tuple(src.shape)} and {src_mask.dtype} {tuple(src_mask.shape)}"
            )
        lengths = src_mask.sum(1)
        states = self.encoder(self.dropout(self.src_embedding(src)), src_mask, lengths)
        return self.encoder.final_states(states, lengths)

    def _logp(self, outputs: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """outputs (B, T, H), C (B, H) -> log p (B, T, V)."""
        ctx = context.unsqueeze(1).expand(-1, outputs.shape[1], -1)
        return torch.log_softmax(self.out(self.dropout(torch.cat([outputs, ctx], -1))), -1)

    def _run(self, prev: torch.Tensor, context: torch.Tensor, state: State):
        """prev (B, T) target ids -> log p (B, T, V), final state."""
        emb = self.dropout(self.tgt_embedding(prev))  # (B, T, E)
        ctx = context.unsqueeze(1).expand(-1, prev.shape[1], -1)  # (B, T, H)
        outputs, state = self.decoder(torch.cat([emb, ctx], -1), state)
        return self._logp(outputs, context), state

    def log_prob(self, src, src_mask, tgt_in, tgt_out, tgt_mask) -> torch.Tensor:
        """(B,) log p(tgt_out | src) under teacher forcing (padding ignored)."""
        context = self.encode(src, src_mask)
        logp, _ = self._run(tgt_in, context, self.decoder.initial(context))  # (B, T, V)
        token = logp.gather(2, tgt_out.masked_fill(~tgt_mask, 0).unsqueeze(-1)).squeeze(-1)
        return (token * tgt_mask).sum(1)

    def loss(self, batch: TranslationBatch) -> torch.Tensor:
        """Scalar: mean NLL per real target token (eos included)."""
        b = batch
        return -self.log_prob(b.src, b.src_mask, b.tgt_in, b.tgt_out, b.tgt_mask).sum() / (
            b.tgt_mask.sum()
        )

    @torch.no_grad()
    def greedy(self, src: torch.Tensor, src_mask: torch.Tensor, max_len: int) -> torch.Tensor:
        """(B, max_len) long: argmax at each step, eos included, 0 after eos."""
        return self.beam(src, src_mask, max_len, k=1)

    @torch.no_grad()
    def beam(self, src: torch.Tensor, src_mask: torch.Tensor, max_len: int, k: int = 4):
        """(B, max_len) long: the best of k hypotheses by total log-probability (no length
        normalisation); a hypothesis stops at eos; 0 after eos. k=1 is greedy."""
        if k < 1 or max_len < 1:
            raise ValueError(f"k and max_len must be >= 1, got k={k}, max_len={max_len}")
        b, v = src.shape[0], self.tgt_vocab
        context = self.encode(src, src_mask).repeat_interleave(k, 0)  # (B*k, H)
        state = self.decoder.initial(context)
        scores = context.new_full((b, k), float("-inf"))
        scores[:, 0] = 0.0
        prev = src.new_full((b * k,), self.bos)
        done = torch.zeros(b, k, dtype=torch.bool, device=src.device)
        history = src.new_zeros((b, k, 0))
        # a finished hypothesis extends by padding (id 0) at no cost
        frozen = context.new_full((v,), float("-inf"))
        frozen[0] = 0.0
        for i in range(max_len):
            logp, state = self._run(prev.unsqueeze(1), context, state)  # (B*k, 1, V)
            logp = torch.where(done.unsqueeze(-1), frozen, logp.view(b, k, v))  # (B, k, V)
            top, index = (scores.unsqueeze(-1) + logp).view(b, k * v).topk(k, dim=1)  # (B, k)
            source, token = index // v, index % v
            history = torch.cat(
                [history.gather(1, source.unsqueeze(-1).expand(-1, -1, i)), token.unsqueeze(-1)],
                dim=2,
            )
            done = done.gather(1, source) | (token == self.eos)
            rows = (source + torch.arange(b, device=src.device).unsqueeze(1) * k).reshape(-1)
            state = self.decoder.select(state, rows)
            prev, scores = token.reshape(-1), top
            if bool(done.all()):
                break
        best = scores.argmax(1)
        out = src.new_zeros((b, max_len))
        out[:, : history.shape[2]] = history[torch.arange(b, device=src.device), best]
        return out
