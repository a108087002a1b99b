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
from ..reporting import compare
from ..stats import Estimate
from . import verdicts
from .training import PRIORS, VAETrainConfig, evaluate, train_vae
from .verdicts import seed_difference, seed_mean


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
    target_val_neg_elbo: float = 104.0  # reference: below this held-out −ELBO (nats) ...
    target_epochs: int = 20  # ... after this many epochs (the reference's protocol)
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
        "smoke": dict(n_train=2_000, n_val=500, n_test=500, epochs=2, n_seeds=1, iwae_k=10, iwae_images=200,
                      target_test_elbo=None),
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
    # a sanity target for every prior's mean test ELBO (nats) at this profile's budget; None: no target (smoke)
    target_test_elbo: float | None = -97.0
    latent_dim_2d: int = 2  # the second, drawable latent size: one run per prior (seed `seed`), same recipe
    device: str = "auto"

    def validate(self) -> None:
        for prior in self.priors:
            check_choice("priors", prior, PRIORS)
        check_choice("device", self.device, ("auto", "cpu", "cuda"))
        _check_sizes(self, ("n_train", "n_val", "n_test", "iwae_images"))
        if self.target_test_elbo is not None and not isinstance(self.target_test_elbo, (int, float)):
            raise ConfigError(f"target_test_elbo={self.target_test_elbo!r} must be a number of nats or None")
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
                          iwae_per_image=iwae["iwae_per_image"],
                          iwae_gap_per_image=iwae["iwae_per_image"] - iwae["elbo_per_image"],
                          eval_seconds=time.perf_counter() - start)
            runs.append(Run(prior, seed, model, history, scores))
    return runs


def run_2d_priors(cfg: PriorStudyConfig, data: MNISTSplits, *, log=print, progress: bool = True) -> list[Run]:
    """One VAE per prior with a `cfg.latent_dim_2d`-dimensional latent (seed `cfg.seed`), scored on the test images.

    Same encoder/decoder widths, prior settings, epochs, batch size and learning rate as the
    M-dimensional runs; only the latent size differs. The scores hold the per-image ELBOs, so two
    priors can be compared image by image (`verdicts.paired_difference`).
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


PRIOR_NAMES = {"gaussian": "standard Gaussian", "mog": "mixture of Gaussians", "flow": "flow (RealNVP)",
               "vamp": "VampPrior"}

def coursework_references() -> dict[str, Estimate]:
    """The public coursework test ELBOs at M = 32 (`probgen.published`, mean of 5 runs with its standard error),
    keyed by prior display name. Their data preparation, training length and evaluation are not all known, so a
    comparison with them is indicative only."""
    from ..published import REFERENCES  # the one list of published numbers (the results page's)

    return {PRIOR_NAMES[r.headline.removeprefix("elbo_")]: Estimate(r.value, r.se) for r in REFERENCES
            if r.chapter == "01_vae_priors" and r.headline.removeprefix("elbo_") in PRIOR_NAMES}


def runs_table(runs: list[Run]) -> pd.DataFrame:
    """One row per run: prior, seed, test ELBO with its test-set standard error, reconstruction, KL, IWAE, time."""
    return pd.DataFrame([{
        "prior": PRIOR_NAMES[r.prior], "seed": r.seed, "test ELBO": r.scores["elbo_mean"],
        "test-set s.e.": r.scores["elbo_sem"],
        "reconstruction": r.scores["reconstruction_mean"], "KL": r.scores["kl_mean"],
        f"IWAE (k={r.scores['iwae_k']})": r.scores["iwae_mean"],
        "ELBO on the IWAE images": r.scores["elbo_on_iwae_images"],
        "train seconds": float(np.sum(r.history["seconds"])),
    } for r in runs])


# per-image scores of a run, by name: the ELBO, the reconstruction error −log p(x|z), the KL term, the IWAE bound
# and IWAE − ELBO (both on the IWAE images)
_PER_IMAGE = {"ELBO": ("elbo_per_image", 1.0), "reconstruction error": ("reconstruction_per_image", -1.0),
              "KL": ("kl_per_image", 1.0), "IWAE": ("iwae_per_image", 1.0),
              "IWAE − ELBO": ("iwae_gap_per_image", 1.0)}


def per_image_scores(runs: list[Run], prior: str, score: str = "ELBO") -> np.ndarray:
    """(S, N) per-image `score` ("ELBO", "reconstruction error", "KL", "IWAE", "IWAE − ELBO") of every run of
    `prior`, one row per seed, all on the same test images."""
    if score not in _PER_IMAGE:
        raise ValueError(f"score={score!r} must be one of {list(_PER_IMAGE)}")
    key, sign = _PER_IMAGE[score]
    rows = [sign * np.asarray(r.scores[key], dtype=np.float64) for r in runs if r.prior == prior]
    if not rows:
        raise ValueError(f"no runs of prior {prior!r}; runs hold {sorted({r.prior for r in runs})}")
    return np.stack(rows)


def prior_estimates(runs: list[Run], score: str = "ELBO") -> dict[str, Estimate]:
    """Each prior's mean `score` over its seeds and test images with its standard error (`verdicts.seed_mean`:
    the spread over seeds combined with the test-set error), keyed by the prior's display name."""
    priors = list(dict.fromkeys(r.prior for r in runs))
    return {PRIOR_NAMES[p]: seed_mean(per_image_scores(runs, p, score)) for p in priors}


def summary_table(runs: list[Run]) -> pd.DataFrame:
    """Per prior: mean and std over seeds (ddof = 1; NaN for one seed), the test-set standard error of the mean
    over seeds ("test-set s.e."), and the standard error combining both ("s.e."; `verdicts.seed_mean`), for the
    test ELBO and the IWAE bound; IWAE − ELBO on the same images with its standard error; reconstruction, KL and
    training time."""
    table = runs_table(runs)
    iwae_col = next(c for c in table.columns if c.startswith("IWAE"))
    rows = []
    for prior in dict.fromkeys(r.prior for r in runs):
        group = table[table.prior == PRIOR_NAMES[prior]]
        row = {"prior": PRIOR_NAMES[prior], "seeds": len(group)}
        for col, score in (("test ELBO", "ELBO"), (iwae_col, "IWAE")):
            x = per_image_scores(runs, prior, score)  # (S, N)
            row[f"{col} mean"] = group[col].mean()
            row[f"{col} std"] = group[col].std(ddof=1) if len(group) > 1 else float("nan")
            row[f"{col} test-set s.e."] = seed_mean(x.mean(0)).se  # the run-averaged score's error over images
            row[f"{col} s.e."] = seed_mean(x).se
        for col in ("reconstruction", "KL"):
            row[f"{col} mean"] = group[col].mean()
            row[f"{col} std"] = group[col].std(ddof=1) if len(group) > 1 else float("nan")
        gap = seed_mean(per_image_scores(runs, prior, "IWAE − ELBO"))
        row["IWAE − ELBO (same images)"], row["IWAE − ELBO s.e."] = gap.value, gap.se
        row["train minutes per run"] = group["train seconds"].mean() / 60
        rows.append(row)
    return pd.DataFrame(rows)


def _prior_key(name: str) -> str:
    """A prior's key ("flow") from its key or display name ("flow (RealNVP)")."""
    if name in PRIOR_NAMES:
        return name
    keys = [k for k, v in PRIOR_NAMES.items() if v == name]
    if not keys:
        raise ValueError(f"unknown prior {name!r}; known: {list(PRIOR_NAMES)} or {list(PRIOR_NAMES.values())}")
    return keys[0]


def prior_difference(runs: list[Run], a: str, b: str, score: str = "ELBO") -> Estimate:
    """Prior a's mean `score` minus prior b's (keys or display names), with `verdicts.seed_difference`'s error:
    the spread over seeds (Welch) combined with the paired error over the shared test images."""
    return seed_difference(per_image_scores(runs, _prior_key(a), score), per_image_scores(runs, _prior_key(b), score))


def prior_study_verdicts(runs: list[Run], *, target: float | None, profile: str,
                         reference: str = "gaussian") -> dict[str, str]:
    """The computed sentences of the priors chapter's M-dimensional study, keyed by their glue names.

    Every ± is 1.96 standard errors of the mean over seeds and test images (`verdicts.seed_mean`), and every
    difference between priors uses the spread over seeds combined with the paired test-set error
    (`prior_difference`), so the words follow the numbers at every profile.

    Returns:
        elbo_list (each prior's mean test ELBO ± std over seeds, with its test-set standard error), ranking_32
        (which prior has the best mean test ELBO and what it is told apart from), richer_verdict (each other prior
        against `reference`), target_verdict (against the profile's sanity target, or that it has none),
        coursework_verdict (against the public coursework means) and coursework_list (those means),
        split_verdict (from `reference` to the best other prior: the reconstruction and KL changes), iwae_gap_list
        (IWAE − ELBO per prior) and iwae_verdict (the smallest IWAE gap against the largest difference between two
        priors' mean test ELBOs).
    """
    priors = list(dict.fromkeys(r.prior for r in runs))
    if len(priors) < 2:
        raise ValueError(f"the priors study compares at least two priors, got {priors}")
    n_runs = min(sum(r.prior == p for r in runs) for p in priors)
    note = verdicts.single_run_note(n_runs, "prior")
    names = {p: PRIOR_NAMES[p] for p in priors}
    elbo = prior_estimates(runs)
    out = {}
    listed = []
    for p in priors:
        x = per_image_scores(runs, p).mean(1)  # (S,) each run's mean
        std = float(x.std(ddof=1)) if len(x) > 1 else float("nan")
        test_se = seed_mean(per_image_scores(runs, p).mean(0)).se
        listed.append(f"{names[p]} {verdicts.mean_std_text(float(x.mean()), std)} (test-set s.e. {test_se:.2f})")
    out["elbo_list"] = "; ".join(listed)
    called = {f"the {names[p]} prior": names[p] for p in priors}  # how the sentence names each prior
    _, out["ranking_32"] = verdicts.rank_paired({k: elbo[v] for k, v in called.items()},
                                                lambda a, b: prior_difference(runs, called[a], called[b]),
                                                quantity="mean test ELBO")
    out["ranking_32"] += note
    if reference in priors:
        ref = names[reference]
        others = [p for p in priors if p != reference]
        clauses = [compare(elbo[names[p]], elbo[ref], names=(f"the {names[p]} prior", f"the {ref} prior"),
                           quantity="mean test ELBO", unit="nats", difference=prior_difference(runs, p, reference)
                           ).sentence for p in others]
        out["richer_verdict"] = "; ".join(clauses) + note
        best = max(others, key=lambda p: elbo[names[p]].value)
        out["split_verdict"] = verdicts.split_sentence(
            prior_difference(runs, best, reference, "reconstruction error"),
            prior_difference(runs, best, reference, "KL"), names=(f"{names[best]} prior", f"{ref} prior")) + note
    out["target_verdict"] = (verdicts.targets_sentence(elbo, target, profile=profile)
                             + (note if target is not None else ""))
    out["coursework_verdict"] = verdicts.references_sentence(elbo, coursework_references(),
                                                             reference_name="the public coursework")
    out["coursework_list"] = "; ".join(f"{k} {v.value:g} ± {verdicts.Z * v.se:.2f}"
                                       for k, v in coursework_references().items())
    gaps = {names[p]: seed_mean(per_image_scores(runs, p, "IWAE − ELBO")) for p in priors}
    out["iwae_gap_list"] = "; ".join(f"{k} {verdicts.estimate_text(v, unit='nats')}" for k, v in gaps.items())
    smallest = min(gaps, key=lambda k: gaps[k].value)
    hi, lo = max(elbo, key=lambda k: elbo[k].value), min(elbo, key=lambda k: elbo[k].value)
    spread = prior_difference(runs, hi, lo)
    out["iwae_verdict"] = verdicts.larger_sentence(
        gaps[smallest], spread, names=("the smallest IWAE gap", "the largest difference between two priors' mean "
                                       "test ELBOs")) + (f"; the smallest gap is the {smallest} prior's, the largest "
                                                         f"difference that of the {hi} prior over the {lo} prior")
    return out


def ranking_2d_sentence(runs_2d: list[Run]) -> str:
    """Which M = 2 model (one run per prior) has the best test ELBO, with paired differences over the test images."""
    per_image = {f"the {PRIOR_NAMES[r.prior]} prior": np.asarray(r.scores["elbo_per_image"], dtype=np.float64)
                 for r in runs_2d}
    estimates = {k: Estimate.of_mean(v) for k, v in per_image.items()}
    _, text = verdicts.rank_paired(estimates, lambda a, b: verdicts.paired_difference(per_image[a], per_image[b]),
                                   quantity="test ELBO")
    return text + verdicts.single_run_note(1, "prior")
