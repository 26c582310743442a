"""Top-k sequences by list Viterbi: keep the k best partial paths into every tag."""

from __future__ import annotations

import torch

from lab.structured.chain import Chain


def topk(chain: Chain, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k highest-scoring sequences: tags (k, B, T) long (0 on padding) and their
    scores (k, B), best first. Slots beyond the number of allowed sequences score -inf
    (their tags are arbitrary)."""
    emissions, transitions, start, end, mask, lengths = chain
    B, T, C = emissions.shape
    device = emissions.device
    with torch.no_grad():
        varlen = bool((lengths < T).any())
        # flat index of (tag j, rank r) is j * k + r: the identity pointer for padding
        identity = torch.arange(C * k, device=device).view(1, C, k).expand(B, C, k)
        score = emissions.new_full((B, C, k), -torch.inf)  # (B, C, k)
        score[:, :, 0] = start + emissions[:, 0]
        pointers = torch.empty(T, B, C, k, dtype=torch.long, device=device)
        for t in range(1, T):
            cand = score.unsqueeze(3) + transitions.view(1, C, 1, C)  # (B, C_prev, k, C_next)
            best, idx = cand.reshape(B, C * k, C).topk(k, dim=1)  # (B, k, C)
            step = best.transpose(1, 2) + emissions[:, t].unsqueeze(2)  # (B, C, k)
            idx = idx.transpose(1, 2)  # (B, C, k)
            if varlen:
                real = mask[:, t].view(B, 1, 1)
                step = torch.where(real, step, score)
                idx = torch.where(real, idx, identity)
            score = step
            pointers[t] = idx
        final = (score + end.view(1, C, 1)).reshape(B, C * k)  # (B, C k)
        scores, cur = final.topk(k, dim=1)  # (B, k)
        tags = torch.empty(T, B, k, dtype=torch.long, device=device)
        for t in range(T - 1, 0, -1):
            tags[t] = cur // k
            cur = pointers[t].reshape(B, C * k).gather(1, cur)  # (B, k)
        tags[0] = cur // k
        tags = tags.permute(2, 1, 0).masked_fill(~mask, 0)  # (k, B, T)
        return tags, scores.t()
