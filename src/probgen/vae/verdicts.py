"""The sentences of the VAE chapters that compare or judge results, worded from the numbers and their uncertainty.

Every sentence goes through `probgen.reporting.compare` (one wording for the whole book: "A is better than B in
test ELBO by x ± y (…)" or "A and B cannot be told apart in test ELBO at this N (…)"; ± is 1.96 standard errors),
so a chapter reads correctly at every profile. This module supplies the estimates the VAE chapters need:

* the mean of a per-image score over one test set (`Estimate.of_mean`) and the paired difference of two models
  scored on the same images (`paired_difference`), which removes the spread between images both models share;
* the mean over training runs (seeds) scored on one test set (`seed_mean`), whose standard error combines the
  spread over seeds (std/√S) with the test-set standard error, and the difference of two such means
  (`seed_difference`: Welch's error over seeds combined with the paired test-set error).

With a single run per model the spread between training runs is unknown; the estimates then carry the test-set
error only and the sentences say so (`single_run_note`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from ..reporting import compare, compare_across, join_words
from ..stats import Estimate, binomial_estimate

Z = 1.96  # the book's ± is 1.96 standard errors


# ----- estimates -----------------------------------------------------------------------------------------------


def _per_image(x, name: str = "scores") -> np.ndarray:
    """(N,) or (S, N) scores as a float64 (S, N) array, checked finite with N ≥ 2."""
    a = np.asarray(x, dtype=np.float64)
    a = a[None] if a.ndim == 1 else a
    if a.ndim != 2 or a.shape[1] < 2 or a.shape[0] < 1:
        raise ValueError(f"{name} must be (N,) or (S, N) per-image scores with N ≥ 2, got shape {np.shape(x)}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contain non-finite values")
    return a


def paired_difference(a, b) -> Estimate:
    """The mean of a_n − b_n over the same N items, with the standard error of that mean (ddof = 1).

    Pairing removes the spread between items that both models share (hard images are hard for both), so the
    error is that of the difference, not of each mean.

    Args:
        a, b: (N,) per-item scores of two models on the same items, e.g. `evaluate(...)["elbo_per_image"]`.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(f"paired_difference needs two (N,) arrays of the same items with N ≥ 2, "
                         f"got shapes {a.shape} and {b.shape}")
    return Estimate.of_mean(a - b)


def seed_mean(per_image) -> Estimate:
    """The mean over S training runs of a per-image score on one test set of N images.

    Args:
        per_image: (S, N) scores of S runs (seeds) on the same N images, or (N,) for one run.
    Returns:
        the mean over runs and images; se = √(std_seeds²/S + se_test²), where std_seeds is the spread of the runs'
        means (ddof = 1; left out for S = 1) and se_test the standard error over images of the run-averaged
        score (the test set is shared by the runs, so averaging runs does not shrink it).
    """
    x = _per_image(per_image)
    runs = x.mean(1)  # (S,)
    seed_se = runs.std(ddof=1) / math.sqrt(len(runs)) if len(runs) > 1 else 0.0
    test_se = x.mean(0).std(ddof=1) / math.sqrt(x.shape[1])
    return Estimate(float(runs.mean()), float(math.hypot(seed_se, test_se)))


def seed_difference(a, b) -> Estimate:
    """The difference of two models' means over their runs, scored on the same test images.

    Args:
        a, b: (S_a, N) and (S_b, N) per-image scores (or (N,) for one run); the runs are independent, the images
            shared.
    Returns:
        mean(a) − mean(b) with se = √(Welch² + paired²): Welch's error of the difference of the runs' means
        (left out when either model has one run) and the standard error over images of the difference of the
        run-averaged scores.
    """
    a, b = _per_image(a, "a"), _per_image(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"seed_difference needs scores on the same images, got {a.shape[1]} and {b.shape[1]}")
    ra, rb = a.mean(1), b.mean(1)
    welch = math.sqrt(ra.var(ddof=1) / len(ra) + rb.var(ddof=1) / len(rb)) if min(len(ra), len(rb)) > 1 else 0.0
    paired = paired_difference(a.mean(0), b.mean(0))
    return Estimate(float(ra.mean() - rb.mean()), float(math.hypot(welch, paired.se)))


def single_run_note(n_runs: int, what: str = "model") -> str:
    """"" for several runs; for one run a clause ("; one training run per …") saying that the spread between training
    runs is not in the ±."""
    if n_runs > 1:
        return ""
    return f"; one training run per {what}, so the ± holds the test-set error only, not the spread between runs"


def mean_std_text(mean: float, std: float, digits: int = 2) -> str:
    """"−88.80 ± 0.70" (or just the mean when std is NaN)."""
    if np.isnan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def estimate_text(e: Estimate, fmt: str = "{:.2f}", unit: str = "") -> str:
    """"−87.59 ± 0.84 nats" with ± = 1.96 se (just the value for an exact one)."""
    u = f" {unit}" if unit else ""
    return fmt.format(e.value) + (f" ± {fmt.format(Z * e.se)}" if e.se > 0 else "") + u


# ----- sentences -----------------------------------------------------------------------------------------------


def paired_verdict(a, b, *, names: tuple[str, str], quantity: str = "test ELBO", better: str = "higher",
                   unit: str = "nats", fmt: str = "{:.2f}") -> str:
    """Two models scored on the same images: `compare` with the paired difference as the difference's error.

    Args:
        a, b: (N,) per-image scores.
    """
    return compare(Estimate.of_mean(a), Estimate.of_mean(b), names=names, quantity=quantity, better=better,
                   unit=unit, fmt=fmt, difference=paired_difference(a, b)).sentence


def rank_paired(estimates: dict[str, Estimate], difference: Callable[[str, str], Estimate], *, quantity: str,
                better: str = "higher", unit: str = "nats", fmt: str = "{:.2f}") -> tuple[str, str]:
    """Which of several models scored on the same items is best, and whether it is told apart from each other one.

    The wording is `probgen.reporting.rank`'s; the difference between the best and each other model comes from
    `difference(best, other)` (a paired or seed difference), since the models share their test items and their
    estimates are not independent.

    Returns:
        (the best name, e.g. "flow has the best test ELBO (−84.59 ± 0.22 nats): better than Gaussian by 3.00 ±
        0.43 nats and not told apart from mixture (difference 0.10 ± 0.30 nats)", or "A, B and C cannot be told
        apart in test ELBO at this N; B has the best value, …" when no difference is resolved).
    """
    if len(estimates) < 2:
        raise ValueError(f"rank_paired needs at least two models, got {list(estimates)}")
    order = sorted(estimates, key=lambda k: estimates[k].value, reverse=(better == "higher"))
    best = order[0]
    u = f" {unit}" if unit else ""
    clauses, resolved = [], False
    for other in order[1:]:
        v = compare(estimates[best], estimates[other], names=(best, other), quantity=quantity, better=better,
                    fmt=fmt, difference=difference(best, other))
        d = v.difference
        if v.sign != 0:
            resolved = True
            clauses.append(f"better than {other} by {fmt.format(abs(d.value))} ± {fmt.format(Z * d.se)}{u}")
        else:
            clauses.append(f"not told apart from {other} (difference {fmt.format(abs(d.value))} "
                           f"± {fmt.format(Z * d.se)}{u})")
    shown = estimate_text(estimates[best], fmt, unit)
    if not resolved:
        return best, (f"{join_words(order)} cannot be told apart in {quantity} at this N; {best} has the best "
                      f"value, {shown}, " + join_words(clauses))
    return best, f"{best} has the best {quantity} ({shown}): " + join_words(clauses)


def target_sentence(value: Estimate, target: float, *, names: tuple[str, str] = ("this run", "the reference target"),
                    quantity: str = "held-out −ELBO", better: str = "lower", epochs: int | None = None,
                    target_epochs: int | None = None) -> str:
    """Our estimate against a target value (exact), and a note when this run trains another number of epochs.

    Returns:
        e.g. "this run and the reference target cannot be told apart in held-out −ELBO at this N (103.84 ± 0.60
        against 104.00 nats; difference −0.16 ± 0.60 nats)", followed by "; this profile trains 2 epochs, not the
        20 the target is for" when epochs ≠ target_epochs.
    """
    text = compare(value, float(target), names=names, quantity=quantity, better=better, unit="nats").sentence
    if epochs is not None and target_epochs is not None and epochs != target_epochs:
        text += (f"; this profile trains {epochs} epoch{'s' if epochs != 1 else ''}, not the {target_epochs} "
                 "the target is for")
    return text


def targets_sentence(estimates: dict[str, Estimate], target: float | None, *, profile: str,
                     label: str = "prior", quantity: str = "mean test ELBO") -> str:
    """Several models' estimates against one sanity target of the profile (higher is better), or that it has none."""
    if target is None:
        return f"the {profile} profile sets no target (it only checks that the code runs)"
    text, _ = compare_across(estimates, {k: float(target) for k in estimates},
                             names=("this run", f"the {profile} profile's target of {target:g} nats"),
                             quantity=quantity, label=label, key_fmt="{}")
    return text


def references_sentence(estimates: dict[str, Estimate], references: dict[str, Estimate], *,
                        reference_name: str, label: str = "prior", quantity: str = "mean test ELBO") -> str:
    """Our estimates against published ones (higher is better), setting by setting (only those both have)."""
    shared = {k: v for k, v in estimates.items() if k in references}
    if not shared:
        return f"no {label} of this run has a value in {reference_name}"
    text, _ = compare_across(shared, references, names=("this run", reference_name), quantity=quantity,
                             label=label, key_fmt="{}")
    return text


def change_sentence(difference: Estimate, *, quantity: str, unit: str = "nats", fmt: str = "{:+.2f}") -> str:
    """How much a quantity moves, with no better or worse: "the mean KL changes by −0.30 ± 0.41 nats" when the
    change exceeds 1.96 standard errors, else "the mean KL does not change beyond its noise (−0.30 ± 0.41 nats)"."""
    shown = f"{fmt.format(difference.value).replace('-', '−')} ± {abs(Z * difference.se):.2f} {unit}".rstrip()
    if abs(difference.value) > Z * difference.se:
        return f"{quantity} changes by {shown}"
    return f"{quantity} does not change beyond its noise ({shown})"


def split_sentence(reconstruction_error_change: Estimate, kl_change: Estimate, *, names: tuple[str, str]) -> str:
    """From model B to model A: the change of the mean reconstruction error and of the mean KL, and which of them
    carries the ELBO's change (the ELBO changes by minus their sum).

    Args:
        reconstruction_error_change, kl_change: A − B of −E log p(x|z) and of the KL term (lower is better for
            both).
        names: (A, B).
    """
    a, b = names
    parts = [change_sentence(reconstruction_error_change, quantity="the mean reconstruction error"),
             change_sentence(kl_change, quantity="the mean KL")]
    moved = {"reconstruction": reconstruction_error_change, "KL": kl_change}
    resolved = {k: d for k, d in moved.items() if abs(d.value) > Z * d.se}
    if not resolved:
        tail = "neither term moves beyond its noise at this N"
    else:
        gains = [k for k, d in resolved.items() if d.value < 0]
        losses = [k for k, d in resolved.items() if d.value > 0]
        bits = []
        if gains:
            bits.append(f"the {a} gains in the {join_words(gains)} term{'s' if len(gains) > 1 else ''}")
        if losses:
            bits.append(f"{'and loses' if gains else f'the {a} loses'} in the {join_words(losses)} "
                        f"term{'s' if len(losses) > 1 else ''}")
        tail = " ".join(bits)
    return f"From the {b} to the {a}, {parts[0]} and {parts[1]}: {tail}"


def larger_sentence(a: Estimate, b: Estimate, *, names: tuple[str, str], unit: str = "nats",
                    difference: Estimate | None = None, fmt: str = "{:.2f}") -> str:
    """Which of two sizes is larger (no better or worse): "A is larger than B by x ± y nats (a against b)" or
    `compare`'s tie sentence ("A and B cannot be told apart in size at this N (…)")."""
    v = compare(a, b, names=names, quantity="size", better="higher", unit=unit, fmt=fmt, difference=difference)
    if v.sign == 0:
        return v.sentence
    big, small = names if v.sign > 0 else names[::-1]
    values = f"{estimate_text(a, fmt)} against {estimate_text(b, fmt)} {unit}".rstrip()
    return (f"{big} is larger than {small} by {fmt.format(abs(v.difference.value))} ± "
            f"{fmt.format(Z * v.difference.se)} {unit} ({values})")


def overfitting_sentence(held_out_neg_elbo, se: float, *, held_out: str = "held-out") -> str:
    """Whether the held-out −ELBO has risen from its lowest epoch by the last one (a sign of overfitting).

    Args:
        held_out_neg_elbo: the held-out −ELBO after each epoch.
        se: the standard error of one epoch's held-out mean. The epochs are scored on the same images, so the
            error of a difference between two of them is smaller than this; using it is cautious towards
            "cannot be told apart".
    """
    curve = np.asarray(held_out_neg_elbo, dtype=np.float64)
    if curve.size == 0:
        raise ValueError("no epochs to judge")
    best, last = int(np.argmin(curve)), curve.size - 1
    n = curve.size
    if best == last:
        return (f"the {held_out} −ELBO is lowest after the last of the {n} epoch{'s' if n != 1 else ''}, so this run "
                "shows no overfitting")
    v = compare(Estimate(curve[last], se), Estimate(curve[best], se), names=("the last epoch", f"epoch {best + 1}"),
                quantity=f"{held_out} −ELBO", better="lower", unit="nats",
                difference=Estimate(curve[last] - curve[best], se))
    if v.sign == 0:
        return (f"the {held_out} −ELBO is lowest after epoch {best + 1} of {n}, but {v.sentence}, so this run shows "
                "no overfitting that its N can resolve")
    return f"{v.sentence}: the model has begun to overfit"


def prior_fit_sentence(log_p: dict[str, tuple[np.ndarray, np.ndarray]]) -> str:
    """Whether the codes sit in each prior's typical region: E_q(z)[log p(z)] against E_p(z)[log p(z)].

    If the codes sat where the prior has little mass, their mean log-density would fall below the prior's own
    mean by more than the prior's own spread of log p(z). The sentence compares the gap (± its standard error)
    with one standard deviation of log p(z) under the prior.

    Args:
        log_p: prior name → (log p at aggregate-posterior samples (N,), log p at prior samples (M,)).
    """
    rows = {}
    for name, (at_q, at_p) in log_p.items():
        at_q, at_p = np.asarray(at_q, dtype=np.float64), np.asarray(at_p, dtype=np.float64)
        q, p = Estimate.of_mean(at_q), Estimate.of_mean(at_p)
        rows[name] = (Estimate(q.value - p.value, math.hypot(q.se, p.se)), float(at_p.std(ddof=1)))
    if not rows:
        raise ValueError("no priors to judge")
    within = {k for k, (d, s) in rows.items() if abs(d.value) + Z * d.se < s}
    outside = {k for k, (d, s) in rows.items() if abs(d.value) - Z * d.se > s}

    def show(k):
        d, s = rows[k]
        return f"the {k} prior, {d.value:+.2f} ± {Z * d.se:.2f} nats against a standard deviation of {s:.2f}".replace(
            "-", "−")

    if len(within) == len(rows):
        worst = max(rows, key=lambda k: abs(rows[k][0].value) / rows[k][1])
        return ("for every prior the codes' mean log-density differs from the prior's own by less than one standard "
                f"deviation of log p(z) under the prior (nearest to that limit: {show(worst)}), so in bulk every "
                "prior covers the codes")
    parts = []
    if outside:
        parts.append(f"the codes' mean log-density is more than one standard deviation of log p(z) away from the "
                     f"prior's own for {join_words([show(k) for k in rows if k in outside])}, so those codes sit "
                     "where the prior has little mass")
    unsure = [k for k in rows if k not in within and k not in outside]
    if unsure:
        parts.append(f"for {join_words([show(k) for k in unsure])} the gap cannot be told apart from one standard "
                     "deviation at this N")
    if within:
        parts.append(f"for the {join_words(sorted(within, key=list(rows).index))} prior"
                     f"{'s' if len(within) > 1 else ''} it differs by less than one standard deviation")
    return "; ".join(parts)


@torch.no_grad()
def neighbour_labels(codes, labels, *, k: int = 10, chunk: int = 1000) -> dict:
    """How well a code's nearest neighbours predict its label: a leave-one-out k-nearest-neighbour vote.

    Args:
        codes: (N, D) latent codes (e.g. posterior means); labels: (N,) integer classes.
    Returns:
        dict with accuracy (an `Estimate`, binomial), correct, n, chance (the most common class's share: what
        guessing that class for every image scores) and confusions: [(a, b, count)] of unordered pairs of
        classes, most often confused first (a code of one class voted into the other, both directions summed).
    """
    z = torch.as_tensor(np.asarray(codes), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    n = z.shape[0]
    if z.ndim != 2 or y.shape != (n,) or n <= k:
        raise ValueError(f"need (N, D) codes and (N,) labels with N > k={k}, got {tuple(z.shape)} and "
                         f"{tuple(y.shape)}")
    n_classes = int(y.max()) + 1
    votes = []
    for start in range(0, n, chunk):
        d = torch.cdist(z[start:start + chunk], z)  # (B, N)
        d[torch.arange(d.shape[0]), torch.arange(start, start + d.shape[0])] = math.inf  # leave the point out
        idx = d.topk(k, largest=False).indices  # (B, k)
        counts = torch.nn.functional.one_hot(y[idx], n_classes).sum(1)  # (B, C)
        votes.append(counts.argmax(1))  # ties go to the smaller class index
    predicted = torch.cat(votes)
    correct = int((predicted == y).sum())
    confusion = torch.zeros(n_classes, n_classes, dtype=torch.long)
    confusion.index_put_((y, predicted), torch.ones(n, dtype=torch.long), accumulate=True)
    sym = confusion + confusion.T
    pairs = [(a, b, int(sym[a, b])) for a in range(n_classes) for b in range(a + 1, n_classes) if sym[a, b] > 0]
    pairs.sort(key=lambda t: (-t[2], t[0], t[1]))
    chance = float(torch.bincount(y, minlength=n_classes).max()) / n
    return {"accuracy": binomial_estimate(correct, n), "correct": correct, "n": n, "chance": chance,
            "confusions": pairs, "k": k}


def cluster_sentence(neighbours: dict, *, top: int = 3) -> str:
    """Whether the codes cluster by label (the neighbours' vote against guessing the most common class), and the
    pairs of classes the neighbours confuse most often."""
    k = neighbours["k"]
    v = compare(neighbours["accuracy"], neighbours["chance"],
                names=(f"the vote of a code's {k} nearest neighbours", "guessing the most common digit"),
                quantity="accuracy", better="higher", fmt="{:.3f}")
    pairs = neighbours["confusions"][:top]
    if not pairs:
        return f"{v.sentence}; the neighbours confuse no two digits"
    shown = join_words([f"{a} and {b} ({c} images)" for a, b, c in pairs])
    return f"{v.sentence}; the digits the neighbours confuse most often are {shown}"
