"""Build, train (or load from cache) and evaluate a VAE from one frozen config."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from .. import checkpoints
from ..runtime import progress as progress_bar, ConfigError, FromDict, check_choice, param_like, resolve_device
from .model import VAE
from .nets import BernoulliLikelihood, ConvDecoder, ConvEncoder, GaussianLikelihood, MLPDecoder, MLPEncoder
from .priors import FlowPrior, MixtureOfGaussiansPrior, StandardGaussianPrior, VampPrior

PRIORS = ("gaussian", "mog", "flow", "vamp")
ENCODERS = ("mlp", "conv")
VIEWS = ("binarized", "unit", "symmetric")
LIKELIHOODS = ("bernoulli", "gaussian")
HISTORY_KEYS = ("epoch", "seconds", "train_neg_elbo", "train_reconstruction_nll", "train_kl",
                "val_neg_elbo", "val_reconstruction_nll", "val_kl")


@dataclass(frozen=True)
class VAETrainConfig(FromDict):
    """Every hyperparameter of one VAE run; its hash names the checkpoint."""

    latent_dim: int = 32
    prior: str = "gaussian"  # "gaussian" | "mog" | "flow" | "vamp"
    n_components: int = 10  # mixture components ("mog") or pseudo-inputs ("vamp")
    flow_layers: int = 4  # coupling layers ("flow")
    flow_hidden: int = 256  # width of each coupling network ("flow")
    encoder: str = "mlp"  # "mlp" | "conv"; the decoder mirrors it
    hidden: tuple = (512, 512)  # dense widths of encoder and decoder
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0  # initialisation, data order and reparameterisation noise
    n_train: int | None = None  # keep the first n_train training images (None: all given)
    view: str = "binarized"  # MNIST view the model is trained on: "binarized" | "unit" | "symmetric"
    likelihood: str = "bernoulli"  # "bernoulli" | "gaussian"
    likelihood_std: float = 1.0  # std of the Gaussian likelihood (initial value if learnt)
    learn_likelihood_std: bool = False
    beta: float = 1.0  # KL weight in the loss
    device: str = "auto"  # "auto" | "cpu" | "cuda"

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))  # lists from JSON hash the same
        check_choice("prior", self.prior, PRIORS)
        check_choice("encoder", self.encoder, ENCODERS)
        check_choice("view", self.view, VIEWS)
        check_choice("likelihood", self.likelihood, LIKELIHOODS)
        check_choice("device", self.device, ("auto", "cpu", "cuda"))
        for name in ("latent_dim", "n_components", "flow_layers", "flow_hidden", "epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name}={value!r} must be a positive integer")
        if not self.hidden or min(self.hidden) < 1:
            raise ConfigError(f"hidden={self.hidden!r} must be a non-empty tuple of positive widths")
        if self.n_train is not None and (not isinstance(self.n_train, int) or self.n_train < 1):
            raise ConfigError(f"n_train={self.n_train!r} must be None or a positive integer")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ConfigError(f"seed={self.seed!r} must be a non-negative integer")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr={self.lr!r} must be a positive number")
        if not (math.isfinite(self.beta) and self.beta >= 0):
            raise ConfigError(f"beta={self.beta!r} must be a non-negative number")
        if not self.likelihood_std > 0:
            raise ConfigError(f"likelihood_std={self.likelihood_std!r} must be positive")
        if self.likelihood == "bernoulli" and self.view == "symmetric":
            raise ConfigError("likelihood='bernoulli' needs pixels in [0, 1]; use view='binarized' or 'unit', "
                              "or likelihood='gaussian' for view='symmetric'")



def build_vae(cfg: VAETrainConfig, input_shape=(1, 28, 28)) -> VAE:
    """A freshly initialised VAE for `cfg`, seeded by `cfg.seed` (global RNG state left untouched), on CPU."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        d = cfg.latent_dim
        if cfg.encoder == "mlp":
            encoder = MLPEncoder(latent_dim=d, hidden=cfg.hidden, input_shape=input_shape)
            decoder = MLPDecoder(latent_dim=d, hidden=tuple(reversed(cfg.hidden)), output_shape=input_shape)
        else:
            encoder = ConvEncoder(latent_dim=d, hidden=cfg.hidden, input_shape=input_shape)
            decoder = ConvDecoder(latent_dim=d, hidden=tuple(reversed(cfg.hidden)), output_shape=input_shape)
        if cfg.prior == "gaussian":
            prior = StandardGaussianPrior(d)
        elif cfg.prior == "mog":
            prior = MixtureOfGaussiansPrior(d, cfg.n_components)
        elif cfg.prior == "flow":
            prior = FlowPrior(d, n_layers=cfg.flow_layers, hidden=cfg.flow_hidden)
        else:
            prior = VampPrior(d, cfg.n_components, encoder, input_shape)
        if cfg.likelihood == "bernoulli":
            likelihood = BernoulliLikelihood()
        else:
            squash = {"binarized": "sigmoid", "unit": "sigmoid", "symmetric": "tanh"}[cfg.view]
            likelihood = GaussianLikelihood(cfg.likelihood_std, learn_std=cfg.learn_likelihood_std, squash=squash)
        return VAE(encoder, decoder, prior, likelihood, beta=cfg.beta)


def cache_config(cfg: VAETrainConfig, train_x: torch.Tensor, val_x: torch.Tensor) -> dict:
    """What names the checkpoint: the config plus fingerprints of the data it is trained and validated on."""
    return {**checkpoints.config_dict(cfg),
            "train_data": checkpoints.data_fingerprint(train_x), "val_data": checkpoints.data_fingerprint(val_x)}


def _epoch_generators(seed: int, epoch: int, device: str) -> tuple[torch.Generator, torch.Generator]:
    """Data-order and noise generators of one epoch: a resumed run repeats exactly what a straight run does."""
    order = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    noise = torch.Generator(device=device).manual_seed(seed * 1_000_003 + epoch + 500_000)
    return order, noise


@torch.no_grad()
def _mean_terms(model: VAE, x: torch.Tensor, batch_size: int, generator: torch.Generator) -> dict[str, float]:
    """Mean -ELBO, reconstruction NLL and KL over `x`, in nats per image."""
    like = param_like(model)
    sums = {"neg_elbo": 0.0, "reconstruction_nll": 0.0, "kl": 0.0}
    for start in range(0, x.shape[0], batch_size):
        t = model.elbo_terms(x[start:start + batch_size].to(**like), generator)
        sums["neg_elbo"] -= t["elbo"].sum().item()
        sums["reconstruction_nll"] -= t["reconstruction"].sum().item()
        sums["kl"] += t["kl"].sum().item()
    return {k: v / x.shape[0] for k, v in sums.items()}


def train_vae(cfg: VAETrainConfig, *, train_x: torch.Tensor, val_x: torch.Tensor, log: Callable[[str], None] = print,
              progress: bool = True) -> tuple[VAE, dict[str, list]]:
    """Train a VAE with Adam, or load it from the cache if this (config, data) was trained before.

    A partial checkpoint (model, optimiser, history) is written after every epoch,
    so an interrupted run resumes at the next epoch and ends with the same weights.

    Args:
        cfg: the run's hyperparameters.
        train_x: (N, C, H, W) training images in `cfg.view`; only the first `cfg.n_train` are used.
        val_x: (M, C, H, W) validation images, scored after every epoch.
        log: where messages go (cache hits, resumption, the final score).
        progress: show a progress bar (`runtime.progress`) over epochs.
    Returns:
        (model in eval mode on the config's device, history) where history maps each of
        `HISTORY_KEYS` to a list with one value per epoch (nats per image).
    Raises:
        FloatingPointError: the loss became NaN or infinite.
    """

    device = resolve_device(cfg.device)
    if cfg.n_train is not None:
        train_x = train_x[: cfg.n_train]
    key = cache_config(cfg, train_x, val_x)
    input_shape = tuple(train_x.shape[1:])

    def train(resume, save):
        model = build_vae(cfg, input_shape).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        history, start_epoch = checkpoints.restore_training(resume, model, optimizer, HISTORY_KEYS)
        n = train_x.shape[0]
        bar = progress_bar(range(start_epoch, cfg.epochs), desc=f"VAE ({cfg.prior} prior)", enabled=progress,
                           initial=start_epoch, total=cfg.epochs)
        for epoch in bar:
            t0 = time.perf_counter()
            order, noise = _epoch_generators(cfg.seed, epoch, device)
            model.train()
            sums = {"neg_elbo": 0.0, "reconstruction_nll": 0.0, "kl": 0.0}
            for step, idx in enumerate(torch.randperm(n, generator=order).split(cfg.batch_size)):
                x = train_x[idx].to(**param_like(model))
                terms = model.elbo_terms(x, noise)
                loss = -(terms["reconstruction"] - model.beta * terms["kl"]).mean()
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"VAE loss became {loss.item()} at epoch {epoch + 1}, step {step + 1} "
                        f"(prior={cfg.prior!r}, lr={cfg.lr:g}); try a lower learning rate, e.g. lr={cfg.lr / 10:g}")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                sums["neg_elbo"] -= terms["elbo"].detach().sum().item()
                sums["reconstruction_nll"] -= terms["reconstruction"].detach().sum().item()
                sums["kl"] += terms["kl"].detach().sum().item()
            model.eval()
            val = _mean_terms(model, val_x, max(cfg.batch_size, 500), torch.Generator(device=device).manual_seed(0))
            history["epoch"].append(epoch + 1)
            history["seconds"].append(time.perf_counter() - t0)
            for k, v in sums.items():
                history[f"train_{k}"].append(v / n)
                history[f"val_{k}"].append(val[k])
            bar.set_postfix(train=f"{sums['neg_elbo'] / n:.2f}", val=f"{val['neg_elbo']:.2f}")
            save({"model": checkpoints.cpu_state(model), "optimizer": optimizer.state_dict()}, epoch + 1,
                 {"history": history})
        bar.close()
        return {"model": checkpoints.cpu_state(model)}, cfg.epochs, {"history": history}

    payload = checkpoints.train_or_load("vae", key, train, log=log)
    model = checkpoints.restore_model(build_vae(cfg, input_shape), payload, device)
    history = payload["metrics"]["history"]
    if history["val_neg_elbo"]:
        log(f"VAE ({cfg.prior} prior, {cfg.epochs} epochs): validation -ELBO {history['val_neg_elbo'][-1]:.2f} nats")
    return model, history


@torch.no_grad()
def evaluate(model: VAE, x: torch.Tensor, *, iwae_k: int | None = None, batch_size: int = 500,
             iwae_chunk: int = 100, generator: torch.Generator | None = None) -> dict[str, Any]:
    """Test-set ELBO (and optionally the IWAE bound) of `model` on images `x`.

    Args:
        x: (N, C, H, W) images in the model's view.
        iwae_k: number of importance samples; None skips the IWAE bound.
        generator: noise of the estimates; default a generator seeded 0 on the model's device.
    Returns:
        dict with elbo_mean, elbo_sem (standard error over images), reconstruction_mean, kl_mean,
        elbo_per_image, reconstruction_per_image and kl_per_image (N,) numpy (reconstruction is
        log p(x|z), so the ELBO is reconstruction − KL image by image), and iwae_mean, iwae_sem,
        iwae_per_image (None without iwae_k).
    """
    like = param_like(model)
    if generator is None:
        generator = torch.Generator(device=like["device"]).manual_seed(0)
    was_training = model.training
    model.eval()
    elbo, rec, kl, iwae = [], [], [], []
    for start in range(0, x.shape[0], batch_size):
        xb = x[start:start + batch_size].to(**like)
        t = model.elbo_terms(xb, generator)
        elbo.append(t["elbo"].cpu())
        rec.append(t["reconstruction"].cpu())
        kl.append(t["kl"].cpu())
        if iwae_k:
            iwae.append(model.iwae_bound(xb, iwae_k, chunk=iwae_chunk, generator=generator).cpu())
    model.train(was_training)
    elbo_all = torch.cat(elbo).double().numpy()
    out = {
        "n_images": int(x.shape[0]),
        "elbo_mean": float(elbo_all.mean()),
        "elbo_sem": float(elbo_all.std(ddof=1) / np.sqrt(len(elbo_all))) if len(elbo_all) > 1 else float("nan"),
        "reconstruction_mean": float(torch.cat(rec).double().mean()),
        "kl_mean": float(torch.cat(kl).double().mean()),
        "elbo_per_image": elbo_all,
        "reconstruction_per_image": torch.cat(rec).double().numpy(),
        "kl_per_image": torch.cat(kl).double().numpy(),
        "iwae_k": iwae_k,
        "iwae_mean": None, "iwae_sem": None, "iwae_per_image": None,
    }
    if iwae_k:
        iw = torch.cat(iwae).double().numpy()
        out.update(iwae_mean=float(iw.mean()), iwae_per_image=iw,
                   iwae_sem=float(iw.std(ddof=1) / np.sqrt(len(iw))) if len(iw) > 1 else float("nan"))
    return out
