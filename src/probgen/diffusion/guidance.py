"""Classifier guidance (Dhariwal & Nichol 2021): a classifier of noisy images x_t steers DDIM towards a class.

Bayes' rule on the noisy marginal gives the conditional score

    ∇ log p(x_t | y) = ∇ log p(x_t) + ∇ log p_φ(y | x_t, t),

and since the noise predictor is ε_θ = −√(1 − ᾱ_t) ∇ log p(x_t), the guided noise is

    ε̂(x_t, t) = ε_θ(x_t, t) − s √(1 − ᾱ_t) ∇_{x_t} log p_φ(y | x_t, t),

with a guidance scale s (s = 1 is the Bayes-rule value; larger s sharpens p_φ(y | x_t)^s).
The classifier must be trained on x_t ~ q(x_t | x_0) at every t, which is why it is not the
FID classifier: that one has only seen clean digits. Classifier-free guidance (`DDPM.eps` with
`guidance_scale`) needs no such classifier; see the chapter for the comparison.

The second half of the module compares guided samplers with their uncertainty, for the chapter's
comparison of conditioning mechanisms (`UNetConfig.cond_mode`): class accuracy with a binomial
standard error and Wilson bars, FID with the bootstrap standard error of `study.evaluate_sampler`,
computed sentences that compare two methods over the guidance scales (`sweep_verdict`), and the
figure of both against w.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..nets.unet import ResBlock, sinusoidal_embedding
from ..runtime import ConfigError, FromDict
from ..stats import Difference, Estimate, binomial_estimate, wilson_interval  # noqa: F401 (re-exported)
from .schedules import NoiseSchedule, gather


@dataclass(frozen=True)
class NoisyClassifierConfig(FromDict):
    """A small time-conditioned CNN: stem, one residual block per resolution (28, 14, 7), pooling, a linear head."""

    base_channels: int = 32
    n_classes: int = 10
    groups: int = 8
    image_size: int = 28

    def __post_init__(self) -> None:
        if self.base_channels % self.groups:
            raise ConfigError(f"groups={self.groups} must divide base_channels={self.base_channels}")


class NoisyClassifier(nn.Module):
    """log p_φ(y | x_t, t): (B, 1, 28, 28) noisy images and integer times (B,) → (B, n_classes) logits."""

    def __init__(self, cfg: NoisyClassifierConfig | None = None, **kwargs):
        super().__init__()
        cfg = cfg or NoisyClassifierConfig.from_dict(kwargs)
        self.cfg = cfg
        ch = cfg.base_channels
        emb = 4 * ch
        self.time_mlp = nn.Sequential(nn.Linear(ch, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.stem = nn.Conv2d(1, ch, 3, padding=1)
        widths = (ch, 2 * ch, 2 * ch)  # at 28, 14, 7
        self.blocks = nn.ModuleList()
        self.downs = nn.ModuleList()
        in_ch = ch
        for i, width in enumerate(widths):
            self.blocks.append(ResBlock(in_ch, width, emb, cfg.groups, 0.0))
            self.downs.append(nn.Conv2d(width, width, 3, stride=2, padding=1) if i < len(widths) - 1
                              else nn.Identity())
            in_ch = width
        self.norm = nn.GroupNorm(cfg.groups, in_ch)
        self.head = nn.Linear(in_ch, cfg.n_classes)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, device=x.device).expand(x.shape[0])
        emb = self.time_mlp(sinusoidal_embedding(t, self.cfg.base_channels).to(x.dtype))
        h = self.stem(x)
        for block, down in zip(self.blocks, self.downs):
            h = down(block(h, emb))
        h = F.silu(self.norm(h)).mean(dim=(2, 3))  # (B, C) global average
        return self.head(h)


class NoisyClassifierObjective:
    """Cross-entropy of the classifier on x_t ~ q(x_t | x_0), t uniform: trained by `train_diffusion` like a DDPM."""

    def __init__(self, network: NoisyClassifier, schedule: NoiseSchedule):
        self.network = network
        self.schedule = schedule

    def loss(self, x0: torch.Tensor, y: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
        if y is None:
            raise ValueError("the noisy classifier is trained on labelled images: pass labels")
        s = self.schedule
        t = torch.randint(0, s.T, (x0.shape[0],), device=x0.device, generator=generator)
        noise = torch.randn(x0.shape, device=x0.device, dtype=x0.dtype, generator=generator)
        return F.cross_entropy(self.network(s.q_sample(x0, t, noise), t.to(x0.dtype)), y)

    @torch.no_grad()
    def accuracy(self, x0: torch.Tensor, y: torch.Tensor, t: int, generator: torch.Generator | None = None) -> float:
        """Accuracy on x_t of the given images at one integer step t."""
        s = self.schedule
        tt = torch.full((x0.shape[0],), t, device=x0.device, dtype=torch.long)
        noise = torch.randn(x0.shape, device=x0.device, dtype=x0.dtype, generator=generator)
        logits = self.network(s.q_sample(x0, tt, noise), tt.to(x0.dtype))
        return float((logits.argmax(1) == y).double().mean())


def classifier_guided_eps(ddpm, classifier: NoisyClassifier, scale: float):
    """An `eps_fn(x, t, y)` for `DDPM.sample`/`ddim_sample`: ε_θ(x, t) − s √(1 − ᾱ_t) ∇_x log p_φ(y | x, t).

    ε_θ is the (unconditional) DDPM's prediction; y are the target classes (B,).
    """
    if scale < 0:
        raise ValueError(f"the guidance scale must be ≥ 0, not {scale}")
    schedule = ddpm.schedule

    def eps_fn(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if y is None:
            raise ValueError("classifier guidance needs target labels y")
        eps = ddpm.network(x, t.to(x.dtype), None)
        if scale == 0:
            return eps
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            log_p = F.log_softmax(classifier(xg, t.to(x.dtype)), dim=1)
            grad, = torch.autograd.grad(log_p.gather(1, y[:, None]).sum(), xg)
        return eps - scale * gather((1 - schedule.alpha_bars).sqrt(), t, x) * grad

    return eps_fn


# ----- comparing conditioning mechanisms: estimates with their standard errors ------------------------------------

def _join(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def sweep_verdict(a: dict[float, Estimate], b: dict[float, Estimate], *, names: tuple[str, str], quantity: str,
                  fmt: str = "{:.2f}", z: float = 1.96) -> str:
    """One sentence comparing a quantity of two methods at every guidance scale w they share.

    E.g. "cross-attention's class accuracy is higher than the embedding's at w = 0 (by 0.12 ± 0.05); within the
    noise at w = 1, 3 and 7.5", the ± being z standard errors of the difference. Two values count as different
    when their difference exceeds z standard errors of it (z = 1.96: a 5% test at each w, not corrected for the
    several w).
    """
    ws = sorted(set(a) & set(b))
    if not ws:
        raise ValueError("the two methods share no guidance scale w to compare at")
    groups: dict[int, list[str]] = {1: [], -1: [], 0: []}
    for w in ws:
        d = Difference(a[w], b[w], z)
        shown = f"{w:g}" if d.sign == 0 else f"{w:g} (by {fmt.format(abs(d.value))} ± {fmt.format(z * d.se)})"
        groups[d.sign].append(shown)
    clauses = []
    for s, word in ((1, "higher"), (-1, "lower"), (0, "within the noise")):
        if groups[s]:
            if not clauses:  # the first clause names the other method
                word = f"within the noise of {names[1]}'s" if s == 0 else f"{word} than {names[1]}'s"
            clauses.append(f"{word} at w = {_join(groups[s])}")
    return f"{names[0]}'s {quantity} is " + "; ".join(clauses)


def plot_conditioning_sweep(sweep, *, n: int, names: dict[str, str], floor: float | None = None, z: float = 1.96):
    """Class accuracy (Wilson bars) and FID (± z bootstrap se) against w, one line per conditioning mechanism.

    Args:
        sweep: a DataFrame with one row per (mode, w) and columns "mode", "w", "correct" (samples of the
            requested class), "FID" and "FID se".
        n: samples per row (the binomial n and the FID's N).
        names: mode → the name shown in the legend; the lines follow its order.
        floor: the FID of two real sets of N images, drawn as a dotted line.
    Returns:
        the matplotlib figure (two panels side by side).
    """
    import matplotlib.pyplot as plt

    from ..plotting import PALETTE

    missing = {"mode", "w", "correct", "FID", "FID se"} - set(sweep.columns)
    if missing:
        raise KeyError(f"the sweep table lacks column(s) {sorted(missing)}")
    fig, (ax_acc, ax_fid) = plt.subplots(1, 2, figsize=(7.2, 3.4), constrained_layout=True)
    ws = sorted(sweep["w"].unique())
    dodge = 0.012 * (max(ws) - min(ws) or 1.0)  # side by side, so the bars of one w do not hide each other
    for k, (mode, label) in enumerate(names.items()):
        rows = sweep[sweep["mode"] == mode].sort_values("w")
        if rows.empty:
            continue
        x = rows["w"].to_numpy() + (k - (len(names) - 1) / 2) * dodge
        acc = rows["correct"].to_numpy() / n
        lo, hi = np.array([wilson_interval(int(c), n, z) for c in rows["correct"]]).T
        style = dict(color=PALETTE[k], marker="os^D"[k % 4], ms=4, capsize=2.5, lw=1.3, label=label)
        ax_acc.errorbar(x, acc, yerr=[acc - lo, hi - acc], **style)
        ax_fid.errorbar(x, rows["FID"], yerr=z * rows["FID se"], **style)
    ax_acc.axhline(0.1, color="grey", ls="--", lw=1, label="chance")
    if floor is not None:
        ax_fid.axhline(floor, color="grey", ls=":", lw=1, label="floor (real vs real)")
    ax_acc.set(xlabel="guidance scale w", ylabel="class accuracy (FID classifier)", title="requested digit drawn")
    ax_fid.set(xlabel="guidance scale w", ylabel=f"FID at N = {n}", title="sample quality (lower is better)")
    ax_acc.legend(fontsize=8, loc="best")
    ax_fid.legend(fontsize=8, loc="best")
    for ax in (ax_acc, ax_fid):
        ax.set_xticks(ws, [f"{w:g}" for w in ws])
    return fig
