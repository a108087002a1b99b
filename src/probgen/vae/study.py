"""The experiments of the VAE chapters, configured by profile.

`BasicsConfig` drives the VAE-basics notebook (the 784-400-20 reference model
and a 2-D latent VAE); `PriorStudyConfig` drives the priors study (one VAE per
prior and seed on binarized MNIST). The notebooks call these functions and
only plot and comment.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..data import load_mnist
from ..runtime import ConfigError, ProfileConfig, check_choice
from .training import PRIORS, VAETrainConfig, evaluate, train_vae


@dataclass(frozen=True)
class MNISTSplits:
    """Training, validation and test images (N, 1, 28, 28) float32 in one view, with labels."""

    view: str
    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor
    test_labels: np.ndarray
    train_labels: np.ndarray | None = None


def load_splits(view: str, *, n_train: int | None = None, n_val: int | None = None, n_test: int | None = None,
                train_split: str = "train", val_split: str = "val") -> MNISTSplits:
    """MNIST in `view` ("binarized" | "unit").

    By default train = the first 50 000 training images and val = the last 10 000.
    `train_split="trainval"` trains on all 60 000; `val_split="test"` scores the
    epochs on the test set (the protocol of the reference VAE implementation).
    """
    check_choice("train_split", train_split, ("train", "trainval"))
    check_choice("val_split", val_split, ("val", "test"))

    def images(split, limit):
        m = load_mnist(split, view, limit=limit)
        return torch.as_tensor(m.images, dtype=torch.float32), np.asarray(m.labels)

    train, train_labels = images(train_split, n_train)
    val, _ = images(val_split, n_val)
    test, labels = images("test", n_test)
    return MNISTSplits(view, train, val, test, labels, train_labels)


def _check_sizes(cfg, names) -> None:
    for name in names:
        value = getattr(cfg, name)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ConfigError(f"{name}={value!r} must be None (all) or a positive integer")


@dataclass(frozen=True)
class BasicsConfig(ProfileConfig):
    """The VAE-basics chapter: a 784-400-20 reference VAE and a 784-400-2 VAE, both on [0, 1] pixels."""

    PROFILES = {
        "smoke": dict(n_train=2_000, n_val=500, n_test=500, epochs=2, epochs_2d=2),
        "quick": dict(n_train=None, n_val=None, n_test=None, epochs=20, epochs_2d=20),
        "full": dict(n_train=None, n_val=None, n_test=None, epochs=20, epochs_2d=50),
    }

    n_train: int | None = 2_000  # training images (None: all of train_split)
    n_val: int | None = 500
    n_test: int | None = 500
    # The reference implementation trains on all 60 000 training images and scores every
    # epoch on the test set; with a fixed number of epochs nothing is selected on it.
    train_split: str = "trainval"  # "trainval" (60 000) | "train" (first 50 000)
    val_split: str = "test"  # "test" | "val" (last 10 000 training images)
    view: str = "unit"  # the reference target is for non-binarized pixels with a Bernoulli likelihood
    hidden: tuple = (400,)
    latent_dim: int = 20
    epochs: int = 2
    epochs_2d: int = 2
    batch_size: int = 128
    lr: float = 1e-3
    target_val_neg_elbo: float = 104.0  # reference: below this after 20 epochs (quick and full)
    # Traversals decode z0 + k * traversal_step * e_i for k in traversal_k: the exercise's
    # "±2ε with ε = 2" is k in {-2, ..., 2} and ε = 2, i.e. offsets -4, -2, 0, 2, 4.
    traversal_k: tuple = (-2, -1, 0, 1, 2)
    traversal_step: float = 2.0  # ε, in units of the prior's standard deviation
    n_alphas: int = 11  # values of alpha in each interpolation: 0, 0.1, ..., 1
    interpolation_digits: tuple = ((2, 7), (0, 6), (4, 9))  # real test pairs: first test image of each digit
    device: str = "auto"

    def validate(self) -> None:
        check_choice("view", self.view, ("unit", "binarized"))
        check_choice("device", self.device, ("auto", "cpu", "cuda"))
        check_choice("train_split", self.train_split, ("train", "trainval"))
        check_choice("val_split", self.val_split, ("val", "test"))
        _check_sizes(self, ("n_train", "n_val", "n_test"))
        for name in ("epochs", "epochs_2d", "latent_dim", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be at least 1")
        if not self.traversal_k or any(not isinstance(k, int) for k in self.traversal_k):
            raise ConfigError(f"traversal_k={self.traversal_k!r} must be a non-empty tuple of integers")
        if not (isinstance(self.traversal_step, (int, float)) and self.traversal_step > 0):
            raise ConfigError(f"traversal_step={self.traversal_step!r} must be a positive number")
        if not isinstance(self.n_alphas, int) or self.n_alphas < 2:
            raise ConfigError(f"n_alphas={self.n_alphas!r} must be an integer of at least 2 (both endpoints)")
        pairs = tuple(tuple(p) for p in self.interpolation_digits)
        if any(len(p) != 2 or any(d not in range(10) for d in p) for p in pairs):
            raise ConfigError(f"interpolation_digits={self.interpolation_digits!r} must be pairs of digits 0-9, "
                              "e.g. ((2, 7), (0, 6))")

    def traversal_offsets(self) -> list[float]:
        """The values k * ε added to one coordinate, e.g. [-4.0, -2.0, 0.0, 2.0, 4.0]."""
        return [k * float(self.traversal_step) for k in self.traversal_k]

    def splits(self) -> MNISTSplits:
        """The images this config trains on and scores its epochs on."""
        return load_splits(self.view, n_train=self.n_train, n_val=self.n_val, n_test=self.n_test,
                           train_split=self.train_split, val_split=self.val_split)

    def train_config(self, latent_dim: int | None = None, epochs: int | None = None) -> VAETrainConfig:
        return VAETrainConfig(latent_dim=latent_dim or self.latent_dim, prior="gaussian", hidden=tuple(self.hidden),
                              epochs=epochs or self.epochs, batch_size=self.batch_size, lr=self.lr, seed=self.seed,
                              view=self.view, device=self.device)


@dataclass(frozen=True)
class PriorStudyConfig(ProfileConfig):
    """The priors study: one 784-512-512-M VAE per prior and seed on binarized MNIST."""

    PROFILES = {
        "smoke": dict(n_train=2_000, n_val=500, n_test=500, epochs=2, n_seeds=1, iwae_k=10, iwae_images=200),
        "quick": dict(n_train=None, n_val=None, n_test=None, epochs=10, n_seeds=3, iwae_k=100, iwae_images=2_000),
        "full": dict(n_train=None, n_val=None, n_test=None, epochs=100, n_seeds=5, iwae_k=1_000, iwae_images=None,
                     priors=("gaussian", "mog", "flow", "vamp")),
    }

    priors: tuple = ("gaussian", "mog", "flow")  # any of probgen.vae.training.PRIORS
    n_seeds: int = 1  # runs per prior, seeds seed, seed+1, ...
    n_train: int | None = 2_000
    n_val: int | None = 500
    n_test: int | None = 500  # test images for the ELBO (None: all 10 000)
    iwae_k: int = 10  # importance samples of the IWAE bound
    iwae_images: int | None = 200  # test images for the IWAE bound (None: all of n_test)
    latent_dim: int = 32
    hidden: tuple = (512, 512)
    n_components: int = 10  # mixture components / pseudo-inputs
    flow_layers: int = 4
    flow_hidden: int = 256
    epochs: int = 2
    batch_size: int = 128
    lr: float = 1e-3
    target_test_elbo: float = -97.0  # quick target for every prior's mean test ELBO
    latent_dim_2d: int = 2  # the second, drawable latent size: one run per prior (seed `seed`), same recipe
    device: str = "auto"

    def validate(self) -> None:
        for prior in self.priors:
            check_choice("priors", prior, PRIORS)
        check_choice("device", self.device, ("auto", "cpu", "cuda"))
        _check_sizes(self, ("n_train", "n_val", "n_test", "iwae_images"))
        for name in ("n_seeds", "iwae_k", "latent_dim", "latent_dim_2d", "epochs", "batch_size", "n_components",
                     "flow_layers"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be at least 1")

    @property
    def seeds(self) -> list[int]:
        return list(range(self.seed, self.seed + self.n_seeds))

    def train_config(self, prior: str, seed: int, latent_dim: int | None = None) -> VAETrainConfig:
        """The run of `prior` and `seed`; `latent_dim` overrides M (the 2-D runs), nothing else changes."""
        return VAETrainConfig(latent_dim=latent_dim or self.latent_dim, prior=prior, n_components=self.n_components,
                              flow_layers=self.flow_layers, flow_hidden=self.flow_hidden, hidden=tuple(self.hidden),
                              epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, seed=seed, view="binarized",
                              device=self.device)


@dataclass
class Run:
    """One trained VAE of the priors study with its curves and test scores."""

    prior: str
    seed: int
    model: torch.nn.Module
    history: dict
    scores: dict


def run_prior_study(cfg: PriorStudyConfig, data: MNISTSplits, *, log=print, progress: bool = True) -> list[Run]:
    """Train (or load) every (prior, seed) VAE and score it on the test images: ELBO, and IWAE on a subset."""
    if data.view != "binarized":
        raise ValueError(f"the priors study runs on binarized MNIST, got view={data.view!r}")
    runs = []
    iwae_x = data.test if cfg.iwae_images is None else data.test[: cfg.iwae_images]
    for prior in cfg.priors:
        for seed in cfg.seeds:
            model, history = train_vae(cfg.train_config(prior, seed), train_x=data.train, val_x=data.val, log=log,
                                       progress=progress)
            start = time.perf_counter()
            gen = lambda: torch.Generator(device=next(model.parameters()).device).manual_seed(seed)  # noqa: E731
            scores = evaluate(model, data.test, generator=gen())
            iwae = evaluate(model, iwae_x, iwae_k=cfg.iwae_k, generator=gen())
            scores.update(iwae_mean=iwae["iwae_mean"], iwae_sem=iwae["iwae_sem"], iwae_k=cfg.iwae_k,
                          iwae_images=len(iwae_x), elbo_on_iwae_images=iwae["elbo_mean"],
                          eval_seconds=time.perf_counter() - start)
            runs.append(Run(prior, seed, model, history, scores))
    return runs


def run_2d_priors(cfg: PriorStudyConfig, data: MNISTSplits, *, log=print, progress: bool = True) -> list[Run]:
    """One VAE per prior with a `cfg.latent_dim_2d`-dimensional latent (seed `cfg.seed`), scored on the test images.

    Same encoder/decoder widths, prior settings, epochs, batch size and learning rate as the
    M-dimensional runs; only the latent size differs. The scores hold the per-image ELBOs, so two
    priors can be compared image by image (`paired_difference`).
    """
    if data.view != "binarized":
        raise ValueError(f"the priors study runs on binarized MNIST, got view={data.view!r}")
    runs = []
    for prior in cfg.priors:
        model, history = train_vae(cfg.train_config(prior, cfg.seed, latent_dim=cfg.latent_dim_2d),
                                   train_x=data.train, val_x=data.val, log=log, progress=progress)
        gen = torch.Generator(device=next(model.parameters()).device).manual_seed(cfg.seed)
        runs.append(Run(prior, cfg.seed, model, history, evaluate(model, data.test, generator=gen)))
    return runs


@dataclass(frozen=True)
class Difference:
    """A difference of mean scores a - b with its standard error; `a` is better when `difference > 0`.

    `paired_difference` makes one from per-item scores of the same items, `seed_difference` from
    independent runs (seeds) of each model. A NaN standard error (one run each) never resolves.
    """

    name_a: str
    name_b: str
    difference: float
    standard_error: float
    n: int
    z: float = 1.96

    @property
    def resolved(self) -> bool:
        """True when |difference| exceeds z standard errors (z = 1.96: a two-sided 95% interval excludes 0)."""
        return bool(np.isfinite(self.standard_error)) and abs(self.difference) > self.z * self.standard_error

    def phrase(self, unit: str = "nats", digits: int = 2) -> str:
        """How a compares with b: "higher than the <b>'s by 1.23 ± 0.15 nats", or "within the noise of ..."."""
        if not np.isfinite(self.standard_error):
            return (f"{self.difference:+.{digits}f} {unit} from the {self.name_b}'s, which one run each cannot "
                    "judge (no spread between runs to compare it with)")
        if not self.resolved:
            return (f"within the noise of the {self.name_b}'s "
                    f"(difference {self.difference:+.{digits}f} ± {self.standard_error:.{digits}f} {unit})")
        side = "higher" if self.difference > 0 else "lower"
        return f"{side} than the {self.name_b}'s by {abs(self.difference):.{digits}f} ± {self.standard_error:.{digits}f} {unit}"


PairedDifference = Difference  # the name under which the per-image comparison was introduced


def seed_difference(a, b, names: tuple[str, str], z: float = 1.96) -> Difference:
    """The difference of the means of two sets of independent runs, with Welch's standard error.

    Args:
        a, b: one score per run (e.g. the test ELBO of each seed) of the two models; sizes may differ.
    Returns:
        a `Difference` with n = the smaller number of runs; its standard error is NaN when either
        model has a single run.
    """
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if len(a) == 0 or len(b) == 0:
        raise ValueError(f"seed_difference needs at least one run of each model, got {len(a)} and {len(b)}")
    se = float(np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))) if min(len(a), len(b)) > 1 else float("nan")
    return Difference(names[0], names[1], float(a.mean() - b.mean()), se, min(len(a), len(b)), z)


def paired_difference(a, b, names: tuple[str, str], z: float = 1.96) -> Difference:
    """The mean of a_n - b_n with the standard error of that mean (ddof=1), for scores of the same N items.

    Pairing removes the spread between items that both models share (hard images are hard for
    both), so the error is that of the difference, not of each mean.

    Args:
        a, b: (N,) per-item scores, e.g. `evaluate(...)["elbo_per_image"]` of two models on one test set.
        names: how the two are called in `phrase`.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(f"paired_difference needs two (N,) arrays of the same items with N >= 2, "
                         f"got shapes {a.shape} and {b.shape}")
    d = a - b
    return PairedDifference(names[0], names[1], float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d))), len(d), z)


def ranking_sentence(per_item: dict[str, np.ndarray], *, quantity: str = "mean test ELBO", unit: str = "nats",
                     items: str = "test images", digits: int = 2) -> str:
    """Which of several models has the highest mean score, and how it compares with each other one, item by item.

    Args:
        per_item: model name -> (N,) per-item scores on the same items (higher is better).
        quantity, unit, items: words of the sentence.
    Returns:
        e.g. "The flow prior's model has the highest mean test ELBO, -140.12 nats: higher than the
        mixture prior's by 0.80 ± 0.20 nats and within the noise of the Gaussian prior's (difference
        +0.05 ± 0.12 nats); ± is one paired standard error over N = 10000 test images, and a
        difference counts when it exceeds 1.96 of them". With no difference resolved it says that
        the models cannot be told apart.
    """
    if len(per_item) < 2:
        raise ValueError(f"ranking_sentence compares at least two models, got {list(per_item)}")
    names = sorted(per_item, key=lambda k: -float(np.mean(per_item[k])))
    best = names[0]
    diffs = [paired_difference(per_item[best], per_item[other], (best, other)) for other in names[1:]]
    clauses = [d.phrase(unit, digits) for d in diffs]
    joined = clauses[0] if len(clauses) == 1 else ", ".join(clauses[:-1]) + " and " + clauses[-1]
    mean = float(np.mean(per_item[best]))
    if any(d.resolved for d in diffs):
        head = f"The {best}'s model has the highest {quantity}, {mean:.{digits}f} {unit}: "
    else:
        head = f"The {quantity}s cannot be told apart: the {best}'s model has the highest, {mean:.{digits}f} {unit}, "
    return (head + joined + f"; ± is one paired standard error over N = {diffs[0].n} {items}, and a difference "
            f"counts when it exceeds {diffs[0].z:g} of them")


PRIOR_NAMES = {"gaussian": "standard Gaussian", "mog": "mixture of Gaussians", "flow": "flow (RealNVP)",
               "vamp": "VampPrior"}


def runs_table(runs: list[Run]) -> pd.DataFrame:
    """One row per run: prior, seed, test ELBO, reconstruction, KL, IWAE, training time."""
    return pd.DataFrame([{
        "prior": PRIOR_NAMES[r.prior], "seed": r.seed, "test ELBO": r.scores["elbo_mean"],
        "reconstruction": r.scores["reconstruction_mean"], "KL": r.scores["kl_mean"],
        f"IWAE (k={r.scores['iwae_k']})": r.scores["iwae_mean"],
        "ELBO on the IWAE images": r.scores["elbo_on_iwae_images"],
        "train seconds": float(np.sum(r.history["seconds"])),
    } for r in runs])


def summary_table(runs: list[Run]) -> pd.DataFrame:
    """Mean ± std over seeds per prior (std with ddof=1; NaN for a single seed)."""
    table = runs_table(runs)
    iwae_col = next(c for c in table.columns if c.startswith("IWAE"))
    rows = []
    for prior, group in table.groupby("prior", sort=False):
        row = {"prior": prior, "seeds": len(group)}
        for col in ("test ELBO", iwae_col, "reconstruction", "KL"):
            row[f"{col} mean"] = group[col].mean()
            row[f"{col} std"] = group[col].std(ddof=1) if len(group) > 1 else float("nan")
        row["IWAE − ELBO (same images)"] = (group[iwae_col] - group["ELBO on the IWAE images"]).mean()
        row["train minutes per run"] = group["train seconds"].mean() / 60
        rows.append(row)
    return pd.DataFrame(rows)


def mean_std_text(mean: float, std: float, digits: int = 2) -> str:
    """"−88.80 ± 0.70" (or just the mean when std is NaN)."""
    if np.isnan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"
