import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from probgen import vae  # noqa: E402

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


def test_interpolations_start_and_end_at_the_endpoints():
    model = tiny_vae("gaussian")
    x = binary_images(2)
    pix = vae.interpolate_pixels(x[0], x[1], 6)
    assert pix.shape == (6, 28, 28)
    torch.testing.assert_close(pix[0], x[0, 0])
    torch.testing.assert_close(pix[-1], x[1, 0])
    lat = vae.interpolate_latent(model, x[0], x[1], 6)
    assert lat.shape == (6, 28, 28)
    torch.testing.assert_close(lat[0], model.reconstruct(x[:1]).detach()[0, 0])
    torch.testing.assert_close(lat[-1], model.reconstruct(x[1:]).detach()[0, 0])


def test_image_grid_places_images_row_by_row():
    images = torch.arange(5.0).reshape(5, 1, 1, 1).expand(5, 1, 3, 3)
    grid = vae.image_grid(images, nrow=2, padding=1, pad_value=-1.0)
    assert grid.shape == (3 * 4 + 1, 2 * 4 + 1)
    assert grid[1, 1] == 0 and grid[1, 5] == 1 and grid[5, 1] == 2 and grid[9, 1] == 4 and grid[9, 5] == -1
    with pytest.raises(ValueError, match="flatten"):
        vae.image_grid(torch.zeros(2, 3, 4, 4))
