"""The experiments of the 2-D score-diffusion chapter, configured by profile.

The spiral part trains one score model per loss; the latent part reuses the
2-D VAE of the VAE-basics chapter (same config, so the same cached weights),
trains a score model on its codes, and class-conditional ones for
classifier-free guidance: one with the exercise's settings (label dropped with
probability 0.2, embeddings of 256, β₁ = 12) and one with the chapter's earlier
settings (0.1, 32, β₁ = 20), for comparison. Decoded digits are judged by the
committed FID classifier (`probgen.metrics.load_fid_classifier`), the network
behind every FID and class accuracy in the book.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..reporting import Verdict, compare, join_words, rank
from ..runtime import ConfigError, ProfileConfig
from ..stats import Estimate
from .evaluation import fid_bootstrap, fid_estimate, fid_of_samples, proportion_estimate
from .forward import reverse_sample
from .nets import ScoreModel, guided_score
from .training import Score2DConfig

LOSS_NAMES = {"ism_exact": "implicit SM (exact divergence)", "ism_hutchinson": "implicit SM (Hutchinson)",
              "dsm": "denoising SM"}
# The latent CFG model as first built in this chapter (a 32-d embedding, 10% ∅ labels, and the spiral's schedule,
# β₁ = `beta_1`); the notebook compares it with the exercise's settings (the `cfg_*` fields of `SpiralStudyConfig`).
EARLIER_CFG = {"p_uncond": 0.1, "embedding_dim": 32}


@dataclass(frozen=True)
class SpiralStudyConfig(ProfileConfig):
    """Sizes of the score-diffusion chapter (one profile runs the whole experiment on a CPU)."""

    PROFILES = {
        "smoke": dict(K=250, steps=300, latent_steps=300, n_samples=500, n_per_class=10, guidance_scales=(0.0, 7.5),
                      fid_bootstrap=20, n_seeds=3),
        "quick": dict(steps=10_000, latent_steps=10_000, n_samples=2_000, n_per_class=100,
                      guidance_scales=(0.0, 1.0, 3.0, 7.5), fid_bootstrap=200, n_seeds=3),
        "full": dict(steps=30_000, latent_steps=30_000, n_samples=5_000, n_per_class=300,
                     guidance_scales=(0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0), fid_bootstrap=500, n_seeds=5),
    }

    beta_0: float = 0.001
    beta_1_first: float = 0.2  # the schedule as first stated in the exercise
    beta_1: float = 20.0  # the schedule used: the standard VP SDE
    K: int = 1000
    steps: int = 300  # optimiser steps per spiral score model
    latent_steps: int = 300  # optimiser steps per latent score model
    batch_size: int = 512
    lr: float = 1e-3
    hidden: int = 128
    n_samples: int = 500  # samples per sampler for the sample-quality numbers
    n_per_class: int = 10  # guided latent samples per digit and guidance scale
    guidance_scales: tuple = (0.0, 7.5)
    cfg_p_uncond: float = 0.2  # the exercise's latent CFG: probability of training with the null label ∅
    cfg_embedding_dim: int = 256  # the exercise's latent CFG: size of the time and label embeddings
    cfg_beta_1: float = 12.0  # the exercise's latent CFG: β(1) of its VP schedule
    fid_bootstrap: int = 20  # bootstrap replicates of each FID interval
    n_seeds: int = 3  # training runs (a 2-D VAE and both CFG models each) behind the latent CFG verdicts
    device: str = "cpu"

    def validate(self) -> None:
        for name in ("K", "steps", "latent_steps", "batch_size", "hidden", "n_samples", "n_per_class",
                     "cfg_embedding_dim"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be at least 1")
        if int(self.n_seeds) < 2:
            raise ConfigError(f"n_seeds={self.n_seeds!r} must be at least 2: the spread between training runs "
                              "needs two of them")
        if int(self.fid_bootstrap) < 2:
            raise ConfigError(f"fid_bootstrap={self.fid_bootstrap!r} must be at least 2")
        if not (0 < self.beta_0 < self.beta_1_first and self.beta_0 < self.beta_1 and self.beta_0 < self.cfg_beta_1):
            raise ConfigError(f"need 0 < beta_0 < beta_1, got beta_0={self.beta_0}, beta_1={self.beta_1}, "
                              f"cfg_beta_1={self.cfg_beta_1}")
        if not 0 <= self.cfg_p_uncond < 1:
            raise ConfigError(f"cfg_p_uncond={self.cfg_p_uncond!r} must be in [0, 1)")
        if any(w < 0 for w in self.guidance_scales):
            raise ConfigError(f"guidance_scales={self.guidance_scales!r} must be >= 0")

    def score_config(self, loss: str, *, steps: int | None = None, n_classes: int | None = None,
                     **overrides) -> Score2DConfig:
        """The `Score2DConfig` of one model of this chapter; `overrides` replace single fields (e.g. p_uncond)."""
        values = dict(loss=loss, steps=steps or self.steps, batch_size=self.batch_size, lr=self.lr,
                      hidden=self.hidden, K=self.K, beta_0=self.beta_0, beta_1=self.beta_1,
                      n_classes=n_classes, seed=self.seed, device=self.device)
        values.update(overrides)
        return Score2DConfig.from_dict(values)

    def training_seeds(self) -> list[int]:
        """The seeds of the `n_seeds` training runs of the latent CFG models; the first is `seed` itself."""
        return [self.seed + i for i in range(self.n_seeds)]

    def cfg_settings(self) -> dict[str, dict]:
        """Name -> `Score2DConfig` fields of the two latent CFG models: the exercise's settings and the earlier ones."""
        exercise = {"p_uncond": self.cfg_p_uncond, "embedding_dim": self.cfg_embedding_dim,
                    "beta_1": self.cfg_beta_1}
        return {"the exercise's settings": exercise, "the earlier settings": {**EARLIER_CFG, "beta_1": self.beta_1}}

    def cfg_config(self, setting: str) -> Score2DConfig:
        """The class-conditional DSM model of one of `cfg_settings()` (latent_steps steps, 10 classes)."""
        settings = self.cfg_settings()
        if setting not in settings:
            raise ConfigError(f"setting={setting!r} is not one of {list(settings)}")
        return self.score_config("dsm", steps=self.latent_steps, n_classes=10, **settings[setting])


def latent_codes(vae_model, x: torch.Tensor) -> torch.Tensor:
    """Posterior means of the 2-D VAE for images x (N, 1, 28, 28), as float32 (N, 2)."""
    from ..vae import encode_dataset

    means, _ = encode_dataset(vae_model, x)
    return means.float()


@torch.no_grad()
def decode_for_classifier(vae_model, z: torch.Tensor) -> torch.Tensor:
    """Decoder means of latents z (N, 2), mapped from [0, 1] to the classifier's [−1, 1]."""
    p = next(vae_model.parameters())
    images = vae_model.decode(z.to(device=p.device, dtype=p.dtype)).cpu()
    return images * 2 - 1


def judge(classifier, images: torch.Tensor, intended: np.ndarray | None = None) -> dict:
    """Classifier verdicts on images in [−1, 1]: mean confidence (max probability) with the standard error of
    that mean ("confidence_se"), label entropy, accuracy and the number correct ("correct")."""
    from ..metrics import predict_proba

    proba = predict_proba(classifier, images).double().numpy()
    predicted = proba.argmax(1)
    counts = np.bincount(predicted, minlength=10) / len(predicted)
    nonzero = counts[counts > 0]
    top = proba.max(1)
    out = {"confidence": float(top.mean()),
           "confidence_se": float(top.std(ddof=1) / np.sqrt(len(top))) if len(top) > 1 else 0.0,
           "label_entropy_bits": float(-(nonzero * np.log2(nonzero)).sum()) + 0.0,  # + 0.0: no "-0.00"
           "predicted": predicted}
    if intended is not None:
        hits = predicted == np.asarray(intended)
        out["accuracy"], out["correct"] = float(hits.mean()), int(hits.sum())
    return out


@torch.no_grad()
def evaluate_guidance(model: ScoreModel, *, vae_model, classifier, code_scale: float, guidance_scales,
                      n_per_class: int, reference: tuple[np.ndarray, np.ndarray], n_boot: int,
                      seed: int) -> tuple[list[dict], dict[float, torch.Tensor], dict[float, dict]]:
    """Sample a class-conditional latent model at each guidance scale, decode, and judge the digits.

    For every w: `n_per_class` latents per digit 0..9 by classifier-free guidance on the model's own
    schedule (the same start noise for every w), rescaled by `code_scale` and decoded; their class
    accuracy (with its binomial standard error), mean confidence and label entropy under
    `classifier`, and their FID against `reference` with a bootstrap interval (`fid_bootstrap`).

    Args:
        model: a class-conditional `ScoreModel` trained on codes / code_scale.
        vae_model: the 2-D VAE whose decoder turns latents into images.
        classifier: the FID classifier (`metrics.load_fid_classifier`).
        code_scale: the factor the codes were divided by before training.
        guidance_scales: the w to sample at (w ≥ 0).
        n_per_class: samples per digit and w.
        reference: `metrics.fid_stats` of as many real test images as samples per w.
        n_boot: bootstrap replicates per FID.
        seed: seeds the start noise and the bootstrap.
    Returns:
        (rows, latents, fids): one dict per w (keys "w", "class accuracy", "accuracy se", "confidence",
        "label entropy (bits)", "FID", "FID se", "FID low", "FID high"), {w: (10·n_per_class, 2) latents}, and
        {w: the `fid_bootstrap` result}.
    """
    rows, latents, fids = [], {}, {}
    for w in guidance_scales:
        z, verdict, features = _judged_samples(model, vae_model=vae_model, classifier=classifier,
                                               code_scale=code_scale, w=w, n_per_class=n_per_class, seed=seed)
        fid = fid_bootstrap(features, reference, n_boot=n_boot, generator=np.random.default_rng(seed))
        rows.append({"w": float(w), "class accuracy": verdict["accuracy"],
                     "accuracy se": proportion_estimate(verdict["accuracy"], len(z)).se,
                     "confidence": verdict["confidence"], "label entropy (bits)": verdict["label_entropy_bits"],
                     "FID": fid["fid"], "FID se": fid["se"], "FID low": fid["low"], "FID high": fid["high"]})
        latents[float(w)], fids[float(w)] = z, fid
    return rows, latents, fids


def _judged_samples(model: ScoreModel, *, vae_model, classifier, code_scale: float, w: float, n_per_class: int,
                    seed: int) -> tuple[torch.Tensor, dict, np.ndarray]:
    """Sample n_per_class latents per digit at guidance scale w (n of digit 0, then of 1, ...), decode them,
    and judge the images: (latents (10·n, 2), `judge`'s verdict against the digits asked for, the images'
    classifier features (10·n, d)). What `evaluate_guidance` and `guided_scores` share."""
    from ..metrics import extract_features

    if model.net.n_classes != 10:
        raise ValueError(f"guided sampling here needs a model conditioned on the 10 digits, not "
                         f"n_classes={model.net.n_classes}")
    intended = torch.arange(10).repeat_interleave(n_per_class)  # (10·n,): n of digit 0, then of 1, ...
    z, _ = reverse_sample(guided_score(model, intended, w), len(intended), model.schedule,
                          torch.Generator().manual_seed(seed))
    z = z * code_scale
    images = decode_for_classifier(vae_model, z)
    return z, judge(classifier, images, intended.numpy()), extract_features(classifier, images)


@torch.no_grad()
def guided_scores(model: ScoreModel, *, vae_model, classifier, code_scale: float, guidance_scales,
                  n_per_class: int, reference: tuple[np.ndarray, np.ndarray], seed: int) -> dict[float, dict]:
    """One training run's class accuracy and FID at each guidance scale, without the bootstrap.

    The same samples, count and FID as `evaluate_guidance` gives at these w and this seed: what a further
    training run contributes to a comparison over runs (`compare_over_runs`).

    Returns:
        {w: {"correct": samples classified as the digit asked for, "n": 10·n_per_class, "fid": FID of all of
        them against `reference`}}.
    """
    out = {}
    for w in guidance_scales:
        z, verdict, features = _judged_samples(model, vae_model=vae_model, classifier=classifier,
                                               code_scale=code_scale, w=w, n_per_class=n_per_class, seed=seed)
        out[float(w)] = {"correct": verdict["correct"], "n": len(z), "fid": fid_of_samples(features, reference)}
    return out


# ----- the chapter's verdicts: sentences computed from its numbers and their uncertainty ------------------------

def compare_over_runs(a: list[float], b: list[float], *, names: tuple[str, str], quantity: str, better: str,
                      fmt: str, n: int | None = None) -> Verdict:
    """Compare two settings trained from the same seeds, seed by seed.

    Run s trains one 2-D VAE and both settings' models on its codes, so the two are paired by seed: the
    difference is the mean of the per-seed differences a_s − b_s with Student's t interval
    (`stats.mean_over_runs`), and each side is its own mean over the runs.

    Args:
        a, b: one value per seed, in the same seed order: correct counts out of `n` for a class accuracy
            (then every interval is at least the binomial one of the pooled samples), else e.g. FIDs.
        n: the samples per run behind a count; None for a quantity that is not a proportion.
    """
    from ..stats import binomial_estimate, mean_over_runs, proportion_over_runs

    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"need the values of the same ≥ 2 seeds for both settings, got {len(a)} and {len(b)}")
    if n is None:
        ea, eb, floor, va, vb = mean_over_runs(a), mean_over_runs(b), 0.0, np.asarray(a, float), np.asarray(b, float)
    else:
        ea, eb = proportion_over_runs(list(a), n), proportion_over_runs(list(b), n)
        floor = float(np.hypot(binomial_estimate(int(sum(a)), n * len(a)).se,
                               binomial_estimate(int(sum(b)), n * len(b)).se))
        va, vb = np.asarray(a) / n, np.asarray(b) / n
    return compare(ea, eb, names=names, quantity=quantity, better=better, fmt=fmt,
                   difference=mean_over_runs(va - vb, floor=floor), tie=f"over {len(a)} training runs")


def run_spread_sentence(correct: list[int], n: int, *, w: float, level: float = 0.05) -> str:
    """Do retrained models differ in class accuracy by more than their samples explain?

    `correct` holds each training run's successes out of n samples. The runs' proportions are tested for
    equality by the χ² test of the 2 × S table (right/wrong × run): under equal accuracies the runs differ only
    by their binomial noise. The sentence gives the accuracies, their standard deviation against the binomial
    spread √(p̄(1 − p̄)/n) of one run, and the test's verdict at `level`.
    """
    from scipy.stats import chi2_contingency

    k = np.asarray(correct, dtype=np.int64)
    if k.size < 2 or n < 1 or k.min() < 0 or k.max() > n:
        raise ValueError(f"need the successes (0..n) of at least 2 runs and n ≥ 1, got {correct!r}, n={n!r}")
    acc = k / n
    p_bar = float(acc.mean())
    table = np.stack([k, n - k])  # (2, S): right and wrong per run
    p_value = 1.0 if table.sum(1).min() == 0 else float(chi2_contingency(table, correction=False).pvalue)
    head = (f"retrained from {k.size} seeds (a new 2-D VAE and a new score model each), the class accuracy at "
            f"w = {w:g} is {join_words([f'{a:.3f}' for a in acc])}: a standard deviation of "
            f"{acc.std(ddof=1):.3f} between the runs, against {np.sqrt(p_bar * (1 - p_bar) / n):.3f} from the "
            f"{n} samples of one run alone")
    if p_value < level:
        return (f"{head}; the runs differ by more than their samples explain (χ² test of equal accuracies, "
                f"p = {p_value:.2g}), so retraining moves this number beyond its binomial error")
    return (f"{head}; the runs do not differ by more than their samples explain (χ² test of equal accuracies, "
            f"p = {p_value:.2f})")


def loss_trend(history: dict, *, what: str) -> Verdict:
    """Is a training loss still falling? The mean loss of the last fifth of the logged blocks against the fifth
    before (each block the mean over 50 steps; at least two blocks a part), lower is better.

    The blocks' spread within each part gives the standard errors (minibatch noise); the verdict reads "the last
    fifth of training is better than the fifth before in … by x ± y" or "… cannot be told apart …".
    """
    loss = np.asarray(history["loss"], dtype=np.float64)
    if loss.size < 4:
        raise ValueError(f"need at least 4 logged loss blocks to compare two parts of training, got {loss.size}")
    part = max(2, loss.size // 5)
    last, before = Estimate.of_mean(loss[-part:]), Estimate.of_mean(loss[-2 * part:-part])
    return compare(last, before, names=("the last fifth of training", "the fifth before"), quantity=f"{what} loss",
                   better="lower", fmt="{:.4f}", tie="within the minibatch noise")


def relative_change(verdict: Verdict, before: float) -> str:
    """A loss trend's difference as a signed percentage of the earlier level: "−0.3 % ± 0.2 %"."""
    d = verdict.difference
    return f"{100 * d.value / abs(before):+.1f} % ± {100 * 1.96 * d.se / abs(before):.1f} %"


def sample_verdicts(nll: dict[str, Estimate], on_arm: dict[str, Estimate], *, data: str = "data",
                    off_arm_below: float = 0.5) -> dict[str, str]:
    """The sentences on samples of learned scores: a ranking by NLL, and each model's mass on the arms.

    Args:
        nll: model name → mean NLL of its samples under the true mixture (lower is better); no data entry.
        on_arm: model name → fraction of samples within 3σ0 of a component mean (`metrics.on_spiral_fraction`),
            with an entry `data` for fresh data (the fraction a perfect model reaches).
        off_arm_below: a model whose fraction is below this beyond its error "puts most of its samples off the
            arms" (a diffuse cloud).
    Returns:
        {"nll_rank": …, "arm_<name>": one sentence per model, "off_arm": the models with most samples off the
        arms, as a sentence}.
    """
    if data not in on_arm:
        raise KeyError(f"on_arm needs the fraction of fresh data under {data!r}")
    _, ranking = rank(nll, quantity="mean NLL under the true mixture", better="lower", unit="nats")
    out = {"nll_rank": ranking}
    off = []
    for name in nll:
        est = on_arm[name]
        out[f"arm_{name}"] = compare(est, on_arm[data], names=(name, data), better="higher", fmt="{:.3f}",
                                     quantity="the fraction of samples on an arm").sentence
        if est.value + 1.96 * est.se < off_arm_below:
            off.append(name)
    out["off_arm"] = (f"most samples of {join_words(off)} lie off the arms (a diffuse cloud): fewer than "
                      f"{off_arm_below:.0%} fall within 3σ₀ of a component mean, beyond the binomial error"
                      if off else f"every learned score puts at least {off_arm_below:.0%} of its samples on an arm "
                      f"(within the binomial error)")
    return out


def class_spread(latents: torch.Tensor, n_per_class: int) -> np.ndarray:
    """(10,) root-mean-square distance of each digit's latents from their mean; latents (10·n, 2), digit-major."""
    z = latents.reshape(10, n_per_class, -1).double()  # (10·n, 2) -> (10, n, 2)
    return (z - z.mean(1, keepdim=True)).pow(2).sum(-1).mean(1).sqrt().numpy()


def spread_ratio(guided: torch.Tensor, unguided: torch.Tensor, n_per_class: int) -> Estimate:
    """How far one digit's latents spread under guidance relative to w = 0: the mean over the 10 digits of
    their spread ratio, ± its standard error over the digits."""
    return Estimate.of_mean(class_spread(guided, n_per_class) / class_spread(unguided, n_per_class))


def floor_sentence(fids: dict[str, dict], floor: float) -> str:
    """Where the FIDs stand against the floor (two real sets of the same N): the lowest, with its interval."""
    if not fids:
        raise ValueError("no FIDs to place against the floor")
    name = min(fids, key=lambda k: fids[k]["fid"])
    f = fids[name]
    shown = f"{f['fid']:.1f} [{f['low']:.1f}, {f['high']:.1f}] ({name})"
    if f["low"] > floor:
        return (f"every FID lies above the floor of {floor:.1f}: the lowest, {shown}, is {f['fid'] / floor:.0f} "
                f"times the floor")
    return f"the lowest FID, {shown}, reaches the floor of {floor:.1f} within its interval"


def error_sentence(ks: list[int], median_error: list[float], *, name: str) -> str:
    """Where on the time axis a learned score errs most: the step k of the largest and of the smallest median
    relative error on the grid (exact on that grid: no sampling error)."""
    if len(ks) != len(median_error) or not ks:
        raise ValueError("need one median error per step k")
    worst, best = int(np.argmax(median_error)), int(np.argmin(median_error))
    return (f"the median relative error of the {name} score on the grid is largest at k = {ks[worst]} "
            f"({median_error[worst]:.2f}) and smallest at k = {ks[best]} ({median_error[best]:.3f})")


def fid_estimates(fids: dict[float, dict]) -> dict[float, Estimate]:
    """{w: `fid_bootstrap` result} -> {w: Estimate}."""
    return {w: fid_estimate(f) for w, f in fids.items()}
