"""The variational autoencoder: ELBO (analytic or Monte-Carlo KL), IWAE bound, sampling."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..runtime import param_like
from .nets import BernoulliLikelihood
from .priors import LOG_2PI, StandardGaussianPrior


def gaussian_kl_to_standard(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL( N(mean, diag(exp(log_var))) || N(0, I) ) in closed form. Args: (B, D) each. Returns: (B,)."""
    return 0.5 * (torch.exp(log_var) + mean**2 - 1.0 - log_var).sum(-1)


class VAE(nn.Module):
    """A VAE with a diagonal Gaussian encoder q(z|x), a decoder p(x|z) and a prior p(z).

    Args:
        encoder: x (B, C, H, W) -> (mean, log_var) each (B, D).
        decoder: z (B, D) -> parameters (B, C, H, W) read by `likelihood`.
        prior: has `log_prob(z) -> (B,)` and `sample(n, generator) -> (n, D)`.
        likelihood: has `log_prob(x, params) -> (B,)` and `mean(params)`; default Bernoulli.
        beta: weight of the KL term in `loss` (1 is the ELBO; beta-VAE otherwise).
        analytic_kl: closed-form KL (only for `StandardGaussianPrior`); None chooses it when possible.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, prior: nn.Module, likelihood: nn.Module | None = None,
                 *, beta: float = 1.0, analytic_kl: bool | None = None):
        super().__init__()
        self.encoder, self.decoder, self.prior = encoder, decoder, prior
        self.likelihood = BernoulliLikelihood() if likelihood is None else likelihood
        self.beta = float(beta)
        if analytic_kl and not isinstance(prior, StandardGaussianPrior):
            raise ValueError(f"analytic_kl=True needs a StandardGaussianPrior, not {type(prior).__name__}")
        self.analytic_kl = analytic_kl

    @property
    def uses_analytic_kl(self) -> bool:
        if self.analytic_kl is None:
            return isinstance(self.prior, StandardGaussianPrior)
        return bool(self.analytic_kl)

    @property
    def latent_dim(self) -> int:
        return self.prior.dim

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Args: x (B, C, H, W). Returns: mean, log_var of q(z|x), each (B, D)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Mean of p(x|z) (pixel probabilities for Bernoulli). Args: z (B, D). Returns: (B, C, H, W)."""
        return self.likelihood.mean(self.decoder(z))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decode the posterior mean of each image. Returns: (B, C, H, W)."""
        mean, _ = self.encode(x)
        return self.decode(mean)

    def elbo_terms(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """One-sample ELBO and its two terms per image.

        Returns:
            dict with elbo, reconstruction (log p(x|z) at z ~ q(z|x)) and kl, each (B,);
            elbo = reconstruction - kl. The KL is analytic for the standard Gaussian
            prior, else the single-sample estimate log q(z|x) - log p(z) at the same z.
        """
        mean, log_var = self.encode(x)
        eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        z = mean + torch.exp(0.5 * log_var) * eps  # reparameterisation: gradients flow through mean, log_var
        reconstruction = self.likelihood.log_prob(x, self.decoder(z))
        if self.uses_analytic_kl:
            kl = gaussian_kl_to_standard(mean, log_var)
        else:
            log_q = -0.5 * (LOG_2PI + log_var + eps**2).sum(-1)  # log N(z | mean, var) at z = mean + std * eps
            kl = log_q - self.prior.log_prob(z)
        return {"elbo": reconstruction - kl, "reconstruction": reconstruction, "kl": kl}

    def elbo(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Returns: the ELBO of each image, (B,), in nats."""
        return self.elbo_terms(x, generator)["elbo"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.elbo(x)

    def loss(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean over the batch of -(reconstruction - beta * KL); the negative ELBO when beta = 1."""
        terms = self.elbo_terms(x, generator)
        return -(terms["reconstruction"] - self.beta * terms["kl"]).mean()

    def iwae_bound(self, x: torch.Tensor, k: int, chunk: int = 100,
                   generator: torch.Generator | None = None) -> torch.Tensor:
        """Importance-weighted bound log 1/k sum_i p(x, z_i) / q(z_i|x), z_i ~ q(z|x); k=1 is the ELBO.

        The k samples are drawn `chunk` at a time, so memory grows with chunk * B, not k * B.

        Returns: (B,), in nats.
        """
        mean, log_var = self.encode(x)
        std = torch.exp(0.5 * log_var)
        batch = x.shape[0]
        log_w = []
        for start in range(0, k, chunk):
            c = min(chunk, k - start)
            eps = torch.randn((c, *mean.shape), generator=generator, device=mean.device, dtype=mean.dtype)
            z = mean + std * eps  # (c, B, D)
            log_q = -0.5 * (LOG_2PI + log_var + eps**2).sum(-1)  # (c, B)
            z_flat = z.reshape(c * batch, -1)  # (c, B, D) -> (c*B, D)
            x_rep = x.unsqueeze(0).expand(c, *x.shape).reshape(c * batch, *x.shape[1:])  # (c*B, C, H, W)
            log_px = self.likelihood.log_prob(x_rep, self.decoder(z_flat)).reshape(c, batch)
            log_pz = self.prior.log_prob(z_flat).reshape(c, batch)
            log_w.append(log_px + log_pz - log_q)
        return torch.logsumexp(torch.cat(log_w, 0), dim=0) - math.log(k)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ p(z), then the mean of p(x|z). Returns: (n, C, H, W)."""
        return self.decode(self.prior.sample(n, generator=generator))

    def example_input(self) -> torch.Tensor:
        """A zero batch of one image, for `architecture_table`."""
        return torch.zeros(1, *self.encoder.input_shape, **param_like(self))
