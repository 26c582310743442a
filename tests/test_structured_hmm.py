"""The HMM: maximum likelihood recovers its parameters, and its posterior is exact."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from lab.structured import HMM, bayes_optimal
from lab.structured.enumerate import brute_force


def _true_params(C=3, V=6, seed=0):
    rng = np.random.default_rng(seed)
    start = rng.dirichlet(np.ones(C))
    transition = rng.dirichlet(np.ones(C), size=C)
    emission = rng.dirichlet(np.ones(V), size=C)
    return start, transition, emission


def _sample(start, transition, emission, n, T, seed=0):
    """n sequences of length T: word ids (n, T), tag ids (n, T), vectorised over n."""
    rng = np.random.default_rng(seed)
    C, V = emission.shape

    def draw(p):  # p (n, K) rows of probabilities -> (n,) indices
        return (rng.random((len(p), 1)) > np.cumsum(p, 1)).sum(1).clip(max=p.shape[1] - 1)

    tags = np.empty((n, T), dtype=np.int64)
    tags[:, 0] = draw(np.broadcast_to(start, (n, C)))
    for t in range(1, T):
        tags[:, t] = draw(transition[tags[:, t - 1]])
    words = np.stack([draw(emission[tags[:, t]]) for t in range(T)], axis=1)
    return words, tags


def test_mle_recovers_true_parameters():
    start, transition, emission = _true_params()
    words, tags = _sample(start, transition, emission, n=20_000, T=8)
    hmm = HMM.fit(list(words), list(tags), 3, 6, smoothing=0.0, unk_id=None, pad_id=None)
    # 20k starts and ~50k transitions/emissions per tag: standard errors below 0.004
    np.testing.assert_allclose(hmm.log_start.exp().numpy(), start, atol=0.015)
    np.testing.assert_allclose(hmm.log_transition.exp().numpy(), transition, atol=0.015)
    np.testing.assert_allclose(hmm.log_emission.exp().numpy(), emission, atol=0.015)


def test_fit_counts_smoothing_unk_and_pad():
    words = [[2, 3, 2], [4, 2]]
    tags = [[0, 1, 0], [1, 0]]
    hmm = HMM.fit(words, tags, num_tags=2, num_words=5, smoothing=1.0)
    # starts: tag 0 once, tag 1 once (+1 each)
    np.testing.assert_allclose(hmm.log_start.exp().numpy(), [0.5, 0.5])
    # transitions from 0: 0->1 once (+1 smoothing on both) -> [1/3, 2/3]
    np.testing.assert_allclose(hmm.log_transition.exp()[0].numpy(), [1 / 3, 2 / 3])
    # emissions of tag 1: words 3 and 4 once each, both hapax -> unk gets 2; pad gets 0
    counts = np.array([0, 2, 0, 1, 1]) + np.array([0, 1, 1, 1, 1])
    np.testing.assert_allclose(hmm.log_emission.exp()[1].numpy(), counts / counts.sum())
    with pytest.raises(ValueError, match="word ids"):
        HMM.fit([[7]], [[0]], 2, 5)
    with pytest.raises(ValueError, match="tag ids"):
        HMM.fit([[2]], [[2]], 2, 5)
    with pytest.raises(ValueError, match="ids in"):
        hmm.crf(torch.tensor([[5]]))


def test_posterior_equals_enumeration_of_the_joint():
    start, transition, emission = _true_params(C=3, V=5, seed=1)
    hmm = HMM(start, transition, emission)
    words = torch.tensor([[0, 3, 4, 1], [2, 2, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]]).bool()
    crf = hmm.crf(words, mask)
    for b in range(2):
        L = int(mask[b].sum())
        x = words[b, :L].tolist()
        joint = {}
        for y in itertools.product(range(3), repeat=L):
            p = start[y[0]] * np.prod([emission[y[t], x[t]] for t in range(L)])
            p *= np.prod([transition[y[t - 1], y[t]] for t in range(1, L)])
            joint[y] = p
        evidence = sum(joint.values())
        # log Z of the posterior CRF is log p(x)
        assert abs(float(crf.log_partition[b]) - np.log(evidence)) < 1e-10
        mu = np.zeros((L, 3))
        for y, p in joint.items():
            mu[np.arange(L), list(y)] += p / evidence
        np.testing.assert_allclose(crf.marginals[b, :L].numpy(), mu, atol=1e-12)
        best = max(joint, key=joint.get)
        assert crf.viterbi()[0][b, :L].tolist() == list(best)


def test_bayes_optimal_matches_enumeration_decoding():
    start, transition, emission = _true_params(C=3, V=4, seed=2)
    words, tags = _sample(start, transition, emission, n=40, T=5, seed=3)
    word_seqs = [list(w[: 2 + i % 4]) for i, w in enumerate(words)]
    tag_seqs = [list(t[: 2 + i % 4]) for i, t in enumerate(tags)]
    got = bayes_optimal(word_seqs, tag_seqs, start, transition, emission)
    log_e, log_t, log_s = (torch.tensor(np.log(a)) for a in (emission, transition, start))
    right = total = sentences = 0
    for w, y in zip(word_seqs, tag_seqs, strict=True):
        ref = brute_force(log_e.t()[w].unsqueeze(0), log_t, start=log_s)
        right += int((ref["marginals"][0].argmax(1) == torch.tensor(y)).sum())
        total += len(y)
        sentences += int(ref["argmax"][0].tolist() == list(y))
    assert got["token_accuracy"] == pytest.approx(right / total)
    assert got["sentence_accuracy"] == pytest.approx(sentences / len(word_seqs))
    assert 0.0 < got["sentence_accuracy"] <= got["token_accuracy"] <= 1.0


def test_hmm_chain_is_a_crf_in_the_dtype_given_and_the_tagger_uses_it():
    from lab.data.batch import Batch
    from lab.models import ModelConfig
    from lab.models.hmm_tagger import HMMTagger
    from lab.structured.hmm import hmm_chain

    start, transition, emission = _true_params(C=3, V=6)
    hmm = HMM(start, transition, emission)
    words = torch.tensor([[2, 5, 1, 3], [4, 2, 0, 0]])
    mask = words != 0
    tags = torch.tensor([[0, 1, 2, 1], [2, 2, 0, 0]])
    joint = torch.tensor(
        [
            np.log(start[t[0]])
            + sum(np.log(transition[a, b]) for a, b in zip(t[: n - 1], t[1:n], strict=True))
            + sum(np.log(emission[y, w]) for y, w in zip(t[:n], w_[:n], strict=True))
            for t, w_, n in zip(tags.tolist(), words.tolist(), mask.sum(1).tolist(), strict=True)
        ]
    )
    assert torch.allclose(hmm.crf(words, mask).score(tags), joint.double(), atol=1e-10)
    # float32 parameters stay float32 (the tagger's buffers)
    chain32 = hmm_chain(
        hmm.log_start.float(), hmm.log_transition.float(), hmm.log_emission.float(), words, mask
    )
    assert chain32.log_partition.dtype == torch.float32
    assert torch.allclose(chain32.score(tags).double(), joint.double(), atol=1e-5)
    tagger = HMMTagger(ModelConfig(encoder="bow", head="hmm"), num_words=6, num_tags=3)
    for name in ("log_start", "log_transition", "log_emission"):
        getattr(tagger, name).copy_(getattr(hmm, name))
    batch = Batch(words=words, mask=mask, lengths=mask.sum(1), tags=tags)
    assert torch.allclose(tagger.crf(batch).log_partition, chain32.log_partition)
    assert torch.equal(tagger.decode(batch), hmm.crf(words, mask).viterbi()[0] * mask)
    with pytest.raises(ValueError, match="ids in"):
        hmm_chain(hmm.log_start, hmm.log_transition, hmm.log_emission, words + 6, mask)
