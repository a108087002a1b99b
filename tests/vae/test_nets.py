import pytest
import torch

from probgen.vae import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder, VAETrainConfig, architecture_table, build_vae


@pytest.mark.parametrize("enc_cls, dec_cls", [(MLPEncoder, MLPDecoder), (ConvEncoder, ConvDecoder)])
def test_encoder_decoder_shapes(enc_cls, dec_cls):
    enc, dec = enc_cls(latent_dim=5, hidden=(16,)), dec_cls(latent_dim=5, hidden=(16,))
    for batch in (1, 3):
        mean, log_var = enc(torch.zeros(batch, 1, 28, 28))
        assert mean.shape == log_var.shape == (batch, 5)
        assert dec(mean).shape == (batch, 1, 28, 28)


def test_conv_nets_refuse_sizes_they_cannot_halve_twice():
    with pytest.raises(ValueError, match="divisible by 4"):
        ConvEncoder(latent_dim=2, input_shape=(1, 30, 30))


def test_architecture_table_of_the_reference_mlp():
    enc = MLPEncoder(latent_dim=32, hidden=(512, 512))
    table = architecture_table(enc)
    linear = table[table["type"] == "Linear"]
    assert list(linear["input"]) == ["784", "512", "512"] and list(linear["output"]) == ["512", "512", "64"]
    assert list(linear["parameters"]) == [784 * 512 + 512, 512 * 512 + 512, 512 * 64 + 64]
    total = table.iloc[-1]
    assert total["layer"] == "total" and total["parameters"] == sum(p.numel() for p in enc.parameters())


@pytest.mark.parametrize("prior", ["gaussian", "mog", "flow", "vamp"])
@pytest.mark.parametrize("encoder", ["mlp", "conv"])
def test_architecture_table_of_a_whole_vae(prior, encoder):
    model = build_vae(VAETrainConfig(prior=prior, encoder=encoder, latent_dim=4, hidden=(16,), flow_hidden=8,
                                     n_components=3))
    table = architecture_table(model)
    body, total = table.iloc[:-1], table.iloc[-1]
    assert total["parameters"] == sum(p.numel() for p in model.parameters()) == body["parameters"].sum()
    assert table["layer"].str.startswith("encoder").any() and table["layer"].str.startswith("decoder").any()
    assert (body.loc[body["layer"].str.startswith("encoder"), "output"] != "").all()  # shapes from a real pass
    assert body.loc[body["layer"].str.startswith("decoder"), "output"].iloc[-1] == "1×28×28"


def test_architecture_table_without_an_example_input():
    table = architecture_table(torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Tanh()))
    assert list(table["parameters"]) == [8, 0, 8] and (table["output"] == "").all()
