"""Score-based generative modelling with SDEs (Song et al. 2021): forward SDEs, a noise-predicting model, samplers.

Time runs from data to noise: t = 0 is the data, t = T_end = 1 the prior. (`probgen.flows` runs the other
way: there t = 0 is noise and t = 1 data.) A forward SDE

    dx = f(x, t) dt + g(t) dw

with an affine drift has Gaussian transition kernels, x_t = a(t)·x0 + σ(t)·ε with ε ~ N(0, I); `marginal(t)`
returns (a(t), σ(t)). Everything a sampler needs follows from f, g and the score s(x, t) = ∇ log p_t(x):

    reverse SDE:             dx = [f(x, t) − g(t)² s(x, t)] dt + g(t) dw̄   (time running backwards)
    probability-flow ODE:    dx/dt = f(x, t) − ½ g(t)² s(x, t)              (same marginals p_t, deterministic)

so the samplers below (`euler_maruyama`, `predictor_corrector`, `probability_flow`, `encode`,
`log_likelihood`, `bits_per_dim`) work for any `SDE` subclass and any data shape, (B, 2) or (B, C, H, W).

Tensor conventions: x is (B, ...); times t are (B,) float tensors in [0, 1]; per-sample coefficients (B,)
are broadcast against x as (B, 1, ..., 1).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import torch
from torch import nn

from ..runtime import ConfigError, check_choice, param_like
from ..runtime import progress as progress_bar

PARAMETERIZATIONS = ("eps", "score")
PREDICTORS = ("reverse_diffusion", "euler_maruyama")
ODE_METHODS = ("euler", "heun", "rk45")
DIVERGENCES = ("hutchinson", "exact")

OdeFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # fn(state (B, ...), t (B,)) -> d state / dt


def expand(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B,) per-sample values shaped (B, 1, ..., 1) to broadcast against `like` (B, ...), in its dtype."""
    return values.to(like.dtype).reshape(-1, *([1] * (like.ndim - 1)))


def _times(t: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    """t as a (B,) tensor in `like`'s dtype and device; a float or 0-d tensor is repeated for the batch."""
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    return t.expand(like.shape[0]) if t.ndim == 0 else t


class SDE(ABC):
    """A forward SDE dx = f(x, t) dt + g(t) dw on t ∈ [0, T_end] with Gaussian marginals given x0.

    Subclasses give f, g, (a(t), σ(t)) and the prior; the reverse-time and probability-flow drifts are generic.
    """

    T_end: float = 1.0

    @abstractmethod
    def drift(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """f(x, t) for x (B, ...) and t (B,), shaped like x."""

    @abstractmethod
    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        """g(t), shaped like t."""

    @abstractmethod
    def marginal(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(a(t), σ(t)), each shaped like t: x_t | x0 ~ N(a(t)·x0, σ(t)² I)."""

    @abstractmethod
    def prior_std(self) -> float:
        """Standard deviation of the zero-mean isotropic Gaussian prior that stands in for p_{T_end}."""

    def prior_sample(self, shape: Sequence[int], generator: torch.Generator | None = None,
                     dtype: torch.dtype | None = None, device: str | torch.device = "cpu") -> torch.Tensor:
        """A draw of shape `shape` = (B, ...) from the prior N(0, prior_std² I)."""
        z = torch.randn(tuple(shape), generator=generator, dtype=dtype or torch.get_default_dtype(), device=device)
        return self.prior_std() * z

    def prior_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """(B,) log N(z; 0, prior_std² I), summed over all but the batch dimension (nats)."""
        s = self.prior_std()
        d = z[0].numel()
        return -0.5 * z.flatten(1).pow(2).sum(1) / s ** 2 - d * (math.log(s) + 0.5 * math.log(2 * math.pi))

    def discretize(self, x: torch.Tensor, t: torch.Tensor, dt: float) -> tuple[torch.Tensor, torch.Tensor]:
        """One forward step of length dt from t as x_{t+dt} = x + F + G·z: returns (F shaped like x, G shaped like t).

        The default is Euler–Maruyama, F = f(x, t)·dt and G = g(t)·√dt; the reverse-diffusion predictor
        inverts this step, so a subclass with an exact or classical discretisation overrides it.
        """
        return self.drift(x, t) * dt, self.diffusion(t) * math.sqrt(dt)

    def reverse_drift(self, x: torch.Tensor, t: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
        """Drift f − g² s of the reverse-time SDE (to be integrated with dt < 0), shaped like x."""
        return self.drift(x, t) - expand(self.diffusion(t) ** 2, x) * score

    def ode_drift(self, x: torch.Tensor, t: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
        """Drift f − ½ g² s of the probability-flow ODE, shaped like x."""
        return self.drift(x, t) - 0.5 * expand(self.diffusion(t) ** 2, x) * score


def _check_betas(beta_min: float, beta_max: float) -> None:
    if not (math.isfinite(beta_min) and math.isfinite(beta_max) and 0 < beta_min <= beta_max):
        raise ConfigError(f"need 0 < beta_min <= beta_max, got beta_min={beta_min!r}, beta_max={beta_max!r}")


class VPSDE(SDE):
    """Variance-preserving SDE dx = −½β(t)x dt + √β(t) dw with β(t) = β_min + (β_max − β_min)t.

    With B(t) = ∫₀ᵗ β = β_min t + ½(β_max − β_min)t², the marginal is

        a(t) = exp(−½B(t)),   σ(t)² = 1 − exp(−B(t)),

    so a² + σ² = 1 and the prior is N(0, I) (B(1) = 10.05 by default, a(1)² ≈ 4·10⁻⁵).

    It is the continuous limit of DDPM's linear schedule: with T steps, β_k = β(k/T)/T, i.e.
    β_min = T·β_1 and β_max = T·β_T, so T = 1000, β_1 = 10⁻⁴, β_T = 2·10⁻² gives β_min = 0.1, β_max = 20, and
    ᾱ_k = ∏_{j ≤ k}(1 − β_j) = exp(−Σ β_j + O(Σ β_j²)) → exp(−B(k/T)) = a(k/T)² as T → ∞ (errors O(1/T)).
    """

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0):
        _check_betas(beta_min, beta_max)
        self.beta_min, self.beta_max = float(beta_min), float(beta_max)

    def beta(self, t: torch.Tensor) -> torch.Tensor:
        """β(t), shaped like t."""
        return self.beta_min + (self.beta_max - self.beta_min) * t

    def integrated_beta(self, t: torch.Tensor) -> torch.Tensor:
        """B(t) = ∫₀ᵗ β(s) ds, shaped like t."""
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t ** 2

    def drift(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return -0.5 * expand(self.beta(t), x) * x

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        return self.beta(t).sqrt()

    def marginal(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = self.integrated_beta(t)
        return torch.exp(-0.5 * b), torch.sqrt(-torch.expm1(-b))

    def prior_std(self) -> float:
        return 1.0

    def discretize(self, x: torch.Tensor, t: torch.Tensor, dt: float) -> tuple[torch.Tensor, torch.Tensor]:
        """DDPM's step over the interval (t − dt, t]: x_t = √(1 − β_k) x_{t−dt} + √β_k z, so F = (√(1 − β_k) − 1)x,
        G = √β_k, with β_k = 1 − exp(−∫_{t−dt}^t β(s) ds), the exact VP transition (≈ β(t)·dt for small dt, the
        DDPM's β; unlike β(t)·dt it stays below 1 for the large steps of a sampler with few steps)."""
        b = self.integrated_beta(t) - self.integrated_beta((t - dt).clamp(min=0.0))
        beta_k = -torch.expm1(-b)
        return (expand(torch.sqrt(1.0 - beta_k), x) - 1.0) * x, beta_k.sqrt()


class SubVPSDE(VPSDE):
    """Sub-VP SDE dx = −½β(t)x dt + √(β(t)(1 − e^{−2B(t)})) dw (Song et al. 2021, same β(t) and B(t) as `VPSDE`).

    Same mean a(t) = exp(−½B(t)) but a smaller variance, σ(t)² = (1 − e^{−B(t)})² ≤ 1 − e^{−B(t)};
    the prior is N(0, I).
    """

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(self.beta(t) * -torch.expm1(-2.0 * self.integrated_beta(t)))

    def marginal(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = self.integrated_beta(t)
        return torch.exp(-0.5 * b), -torch.expm1(-b)

    def discretize(self, x: torch.Tensor, t: torch.Tensor, dt: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Euler–Maruyama (the DDPM step of `VPSDE` has the wrong variance here)."""
        return SDE.discretize(self, x, t, dt)


class VESDE(SDE):
    """Variance-exploding SDE dx = √(dσ²/dt) dw with σ(t) = σ_min (σ_max/σ_min)^t (SMLD / NCSN).

    g(t) = σ(t)·√(2 log(σ_max/σ_min)), so that d(σ(t)²)/dt = g(t)². The marginal has a(t) = 1 and std
    √(σ(t)² − σ_min²), the noise added since t = 0 (zero at t = 0); the prior N(0, σ_max² I) ignores the data's
    own spread, so choose σ_max well above the largest distance between data points.
    """

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 50.0):
        if not (math.isfinite(sigma_min) and math.isfinite(sigma_max) and 0 < sigma_min < sigma_max):
            raise ConfigError(f"need 0 < sigma_min < sigma_max, got sigma_min={sigma_min!r}, sigma_max={sigma_max!r}")
        self.sigma_min, self.sigma_max = float(sigma_min), float(sigma_max)
        self._log_ratio = math.log(self.sigma_max / self.sigma_min)

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        """σ_min (σ_max/σ_min)^t, shaped like t."""
        return self.sigma_min * torch.exp(t * self._log_ratio)

    def drift(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        return self.sigma(t) * math.sqrt(2.0 * self._log_ratio)

    def marginal(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # σ_min² (r^{2t} − 1) with r = σ_max/σ_min, via expm1 so small t keeps its digits
        std = self.sigma_min * torch.sqrt(torch.expm1(2.0 * t * self._log_ratio))
        return torch.ones_like(t), std

    def prior_std(self) -> float:
        return self.sigma_max

    def discretize(self, x: torch.Tensor, t: torch.Tensor, dt: float) -> tuple[torch.Tensor, torch.Tensor]:
        """SMLD's step over (t − dt, t]: no drift, and G² = σ(t)² − σ(t − dt)², the exact variance added there
        (≈ g(t)²·dt for small dt; Song et al.'s reverse-diffusion predictor for the VE SDE)."""
        s_hi, s_lo = self.marginal(t)[1], self.marginal((t - dt).clamp(min=0.0))[1]
        return torch.zeros_like(x), torch.sqrt(s_hi ** 2 - s_lo ** 2)


def _check_t_eps(t_eps: float) -> float:
    if not (isinstance(t_eps, (int, float)) and 0 < t_eps < 1):
        raise ConfigError(f"t_eps={t_eps!r} must lie in (0, 1): the score is singular at t = 0, so training and "
                          "sampling stop at a small positive time such as 1e-5 (VP) or 1e-3 (fewer steps)")
    return float(t_eps)


def batch_shape(n_or_shape: int | Sequence[int], data_shape: Sequence[int] | None) -> tuple[int, ...]:
    """The (B, ...) shape of a batch: `n_or_shape` itself if a shape, else (n, *data_shape)."""
    if isinstance(n_or_shape, int) and not isinstance(n_or_shape, bool):
        if n_or_shape < 1:
            raise ConfigError(f"n={n_or_shape!r} must be a positive number of samples")
        if data_shape is None:
            raise ConfigError(f"n={n_or_shape} samples asked for but the model has no data_shape; pass a full "
                              "shape such as (n, 2) or (n, 1, 28, 28), or build the model with data_shape=...")
        return (n_or_shape, *data_shape)
    shape = tuple(int(s) for s in n_or_shape)
    if len(shape) < 2 or min(shape) < 1:
        raise ConfigError(f"shape={n_or_shape!r} must be (B, ...) with positive sizes, e.g. (n, 2) or (n, C, H, W)")
    return shape


def check_steps(steps: int, name: str = "steps") -> int:
    """Return `steps` if it is a positive integer, else raise `ConfigError`."""
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ConfigError(f"{name}={steps!r} must be a positive integer number of solver steps")
    return steps


class ScoreSDE(nn.Module):
    """A network as the score of an `SDE`'s marginals, trained by continuous-time denoising score matching.

    parameterization "eps": the network predicts the noise ε of x_t = a(t)x0 + σ(t)ε, and
    s(x, t) = −ε̂(x, t, y)/σ(t) (stable near t = 0, where the score grows like 1/σ).
    parameterization "score": the network output is the score itself.

    Args:
        network: called as network(x (B, ...), t (B,) in [0, 1], y (B,) or None) -> shaped like x.
        sde: the forward process.
        t_eps: the smallest time used in training and where samplers stop (the score is singular at 0).
        data_shape: the shape of one sample, so samplers accept a count n instead of a full shape.
        input_scaling: the network sees x_t / √(a(t)² + σ(t)²) instead of x_t, an input of about unit size for
            data of unit scale whatever the SDE (EDM's c_in with σ_data = 1). For the VP SDE a² + σ² = 1 and it
            changes nothing; for the VE SDE it keeps inputs of standard deviation up to σ_max out of a network
            built for inputs in [−1, 1]. The SDE, the score it stands for and the samplers are unchanged.
    """

    def __init__(self, network: nn.Module, sde: SDE, parameterization: str = "eps", t_eps: float = 1e-5,
                 data_shape: Sequence[int] | None = None, input_scaling: bool = False):
        super().__init__()
        self.network = network
        self.sde = sde
        self.parameterization = check_choice("parameterization", parameterization, PARAMETERIZATIONS)
        self.t_eps = _check_t_eps(t_eps)
        self.data_shape = None if data_shape is None else tuple(data_shape)
        if not isinstance(input_scaling, bool):
            raise ConfigError(f"input_scaling={input_scaling!r} must be True or False")
        self.input_scaling = input_scaling

    def network_input(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """What the network is given for x_t (B, ...) at times t (B,): x_t, or x_t / √(a² + σ²) with input_scaling."""
        if not self.input_scaling:
            return x
        a, sigma = self.sde.marginal(t)
        return x / expand(torch.sqrt(a ** 2 + sigma ** 2), x)

    def score(self, x: torch.Tensor, t: torch.Tensor | float, y: torch.Tensor | None = None) -> torch.Tensor:
        """s(x, t) ≈ ∇ log p_t(x) for x (B, ...) and t (B,) or a float; shaped like x."""
        t = _times(t, x)
        out = self.network(self.network_input(x, t), t, y)
        if self.parameterization == "score":
            return out
        return -out / expand(self.sde.marginal(t)[1], x)

    def loss(self, x0: torch.Tensor, y: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """Continuous-time denoising score matching with weighting λ(t) = σ(t)², a scalar.

        With t ~ U(t_eps, 1), ε ~ N(0, I) and x_t = a(t)x0 + σ(t)ε (drawn in this order from `generator`,
        which must live on x0's device),

            L = E ‖σ(t) s(x_t, t) + ε‖² / D = E ‖ε̂(x_t, t) − ε‖² / D   ("eps": the noise-prediction MSE),

        the mean over batch and all D = x0[0].numel() coordinates. Its minimum is not zero but
        E_t E ‖ε − E[ε | x_t]‖² / D, the noise that x_t cannot reveal.
        """
        t = self.t_eps + (1.0 - self.t_eps) * torch.rand(x0.shape[0], generator=generator, dtype=x0.dtype,
                                                          device=x0.device)
        noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
        mean, std = self.sde.marginal(t)
        xt = expand(mean, x0) * x0 + expand(std, x0) * noise
        out = self.network(self.network_input(xt, t), t, y)
        if self.parameterization == "score":
            return (expand(std, x0) * out + noise).pow(2).mean()
        return (out - noise).pow(2).mean()


@dataclass
class SDESample:
    """What a sampler returns: the final x (B, ...), the function evaluations it cost, and kept iterates.

    `times` (steps + 1,) are the solver's grid; `path[k]` is x after k steps, at times[k] (k = 0: the start).
    """

    x: torch.Tensor
    nfe: int
    times: torch.Tensor
    path: dict[int, torch.Tensor] = field(default_factory=dict)


def _check_keep(keep: Iterable[int], steps: int) -> set[int]:
    wanted = {int(k) for k in keep}
    bad = sorted(k for k in wanted if not 0 <= k <= steps)
    if bad:
        raise ConfigError(f"keep={bad} lists steps outside 0..steps={steps}")
    return wanted


def _reverse_start(model: ScoreSDE, n_or_shape, generator, x_init: torch.Tensor | None) -> torch.Tensor:
    if x_init is not None:
        return x_init.to(**param_like(model.network)).clone()
    shape = batch_shape(n_or_shape, model.data_shape)
    return model.sde.prior_sample(shape, generator, **param_like(model.network))


def tweedie_denoise(model: ScoreSDE, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """E[x_0 | x_t] = (x + σ(t)² s(x, t)) / a(t) (Tweedie's formula): the last step of the samplers with `denoise`.

    Near t = 0 the score is s ≈ −ε/σ with σ → 0, so a solver step that *evaluates* it there multiplies the
    network's error by 1/σ; jumping from the last grid time above t_eps straight to the posterior mean avoids
    that (it is what DDIM's last step and Song et al.'s "noise removal" do). One network evaluation.
    """
    a, sigma = model.sde.marginal(t)
    return (x + expand(sigma, x) ** 2 * model.score(x, t, y)) / expand(a, x)


def _reverse_times(model: ScoreSDE, steps: int, like: torch.Tensor) -> torch.Tensor:
    """(steps + 1,) times from T_end down to t_eps, evenly spaced."""
    return torch.linspace(model.sde.T_end, model.t_eps, steps + 1, dtype=torch.float64).to(like.device)


@torch.no_grad()
def euler_maruyama(model: ScoreSDE, n_or_shape: int | Sequence[int] | None = None, steps: int = 1000, *,
                   generator: torch.Generator | None = None, y: torch.Tensor | None = None,
                   keep: Iterable[int] = (), x_init: torch.Tensor | None = None, denoise: bool = False,
                   progress: bool = False) -> SDESample:
    """Sample by integrating the reverse SDE from the prior at t = 1 to t_eps with Euler–Maruyama.

    On the grid t_0 = 1 > t_1 > … > t_N = t_eps with h = (1 − t_eps)/N:

        x_{k+1} = x_k − h·[f(x_k, t_k) − g(t_k)² s(x_k, t_k)] + g(t_k)√h·z_k,   z_k ~ N(0, I),

    except that the last step adds no noise (it returns the mean, as is usual). NFE = N.

    Args:
        n_or_shape: a count n (the model needs data_shape) or a batch shape (B, ...); ignored with x_init.
        steps: N.
        generator: for the prior draw and the noise (on the network's device).
        y: (B,) class labels passed to the network, or None.
        keep: step indices k in 0..N whose iterates to return in `path`.
        x_init: (B, ...) start instead of a prior draw.
        denoise: replace the last step by `tweedie_denoise` at t_{N−1} (same NFE).
    """
    check_steps(steps)
    wanted = _check_keep(keep, steps)
    x = _reverse_start(model, n_or_shape, generator, x_init)
    times = _reverse_times(model, steps, x)
    path = {0: x.clone()} if 0 in wanted else {}
    for k in progress_bar(range(steps), enabled=progress, desc="reverse SDE"):
        t = _times(float(times[k]), x)
        h = float(times[k] - times[k + 1])
        if denoise and k == steps - 1:
            x = tweedie_denoise(model, x, t, y)
            if k + 1 in wanted:
                path[k + 1] = x.clone()
            break
        x = x - h * model.sde.reverse_drift(x, t, model.score(x, t, y))
        if k < steps - 1:
            x = x + expand(model.sde.diffusion(t), x) * math.sqrt(h) * torch.randn(
                x.shape, generator=generator, dtype=x.dtype, device=x.device)
        if k + 1 in wanted:
            path[k + 1] = x.clone()
    return SDESample(x, steps, times, path)


@torch.no_grad()
def predictor_corrector(model: ScoreSDE, n_or_shape: int | Sequence[int] | None = None, steps: int = 1000, *,
                        snr: float = 0.16, corrector_steps: int = 1, predictor: str = "reverse_diffusion",
                        generator: torch.Generator | None = None, y: torch.Tensor | None = None,
                        keep: Iterable[int] = (), x_init: torch.Tensor | None = None, denoise: bool = False,
                        progress: bool = False) -> SDESample:
    """Predictor–corrector sampling (Song et al. 2021, Algorithms 4–5): at each t_k, Langevin correction, then a
    reverse-SDE predictor step to t_{k+1}.

    Corrector (`corrector_steps` times): with s = s(x, t_k) and z ~ N(0, I), a step size chosen so that the
    ratio of the drift to the noise is `snr`,

        ε = 2 (snr ⟨‖z‖⟩ / ⟨‖s‖⟩)²,   x ← x + ε s + √(2ε) z,

    a Langevin step towards p_{t_k}; ⟨·⟩ is the batch mean, as in Song et al. (per-sample norms blow ε up for
    points where the score vanishes, near a mode). Song et al. also scale ε by DDPM's α_k for the VP SDE; that
    factor is within a few per cent of one and is left out so that the corrector is the same for every SDE.

    Predictor "reverse_diffusion": reverse the SDE's own discretisation (F, G) = `sde.discretize(x, t_k, h)`:
    x ← x − F + G² s + G z; predictor "euler_maruyama": the step of `euler_maruyama`. The last predictor step adds
    no noise. NFE = N·(1 + corrector_steps).

    Args:
        snr: the corrector's signal-to-noise ratio r (0.16 for images in Song et al.; smaller is gentler).
        corrector_steps: Langevin steps per time (0 leaves only the predictor).
        predictor: "reverse_diffusion" or "euler_maruyama".
        denoise: the last predictor step is `tweedie_denoise` at t_{N−1} (same NFE).
        Others as in `euler_maruyama`.
    """
    check_steps(steps)
    check_choice("predictor", predictor, PREDICTORS)
    if not (isinstance(snr, (int, float)) and snr > 0):
        raise ConfigError(f"snr={snr!r} must be positive (0.16 is Song et al.'s value for CIFAR-10, 0.075 for CelebA)")
    if not isinstance(corrector_steps, int) or isinstance(corrector_steps, bool) or corrector_steps < 0:
        raise ConfigError(f"corrector_steps={corrector_steps!r} must be a non-negative integer")
    wanted = _check_keep(keep, steps)
    sde = model.sde
    x = _reverse_start(model, n_or_shape, generator, x_init)
    times = _reverse_times(model, steps, x)
    path = {0: x.clone()} if 0 in wanted else {}

    def noise() -> torch.Tensor:
        return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)

    for k in progress_bar(range(steps), enabled=progress, desc="predictor-corrector"):
        t = _times(float(times[k]), x)
        h = float(times[k] - times[k + 1])
        for _ in range(corrector_steps):
            s = model.score(x, t, y)
            z = noise()
            eps = 2.0 * (snr * z.flatten(1).norm(dim=1).mean() / s.flatten(1).norm(dim=1).mean()) ** 2
            x = x + eps * s + torch.sqrt(2.0 * eps) * z
        if denoise and k == steps - 1:
            x = tweedie_denoise(model, x, t, y)
            if k + 1 in wanted:
                path[k + 1] = x.clone()
            break
        s = model.score(x, t, y)
        if predictor == "euler_maruyama":
            x = x - h * sde.reverse_drift(x, t, s)
            g = expand(sde.diffusion(t), x) * math.sqrt(h)
        else:
            f, g = sde.discretize(x, t, h)
            g = expand(g, x)
            x = x - f + g ** 2 * s
        if k < steps - 1:
            x = x + g * noise()
        if k + 1 in wanted:
            path[k + 1] = x.clone()
    return SDESample(x, steps * (1 + corrector_steps), times, path)


def _integrate(fn: OdeFn, x: torch.Tensor, times: torch.Tensor, method: str, *,
               keep: frozenset[int] | set[int] = frozenset(), rtol: float = 1e-5, atol: float = 1e-5,
               progress: bool = False, desc: str = "ODE") -> tuple[torch.Tensor, int, dict[int, torch.Tensor]]:
    """Integrate dx/dt = fn(x, t) over the grid `times` (N + 1,), increasing or decreasing.

    "euler": x_{k+1} = x_k + h f(x_k, t_k), NFE = N.
    "heun": x̃ = x_k + h f(x_k, t_k); x_{k+1} = x_k + ½h[f(x_k, t_k) + f(x̃, t_{k+1})], NFE = 2N.
    "rk45": scipy's adaptive Dormand–Prince (`solve_ivp`) from times[0] to times[-1] on the flattened batch in
    float64, with tolerances rtol, atol; NFE as scipy counts it; `times` in between and `keep` are not used.

    Returns (x at times[-1], NFE, {k: x_k for k in keep}).
    """
    path = {0: x.clone()} if 0 in keep else {}
    if method == "rk45":
        if keep - {0}:
            raise ConfigError("keep=... needs a fixed-step method ('euler' or 'heun'); 'rk45' chooses its own steps")
        return (*_integrate_scipy(fn, x, float(times[0]), float(times[-1]), rtol, atol), path)
    nfe = 0
    for k in progress_bar(range(len(times) - 1), enabled=progress, desc=desc):
        t0, t1 = _times(float(times[k]), x), _times(float(times[k + 1]), x)
        h = float(times[k + 1] - times[k])
        d0 = fn(x, t0)
        if method == "euler":
            x = x + h * d0
            nfe += 1
        else:
            d1 = fn(x + h * d0, t1)
            x = x + 0.5 * h * (d0 + d1)
            nfe += 2
        if k + 1 in keep:
            path[k + 1] = x.clone()
    return x, nfe, path


def _integrate_scipy(fn: OdeFn, x: torch.Tensor, t0: float, t1: float, rtol: float,
                     atol: float) -> tuple[torch.Tensor, int]:
    import numpy as np
    from scipy.integrate import solve_ivp

    shape, like = x.shape, x

    def rhs(t: float, flat: np.ndarray) -> np.ndarray:
        state = torch.from_numpy(flat).reshape(shape).to(dtype=like.dtype, device=like.device)
        return fn(state, _times(t, state)).detach().double().cpu().numpy().reshape(-1)

    sol = solve_ivp(rhs, (t0, t1), x.detach().double().cpu().numpy().reshape(-1), method="RK45", rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}; try looser rtol/atol or a fixed-step method")
    out = torch.from_numpy(sol.y[:, -1]).reshape(shape).to(dtype=x.dtype, device=x.device)
    return out, int(sol.nfev)


def _check_ode_method(method: str, steps: int) -> None:
    check_choice("method", method, ODE_METHODS)
    check_steps(steps)


@torch.no_grad()
def probability_flow(model: ScoreSDE, n_or_shape: int | Sequence[int] | None = None, steps: int = 100, *,
                     method: str = "heun", generator: torch.Generator | None = None, y: torch.Tensor | None = None,
                     keep: Iterable[int] = (), x_init: torch.Tensor | None = None, rtol: float = 1e-5,
                     atol: float = 1e-5, denoise: bool = False, progress: bool = False) -> SDESample:
    """Sample (or decode a latent x_init) by integrating the probability-flow ODE from t = 1 down to t_eps.

    dx/dt = f(x, t) − ½ g(t)² s(x, t) with `method` "euler" (NFE = N), "heun" (NFE = 2N, second order) on N
    even steps, or "rk45" (scipy's adaptive solver, tolerances rtol/atol; `steps` unused). The map from x_1 to
    x_{t_eps} is deterministic and invertible (`encode` runs it backwards). With `denoise`, the ODE is integrated to
    t_{N−1} and the last step is `tweedie_denoise` there (NFE: one evaluation instead of the last step's; no longer
    exactly invertible). Other arguments as in `euler_maruyama`.
    """
    _check_ode_method(method, steps)
    wanted = _check_keep(keep, steps)
    if denoise and steps < 2:
        raise ConfigError("denoise=True needs steps ≥ 2 (one solver step, then the denoising step)")
    x = _reverse_start(model, n_or_shape, generator, x_init)
    times = _reverse_times(model, steps, x)

    def fn(state: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return model.sde.ode_drift(state, t, model.score(state, t, y))

    x, nfe, path = _integrate(fn, x, times[:-1] if denoise else times, method,
                              keep=wanted - {steps} if denoise else wanted,
                              rtol=rtol, atol=atol, progress=progress, desc="probability flow")
    if denoise:
        x = tweedie_denoise(model, x, _times(float(times[-2]), x), y)
        nfe += 1
        if steps in wanted:
            path[steps] = x.clone()
    return SDESample(x, nfe, times, path)


@torch.no_grad()
def encode(model: ScoreSDE, x: torch.Tensor, steps: int = 100, *, method: str = "heun",
           y: torch.Tensor | None = None, keep: Iterable[int] = (), rtol: float = 1e-5, atol: float = 1e-5,
           progress: bool = False) -> SDESample:
    """Map data x (B, ...) at t_eps to its latent at t = 1 along the probability-flow ODE (the inverse of
    `probability_flow`); with a good score the latents are ≈ N(0, prior_std² I). Arguments as in `probability_flow`.
    """
    _check_ode_method(method, steps)
    wanted = _check_keep(keep, steps)
    x = x.to(**param_like(model.network))
    times = _reverse_times(model, steps, x).flip(0)

    def fn(state: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return model.sde.ode_drift(state, t, model.score(state, t, y))

    z, nfe, path = _integrate(fn, x, times, method, keep=wanted, rtol=rtol, atol=atol, progress=progress,
                              desc="encode")
    return SDESample(z, nfe, times, path)


@torch.no_grad()
def log_likelihood(model: ScoreSDE, x: torch.Tensor, steps: int = 100, *, method: str = "heun",
                   divergence: str = "hutchinson", n_probes: int = 1, generator: torch.Generator | None = None,
                   y: torch.Tensor | None = None, rtol: float = 1e-5, atol: float = 1e-5,
                   progress: bool = False) -> torch.Tensor:
    """(B,) log p_{t_eps}(x) in nats under the model's probability-flow ODE (instantaneous change of variables).

    Along the ODE dx/dt = f̃(x, t) densities obey d log p_t(x(t))/dt = −∇·f̃(x(t), t), so integrating the
    augmented state (x, Δ) with dΔ/dt = ∇·f̃ from x(t_eps) = x, Δ = 0 to t = 1 gives

        log p_{t_eps}(x) = log p_prior(x(1)) + Δ(1).

    divergence "exact": Σ_d ∂f̃_d/∂x_d, one backward pass per coordinate (fine in 2-D, slow for images).
    divergence "hutchinson": (1/P) Σ_p v_pᵀ (∂f̃/∂x) v_p with P = n_probes Rademacher vectors v_p, drawn once from
    `generator` and held fixed along the path (so the augmented ODE is a fixed ODE); unbiased, and exact when
    the Jacobian is diagonal. The model is evaluated in its own dtype; the prior stands in for p_1 exactly.

    Args:
        x: (B, ...) data, in the model's data space.
        method, steps, rtol, atol: ODE solver as in `probability_flow`.
        y: (B,) labels for a conditional model.
    """
    _check_ode_method(method, steps)
    check_choice("divergence", divergence, DIVERGENCES)
    if not isinstance(n_probes, int) or isinstance(n_probes, bool) or n_probes < 1:
        raise ConfigError(f"n_probes={n_probes!r} must be a positive integer number of Hutchinson probes")
    x = x.detach().to(**param_like(model.network))
    batch, flat_dim = x.shape[0], x[0].numel()
    probes = None
    if divergence == "hutchinson":
        draws = torch.rand((n_probes, *x.shape), generator=generator, device=x.device)
        probes = torch.where(draws < 0.5, -1.0, 1.0).to(x.dtype)  # (P, B, ...) ±1

    def augmented(state: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        xs = state[:, :flat_dim].reshape(x.shape)
        with torch.enable_grad():
            xs = xs.detach().requires_grad_(True)
            drift = model.sde.ode_drift(xs, t, model.score(xs, t, y))
            if probes is None:
                flat = drift.flatten(1)
                div = sum(torch.autograd.grad(flat[:, d].sum(), xs, retain_graph=True)[0].flatten(1)[:, d]
                          for d in range(flat_dim))
            else:
                div = sum((torch.autograd.grad((drift * v).sum(), xs, retain_graph=True)[0] * v).flatten(1).sum(1)
                          for v in probes) / n_probes
        return torch.cat([drift.detach().flatten(1), div.detach()[:, None]], dim=1)

    state = torch.cat([x.flatten(1), torch.zeros(batch, 1, dtype=x.dtype, device=x.device)], dim=1)
    times = _reverse_times(model, steps, x).flip(0)
    end, _, _ = _integrate(augmented, state, times, method, rtol=rtol, atol=atol, progress=progress,
                           desc="log-likelihood")
    z = end[:, :flat_dim].reshape(x.shape)
    return model.sde.prior_log_prob(z) + end[:, flat_dim]


def bits_per_dim(model: ScoreSDE, x: torch.Tensor, steps: int = 100, *, levels: int = 256,
                 dequantize: bool = True, generator: torch.Generator | None = None, **kwargs) -> torch.Tensor:
    """(B,) bits per dimension of discrete images x (B, C, H, W) scaled to [−1, 1], via `log_likelihood`.

    Convention: a pixel k ∈ {0, …, L − 1} (L = levels) is stored as x = k/c − 1 with c = (L − 1)/2 (127.5 for
    8 bits). With dequantize=True, uniform noise u/c, u ~ U[0, 1)^D, is added (from `generator`), which is the
    image of y = k + u ∈ [0, L)^D. Since x = y/c − 1, p_Y(y) = p_X(x)·|dx/dy|^D = p_X(x)·c^{−D}, so

        bits/dim = −log p_Y(y) / (D log 2) = (−log p_X(x)/D + log c) / log 2,

    and by Jensen E_u[−log₂ p_Y(k + u)]/D bounds the discrete model's −log₂ P(k)/D from above: this is the number
    comparable with published bits/dim. With dequantize=False x is scored as given (still with the log c term).
    Other keyword arguments go to `log_likelihood`.
    """
    if not isinstance(levels, int) or levels < 2:
        raise ConfigError(f"levels={levels!r} must be an integer ≥ 2 (256 for 8-bit images)")
    c = (levels - 1) / 2.0
    if dequantize:
        x = x + torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device) / c
    log_px = log_likelihood(model, x, steps, generator=generator, **kwargs)
    d = x[0].numel()
    return (-log_px / d + math.log(c)) / math.log(2.0)
