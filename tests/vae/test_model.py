import math

import pytest
import torch

from probgen.vae import VAE, BernoulliLikelihood, GaussianLikelihood, MixtureOfGaussiansPrior, gaussian_kl_to_standard

from .helpers import PRIOR_NAMES, binary_images, tiny_vae


def _draws(fn, x, n):
    """n independent evaluations of fn(batch) -> (B,) on the images x (B, ...), as (n, B), in one batch."""
    with torch.no_grad():
        return fn(x.repeat(n, *([1] * (x.dim() - 1)))).reshape(n, x.shape[0])  # (n*B, ...) -> (n, B)


def _within(a, b, n_se=4.0):
    """Means over the first axis of two (n, B) draws agree within n_se standard errors, per image."""
    se = torch.sqrt(a.var(0) / a.shape[0] + b.var(0) / b.shape[0])
    return bool(((a.mean(0) - b.mean(0)).abs() < n_se * se + 1e-9).all())


def test_analytic_kl_is_the_closed_form():
    mean, log_var = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    q = torch.distributions.Normal(mean, torch.exp(0.5 * log_var))
    p = torch.distributions.Normal(torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64))
    torch.testing.assert_close(gaussian_kl_to_standard(mean, log_var), torch.distributions.kl_divergence(q, p).sum(-1))


def test_monte_carlo_kl_agrees_with_analytic_kl_for_the_gaussian_prior():
    model = tiny_vae("gaussian").double()
    x = binary_images(4).double()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        analytic = model.elbo_terms(x, g)["kl"]
    assert model.uses_analytic_kl
    model.analytic_kl = False
    n = 4000
    mc = _draws(lambda xs: model.elbo_terms(xs, g)["kl"], x, n)
    se = mc.std(0) / math.sqrt(n)
    assert ((mc.mean(0) - analytic).abs() < 4 * se).all()
    assert (mc.std(0) > 0).all()  # really a Monte-Carlo estimate


def test_analytic_kl_refused_for_other_priors():
    with pytest.raises(ValueError, match="StandardGaussianPrior"):
        tiny_vae("mog", analytic_kl=True)
    assert not tiny_vae("mog").uses_analytic_kl


def test_iwae_with_one_sample_is_the_single_sample_elbo():
    model = tiny_vae("flow").double()
    x = binary_images(5).double()
    with torch.no_grad():
        elbo = model.elbo(x, torch.Generator().manual_seed(3))
        iwae = model.iwae_bound(x, 1, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(iwae, elbo)  # same noise, same z: identical


def test_iwae_k1_equals_analytic_elbo_in_expectation():
    model = tiny_vae("gaussian").double()
    x = binary_images(3).double()
    g = torch.Generator().manual_seed(1)
    elbo = _draws(lambda xs: model.elbo(xs, g), x, 3000)  # analytic KL
    iwae = _draws(lambda xs: model.iwae_bound(xs, 1, generator=g), x, 3000)
    assert _within(elbo, iwae)


@pytest.mark.parametrize("prior", ["gaussian", "mog"])
def test_iwae_grows_with_k(prior):
    model = tiny_vae(prior).double()
    x = binary_images(4).double()
    g = torch.Generator().manual_seed(0)
    means = [_draws(lambda xs: model.iwae_bound(xs, k, chunk=50, generator=g), x, 20).mean() for k in (1, 10, 100)]
    assert means[0] < means[1] < means[2]


def test_iwae_k1000_runs_in_chunks():
    model = tiny_vae("mog")
    x = binary_images(2)
    with torch.no_grad():
        out = model.iwae_bound(x, 1000, chunk=128, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2,) and torch.isfinite(out).all()


@pytest.mark.parametrize("nets", ["mlp", "conv"])
@pytest.mark.parametrize("prior", PRIOR_NAMES)
@pytest.mark.parametrize("batch", [1, 7])
def test_shapes(prior, nets, batch):
    model = tiny_vae(prior, nets, latent_dim=3)
    x = binary_images(batch)
    g = torch.Generator().manual_seed(0)
    mean, log_var = model.encode(x)
    assert mean.shape == log_var.shape == (batch, 3)
    terms = model.elbo_terms(x, g)
    assert set(terms) == {"elbo", "reconstruction", "kl"} and all(v.shape == (batch,) for v in terms.values())
    torch.testing.assert_close(terms["elbo"], terms["reconstruction"] - terms["kl"])
    assert model.elbo(x).shape == (batch,) and model.loss(x).shape == ()
    assert model.iwae_bound(x, 5, chunk=2, generator=g).shape == (batch,)
    assert model.reconstruct(x).shape == x.shape
    assert model.decode(mean).shape == (batch, 1, 28, 28)
    samples = model.sample(batch, generator=g)
    assert samples.shape == (batch, 1, 28, 28) and ((samples >= 0) & (samples <= 1)).all()


def test_loss_gradients_reach_every_parameter():
    for prior in PRIOR_NAMES:
        model = tiny_vae(prior)
        model.loss(binary_images(4)).backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None]
        # None means cut off from the loss; zero gradients (a fresh flow's inner layers) are fine.
        assert not missing, (prior, missing)


@pytest.mark.parametrize("prior", PRIOR_NAMES)
def test_sample_reproducible_with_the_same_generator(prior):
    model = tiny_vae(prior)
    with torch.no_grad():
        a = model.sample(6, generator=torch.Generator().manual_seed(11))
        b = model.sample(6, generator=torch.Generator().manual_seed(11))
    assert torch.equal(a, b)


def test_beta_weights_the_kl_in_the_loss():
    model = tiny_vae("mog")
    x = binary_images(5)
    terms = model.elbo_terms(x, torch.Generator().manual_seed(0))
    model.beta = 0.25
    loss = model.loss(x, torch.Generator().manual_seed(0))
    torch.testing.assert_close(loss, -(terms["reconstruction"] - 0.25 * terms["kl"]).mean())


def test_bernoulli_likelihood_matches_torch_distributions():
    logits = torch.randn(3, 1, 4, 4, dtype=torch.float64)
    x = (torch.rand(3, 1, 4, 4) < 0.5).double()
    expected = torch.distributions.Bernoulli(logits=logits).log_prob(x).flatten(1).sum(-1)
    torch.testing.assert_close(BernoulliLikelihood().log_prob(x, logits), expected)


@pytest.mark.parametrize("squash", [None, "sigmoid", "tanh"])
def test_gaussian_likelihood_matches_torch_distributions(squash):
    lik = GaussianLikelihood(0.3, learn_std=True, squash=squash).double()
    params = torch.randn(3, 1, 4, 4, dtype=torch.float64)
    x = torch.rand(3, 1, 4, 4, dtype=torch.float64)
    expected = torch.distributions.Normal(lik.mean(params), 0.3).log_prob(x).flatten(1).sum(-1)
    torch.testing.assert_close(lik.log_prob(x, params), expected.detach())
    assert [n for n, _ in lik.named_parameters()] == ["log_std"]
    assert list(GaussianLikelihood(0.3).parameters()) == []


def test_vae_with_gaussian_likelihood_runs():
    base = tiny_vae("gaussian")
    model = VAE(base.encoder, base.decoder, MixtureOfGaussiansPrior(3, 2), GaussianLikelihood(0.1, squash="sigmoid"))
    x = torch.rand(4, 1, 28, 28)
    assert model.elbo(x).shape == (4,) and torch.isfinite(model.loss(x))
