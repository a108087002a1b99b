import math

import numpy as np
import pytest
import torch

from probgen.metrics import frechet_distance, gaussian_stats
from probgen.score2d import evaluation

from ..tolerances import rounding_tol


def test_binomial_se_closed_form_and_bad_input():
    assert evaluation.binomial_se(0.3, 400) == pytest.approx(math.sqrt(0.3 * 0.7 / 400), rel=rounding_tol(torch.float64, ops=4))
    assert evaluation.binomial_se(1.0, 10) == 0.0
    with pytest.raises(ValueError, match="n=0"):
        evaluation.binomial_se(0.5, 0)
    with pytest.raises(ValueError, match="proportion"):
        evaluation.binomial_se(1.5, 10)


def test_compare_proportions_interval_and_sentences():
    c = evaluation.compare_proportions(0.8, 1000, 0.7, 1000, names=("A", "B"))
    half = evaluation.Z_95 * math.sqrt(0.8 * 0.2 / 1000 + 0.7 * 0.3 / 1000)
    tol = rounding_tol(torch.float64, 1.0, ops=10)
    assert c.difference == pytest.approx(0.1, abs=tol)
    assert (c.low, c.high) == pytest.approx((0.1 - half, 0.1 + half), abs=tol)
    assert c.decided and c.sentence.startswith("A reach a higher class accuracy than B, by 10.0 ± 3.8")
    swapped = evaluation.compare_proportions(0.7, 1000, 0.8, 1000, names=("A", "B"))
    assert swapped.decided and swapped.sentence.startswith("B reach a higher")
    tie = evaluation.compare_proportions(0.71, 100, 0.7, 100, names=("A", "B"))
    assert not tie.decided and "cannot be told apart" in tie.sentence and "N = 100 and 100" in tie.sentence


def test_compare_proportions_perfect_score_on_few_trials_is_not_certain():
    # 5/5 against 4/5: the binomial SE of the perfect score is 0, the "rule of one" keeps the interval honest
    c = evaluation.compare_proportions(1.0, 5, 0.8, 5, names=("A", "B"))
    assert not c.decided


def test_compare_proportions_interval_covers_the_true_difference_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    n, p_a, p_b, trials = 400, 0.3, 0.35, 2000
    k_a, k_b = rng.binomial(n, p_a, trials), rng.binomial(n, p_b, trials)
    covered = [(c.low <= p_a - p_b <= c.high) for c in
               (evaluation.compare_proportions(a / n, n, b / n, n, names=("A", "B")) for a, b in zip(k_a, k_b))]
    # the coverage estimate has standard error √(0.95·0.05/2000) ≈ 0.005: allow four of them
    assert abs(np.mean(covered) - 0.95) < 4 * math.sqrt(0.95 * 0.05 / trials)


def test_fid_bootstrap_of_a_shifted_copy_is_the_squared_shift():
    rng = np.random.default_rng(1)
    real = rng.standard_normal((500, 3)) @ np.array([[1.0, 0.3, 0.0], [0.0, 0.5, 0.2], [0.0, 0.0, 2.0]])
    shift = np.array([0.5, -1.0, 0.25])
    mu, sigma = gaussian_stats(real)
    out = evaluation.fid_bootstrap(real + shift, (mu, sigma), n_boot=50, generator=np.random.default_rng(2))
    # same covariance, means apart by `shift`: FID = |shift|² (eigh square roots of a 3×3 matrix: a few hundred roundings)
    assert out["fid"] == pytest.approx(float(shift @ shift), abs=rounding_tol(torch.float64, float(np.trace(sigma)), ops=1e3))
    assert out["replicates"].shape == (50,) and out["low"] <= out["high"]
    # the interval is the replicates' spread centred on the estimate: its mid-range is the estimate shifted by the
    # replicates' (skewness-sized) asymmetry, and its width that of the replicates' central 95%
    reps = out["replicates"]
    width = np.subtract(*np.quantile(reps, [0.975, 0.025]))
    assert out["high"] - out["low"] == pytest.approx(width, rel=1e-12)
    assert out["low"] == pytest.approx(out["fid"] + np.quantile(reps, 0.025) - reps.mean(), rel=1e-12)
    again = evaluation.fid_bootstrap(real + shift, (mu, sigma), n_boot=50, generator=np.random.default_rng(2))
    np.testing.assert_array_equal(out["replicates"], again["replicates"])  # the generator alone decides the resamples
    one = real[np.random.default_rng(2).integers(0, 500, 500)] + shift  # the first resample, drawn by hand
    # the fast path (the reference's square root computed once) against the book's FID: both sum ~d² products
    # of terms of the size of the traces, a few hundred roundings
    tol = rounding_tol(torch.float64, float(np.trace(sigma) + shift @ shift), ops=1e3)
    assert out["replicates"][0] == pytest.approx(frechet_distance(mu, sigma, *gaussian_stats(one)), abs=tol)
    assert out["fid"] == pytest.approx(frechet_distance(mu, sigma, *gaussian_stats(real + shift)), abs=tol)


def test_fid_bootstrap_matches_the_book_s_fid_in_128_dimensions_with_fewer_samples_than_dimensions():
    rng = np.random.default_rng(4)
    ref = gaussian_stats(rng.standard_normal((300, 128)))
    gen = 0.3 + 1.5 * rng.standard_normal((100, 128))  # N < d: a singular covariance, as at the smoke profile
    out = evaluation.fid_bootstrap(gen, ref, n_boot=3, generator=np.random.default_rng(0))
    expected = frechet_distance(*ref, *gaussian_stats(gen))
    # 28 eigenvalues of R Σ R are zero; each is computed as ± δ with δ ≈ d·eps·(largest eigenvalue, about 10 here),
    # and its square root, √δ, enters the trace: a bound of d·√δ on the difference
    assert out["fid"] == pytest.approx(expected, abs=128 * math.sqrt(rounding_tol(torch.float64, 10.0, ops=128)))


def test_fid_bootstrap_rejects_bad_input():
    ref = (np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="n_boot"):
        evaluation.fid_bootstrap(np.ones((10, 2)), ref, n_boot=1, generator=np.random.default_rng(0))
    with pytest.raises(ValueError, match="features"):
        evaluation.fid_bootstrap(np.ones(10), ref, n_boot=5, generator=np.random.default_rng(0))
    with pytest.raises(ValueError, match="level"):
        evaluation.fid_bootstrap(np.ones((10, 2)), ref, n_boot=5, generator=np.random.default_rng(0), level=1.0)
    with pytest.raises(ValueError, match="reference"):
        evaluation.fid_bootstrap(np.ones((10, 3)), ref, n_boot=5, generator=np.random.default_rng(0))


def test_compare_fid_decides_only_when_the_difference_interval_excludes_zero():
    rng = np.random.default_rng(3)
    a = {"fid": 10.0, "replicates": 10 + rng.standard_normal(200)}
    b = {"fid": 20.0, "replicates": 20 + rng.standard_normal(200)}
    c = evaluation.compare_fid(a, b, names=("A", "B"))
    assert c.decided and c.high < 0 and c.sentence.startswith("A reach a lower FID than B, by 10.0")
    assert evaluation.compare_fid(b, a, names=("B", "A")).sentence.startswith("A reach a lower FID")
    close = {"fid": 10.5, "replicates": 10.5 + rng.standard_normal(200)}
    tie = evaluation.compare_fid(a, close, names=("A", "C"))
    assert not tie.decided and "cannot be told apart" in tie.sentence
    with pytest.raises(ValueError, match="replicates"):
        evaluation.compare_fid(a, {"fid": 1.0, "replicates": np.ones(5)}, names=("A", "D"))


def test_fid_bootstrap_restores_the_thread_count():
    before = torch.get_num_threads()
    evaluation.fid_bootstrap(np.random.default_rng(0).standard_normal((20, 3)), (np.zeros(3), np.eye(3)), n_boot=3,
                             generator=np.random.default_rng(0))
    assert torch.get_num_threads() == before
