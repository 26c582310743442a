"""Synthetic corpora where the truth is known: an HMM, the word-order pairs, the
long-range lag task and a toy translation."""
