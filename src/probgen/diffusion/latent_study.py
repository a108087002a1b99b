"""The experiments of the latent-DDPM chapter, configured by profile.

For every β: a β-VAE with a Gaussian likelihood on MNIST in [−1, 1], then a
DDPM on its standardised latent codes (`LatentDDPM`). Every model is sampled
on the same device with the same batch size and scored with the same FID as
the pixel-space DDPM of the DDPM chapter, whose cached model and samples this
chapter reuses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import checkpoints
from ..data import load_mnist
from ..nets.mlp import TimeMLP, TimeMLPConfig
from ..reporting import compare, compare_across, join_words
from ..runtime import ConfigError, ProfileConfig, check_choice, resolve_device
from ..vae import VAETrainConfig, encode_dataset, train_vae
from .ddpm import DDPM
from .latent import LatentDDPM, LatentNormalizer
from .schedules import NoiseSchedule, ScheduleConfig
from .study import DDPMStudyConfig, fid_estimate, fid_verdict, lowest_fid
from .training import TrainConfig, train_diffusion


@dataclass(frozen=True)
class LatentStudyConfig(ProfileConfig):
    """Every setting of the latent-DDPM chapter (the pixel DDPM comes from `DDPMStudyConfig` of the same profile)."""

    PROFILES = {
        "smoke": dict(n_train=1000, betas=(1e-6, 1.0), vae_epochs=1, latent_epochs=2, latent_hidden=64, T=100,
                      n_fid_large=200, sample_batch=100),
        "quick": dict(n_train=None, vae_epochs=10, latent_epochs=30, n_fid_large=2000, sample_batch=500),
        "full": dict(n_train=None, vae_epochs=50, latent_epochs=200, latent_hidden=1024, n_fid_large=10_000,
                     sample_batch=2000),
    }

    n_train: int | None = None  # first n of the 60 000 training images
    betas: tuple[float, ...] = (1e-6, 1e-4, 1e-2, 1.0)
    # the β-VAE: MLP 784-512-512-D, Gaussian likelihood with fixed std on pixels in [−1, 1]
    latent_dim: int = 16
    vae_hidden: tuple[int, ...] = (512, 512)
    likelihood_std: float = 1.0
    vae_epochs: int = 10
    vae_batch_size: int = 128
    vae_lr: float = 1e-3
    # the latent DDPM: TimeMLP on D-dimensional codes
    latent_hidden: int = 512
    latent_layers: int = 4
    T: int = 1000
    latent_epochs: int = 30
    latent_batch_size: int = 256
    latent_lr: float = 1e-3
    latent_ema_decay: float = 0.999
    # evaluation: rows are compared at the pixel DDPM's N; latent models also at n_fid_large
    n_fid_large: int = 2000
    sample_batch: int = 500
    device: str = "auto"

    def validate(self) -> None:
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        object.__setattr__(self, "vae_hidden", tuple(int(h) for h in self.vae_hidden))
        check_choice("device", self.device, ("auto", "cpu", "cuda"))
        if not self.betas or min(self.betas) < 0:
            raise ConfigError(f"betas={self.betas!r} must be a non-empty tuple of non-negative numbers")
        for name in ("latent_dim", "vae_epochs", "latent_epochs", "latent_hidden", "latent_layers", "T",
                     "n_fid_large", "sample_batch"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be a positive integer")

    def ddpm_config(self) -> DDPMStudyConfig:
        """The pixel-space DDPM this chapter compares against (the DDPM chapter's model, same profile)."""
        return DDPMStudyConfig.for_profile(self.profile, seed=self.seed, device=self.device)

    def vae_config(self, beta: float) -> VAETrainConfig:
        return VAETrainConfig(latent_dim=self.latent_dim, hidden=self.vae_hidden, epochs=self.vae_epochs,
                              batch_size=self.vae_batch_size, lr=self.vae_lr, seed=self.seed, n_train=self.n_train,
                              view="symmetric", likelihood="gaussian", likelihood_std=self.likelihood_std, beta=beta,
                              device=self.device)

    def latent_network(self) -> TimeMLPConfig:
        return TimeMLPConfig(dim=self.latent_dim, hidden=self.latent_hidden, layers=self.latent_layers, time_dim=64)

    def schedule(self) -> NoiseSchedule:
        """Linear β from 1e-4 to 0.02 at T = 1000 (scaled by 1000/T otherwise), as the pixel DDPM."""
        return NoiseSchedule.from_config(ScheduleConfig.reference(self.T))


def load_images(cfg: LatentStudyConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Training images (first n_train of 60 000), their labels, and the 10 000 test images; [−1, 1], float32."""
    train = load_mnist("trainval", "symmetric", limit=cfg.n_train)
    test = load_mnist("test", "symmetric")
    return (torch.as_tensor(train.images, dtype=torch.float32), torch.as_tensor(train.labels).long(),
            torch.as_tensor(test.images, dtype=torch.float32))


def train_beta_vae(cfg: LatentStudyConfig, beta: float, train_x: torch.Tensor, test_x: torch.Tensor, *,
                   log=print, progress: bool = True):
    """The β-VAE for one β (cached); returns (VAE in eval mode, history). Validation is on the test images."""
    return train_vae(cfg.vae_config(beta), train_x=train_x, val_x=test_x, log=log, progress=progress)


def train_latent_ddpm(cfg: LatentStudyConfig, vae, train_x: torch.Tensor, *, log=print,
                      progress: bool = True) -> tuple[LatentDDPM, dict]:
    """A DDPM on the standardised posterior means of `train_x` under `vae` (cached under the codes' fingerprint)."""
    codes, _ = encode_dataset(vae, train_x)
    normalizer = LatentNormalizer.fit(codes)
    data = normalizer.normalize(codes.double()).float()
    net_cfg = cfg.latent_network()
    schedule = cfg.schedule()

    def build() -> DDPM:
        torch.manual_seed(cfg.seed)
        return DDPM(TimeMLP(net_cfg), schedule)

    train_cfg = TrainConfig(epochs=cfg.latent_epochs, batch_size=cfg.latent_batch_size, lr=cfg.latent_lr,
                            ema_decay=cfg.latent_ema_decay, seed=cfg.seed, device=cfg.device)
    key = {"net": checkpoints.config_dict(net_cfg), "T": cfg.T}
    ddpm, record = train_diffusion("latent-ddpm", key, build, train_cfg, data, log=log, progress=progress)
    vae.to(resolve_device(cfg.device))
    return LatentDDPM(ddpm, vae, normalizer), record


# ----- what the chapter's numbers say -------------------------------------------------------------------------
#
# The comparison table of the chapter (one record per model and sampler) has the columns model ("pixel DDPM",
# "latent DDPM" (ancestral), "latent DDIM", "VAE prior"), steps, beta, "FID (N=…)", "FID se (N=…)" and
# samples_per_s; the β-VAE table has beta and "reconstruction FID (N=…)" with its "reconstruction FID se (N=…)".


def _rows(comparison: list[dict], model: str, steps: int | None = None) -> dict[float, dict]:
    """β → the row of `model` (at `steps`, for the latent DDIM rows)."""
    return {float(r["beta"]): r for r in comparison
            if r["model"] == model and (steps is None or int(r["steps"]) == steps)}


def _pixel(comparison: list[dict], steps: int) -> dict:
    rows = [r for r in comparison if r["model"] == "pixel DDPM" and int(r["steps"]) == steps]
    if len(rows) != 1:
        raise KeyError(f"the table has {len(rows)} pixel-DDPM rows with {steps} steps, not one")
    return rows[0]


def best_latent_beta(comparison: list[dict], n: int) -> float:
    """The β whose latent DDPM (ancestral) has the lowest FID at N = n (a point estimate; see `latent_verdicts`)."""
    lat = _rows(comparison, "latent DDPM")
    return min(lat, key=lambda b: fid_estimate(lat[b], n).value)


def vae_prior_beta(betas) -> float:
    """The β closest to 1: the standard VAE among the β-VAEs."""
    return min(betas, key=lambda b: abs(b - 1.0))


def reconstruction_estimate(row: dict, n: int):
    """The reconstruction FID at N = n of a β-VAE table row, with its bootstrap standard error."""
    return fid_estimate({"FID (N=%d)" % n: row[f"reconstruction FID (N={n})"],
                         "FID se (N=%d)" % n: row[f"reconstruction FID se (N={n})"]}, n)


def _signed(x: float) -> str:
    return f"−{-x:.2f}" if x < 0 else f"+{x:.2f}"


def latent_verdicts(comparison: list[dict], beta_vae: list[dict], *, n_cmp: int, n_large: int, T: int,
                    ddim_steps: tuple[int, ...]) -> dict[str, str]:
    """The latent chapter's sentences that compare models, worded from the FIDs and their standard errors.

    Args:
        comparison, beta_vae: the chapter's two tables as records (see above).
        n_cmp: the N every model is compared at (the pixel DDPM's); n_large: the larger N of the latent models.
        T: the pixel and latent DDPMs' number of steps; ddim_steps: the DDIM step counts of both.
    Returns:
        best_beta, best_latent (the β with the lowest latent-DDPM FID, against the others), latent_vs_pixel,
        latent_vs_prior (at every β) and latent_vs_prior_lo (at the smallest β), latent_ddim_verdict_lo/hi (for
        the best β), latent_ddim_across (the fewest-step latent DDIM at every β), speed_twice, fastest,
        recon_across and recon_gaps (latent DDPM against decoded real codes), recon_hi_lo and latent_hi_lo (the
        largest β against the smallest), latent_speed and decoder_vs_step (wall times).
    """
    lat, prior = _rows(comparison, "latent DDPM"), _rows(comparison, "VAE prior")
    betas = sorted(lat)
    b_lo, b_hi = betas[0], betas[-1]
    s_lo, s_hi = min(ddim_steps), max(ddim_steps)
    ddim_lo, ddim_hi = _rows(comparison, "latent DDIM", s_lo), _rows(comparison, "latent DDIM", s_hi)
    pixel = _pixel(comparison, T)
    beta_name = {b: f"β = {b:g}" for b in betas}
    out: dict[str, str] = {}

    best = best_latent_beta(comparison, n_cmp)
    out["best_beta"] = f"{best:g}"
    _, out["best_latent"] = lowest_fid({beta_name[b]: fid_estimate(lat[b], n_cmp) for b in betas},
                                       what="value of β", plural="values of β") if len(betas) > 1 else (None, (
        f"only {beta_name[best]} was trained in this profile"))
    v = fid_verdict(lat[best], pixel, n_cmp, names=(f"the best latent DDPM ({beta_name[best]})",
                                                    f"the pixel DDPM (ancestral, {T} steps)"))
    out["latent_vs_pixel"] = v.sentence[0].upper() + v.sentence[1:]

    est = {b: fid_estimate(lat[b], n_large) for b in betas}
    prior_est = {b: fid_estimate(prior[b], n_large) for b in betas}
    out["latent_vs_prior"], _ = compare_across(est, prior_est, names=("the latent DDPM", "the VAE prior"),
                                                     quantity="FID", label="β", key_fmt="β = {:g}", better="lower")
    out["latent_vs_prior_lo"] = compare(est[b_lo], prior_est[b_lo], names=("the latent DDPM", "the VAE prior"),
                                                quantity="FID", better="lower").sentence

    names = {s: (f"latent DDIM with {s} steps", f"latent ancestral sampling ({T} steps)") for s in (s_lo, s_hi)}
    out["latent_ddim_verdict_hi"] = fid_verdict(ddim_hi[best], lat[best], n_large, names=names[s_hi]).sentence
    lo_verdict = fid_verdict(ddim_lo[best], lat[best], n_large, names=names[s_lo])
    out["latent_ddim_verdict_lo"] = lo_verdict.sentence
    out["latent_ddim_across"], _ = compare_across({b: fid_estimate(ddim_lo[b], n_large) for b in betas}, est,
                                                  names=names[s_lo], quantity="FID", label="β", key_fmt="β = {:g}", better="lower")
    if lo_verdict.sign >= 0:
        out["speed_twice"] = ("The speed-up of the latent model over the pixel model thus comes twice: from the small "
                              "network, and from the fewer steps that DDIM allows here without a measurable loss "
                              "in FID")
    else:
        out["speed_twice"] = (f"Here the fewer steps cost FID, so at the best β the latent model's speed-up without "
                              f"a loss comes from its small network alone; DDIM with {s_lo} steps trades quality "
                              "for time")

    rows = [r for r in comparison if np.isfinite(r["samples_per_s"])]
    fastest = max(rows, key=lambda r: r["samples_per_s"])
    where = "" if not np.isfinite(fastest["beta"]) else f", β = {fastest['beta']:g}"
    out["fastest"] = (f"the fastest sampler in the table is the {fastest['model']} ({fastest['sampler']}{where}, "
                      f"{fastest['samples_per_s']:.0f} samples per second)")

    recon = {float(r["beta"]): reconstruction_estimate(r, n_large) for r in beta_vae}
    out["recon_across"], gaps = compare_across(est, {b: recon[b] for b in betas},
                                               names=("the latent DDPM", "the decoder on real codes"), quantity="FID",
                                               label="β", key_fmt="β = {:g}", better="lower")
    out["recon_gaps"] = "; ".join(f"{beta_name[b]}: {_signed(g.difference.value)} ± {1.96 * g.difference.se:.2f}"
                                  for b, g in gaps.items())
    out["recon_hi_lo"] = compare(recon[b_hi], recon[b_lo], names=(beta_name[b_hi], beta_name[b_lo]),
                                 quantity="reconstruction FID", better="lower").sentence
    out["latent_hi_lo"] = compare(est[b_hi], est[b_lo], names=(beta_name[b_hi], beta_name[b_lo]),
                                  quantity="the latent DDPM's FID", better="lower").sentence

    ratios = [lat[b]["samples_per_s"] / pixel["samples_per_s"] for b in betas]
    lo_r, hi_r = f"{min(ratios):.0f}", f"{max(ratios):.0f}"
    span = f"{lo_r} times its speed" if lo_r == hi_r else f"{lo_r} to {hi_r} times its speed"
    out["latent_speed"] = (f"The latent DDPM's ancestral sampler is faster than the pixel DDPM's at every β ({span})"
                           if min(ratios) > 1 else
                           f"The latent DDPM's ancestral sampler is not faster than the pixel DDPM's at every β "
                           f"({span})")
    decoder_ms = float(np.median([1000 / prior[b]["samples_per_s"] for b in betas]))
    step_ms = 1000 / pixel["samples_per_s"] / T
    out["decoder_vs_step"] = (f"one decoder pass takes {decoder_ms:.3f} ms per sample (median over β), "
                              f"{decoder_ms / step_ms:.2f} times one U-Net step ({step_ms:.3f} ms per sample)")
    return out


def code_spread(means: torch.Tensor, log_vars: torch.Tensor) -> dict[str, float]:
    """How a β-VAE's codes fill its latent space, from the posteriors q(z|x_n) = N(means_n, exp(log_vars_n)).

    By the law of total variance the aggregate posterior's variance per dimension is the variance of the
    posterior means plus the mean posterior variance (the encoder's noise).
    Args:
        means, log_vars: (N, D).
    Returns:
        {"var_means": variance of the means, averaged over dimensions; "var_noise": mean posterior variance,
        averaged over dimensions; "noise_share": var_noise / (var_means + var_noise)}.
    """
    if means.shape != log_vars.shape or means.ndim != 2 or means.shape[0] < 2:
        raise ValueError(f"means and log_vars must both be (N, D) with N ≥ 2, got {tuple(means.shape)} and "
                         f"{tuple(log_vars.shape)}")
    var_means = float(means.double().var(0).mean())
    var_noise = float(log_vars.double().exp().mean())
    return {"var_means": var_means, "var_noise": var_noise, "noise_share": var_noise / (var_means + var_noise)}


def spread_sentence(spreads: dict[float, dict]) -> str:
    """"the encoder's noise makes up 0.1 % at β = 1e-06 … and 40 % at β = 1 of the aggregate posterior's variance,
    and the posterior means vary with a variance per dimension of 25.3 at β = 1e-06 … (the prior's: 1)" from
    `code_spread` per β."""
    if not spreads:
        raise ValueError("no β to describe")
    betas = sorted(spreads)
    share = join_words([f"{100 * spreads[b]['noise_share']:.3g} % at β = {b:g}" for b in betas])
    var = join_words([f"{spreads[b]['var_means']:.3g} at β = {b:g}" for b in betas])
    return (f"the encoder's noise makes up {share} of the aggregate posterior's variance, and the posterior means "
            f"vary with a variance per dimension of {var} (the prior's: 1)")


__all__ = ["LatentStudyConfig", "best_latent_beta", "code_spread", "latent_verdicts", "load_images",
           "reconstruction_estimate", "spread_sentence", "train_beta_vae", "train_latent_ddpm", "vae_prior_beta"]
