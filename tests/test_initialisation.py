"""Gate and recurrent initialisations (lab.models.initialisation): each sets the
parameters it names, in every layer and direction, and nothing else."""

from __future__ import annotations

import math

import pytest
import torch

from lab.models import ModelConfig, build_model
from lab.models.config import parse_gate_init

H = 6


def encoder(encoder: str, **kwargs):
    torch.manual_seed(0)
    config = ModelConfig(encoder=encoder, hidden=H, embedding_dim=5, layers=2,
                         bidirectional=True, **kwargs)  # fmt: skip
    return build_model(config, 20, 4).encoder


def torch_biases(module):
    """Per (layer, direction): the summed gate biases b_ih + b_hh."""
    rnn = module.rnn
    out = {}
    for layer in range(rnn.num_layers):
        for suffix in ("", "_reverse"):
            ih = getattr(rnn, f"bias_ih_l{layer}{suffix}")
            hh = getattr(rnn, f"bias_hh_l{layer}{suffix}")
            out[(layer, suffix)] = (ih + hh).detach()
    return out


def test_lstm_forget_bias_constant_in_every_layer_and_direction():
    default = torch_biases(encoder("lstm"))
    biased = torch_biases(encoder("lstm", gate_init="bias:1"))
    assert len(biased) == 4
    for key, total in biased.items():
        assert torch.allclose(total[H : 2 * H], torch.ones(H))  # f of (i, f, g, o)
        # the other gates keep torch's draw
        torch.testing.assert_close(total[2 * H :], default[key][2 * H :])


def test_lstm_chrono_spreads_forget_biases_and_negates_the_input_gate():
    tmax = 100
    for total in torch_biases(encoder("lstm", gate_init=f"chrono:{tmax}")).values():
        forget, inputs = total[H : 2 * H], total[:H]
        assert bool((forget >= 0).all() and (forget <= math.log(tmax - 1) + 1e-6).all())
        torch.testing.assert_close(inputs, -forget)
        assert float(forget.std()) > 0  # drawn, not constant


def test_gru_update_gate_bias():
    for total in torch_biases(encoder("gru", gate_init="bias:2")).values():
        assert torch.allclose(total[H : 2 * H], torch.full((H,), 2.0))  # z of (r, z, n)


def test_lecture_gated_cell_lambda_bias():
    module = encoder("gated", gate_init="bias:1.5")
    for cells in module.layers:
        for cell in cells:
            bias = cell.input_proj.bias.detach()
            assert torch.allclose(bias[H:], torch.full((H,), 1.5))  # [b; b'], b' = lambda's


@pytest.mark.parametrize("kind", ["elman", "residual", "gated", "lstm", "gru"])
def test_orthogonal_and_identity_recurrent_blocks(kind):
    for how in ("orthogonal", "identity"):
        module = encoder(kind, recurrent_init=how)
        weights = (
            [c.recurrent for cells in module.layers for c in cells]
            if hasattr(module, "layers")
            else [p for n, p in module.rnn.named_parameters() if n.startswith("weight_hh")]
        )
        assert weights
        for weight in weights:
            for block in weight.detach().split(H, dim=0):
                expected = torch.eye(H)
                got = block @ block.T if how == "orthogonal" else block
                torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_default_leaves_torch_draw_untouched():
    from lab.models.encoders import TorchRecurrentEncoder, build_encoder

    torch.manual_seed(0)
    plain = TorchRecurrentEncoder("lstm", 5, H, layers=2, bidirectional=True)
    torch.manual_seed(0)
    built = build_encoder("lstm", 5, H, layers=2, bidirectional=True)
    for (name, a), (_, b) in zip(plain.named_parameters(), built.named_parameters(),
                                 strict=True):  # fmt: skip
        assert torch.equal(a, b), name


def test_bad_initialisations_are_refused_by_name():
    with pytest.raises(ValueError, match="encoder 'elman' has no gate"):
        ModelConfig(encoder="elman", gate_init="bias:1")
    with pytest.raises(ValueError, match="expected 'default', 'bias:B'"):
        ModelConfig(encoder="lstm", gate_init="forget")
    with pytest.raises(ValueError, match="TMAX >= 2"):
        ModelConfig(encoder="lstm", gate_init="chrono:1")
    with pytest.raises(ValueError, match="unknown recurrent_init"):
        ModelConfig(encoder="lstm", recurrent_init="xavier")
    with pytest.raises(ValueError, match="has no recurrence"):
        ModelConfig(encoder="bow", recurrent_init="orthogonal")
    assert parse_gate_init("chrono:50") == ("chrono", 50.0)


def test_initialisation_is_saved_with_the_model_config():
    config = ModelConfig(encoder="gru", gate_init="bias:1", recurrent_init="orthogonal")
    assert ModelConfig.from_dict(config.to_dict()) == config
    # an older checkpoint's config, without the fields, loads as torch's default
    old = {k: v for k, v in config.to_dict().items() if k not in ("gate_init", "recurrent_init")}
    assert ModelConfig.from_dict(old).gate_init == "default"
