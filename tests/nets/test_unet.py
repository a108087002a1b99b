"""The U-Net: shapes for several configs, zero output at initialisation, time and label conditioning, validation."""

import pytest
import torch

from probgen.nets import NULL_LABEL, UNet, UNetConfig, sinusoidal_embedding, unet_summary
from probgen.nets.unet import COND_MODES
from probgen.runtime import ConfigError

from ..tolerances import rounding_tol

TINY = dict(base_channels=8, groups=4, heads=2, channel_mults=(1, 2))
# Rounding noise of a whole float32 U-Net forward pass, in units of eps·max|output|: ~20 layers (convolutions, group
# norms, attention) each re-round sums whose order depends on the kernel and layout. Measured ≈ 10 on AVX-512, AVX2
# and scalar kernels; 100 leaves room for other vector units, and a real difference (a wrong permute, a dropped
# input) is of the order of the output itself.
UNET_ROUNDING_OPS = 100


def unet(seed=0, **kwargs):
    torch.manual_seed(seed)
    return UNet(**{**TINY, **kwargs})


def randomise(net, seed=1):
    """Redraw every weight (the zero-initialised ones included), so the output depends on every input."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if p.ndim > 1:
                p.normal_(0, 0.3 / p[0].numel() ** 0.5)
            elif "norm" not in name:
                p.normal_(0, 0.05)
    return net


def batch(n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 28, 28, generator=g), torch.tensor([0.0, 10.0, 999.0][:n])


@pytest.mark.parametrize("kwargs", [
    {},
    {"patch_size": 2},
    {"channel_mults": (1, 2, 2), "attention_resolutions": (14, 7)},
    {"patch_size": 2, "attention_resolutions": (14, 7)},
    {"attention_resolutions": ()},
    {"n_classes": 3, "cond_mode": "add"},
    {"n_classes": 3, "cond_mode": "cross_attention", "context_tokens": 2, "patch_size": 2},
    {"n_classes": 3, "cond_mode": "input_channels"},
    {"n_classes": 3, "cond_mode": "input_channels", "patch_size": 2},
    {"num_res_blocks": 2, "in_channels": 2},
])
def test_output_shape_and_zero_at_initialisation(kwargs):
    net = unet(**kwargs)
    c = net.cfg.in_channels
    x, t = torch.randn(3, c, 28, 28), torch.tensor([0.0, 5.0, 19.0])
    y = torch.tensor([0, 2, NULL_LABEL]) if net.cfg.n_classes else None
    out = net(x, t, y)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.count_nonzero(out) == 0  # the output conv is zero-initialised
    out = randomise(net)(x, t, y)
    assert out.shape == x.shape and torch.isfinite(out).all() and out.abs().max() > 0


def test_resolutions():
    assert UNetConfig().resolutions == (28, 14, 7)
    assert UNetConfig(channel_mults=(1, 2), patch_size=2).resolutions == (14, 7)


@pytest.mark.parametrize("cond_mode", COND_MODES)
def test_after_a_few_steps_the_output_depends_on_t_and_y(cond_mode):
    """Zero-initialised output and residual convolutions make the initial network constant in t and y; one Adam
    step only moves the output conv (the others get zero gradient through it), so t and y reach the output from
    the second step on. Three steps suffice."""
    net = unet(n_classes=3, cond_mode=cond_mode)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x, t = batch(3)
    y = torch.tensor([0, 1, 2])
    for _ in range(3):
        opt.zero_grad()
        (net(x, t, y) - x).pow(2).mean().backward()
        opt.step()
    with torch.no_grad():
        xx = x[:1].expand(2, -1, -1, -1)
        by_t = net(xx, torch.tensor([1.0, 500.0]), torch.tensor([1, 1]))
        by_y = net(xx, torch.tensor([7.0, 7.0]), torch.tensor([0, 2]))
    # more than rounding noise: two rows of one batch may go through different vector lanes on another CPU
    noise = rounding_tol(torch.float32, by_t.abs().max().item(), UNET_ROUNDING_OPS)  # ~2e-5; the effects are ≥ 3e-4
    assert (by_t[0] - by_t[1]).abs().max() > noise
    assert (by_y[0] - by_y[1]).abs().max() > noise


@pytest.mark.parametrize("cond_mode", COND_MODES)
def test_null_label_and_none_agree_and_labels_are_checked(cond_mode):
    net = randomise(unet(n_classes=3, cond_mode=cond_mode))
    x, t = batch(3)
    with torch.no_grad():
        torch.testing.assert_close(net(x, t, torch.full((3,), NULL_LABEL)), net(x, t, None), rtol=0, atol=0)
        assert not torch.allclose(net(x, t, torch.tensor([0, 0, 0])), net(x, t, None))
        torch.testing.assert_close(net(x, t, torch.tensor(2)), net(x, t, torch.tensor([2, 2, 2])))  # broadcast
    for bad in ([0, 3, 1], [-2, 0, 0]):
        with pytest.raises(ValueError, match="labels must be in 0..2"):
            net(x, t, torch.tensor(bad))


def _unconditional_twin(net: UNet, state: dict) -> UNet:
    """An unconditional U-Net of the same shape as `net`, loaded (strictly) with `state`."""
    twin = UNet(net.cfg.replace(n_classes=None))
    twin.load_state_dict(state)
    return twin


@pytest.mark.parametrize("patch_size", [1, 2])
def test_input_channels_with_the_null_label_is_the_unconditional_unet(patch_size):
    """The null label is k zero maps, so the stem's label weights multiply zeros: the conditional network at ∅ is
    an unconditional U-Net with the image part of the stem. A real label adds the stem's label-c filter."""
    net = randomise(unet(n_classes=3, cond_mode="input_channels", patch_size=patch_size))
    pixels = patch_size**2
    assert net.stem[1].in_channels == pixels + 3
    state = net.state_dict()
    state["stem.1.weight"] = state["stem.1.weight"][:, :pixels]  # (ch, p² + k, 3, 3) -> (ch, p², 3, 3)
    twin = _unconditional_twin(net, state)
    x, t = batch(3)
    with torch.no_grad():
        null = net(x, t, torch.full((3,), NULL_LABEL))
        plain = twin(x, t)
        labelled = net(x, t, torch.tensor([0, 1, 2]))
    torch.testing.assert_close(null, plain, rtol=0, atol=rounding_tol(torch.float32, plain.abs().max().item(),
                                                                     UNET_ROUNDING_OPS))
    assert ((labelled - plain).abs().flatten(1).amax(1) > 0.01 * plain.abs().max()).all()  # every row moved


def test_add_with_a_zero_null_embedding_is_the_unconditional_unet():
    """"add" shifts the time embedding by the class's row; a zero null row leaves the unconditional network."""
    net = randomise(unet(n_classes=3, cond_mode="add"))
    with torch.no_grad():
        net.class_emb.weight[3].zero_()  # row k = 3 is the null label
    state = {k: v for k, v in net.state_dict().items() if not k.startswith("class_emb")}
    twin = _unconditional_twin(net, state)
    x, t = batch(3)
    with torch.no_grad():
        plain = twin(x, t)
        torch.testing.assert_close(net(x, t, None), plain, rtol=0,
                                   atol=rounding_tol(torch.float32, plain.abs().max().item(), UNET_ROUNDING_OPS))
        assert (net(x, t, torch.tensor([0, 1, 2])) - plain).abs().max() > 0.01 * plain.abs().max()


def test_cross_attention_starts_as_the_unconditional_unet():
    """The cross-attention block is residual with a zero-initialised output projection, so whatever the tokens,
    the network starts as the unconditional one; after randomising that projection the label matters."""
    net = randomise(unet(n_classes=3, cond_mode="cross_attention"))
    with torch.no_grad():
        net.mid_cross.out.weight.zero_()
        net.mid_cross.out.bias.zero_()
    state = {k: v for k, v in net.state_dict().items() if not k.startswith(("class_emb", "mid_cross"))}
    twin = _unconditional_twin(net, state)
    x, t = batch(3)
    with torch.no_grad():
        plain = twin(x, t)
        for y in (None, torch.tensor([0, 1, 2])):
            torch.testing.assert_close(net(x, t, y), plain, rtol=0, atol=0)  # the same operations, bit for bit
        randomise(net.mid_cross, seed=3)
        assert (net(x, t, torch.tensor([0, 1, 2])) - plain).abs().max() > 0.01 * plain.abs().max()


@pytest.mark.parametrize("cond_mode", COND_MODES)
def test_gradients_reach_the_conditioning_parameters_of_the_labels_used(cond_mode):
    """The loss's gradient reaches the label's parameters: the embedding rows (add, cross-attention) or the stem's
    label filters (input channels) of exactly the labels in the batch, the null one included where it is learned."""
    net = randomise(unet(n_classes=4, cond_mode=cond_mode))
    x, t = batch(3)
    y = torch.tensor([0, 2, NULL_LABEL])
    (net(x, t, y) - x).pow(2).mean().backward()
    if cond_mode == "input_channels":
        grad = net.stem[1].weight.grad[:, 1:]  # (ch, k, 3, 3): the label maps' filters
        per_label = grad.abs().transpose(0, 1).flatten(1).amax(1)  # (k,)
        used = torch.tensor([True, False, True, False])  # the null label has no filter: it is zeros
    else:
        per_label = net.class_emb.weight.grad.abs().amax(1)  # (k + 1,)
        used = torch.tensor([True, False, True, False, True])  # row 4 = k is the null label
        if cond_mode == "cross_attention":
            assert net.mid_cross.kv.weight.grad.abs().max() > 0
    assert (per_label[used] > 0).all()
    assert (per_label[~used] == 0).all()


def test_label_parameters_count_what_only_the_label_uses():
    """Counted against the unconditional twin: a conditional U-Net has exactly label_parameters() more."""
    plain = sum(p.numel() for p in unet().parameters())
    assert unet().label_parameters() == 0
    for mode, expected in (("add", 4 * 32), ("cross_attention", None), ("input_channels", 8 * 3 * 9)):
        net = unet(n_classes=3, cond_mode=mode)
        assert net.label_parameters() == sum(p.numel() for p in net.parameters()) - plain
        if expected is not None:  # (k + 1) rows of the 4·8-wide embedding; 8 filters of 3 maps, 3 × 3
            assert net.label_parameters() == expected


def test_summary_names_the_label_maps():
    table = unet_summary(unet(n_classes=3, cond_mode="input_channels", patch_size=2))
    assert "3 one-hot label maps" in table.set_index("stage").loc["stem", "contents"]
    assert "class embedding" not in set(table["stage"])
    assert table["parameters"].iloc[-1] == sum(p.numel() for p in unet(n_classes=3, cond_mode="input_channels",
                                                                       patch_size=2).parameters())


def test_unconditional_unet_refuses_real_labels_but_accepts_null():
    net = randomise(unet())
    x, t = batch(2)
    with pytest.raises(ValueError, match="unconditional"):
        net(x, t, torch.tensor([0, NULL_LABEL]))
    torch.testing.assert_close(net(x, t, torch.full((2,), NULL_LABEL)), net(x, t))


def test_wrong_input_shape_raises():
    net = unet()
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        net(torch.zeros(2, 1, 14, 14), torch.zeros(2))
    with pytest.raises(ValueError, match="U-Net takes"):
        net(torch.zeros(2, 3, 28, 28), torch.zeros(2))
    with pytest.raises(ValueError, match="U-Net takes"):
        net(torch.zeros(2, 784), torch.zeros(2))


def test_scalar_time_broadcasts_and_time_scale_is_applied():
    net = randomise(unet())
    x, _ = batch(2)
    with torch.no_grad():
        torch.testing.assert_close(net(x, torch.tensor(3.0)), net(x, torch.tensor([3.0, 3.0])))
        scaled = randomise(unet(time_scale=1000.0))
        torch.testing.assert_close(scaled(x, torch.tensor([0.25, 0.5])), net(x, torch.tensor([250.0, 500.0])))


@pytest.mark.parametrize("kwargs", [{}, {"patch_size": 2, "n_classes": 3, "cond_mode": "cross_attention"},
                                    {"patch_size": 2, "n_classes": 3, "cond_mode": "input_channels"}])
def test_channels_last_gives_the_same_output(kwargs):
    net = randomise(unet(**kwargs))
    x, t = batch(3)
    y = torch.tensor([0, 1, NULL_LABEL]) if "n_classes" in kwargs else None
    with torch.no_grad():
        a = net(x, t, y)
        b = net.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last), t, y)
    torch.testing.assert_close(b, a, rtol=0, atol=rounding_tol(torch.float32, a.abs().max().item(), UNET_ROUNDING_OPS))


@pytest.mark.parametrize("kwargs,words", [
    ({"base_channels": 8, "groups": 3}, "groups=3"),
    ({"base_channels": 8, "groups": 16, "channel_mults": (2, 3)}, "groups=16.*base_channels=8"),
    ({"image_size": 28, "channel_mults": (1, 2, 2, 2)}, "halved"),
    ({"image_size": 28, "patch_size": 2, "channel_mults": (1, 2, 2)}, "halved"),
    ({"image_size": 28, "patch_size": 3}, "patch_size"),
    ({"cond_mode": "concat"}, "cond_mode"),
    ({"n_classes": 0}, "n_classes"),
    ({"num_res_blocks": 0}, "num_res_blocks"),
    ({"channel_mults": ()}, "channel_mult"),
    ({"channel_mults": (1, 0)}, "channel_mult"),
])
def test_bad_configs_raise(kwargs, words):
    with pytest.raises(ConfigError, match=words):
        UNetConfig(**kwargs)


def test_bad_heads_and_unknown_keys_raise():
    with pytest.raises(ConfigError, match="heads=3"):
        UNet(**{**TINY, "heads": 3})
    with pytest.raises(ConfigError, match="unknown"):
        UNet(base_channel=8)


def test_groups_must_divide_the_stem_width():
    with pytest.raises(ConfigError, match="groups"):
        UNet(base_channels=12, groups=8, heads=4, channel_mults=(2, 4))


def test_sinusoidal_embedding():
    t = torch.tensor([0.0, 1.0, 250.0])
    emb = sinusoidal_embedding(t, 16)
    assert emb.shape == (3, 16) and emb.dtype == torch.float32
    torch.testing.assert_close(emb[0, :8], torch.ones(8))  # cos(0) = 1
    torch.testing.assert_close(emb[0, 8:], torch.zeros(8))  # sin(0) = 0
    # ω_0 = 1: the first frequency is t itself, so the argument 250·ω_0 is exact and only the two float32 cos (sin)
    # evaluations round: a few ulp each of a value ≤ 1 with any libm or vector unit
    tol = rounding_tol(torch.float32, 1.0, ops=8)
    assert emb[2, 0].item() == pytest.approx(torch.cos(torch.tensor(250.0)).item(), abs=tol)
    assert emb[1, 8].item() == pytest.approx(torch.sin(torch.tensor(1.0)).item(), abs=tol)
    assert emb.abs().max() <= 1.0
    assert sinusoidal_embedding(t.double(), 4).dtype == torch.float32
    with pytest.raises(ConfigError, match="even"):
        sinusoidal_embedding(t, 7)
