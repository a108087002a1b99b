"""Classifier guidance (Dhariwal & Nichol 2021): a classifier of noisy images x_t steers DDIM towards a class.

Bayes' rule on the noisy marginal gives the conditional score

    ∇ log p(x_t | y) = ∇ log p(x_t) + ∇ log p_φ(y | x_t, t),

and since the noise predictor is ε_θ = −√(1 − ᾱ_t) ∇ log p(x_t), the guided noise is

    ε̂(x_t, t) = ε_θ(x_t, t) − s √(1 − ᾱ_t) ∇_{x_t} log p_φ(y | x_t, t),

with a guidance scale s (s = 1 is the Bayes-rule value; larger s sharpens p_φ(y | x_t)^s).
The classifier must be trained on x_t ~ q(x_t | x_0) at every t, which is why it is not the
FID classifier: that one has only seen clean digits. Classifier-free guidance (`DDPM.eps` with
`guidance_scale`) needs no such classifier; see the chapter for the comparison.

The second half of the module compares guided samplers with their uncertainty: class accuracy with a
binomial standard error and Wilson bars, FID with the bootstrap standard error of
`study.evaluate_sampler`. Every sentence of the chapter that judges a result is worded here through
`probgen.reporting` (`cfg_verdicts`, `cg_verdicts`, `cfg_vs_cg_verdict`, `chance_verdict`, and
`sweep_verdict` for two methods over the guidance scales), so it reads correctly at every profile;
`sweep_display` is the chapter's table and `plot_conditioning_sweep` its figure against w.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..nets.unet import ResBlock, sinusoidal_embedding
from ..reporting import compare, compare_across, join_words, rank
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


# ----- comparing guided samplers: estimates with their standard errors, computed verdicts --------------------------
#
# Every sentence of the chapter that compares results is worded here by `probgen.reporting` (compare,
# compare_across, rank), from class accuracies with binomial standard errors and FIDs with bootstrap standard
# errors, so the chapter reads correctly at every profile. ± is z = 1.96 standard errors (a 5 % test of each
# comparison, not corrected for the several a page makes).

MODE_NAMES = {"add": "embedding", "cross_attention": "cross-attention", "input_channels": "input-channel"}
"""The conditioning mechanisms (`UNetConfig.cond_mode`) as the chapter names them."""

CHANCE = 0.1  # the accuracy of a sample that ignores its requested digit, when the ten digits are requested equally


def _signed(x: float, fmt: str) -> str:
    return ("−" + fmt.format(-x)) if x < 0 else "+" + fmt.format(x)


def sweep_verdict(a: dict[float, Estimate], b: dict[float, Estimate], *, names: tuple[str, str], quantity: str,
                  better: str = "higher", fmt: str = "{:.2f}", symbol: str = "w", z: float = 1.96) -> str:
    """One sentence comparing a quantity of two methods at every guidance scale they share.

    The verdict is `reporting.compare_across`'s (the rule and its exceptions, "A is better than B in FID at every
    guidance scale except w = 0, where they cannot be told apart"), followed by the differences A − B at each
    scale with ± z standard errors ("(A minus B at w = 0 and 3: −0.52 ± 0.06 and +0.01 ± 0.05)"), so the
    sentence states its uncertainty.

    Args:
        a, b: guidance scale → `Estimate` (a class accuracy from `binomial_estimate`, an FID with its bootstrap se).
        better: "higher" (accuracy) or "lower" (FID).
        symbol: the scale's symbol in the sentence ("w" for classifier-free, "s" for classifier guidance).
    """
    scales = sorted(set(a) & set(b))
    if not scales:
        raise ValueError(f"the two methods share no guidance scale {symbol} to compare at")
    text, verdicts = compare_across({w: a[w] for w in scales}, {w: b[w] for w in scales}, names=names,
                                    quantity=quantity, label="guidance scale", better=better,
                                    key_fmt=f"{symbol} = {{:g}}", fmt=fmt, z=z)
    diffs = [f"{_signed(verdicts[w].difference.value, fmt)} ± {fmt.format(z * verdicts[w].difference.se)}"
             for w in scales]
    where = join_words([f"{w:g}" for w in scales])
    return f"{text} ({names[0]} minus {names[1]} at {symbol} = {where}: {join_words(diffs)})"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def chance_verdict(correct: int, n: int, *, name: str, chance: float = CHANCE, chance_name: str = "chance",
                   quantity: str = "class accuracy") -> str:
    """Whether `correct` of `n` is told apart from an exact chance rate.

    E.g. "the unguided sampler and chance cannot be told apart in class accuracy at this N (0.120 ± 0.040 against
    0.100; …)"; the accuracy carries its binomial standard error (`binomial_estimate`). The default chance, one
    in ten, is that of a sample that ignores its request when the ten digits are requested equally often; for a
    classifier that sees no signal on a fixed test set it is the share of the most frequent digit.
    """
    if not 0.0 <= chance <= 1.0:
        raise ValueError(f"chance={chance!r} must be a rate in [0, 1]")
    return compare(binomial_estimate(int(correct), int(n)), chance, names=(name, chance_name),
                   quantity=quantity, fmt="{:.3f}").sentence


def _estimates(table, key: str, value: str, se: str | None = None, n: int | None = None) -> dict[float, Estimate]:
    """{table[key]: Estimate} from a value column and its se column, or from correct counts of n (binomial)."""
    if n is not None:
        return {float(k): binomial_estimate(int(c), int(n)) for k, c in zip(table[key], table[value])}
    return {float(k): Estimate(float(v), float(s)) for k, v, s in zip(table[key], table[value], table[se])}


SWEEP_COLUMNS = ("mode", "w", "correct", "FID", "FID se")
CG_COLUMNS = ("s", "correct", "FID", "FID se")
COMMON_COLUMNS = ("common FID", "common FID se")


def _check_columns(table, columns, what: str) -> None:
    missing = sorted(set(columns) - set(table.columns))
    if missing:
        raise KeyError(f"the {what} lacks column(s) {missing}; it needs {list(columns)}")


def cfg_verdicts(sweep, *, n: int, main: str = "add", names: dict[str, str] | None = None,
                 z: float = 1.96) -> dict[str, str]:
    """The sentences that judge the classifier-free guidance sweep.

    Args:
        sweep: one row per (conditioning mode, w) with columns `SWEEP_COLUMNS`: "correct" samples of the
            requested class out of n, the FID at N = n and its bootstrap standard error.
        main: the conditioning mode the others are compared with.
        names: mode → its name in the sentences (default `MODE_NAMES`).
    Returns:
        {"cfg_best": which w of `main` has the lowest FID and what it is told apart from;
         "cfg_tradeoff": class accuracy and FID of `main` at the largest w against the smallest;
         "<mode>_acc", "<mode>_fid" for each other mode: against `main` at every w (capitalised, as each
         starts a sentence)}.
    """
    names = dict(MODE_NAMES if names is None else names)
    _check_columns(sweep, SWEEP_COLUMNS, "sweep")
    by_mode = {m: rows for m, rows in sweep.groupby("mode")}
    if main not in by_mode:
        raise ValueError(f"the sweep has no rows of the main mode {main!r}; it has {sorted(by_mode)}")
    unnamed = sorted(set(by_mode) - set(names))
    if unnamed:
        raise KeyError(f"no name for conditioning mode(s) {unnamed}; names has {sorted(names)}")
    acc = {m: _estimates(rows, "w", "correct", n=n) for m, rows in by_mode.items()}
    fid = {m: _estimates(rows, "w", "FID", "FID se") for m, rows in by_mode.items()}
    w_lo, w_hi = min(acc[main]), max(acc[main])
    out = {}
    _, out["cfg_best"] = rank({f"w = {w:g}": e for w, e in fid[main].items()}, quantity="FID", better="lower", z=z)
    at = (f"w = {w_hi:g}", f"w = {w_lo:g}")
    out["cfg_tradeoff"] = (
        compare(acc[main][w_hi], acc[main][w_lo], names=at, quantity="class accuracy", fmt="{:.3f}", z=z).sentence
        + ", and " + compare(fid[main][w_hi], fid[main][w_lo], names=at, quantity="FID", better="lower",
                             z=z).sentence)
    for mode in (m for m in names if m in by_mode and m != main):
        pair = (f"{names[mode]} conditioning", f"{names[main]} conditioning")
        out[f"{mode}_acc"] = _capital(sweep_verdict(acc[mode], acc[main], names=pair, quantity="class accuracy",
                                                    fmt="{:.3f}", z=z))
        out[f"{mode}_fid"] = _capital(sweep_verdict(fid[mode], fid[main], names=pair, quantity="FID",
                                                    better="lower", z=z))
    return out


def cg_verdicts(cg, *, n: int, z: float = 1.96) -> dict[str, str]:
    """The sentences that judge the classifier-guidance sweep.

    Args:
        cg: one row per scale s with columns `CG_COLUMNS` ("correct" of n, the FID at N = n and its se); it
            must hold the unguided s = 0.
    Returns:
        {"cg_chance": the unguided sampler (s = 0) against chance; "cg_best": which s has the best class
         accuracy and what it is told apart from; "cg_fid": the FID at the largest s against s = 0}.
    """
    _check_columns(cg, CG_COLUMNS, "classifier-guidance table")
    scales = cg["s"].astype(float)
    if not (scales == 0.0).any():
        raise ValueError(f"the classifier-guidance table needs the unguided scale s = 0; it has {list(cg['s'])}")
    acc, fid = _estimates(cg, "s", "correct", n=n), _estimates(cg, "s", "FID", "FID se")
    s_hi = max(acc)
    _, best = rank({f"s = {s:g}": e for s, e in acc.items()}, quantity="class accuracy", fmt="{:.3f}", z=z)
    return {"cg_chance": chance_verdict(int(cg.loc[scales == 0.0, "correct"].iloc[0]), n,
                                        name="the unguided sampler (s = 0)"),
            "cg_best": best,
            "cg_fid": compare(fid[s_hi], fid[0.0], names=(f"s = {s_hi:g}", "s = 0"), quantity="FID",
                              better="lower", z=z).sentence}


def cfg_vs_cg_verdict(sweep, cg, *, n_cfg: int, n_cg: int, main: str = "add", z: float = 1.96) -> str:
    """Classifier-free guidance (mode `main`) at its largest w against classifier guidance at its largest s.

    Class accuracy from the correct counts (out of n_cfg and n_cg); FID at the common N = min(n_cfg, n_cg),
    from the "common FID" and "common FID se" columns of both tables, since FIDs at different N are not
    comparable. A sentence on the noisy classifier follows when the run resolves a gap in accuracy.
    """
    _check_columns(sweep, SWEEP_COLUMNS + COMMON_COLUMNS, "sweep")
    _check_columns(cg, CG_COLUMNS + COMMON_COLUMNS, "classifier-guidance table")
    rows = sweep[sweep["mode"] == main]
    if rows.empty:
        raise ValueError(f"the sweep has no rows of the main mode {main!r}")
    acc_cfg, acc_cg = _estimates(rows, "w", "correct", n=n_cfg), _estimates(cg, "s", "correct", n=n_cg)
    fid_cfg, fid_cg = (_estimates(t, k, *COMMON_COLUMNS) for t, k in ((rows, "w"), (cg, "s")))
    w_hi, s_hi = max(acc_cfg), max(acc_cg)
    pair = (f"classifier-free guidance (w = {w_hi:g})", f"classifier guidance (s = {s_hi:g})")
    v_acc = compare(acc_cfg[w_hi], acc_cg[s_hi], names=pair, quantity="class accuracy", fmt="{:.3f}", z=z)
    v_fid = compare(fid_cfg[w_hi], fid_cg[s_hi], names=pair, quantity="FID", better="lower",
                    tie=f"at N = {min(n_cfg, n_cg)}", z=z)
    text = v_acc.sentence + "; " + v_fid.sentence
    if v_acc.sign > 0:  # only a gap that this run resolves can be narrowed
        text += (". A better classifier of noisy images (more training, a larger network) would be expected to "
                 "narrow the gap in class accuracy; ours is deliberately small")
    return text


def chapter_verdicts(sweep, cg, *, n_cfg: int, n_cg: int, main: str = "add",
                     names: dict[str, str] | None = None, z: float = 1.96) -> dict[str, str]:
    """Every sentence of the guidance chapter that compares results: `cfg_verdicts`, `cg_verdicts` and
    "cfg_vs_cg" (`cfg_vs_cg_verdict`) in one dict."""
    return {**cfg_verdicts(sweep, n=n_cfg, main=main, names=names, z=z), **cg_verdicts(cg, n=n_cg, z=z),
            "cfg_vs_cg": cfg_vs_cg_verdict(sweep, cg, n_cfg=n_cfg, n_cg=n_cg, main=main, z=z)}


def sweep_display(table, *, keys: dict[str, str], n: int, floor: float, ceiling: float, z: float = 1.96):
    """A guided-sampling table as the chapter shows it: the keys, the class accuracy with its Wilson interval,
    the FID ± z bootstrap standard errors with its N, floor and ceiling in the header, and samples/s.

    Args:
        table: rows with "correct" (of n), "FID", "FID se", "samples/s" and the `keys` columns.
        keys: column → its name in the shown table (e.g. {"conditioning": "conditioning", "w": "w"}).
        n, floor, ceiling: the samples per row (the binomial n and the FID's N) and the FID's floor (two real
            sets of N images) and ceiling (noise against real) at that N.
    Returns:
        a DataFrame of strings and numbers for `tables.show`.
    """
    import pandas as pd

    missing = sorted({"correct", "FID", "FID se", "samples/s", *keys} - set(table.columns))
    if missing:
        raise KeyError(f"the table lacks column(s) {missing}")
    shown = pd.DataFrame({new: table[old].to_numpy() for old, new in keys.items()})
    intervals = [wilson_interval(int(k), n, z) for k in table["correct"]]
    shown[f"class accuracy [95%] (of {n})"] = [f"{k / n:.3f} [{lo:.3f}, {hi:.3f}]"
                                                for k, (lo, hi) in zip(table["correct"], intervals)]
    shown[f"FID ± 95% (N = {n}; floor {floor:.2f}, ceiling {ceiling:.0f})"] = [
        f"{f:.2f} ± {z * s:.2f}" for f, s in zip(table["FID"], table["FID se"])]
    shown["samples/s"] = table["samples/s"].to_numpy()
    return shown


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
