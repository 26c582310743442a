"""Word features and the six encoders: bow, elman, residual, gated, lstm, gru.

Every encoder maps word features x (B, T, D) with ``mask`` (B, T) and ``lengths`` (B,) to
states (B, T, out_dim), zero on padding. ``hidden`` is the size per direction, so a
bidirectional encoder has ``out_dim = 2 * hidden`` (forward half first).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lab import device
from lab.data.vocab import PAD_ID, UNK_ID
from lab.models.cells import CELLS
from lab.models.config import ENCODERS, check_init
from lab.models.initialisation import init_cell, init_torch_rnn


def check_lengths(lengths: torch.Tensor, time: int) -> None:
    """ValueError unless every length is in [1, T]."""
    if lengths.dim() != 1:
        raise ValueError(f"expected lengths of shape (B,), got {tuple(lengths.shape)}")
    if lengths.numel() and (int(lengths.min()) < 1 or int(lengths.max()) > time):
        raise ValueError(
            f"every length must be in [1, T={time}], got min {int(lengths.min())}, "
            f"max {int(lengths.max())}"
        )


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence within its own length; padding stays where it is.

    x (B, T, ...), lengths (B,) -> (B, T, ...). The map is its own inverse. One
    index_select of whole rows of the flattened batch: with its backward (index_add) half
    the time of a gather over every element (whose backward is a scatter_add).
    """
    b, t = x.shape[:2]
    steps = torch.arange(t, device=x.device).expand(b, t)  # (B, T)
    lengths = lengths.to(x.device).unsqueeze(1)  # (B, 1)
    index = torch.where(steps < lengths, lengths - 1 - steps, steps)  # (B, T)
    index = index + t * torch.arange(b, device=x.device).unsqueeze(1)  # rows of (B*T, ...)
    return x.reshape(b * t, *x.shape[2:]).index_select(0, index.reshape(-1)).view_as(x)


RNN_PATHS = ("auto", "packed", "padded")
# CharLSTM's padded path: upper ends of its token-length buckets (the last ends at L).
# Each bucket costs two LSTM calls; measured on UD EWT training steps (B=32, bilstm-crf,
# 1 thread): (4, 8) is 6% faster in bf16 and 2.5% in fp32 than (2, 4, 6, 9), and
# better than (3, 7), (5, 10), (4, 9) or one bucket padded to L (16% slower)
CHAR_BUCKETS = (4, 8)


def resolve_path(path: str, device: torch.device) -> str:
    """The concrete path of an ``nn.LSTM``/``nn.GRU`` run: ``packed`` or ``padded``.

    ``auto`` is ``padded`` on the CPU, where it measured 2.6x faster than ``packed``
    (forward + backward, B=32, T=40, E=100, H=200, one thread: 30 ms against 80 ms, the
    packed backward's full-size zero fills; see results/bench_tagger.md), and ``packed``
    elsewhere: cuDNN's packed kernels were not measured against it here.
    """
    if path not in RNN_PATHS:
        raise ValueError(f"unknown path {path!r}; expected one of {list(RNN_PATHS)}")
    if path == "auto":
        return "padded" if device.type == "cpu" else "packed"
    return path


def packed_rnn(rnn: nn.LSTM | nn.GRU, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``rnn`` (batch_first) over a packed batch, so padding is never read.

    x (B, T, D), lengths (B,) -> (B, T, directions * H), zero on padding.
    """
    refuse_packed_bf16(rnn, x)
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    out, _ = rnn(packed)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out  # pad_packed_sequence fills padding with zeros


def rnn_weights(rnn: nn.LSTM | nn.GRU, layer: int, reverse: bool) -> list[torch.Tensor]:
    """One layer and direction's parameters in the order ``torch.lstm``/``torch.gru``
    take them: weight_ih, weight_hh (, bias_ih, bias_hh)."""
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if rnn.bias else [])
    suffix = f"_l{layer}" + ("_reverse" if reverse else "")
    return [getattr(rnn, name + suffix) for name in names]


def lstm_lacks_bf16(x: torch.Tensor) -> bool:
    """True where bf16 autocast would send an LSTM on ``x`` to a oneDNN bf16 kernel this
    CPU does not have: torch 2.13 still routes it there on a CPU without AVX512-BF16 or
    AMX (an AVX2 AMD EPYC, say) and fails ("could not create a primitive descriptor")."""
    return (
        x.device.type == "cpu"
        and torch.is_autocast_enabled("cpu")
        and torch.get_autocast_dtype("cpu") == torch.bfloat16
        and not device.cpu_has_native_bf16()
    )


def refuse_packed_bf16(rnn: nn.Module, x: torch.Tensor) -> None:
    """ValueError where ``rnn`` (an nn.LSTM run by the packed path) would fail in oneDNN
    under bf16 autocast (``lstm_lacks_bf16``); the padded path runs there."""
    if isinstance(rnn, nn.LSTM) and lstm_lacks_bf16(x):
        raise ValueError(
            "path='packed' under bf16 autocast needs a CPU with native bf16 (AVX512-BF16 or "
            "AMX); this one has none: use path='auto' or 'padded', or amp=none"
        )


def lstm_layer(
    x: torch.Tensor, hx: tuple[torch.Tensor, torch.Tensor], params: list[torch.Tensor],
    training: bool,
) -> torch.Tensor:  # fmt: skip
    """One layer and direction of ``torch.lstm`` over the padded batch: x (B, T, D),
    hx ((1, B, H), (1, B, H)) -> (B, T, H). Under bf16 autocast on a CPU without native
    bf16 (``lstm_lacks_bf16``) the same bf16 LSTM runs on torch's own kernel instead of
    oneDNN's: the same precision as on a CPU that has it, only slower (about 9x the fp32
    time at B=32, T=30, H=200), so ``amp=bf16`` means one thing on every machine."""
    bias = len(params) == 4
    if not lstm_lacks_bf16(x):
        return torch.lstm(x, hx, params, bias, 1, 0.0, training, False, True)[0]
    cast = [t.bfloat16() for t in (x, *hx, *params)]
    onednn = torch.backends.mkldnn.enabled
    try:
        torch.backends.mkldnn.enabled = False
        with torch.autocast("cpu", enabled=False):
            return torch.lstm(cast[0], tuple(cast[1:3]), cast[3:], bias, 1, 0.0, training,
                              False, True)[0]  # fmt: skip
    finally:
        torch.backends.mkldnn.enabled = onednn


def padded_rnn(rnn: nn.LSTM | nn.GRU, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """What ``packed_rnn`` computes, with the same parameters, on the padded batch.

    Per layer and direction, one run of torch's fused kernel over all T steps: with right
    padding, the forward direction's padded steps come after every real one and never
    change a state a real position reads; the backward direction reverses each sentence
    within its length, runs forward with the reverse weights, and reverses back. Dropout
    between layers as ``rnn.dropout`` says (in training). Exact: the tests hold it to
    ``packed_rnn`` in float64, outputs and gradients.

    x (B, T, D), lengths (B,) -> (B, T, directions * H), zero on padding.
    """
    if not rnn.batch_first or getattr(rnn, "proj_size", 0):
        raise ValueError("padded_rnn needs batch_first=True and no proj_size")
    b, t = x.shape[:2]
    lengths = lengths.to(x.device)
    for layer in range(rnn.num_layers):
        if layer > 0 and rnn.dropout > 0 and rnn.training:
            x = nn.functional.dropout(x, rnn.dropout, training=True)
        h0 = x.new_zeros(1, b, rnn.hidden_size)  # (1, B, H)
        hx = (h0, h0) if isinstance(rnn, nn.LSTM) else h0
        outs = []
        for direction in range(2 if rnn.bidirectional else 1):
            params = rnn_weights(rnn, layer, reverse=bool(direction))
            inputs = reverse_padded(x, lengths) if direction else x  # (B, T, D)
            if isinstance(rnn, nn.LSTM):
                out = lstm_layer(inputs, hx, params, rnn.training)
            else:
                out = torch.gru(inputs, hx, params, rnn.bias, 1, 0.0, rnn.training, False, True)[0]
            outs.append(reverse_padded(out, lengths) if direction else out)  # (B, T, H)
        x = torch.cat(outs, dim=-1) if len(outs) > 1 else outs[0]
    mask = torch.arange(t, device=x.device).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)
    return x * mask.unsqueeze(-1)


@functools.cache
def row_hash_weights(length: int) -> torch.Tensor:
    """(length,) int64: fixed odd multipliers, one per column, for ``unique_rows``'s hash."""
    g = torch.Generator().manual_seed(length)
    return torch.randint(1, 2**62, (length,), generator=g) | 1


def unique_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct rows of x (N, L) integer and, per row, the index of its copy:
    ``rows[inverse]`` equals ``x``. ``torch.unique(dim=0)`` compares rows one pair at a
    time (8% of a char-BiLSTM training step); here each row is hashed to one int64, the
    hashes are made unique by a sort, and the result is checked exactly (on a hash
    collision, which the check catches, the slow exact way is taken).

    -> rows (U, L), inverse (N,) long.
    """
    weights = row_hash_weights(x.shape[1]).to(x.device)  # (L,)
    keys = (x.long() * weights).sum(dim=1)  # (N,) int64, wraps on overflow
    _, inverse = torch.unique(keys, return_inverse=True)  # (N,)
    first = torch.empty(int(inverse.max()) + 1 if x.shape[0] else 0, dtype=torch.long,
                        device=x.device)  # fmt: skip
    first.scatter_(0, inverse, torch.arange(x.shape[0], device=x.device))  # a row per key
    rows = x[first]
    if not torch.equal(rows[inverse], x):
        return torch.unique(x, dim=0, return_inverse=True)
    return rows, inverse


class CharCNN(nn.Module):
    """Character features of each token: embeddings, a width-3 convolution, ReLU, max over L.

    The convolution is computed without one: it is linear in the embeddings, so each
    window offset k contributes ``(E @ W_k^T)[c]`` for the character c there, a (V, F)
    table made once per call from the (V, C) char embeddings and gathered per position.
    Each distinct token is encoded once (``unique_rows``). Measured on UD EWT batches
    (B=32, 50 filters, 1 thread, forward + backward): 5.9 ms a batch against 21 ms for
    ``nn.Conv1d`` over every token. The parameters are the same ``nn.Conv1d``'s, and the
    tests hold the result to it (float64).

    chars (B, T, L) long, 0 on padding -> (B, T, filters).
    """

    def __init__(self, num_chars: int, char_dim: int, filters: int, width: int = 3) -> None:
        super().__init__()
        if width < 1 or width % 2 == 0:
            raise ValueError(f"width must be odd (a centred window), got {width}")
        self.embedding = nn.Embedding(num_chars, char_dim, padding_idx=0)
        self.conv = nn.Conv1d(char_dim, filters, width, padding=width // 2)
        self.filters = filters

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        b, t, length = chars.shape
        rows, inverse = unique_rows(chars.reshape(b * t, length))  # (U, L), (B*T,)
        return self._features(rows)[inverse].reshape(b, t, self.filters)  # (B, T, F)

    def _features(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (U, L) -> (U, F): the convolution as gathers from per-offset tables."""
        width = self.conv.kernel_size[0]
        v = self.embedding.num_embeddings
        # (K, V, F): what character v adds to a window at offset k; padding adds nothing
        table = torch.einsum("vc,fck->kvf", self.embedding.weight, self.conv.weight)
        table = table * (torch.arange(v, device=ids.device) != 0).unsqueeze(-1)
        padded = nn.functional.pad(ids, (width // 2, width // 2))  # (U, L + K - 1)
        index = padded.unfold(1, width, 1) + v * torch.arange(width, device=ids.device)
        windows = nn.functional.embedding(index, table.reshape(width * v, -1))  # (U, L, K, F)
        f = torch.relu(windows.sum(2) + self.conv.bias)  # (U, L, F)
        # ReLU output is >= 0, so zeroing padded characters keeps them out of the max
        f = f.masked_fill((ids == 0).unsqueeze(-1), 0.0)
        return f.max(dim=1).values  # (U, F)


class CharLSTM(nn.Module):
    """Character features of each token: embeddings, a BiLSTM over its characters, the
    final forward state (after the last character) and the final backward state (after
    the first), concatenated; so prefixes and suffixes each end a direction. ``path``
    runs the BiLSTM as in ``TorchRecurrentEncoder`` (``auto``, ``packed``, ``padded``).

    chars (B, T, L) long, 0 on padding -> (B, T, 2 * hidden), zero for padding tokens.
    """

    def __init__(self, num_chars: int, char_dim: int, hidden: int, path: str = "auto") -> None:
        super().__init__()
        resolve_path(path, torch.device("cpu"))  # validates
        self.path = path
        self.embedding = nn.Embedding(num_chars, char_dim, padding_idx=0)
        self.lstm = nn.LSTM(char_dim, hidden, batch_first=True, bidirectional=True)
        self.filters = 2 * hidden

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        b, t, length = chars.shape
        flat = chars.reshape(b * t, length)
        if resolve_path(self.path, chars.device) == "packed":
            out = self._packed(flat)
        else:
            # a token's features depend only on its characters: encode each distinct
            # character row once (about 60% of a batch's tokens in UD EWT)
            rows, inverse = unique_rows(flat)
            out = self._padded(rows)[inverse]
        return out.reshape(b, t, self.filters)  # (B, T, 2*hidden)

    def _packed(self, flat: torch.Tensor) -> torch.Tensor:
        """flat (N, L) -> (N, 2*hidden), one packed BiLSTM run."""
        lengths = (flat != 0).sum(dim=1)  # (N,) characters are left-aligned
        real = lengths.nonzero().squeeze(1)  # tokens, not padding positions
        out = torch.zeros(flat.shape[0], self.filters, device=flat.device)
        refuse_packed_bf16(self.lstm, flat)
        if real.numel():
            packed = pack_padded_sequence(
                self.embedding(flat[real]), lengths[real].cpu(), batch_first=True,
                enforce_sorted=False,
            )  # fmt: skip
            _, (h, _) = self.lstm(packed)  # h (2, N, hidden): forward, backward
            out = out.to(h.dtype).index_copy(0, real, torch.cat([h[0], h[1]], dim=-1))
        return out

    def _padded(self, flat: torch.Tensor) -> torch.Tensor:
        """flat (N, L) -> (N, 2*hidden): the BiLSTM's final states over buckets of
        similar lengths (CHAR_BUCKETS), each cut to its longest token, so little padding
        is computed. What ``padded_rnn`` would give at the two ends, without its full
        output: the backward direction reads each token's characters reversed (the ids
        are reversed, not their embeddings, so no gather enters the graph), and both
        directions' states are read at the last real character."""
        lengths = (flat != 0).sum(dim=1)  # (N,)
        lstm = self.lstm
        forward, backward = rnn_weights(lstm, 0, False), rnn_weights(lstm, 0, True)
        picked, finals, low = [], [], 1
        for high in (*CHAR_BUCKETS, flat.shape[1]):
            rows = ((lengths >= low) & (lengths <= high)).nonzero().squeeze(1)  # (n,)
            low = high + 1
            if rows.numel() == 0:
                continue
            n_chars = lengths[rows]  # (n,)
            ids = flat[rows, : int(n_chars.max())]  # (n, l)
            reversed_ids = reverse_padded(ids, n_chars)  # (n, l)
            h0 = self.embedding.weight.new_zeros(1, rows.numel(), lstm.hidden_size)  # (1, n, H)
            last = (torch.arange(rows.numel(), device=flat.device), n_chars - 1)
            ends = []
            for params, chars in ((forward, ids), (backward, reversed_ids)):
                x = self.embedding(chars)  # (n, l, E)
                ends.append(lstm_layer(x, (h0, h0), params, self.training)[last])  # (n, H)
            picked.append(rows)
            finals.append(torch.cat(ends, dim=-1))  # (n, 2*hidden)
        out = torch.zeros(flat.shape[0], self.filters, device=flat.device)
        if not finals:
            return out
        final = torch.cat(finals)  # tokens without characters (padding) stay zero
        return out.to(final.dtype).index_copy(0, torch.cat(picked), final)


CHAR_ENCODER_CLASSES = {"cnn": CharCNN, "lstm": CharLSTM}  # keys: config.CHAR_ENCODERS


class WordFeatures(nn.Module):
    """Word embeddings, optionally concatenated with character features: a char CNN
    (``char_dim`` filters) or a char BiLSTM (2 * ``char_dim``).

    With ``word_dropout`` p, training replaces each real token's word id by ``<unk>``
    with probability p, so the ``<unk>`` embedding and the character features learn to
    carry words they cannot look up, as at test time for unseen words.

    words (B, T), chars (B, T, L) or None -> (B, T, out_dim).
    """

    def __init__(
        self,
        num_words: int,
        embedding_dim: int,
        num_chars: int = 0,
        char_dim: int = 0,
        char_encoder: str = "cnn",
        word_dropout: float = 0.0,
        freeze: bool = False,
    ) -> None:
        super().__init__()
        if char_encoder not in CHAR_ENCODER_CLASSES:
            valid = list(CHAR_ENCODER_CLASSES)
            raise ValueError(f"unknown char_encoder {char_encoder!r}; expected one of {valid}")
        self.embedding = nn.Embedding(num_words, embedding_dim, padding_idx=0)
        self.embedding.weight.requires_grad_(not freeze)
        self.chars = None
        if num_chars > 0:
            self.chars = CHAR_ENCODER_CLASSES[char_encoder](num_chars, char_dim, char_dim)
        self.out_dim = embedding_dim + (self.chars.filters if self.chars is not None else 0)
        self.word_dropout = float(word_dropout)

    @torch.no_grad()
    def load_vectors(self, words: Sequence[str], vectors: Any) -> int:
        """Copy pretrained vectors (a lab.data.WordVectors of the embedding's dimension)
        into the rows of the vocabulary ``words`` (its itos) that the file has, matched as
        written, else case-insensitively; padding and <unk> keep their rows. Returns the
        rows set."""
        if vectors.dim != self.embedding.embedding_dim:
            raise ValueError(f"{vectors.path}: vectors of {vectors.dim} dimensions for "
                             f"embeddings of {self.embedding.embedding_dim}")  # fmt: skip
        exact, folded = vectors.index(), vectors.index(lower=True)
        matrix = torch.from_numpy(vectors.matrix)
        found = 0
        for row, word in enumerate(words):
            if row == PAD_ID or row == UNK_ID:
                continue
            hit = exact.get(word)
            if hit is None:
                hit = folded.get(word.lower())
            if hit is not None:
                self.embedding.weight[row] = matrix[hit]
                found += 1
        return found

    def forward(self, words: torch.Tensor, chars: torch.Tensor | None = None) -> torch.Tensor:
        v = self.embedding.num_embeddings
        if words.numel() and (int(words.min()) < 0 or int(words.max()) >= v):
            raise ValueError(
                f"word ids must be in [0, {v}), got [{int(words.min())}, {int(words.max())}]"
            )
        if self.training and self.word_dropout > 0:
            dropped = (torch.rand(words.shape, device=words.device) < self.word_dropout) & (
                words != PAD_ID
            )
            words = words.masked_fill(dropped, UNK_ID)
        x = self.embedding(words)  # (B, T, E)
        if self.chars is None:
            return x
        if chars is None:
            raise ValueError("this model uses character features: the batch needs chars (B, T, L)")
        if chars.shape[:2] != words.shape:
            raise ValueError(
                f"chars {tuple(chars.shape)} do not match words {tuple(words.shape)} in (B, T)"
            )
        return torch.cat([x, self.chars(chars)], dim=-1)


class Encoder(nn.Module):
    """Common interface: ``forward(x, mask, lengths) -> (B, T, out_dim)``, zero on padding."""

    out_dim: int
    bidirectional: bool = False

    def final_states(self, states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The state after reading the whole sentence, (B, out_dim): the forward half at
        each sentence's last token, the backward half (if any) at its first token."""
        b = states.shape[0]
        last = states[torch.arange(b, device=states.device), lengths.to(states.device) - 1]
        if not self.bidirectional:
            return last
        half = self.out_dim // 2
        return torch.cat([last[:, :half], states[:, 0, half:]], dim=-1)


class BowEncoder(Encoder):
    """The time-invariant phi: each token's own features through ``layers`` x
    (Linear + tanh); no context at all."""

    def __init__(self, input_dim: int, hidden: int, layers: int = 1, dropout: float = 0.0):
        super().__init__()
        blocks: list[nn.Module] = []
        for i in range(layers):
            if i > 0:
                blocks.append(nn.Dropout(dropout))
            blocks += [nn.Linear(input_dim if i == 0 else hidden, hidden), nn.Tanh()]
        self.net = nn.Sequential(*blocks)
        self.out_dim = hidden

    def forward(self, x: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.net(x) * mask.unsqueeze(-1)


class CustomRecurrentEncoder(Encoder):
    """Stacked (optionally bidirectional) layers of an Elman, residual or gated cell.

    The backward direction reverses each sentence within its own length, runs a forward
    cell, and reverses back, so it starts at each sentence's own last token. Dropout is
    applied between layers.
    """

    def __init__(
        self,
        kind: str,
        input_dim: int,
        hidden: int,
        layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if kind not in CELLS:
            raise ValueError(f"unknown cell {kind!r}; expected one of {sorted(CELLS)}")
        cell = CELLS[kind]
        directions = 2 if bidirectional else 1
        self.layers = nn.ModuleList(
            nn.ModuleList(
                cell(input_dim if i == 0 else directions * hidden, hidden)
                for _ in range(directions)
            )
            for i in range(layers)
        )
        self.dropout = nn.Dropout(dropout)
        self.bidirectional = bidirectional
        self.out_dim = directions * hidden

    def forward(self, x: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        check_lengths(lengths, x.shape[1])
        for i, cells in enumerate(self.layers):
            if i > 0:
                x = self.dropout(x)
            outputs = [cells[0](x)]  # (B, T, H)
            if self.bidirectional:
                outputs.append(reverse_padded(cells[1](reverse_padded(x, lengths)), lengths))
            x = torch.cat(outputs, dim=-1) if len(outputs) > 1 else outputs[0]
        return x * mask.unsqueeze(-1)


class TorchRecurrentEncoder(Encoder):
    """torch's fused LSTM or GRU, run by ``path``: ``packed`` (``packed_rnn``: padding is
    never read), ``padded`` (``padded_rnn``: the same outputs, faster on the CPU) or
    ``auto`` (``resolve_path``: by the input's device). The parameters are the same
    ``nn.LSTM``/``nn.GRU`` module's either way, so checkpoints do not depend on it."""

    def __init__(
        self,
        kind: str,
        input_dim: int,
        hidden: int,
        layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        path: str = "auto",
    ) -> None:
        super().__init__()
        resolve_path(path, torch.device("cpu"))  # validates
        self.path = path
        modules = {"lstm": nn.LSTM, "gru": nn.GRU}
        if kind not in modules:
            raise ValueError(f"unknown fused module {kind!r}; expected one of {sorted(modules)}")
        self.rnn = modules[kind](
            input_dim,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.bidirectional = bidirectional
        self.out_dim = (2 if bidirectional else 1) * hidden

    def forward(self, x: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        check_lengths(lengths, x.shape[1])
        if resolve_path(self.path, x.device) == "packed":
            return packed_rnn(self.rnn, x, lengths)
        return padded_rnn(self.rnn, x, lengths)


def build_encoder(
    kind: str,
    input_dim: int,
    hidden: int,
    layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
    gate_init: str = "default",
    recurrent_init: str = "default",
) -> Encoder:
    """The encoder named ``kind`` (one of ENCODERS) reading features of size ``input_dim``,
    its gates and recurrent weights initialised by ``gate_init`` and ``recurrent_init``
    (lab.models.initialisation; "default" leaves torch's draw)."""
    check_init(kind, gate_init, recurrent_init)
    if kind == "bow":
        if bidirectional:
            raise ValueError("encoder 'bow' has no direction: set bidirectional=False")
        return BowEncoder(input_dim, hidden, layers, dropout)
    if kind in CELLS:
        encoder = CustomRecurrentEncoder(kind, input_dim, hidden, layers, bidirectional, dropout)
        for cells in encoder.layers:
            for cell in cells:
                init_cell(cell, gate_init, recurrent_init)
        return encoder
    if kind in ("lstm", "gru"):
        encoder = TorchRecurrentEncoder(kind, input_dim, hidden, layers, bidirectional, dropout)
        init_torch_rnn(encoder.rnn, gate_init, recurrent_init)
        return encoder
    raise ValueError(f"unknown encoder {kind!r}; expected one of {list(ENCODERS)}")
