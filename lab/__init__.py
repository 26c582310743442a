"""lab: structured (CRF, HMM) vs neural (RNN + softmax) sequence models.

Shape letters used in every docstring:
    B batch, T time (tokens), C tags (classes), V vocabulary, H hidden size,
    L characters per token. ``mask (B, T)`` is bool, True on real tokens.
Probabilities live in log space unless a function says otherwise.
"""

__version__ = "0.1.0"
