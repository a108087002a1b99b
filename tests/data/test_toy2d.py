import math

import pytest
import torch
from scipy import stats

from probgen.data import toy2d
from probgen.runtime import ConfigError

LEVELS = (0.0, 0.5, 1.0)
CASES = [(f, d) for f in toy2d.FAMILIES for d in LEVELS]
SMOOTH = [(f, d) for f, d in CASES if f != "squares"]


def _grid(toy, cells_per_bin: int = 1, n_bins: int | None = None, oversample: float = 1.5):
    """Midpoint grid on [−L, L]² with step h ≤ length_scale / oversample: ((M, 2) points, h, cells per axis).

    For the smooth (Gaussian-blurred) families the midpoint rule with h ≤ σ has an error of order
    exp(−2π²σ²/h²) < 1e-8 (Poisson summation), so a fine enough grid is exact to test precision even at
    d = 1: the thinnest set (circle, σ = 0.0035) needs ~800² points.
    """
    lim = toy.bound
    n = math.ceil(2 * lim * oversample / toy.length_scale)
    if n_bins is not None:
        n = n_bins * math.ceil(n / n_bins)
    h = 2 * lim / n
    axis = -lim + h * (torch.arange(n, dtype=torch.float64) + 0.5)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1), h, n


@pytest.mark.parametrize("family,d", SMOOTH)
def test_smooth_log_prob_integrates_to_one(family, d):
    toy = toy2d.make_toy(family, d)
    pts, h, _ = _grid(toy)
    mass = float(torch.exp(toy.log_prob(pts)).sum() * h * h)
    assert mass == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("d", LEVELS)
def test_squares_density_integrates_to_one(d):
    # The density jumps at the edges, where a midpoint grid errs by ~h/side; a global grid fine enough for
    # 1e-2 at d = 1 would need ~10^7 points. So: a grid aligned with each square's edges (exact for a
    # piecewise-constant density) around each square plus a margin, and −inf everywhere off the squares.
    toy = toy2d.checkerboard(d)
    per, margin = 40, 10
    h = toy.side / per
    off = h * (torch.arange(-margin, per + margin, dtype=torch.float64) + 0.5)
    total = 0.0
    for k, lo in enumerate(toy.corners):
        yy, xx = torch.meshgrid(lo[1] + off, lo[0] + off, indexing="ij")
        pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
        mine = toy.assign(pts) == k  # at d = 0 the margin reaches the neighbouring squares' corners
        assert int(mine.sum()) == per * per
        total += float(torch.exp(toy.log_prob(pts[mine])).sum() * h * h)
    assert total == pytest.approx(1.0, abs=1e-9)
    axis = torch.linspace(-1.1 * toy.bound, 1.1 * toy.bound, 101, dtype=torch.float64)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
    lp = toy.log_prob(pts)
    outside = toy.assign(pts) < 0
    assert outside.any() and torch.isneginf(lp[outside]).all() and torch.isfinite(lp[~outside]).all()


def test_circle_density_is_radial_and_finite_at_origin():
    toy = toy2d.noisy_circle(0.0)
    # Radial integral ∫ p(r) 2πr dr on a fine 1-D grid: the exact density of the blurred circle.
    r = torch.linspace(0, toy.bound, 200_001, dtype=torch.float64)
    p = torch.exp(toy.log_prob(torch.stack([r, torch.zeros_like(r)], 1)))
    assert float(torch.trapezoid(p * 2 * math.pi * r, r)) == pytest.approx(1.0, abs=1e-8)
    angle = torch.rand(50, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 * math.pi
    rr = torch.full((50,), 0.7, dtype=torch.float64)
    lp = toy.log_prob(torch.stack([rr * torch.cos(angle), rr * torch.sin(angle)], 1))
    assert torch.allclose(lp, lp[0].expand(50), atol=1e-12)
    origin = toy.log_prob(torch.zeros(1, 2))
    expected = -math.log(2 * math.pi * toy.std ** 2) - toy.radius ** 2 / (2 * toy.std ** 2)  # I0(0) = 1
    assert float(origin) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("family,d", SMOOTH)
def test_smooth_sample_histogram_matches_density(family, d):
    toy = toy2d.make_toy(family, d)
    n_bins = 12
    pts, h, n = _grid(toy, n_bins=n_bins)
    m = n // n_bins
    fine = (torch.exp(toy.log_prob(pts)) * h * h).reshape(n_bins, m, n_bins, m).sum((1, 3)).reshape(-1)
    x = toy.sample(20_000, generator=torch.Generator().manual_seed(1))
    lim = toy.bound
    ix = ((x + lim) / (2 * lim) * n_bins).floor().long().clamp(0, n_bins - 1)
    counts = torch.bincount(ix[:, 1] * n_bins + ix[:, 0], minlength=n_bins * n_bins).double()
    _chi_square_ok(counts, fine * x.shape[0])
    # Mean log-density of samples against the grid's entropy integral −∫ p log p.
    lp_grid = toy.log_prob(pts)
    entropy = -float((torch.exp(lp_grid) * lp_grid).sum() * h * h)
    nll = toy2d.mean_nll(toy, x)
    assert abs(nll["nll"] - entropy) < 5 * nll["nll_sem"]


@pytest.mark.parametrize("d", LEVELS)
def test_squares_sample_histogram_matches_density(d):
    toy = toy2d.checkerboard(d)
    n_bins, lim = 12, toy.bound
    edges = torch.linspace(-lim, lim, n_bins + 1, dtype=torch.float64)
    lo, hi = edges[:-1], edges[1:]

    def overlap(a, b):  # (n_bins, K) length of [lo, hi) ∩ [a, b)
        return (torch.minimum(hi[:, None], b) - torch.maximum(lo[:, None], a)).clamp(min=0)

    a, b = toy.corners, toy.corners + toy.side
    ox, oy = overlap(a[:, 0], b[:, 0]), overlap(a[:, 1], b[:, 1])
    mass = torch.einsum("xk,yk,k->yx", ox, oy, toy.mode_weights / toy.side ** 2).reshape(-1)  # exact bin masses
    x = toy.sample(20_000, generator=torch.Generator().manual_seed(2))
    ix = ((x + lim) / (2 * lim) * n_bins).floor().long().clamp(0, n_bins - 1)
    counts = torch.bincount(ix[:, 1] * n_bins + ix[:, 0], minlength=n_bins * n_bins).double()
    _chi_square_ok(counts, mass * x.shape[0])
    entropy = -float((toy.mode_weights * (toy.mode_weights / toy.side ** 2).log()).sum())
    assert toy2d.mean_nll(toy, x)["nll"] == pytest.approx(entropy, abs=1e-12)  # constant density per square


def _chi_square_ok(counts, expected):
    """Pearson χ² over bins expecting ≥ 5 samples (the rest pooled); fail only below p = 1e-4."""
    assert float(expected.sum()) == pytest.approx(float(counts.sum()), rel=1e-6)
    big = expected >= 5
    obs = torch.cat([counts[big], counts[~big].sum().reshape(1)])
    exp = torch.cat([expected[big], expected[~big].sum().reshape(1)])
    keep = exp > 0
    assert float(obs[~keep].sum()) == 0, "samples fell where the density has no mass"
    chi2 = float(((obs[keep] - exp[keep]) ** 2 / exp[keep]).sum())
    assert stats.chi2.sf(chi2, int(keep.sum()) - 1) > 1e-4, chi2


@pytest.mark.parametrize("family,d", CASES)
def test_weights_shapes_and_description(family, d):
    toy = toy2d.make_toy(family, d)
    w = toy.mode_weights
    assert w.shape == (toy.n_modes,) and w.dtype == torch.float64
    assert float(w.sum()) == pytest.approx(1.0, abs=1e-12) and (w > 0).all()
    x, labels = toy.sample_labelled(7, generator=torch.Generator().manual_seed(0))
    assert x.shape == (7, 2) and x.dtype == torch.float64 and labels.dtype == torch.long
    assert toy.log_prob(x).shape == (7,) and toy.assign(x).shape == (7,) and toy.assign(x).dtype == torch.long
    assert toy.sample(0).shape == (0, 2)
    assert toy.name in toy.describe() and family == toy.name
    assert toy.difficulty == d


def test_imbalance_and_width_follow_the_documented_maps():
    assert float(toy2d.imbalanced_ring(0).mode_weights.min()) == pytest.approx(1 / 8)
    assert float(toy2d.imbalanced_ring(1).mode_weights.min()) == pytest.approx(1e-3, rel=1e-9)
    ring0, ring1 = toy2d.ring_mixture(0), toy2d.ring_mixture(1)
    spacing = lambda t: float((t.centres[0] - t.centres[1]).norm())  # noqa: E731
    assert ring0.std / spacing(ring0) == pytest.approx(0.5) and ring1.std / spacing(ring1) == pytest.approx(0.01)
    for family in toy2d.FAMILIES:
        for d in LEVELS:
            toy = toy2d.make_toy(family, d)
            if family != "imbalanced":  # unit per-coordinate variance (the imbalanced ring keeps its geometry)
                x = toy.sample(40_000, generator=torch.Generator().manual_seed(3))
                assert float(x.var(0).mean()) == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize("family,d,rate", [
    ("ring", 0.5, 0.99), ("ring", 1.0, 0.99), ("imbalanced", 0.0, 0.99), ("imbalanced", 1.0, 0.99),
    ("circle", 1.0, 0.99), ("circle", 0.5, 0.95), ("squares", 0.0, 1.0), ("squares", 1.0, 1.0),
])
def test_assign_recovers_generating_mode_when_separated(family, d, rate):
    toy = toy2d.make_toy(family, d)
    x, labels = toy.sample_labelled(5000, generator=torch.Generator().manual_seed(4))
    assert float((toy.assign(x) == labels).double().mean()) >= rate


def test_assign_far_and_nonfinite_points():
    toy = toy2d.ring_mixture(1.0)
    far = torch.tensor([[0.0, 0.0], [10.0, 10.0], [float("nan"), 0.0], [float("inf"), 1.0]])
    assert toy.assign(far).tolist() == [-1, -1, -1, -1]
    assert toy.assign(toy.centres).tolist() == list(range(8))
    assert toy2d.noisy_circle(1).assign(torch.zeros(1, 2)).tolist() == [-1]
    assert toy2d.checkerboard(1).assign(torch.tensor([[5.0, 5.0]])).tolist() == [-1]


@pytest.mark.parametrize("bad", [-0.1, 1.1, float("nan"), float("inf"), "0.5", None, True])
@pytest.mark.parametrize("family", list(toy2d.FAMILIES))
def test_bad_difficulty_is_refused(family, bad):
    with pytest.raises(ConfigError, match=r"difficulty d=.*\[0, 1\]"):
        toy2d.make_toy(family, bad)


def test_other_bad_parameters():
    with pytest.raises(ConfigError, match="unknown toy family"):
        toy2d.make_toy("moons", 0.5)
    with pytest.raises(ConfigError, match="n_modes"):
        toy2d.ring_mixture(0.5, n_modes=1)
    with pytest.raises(ConfigError, match="min_weight"):
        toy2d.imbalanced_ring(0.5, min_weight=0.5)
    with pytest.raises(ConfigError, match="n="):
        toy2d.ring_mixture(0.5).sample(-1)
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        toy2d.ring_mixture(0.5).log_prob(torch.zeros(3, 3))


@pytest.mark.parametrize("family", list(toy2d.FAMILIES))
def test_sampling_is_reproducible(family):
    toy = toy2d.make_toy(family, 0.5)
    a = toy.sample(100, generator=torch.Generator().manual_seed(5))
    b = toy.sample(100, generator=torch.Generator().manual_seed(5))
    c = toy.sample(100, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert [t.describe() for t in toy2d.sweep(family, [0, 1])] == [toy2d.make_toy(family, d).describe() for d in (0, 1)]


def test_metrics_on_true_and_broken_samples():
    toy = toy2d.imbalanced_ring(1.0)
    g = torch.Generator().manual_seed(7)
    x, labels = toy.sample_labelled(20_000, generator=g)
    assert toy2d.mode_coverage(toy, x) == 1.0
    assert toy2d.mode_mass_error(toy, x) < 0.02
    # Drop the rarest mode (the classic failure) and add some points between modes.
    dropped = x[labels != toy.n_modes - 1]
    assert toy2d.mode_coverage(toy, dropped) == pytest.approx(7 / 8)
    masses, none = toy2d.empirical_mode_masses(toy, dropped)
    assert float(masses[-1]) == 0.0 and float(masses.sum()) + none == pytest.approx(1.0)
    between = torch.zeros(2000, 2, dtype=torch.float64)
    err = toy2d.mode_mass_error(toy, torch.cat([x, between]))
    assert err == pytest.approx(2000 / 22_000, abs=0.02)
    row = toy2d.sample_metrics(toy, dropped, n_reference=1000, generator=g, max_pairs=1000)
    assert row["mode_coverage"] == pytest.approx(7 / 8) and row["min_mode_mass_ratio"] == 0.0
    with pytest.raises(ConfigError, match="min_fraction"):
        toy2d.mode_coverage(toy, x, min_fraction=0.0)


def test_mean_nll_reports_off_support_separately():
    toy = toy2d.checkerboard(1.0)
    x = toy.sample(1000, generator=torch.Generator().manual_seed(8))
    bad = torch.tensor([[5.0, 5.0], [float("nan"), 0.0]], dtype=torch.float64)
    good = toy2d.mean_nll(toy, x)
    mixed = toy2d.mean_nll(toy, torch.cat([x, bad]))
    assert math.isfinite(mixed["nll"]) and mixed["nll"] == pytest.approx(good["nll"])
    assert mixed["off_support"] == pytest.approx(2 / 1002) and mixed["n"] == 1002
    assert good["off_support"] == 0.0
    row = toy2d.sample_metrics(toy, torch.cat([x, bad]), n_reference=500, generator=torch.Generator().manual_seed(9))
    assert row["n_nonfinite"] == 1 and math.isfinite(row["energy_distance"]) and math.isfinite(row["mmd_rbf"])
