"""The VAE chapters' verdict sentences: estimates against closed forms, and sentences that flip with the numbers."""

import math

import numpy as np
import pytest

from probgen.stats import Estimate
from probgen.vae import verdicts

E = Estimate


# ----- estimates -----------------------------------------------------------------------------------------------


def test_paired_difference_is_the_mean_and_standard_error_of_the_differences():
    a = np.array([1.0, 2.0, 4.0, 7.0])
    b = np.array([0.0, 1.5, 3.0, 6.5])
    d = verdicts.paired_difference(a, b)
    # differences 1, 0.5, 1, 0.5: mean 0.75, sample std sqrt(1/12), standard error sqrt(1/12) / 2
    assert d.value == pytest.approx(0.75) and d.se == pytest.approx(math.sqrt(1 / 12) / 2)
    with pytest.raises(ValueError, match="same items"):
        verdicts.paired_difference(a, b[:3])


def test_pairing_removes_the_spread_both_models_share():
    rng = np.random.default_rng(0)
    hardness = rng.normal(0, 30, 2000)  # per-image difficulty, common to both models
    a, b = hardness + 0.5 + rng.normal(0, 1, 2000), hardness + rng.normal(0, 1, 2000)
    d = verdicts.paired_difference(a, b)
    assert d.se == pytest.approx(math.sqrt(2 / 2000), rel=0.1)  # not 30 / sqrt(2000)
    assert abs(d.value - 0.5) < 4 * d.se


def test_seed_mean_combines_the_spread_over_seeds_with_the_test_set_error():
    # two runs on three images: run means 2 and 4 (std sqrt(2), /sqrt(2) -> 1); run-averaged images 2, 3, 4
    # (std 1, /sqrt(3))
    x = np.array([[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]])
    e = verdicts.seed_mean(x)
    assert e.value == pytest.approx(3.0) and e.se == pytest.approx(math.hypot(1.0, 1 / math.sqrt(3)))
    one = verdicts.seed_mean(x[0])  # one run: the test-set error only
    assert one.value == pytest.approx(2.0) and one.se == pytest.approx(1 / math.sqrt(3))
    with pytest.raises(ValueError, match="N ≥ 2"):
        verdicts.seed_mean([[1.0], [2.0]])


def test_seed_difference_is_welch_over_seeds_combined_with_the_paired_test_set_error():
    a = np.array([[1.0, 2.0, 3.0], [2.0, 3.0, 4.0], [3.0, 4.0, 5.0]])  # run means 2, 3, 4: var 1, n 3
    b = np.array([[0.0, 1.0, 3.0], [0.5, 1.5, 3.5]])  # run means 4/3, 11/6: var 1/8, n 2
    d = verdicts.seed_difference(a, b)
    welch = math.sqrt(1 / 3 + (1 / 8) / 2)
    paired = verdicts.paired_difference(a.mean(0), b.mean(0)).se  # image differences of the run averages
    assert d.value == pytest.approx(3.0 - 19 / 12) and d.se == pytest.approx(math.hypot(welch, paired))
    with pytest.raises(ValueError, match="same images"):
        verdicts.seed_difference(a, b[:, :2])


# ----- sentences that flip -------------------------------------------------------------------------------------


def test_the_target_verdict_flips_with_the_held_out_elbo():
    below = verdicts.target_sentence(E(100.0, 0.3), 104.0)
    above = verdicts.target_sentence(E(108.0, 0.3), 104.0)
    tie = verdicts.target_sentence(E(103.9, 0.3), 104.0)
    assert below.startswith("this run is better than the reference target in held-out −ELBO by 4.00 ± 0.59 nats")
    assert above.startswith("the reference target is better than this run in held-out −ELBO by 4.00")
    assert tie.startswith("this run and the reference target cannot be told apart in held-out −ELBO at this N")
    short = verdicts.target_sentence(E(150.0, 0.3), 104.0, epochs=2, target_epochs=20)
    assert short.endswith("; this profile trains 2 epochs, not the 20 the target is for")
    assert "this profile trains" not in verdicts.target_sentence(E(100.0, 0.3), 104.0, epochs=20, target_epochs=20)


def test_the_paired_verdict_flips_and_ties():
    rng = np.random.default_rng(3)
    base = rng.normal(-100, 20, 4000)
    noise = rng.normal(0, 1, 4000)
    names = ("the 20-dimensional VAE", "the 2-dimensional VAE")
    up = verdicts.paired_verdict(base + 5 + noise, base, names=names)
    down = verdicts.paired_verdict(base - 5 + noise, base, names=names)
    assert up.startswith("the 20-dimensional VAE is better than the 2-dimensional VAE in test ELBO by ")
    assert down.startswith("the 2-dimensional VAE is better than the 20-dimensional VAE in test ELBO by ")
    # the ± is the paired error (noise 1 over 4000 images), not the per-image spread of 20 both share
    assert "± 0.03 nats" in up and "± 0.03 nats" in down
    assert verdicts.paired_verdict(base + noise, base, names=names).startswith(
        "the 20-dimensional VAE and the 2-dimensional VAE cannot be told apart in test ELBO at this N")


def test_rank_paired_names_the_best_and_what_it_is_told_apart_from():
    est = {"flow": E(-84.6, 0.1), "Gaussian": E(-87.6, 0.3), "mixture": E(-84.5, 0.2)}

    def paired(values):  # a paired difference: much smaller error than the independent √(se_a² + se_b²)
        return lambda a, b: E(values[a].value - values[b].value, 0.04)

    best, text = verdicts.rank_paired(est, paired(est), quantity="test ELBO")
    assert best == "mixture"
    assert text == ("mixture has the best test ELBO (-84.50 ± 0.39 nats): better than flow by 0.10 ± 0.08 nats "
                    "and better than Gaussian by 3.10 ± 0.08 nats")
    # the independent errors would not tell mixture from flow
    assert "not told apart from flow" in verdicts.rank_paired(
        est, lambda a, b: E(est[a].value - est[b].value, math.hypot(est[a].se, est[b].se)), quantity="test ELBO")[1]
    swapped = {"flow": E(-84.5, 0.1), "Gaussian": E(-87.6, 0.3), "mixture": E(-84.6, 0.2)}
    best, text = verdicts.rank_paired(swapped, paired(swapped), quantity="test ELBO")
    assert best == "flow" and text.startswith("flow has the best test ELBO (-84.50 ± 0.20 nats): better than mixture")
    best, text = verdicts.rank_paired(est, lambda a, b: E(0.0, 5.0), quantity="test ELBO")
    assert text.startswith("mixture, flow and Gaussian cannot be told apart in test ELBO at this N; mixture has")
    with pytest.raises(ValueError, match="at least two"):
        verdicts.rank_paired({"A": E(1.0)}, lambda a, b: E(0.0), quantity="q")


def test_the_target_of_a_profile_flips_per_prior_and_smoke_has_none():
    good = {"Gaussian": E(-87.6, 0.4), "flow": E(-84.6, 0.2)}
    assert verdicts.targets_sentence(good, -97.0, profile="quick") == (
        "this run is better than the quick profile's target of -97 nats in mean test ELBO at every prior")
    bad = {"Gaussian": E(-99.0, 0.4), "flow": E(-98.0, 0.2)}
    assert verdicts.targets_sentence(bad, -97.0, profile="full").startswith(
        "the full profile's target of -97 nats is better than this run in mean test ELBO at every prior")
    mixed = {"Gaussian": E(-97.1, 0.4), "flow": E(-84.6, 0.2), "mixture": E(-85.0, 0.2)}
    assert verdicts.targets_sentence(mixed, -97.0, profile="quick").endswith(
        "at every prior except Gaussian, where they cannot be told apart")
    assert verdicts.targets_sentence(good, None, profile="smoke") == (
        "the smoke profile sets no target (it only checks that the code runs)")


def test_the_published_references_flip():
    refs = {"Gaussian": E(-88.8, 0.31), "flow": E(-88.1, 0.18)}
    ours_better = verdicts.references_sentence({"Gaussian": E(-87.0, 0.3), "flow": E(-84.6, 0.2)}, refs,
                                               reference_name="the coursework")
    ours_worse = verdicts.references_sentence({"Gaussian": E(-95.0, 0.3), "flow": E(-94.6, 0.2)}, refs,
                                              reference_name="the coursework")
    assert ours_better == "this run is better than the coursework in mean test ELBO at every prior"
    assert ours_worse == "the coursework is better than this run in mean test ELBO at every prior"
    vamp_only = verdicts.references_sentence({"VampPrior": E(-87.0, 0.3)}, refs, reference_name="the coursework")
    assert vamp_only == "no prior of this run has a value in the coursework"


def test_change_and_split_sentences_follow_the_terms():
    assert verdicts.change_sentence(E(-2.7, 0.3), quantity="the mean KL") == (
        "the mean KL changes by −2.70 ± 0.59 nats")
    assert verdicts.change_sentence(E(0.2, 0.3), quantity="the mean KL") == (
        "the mean KL does not change beyond its noise (+0.20 ± 0.59 nats)")
    names = ("flow prior", "standard Gaussian prior")
    rec = verdicts.split_sentence(E(-2.7, 0.3), E(-0.3, 0.3), names=names)
    assert rec.startswith("From the standard Gaussian prior to the flow prior, the mean reconstruction error changes")
    assert rec.endswith(": the flow prior gains in the reconstruction term")
    kl = verdicts.split_sentence(E(0.1, 0.3), E(-2.0, 0.3), names=names)
    assert kl.endswith(": the flow prior gains in the KL term")
    trade = verdicts.split_sentence(E(-3.0, 0.3), E(2.0, 0.3), names=names)
    assert trade.endswith(": the flow prior gains in the reconstruction term and loses in the KL term")
    worse = verdicts.split_sentence(E(3.0, 0.3), E(2.0, 0.3), names=names)
    assert worse.endswith(": the flow prior loses in the reconstruction and KL terms")
    assert verdicts.split_sentence(E(0.1, 0.3), E(0.1, 0.3), names=names).endswith(
        "neither term moves beyond its noise at this N")


def test_larger_sentence_flips():
    names = ("the smallest IWAE gap", "the largest difference between priors")
    assert verdicts.larger_sentence(E(5.3, 0.1), E(3.0, 0.2), names=names).startswith(
        "the smallest IWAE gap is larger than the largest difference between priors by 2.30 ± ")
    assert verdicts.larger_sentence(E(1.0, 0.1), E(3.0, 0.2), names=names).startswith(
        "the largest difference between priors is larger than the smallest IWAE gap by 2.00 ± ")
    assert verdicts.larger_sentence(E(3.1, 0.1), E(3.0, 0.2), names=names).startswith(
        "the smallest IWAE gap and the largest difference between priors cannot be told apart")


def test_overfitting_sentence_follows_the_held_out_curve():
    falling = [120.0, 110.0, 105.0, 104.0]
    assert verdicts.overfitting_sentence(falling, 0.3) == (
        "the held-out −ELBO is lowest after the last of the 4 epochs, so this run shows no overfitting")
    rising = [120.0, 104.0, 106.0, 109.0]
    assert verdicts.overfitting_sentence(rising, 0.3).endswith(": the model has begun to overfit")
    assert verdicts.overfitting_sentence(rising, 0.3).startswith("epoch 2 is better than the last epoch")
    flat = [120.0, 104.0, 104.1]
    text = verdicts.overfitting_sentence(flat, 0.3)
    assert text.startswith("the held-out −ELBO is lowest after epoch 2 of 3, but the last epoch and epoch 2 cannot")
    assert text.endswith("no overfitting that its N can resolve")


def test_prior_fit_sentence_tells_covered_codes_from_codes_off_the_prior():
    rng = np.random.default_rng(0)
    at_p = rng.normal(-45.0, 4.0, 20_000)  # log p(z) under the prior: std 4
    covered = {"standard Gaussian": (rng.normal(-45.3, 4.0, 10_000), at_p),
               "flow": (rng.normal(-44.9, 4.0, 10_000), at_p)}
    text = verdicts.prior_fit_sentence(covered)
    assert text.startswith("for every prior the codes' mean log-density differs from the prior's own by less than one")
    assert text.endswith("so in bulk every prior covers the codes")
    off = {"standard Gaussian": (rng.normal(-60.0, 4.0, 10_000), at_p), "flow": covered["flow"]}
    text = verdicts.prior_fit_sentence(off)
    assert text.startswith("the codes' mean log-density is more than one standard deviation of log p(z) away from the "
                           "prior's own for the standard Gaussian prior, −15.")
    assert "for the flow prior it differs by less than one standard deviation" in text
    edge = {"flow": (rng.normal(-49.0, 4.0, 30), at_p)}  # a gap of about 4 with a wide error: undecided
    assert "cannot be told apart from one standard deviation at this N" in verdicts.prior_fit_sentence(edge)


def test_neighbour_labels_on_separated_and_on_mixed_clusters():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(4), 50)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    separated = centres[labels] + rng.normal(0, 0.5, (200, 2))
    out = verdicts.neighbour_labels(separated, labels, k=5)
    assert out["correct"] == 200 and out["chance"] == 0.25 and out["confusions"] == []
    text = verdicts.cluster_sentence(out)
    assert text.startswith("the vote of a code's 5 nearest neighbours is better than guessing the most common digit")
    assert text.endswith("the neighbours confuse no two digits")
    # classes 0 and 1 share one cluster: the neighbours confuse them, and only them
    merged = centres[np.where(labels == 1, 0, labels)] + rng.normal(0, 0.5, (200, 2))
    out = verdicts.neighbour_labels(merged, labels, k=5)
    assert out["confusions"][0][:2] == (0, 1) and all(p[:2] == (0, 1) for p in out["confusions"])
    assert 100 <= out["correct"] < 200
    assert "most often are 0 and 1 (" in verdicts.cluster_sentence(out)
    # no structure: the vote is no better than guessing one class
    noise = rng.normal(0, 1, (200, 2))
    text = verdicts.cluster_sentence(verdicts.neighbour_labels(noise, labels, k=5))
    assert text.startswith("the vote of a code's 5 nearest neighbours and guessing the most common digit "
                           "cannot be told apart") or text.startswith("guessing the most common digit is better")


def test_single_run_note():
    assert verdicts.single_run_note(3) == ""
    assert "test-set error only" in verdicts.single_run_note(1, "prior")


# ----- the priors chapter's sentences from made-up runs ----------------------------------------------------------


def _fake_runs(offsets: dict[str, float], *, seeds: int = 3, n: int = 2000, kl_shift: dict | None = None,
               seed_spread: float = 0.1):
    """Runs of each prior whose per-image ELBO is a shared image difficulty plus the prior's offset, a seed
    effect and per-image noise; the offset goes into the reconstruction term unless kl_shift moves it to the KL."""
    from probgen.vae.study import Run

    rng = np.random.default_rng(7)
    hardness = rng.normal(-90.0, 25.0, n)
    kl_base = rng.gamma(20.0, 1.0, n)
    runs = []
    for prior, offset in offsets.items():
        for s in range(seeds):
            elbo = hardness + offset + seed_spread * rng.normal() + rng.normal(0, 1.0, n)
            kl = kl_base - (kl_shift or {}).get(prior, 0.0) + rng.normal(0, 0.3, n)
            scores = {"elbo_per_image": elbo, "kl_per_image": kl, "reconstruction_per_image": elbo + kl,
                      "iwae_per_image": elbo[:500] + 5.0, "iwae_gap_per_image": 5.0 + rng.normal(0, 0.5, 500)}
            runs.append(Run(prior, s, None, {}, scores))
    return runs


def test_prior_study_verdicts_flip_with_the_runs():
    from probgen.vae import study

    richer = study.prior_study_verdicts(_fake_runs({"gaussian": 0.0, "mog": 1.5, "flow": 3.0}), target=-97.0,
                                        profile="quick")
    poorer = study.prior_study_verdicts(_fake_runs({"gaussian": 3.0, "mog": 1.5, "flow": 0.0}), target=-97.0,
                                        profile="quick")
    tied = study.prior_study_verdicts(_fake_runs({"gaussian": 0.0, "mog": 0.01, "flow": -0.01}), target=-97.0,
                                      profile="quick")
    G, M, F = "standard Gaussian", "mixture of Gaussians", "flow (RealNVP)"
    assert richer["ranking_32"].startswith(f"the {F} prior has the best mean test ELBO")
    assert len(richer["richer_verdict"].split("; ")) == 2  # one clause per prior other than the Gaussian
    assert richer["richer_verdict"].startswith(f"the {M} prior is better than the {G} prior in mean test ELBO by 1.")
    assert f"; the {F} prior is better than the {G} prior in mean test ELBO by 3." in richer["richer_verdict"]
    assert poorer["ranking_32"].startswith(f"the {G} prior has the best mean test ELBO")
    assert poorer["richer_verdict"].startswith(f"the {G} prior is better than the {M} prior")
    assert tied["ranking_32"].startswith(
        f"the {M} prior, the {G} prior and the {F} prior cannot be told apart in mean test ELBO at this N")
    assert f"the {M} prior and the {G} prior cannot be told apart" in tied["richer_verdict"]
    # the gain of the best other prior goes through the reconstruction term here, through the KL term there
    assert richer["split_verdict"].endswith(f": the {F} prior gains in the reconstruction term")
    # the flow's ELBO gain is all KL: its KL is 3 nats lower, so its reconstruction term equals the Gaussian's
    kl_runs = _fake_runs({"gaussian": 0.0, "mog": 0.0, "flow": 3.0}, kl_shift={"flow": 3.0})
    assert "gains in the KL term" in study.prior_study_verdicts(kl_runs, target=None, profile="smoke")["split_verdict"]
    # the target and the coursework references: above them here, below them with a 20-nat worse model
    assert richer["target_verdict"] == (
        "this run is better than the quick profile's target of -97 nats in mean test ELBO at every prior")
    bad = study.prior_study_verdicts(_fake_runs({"gaussian": -20.0, "mog": -20.0, "flow": -20.0}), target=-97.0,
                                     profile="full")
    assert bad["target_verdict"].startswith("the full profile's target of -97 nats is better than this run")
    assert bad["coursework_verdict"].startswith("the public coursework is better than this run")
    # the IWAE gap (5 nats) against the largest difference between priors: 3 nats, then 10
    assert richer["iwae_verdict"].startswith("the smallest IWAE gap is larger than the largest difference between")
    wide = study.prior_study_verdicts(_fake_runs({"gaussian": 0.0, "mog": 1.0, "flow": 10.0}), target=-97.0,
                                      profile="quick")
    assert wide["iwae_verdict"].startswith("the largest difference between two priors' mean test ELBOs")
    # one run per prior: the ± says it lacks the spread between runs
    single = study.prior_study_verdicts(_fake_runs({"gaussian": 0.0, "mog": 1.5}, seeds=1), target=None,
                                        profile="smoke")
    assert single["richer_verdict"].endswith("not the spread between runs")
    assert single["target_verdict"] == "the smoke profile sets no target (it only checks that the code runs)"


def test_the_spread_over_seeds_can_outweigh_a_difference():
    from probgen.vae import study

    # an offset of 1 nat with seed effects of std 2: the test-set error alone would resolve it, the seeds do not
    noisy = study.prior_study_verdicts(_fake_runs({"gaussian": 0.0, "flow": 1.0}, seed_spread=2.0), target=None,
                                       profile="smoke")
    assert "cannot be told apart" in noisy["richer_verdict"]


def test_ranking_2d_sentence_uses_paired_differences():
    from probgen.vae import study

    runs = [r for r in _fake_runs({"gaussian": 0.0, "mog": 1.5, "flow": 0.02}, seeds=1)]
    text = study.ranking_2d_sentence(runs)
    assert text.startswith("the mixture of Gaussians prior has the best test ELBO")
    assert "better than the standard Gaussian prior by 1." in text
    assert "better than the flow (RealNVP) prior by 1." in text
    assert text.endswith("not the spread between runs")
