"""TimeMLP: the (B, D) noise predictor of the 2-D models."""

import pytest
import torch

from probgen.nets import NULL_LABEL, TimeMLP, TimeMLPConfig
from probgen.runtime import ConfigError


def mlp(seed=0, **kwargs):
    torch.manual_seed(seed)
    return TimeMLP(**{"dim": 2, "hidden": 16, "layers": 2, "time_dim": 8, **kwargs})


@pytest.mark.parametrize("dim,layers", [(2, 1), (2, 3), (5, 2)])
def test_shapes(dim, layers):
    net = mlp(dim=dim, layers=layers)
    x = torch.randn(7, dim)
    out = net(x, torch.arange(7.0))
    assert out.shape == (7, dim) and torch.isfinite(out).all()
    assert len(net.hidden) == layers
    torch.testing.assert_close(net(x, torch.tensor(3.0)), net(x, torch.full((7,), 3.0)))  # scalar t broadcasts


def test_output_depends_on_time_and_time_scale():
    net = mlp()
    x = torch.randn(1, 2).expand(2, 2)
    with torch.no_grad():
        out = net(x, torch.tensor([0.0, 50.0]))
        assert not torch.allclose(out[0], out[1])
        scaled = mlp(time_scale=1000.0)
        torch.testing.assert_close(scaled(x, torch.tensor([0.0, 0.05])), out)


def test_conditioning():
    net = mlp(n_classes=3)
    x, t = torch.randn(1, 2).expand(4, 2), torch.full((4,), 5.0)
    with torch.no_grad():
        out = net(x, t, torch.tensor([0, 1, 2, NULL_LABEL]))
        assert len({tuple(row.tolist()) for row in out}) == 4  # every class, and the null one, differ
        torch.testing.assert_close(net(x, t, torch.full((4,), NULL_LABEL)), net(x, t, None), rtol=0, atol=0)
    assert net.class_emb.num_embeddings == 4 and mlp().class_emb is None


def test_wrong_input_shape_raises():
    net = mlp()
    with pytest.raises(ValueError, match=r"\(B, 2\)"):
        net(torch.zeros(3, 3), torch.zeros(3))
    with pytest.raises(ValueError, match="TimeMLP takes"):
        net(torch.zeros(3), torch.zeros(3))


@pytest.mark.parametrize("key,value", [("dim", 0), ("hidden", 0), ("layers", 0), ("time_dim", -2)])
def test_config_rejects_bad_values(key, value):
    with pytest.raises(ConfigError, match=key):
        TimeMLPConfig(**{key: value})


def test_odd_time_dim_and_unknown_keys_raise():
    with pytest.raises(ConfigError, match="even"):
        mlp(time_dim=7)(torch.zeros(1, 2), torch.zeros(1))
    with pytest.raises(ConfigError, match="unknown"):
        TimeMLP(width=3)


@pytest.mark.parametrize("case", ["unconditional", "too_big", "too_small"])
def test_labels_are_checked_like_the_unet(case):
    x, t = torch.zeros(2, 2), torch.zeros(2)
    if case == "unconditional":
        net, y = mlp(), torch.tensor([0, 1])
    else:
        net, y = mlp(n_classes=3), torch.tensor([3, 0] if case == "too_big" else [-2, 0])
    with pytest.raises(ValueError, match="labels|unconditional"):
        net(x, t, y)
