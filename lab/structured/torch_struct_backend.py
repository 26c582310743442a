"""The reference backend: ``torch_struct.LinearChainCRF`` on the same potentials.

torch-struct scores edges ``[b, n, c_next, c_prev]`` between N nodes. We prepend a
begin node (tag 0 stands for it) so that T = 1 and the start scores need no special
case: edge 0 carries start[j] + emissions[0, j] out of the begin node, edge t >= 1
carries transitions[i, j] + emissions[t, j], and the last real edge adds end[j].
Forbidden entries become a large finite negative number (torch-struct's semirings turn
-inf into NaN gradients), so a row with no allowed sequence gets a very negative log Z
instead of -inf.
"""

from __future__ import annotations

import warnings

import torch

from lab.structured.chain import Chain

NEG = -1e9


class TorchStructChain:
    """A ``Chain`` wrapped as a torch-struct distribution."""

    def __init__(self, chain: Chain):
        import torch_struct

        emissions, transitions, start, end, mask, lengths = chain
        B, T, C = emissions.shape
        T = int(lengths.max())  # torch-struct wants the longest row to fill N
        self.chain, self.T = chain, T
        em = emissions[:, :T]
        finite = lambda x: x.masked_fill(torch.isneginf(x), NEG)  # noqa: E731
        tr, st, en = finite(transitions), finite(start), finite(end)
        first = emissions.new_full((B, 1, C, C), NEG)  # (B, 1, C_next, C_prev)
        first[:, 0, :, 0] = st + em[:, 0]
        rest = tr.t().unsqueeze(0).unsqueeze(0) + em[:, 1:].unsqueeze(3)  # (B, T-1, C, C)
        edges = torch.cat([first, rest], dim=1)  # (B, T, C_next, C_prev)
        at_end = torch.nn.functional.one_hot(lengths - 1, T).to(em.dtype)  # (B, T)
        edges = edges + at_end.view(B, T, 1, 1) * en.view(1, 1, C, 1)
        with warnings.catch_warnings():
            # torch-struct predates torch.distributions' arg_constraints check
            warnings.filterwarnings("ignore", message=".*arg_constraints.*")
            self.dist = torch_struct.LinearChainCRF(edges, lengths=lengths + 1)

    def _pad(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        """Pad time dimension ``dim`` back to the chain's T with zeros."""
        missing = self.chain.shape[1] - self.T
        if missing == 0:
            return x
        shape = list(x.shape)
        shape[dim] = missing
        return torch.cat([x, x.new_zeros(shape)], dim=dim)

    def log_partition(self) -> torch.Tensor:
        """(B,)"""
        return self.dist.partition

    def marginals(self) -> torch.Tensor:
        """(B, T, C)"""
        edge = self.dist.marginals  # (B, T, C_next, C_prev)
        mu = edge.sum(3) * self.chain.mask[:, : self.T].unsqueeze(2)
        return self._pad(mu, 1)

    def edge_marginals(self) -> torch.Tensor:
        """(B, T-1, C, C)"""
        edge = self.dist.marginals[:, 1:].transpose(2, 3)  # (B, T-1, C_prev, C_next)
        return self._pad(edge, 1)

    def entropy(self) -> torch.Tensor:
        """(B,)"""
        return self.dist.entropy

    def viterbi(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(tags (B, T), scores (B,))"""
        tags = self.dist.argmax.sum(3).argmax(2)  # (B, T)
        tags = self._pad(tags.masked_fill(~self.chain.mask[:, : self.T], 0), 1)
        return tags, self.dist.max
