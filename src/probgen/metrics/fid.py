"""Fréchet distance between Gaussians fitted to classifier features (the book's FID).

FID(a, b) = ||mu_a - mu_b||² + Tr(S_a + S_b - 2 (S_a S_b)^{1/2}), where (mu, S)
are the mean and covariance of the 128-d features of `MNISTClassifier` (not
Inception: section 2 of EXERCISES.md). The estimate is biased upwards for
small N, so an FID is only comparable to another at the same N: report N.
"""

from __future__ import annotations

import numpy as np
import torch

from .classifier import MNISTClassifier, check_images

METHODS = ("eigh", "sqrtm")


def _as_float64(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def gaussian_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (unbiased, ddof=1) of features, in float64.

    Args:
        features: (N, d) array or tensor, N ≥ 2.
    Returns:
        (mu (d,), sigma (d, d)).
    """
    f = _as_float64(features, "features")
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"features must have shape (N, d) with N ≥ 2, not {f.shape}")
    mu = f.mean(axis=0)
    centred = f - mu  # (N, d)
    sigma = centred.T @ centred / (f.shape[0] - 1)  # (d, d)
    return mu, sigma


def _check_stats(mu, sigma, name: str) -> tuple[np.ndarray, np.ndarray]:
    mu, sigma = _as_float64(mu, f"mu{name}"), _as_float64(sigma, f"sigma{name}")
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(f"mu{name} must be (d,) and sigma{name} (d, d); got {mu.shape} and {sigma.shape}")
    scale = max(np.abs(sigma).max(), 1e-300)
    if np.abs(sigma - sigma.T).max() > 1e-8 * scale:
        raise ValueError(f"sigma{name} is not symmetric (max |S - S^T| = {np.abs(sigma - sigma.T).max():.3g})")
    return mu, (sigma + sigma.T) / 2


def _psd_sqrt(sigma: np.ndarray, name: str) -> np.ndarray:
    """Symmetric square root of a PSD matrix; rounding-level negative eigenvalues are set to 0."""
    w, v = np.linalg.eigh(sigma)
    tol = 1e-10 * max(w.max(initial=0.0), 1e-300) * sigma.shape[0]
    if w.min() < -tol:
        raise ValueError(f"sigma{name} is not positive semi-definite (smallest eigenvalue {w.min():.3g})")
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _trace_sqrt_product_eigh(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """Tr((S1 S2)^{1/2}) as Tr((S1^{1/2} S2 S1^{1/2})^{1/2}): similar matrices, the latter symmetric PSD."""
    root1 = _psd_sqrt(sigma1, "1")
    _psd_sqrt(sigma2, "2")  # only to check sigma2 is PSD
    m = root1 @ sigma2 @ root1
    w = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(w, 0.0, None)).sum())


def _trace_sqrt_product_sqrtm(sigma1: np.ndarray, sigma2: np.ndarray, eps: float) -> float:
    """Tr((S1 S2)^{1/2}) with scipy's sqrtm, retrying with eps·I added to both if the product is singular."""
    from scipy import linalg

    def attempt(a, b):
        root = linalg.sqrtm(a @ b)
        ok = np.all(np.isfinite(root))
        return root, ok

    root, ok = attempt(sigma1, sigma2)
    if not ok:
        offset = eps * np.eye(sigma1.shape[0])
        root, ok = attempt(sigma1 + offset, sigma2 + offset)
        if not ok:
            raise FloatingPointError(f"sqrtm(S1 S2) is not finite even with {eps:g}·I added to both covariances; "
                                     "use method='eigh'")
    if np.iscomplexobj(root):
        imag = np.abs(np.diagonal(root).imag).max()
        if imag > 1e-3 * max(np.abs(np.diagonal(root).real).max(), 1e-12):
            raise FloatingPointError(f"sqrtm(S1 S2) has a significant imaginary part ({imag:.3g}); "
                                     "use method='eigh'")
        root = root.real
    return float(np.trace(root))


def frechet_distance(mu1, sigma1, mu2, sigma2, *, method: str = "eigh", eps: float = 1e-6) -> float:
    """Squared Fréchet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2).

    ||mu1 - mu2||² + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^{1/2}), in float64.

    Args:
        mu1, mu2: (d,) means.
        sigma1, sigma2: (d, d) symmetric positive semi-definite covariances.
        method: "eigh" (default) computes Tr((sigma1 sigma2)^{1/2}) from the eigenvalues of the
            symmetric PSD matrix sigma1^{1/2} sigma2 sigma1^{1/2}: real, and stable for singular
            covariances (e.g. N < d). "sqrtm" uses scipy.linalg.sqrtm of the non-symmetric product,
            as the reference FID code does, adding eps·I to both covariances if that fails.
        eps: the regulariser of the "sqrtm" retry.
    Returns:
        the distance, a float ≥ 0 (rounding-level negatives are returned as 0).
    Raises:
        ValueError: shapes disagree, a covariance is not symmetric PSD, or values are not finite.
        FloatingPointError: "sqrtm" fails even with the eps retry.
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not allowed; choose one of {METHODS}")
    mu1, sigma1 = _check_stats(mu1, sigma1, "1")
    mu2, sigma2 = _check_stats(mu2, sigma2, "2")
    if mu1.shape != mu2.shape:
        raise ValueError(f"the two Gaussians have different dimensions: {mu1.shape[0]} and {mu2.shape[0]}")
    diff = mu1 - mu2
    if method == "eigh":
        tr_root = _trace_sqrt_product_eigh(sigma1, sigma2)
    else:
        tr_root = _trace_sqrt_product_sqrtm(sigma1, sigma2, eps)
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_root)
    return max(value, 0.0)


def fid(features_a, features_b, *, method: str = "eigh") -> float:
    """FID between two sets of features, (N_a, d) and (N_b, d): the Fréchet distance of their Gaussian fits."""
    mu_a, sigma_a = gaussian_stats(features_a)
    mu_b, sigma_b = gaussian_stats(features_b)
    return frechet_distance(mu_a, sigma_a, mu_b, sigma_b, method=method)


@torch.no_grad()
def extract_features(classifier: MNISTClassifier, images: torch.Tensor, batch_size: int = 500) -> np.ndarray:
    """The classifier's 128-d features (eval mode: no dropout) of images, as float64 numpy.

    Args:
        classifier: a trained `MNISTClassifier` (its mode is restored afterwards).
        images: (N, 1, 28, 28) float images in [-1, 1] (MNIST view "symmetric"); [0, 1] or
            [0, 255] pixels are refused with a ValueError naming the view to use.
        batch_size: images per forward pass.
    Returns:
        (N, 128) float64 array.
    """
    check_images(images)
    p = next(classifier.parameters())
    was_training = classifier.training
    classifier.eval()
    try:
        out = [classifier.features(images[s:s + batch_size].to(device=p.device, dtype=p.dtype)).double().cpu()
               for s in range(0, images.shape[0], batch_size)]
    finally:
        classifier.train(was_training)
    return torch.cat(out).numpy()


def image_fid(classifier: MNISTClassifier, images_a: torch.Tensor, images_b: torch.Tensor,
              batch_size: int = 500) -> float:
    """FID between two sets of (N, 1, 28, 28) images in [-1, 1], in `classifier`'s feature space."""
    return fid(extract_features(classifier, images_a, batch_size), extract_features(classifier, images_b, batch_size))
