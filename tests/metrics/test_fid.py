import numpy as np
import pytest
import torch
from scipy import linalg

from probgen.metrics import feature_fid, frechet_distance, gaussian_stats


def random_spd(d, rng, jitter=1e-3):
    a = rng.standard_normal((d, d))
    return a @ a.T / d + jitter * np.eye(d)


def closed_form_commuting(mu1, a, mu2, b):
    """Fréchet distance when both covariances share eigenvectors, with eigenvalues a and b."""
    return float(np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))


def test_diagonal_covariances_match_closed_form():
    rng = np.random.default_rng(0)
    d = 16
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    a, b = rng.uniform(0.1, 3, d), rng.uniform(0.1, 3, d)
    expected = closed_form_commuting(mu1, a, mu2, b)
    for method in ("eigh", "sqrtm"):
        got = frechet_distance(mu1, np.diag(a), mu2, np.diag(b), method=method)
        assert got == pytest.approx(expected, rel=1e-10)


def test_commuting_covariances_match_closed_form():
    rng = np.random.default_rng(1)
    d = 12
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    a, b = rng.uniform(0.05, 2, d), rng.uniform(0.05, 2, d)
    mu1, mu2 = rng.standard_normal(d), np.zeros(d)
    got = frechet_distance(mu1, q @ np.diag(a) @ q.T, mu2, q @ np.diag(b) @ q.T)
    assert got == pytest.approx(closed_form_commuting(mu1, a, mu2, b), rel=1e-9)


@pytest.mark.parametrize("method", ["eigh", "sqrtm"])
def test_identical_statistics_give_zero_and_distance_is_symmetric(method):
    rng = np.random.default_rng(2)
    d = 32
    mu, s = rng.standard_normal(d), random_spd(d, rng)
    assert frechet_distance(mu, s, mu, s, method=method) == pytest.approx(0.0, abs=1e-8 * np.trace(s))
    mu2, s2 = rng.standard_normal(d), random_spd(d, rng)
    forward, backward = frechet_distance(mu, s, mu2, s2, method=method), frechet_distance(mu2, s2, mu, s, method=method)
    assert forward > 0 and forward == pytest.approx(backward, rel=1e-10)


@pytest.mark.parametrize("d", [5, 10, 64, 128])
def test_random_spd_matches_scipy_sqrtm(d):
    rng = np.random.default_rng(d)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    s1, s2 = random_spd(d, rng), random_spd(d, rng)
    root = linalg.sqrtm(s1 @ s2)
    reference = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(root).real
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(reference, rel=1e-6)
    assert frechet_distance(mu1, s1, mu2, s2, method="sqrtm") == pytest.approx(reference, rel=1e-6)


def test_singular_covariances_from_few_samples_are_handled():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((20, 128)), rng.standard_normal((30, 128)) + 0.1  # N < d: rank-deficient
    value = feature_fid(a, b)
    assert np.isfinite(value) and value > 0
    assert feature_fid(a, b, method="sqrtm") == pytest.approx(value, rel=1e-4)


def test_gaussian_stats_is_float64_mean_and_unbiased_covariance():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((200, 7)).astype(np.float32)
    mu, sigma = gaussian_stats(torch.from_numpy(x))
    assert mu.dtype == np.float64 and sigma.dtype == np.float64 and mu.shape == (7,) and sigma.shape == (7, 7)
    np.testing.assert_allclose(mu, x.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-10)


def test_fid_of_one_gaussian_is_small_and_grows_as_squared_mean_shift():
    rng = np.random.default_rng(5)
    d, n = 8, 5_000
    cov = random_spd(d, rng, jitter=0.5)
    chol = np.linalg.cholesky(cov)
    a = rng.standard_normal((n, d)) @ chol.T
    b = rng.standard_normal((n, d)) @ chol.T
    base = feature_fid(a, b)
    assert base < 0.05 * np.trace(cov)
    direction = rng.standard_normal(d)
    direction /= np.linalg.norm(direction)
    previous = base
    for size in (0.5, 1.0, 2.0, 4.0):
        shifted = feature_fid(a, b + size * direction)
        assert shifted > previous
        # a shift leaves the covariances alone: the increase is exactly ||δ + Δμ||² - ||Δμ||²
        dmu = b.mean(0) - a.mean(0)
        assert shifted - base == pytest.approx(size**2 + 2 * size * direction @ dmu, rel=1e-6)
        assert shifted - base == pytest.approx(size**2, rel=0.1)
        previous = shifted


def test_bad_inputs_are_refused_with_clear_errors():
    rng = np.random.default_rng(6)
    mu, s = np.zeros(3), random_spd(3, rng)
    with pytest.raises(ValueError, match="different dimensions"):
        frechet_distance(mu, s, np.zeros(4), random_spd(4, rng))
    with pytest.raises(ValueError, match="symmetric"):
        frechet_distance(mu, s + np.triu(np.ones((3, 3)), 1), mu, s)
    with pytest.raises(ValueError, match="positive semi-definite"):
        frechet_distance(mu, -s, mu, s)
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(mu, s * np.nan, mu, s)
    with pytest.raises(ValueError, match="method"):
        frechet_distance(mu, s, mu, s, method="svd")
    with pytest.raises(ValueError, match=r"\(N, d\)"):
        gaussian_stats(np.zeros((1, 3)))
