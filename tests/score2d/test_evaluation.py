import math

import numpy as np
import pytest
import torch

from probgen.metrics import frechet_distance, gaussian_stats
from probgen.score2d import evaluation
from probgen.stats import Difference, Estimate, binomial_estimate

from ..tolerances import rounding_tol


def test_proportion_estimate_is_the_book_s_binomial_estimate_and_refuses_bad_input():
    assert evaluation.proportion_estimate(0.3, 400) == binomial_estimate(120, 400)
    assert evaluation.proportion_estimate(1.0, 10).se > 0  # a perfect score on few trials is not certain
    with pytest.raises(ValueError, match="n=0"):
        evaluation.proportion_estimate(0.5, 0)
    with pytest.raises(ValueError, match="proportion"):
        evaluation.proportion_estimate(1.5, 10)
    with pytest.raises(ValueError, match="whole number"):
        evaluation.proportion_estimate(0.3333, 10)


def test_the_difference_of_two_proportions_covers_the_true_difference_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    n, p_a, p_b, trials = 400, 0.3, 0.35, 2000
    k_a, k_b = rng.binomial(n, p_a, trials), rng.binomial(n, p_b, trials)
    covered = []
    for a, b in zip(k_a, k_b):
        d = Difference(evaluation.proportion_estimate(a / n, n), evaluation.proportion_estimate(b / n, n))
        covered.append(abs(d.value - (p_a - p_b)) <= 1.96 * d.se)
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


def test_fid_bootstrap_reports_the_replicates_spread_as_its_standard_error():
    out = evaluation.fid_bootstrap(np.random.default_rng(0).standard_normal((50, 3)), (np.zeros(3), np.eye(3)),
                                   n_boot=20, generator=np.random.default_rng(1))
    assert out["se"] == np.std(out["replicates"], ddof=1)
    assert evaluation.fid_estimate(out) == Estimate(out["fid"], out["se"])
    # the FID of all samples, without resamples, is the bootstrap's own estimate
    features = np.random.default_rng(0).standard_normal((50, 3))
    assert evaluation.fid_of_samples(features, (np.zeros(3), np.eye(3))) == out["fid"]


def test_fid_bootstrap_restores_the_thread_count():
    before = torch.get_num_threads()
    evaluation.fid_bootstrap(np.random.default_rng(0).standard_normal((20, 3)), (np.zeros(3), np.eye(3)), n_boot=3,
                             generator=np.random.default_rng(0))
    assert torch.get_num_threads() == before
