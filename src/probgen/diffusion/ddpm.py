"""DDPM (Ho et al. 2020): the forward process, the noise-prediction loss, ancestral and DDIM sampling, guidance.

The same code runs on (B, D) vectors (2-D toy data, VAE latents) and on
(B, C, H, W) images: every per-step scalar is gathered from the float64
schedule and broadcast against the data.

Notation (integer steps as the networks see them, t = 0 … T − 1; the paper's
t is ours + 1):

    x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε,                       ε ~ N(0, I)
    x̂_0 = (x_t − √(1 − ᾱ_t) ε_θ(x_t, t)) / √ᾱ_t
    DDPM step:  x_{t−1} ~ N(c0_t x̂_0 + ct_t x_t, σ_t² I),  c0_t = √ᾱ_{t−1} β_t / (1 − ᾱ_t),
                ct_t = √α_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t),  σ_t² = β̃_t (or β_t)
    DDIM step:  x_{t'} = √ᾱ_{t'} x̂_0 + √(1 − ᾱ_{t'} − σ²) ε_θ + σ z,
                σ = η √((1 − ᾱ_{t'}) / (1 − ᾱ_t)) √(1 − ᾱ_t / ᾱ_{t'})

With η = 1 and all T steps the DDIM step *is* the DDPM step with σ_t² = β̃_t
(same mean, same variance); with η = 0 it is deterministic given x_T.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable

import torch
from torch import nn

from ..nets.unet import NULL_LABEL
from ..runtime import param_like
from ..runtime import progress as progress_bar
from .schedules import NoiseSchedule, gather

VARIANCES = ("posterior", "beta")


def dequantize(x: torch.Tensor, *, levels: int = 256, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform dequantisation of images in [−1, 1] that take `levels` grey values (k / (levels − 1) · 2 − 1).

    Grey level k becomes (k + u) / levels · 2 − 1 with u ~ U[0, 1) per pixel (Ho et al. 2020; Theis et al.
    2016): a uniform density of width one grey level (2 / levels) over each bin, inside [−1, 1). A model
    of continuous data then cannot collapse onto the 256 values.

    Args:
        x: images of any shape whose values lie on the grid of `levels` grey levels in [−1, 1].
        levels: number of grey levels (256 for 8-bit images).
        generator: source of u.
    Raises:
        ValueError: x is not on that grid (already dequantised, or not scaled to [−1, 1]).
    """
    if levels < 2:
        raise ValueError(f"levels={levels!r} must be at least 2")
    k_float = (x.double() + 1) / 2 * (levels - 1)
    k = k_float.round()
    if x.numel() and ((k_float - k).abs().max() > 1e-3 or k.min() < 0 or k.max() > levels - 1):
        raise ValueError(f"dequantize expects images in [−1, 1] on a grid of {levels} grey levels "
                         f"(k / {levels - 1} · 2 − 1), e.g. load_mnist(..., 'symmetric'); these values are not "
                         "(already dequantised or scaled differently?)")
    u = torch.rand(x.shape, generator=generator, device=x.device, dtype=torch.float64)
    return ((k + u) / levels * 2 - 1).to(x.dtype)


class DDPM:
    """A noise-prediction network ε_θ(x, t, y) and a `NoiseSchedule`.

    Args:
        network: called as network(x, t_float (B,), y) and returning a tensor shaped like x; t is the
            integer step 0…T−1 as a float.
        schedule: the β schedule.
        p_uncond: probability that a training label is replaced by the null label (classifier-free
            guidance trains one network for both ε(x, c) and ε(x, ∅)); 0 for an unconditional model.
        clip_x0: clamp x̂_0 to [−clip_x0, clip_x0] while sampling (1 for images in [−1, 1]); None: no clamping.
        dequantize: train on `dequantize`d images (fresh uniform noise of one grey level in every batch);
            the training images must then be 8-bit images in [−1, 1].
    """

    def __init__(self, network: nn.Module, schedule: NoiseSchedule, *, p_uncond: float = 0.0,
                 clip_x0: float | None = None, dequantize: bool = False):
        if not 0.0 <= p_uncond <= 1.0:
            raise ValueError(f"p_uncond={p_uncond!r} must be a probability in [0, 1]")
        self.network = network
        self.schedule = schedule
        self.p_uncond = p_uncond
        self.clip_x0 = clip_x0
        self.dequantize = dequantize

    @property
    def T(self) -> int:
        return self.schedule.T

    # ----- forward process and training ------------------------------------------------------------------
    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Draw x_t ~ q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I) for integer steps t (B,)."""
        if noise is None:
            noise = torch.randn_like(x0)
        return self.schedule.q_sample(x0, t, noise)

    def loss(self, x0: torch.Tensor, y: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """The simplified objective E_{t, ε} ||ε − ε_θ(x_t, t, y)||² (mean over batch and dimensions).

        t is uniform on 0…T−1. With p_uncond > 0, each label is replaced by the null label with that probability.
        With `dequantize`, x0 is dequantised first (its noise drawn after t, ε and the label dropout).
        """
        b = x0.shape[0]
        t = torch.randint(0, self.T, (b,), device=x0.device, generator=generator)
        noise = torch.randn(x0.shape, device=x0.device, dtype=x0.dtype, generator=generator)
        if y is not None and self.p_uncond > 0:
            drop = torch.rand(b, device=x0.device, generator=generator) < self.p_uncond
            y = torch.where(drop, torch.full_like(y, NULL_LABEL), y)
        if self.dequantize:
            x0 = dequantize(x0, generator=generator)
        pred = self.network(self.q_sample(x0, t, noise), t.to(x0.dtype), y)
        return (pred - noise).pow(2).mean()

    # ----- the ELBO ----------------------------------------------------------------------------------------
    def elbo_weights(self) -> torch.Tensor:
        """λ_t (T,), float64, with which the ELBO's KL terms weight ||ε − ε_θ||² (per dimension, σ_t² = β̃_t):

            L_{t−1} = β_t² / (2 σ_t² α_t (1 − ᾱ_t)) · E||ε − ε_θ(x_t, t)||²,

        for the paper's t ≥ 2; for t = 1 (our index 0) β̃ = 0 and the term is the decoder's, for which
        the weight is not defined: NaN here. The simplified loss sets all weights to 1.
        """
        s = self.schedule
        lam = s.betas**2 / (2 * s.posterior_variance * s.alphas * (1 - s.alpha_bars))
        lam[0] = float("nan")
        return lam

    @torch.no_grad()
    def elbo_terms(self, x0: torch.Tensor, y: torch.Tensor | None = None, steps: Iterable[int] | None = None,
                   generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Per-step KL terms of the negative ELBO, in nats per example, estimated with one x_t per example.

        Returns {"t": steps (S,), "kl": (S,) mean over the batch of KL(q(x_{t−1}|x_t,x_0) || p_θ(x_{t−1}|x_t)),
        "kl_se": (S,) the standard error of that mean over the batch (one draw of x_t per example; 0 for a batch
        of one), "prior_kl": KL(q(x_T|x_0) || N(0, I)) averaged over the batch}. The decoder term L_0 of a discrete
        data model is left out (it needs a discretised likelihood); the sum over all t ≥ 1 of `kl` plus
        `prior_kl` is the continuous part of the bound.
        """
        s = self.schedule
        steps = list(range(1, self.T)) if steps is None else list(steps)
        dims = x0[0].numel()
        kls, ses = [], []
        for t_int in steps:
            if not 1 <= t_int < self.T:
                raise ValueError(f"ELBO terms exist for steps 1…{self.T - 1}, not {t_int}")
            t = torch.full((x0.shape[0],), t_int, device=x0.device, dtype=torch.long)
            noise = torch.randn(x0.shape, device=x0.device, dtype=x0.dtype, generator=generator)
            xt = self.q_sample(x0, t, noise)
            eps = self.network(xt, t.to(x0.dtype), y)
            err = (eps - noise).pow(2).flatten(1).sum(1)  # (B,)
            lam = float(s.betas[t_int] ** 2 / (2 * s.posterior_variance[t_int] * s.alphas[t_int]
                                               * (1 - s.alpha_bars[t_int])))
            per_example = lam * err  # (B,)
            kls.append(per_example.mean())
            ses.append(per_example.std() / math.sqrt(len(per_example)) if len(per_example) > 1
                       else per_example.new_zeros(()))
        ab_T = float(s.alpha_bars[-1])
        # KL(N(√ᾱ x0, (1−ᾱ) I) || N(0, I)) = ½ [ᾱ ||x0||² + D (−ᾱ − log(1 − ᾱ))], the bracket in float64 via log1p
        mean_sq = float((ab_T * x0.double().pow(2).flatten(1).sum(1)).mean())
        prior_kl = torch.tensor(0.5 * (mean_sq + dims * (-ab_T - math.log1p(-ab_T))))
        return {"t": torch.tensor(steps), "kl": torch.stack(kls).cpu(), "kl_se": torch.stack(ses).cpu(),
                "prior_kl": prior_kl.cpu()}

    # ----- the reverse process ------------------------------------------------------------------------------
    def eps(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None,
            guidance_scale: float = 0.0) -> torch.Tensor:
        """ε_θ(x, t, y), or with classifier-free guidance ε̃ = (1 + w) ε(x, t, y) − w ε(x, t, ∅) when w ≠ 0."""
        tf = t.to(x.dtype)
        if y is None or guidance_scale == 0.0:
            return self.network(x, tf, y)
        both = self.network(torch.cat([x, x]), torch.cat([tf, tf]), torch.cat([y, torch.full_like(y, NULL_LABEL)]))
        cond, uncond = both.chunk(2)
        return (1 + guidance_scale) * cond - guidance_scale * uncond

    def predict_x0(self, x: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """x̂_0 = (x_t − √(1 − ᾱ_t) ε) / √ᾱ_t, clamped to ±clip_x0 if set."""
        s = self.schedule
        x0 = (x - gather((1 - s.alpha_bars).sqrt(), t, x) * eps) / gather(s.alpha_bars.sqrt(), t, x)
        return x0.clamp(-self.clip_x0, self.clip_x0) if self.clip_x0 is not None else x0

    def _start(self, n_or_shape, y, generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        like = param_like(self.network)
        shape = (n_or_shape,) + self.sample_shape if isinstance(n_or_shape, int) else tuple(n_or_shape)
        x = torch.randn(shape, generator=generator, device=like["device"], dtype=like["dtype"])
        if y is not None:
            y = torch.as_tensor(y, device=like["device"]).long().expand(shape[0])
        return x, y

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample, read from the network's config (`in_channels`/`image_size`, or `dim`)."""
        cfg = getattr(self.network, "cfg", None)
        if cfg is not None and hasattr(cfg, "image_size"):
            return (cfg.in_channels, cfg.image_size, cfg.image_size)
        if cfg is not None and hasattr(cfg, "dim"):
            return (cfg.dim,)
        raise ValueError("cannot tell the sample shape from this network; pass a full shape instead of n")

    @torch.no_grad()
    def sample(self, n_or_shape: int | tuple[int, ...], *, y: torch.Tensor | None = None,
               guidance_scale: float = 0.0, variance: str = "posterior", generator: torch.Generator | None = None,
               snapshots: Iterable[int] = (), progress: bool = False,
               eps_fn: Callable | None = None) -> torch.Tensor | tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """Ancestral sampling: T reverse steps from x_T ~ N(0, I).

        Args:
            n_or_shape: number of samples (shape read from the network) or the full shape (B, …).
            y: class labels (B,) or one label for all; None for unconditional.
            guidance_scale: w of classifier-free guidance.
            variance: "posterior" (σ_t² = β̃_t) or "beta" (σ_t² = β_t).
            generator: source of x_T and of every step's noise (drawn in that order; none at the last step).
            snapshots: the paper's times t (1000 = x_T … 0 = the sample) at which to keep a copy of x_t.
            eps_fn: replaces `self.eps` (x, t, y) → ε, e.g. for classifier guidance.
        Returns:
            the samples, or (samples, {t: x_t}) when snapshots are asked for.
        """
        if variance not in VARIANCES:
            raise ValueError(f"variance={variance!r}; choose one of {VARIANCES}")
        s = self.schedule
        x, y = self._start(n_or_shape, y, generator)
        keep = set(snapshots)
        out = {self.T: x.clone()} if self.T in keep else {}
        var = s.posterior_variance if variance == "posterior" else s.betas
        c0 = s.alpha_bars_prev.sqrt() * s.betas / (1 - s.alpha_bars)
        ct = s.alphas.sqrt() * (1 - s.alpha_bars_prev) / (1 - s.alpha_bars)
        eps_fn = eps_fn or (lambda x_, t_, y_: self.eps(x_, t_, y_, guidance_scale))
        for i in progress_bar(reversed(range(self.T)), enabled=progress, desc="DDPM sampling", total=self.T):
            t = torch.full((x.shape[0],), i, device=x.device, dtype=torch.long)
            x0 = self.predict_x0(x, t, eps_fn(x, t, y))
            x = gather(c0, t, x) * x0 + gather(ct, t, x) * x
            if i > 0:
                z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
                x = x + gather(var.sqrt(), t, x) * z
            if i in keep:
                out[i] = x.clone()
        return (x, out) if keep else x

    @staticmethod
    def ddim_steps(T: int, steps: int) -> list[int]:
        """`steps` integer times from T−1 down to 0, evenly spaced (the first is always T−1, the last 0)."""
        if not 1 <= steps <= T:
            raise ValueError(f"DDIM needs 1 ≤ steps ≤ T={T}, not {steps}")
        if steps == 1:
            return [T - 1]
        grid = torch.linspace(0, T - 1, steps, dtype=torch.float64).round().long().unique()
        return grid.flip(0).tolist()

    @torch.no_grad()
    def ddim_sample(self, n_or_shape: int | tuple[int, ...], *, steps: int = 50, eta: float = 0.0,
                    y: torch.Tensor | None = None, guidance_scale: float = 0.0,
                    generator: torch.Generator | None = None, x_T: torch.Tensor | None = None,
                    progress: bool = False, eps_fn: Callable | None = None) -> torch.Tensor:
        """DDIM sampling (Song et al. 2021) on `steps` evenly spaced times; η = 0 deterministic, η = 1 DDPM-like.

        x_T is drawn from `generator` unless given; each step with σ > 0 then draws its noise from
        `generator`. See the module docstring for the update.
        """
        if eta < 0:
            raise ValueError(f"eta={eta!r} must be ≥ 0")
        s = self.schedule
        if x_T is None:
            x, y = self._start(n_or_shape, y, generator)
        else:
            x = x_T.to(**param_like(self.network)).clone()
            y = None if y is None else torch.as_tensor(y, device=x.device).long().expand(x.shape[0])
        eps_fn = eps_fn or (lambda x_, t_, y_: self.eps(x_, t_, y_, guidance_scale))
        times = self.ddim_steps(self.T, steps)
        for k, i in enumerate(progress_bar(times, enabled=progress, desc=f"DDIM {steps} steps")):
            t = torch.full((x.shape[0],), i, device=x.device, dtype=torch.long)
            eps = eps_fn(x, t, y)
            x0 = self.predict_x0(x, t, eps)
            if self.clip_x0 is not None:  # keep ε consistent with the clamped x̂_0
                eps = (x - gather(s.alpha_bars.sqrt(), t, x) * x0) / gather((1 - s.alpha_bars).sqrt(), t, x)
            ab_t = float(s.alpha_bars[i])
            ab_prev = float(s.alpha_bars[times[k + 1]]) if k + 1 < len(times) else 1.0
            sigma = eta * ((1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev)) ** 0.5
            x = ab_prev**0.5 * x0 + max(1 - ab_prev - sigma**2, 0.0) ** 0.5 * eps
            if sigma > 0:
                x = x + sigma * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return x
