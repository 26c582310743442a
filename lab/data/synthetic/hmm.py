"""A tagging corpus sampled from a known HMM, so that the Bayes-optimal tagger (exact
posterior marginals under the true parameters) can be computed and compared with.

Sentence lengths are drawn independently of the tags (there is no end state), so the
true posterior p(y | x) is the HMM's with ``start``, ``transition`` and ``emission`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lab.data.sentence import Sentence

# The parameter seed of ``synthetic_hmm`` when none is given: one fixed HMM for every
# corpus size and sample seed, so a learning curve samples from the same distribution.
DEFAULT_PARAM_SEED = 0


@dataclass(frozen=True, eq=False)
class HMMParams:
    """True HMM parameters, probabilities (not logs), float64.

    Arrays may be given as lists; names as any sequence (stored as tuples).

    start      (C,)    p(y_0 = j)
    transition (C, C)  [i, j] = p(y_t = j | y_{t-1} = i)
    emission   (C, V)  [j, w] = p(x_t = w | y_t = j)
    tag_names  C names, word_names V names
    """

    start: np.ndarray
    transition: np.ndarray
    emission: np.ndarray
    tag_names: tuple[str, ...]
    word_names: tuple[str, ...]

    def __post_init__(self) -> None:
        # Accept lists and other array-likes; store float64 arrays and tuples of names.
        for name in ("start", "transition", "emission"):
            value = getattr(self, name)
            try:
                array = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError):
                raise TypeError(
                    f"HMMParams.{name} must be an array of numbers, got {type(value).__name__}"
                ) from None
            object.__setattr__(self, name, array)
        object.__setattr__(self, "tag_names", tuple(self.tag_names))
        object.__setattr__(self, "word_names", tuple(self.word_names))
        C, V = len(self.tag_names), len(self.word_names)
        for name, array, shape in (
            ("start", self.start, (C,)),
            ("transition", self.transition, (C, C)),
            ("emission", self.emission, (C, V)),
        ):
            if array.shape != shape:
                raise ValueError(
                    f"HMMParams.{name} must be an array of shape {shape}, got {array.shape}"
                )
            if (array < 0).any() or not np.allclose(array.sum(-1), 1.0):
                raise ValueError(f"HMMParams.{name} rows must be probabilities summing to 1")

    @property
    def num_tags(self) -> int:
        return len(self.tag_names)

    @property
    def vocab_size(self) -> int:
        return len(self.word_names)

    def tag_ids(self, tags: Sequence[str]) -> np.ndarray:
        """(T,) indices of tag names into ``start``/``transition``/``emission`` rows."""
        return _indices(tags, self.tag_names, "tag")

    def word_ids(self, tokens: Sequence[str]) -> np.ndarray:
        """(T,) indices of words into the columns of ``emission``."""
        return _indices(tokens, self.word_names, "word")

    def to_dict(self) -> dict:
        """JSON-serialisable form."""
        return {
            "start": self.start.tolist(),
            "transition": self.transition.tolist(),
            "emission": self.emission.tolist(),
            "tag_names": list(self.tag_names),
            "word_names": list(self.word_names),
        }

    @classmethod
    def from_dict(cls, d: dict) -> HMMParams:
        return cls(
            start=np.asarray(d["start"], dtype=np.float64),
            transition=np.asarray(d["transition"], dtype=np.float64),
            emission=np.asarray(d["emission"], dtype=np.float64),
            tag_names=tuple(d["tag_names"]),
            word_names=tuple(d["word_names"]),
        )


def make_hmm_params(
    num_tags: int = 8,
    vocab_size: int = 200,
    concentration: float = 0.3,
    ambiguity: int = 3,
    zipf_exponent: float = 1.0,
    seed: int = 0,
) -> HMMParams:
    """Random HMM parameters with tunable structure.

    Each transition row is Dirichlet(``concentration``): small values give sharp rows,
    so the previous tag says a lot about the next (structure matters); large values give
    near-uniform rows. Each word is emitted by exactly ``ambiguity`` tags (chosen at
    random, every tag getting words), so with ``ambiguity > 1`` a word alone does not
    fix its tag and context is needed. Word weights fall off as 1/rank^``zipf_exponent``
    (times Gamma(1) noise per tag), giving frequent and rare words as in text.
    """
    if not isinstance(num_tags, int) or num_tags < 2:
        raise ValueError(f"num_tags must be an int >= 2, got {num_tags!r}")
    if not isinstance(vocab_size, int) or vocab_size < num_tags:
        raise ValueError(f"vocab_size must be an int >= num_tags ({num_tags}), got {vocab_size!r}")
    if not isinstance(ambiguity, int) or not 1 <= ambiguity <= num_tags:
        raise ValueError(f"ambiguity must be an int in 1..num_tags ({num_tags}), got {ambiguity!r}")
    if not concentration > 0:
        raise ValueError(f"concentration must be > 0, got {concentration!r}")
    if not zipf_exponent >= 0:
        raise ValueError(f"zipf_exponent must be >= 0, got {zipf_exponent!r}")
    rng = np.random.default_rng(seed)
    C, V = num_tags, vocab_size

    start = rng.dirichlet(np.ones(C))
    transition = rng.dirichlet(np.full(C, float(concentration)), size=C)
    # A tiny floor keeps every transition possible (finite log-probabilities).
    transition = _normalise(transition + 1e-6)

    # Which tags emit each word: word w's first tag cycles through a permutation so
    # that every tag owns words; the other ambiguity-1 tags are random distinct ones.
    emits = np.zeros((C, V), dtype=bool)
    owners = rng.permutation(np.arange(V) % C)
    for w in range(V):
        others = rng.permutation(np.delete(np.arange(C), owners[w]))[: ambiguity - 1]
        emits[owners[w], w] = True
        emits[others, w] = True
    rank_weight = 1.0 / np.arange(1, V + 1) ** zipf_exponent  # word w has rank w+1
    emission = np.where(emits, rank_weight[None, :] * rng.gamma(1.0, size=(C, V)), 0.0)
    emission = _normalise(emission)

    return HMMParams(
        start=start,
        transition=transition,
        emission=emission,
        tag_names=tuple(f"T{j}" for j in range(C)),
        word_names=tuple(f"w{w}" for w in range(V)),
    )


def sample_hmm(
    params: HMMParams,
    n_sentences: int,
    mean_length: float = 12,
    min_length: int = 2,
    max_length: int = 40,
    seed: int = 0,
) -> list[Sentence]:
    """``n_sentences`` sentences sampled from ``params``; lengths are
    ``min_length + Poisson(mean_length - min_length)`` clipped to ``max_length``."""
    if not isinstance(n_sentences, int) or n_sentences < 0:
        raise ValueError(f"n_sentences must be an int >= 0, got {n_sentences!r}")
    if not 1 <= min_length <= mean_length <= max_length:
        raise ValueError(
            "expected 1 <= min_length <= mean_length <= max_length, got "
            f"{min_length}, {mean_length}, {max_length}"
        )
    rng = np.random.default_rng(seed)
    N, T = n_sentences, max_length
    lengths = np.minimum(min_length + rng.poisson(mean_length - min_length, size=N), max_length)

    # Tags for all sentences at once, position by position, by inverting the CDF.
    tags = np.zeros((N, T), dtype=np.int64)
    tags[:, 0] = _draw(np.cumsum(params.start)[None, :].repeat(N, 0), rng)
    transition_cdf = np.cumsum(params.transition, axis=1)  # (C, C)
    for t in range(1, T):
        tags[:, t] = _draw(transition_cdf[tags[:, t - 1]], rng)

    # Words tag by tag: one multinomial draw per tag over all its positions.
    words = np.zeros((N, T), dtype=np.int64)
    for j in range(params.num_tags):
        where = tags == j
        words[where] = rng.choice(params.vocab_size, size=int(where.sum()), p=params.emission[j])

    tag_names, word_names = params.tag_names, params.word_names
    return [
        Sentence(
            tuple(word_names[w] for w in words[i, : lengths[i]]),
            tuple(tag_names[y] for y in tags[i, : lengths[i]]),
        )
        for i in range(N)
    ]


def synthetic_hmm(
    n_sentences: int,
    seed: int = 0,
    param_seed: int = DEFAULT_PARAM_SEED,
    mean_length: float = 12,
    min_length: int = 2,
    max_length: int = 40,
    **param_kwargs,
) -> tuple[list[Sentence], HMMParams]:
    """Sentences and the HMM they came from.

    ``param_seed`` fixes the HMM (``make_hmm_params(seed=param_seed, **param_kwargs)``),
    independent of ``n_sentences``; ``seed`` fixes the sample. So train, dev and test
    are the same HMM with different ``seed`` values, and every size of a learning curve
    shares one HMM.
    """
    params = make_hmm_params(seed=param_seed, **param_kwargs)
    sentences = sample_hmm(params, n_sentences, mean_length, min_length, max_length, seed=seed)
    return sentences, params


def _indices(names: Sequence[str], known: tuple[str, ...], what: str) -> np.ndarray:
    index = {name: i for i, name in enumerate(known)}
    try:
        return np.array([index[n] for n in names], dtype=np.int64)
    except KeyError as e:
        raise ValueError(
            f"{what} {e.args[0]!r} is not in this HMM's {len(known)} {what}s"
        ) from None


def _normalise(rows: np.ndarray) -> np.ndarray:
    return rows / rows.sum(axis=-1, keepdims=True)


def _draw(cdf: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One category per row of ``cdf`` (N, K), by inverse-CDF sampling."""
    u = rng.random(cdf.shape[0]) * cdf[:, -1]  # scale by the total to absorb rounding
    return (u[:, None] >= cdf).sum(axis=1)
