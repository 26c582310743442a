"""Vocabularies built from training data only: words, characters and tags.

Word and character vocabularies reserve ``<pad>`` = 0 and ``<unk>`` = 1; a tag vocabulary
has neither (ids 0..C-1), so an unseen tag is an error instead of a silent id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lab.data.sentence import Sentence

PAD = "<pad>"
UNK = "<unk>"
PAD_ID = 0
UNK_ID = 1


class Vocab:
    """Word vocabulary: ``<pad>`` = 0, ``<unk>`` = 1, then the units seen at least
    ``min_freq`` times, most frequent first (ties alphabetical, so the order does not
    depend on corpus order). With ``lower=True`` units are lower-cased on the way in."""

    kind = "words"

    def __init__(self, itos: Sequence[str], lower: bool = False) -> None:
        itos = list(itos)
        if itos[:2] != [PAD, UNK]:
            raise ValueError(
                f"a {self.kind} vocabulary must start with {[PAD, UNK]}, got {itos[:2]}"
            )
        if len(set(itos)) != len(itos):
            raise ValueError(f"a {self.kind} vocabulary must not repeat entries")
        self.itos: list[str] = itos
        self.stoi: dict[str, int] = {s: i for i, s in enumerate(itos)}
        self.lower = bool(lower)

    @classmethod
    def build(
        cls, token_lists: Iterable[Sequence[str]], min_freq: int = 1, lower: bool = False
    ) -> Vocab:
        """Count the units of ``token_lists`` (lists of tokens) and keep the frequent ones."""
        if not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"min_freq must be an int >= 1, got {min_freq!r}")
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            if isinstance(tokens, str):
                raise TypeError(f"token_lists must hold sequences of tokens, got string {tokens!r}")
            counts.update(cls._units(tokens, lower))
        kept = sorted(
            (u for u, c in counts.items() if c >= min_freq), key=lambda u: (-counts[u], u)
        )
        return cls([PAD, UNK, *(u for u in kept if u not in (PAD, UNK))], lower=lower)

    @staticmethod
    def _units(tokens: Sequence[str], lower: bool) -> Iterable[str]:
        return (t.lower() for t in tokens) if lower else tokens

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, unit: str) -> bool:
        return (unit.lower() if self.lower else unit) in self.stoi

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.to_dict() == other.to_dict()  # type: ignore[union-attr]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={len(self)}, lower={self.lower})"

    def index(self, unit: str) -> int:
        """The id of one unit; ``<unk>`` (1) when unseen."""
        return self.stoi.get(unit.lower() if self.lower else unit, UNK_ID)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Ids of a sequence of units (tokens for words, a string for characters)."""
        return [self.index(t) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Units of a sequence of ids; raises ValueError for an id outside 0..len-1."""
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.itos):
                raise ValueError(f"id {i} outside this vocabulary (0..{len(self.itos) - 1})")
            out.append(self.itos[i])
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (for checkpoints); ``from_dict`` inverts it."""
        return {"kind": self.kind, "itos": list(self.itos), "lower": self.lower}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Vocab:
        if d.get("kind") != cls.kind:
            raise ValueError(f"expected a {cls.kind!r} vocabulary dict, got kind {d.get('kind')!r}")
        return cls(d["itos"], lower=d.get("lower", False))


class CharVocab(Vocab):
    """Character vocabulary: ``build`` counts the characters of every token; ``encode``
    takes one token (a string) and returns one id per character."""

    kind = "chars"

    def __init__(self, itos: Sequence[str], lower: bool = False) -> None:
        super().__init__(itos, lower)
        self._token_cache: dict[str, np.ndarray] = {}

    @staticmethod
    def _units(tokens: Sequence[str], lower: bool) -> Iterable[str]:
        for token in tokens:
            yield from token.lower() if lower else token

    def encode_token(self, token: str) -> np.ndarray:
        """(len(token),) int64 character ids of one token, cached (tokens repeat a lot
        in batching); treat the array as read-only."""
        ids = self._token_cache.get(token)
        if ids is None:
            ids = np.array(self.encode(token), dtype=np.int64)
            if len(self._token_cache) < 1_000_000:  # bound the memory
                self._token_cache[token] = ids
        return ids


class TagVocab:
    """Tag vocabulary: ids 0..C-1 for the sorted tag set, no ``<pad>`` or ``<unk>``."""

    def __init__(self, names: Sequence[str]) -> None:
        names = list(names)
        if not names:
            raise ValueError("a tag vocabulary needs at least one tag")
        if len(set(names)) != len(names):
            raise ValueError(f"a tag vocabulary must not repeat tags: {names}")
        self.names: list[str] = names
        self.stoi: dict[str, int] = {s: i for i, s in enumerate(names)}

    @classmethod
    def build(cls, tag_lists: Iterable[Sequence[str]]) -> TagVocab:
        """The sorted set of tags in ``tag_lists`` (lists of tags)."""
        seen: set[str] = set()
        for tags in tag_lists:
            if isinstance(tags, str):
                raise TypeError(f"tag_lists must hold sequences of tags, got string {tags!r}")
            seen.update(tags)
        if not seen:
            raise ValueError("no tags to build a tag vocabulary from (are the sentences tagged?)")
        return cls(sorted(seen))

    @property
    def itos(self) -> list[str]:
        return self.names

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, tag: str) -> bool:
        return tag in self.stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TagVocab) and self.names == other.names

    def __repr__(self) -> str:
        return f"TagVocab({self.names})"

    def encode(self, tags: Sequence[str]) -> list[int]:
        """Ids of tags; raises ValueError naming a tag not seen in training."""
        try:
            return [self.stoi[t] for t in tags]
        except KeyError as e:
            raise ValueError(
                f"tag {e.args[0]!r} was not seen in training; known tags: {self.names}"
            ) from None

    def decode(self, ids: Iterable[int]) -> list[str]:
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.names):
                raise ValueError(f"tag id {i} outside 0..{len(self.names) - 1}")
            out.append(self.names[i])
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "tags", "names": list(self.names)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TagVocab:
        if d.get("kind") != "tags":
            raise ValueError(f"expected a 'tags' vocabulary dict, got kind {d.get('kind')!r}")
        return cls(d["names"])


@dataclass
class Vocabs:
    """The vocabularies one model needs, all built from the training sentences."""

    words: Vocab
    tags: TagVocab
    chars: CharVocab | None = None

    @classmethod
    def build(
        cls,
        train_sentences: Sequence[Sentence],
        min_freq: int = 1,
        lower: bool = False,
        chars: bool = True,
    ) -> Vocabs:
        """Word vocabulary (``min_freq``, ``lower``), tag vocabulary, and (``chars=True``) a
        character vocabulary over the original-case training tokens."""
        if not train_sentences:
            raise ValueError("cannot build vocabularies from an empty training set")
        token_lists = [s.tokens for s in train_sentences]
        return cls(
            words=Vocab.build(token_lists, min_freq=min_freq, lower=lower),
            tags=TagVocab.build(s.tags for s in train_sentences),
            chars=CharVocab.build(token_lists) if chars else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "words": self.words.to_dict(),
            "tags": self.tags.to_dict(),
            "chars": None if self.chars is None else self.chars.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Vocabs:
        return cls(
            words=Vocab.from_dict(d["words"]),
            tags=TagVocab.from_dict(d["tags"]),
            chars=None if d.get("chars") is None else CharVocab.from_dict(d["chars"]),
        )
