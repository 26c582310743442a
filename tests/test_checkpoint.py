"""Checkpoints round-trip; corrupt, foreign and mismatched files raise clear errors."""

from __future__ import annotations

import json

import pytest
import torch

from lab.data import Vocabs, synthetic_hmm
from lab.models import ModelConfig, build_model
from lab.seeding import seed_everything
from lab.training.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from lab.training.config import TrainConfig
from lab.training.evaluate import evaluate
from lab.training.fit import fit


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small BiLSTM-CRF with char features, fitted with out_dir (saves model.pt)."""
    train, _ = synthetic_hmm(120, seed=1)
    dev, _ = synthetic_hmm(40, seed=2)
    vocabs = Vocabs.build(train, chars=True)
    seed_everything(0)
    config = ModelConfig(head="crf", embedding_dim=16, hidden=16, char_features=True, char_dim=8)
    model = build_model(
        config, len(vocabs.words), len(vocabs.tags), len(vocabs.chars), vocabs.tags.names
    )
    out = tmp_path_factory.mktemp("run")
    train_config = TrainConfig(lr=1e-2, max_epochs=2, progress=False, device="cpu")
    result = fit(model, train, dev, train_config, vocabs=vocabs, out_dir=out)
    return model, vocabs, config, train_config, result, out, dev


def test_fit_saves_a_checkpoint_that_round_trips(trained):
    model, vocabs, config, train_config, result, out, dev = trained
    assert result.checkpoint == str(out / "model.pt")
    assert json.loads((out / "fit.json").read_text())["best_epoch"] == result.best_epoch
    loaded, loaded_vocabs, configs = load_checkpoint(out / "model.pt")
    assert configs["model"] == config
    assert configs["train"] == train_config
    assert loaded_vocabs == vocabs
    assert not loaded.training
    for (k, v), (k2, v2) in zip(
        model.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        assert k == k2 and torch.equal(v, v2)
    assert evaluate(loaded, dev, loaded_vocabs)["token_accuracy"] == pytest.approx(
        result.best_dev_metric
    )


def test_save_then_load_keeps_extra(trained, tmp_path):
    model, vocabs, config, train_config, *_ = trained
    path = save_checkpoint(tmp_path / "a" / "m.pt", model, config, None, vocabs, {"note": 1})
    _, _, configs = load_checkpoint(path)
    assert configs["train"] is None and configs["extra"] == {"note": 1}


def test_corrupt_checkpoint_raises_naming_the_file(trained, tmp_path):
    _, _, _, _, _, out, _ = trained
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint" * 10)
    with pytest.raises(ValueError, match="garbage.pt: not a readable lab checkpoint"):
        load_checkpoint(garbage)
    truncated = tmp_path / "truncated.pt"
    data = (out / "model.pt").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated.pt"):
        load_checkpoint(truncated)
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        load_checkpoint(tmp_path / "absent.pt")


class NotPlainData:
    pass


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "object.pt"
    torch.save({"format": "lab-checkpoint", "payload": NotPlainData()}, path)
    with pytest.raises(ValueError, match="object.pt: not a readable lab checkpoint"):
        read_checkpoint(path)


def test_foreign_or_incomplete_files_raise(tmp_path):
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(ValueError, match="foreign.pt: not a lab checkpoint"):
        read_checkpoint(foreign)
    incomplete = tmp_path / "incomplete.pt"
    torch.save({"format": "lab-checkpoint", "version": 1}, incomplete)
    with pytest.raises(ValueError, match=r"incomplete.pt: checkpoint lacks \['state_dict'"):
        read_checkpoint(incomplete)


def test_mismatched_weights_raise(trained, tmp_path):
    model, vocabs, config, *_ = trained
    path = save_checkpoint(tmp_path / "m.pt", model, config, None, vocabs)
    payload = torch.load(path, weights_only=True)
    # one word more in the vocabulary than the embedding has rows
    payload["vocabs"]["words"]["itos"].append("brand-new-word")
    torch.save(payload, path)
    with pytest.raises(ValueError, match=r"m.pt: weights do not match.*shape mismatches"):
        load_checkpoint(path)
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    payload["model_config"]["head"] = "softmax"
    payload["vocabs"]["words"]["itos"].pop()
    torch.save(payload, path)
    with pytest.raises(ValueError, match="missing tensors|unexpected tensors"):
        load_checkpoint(path)
    payload["model_config"]["encoder"] = "transformer"
    torch.save(payload, path)
    with pytest.raises(ValueError, match="m.pt: invalid config"):
        load_checkpoint(path)


class RunsCode:
    """Unpickling this calls os.mkdir(path): code run by merely loading a file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        import os

        return (os.mkdir, (self.path,))


def test_a_pickle_that_runs_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save({"format": "lab-checkpoint", "x": RunsCode(str(marker))}, path)
    with pytest.raises(ValueError, match="evil.pt: not a readable lab checkpoint"):
        read_checkpoint(path)
    assert not marker.exists()
