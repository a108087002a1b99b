import pytest
import torch

from probgen.runtime import ConfigError
from probgen.score2d import ConditionalScoreMLP, ScoreMLP, ScoreModel, VPSchedule, guided_score, sinusoidal_embedding


def test_sinusoidal_embedding():
    e = sinusoidal_embedding(torch.tensor([0.0, 0.5]), 8)
    assert e.shape == (2, 8)
    torch.testing.assert_close(e[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    torch.testing.assert_close(e.pow(2)[:, :4] + e.pow(2)[:, 4:], torch.ones(2, 4))


@pytest.mark.parametrize("time_embedding", ["sinusoidal", "scalar"])
@pytest.mark.parametrize("dim", [2, 3])
def test_score_mlp_shapes(time_embedding, dim):
    net = ScoreMLP(dim=dim, hidden=16, layers=2, time_embedding=time_embedding)
    x, t = torch.randn(5, dim), torch.rand(5)
    assert net(x, t).shape == (5, dim)
    assert net(x, torch.tensor(0.3)).shape == (5, dim)  # one time for the whole batch
    with pytest.raises(ValueError, match="unconditional"):
        net(x, t, torch.zeros(5, dtype=torch.long))


def test_score_model_parametrisations():
    sch = VPSchedule(K=10)
    net = ScoreMLP(hidden=8, layers=1)
    x = torch.randn(4, 2)
    f = net(x, torch.full((4,), 0.3))
    torch.testing.assert_close(ScoreModel(net, sch, "noise")(x, 3), -f / sch.sigmas[3].float())
    torch.testing.assert_close(ScoreModel(net, sch, "score")(x, torch.full((4,), 3)), f)
    with pytest.raises(ValueError, match="k = 0"):
        ScoreModel(net, sch, "noise")(x, 0)
    assert "sigmas" not in ScoreModel(net, sch).state_dict()  # the schedule comes from the config


def test_conditional_net_and_guidance():
    torch.manual_seed(0)
    net = ConditionalScoreMLP(n_classes=3, hidden=16, layers=2)
    model = ScoreModel(net, VPSchedule(K=10))
    x = torch.randn(6, 2)
    assert net.null_label == 3
    t = torch.full((6,), 0.4)
    torch.testing.assert_close(net(x, t), net(x, t, torch.full((6,), 3)))  # no labels means ∅
    cond, uncond = model(x, 4, 1), model(x, 4, 3)
    assert not torch.allclose(cond, uncond)
    torch.testing.assert_close(guided_score(model, 1, 0.0)(x, 4), cond)
    torch.testing.assert_close(guided_score(model, 1, -1.0)(x, 4), uncond)
    torch.testing.assert_close(guided_score(model, 1, 2.0)(x, 4), 3 * cond - 2 * uncond)
    with pytest.raises(ValueError, match="class-conditional"):
        guided_score(ScoreModel(ScoreMLP(hidden=4, layers=1), VPSchedule(K=10)), 0, 1.0)


@pytest.mark.parametrize("kwargs,word", [(dict(time_embedding="fourier"), "time_embedding"), (dict(hidden=0), "hidden"),
                                         (dict(embedding_dim=7), "embedding_dim"), (dict(n_classes=0), "n_classes")])
def test_bad_net_arguments(kwargs, word):
    with pytest.raises(ConfigError, match=word):
        ScoreMLP(**kwargs)
