"""Corpus statistics: sizes, tag counts, sentence lengths, out-of-vocabulary rate."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from lab.data.sentence import Sentence


@dataclass(frozen=True)
class CorpusStats:
    """Summary of one corpus. ``tag_counts`` is ordered most frequent first."""

    sentences: int
    tokens: int
    types: int
    tag_counts: dict[str, int]
    mean_length: float
    max_length: int

    def format(self, name: str = "") -> str:
        """A readable block of lines."""
        header = f"{name}\n" if name else ""
        tags = ", ".join(f"{tag} {count:,}" for tag, count in self.tag_counts.items())
        return (
            f"{header}  sentences    {self.sentences:,}\n"
            f"  tokens       {self.tokens:,}\n"
            f"  word types   {self.types:,}\n"
            f"  length       mean {self.mean_length:.2f}, max {self.max_length}\n"
            f"  tags ({len(self.tag_counts)})     {tags}"
        )


def corpus_stats(sentences: Sequence[Sentence]) -> CorpusStats:
    """Statistics of a list of sentences (an empty list gives zeros)."""
    lengths = [len(s) for s in sentences]
    tag_counts = Counter(t for s in sentences for t in s.tags)
    return CorpusStats(
        sentences=len(sentences),
        tokens=sum(lengths),
        types=len({w for s in sentences for w in s.tokens}),
        tag_counts=dict(sorted(tag_counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        mean_length=sum(lengths) / len(lengths) if lengths else 0.0,
        max_length=max(lengths, default=0),
    )


def oov_rate(train: Sequence[Sentence], other: Sequence[Sentence], lower: bool = False) -> float:
    """Fraction of the tokens of ``other`` whose word never occurs in ``train``."""

    def norm(w: str) -> str:
        return w.lower() if lower else w

    known = {norm(w) for s in train for w in s.tokens}
    total = sum(len(s) for s in other)
    if total == 0:
        raise ValueError("oov_rate needs at least one token in the evaluated corpus, got none")
    unseen = sum(norm(w) not in known for s in other for w in s.tokens)
    return unseen / total
