import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from probgen import vae  # noqa: E402
from probgen.vae import MixtureOfGaussiansPrior  # noqa: E402

from ..tolerances import rounding_tol  # noqa: E402
from .helpers import binary_images, tiny_vae  # noqa: E402


def test_encode_dataset_and_aggregate_samples():
    # batches of 7 must give what one batch of 25 gives: the same maths, so in float64, where the kernels that other
    # batch shapes may pick round ~1e-16 apart rather than near float32's 1e-7 over the 784-input first layer
    model = tiny_vae("mog", latent_dim=3).double()
    x = binary_images(25).double()
    means, log_vars = vae.encode_dataset(model, x, batch_size=7)
    ref_mean, ref_log_var = model.encode(x)
    torch.testing.assert_close(means, ref_mean.detach())
    torch.testing.assert_close(log_vars, ref_log_var.detach())
    a = vae.aggregate_posterior_samples(model, x, torch.Generator().manual_seed(0), batch_size=7)
    b = vae.aggregate_posterior_samples(model, x, torch.Generator().manual_seed(0))  # other batches: same draws
    assert a.shape == (25, 3) and not torch.allclose(a, means)
    torch.testing.assert_close(a, b)


def test_pca_finds_the_main_axis_and_is_sign_stable():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2000, 4, generator=g) * torch.tensor([0.1, 5.0, 0.2, 1.0]) + 3.0
    pca = vae.PCAProjection().fit(z)
    assert torch.allclose(pca.components_[0].abs(), torch.tensor([0, 1.0, 0, 0], dtype=torch.float64), atol=0.02)
    assert pca.components_[0, 1] > 0 and pca.explained_variance_ratio_[0] > 0.9
    proj = pca.transform(z)
    assert proj.shape == (2000, 2) and abs(proj.mean()) < 1e-9
    np.testing.assert_allclose(vae.PCAProjection().fit(-z).components_.numpy(), pca.components_.numpy(), atol=1e-12)


def test_pca_is_the_identity_for_2d_latents():
    z = torch.randn(50, 2)
    np.testing.assert_allclose(vae.PCAProjection().fit(z).transform(z), z.double().numpy())


def test_plot_prior_vs_aggregate_draws_contours_and_classes():
    fig, ax = plt.subplots()
    rng = np.random.default_rng(0)
    contours = vae.plot_prior_vs_aggregate(ax, rng.normal(size=(3000, 2)), rng.normal(size=(400, 2)),
                                           rng.integers(0, 10, 400), max_points=300)
    assert contours is not None
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [str(d) for d in range(10)]
    assert sum(len(c.get_offsets()) for c in ax.collections if hasattr(c, "get_offsets")
               and c not in getattr(contours, "collections", [contours])) == 300
    plt.close(fig)


def test_manifold_grid_needs_2d_latents():
    grid = vae.manifold_grid(tiny_vae("gaussian", latent_dim=2), n=5)
    assert grid.shape == (5 * 30 + 2, 5 * 30 + 2)
    with pytest.raises(ValueError, match="2-D"):
        vae.manifold_grid(tiny_vae("gaussian", latent_dim=3), n=5)


def test_latent_traversal_moves_one_dimension_at_a_time():
    model = tiny_vae("flow", latent_dim=4)
    z0 = torch.randn(4)
    out = vae.latent_traversal(model, z0, k=(-2, -1, 0, 1, 2), dims=[0, 2])
    assert out.shape == (2, 5, 28, 28)
    centre = model.decode(z0[None]).detach()[0, 0]
    torch.testing.assert_close(out[0, 2], centre)
    torch.testing.assert_close(out[1, 2], centre)
    assert vae.latent_traversal(model, z0[None]).shape == (4, 5, 28, 28)
    assert vae.image_grid(out.flatten(0, 1), nrow=5).shape == (2 * 30 + 2, 5 * 30 + 2)


def test_interpolation_alphas_are_evenly_spaced_from_0_to_1():
    alphas = vae.interpolation_alphas(11)
    assert alphas[0] == 0 and alphas[-1] == 1  # exact endpoints, whatever the rounding in between
    torch.testing.assert_close(alphas, torch.arange(11, dtype=torch.float64) / 10, rtol=0,
                               atol=rounding_tol(torch.float64, 1.0, ops=2))
    with pytest.raises(ValueError, match="n >= 2"):
        vae.interpolation_alphas(1)


def test_interpolations_start_and_end_at_the_endpoints():
    # float64, so "the same decoder on the same code" is compared at float64 rounding
    model = tiny_vae("gaussian").double()
    x = binary_images(2).double()
    pix = vae.interpolate_pixels(x[0], x[1], 11)
    assert pix.shape == (11, 28, 28)
    torch.testing.assert_close(pix[0], x[0, 0])
    torch.testing.assert_close(pix[-1], x[1, 0])
    torch.testing.assert_close(pix[5], 0.5 * (x[0, 0] + x[1, 0]))
    lat = vae.interpolate_latent(model, x[0], x[1], 11)
    assert lat.shape == (11, 28, 28)
    torch.testing.assert_close(lat[0], model.reconstruct(x[:1]).detach()[0, 0])
    torch.testing.assert_close(lat[-1], model.reconstruct(x[1:]).detach()[0, 0])


def test_interpolate_codes_decodes_the_straight_line():
    model = tiny_vae("flow", latent_dim=4).double()
    g = torch.Generator().manual_seed(0)
    z_a, z_b = torch.randn(4, generator=g, dtype=torch.float64), torch.randn(1, 4, generator=g, dtype=torch.float64)
    out = vae.interpolate_codes(model, z_a, z_b, n=11)
    assert out.shape == (11, 28, 28)
    with torch.no_grad():
        expected = model.decode(torch.stack([z_a, z_b[0], 0.7 * z_a + 0.3 * z_b[0]]))[:, 0]
    torch.testing.assert_close(out[0], expected[0])  # alpha = 0
    torch.testing.assert_close(out[-1], expected[1])  # alpha = 1
    torch.testing.assert_close(out[3], expected[2])  # alpha = 0.3
    with pytest.raises(ValueError, match="4 latents"):
        vae.interpolate_codes(model, torch.zeros(3), torch.zeros(3))


def test_interpolation_rows_pair_latent_and_pixel_rows():
    model = tiny_vae("gaussian", latent_dim=3).double()
    x = binary_images(4, seed=2).double()
    z = torch.randn(2, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    rows = vae.interpolation_rows(model, code_pairs=[(z[0], z[1])], image_pairs=[(x[0], x[1]), (x[2], x[3])], n=11)
    assert rows.shape == (6, 11, 28, 28)
    # codes: the pixel row blends the decoded endpoints, so both rows share their ends
    torch.testing.assert_close(rows[1, 0], rows[0, 0])
    torch.testing.assert_close(rows[1, -1], rows[0, -1])
    torch.testing.assert_close(rows[0], vae.interpolate_codes(model, z[0], z[1], 11))
    # images: latent rows decode the posterior means, pixel rows blend the images themselves
    torch.testing.assert_close(rows[4], vae.interpolate_latent(model, x[2], x[3], 11))
    torch.testing.assert_close(rows[5, 0], x[2, 0])
    torch.testing.assert_close(rows[5, -1], x[3, 0])
    with pytest.raises(ValueError, match="at least one pair"):
        vae.interpolation_rows(model)


def test_prior_density_grid_is_indexed_x_then_y():
    prior = MixtureOfGaussiansPrior(2, 2).double()
    with torch.no_grad():
        prior.means.copy_(torch.tensor([[1.0, -2.0], [-1.5, 0.5]]))
    xc, yc, density = vae.prior_density_grid(prior, ((-3.0, 3.0), (-4.0, 2.0)), n=30)
    assert xc.shape == yc.shape == (30,) and density.shape == (30, 30)
    np.testing.assert_allclose(xc[[0, -1]], [-2.9, 2.9])
    np.testing.assert_allclose(yc[[0, -1]], [-3.9, 1.9])
    with torch.no_grad():
        expected = prior.log_prob(torch.tensor([[xc[4], yc[21]]], dtype=torch.float64)).exp().item()
    assert density[4, 21] == pytest.approx(expected, rel=rounding_tol(torch.float64, 10.0, ops=4))
    with pytest.raises(ValueError, match="2-D priors"):
        vae.prior_density_grid(vae.StandardGaussianPrior(3), ((-1, 1), (-1, 1)))
    with pytest.raises(ValueError, match="increasing"):
        vae.prior_density_grid(prior, ((1, -1), (-1, 1)))


def test_highest_density_levels_of_a_standard_gaussian_are_the_closed_form():
    # In 2-D, N(0, I) holds mass p inside the circle r^2 = -2 log(1 - p), where the density is (1 - p) / (2 pi).
    xc, yc, density = vae.prior_density_grid(vae.StandardGaussianPrior(2).double(), ((-7, 7), (-7, 7)), n=700)
    masses = np.array([0.25, 0.5, 0.9, 0.99])
    levels = vae.highest_density_levels(density, (xc[1] - xc[0]) ** 2, masses)
    expected = np.sort((1 - masses) / (2 * np.pi))
    # one grid step of radius: the density's slope r p(r) times h, relative to the level, is at most r h ~ 0.06
    np.testing.assert_allclose(levels, expected, rtol=3.1 * (xc[1] - xc[0]))
    with pytest.raises(ValueError, match="strictly between"):
        vae.highest_density_levels(density, 0.01, [0.5, 1.0])


def test_plot_prior_vs_aggregate_with_an_exact_density():
    prior = vae.StandardGaussianPrior(2)
    limits = ((-3.0, 3.0), (-3.0, 3.0))
    grid = vae.prior_density_grid(prior, limits, n=60)
    fig, ax = plt.subplots()
    rng = np.random.default_rng(0)
    contours = vae.plot_prior_vs_aggregate(ax, None, rng.normal(size=(200, 2)), rng.integers(0, 3, 200),
                                           density_grid=grid, masses=(0.5, 0.9))
    assert len(contours.levels) == 3  # the 90% and 50% regions, then the peak
    assert ax.get_xlim() == pytest.approx(limits[0])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["0", "1", "2"]
    plt.close(fig)


def test_plot_limits_cover_both_sets_with_a_margin():
    a = np.array([[0.0, 0.0], [1.0, 2.0]])
    b = np.array([[-1.0, 4.0]])
    (x0, x1), (y0, y1) = vae.plot_limits(a, b, low=0, high=100, pad=0.5)
    assert (x0, x1, y0, y1) == pytest.approx((-2.0, 2.0, -2.0, 6.0))
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        vae.plot_limits(np.zeros((3, 3)))


def test_image_grid_places_images_row_by_row():
    images = torch.arange(5.0).reshape(5, 1, 1, 1).expand(5, 1, 3, 3)
    grid = vae.image_grid(images, nrow=2, padding=1, pad_value=-1.0)
    assert grid.shape == (3 * 4 + 1, 2 * 4 + 1)
    assert grid[1, 1] == 0 and grid[1, 5] == 1 and grid[5, 1] == 2 and grid[9, 1] == 4 and grid[9, 5] == -1
    with pytest.raises(ValueError, match="flatten"):
        vae.image_grid(torch.zeros(2, 3, 4, 4))


def test_prior_vs_aggregate_2d_draws_the_exact_density_and_measures_the_overlap():
    model = tiny_vae("mog", latent_dim=2)
    x, labels = binary_images(60), np.arange(60) % 10
    fig, ax = plt.subplots()
    stats = vae.prior_vs_aggregate_2d(ax, model, x, labels, generator=torch.Generator().manual_seed(0), n_grid=80,
                                      n_prior=4000, legend=False)
    assert ax.get_legend() is None and ax.get_xlabel() == "$z_1$"
    assert sum(len(c.get_offsets()) for c in ax.collections if hasattr(c, "get_offsets")) >= 60
    # the window covers 99% of the prior samples, so it holds most of the prior's mass, and never more than all
    assert 0.9 < stats["prior_mass_in_window"] < 1 + 1e-3
    with torch.no_grad():
        q_z = vae.aggregate_posterior_samples(model, x, torch.Generator().manual_seed(0))
        expected = model.prior.log_prob(q_z).double().mean().item()
    assert stats["mean_log_prior_at_posterior"] == pytest.approx(expected, rel=rounding_tol(torch.float32, 1, 16))
    plt.close(fig)
    with pytest.raises(ValueError, match="2-D latent"):
        vae.prior_vs_aggregate_2d(ax, tiny_vae("mog", latent_dim=3), x, labels)
