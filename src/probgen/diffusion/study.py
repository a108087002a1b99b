"""The experiments of the DDPM chapter, configured by profile.

One unconditional DDPM (the chapter's main model), one class-conditional DDPM
trained with label dropout (classifier-free guidance) and one classifier of
noisy images (classifier guidance), all on MNIST in [−1, 1] with the same
U-Net code. Every sampler's output is cached with its FID and timing, so a
rerun only recomputes what changed. The notebook calls these functions and
only plots and comments.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from .. import checkpoints
from ..data import load_mnist
from ..nets.unet import UNet, UNetConfig
from ..reporting import Verdict, compare, compare_across, join_words
from ..runtime import ConfigError, ProfileConfig, check_choice, resolve_device, synchronize
from ..runtime import progress as progress_bar
from ..stats import Estimate
from .ddpm import DDPM
from .guidance import NoisyClassifier, NoisyClassifierConfig, NoisyClassifierObjective, classifier_guided_eps
from .schedules import NoiseSchedule, ScheduleConfig
from .training import TrainConfig, train_diffusion


@dataclass(frozen=True)
class DDPMStudyConfig(ProfileConfig):
    """Every setting of the DDPM chapter. `smoke` runs in seconds, `quick` in about half an hour on a
    2-core CPU (a U-Net that first folds 28×28 into 4×14×14, a few thousand steps), `full` is the
    reference-scale model for a GPU."""

    PROFILES = {
        "smoke": dict(n_train=512, T=100, base_channels=16, channel_mults=(1, 2), patch_size=2, batch_size=32,
                      max_steps=16, cond_max_steps=16, clf_max_steps=16, preview_epochs=(1,), n_fid=100,
                      n_fid_ancestral=32, ddim_steps=(10, 20), guidance_scales=(0.0, 3.0), n_per_class=4,
                      cg_scales=(0.0, 5.0), cg_steps=10, cg_per_class=4, sample_batch=100, fid_bootstrap=20),
        "quick": dict(n_train=None, base_channels=32, channel_mults=(1, 2), patch_size=2, batch_size=64,
                      lr=2e-3, lr_decay=0.9995, warmup_steps=100, ema_decay=0.995, epochs=3, max_steps=2500,
                      cond_max_steps=2000,
                      clf_max_steps=1500, preview_epochs=(1, 2), n_fid=1000, n_fid_ancestral=1000,
                      ddim_steps=(10, 20, 50, 100), guidance_scales=(0.0, 1.0, 3.0, 7.5), guidance_steps=25,
                      n_per_class=100,
                      cg_scales=(0.0, 1.0, 3.0, 10.0, 30.0), cg_steps=25, cg_per_class=100, sample_batch=100),
        "full": dict(n_train=None, base_channels=64, channel_mults=(1, 2, 2), patch_size=1, num_res_blocks=2,
                     attention_resolutions=(14, 7), batch_size=256, lr=2e-4, warmup_steps=500, ema_decay=0.9999,
                     epochs=60, max_steps=None, cond_max_steps=None, clf_max_steps=None, clf_epochs=10,
                     preview_epochs=(1, 5, 10, 20, 40, 60), n_fid=10_000, n_fid_ancestral=10_000,
                     ddim_steps=(10, 20, 50, 100), guidance_scales=(0.0, 0.5, 1.0, 2.0, 4.0, 7.5),
                     n_per_class=1000, cg_scales=(0.0, 1.0, 3.0, 10.0, 30.0), cg_steps=50, cg_per_class=200,
                     sample_batch=2000, compile=True),
    }

    # data: MNIST train+val (60 000 images) in [−1, 1]; n_train keeps the first n
    n_train: int | None = None
    # the U-Net (probgen.nets.UNetConfig)
    base_channels: int = 32
    channel_mults: tuple[int, ...] = (1, 2)
    num_res_blocks: int = 1
    attention_resolutions: tuple[int, ...] = (7,)
    patch_size: int = 2
    dropout: float = 0.0
    # the forward process
    schedule: str = "linear"
    T: int = 1000
    dequantize: bool = False  # train on images with uniform noise of one grey level (`ddpm.dequantize`)
    # training (both DDPMs)
    epochs: int = 1
    max_steps: int | None = None
    batch_size: int = 128
    lr: float = 1e-3
    lr_decay: float = 1.0
    warmup_steps: int = 0
    ema_decay: float = 0.999
    preview_epochs: tuple[int, ...] = ()
    # the class-conditional DDPM (classifier-free guidance)
    cond_max_steps: int | None = None
    p_uncond: float = 0.15
    cond_mode: str = "add"
    # the classifier of noisy images (classifier guidance)
    clf_epochs: int = 1
    clf_max_steps: int | None = None
    clf_channels: int = 32
    # evaluation
    n_fid: int = 500  # samples per FID for the DDIM samplers and guidance
    n_fid_ancestral: int = 200  # samples for the 1000-step ancestral sampler
    fid_bootstrap: int = 200  # resamples behind each FID's standard error (`fid_with_se`)
    ddim_steps: tuple[int, ...] = (10, 20, 50, 100)
    etas: tuple[float, ...] = (0.0, 1.0)
    guidance_steps: int = 50  # DDIM steps for the guidance experiments
    guidance_scales: tuple[float, ...] = (0.0, 1.0, 3.0)
    n_per_class: int = 50
    cg_scales: tuple[float, ...] = (0.0, 1.0, 3.0)
    cg_steps: int = 25
    cg_per_class: int = 30
    sample_batch: int = 100  # on a 2-core CPU 100 samples per batch run ~1.5x faster per image than 500
    device: str = "auto"
    compile: bool = False

    def validate(self) -> None:
        for name in ("channel_mults", "attention_resolutions", "preview_epochs", "ddim_steps", "etas",
                     "guidance_scales", "cg_scales"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        check_choice("schedule", self.schedule, ("linear", "cosine"))
        if not isinstance(self.dequantize, bool):
            raise ConfigError(f"dequantize={self.dequantize!r} must be True or False")
        check_choice("device", self.device, ("auto", "cpu", "cuda"))
        for name in ("n_fid", "n_fid_ancestral", "n_per_class", "cg_per_class", "sample_batch", "guidance_steps",
                     "cg_steps", "fid_bootstrap"):
            if getattr(self, name) < 2:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be at least 2")
        if any(s < 1 or s > self.T for s in self.ddim_steps):
            raise ConfigError(f"ddim_steps={self.ddim_steps!r} must lie in 1…T={self.T}")
        if any(w < 0 for w in self.guidance_scales + self.cg_scales):
            raise ConfigError("guidance scales must be ≥ 0")
        self.unet()  # raises ConfigError for an impossible network

    # ----- the pieces -------------------------------------------------------------------------------------
    def unet(self, conditional: bool = False) -> UNetConfig:
        return UNetConfig(base_channels=self.base_channels, channel_mults=self.channel_mults,
                          num_res_blocks=self.num_res_blocks, attention_resolutions=self.attention_resolutions,
                          patch_size=self.patch_size, dropout=self.dropout,
                          n_classes=10 if conditional else None, cond_mode=self.cond_mode)

    def schedule_config(self) -> ScheduleConfig:
        """The schedule; for T ≠ 1000 the linear β range is scaled by 1000/T (`ScheduleConfig.reference`)."""
        return ScheduleConfig.reference(self.T, kind=self.schedule)

    def variant(self, **changes: Any) -> "DDPMStudyConfig":
        """This config with `changes` (e.g. schedule="cosine", dequantize=True) and no preview samples: another
        unconditional DDPM at the same training budget (previews cost sampling time, not training)."""
        return dataclasses.replace(self, preview_epochs=(), **changes)

    def train_config(self, max_steps: int | None, epochs: int | None = None) -> TrainConfig:
        return TrainConfig(epochs=epochs or self.epochs, batch_size=self.batch_size, lr=self.lr,
                           lr_decay=self.lr_decay, warmup_steps=self.warmup_steps, ema_decay=self.ema_decay,
                           seed=self.seed, max_steps=max_steps, preview_epochs=self.preview_epochs,
                           device=self.device, compile=self.compile)


def load_training_data(cfg: DDPMStudyConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST train+val (first `n_train`) in [−1, 1], (N, 1, 28, 28) float32, and labels (N,)."""
    m = load_mnist("trainval", "symmetric", limit=cfg.n_train)
    return torch.as_tensor(m.images, dtype=torch.float32), torch.as_tensor(m.labels).long()


def _preview(conditional: bool) -> Callable[[DDPM], torch.Tensor]:
    """Samples drawn at the end of chosen epochs, with fixed noise: 8 per row (one class per row if conditional)."""
    def draw(model: DDPM) -> torch.Tensor:
        gen = torch.Generator(device=next(model.network.parameters()).device).manual_seed(1234)
        y = torch.arange(10).repeat_interleave(8) if conditional else None
        n = 80 if conditional else 64
        return model.ddim_sample(n, steps=50, y=y, guidance_scale=3.0 if conditional else 0.0, generator=gen)
    return draw


def train_ddpm(cfg: DDPMStudyConfig, *, conditional: bool = False, log=print, progress: bool = True):
    """The unconditional DDPM (or, with `conditional`, the label-dropout model for classifier-free guidance).

    Returns (DDPM with EMA weights, training record of `train_diffusion`).
    """
    x, y = load_training_data(cfg)
    schedule = NoiseSchedule.from_config(cfg.schedule_config())
    unet_cfg = cfg.unet(conditional)
    p_uncond = cfg.p_uncond if conditional else 0.0

    def build() -> DDPM:
        torch.manual_seed(cfg.seed)
        return DDPM(UNet(unet_cfg), schedule, p_uncond=p_uncond, clip_x0=1.0, dequantize=cfg.dequantize)

    key = {"unet": checkpoints.config_dict(unet_cfg), "schedule": checkpoints.config_dict(cfg.schedule_config()),
           "p_uncond": p_uncond}
    if cfg.dequantize:  # only then: models trained before the flag keep their cache keys
        key["dequantize"] = True
    max_steps = cfg.cond_max_steps if conditional else cfg.max_steps
    return train_diffusion("ddpm-cond" if conditional else "ddpm", key, build, cfg.train_config(max_steps), x,
                           y if conditional else None, preview=_preview(conditional), log=log, progress=progress)


def train_noisy_classifier(cfg: DDPMStudyConfig, *, log=print, progress: bool = True):
    """The classifier p_φ(y | x_t, t) of noisy images; returns (NoisyClassifierObjective with EMA weights, record)."""
    x, y = load_training_data(cfg)
    schedule = NoiseSchedule.from_config(cfg.schedule_config())
    net_cfg = NoisyClassifierConfig(base_channels=cfg.clf_channels)

    def build() -> NoisyClassifierObjective:
        torch.manual_seed(cfg.seed)
        return NoisyClassifierObjective(NoisyClassifier(net_cfg), schedule)

    key = {"net": checkpoints.config_dict(net_cfg), "schedule": checkpoints.config_dict(cfg.schedule_config())}
    train_cfg = cfg.train_config(cfg.clf_max_steps, epochs=cfg.clf_epochs).replace(preview_epochs=())
    return train_diffusion("noisy-classifier", key, build, train_cfg, x, y, log=log, progress=progress)


# ----- sampling, timing and FID ---------------------------------------------------------------------------

def timed_samples(draw: Callable[[int, torch.Generator], torch.Tensor], n: int, batch: int, *, device,
                  seed: int, desc: str = "samples") -> tuple[torch.Tensor, float]:
    """Draw n samples in batches with `draw(batch_size, generator)`; return (samples on CPU, wall seconds).

    The clock covers every network call and sampler operation (synchronised on CUDA) but not the copy
    of finished batches to the CPU, nor the progress bar (`desc` names it).
    """
    gen = torch.Generator(device=device).manual_seed(seed)
    out, seconds = [], 0.0
    bar = progress_bar(total=n, desc=desc)
    for start in range(0, n, batch):
        synchronize(device)
        t0 = time.perf_counter()
        x = draw(min(batch, n - start), gen)
        synchronize(device)
        seconds += time.perf_counter() - t0
        out.append(x.float().cpu())
        bar.update(x.shape[0])
    bar.close()
    return torch.cat(out), seconds


FID_BOOTSTRAP = 200  # resamples of the generated set behind each FID's standard error


def fid_with_se(reference: tuple[np.ndarray, np.ndarray], features: np.ndarray, *, n_boot: int = FID_BOOTSTRAP,
                seed: int = 0) -> tuple[float, float]:
    """FID of generated features against fixed reference statistics, and its bootstrap standard error.

    Every sampler is scored against the same reference (the first N test images), so only the generated
    set is resampled: the standard error is the spread of the FID over redraws of the N generated samples,
    the part that differs between two rows of a table. (A bootstrap resample repeats samples, which shrinks
    its covariance, so its FIDs sit above the estimate; their spread, not their mean, is used.)

    Args:
        reference: (mu (d,), sigma (d, d)) of the reference features.
        features: (N, d) generated features, N ≥ 2.
        n_boot: bootstrap resamples (≥ 2).
        seed: seed of the resampling.
    Returns:
        (FID, standard error), both ≥ 0.
    """
    from ..metrics import bootstrap_fids, frechet_distance, gaussian_stats

    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"features must be (N, d) with N ≥ 2, not {f.shape}")
    if n_boot < 2:
        raise ValueError(f"n_boot={n_boot!r} must be at least 2 to estimate a spread")
    mu_r, sigma_r = (np.asarray(a, dtype=np.float64) for a in reference)
    fid = frechet_distance(mu_r, sigma_r, *gaussian_stats(f))
    rng = np.random.default_rng(seed)
    n = f.shape[0]
    boot = bootstrap_fids((mu_r, sigma_r), f, rng.integers(0, n, (n_boot, n)))  # (B, N) rows, with replacement
    return fid, float(boot.std(ddof=1))


def fid_estimate(result: dict, n: int) -> Estimate:
    """The FID at N = n of one sampler as an `Estimate` (value, bootstrap standard error).

    Args:
        result: an `evaluate_sampler` result ({"fid": {N: …}, "fid_se": {N: …}}) or a row of a chapter's sampler
            table with columns "FID (N=n)" and "FID se (N=n)" (as the results files store them).
    """
    if "fid" in result:
        if n not in result["fid"] or n not in result.get("fid_se", {}):
            raise KeyError(f"{result.get('name', 'this sampler')} has no FID with a standard error at N = {n}; "
                           f"it has N in {sorted(result['fid'])}")
        value, se = result["fid"][n], result["fid_se"][n]
    else:
        col, se_col = f"FID (N={n})", f"FID se (N={n})"
        value, se = result.get(col, float("nan")), result.get(se_col, float("nan"))
        if value is None or se is None or not (np.isfinite(value) and np.isfinite(se)):
            raise KeyError(f"this row has no FID with a standard error at N = {n} (columns {col!r}, {se_col!r})")
    return Estimate(float(value), float(se))


def fid_verdict(a: dict, b: dict, n: int, *, names: tuple[str, str], z: float = 1.96) -> Verdict:
    """Compare the FIDs at N = n of two samplers (`fid_estimate` inputs) with `reporting.compare`.

    The two generated sets are independent and share the reference, so the difference has standard error
    √(se_a² + se_b²); it is called a difference only when |FID_a − FID_b| > z · that (z = 1.96: 95 %).
    """
    return compare(fid_estimate(a, n), fid_estimate(b, n), names=names, quantity=f"FID at N = {n}",
                           better="lower", z=z, tie="")


def fid_comparison(a: dict, b: dict, n: int, *, names: tuple[str, str], z: float = 1.96) -> str:
    """The sentence of `fid_verdict` ("A is better than B in FID at N = n by …" or "A and B cannot be told apart
    in FID at N = n (…)")."""
    return fid_verdict(a, b, n, names=names, z=z).sentence


def lowest_fid(estimates: dict[str, Estimate], *, what: str = "sampler", plural: str | None = None,
               z: float = 1.96) -> tuple[str, str]:
    """Which of several independent FIDs is lowest, and from how many of the others it is told apart.

    A compact form of `reporting.rank` for long lists (every comparison goes through `reporting.compare`).
    Returns:
        (the best name, a sentence such as "DDIM 20 steps has the lowest FID (21.85 ± 5.44): lower than 5 of the
        8 other samplers beyond the noise, and not told apart from A, B and C").
    """
    if len(estimates) < 2:
        raise ValueError(f"need at least two FIDs to rank, got {list(estimates)}")
    best = min(estimates, key=lambda k: estimates[k].value)
    e = estimates[best]
    others = [k for k in estimates if k != best]
    ties = [k for k in others if compare(e, estimates[k], names=(best, k), quantity="FID", better="lower",
                                          z=z).sign == 0]
    shown = f"{e.value:.2f} ± {z * e.se:.2f}"
    plural = plural or (what if what.endswith("s") else what + "s")
    if not ties:
        return best, f"{best} has the lowest FID ({shown}), lower than every other {what} beyond the noise"
    if len(ties) == len(others):
        return best, (f"{best} has the lowest FID ({shown}), but it cannot be told apart from any other {what} at "
                      f"this N")
    return best, (f"{best} has the lowest FID ({shown}): lower than {len(others) - len(ties)} of the {len(others)} "
                  f"other {plural} beyond the noise, and not told apart from {join_words(ties)}")


def sampler_label(row: dict) -> str:
    """"DDPM ancestral" or "DDIM 20 steps (η = 1)" for a row of the DDPM chapter's sampler table."""
    eta = row.get("eta")
    if row["sampler"] != "DDIM" or eta is None or not np.isfinite(eta):
        return str(row["sampler"])
    return f"DDIM {int(row['steps'])} steps (η = {eta:g})"


ETA_NAMES = ("stochastic DDIM (η = 1)", "deterministic DDIM (η = 0)")
# variant model in the sampler table → (its key in the glued names, how a sentence names it and the main model)
VARIANTS = {"cosine schedule": ("cos", ("the cosine-schedule model", "the linear-schedule model")),
            "dequantised": ("deq", ("the dequantised model", "the main model"))}


def ddpm_verdicts(samplers: list[dict], *, main: str, n_main: int, n_cmp: int,
                  variant_samplers: dict[str, tuple[int, float]]) -> dict[str, str]:
    """The DDPM chapter's sentences that compare samplers and models, worded from the FIDs and their errors.

    Args:
        samplers: the chapter's sampler table as records (model, sampler, steps, eta, "FID (N=…)", "FID se (N=…)").
        main: the main model's name in the "model" column.
        n_main: the N at which every sampler of the main model is ranked; n_cmp: the N of the DDIM comparisons.
        variant_samplers: tag → (steps, eta) at which the variant models (`VARIANTS`) were sampled.
    Returns:
        {"eta_verdict": η = 1 against η = 0 at every step count, "eta_differences": FID(η = 1) − FID(η = 0) at
        each step count with its 95 % interval, "best_sampler", "best_sentence": the main
        model's lowest FID, "<cos|deq>_verdict_<tag>": each variant against the main model, "deq_choice": the
        chapter's choice about dequantisation, which follows the dequantised model's verdicts}.
    """
    main_rows = [r for r in samplers if r["model"] == main]
    ddim = {(int(r["steps"]), float(r["eta"])): r for r in main_rows if r["sampler"] == "DDIM"}
    out: dict[str, str] = {}
    stochastic = {s: fid_estimate(r, n_cmp) for (s, e), r in sorted(ddim.items()) if e == 1.0}
    deterministic = {s: fid_estimate(r, n_cmp) for (s, e), r in sorted(ddim.items()) if e == 0.0}
    out["eta_verdict"], by_steps = compare_across(stochastic, deterministic, names=ETA_NAMES, quantity="FID",
                                                  label="step count", better="lower")
    out["eta_differences"] = "; ".join(f"{s} steps: {_signed(v.difference.value)} ± {1.96 * v.difference.se:.2f}"
                                       for s, v in by_steps.items())
    out["best_sampler"], out["best_sentence"] = lowest_fid({sampler_label(r): fid_estimate(r, n_main)
                                                            for r in main_rows})
    signs = {}
    for model, (key, names) in VARIANTS.items():
        rows = {(int(r["steps"]), float(r["eta"])): r for r in samplers if r["model"] == model}
        if not rows:
            continue
        for tag, (steps, eta) in variant_samplers.items():
            v = fid_verdict(rows[steps, float(eta)], ddim[steps, float(eta)], n_cmp, names=names)
            out[f"{key}_verdict_{tag}"] = v.sentence
            signs[key, tag] = v.sign
    deq = [s for (k, _), s in signs.items() if k == "deq"]
    if deq:
        out["deq_choice"] = dequantisation_choice(deq)
    return out


def loss_sentence(losses: list[float], block: int = 50) -> str:
    """The training loss at three points of a run, from `train_diffusion`'s means over blocks of `block` steps."""
    if len(losses) < 3:
        return (f"The run is shorter than three blocks of {block} steps, so the loss is only in the table "
                "(one row per epoch)")
    tenth = losses[max(1, len(losses) // 10) - 1]
    return (f"The noise-prediction loss (mean over each {block} steps) is {losses[0]:.4f} over the first {block} "
            f"steps, {tenth:.4f} after a tenth of the training and {losses[-1]:.4f} over the last {block}")


def _signed(x: float) -> str:
    return f"−{-x:.2f}" if x < 0 else f"+{x:.2f}"


def dequantisation_choice(signs: list[int]) -> str:
    """The chapter's choice about dequantised training, from the dequantised model's verdicts against the main
    model at each sampler (+1: dequantised better beyond the noise, 0: no difference, −1: worse)."""
    if not signs:
        raise ValueError("no verdict of the dequantised model to choose from")
    if all(s > 0 for s in signs):
        return ("dequantisation lowers the FID at every sampler it was tried with; the chapter's main model still "
                "stays the plain one, because the guidance and memorisation chapters build their models on its "
                "settings and retraining them all would cost more than this gain; new models should switch "
                "`dequantize` on")
    if any(s > 0 for s in signs):
        return ("dequantisation helps at some samplers and not at others, which is no case for retraining the main "
                "model (and every model of the guidance and memorisation chapters built on its settings)")
    if any(s < 0 for s in signs):
        return ("dequantisation raises the FID at this budget at some sampler and lowers it at none, so the chapter "
                "keeps the plain main model (and the guidance and memorisation chapters keep the models built on "
                "its settings)")
    return ("dequantisation brings no measurable gain in FID at this budget, so the chapter keeps the plain main "
            "model (and the guidance and memorisation chapters keep the models built on its settings)")


@torch.no_grad()
def label_agreement(model: DDPM, classifier, path: dict[int, torch.Tensor]) -> dict[int, tuple[int, int]]:
    """How early the digit of a reverse chain is decided: at each snapshot time t > 0 of `DDPM.sample(...,
    snapshots=…)`, the number of chains whose estimate x̂_0(x_t) gets the FID classifier's label of the chain's
    final sample x_0 (path[0]).

    Returns:
        {t: (agreeing chains, chains)} for every t in `path` except 0.
    """
    from ..metrics import predict_proba

    if 0 not in path:
        raise ValueError("the path needs the final sample (snapshot t = 0)")
    final = predict_proba(classifier, path[0].float().cpu().clamp(-1, 1)).argmax(1)  # as scored in the FID
    out = {}
    for t, x in sorted(path.items(), reverse=True):
        if t == 0:
            continue
        idx = torch.full((x.shape[0],), t - 1, device=x.device, dtype=torch.long)  # x_t enters the step of index t−1
        x0 = model.predict_x0(x, idx, model.eps(x, idx))
        pred = predict_proba(classifier, x0.float().cpu()).argmax(1)
        out[int(t)] = (int((pred == final).sum()), int(x.shape[0]))
    return out


def agreement_sentence(agreement: dict[int, tuple[int, int]]) -> str:
    """"at t = 500, 3 of 8 chains; at t = 200, 7 of 8; …" from `label_agreement` (largest t first)."""
    if not agreement:
        raise ValueError("no snapshot to report")
    parts = [f"at t = {t}, {k} of {n} chains" if i == 0 else f"at t = {t}, {k} of {n}"
             for i, (t, (k, n)) in enumerate(sorted(agreement.items(), reverse=True))]
    return "; ".join(parts)


def evaluate_sampler(name: str, model_key: str, draw, n: int, *, batch: int, device, references: dict,
                     seed: int, labels: Callable[[torch.Tensor], dict] | None = None, keep: int = 100,
                     n_boot: int = FID_BOOTSTRAP, extra: dict[str, Callable[[], torch.Tensor]] | None = None,
                     log=print) -> dict:
    """Samples, FIDs (with bootstrap standard errors) and samples/s of one sampler, cached under
    (model, sampler, n, seed, batch).

    Args:
        draw: `draw(batch_size, generator)` → samples (B, 1, 28, 28).
        n: number of samples.
        references: {N: (mu, sigma) of the first N test images}; the FID is computed for every
            N ≤ n on the first N samples, so samplers run at different n still share an N.
        labels: optional `labels(samples)` → extra metrics (e.g. class accuracy).
        n_boot: bootstrap resamples behind each standard error (a config's `fid_bootstrap`).
        extra: {name: getter} of tensors that `draw` recorded while sampling (e.g. a latent model's codes),
            called once after sampling and cached with the samples, so a figure can reuse them instead of
            sampling again; part of the cache key by name.
    Returns:
        {"name", "n", "fid": {N: FID}, "fid_se": {N: its standard error (`fid_with_se`)}, "seconds",
        "samples_per_s", "images": the first `keep` samples (CPU float32), plus what `labels` adds and the
        tensors of `extra` under their names}.
    """
    from ..metrics import extract_features, load_fid_classifier

    def compute(resume, save):
        samples, seconds = timed_samples(draw, n, batch, device=device, seed=seed, desc=f"{name} ({n})")
        if not torch.isfinite(samples).all():
            raise FloatingPointError(f"sampler {name!r} produced NaN or infinite values")
        samples = samples.clamp(-1, 1)
        features = extract_features(load_fid_classifier(device), samples)  # (n, 128)
        scored = {int(m): fid_with_se(ref, features[:m], n_boot=n_boot, seed=seed)
                  for m, ref in references.items() if m <= n}
        metrics = {"name": name, "n": n, "fid": {m: f for m, (f, _) in scored.items()},
                   "fid_se": {m: se for m, (_, se) in scored.items()}, "seconds": seconds, "samples_per_s": n / seconds}
        if labels is not None:
            metrics.update(labels(samples))
        kept = {k: get().detach().cpu().clone() for k, get in (extra or {}).items()}
        return {"images": samples[:keep].clone(), **kept}, n, metrics

    if extra and "images" in extra:
        raise ValueError("extra cannot be named 'images' (the kept samples)")
    key = {"model": model_key, "sampler": name, "n": n, "seed": seed, "batch": batch,
           "references": sorted(int(m) for m in references), "fid_se": f"bootstrap-{n_boot}"}
    if extra:  # only then: the samples of every other call keep their cache keys
        key["extra"] = sorted(extra)
    payload = checkpoints.train_or_load("ddpm-samples", key, compute, log=log)
    return {**payload["metrics"], **payload["state"]}


def model_key(record: dict) -> str:
    """A fingerprint of a trained network (of its EMA-free weights) to key its samples' cache."""
    return checkpoints.data_fingerprint(torch.cat([v.flatten().float() for v in record["network_state"].values()]))


def device_of(cfg) -> str:
    """The device a chapter config asks for (its `device` field: "auto" | "cpu" | "cuda"), resolved."""
    return resolve_device(cfg.device)


def class_accuracy(classifier, intended: torch.Tensor) -> Callable[[torch.Tensor], dict]:
    """A `labels` hook for `evaluate_sampler`: the FID classifier's accuracy on samples meant to be `intended`."""
    from ..metrics import predict_proba

    def score(samples: torch.Tensor) -> dict[str, Any]:
        pred = predict_proba(classifier, samples).argmax(1)
        per_class = [float((pred[intended == c] == c).double().mean()) for c in range(10)]
        return {"accuracy": float((pred == intended).double().mean()), "accuracy_per_class": per_class}

    return score


__all__ = ["DDPMStudyConfig", "agreement_sentence", "classifier_guided_eps", "class_accuracy", "ddpm_verdicts",
           "dequantisation_choice", "device_of", "evaluate_sampler", "fid_comparison", "fid_estimate", "fid_verdict",
           "fid_with_se", "label_agreement", "load_training_data", "loss_sentence", "lowest_fid", "model_key",
           "sampler_label", "timed_samples", "train_ddpm", "train_noisy_classifier"]
