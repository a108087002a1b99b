"""The aggregate posterior q(z) = 1/N sum_n q(z|x_n) against the prior, and pictures of a latent space."""

from __future__ import annotations

import numpy as np
import torch

from ..runtime import param_like
from .model import VAE


@torch.no_grad()
def encode_dataset(model: VAE, x: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means and log-variances of every image. Args: x (N, C, H, W). Returns: two (N, D) CPU tensors."""
    like = param_like(model)
    means, log_vars = [], []
    for start in range(0, x.shape[0], batch_size):
        m, lv = model.encode(x[start:start + batch_size].to(**like))
        means.append(m.cpu())
        log_vars.append(lv.cpu())
    return torch.cat(means), torch.cat(log_vars)


@torch.no_grad()
def aggregate_posterior_samples(model: VAE, x: torch.Tensor, generator: torch.Generator | None = None,
                                batch_size: int = 1000) -> torch.Tensor:
    """One z ~ q(z|x_n) per image: N samples of the aggregate posterior. Returns: (N, D) CPU tensor.

    `generator` must live on the model's device.
    """
    means, log_vars = encode_dataset(model, x, batch_size)
    device = param_like(model)["device"]
    eps = torch.randn(means.shape, generator=generator, device=device, dtype=means.dtype).cpu()
    return means + torch.exp(0.5 * log_vars) * eps


class PCAProjection:
    """A fixed linear map R^D -> R^k fitted on posterior means; prior samples go through the same map.

    When D == k the map is the identity, so 2-D latents are shown on their own axes.
    """

    def __init__(self, n_components: int = 2):
        self.n_components = int(n_components)
        self.mean_ = None
        self.components_ = None  # (k, D)
        self.explained_variance_ratio_ = None

    def fit(self, means: torch.Tensor) -> "PCAProjection":
        """Args: means (N, D)."""
        z = torch.as_tensor(means, dtype=torch.float64).cpu()
        d = z.shape[1]
        if d < self.n_components:
            raise ValueError(f"cannot project {d}-D latents onto {self.n_components} components")
        if d == self.n_components:
            self.mean_ = torch.zeros(d, dtype=torch.float64)
            self.components_ = torch.eye(d, dtype=torch.float64)
            self.explained_variance_ratio_ = np.ones(d) / d
            return self
        self.mean_ = z.mean(0)
        _, s, vt = torch.linalg.svd(z - self.mean_, full_matrices=False)
        comps = vt[: self.n_components]
        # Fix the sign ambiguity of the SVD: the largest entry of each axis is positive, so reruns agree.
        signs = torch.sign(comps.gather(1, comps.abs().argmax(1, keepdim=True)))
        self.components_ = comps * signs
        var = s**2
        self.explained_variance_ratio_ = (var[: self.n_components] / var.sum()).numpy()
        return self

    def transform(self, z: torch.Tensor) -> np.ndarray:
        """Args: z (N, D). Returns: (N, k) numpy array."""
        if self.components_ is None:
            raise RuntimeError("PCAProjection.fit must be called before transform")
        z = torch.as_tensor(z, dtype=torch.float64).cpu()
        return ((z - self.mean_) @ self.components_.T).numpy()


def plot_limits(*point_sets, low: float = 0.5, high: float = 99.5, pad: float = 0.1) -> tuple:
    """Axis limits ((xmin, xmax), (ymin, ymax)) covering the `low`..`high` percentiles of all (N_i, 2) sets, padded."""
    both = np.concatenate([np.asarray(p, dtype=float) for p in point_sets])
    if both.ndim != 2 or both.shape[1] != 2:
        raise ValueError(f"plot_limits takes (N, 2) point sets, got shape {both.shape}")
    lo, hi = np.percentile(both, low, axis=0), np.percentile(both, high, axis=0)
    margin = pad * (hi - lo)
    return ((lo[0] - margin[0], hi[0] + margin[0]), (lo[1] - margin[1], hi[1] + margin[1]))


def _tensor_like(module) -> dict:
    """Device and dtype of a module's first parameter, else first buffer (a standard Gaussian has only a buffer)."""
    ref = next(module.parameters(), None)
    if ref is None:
        ref = next(module.buffers(), None)
    return {"device": torch.device("cpu"), "dtype": torch.get_default_dtype()} if ref is None else \
        {"device": ref.device, "dtype": ref.dtype}


@torch.no_grad()
def prior_density_grid(prior, limits: tuple, n: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """exp(prior.log_prob) of a 2-D prior at the centres of an n x n grid of equal cells over `limits`.

    The cell centres are the nodes of the midpoint rule, so `density.sum() * cell_area` is the
    prior's mass inside `limits` (up to the rule's O(h^2) error; see `grid_mass`).

    Args:
        prior: a prior of dimension 2 (`log_prob(z) -> (B,)`), on any device and dtype.
        limits: ((xmin, xmax), (ymin, ymax)).
        n: cells per axis.
    Returns:
        xc (n,), yc (n,) cell centres and density (n, n) indexed [x, y], all numpy float64.
    """
    if getattr(prior, "dim", 2) != 2:
        raise ValueError(f"prior_density_grid draws 2-D priors; this prior has dim={prior.dim} "
                         "(project samples with PCAProjection and use plot_prior_vs_aggregate instead)")
    (x0, x1), (y0, y1) = limits
    if not (x1 > x0 and y1 > y0) or n < 2:
        raise ValueError(f"limits={limits!r} must be increasing ((xmin, xmax), (ymin, ymax)) and n={n} at least 2")
    like = _tensor_like(prior)
    hx, hy = (x1 - x0) / n, (y1 - y0) / n
    xc = x0 + hx * (np.arange(n) + 0.5)
    yc = y0 + hy * (np.arange(n) + 0.5)
    z = torch.cartesian_prod(torch.as_tensor(xc), torch.as_tensor(yc)).to(**like)  # (n*n, 2), x major
    log_p = torch.cat([prior.log_prob(chunk) for chunk in z.split(65_536)])
    density = torch.exp(log_p).double().cpu().numpy().reshape(n, n)  # (n*n,) -> (n, n) [x, y]
    return xc, yc, density


def grid_mass(xc: np.ndarray, yc: np.ndarray, density: np.ndarray) -> float:
    """Midpoint-rule integral of a density given at the centres of equal cells (from `prior_density_grid`)."""
    return float(density.sum() * (xc[1] - xc[0]) * (yc[1] - yc[0]))


def highest_density_levels(density: np.ndarray, cell_area: float, masses=(0.25, 0.5, 0.75, 0.9, 0.99)) -> np.ndarray:
    """Density thresholds t_p whose super-level sets {z: p(z) >= t_p} hold mass p of the grid (ascending).

    The region above t_p is the smallest region holding mass p (a highest-density region), so
    contours at these levels read as "the prior puts p of its mass inside this line" for any
    prior shape, where evenly spaced levels would hide the low-density components.

    Args:
        density: values at the cell centres of an equal-cell grid.
        cell_area: area of one cell.
        masses: the masses p, each in (0, 1).
    Returns:
        thresholds, ascending (largest mass first), as numpy float64.
    """
    masses = np.asarray(masses, dtype=float)
    if np.any((masses <= 0) | (masses >= 1)):
        raise ValueError(f"masses={masses.tolist()} must lie strictly between 0 and 1")
    values = np.sort(np.asarray(density, dtype=float).ravel())[::-1]
    cumulative = np.cumsum(values) * cell_area
    total = cumulative[-1]
    index = np.minimum(np.searchsorted(cumulative, masses * total), len(values) - 1)
    return np.sort(values[index])


def plot_prior_vs_aggregate(ax, prior_samples_2d, posterior_2d, labels, *, bins: int = 80, max_points: int = 5000,
                            limits: tuple | None = None, seed: int = 0, density_grid: tuple | None = None,
                            masses=(0.25, 0.5, 0.75, 0.9, 0.99)):
    """Prior density as filled contours under the aggregate posterior as points coloured by digit.

    Without `density_grid` the density is a 2-D histogram of prior samples smoothed by a
    Gaussian filter (one bin wide), so any prior that can be sampled, however complex (or
    projected from many dimensions), is drawn the same way, with evenly spaced levels. With
    `density_grid` (a 2-D prior's exact density from `prior_density_grid`) the contours are its
    highest-density regions holding the given `masses`.

    Args:
        ax: a matplotlib Axes.
        prior_samples_2d: (M, 2) projected prior samples (may be None when `density_grid` is given).
        posterior_2d: (N, 2) projected aggregate-posterior samples (or posterior means).
        labels: (N,) digit classes.
        max_points: at most this many posterior points are drawn (a fixed random subset).
        limits: ((xmin, xmax), (ymin, ymax)); default covers 99% of both sets.
        density_grid: (xc, yc, density[x, y]) of the prior on equal cells.
        masses: prior masses of the contours drawn from `density_grid`.
    Returns:
        the contour set (for a colorbar).
    """
    import matplotlib
    from scipy.ndimage import gaussian_filter

    post = np.asarray(posterior_2d, dtype=float)
    labels = np.asarray(labels)
    if density_grid is None:
        prior = np.asarray(prior_samples_2d, dtype=float)
        if limits is None:
            limits = plot_limits(prior, post)
        hist, xe, ye = np.histogram2d(prior[:, 0], prior[:, 1], bins=bins, range=limits, density=True)
        density = gaussian_filter(hist, sigma=1.0)
        xc, yc = 0.5 * (xe[1:] + xe[:-1]), 0.5 * (ye[1:] + ye[:-1])
        levels = np.linspace(density.max() * 0.02, density.max(), 9)
    else:
        xc, yc, density = density_grid
        if limits is None:
            hx, hy = xc[1] - xc[0], yc[1] - yc[0]  # the grid's outer cell edges
            limits = ((xc[0] - hx / 2, xc[-1] + hx / 2), (yc[0] - hy / 2, yc[-1] + hy / 2))
        levels = highest_density_levels(density, (xc[1] - xc[0]) * (yc[1] - yc[0]), masses)
        levels = np.append(np.unique(levels), density.max() * (1 + 1e-9))
    if density_grid is None:
        contours = ax.contourf(xc, yc, density.T, levels=levels, cmap="Greys", alpha=0.8, extend="neither")
    else:  # one visible grey per region, lightest for the largest; the lines go on top of the points below
        greys = matplotlib.colormaps["Greys"](np.linspace(0.15, 0.7, len(levels) - 1))
        contours = ax.contourf(xc, yc, density.T, levels=levels, colors=greys, alpha=0.8, extend="neither")
    if len(post) > max_points:
        keep = np.random.default_rng(seed).choice(len(post), max_points, replace=False)
        post, labels = post[keep], labels[keep]
    cmap = matplotlib.colormaps["tab10"]
    for digit in np.unique(labels):
        sel = labels == digit
        ax.scatter(post[sel, 0], post[sel, 1], s=3, alpha=0.6, color=cmap(int(digit) % 10), label=str(digit),
                   linewidths=0, rasterized=True)
    if density_grid is not None:  # region boundaries stay visible where the points cover the fill
        ax.contour(xc, yc, density.T, levels=levels[:-1], colors="black", linewidths=0.6, zorder=3)
    ax.set_xlim(*limits[0])
    ax.set_ylim(*limits[1])
    ax.legend(title="digit", markerscale=4, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small")
    return contours


@torch.no_grad()
def prior_vs_aggregate_2d(ax, model: VAE, x: torch.Tensor, labels, *, generator: torch.Generator | None = None,
                          n_grid: int = 200, n_prior: int = 20_000, legend: bool = True,
                          masses=(0.25, 0.5, 0.75, 0.9, 0.99)) -> dict[str, float]:
    """Draw a 2-D latent VAE's exact prior density (highest-density regions) under its aggregate posterior.

    One z ~ q(z|x_n) per image is drawn as a point coloured by its label; the window covers 99% of
    those points and of `n_prior` prior samples; the prior's density is evaluated on an
    `n_grid` x `n_grid` grid over the window.

    Args:
        ax: a matplotlib Axes.
        model: a VAE with a 2-D latent space.
        x: (N, C, H, W) images in the model's view; labels: (N,) their classes.
        generator: on the model's device; used for the posterior and the prior samples.
        legend: keep the class legend (drop it on all but one panel of a row).
    Returns:
        dict with prior_mass_in_window (midpoint rule), mean_log_prior_at_posterior (E_q(z)[log p(z)])
        and mean_log_prior_at_prior (E_p(z)[log p(z)] = -H[p]), in nats, and the per-sample values behind
        those means, log_prior_at_posterior (N,) and log_prior_at_prior (n_prior,) (see `log_prior_at`).
    """
    if model.latent_dim != 2:
        raise ValueError(f"prior_vs_aggregate_2d needs a 2-D latent space, this model has {model.latent_dim}; "
                         "use PCAProjection with plot_prior_vs_aggregate for larger ones")
    q_z = aggregate_posterior_samples(model, x, generator=generator)  # (N, 2)
    p_z = model.prior.sample(n_prior, generator=generator)  # (n_prior, 2)
    grid = prior_density_grid(model.prior, plot_limits(p_z.cpu(), q_z), n=n_grid)
    plot_prior_vs_aggregate(ax, None, q_z, labels, density_grid=grid, masses=masses)
    if not legend:
        ax.get_legend().remove()
    ax.set(xlabel="$z_1$", ylabel="$z_2$")
    at_q, at_p = log_prior_at(model, q_z, p_z)
    return {"prior_mass_in_window": grid_mass(*grid),
            "mean_log_prior_at_posterior": float(at_q.mean()), "mean_log_prior_at_prior": float(at_p.mean()),
            "log_prior_at_posterior": at_q, "log_prior_at_prior": at_p}


@torch.no_grad()
def log_prior_at(model: VAE, q_z: torch.Tensor, p_z: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """log p(z) of the model's prior at aggregate-posterior samples q_z (N, D) and at prior samples p_z (M, D).

    Their means are E_q(z)[log p(z)] and E_p(z)[log p(z)] = −H[p] (`verdicts.prior_fit_sentence` compares them).
    Returns: (N,) and (M,) float64 numpy arrays, in nats.
    """
    device = param_like(model)["device"]
    return tuple(model.prior.log_prob(z.to(device)).double().cpu().numpy() for z in (q_z, p_z))


@torch.no_grad()
def manifold_grid(model: VAE, n: int = 20, span: tuple[float, float] = (0.05, 0.95)) -> np.ndarray:
    """Decode an n x n grid of 2-D latents placed at standard-Gaussian quantiles (Kingma & Welling's figure).

    Args:
        span: the lowest and highest quantile on each axis.
    Returns:
        (n*H + pad, n*W + pad) image; left to right z1 grows, top to bottom z2 falls.
    """
    if model.latent_dim != 2:
        raise ValueError(f"manifold_grid needs a 2-D latent space, this model has {model.latent_dim}")
    normal = torch.distributions.Normal(0.0, 1.0)
    q = normal.icdf(torch.linspace(span[0], span[1], n, dtype=torch.float64)).float()
    z1, z2 = torch.meshgrid(q, q.flip(0), indexing="xy")  # rows: z2 from high to low
    z = torch.stack([z1.reshape(-1), z2.reshape(-1)], -1).to(param_like(model)["device"])  # (n*n, 2)
    return image_grid(model.decode(z).cpu(), nrow=n)


def _as_latent(z0: torch.Tensor) -> torch.Tensor:
    z0 = torch.as_tensor(z0)
    return z0.reshape(-1)  # (1, D) or (D,) -> (D,)


@torch.no_grad()
def latent_traversal(model: VAE, z0: torch.Tensor, k=(-2, -1, 0, 1, 2), dims=None, step: float = 1.0) -> torch.Tensor:
    """Decode z0 + k * step * e_i for each latent dimension i in `dims` and each k.

    Returns:
        (len(dims), len(k), H, W) CPU tensor; `image_grid(out.flatten(0, 1), nrow=len(k))` shows it.
    """
    z0 = _as_latent(z0).to(param_like(model)["device"])
    dims = list(range(z0.numel())) if dims is None else list(dims)
    offsets = torch.as_tensor(k, dtype=z0.dtype, device=z0.device) * step
    z = z0.repeat(len(dims), len(offsets), 1)  # (dims, K, D)
    for row, i in enumerate(dims):
        z[row, :, i] += offsets
    images = model.decode(z.reshape(-1, z0.numel())).cpu()  # (dims*K, C, H, W)
    return images.reshape(len(dims), len(offsets), *images.shape[-2:])


def interpolation_alphas(n: int = 11, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The n mixing weights alpha = 0, 1/(n-1), ..., 1 of an interpolation (11 gives 0, 0.1, ..., 1). Returns: (n,)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 2:
        raise ValueError(f"an interpolation needs n >= 2 values of alpha (both endpoints), got n={n!r}")
    return torch.linspace(0.0, 1.0, n, dtype=dtype)


@torch.no_grad()
def interpolate_codes(model: VAE, z_a: torch.Tensor, z_b: torch.Tensor, n: int = 11) -> torch.Tensor:
    """Decode (1 - alpha) z_a + alpha z_b for `interpolation_alphas(n)`.

    Args:
        z_a, z_b: latent codes, (D,) or (1, D) each.
    Returns:
        (n, H, W) CPU tensor; row 0 decodes z_a and row n-1 decodes z_b.
    """
    like = param_like(model)
    a, b = _as_latent(z_a).to(**like), _as_latent(z_b).to(**like)
    if a.numel() != model.latent_dim or b.numel() != model.latent_dim:
        raise ValueError(f"codes of size {a.numel()} and {b.numel()} given to a model with {model.latent_dim} latents")
    alpha = interpolation_alphas(n).to(**like).unsqueeze(1)  # (n, 1)
    images = model.decode((1 - alpha) * a + alpha * b).cpu()  # (n, D) -> (n, C, H, W)
    return images.reshape(n, *images.shape[-2:])


@torch.no_grad()
def interpolate_latent(model: VAE, x_a: torch.Tensor, x_b: torch.Tensor, n: int = 11) -> torch.Tensor:
    """Decode the straight line between the posterior means of two images. Returns: (n, H, W) CPU tensor."""
    like = param_like(model)
    mean, _ = model.encode(torch.stack([x_a.reshape(model.encoder.input_shape),
                                        x_b.reshape(model.encoder.input_shape)]).to(**like))
    return interpolate_codes(model, mean[0], mean[1], n)


def interpolate_pixels(x_a: torch.Tensor, x_b: torch.Tensor, n: int = 11) -> torch.Tensor:
    """The straight line (1 - alpha) x_a + alpha x_b between two images in pixel space. Returns: (n, H, W)."""
    a, b = x_a.detach().cpu().reshape(x_a.shape[-2:]), x_b.detach().cpu().reshape(x_b.shape[-2:])
    alpha = interpolation_alphas(n, dtype=a.dtype).reshape(n, 1, 1)
    return (1 - alpha) * a + alpha * b


@torch.no_grad()
def interpolation_rows(model: VAE, *, code_pairs=(), image_pairs=(), n: int = 11) -> torch.Tensor:
    """Latent-space and pixel-space interpolations, two rows per pair, for one figure.

    For a pair of codes (z_a, z_b) the latent row decodes the line between them and the pixel row
    blends the two decoded endpoints; for a pair of images (x_a, x_b) the latent row decodes the
    line between their posterior means and the pixel row blends the images themselves.

    Args:
        code_pairs: pairs of (D,) latent codes (e.g. prior samples).
        image_pairs: pairs of (C, H, W) images.
        n: values of alpha per row.
    Returns:
        (2 * (len(code_pairs) + len(image_pairs)), n, H, W) CPU tensor: for each pair (codes first)
        its latent row, then its pixel row.
    """
    rows = []
    for z_a, z_b in code_pairs:
        latent = interpolate_codes(model, z_a, z_b, n)
        rows += [latent, interpolate_pixels(latent[0], latent[-1], n)]
    for x_a, x_b in image_pairs:
        rows += [interpolate_latent(model, x_a, x_b, n), interpolate_pixels(x_a, x_b, n)]
    if not rows:
        raise ValueError("interpolation_rows needs at least one pair in code_pairs or image_pairs")
    return torch.stack(rows)


def image_grid(images, nrow: int = 8, padding: int = 2, pad_value: float = 0.5) -> np.ndarray:
    """Tile images into one 2-D array for `imshow`.

    Args:
        images: (N, H, W) or (N, 1, H, W), tensor or array.
        nrow: images per row (as in torchvision's make_grid).
    Returns:
        (rows*(H+padding)+padding, nrow*(W+padding)+padding) float array.
    """
    imgs = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if imgs.ndim == 4:
        if imgs.shape[1] != 1:
            raise ValueError(f"image_grid takes (N, H, W) or (N, 1, H, W), got {imgs.shape}; "
                             "flatten a (rows, cols, H, W) grid first")
        imgs = imgs[:, 0]  # (N, 1, H, W) -> (N, H, W)
    if imgs.ndim != 3:
        raise ValueError(f"image_grid takes (N, H, W) or (N, 1, H, W), got {imgs.shape}")
    n, h, w = imgs.shape
    ncol = min(nrow, n)
    rows = -(-n // ncol)
    out = np.full((rows * (h + padding) + padding, ncol * (w + padding) + padding), pad_value, dtype=float)
    for i in range(n):
        r, c = divmod(i, ncol)
        top, left = padding + r * (h + padding), padding + c * (w + padding)
        out[top:top + h, left:left + w] = imgs[i]
    return out
