"""Pretrained word vectors by path (lab.data.vectors, ModelConfig.vectors): GloVe and
word2vec text, gz or not; bad lines name path:line; a dimension that disagrees is an
error; the embeddings of the words the file has start from it, the others as without;
frozen when asked; a checkpoint reloads without the file; the hash is in the records."""

from __future__ import annotations

import gzip

import pytest
import torch

from lab.data import Vocabs
from lab.data.sentence import Sentence
from lab.data.vectors import file_sha256, read_vectors
from lab.models import ModelConfig
from lab.models.registry import build_tagger

GLOVE = "the 0.1 0.2 0.3 0.4\ndog 1.0 1.0 1.0 1.0\nCat 2.0 2.0 2.0 2.0\n"


def sentences():
    return [Sentence(["the", "dog", "sees", "cat"], ["DET", "NOUN", "VERB", "NOUN"])]


def test_glove_word2vec_and_gz_read_the_same(tmp_path) -> None:
    glove = tmp_path / "v.txt"
    glove.write_text(GLOVE)
    w2v = tmp_path / "v.w2v.txt"
    w2v.write_text("3 4\n" + GLOVE)
    gz = tmp_path / "v.txt.gz"
    with gzip.open(gz, "wt") as f:
        f.write(GLOVE)
    for path in (glove, w2v, gz):
        vectors = read_vectors(path, dim=4)
        assert vectors.words == ("the", "dog", "Cat") and vectors.dim == 4
        assert vectors.sha256 == file_sha256(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("the 0.1 0.2 0.3 0.4\ndog 1.0 1.0 1.0\n", "v.txt:2: expected a word and 4 numbers, got 3"),
        ("the 0.1 0.2 0.3 x\n", "v.txt:1: not a number"),
        ("the 0.1 0.2 0.3 nan\n", "v.txt:1: a non-finite value"),
        ("the 0.1 0.2 0.3\n", "v.txt:1: the file's vectors have 3 dimensions, the model's "
                              "embedding_dim is 4"),
        ("3 5\n" + GLOVE, "v.txt:1: the file's vectors have 5 dimensions"),
        ("\n", "v.txt: no vectors in the file"),
    ],
)  # fmt: skip
def test_bad_vector_files_name_the_line(tmp_path, text, message) -> None:
    path = tmp_path / "v.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        read_vectors(path, dim=4)


def test_embeddings_start_from_the_vectors_and_freeze(tmp_path) -> None:
    path = tmp_path / "v.txt"
    path.write_text(GLOVE)
    vocabs = Vocabs.build(sentences(), chars=False)
    config = ModelConfig(encoder="lstm", head="crf", embedding_dim=4, hidden=4,
                         vectors=str(path), freeze_vectors=True)  # fmt: skip
    torch.manual_seed(0)
    model = build_tagger(config, vocabs)
    weight = model.features.embedding.weight
    ids = vocabs.words.stoi
    assert torch.allclose(weight[ids["dog"]], torch.ones(4))
    assert torch.allclose(weight[ids["cat"] if "cat" in ids else ids["Cat"]], torch.full((4,), 2.0))
    torch.manual_seed(0)
    plain = build_tagger(ModelConfig(encoder="lstm", head="crf", embedding_dim=4, hidden=4), vocabs)
    # a word the file lacks keeps the draw it would have had without vectors
    assert torch.equal(weight[ids["sees"]], plain.features.embedding.weight[ids["sees"]])
    assert not weight.requires_grad
    with pytest.raises(ValueError, match="embedding_dim is 8"):
        build_tagger(ModelConfig(encoder="lstm", embedding_dim=8, vectors=str(path)), vocabs)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_tagger(ModelConfig(encoder="lstm", embedding_dim=4, vectors="absent.txt"), vocabs)


def test_a_checkpoint_reloads_without_the_vectors_file(tmp_path) -> None:
    from lab.training.checkpoint import load_checkpoint, save_checkpoint
    from lab.training.config import TrainConfig

    path = tmp_path / "v.txt"
    path.write_text(GLOVE)
    vocabs = Vocabs.build(sentences(), chars=False)
    config = ModelConfig(encoder="lstm", head="crf", embedding_dim=4, hidden=4, vectors=str(path))
    model = build_tagger(config, vocabs)
    save_checkpoint(tmp_path / "model.pt", model, config, TrainConfig(), vocabs)
    path.unlink()
    loaded = load_checkpoint(tmp_path / "model.pt")
    model_back = loaded[0] if isinstance(loaded, tuple) else loaded["model"]
    assert torch.equal(model_back.features.embedding.weight, model.features.embedding.weight)
