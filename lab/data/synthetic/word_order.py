"""The bag-of-words trap from the lecture: "the man ate the hot dog" versus "the hot dog
ate the man". Same words, different eater; any order-blind model is at chance."""

from __future__ import annotations

import numpy as np

PEOPLE = ("man", "woman", "boy", "girl", "chef", "farmer", "teacher", "baby")
FOODS = (
    ("hot", "dog"),
    ("pizza",),
    ("apple",),
    ("sandwich",),
    ("ice", "cream"),
    ("burger",),
    ("taco",),
    ("cake",),
)
VERBS = ("ate", "devoured", "swallowed", "nibbled", "tasted", "chewed")
ADJECTIVES = ("big", "small", "hungry", "old", "fresh", "tiny")
DETERMINERS = ("the", "a")
# The label says which kind of thing does the eating: the first noun phrase (subject).
LABELS = ("person", "food")


def word_order_corpus(n: int, seed: int = 0) -> list[tuple[list[str], str]]:
    """``n`` (even) labelled sentences ``(tokens, label)``, label "person" when the person
    eats the food and "food" when the food eats the person.

    Sentences come in pairs with the same noun phrases and verb in both orders
    ("the hungry man ate a hot dog" / "a hot dog ate the hungry man"), so every bag of
    words appears equally often with each label: a model that ignores order cannot beat
    50 % accuracy, while one that reads the order can reach 100 %. The pairs are
    shuffled; an adjective (probability 1/2) and the determiner stay with their noun.
    """
    if not isinstance(n, int) or n < 0 or n % 2:
        raise ValueError(f"n must be an even int >= 0 (sentences come in pairs), got {n!r}")
    rng = np.random.default_rng(seed)

    def noun_phrase(head: tuple[str, ...]) -> list[str]:
        determiner = DETERMINERS[rng.integers(len(DETERMINERS))]
        words = [ADJECTIVES[rng.integers(len(ADJECTIVES))]] if rng.random() < 0.5 else []
        words += head
        if determiner == "a" and words[0][0] in "aeiou":
            determiner = "an"  # "an apple", "an old man": inside the phrase, so bags still match
        return [determiner, *words]

    examples: list[tuple[list[str], str]] = []
    for _ in range(n // 2):
        person = noun_phrase((PEOPLE[rng.integers(len(PEOPLE))],))
        food = noun_phrase(FOODS[rng.integers(len(FOODS))])
        verb = VERBS[rng.integers(len(VERBS))]
        examples.append(([*person, verb, *food], "person"))
        examples.append(([*food, verb, *person], "food"))
    return [examples[i] for i in rng.permutation(len(examples))]
